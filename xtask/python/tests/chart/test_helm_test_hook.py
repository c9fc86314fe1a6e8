"""The `helm test` hook's order round trip, run for real (sh + curl) against a loopback stand-in for
the order API that answers as docs/api.md says: it passes when the order gets fulfilled and fails
with a clear message otherwise. (Its Redis check: test_helm_test_retention.py.)"""

import json
import shutil
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from order_chart import engine


class OrderApi:
    """POST /order → 202 with the task; GET /order/{id} → `created` for the first
    `created_polls` reads, then `fulfilled`. `accept=False` answers every POST with 503; `compact`
    writes JSON as the server does (serde_json), else with spaces, as JSON allows; the first
    `unavailable_reads` GETs answer 503, as when Redis is briefly unreachable."""

    def __init__(
        self, *, created_polls: int, accept: bool = True, compact: bool = True, unavailable_reads: int = 0
    ) -> None:
        self.orders: dict[str, int] = {}
        self.unavailable_reads = unavailable_reads
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def reply(self, status: int, body: dict, content_type="application/json") -> None:
                payload = json.dumps(body, separators=(",", ":") if compact else None).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                if self.path != "/order" or not accept:
                    problem = {"type": "urn:order-system:problem:store-unavailable", "status": 503}
                    return self.reply(503, problem, "application/problem+json")
                order_id = str(uuid.uuid4())
                api.orders[order_id] = 0
                task = {"href": f"/order/{order_id}", "id": order_id, "status": "created"}
                self.reply(202, {"task": task})

            def do_GET(self) -> None:
                if api.unavailable_reads > 0:
                    api.unavailable_reads -= 1
                    problem = {"type": "urn:order-system:problem:store-unavailable", "status": 503}
                    return self.reply(503, problem, "application/problem+json")
                order_id = self.path.removeprefix("/order/")
                if order_id not in api.orders:
                    return self.reply(404, {"status": 404}, "application/problem+json")
                api.orders[order_id] += 1
                status = "created" if api.orders[order_id] <= created_polls else "fulfilled"
                self.reply(200, {"id": order_id, "status": status, "details": "helm test order"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://{}:{}".format(*self.server.server_address)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(tmp_path):
    """The order-flow container's script, its shared emptyDir (/shared) mapped to a directory here."""
    (pod,) = [m.obj for m in engine.render() if m.kind == "Pod"]
    (container,) = pod["spec"]["initContainers"]
    assert container["command"] == ["sh", "-c"]
    assert {"name": "shared", "mountPath": "/shared"} in container["volumeMounts"]
    return container["args"][0].replace("/shared/", f"{tmp_path}/")


def run_hook(
    script: str, timeout_seconds: int, **api_options
) -> tuple[subprocess.CompletedProcess, OrderApi]:
    """Runs the hook's order round trip against a fresh OrderApi(**api_options); returns its result and
    the API."""
    if shutil.which("curl") is None:
        raise RuntimeError("`curl` is needed to run the helm test hook's script (apt-get install -y curl)")
    api = OrderApi(**api_options)
    environment = {"PATH": "/usr/bin:/bin", "API": api.url, "TIMEOUT_SECONDS": str(timeout_seconds)}
    try:
        result = subprocess.run(
            ["sh", "-c", script],
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout_seconds + 30,
        )
    finally:
        api.close()
    return result, api


@pytest.mark.parametrize("compact", [True, False], ids=["compact", "spaced"])
def test_passes_once_the_order_is_fulfilled(hook, compact, tmp_path):
    result, api = run_hook(hook, timeout_seconds=30, created_polls=2, compact=compact)
    assert result.returncode == 0, result.stderr
    assert "accepted:" in result.stdout and "fulfilled: {" in result.stdout
    assert list(api.orders.values()) == [3]  # polled until fulfilled, then stopped
    # The id, for the Redis check of the next container.
    assert (tmp_path / "order-id").read_text().strip() == next(iter(api.orders))


def test_rides_out_a_store_blip_while_polling(hook):
    result, _ = run_hook(hook, timeout_seconds=30, created_polls=1, unavailable_reads=2)
    assert result.returncode == 0, result.stderr
    assert "503" in result.stderr  # curl reported the failed reads


def test_fails_clearly_when_the_order_stays_created(hook):
    result, _ = run_hook(hook, timeout_seconds=3, created_polls=10**6)
    assert result.returncode == 1
    assert "was not fulfilled within 3s" in result.stderr and "fulfilment-processor" in result.stderr


def test_fails_clearly_when_orders_are_refused(hook):
    result, _ = run_hook(hook, timeout_seconds=3, created_polls=0, accept=False)
    assert result.returncode == 1
    assert "was not accepted within 3s" in result.stderr and "store-unavailable" in result.stderr
