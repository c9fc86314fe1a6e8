"""The reconciler CronJob as rendered, run for real against the rendered Redis: its container's
command line, the script from its ConfigMap, the password from the Secret. Orders are accepted with
the apps' own accept script, so the test sees what the apps write."""

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from order_chart.paths import CHART
from services import container_environment, expand, rendered_redis, secrets_of

ACCEPT_SCRIPT = CHART.parent.parent / "apps" / "order-model" / "src" / "scripts" / "accept.lua"
CHANNEL = "neworders"


class Reconciler:
    """The rendered CronJob's container, runnable on this machine against a Redis on `port`."""

    def __init__(self, manifests, port: int, script_dir: Path):
        (cron_job,) = [m.obj for m in manifests if m.kind == "CronJob"]
        (config_map,) = [m.obj for m in manifests if m.kind == "ConfigMap" and m.name.endswith("-reconciler")]
        pod = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (self.container,) = pod["containers"]
        (mount,) = [m for m in self.container["volumeMounts"] if m["name"] == "script"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "script"]
        assert volume["configMap"]["name"] == config_map["metadata"]["name"]
        for name, text in config_map["data"].items():
            (script_dir / name).write_text(text)
        self.secrets = secrets_of(manifests)
        self.port = port
        self.mount_path = mount["mountPath"]
        self.script_dir = script_dir

    def command(self) -> list[str]:
        """The command line, with the Service's host and the ConfigMap's mount mapped to this machine."""
        arguments = self.container["args"]
        host = arguments[arguments.index("-h") + 1]
        assert arguments[arguments.index("-p") + 1] == str(self.port)
        return [
            expand(part, {}).replace(self.mount_path, str(self.script_dir)) if part != host else "127.0.0.1"
            for part in self.container["command"] + arguments
        ]

    def run(self, environment: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(), env={"PATH": "/usr/bin:/bin", **environment}, capture_output=True, text=True
        )

    def environment(self) -> dict[str, str]:
        return container_environment(self.container, self.secrets)


def cli(port: int, environment: dict[str, str], *args: str) -> list[str]:
    return subprocess.run(
        ["redis-cli", "-p", str(port), "--no-auth-warning", *args],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()


def accept(port: int, environment: dict[str, str], accepted_at_ms: int) -> str:
    """Accepts an order as the receiver does (record, pending entry, message); returns its id."""
    order_id = str(uuid.uuid4())
    message = json.dumps({"id": order_id, "details": f"order {order_id}", "status": "created"})
    answer = cli(
        port,
        environment,
        "--eval",
        str(ACCEPT_SCRIPT),
        f"order:{order_id}",
        "order:pending",
        ",",
        order_id,
        f"order {order_id}",
        str(accepted_at_ms),
        CHANNEL,
        message,
        "86400",
        "order:",
    )
    assert answer == ["1", order_id]
    return order_id


@pytest.fixture
def system(tmp_path):
    """The rendered Redis and reconciler; yields (port, Redis' environment, reconciler)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "scripts").mkdir()
    with rendered_redis({}, tmp_path / "data") as (port, environment, manifests):
        yield port, environment, Reconciler(manifests, port, tmp_path / "scripts")


def test_republishes_old_pending_orders_and_drops_stale_entries(system):
    port, environment, reconciler = system
    now_ms = int(time.time() * 1000)
    lost = [accept(port, environment, now_ms - 120_000) for _ in range(3)]
    fresh = accept(port, environment, now_ms)
    fulfilled = accept(port, environment, now_ms - 120_000)
    cli(port, environment, "HSET", f"order:{fulfilled}", "status", "fulfilled")
    vanished = str(uuid.uuid4())
    cli(port, environment, "ZADD", "order:pending", str(now_ms - 120_000), vanished)

    subscriber = subprocess.Popen(
        ["redis-cli", "-p", str(port), "--no-auth-warning", "SUBSCRIBE", CHANNEL],
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while cli(port, environment, "PUBSUB", "NUMSUB", CHANNEL)[1] != "1":
            assert time.monotonic() < deadline, "the subscriber did not subscribe"
            time.sleep(0.05)
        result = reconciler.run(reconciler.environment())
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "re-published 3 pending orders, dropped 2 stale index entries"
        cli(port, environment, "PUBLISH", CHANNEL, "end")
        # Stopped only once it has printed the last message, which may come after PUBLISH returns.
        lines = []

        def read():
            assert subscriber.stdout is not None
            for line in subscriber.stdout:
                lines.append(line.rstrip("\n"))

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 10
        while "end" not in lines:
            assert time.monotonic() < deadline, f"the subscriber never printed the last message: {lines}"
            time.sleep(0.05)
    finally:
        subscriber.terminate()
        subscriber.wait(timeout=10)

    # redis-cli prints each message as three lines: "message", the channel, the payload.
    payloads = [lines[i + 2] for i, line in enumerate(lines) if line == "message"]
    assert payloads[-1] == "end"
    republished = [json.loads(payload) for payload in payloads[:-1]]
    assert sorted(message["id"] for message in republished) == sorted(lost)
    for message in republished:
        assert message == {"id": message["id"], "details": f"order {message['id']}", "status": "created"}
    # Still created, so still pending until the fulfiller flips them; the stale entries are gone.
    assert sorted(cli(port, environment, "ZRANGE", "order:pending", "0", "-1")) == sorted([*lost, fresh])


def test_fails_the_job_when_redis_refuses(system):
    port, environment, reconciler = system
    accept(port, environment, int(time.time() * 1000) - 120_000)
    without_password = reconciler.run({})
    assert without_password.returncode != 0
    assert "NOAUTH" in without_password.stdout + without_password.stderr
    wrong_password = reconciler.run({"REDIS_PASSWORD": "not-the-password"})
    assert wrong_password.returncode != 0
    # The Secret holds the URL form: sent as it is, it would be a wrong password.
    assert reconciler.run({"REDIS_PASSWORD": "%"}).returncode != 0


def test_decodes_a_password_with_url_special_characters(tmp_path):
    """The reconciler user's password in an existing Secret, percent-encoded as the apps need it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "scripts").mkdir()
    encoded = quote("Ab1/cD+e=@:%#?& x", safe="")
    values = {
        "redis": {"users": {"reconciler": {"existingSecret": "mine", "existingSecretPasswordKey": "pw"}}}
    }
    existing = {"mine": {"pw": encoded}}
    with rendered_redis(values, tmp_path / "data", existing_secrets=existing) as (
        port,
        environment,
        manifests,
    ):
        reconciler = Reconciler(manifests, port, tmp_path / "scripts")
        accept(port, environment, int(time.time() * 1000) - 120_000)
        result = reconciler.run({"REDIS_PASSWORD": encoded})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "re-published 1 pending orders, dropped 0 stale index entries"
        # Sent as it is, the URL form is a wrong password.
        assert reconciler.run({"REDIS_PASSWORD": quote(encoded, safe="")}).returncode != 0


def test_runs_as_the_reconciler_user_not_the_admin(system):
    _, environment, reconciler = system
    assert reconciler.container["args"][reconciler.container["args"].index("--user") + 1] == "reconciler"
    # The admin password is not the reconciler user's: the run is refused.
    refused = reconciler.run({"REDIS_PASSWORD": environment["REDIS_PASSWORD"]})
    assert refused.returncode != 0
    assert "WRONGPASS" in refused.stdout + refused.stderr


def test_fails_the_job_when_redis_is_unreachable(system):
    port, environment, reconciler = system
    subprocess.run(["redis-cli", "-p", str(port), "--no-auth-warning", "SHUTDOWN", "NOSAVE"], env=environment)
    result = reconciler.run(reconciler.environment())
    assert result.returncode != 0
    assert "Could not connect" in result.stderr
