"""The `helm test` pod's Redis check, run for real: its rendered container (redis-cli, the read-only
helm-test user) against the rendered Redis, after the order-flow container left the order id in
the shared emptyDir. It passes for a fulfilled order that expires within orders.retention."""

import subprocess
import uuid

import pytest

from services import container_environment, rendered_redis, secrets_of


@pytest.fixture
def check(tmp_path):
    """Runs the check for an order (written as the admin with `fields` and `pttl_ms`); returns its result."""
    (tmp_path / "data").mkdir()
    with rendered_redis({"orders": {"retention": "1h"}}, tmp_path / "data") as (port, admin, manifests):
        (pod,) = [m.obj for m in manifests if m.kind == "Pod"]
        (container,) = pod["spec"]["containers"]
        environment = {"PATH": "/usr/bin:/bin", **container_environment(container, secrets_of(manifests))}
        assert environment["RETENTION_MS"] == "3600000"
        arguments = container["args"]
        arguments[arguments.index("-h") + 1] = "127.0.0.1"
        assert arguments[arguments.index("-p") + 1] == str(port)

        def run(fields: dict[str, str] | None, pttl_ms: int | None) -> subprocess.CompletedProcess:
            order_id = str(uuid.uuid4())
            (tmp_path / "order-id").write_text(order_id + "\n")
            if fields:
                admin_cli = ["redis-cli", "-p", str(port), "--no-auth-warning"]
                flat = [item for pair in fields.items() for item in pair]
                subprocess.run([*admin_cli, "HSET", f"order:{order_id}", *flat], env=admin, check=True)
                if pttl_ms:
                    subprocess.run(
                        [*admin_cli, "PEXPIRE", f"order:{order_id}", str(pttl_ms)], env=admin, check=True
                    )
            script = container["command"][2].replace("/shared/", f"{tmp_path}/")
            return subprocess.run(
                ["sh", "-c", script, "retention", *arguments],
                env=environment,
                capture_output=True,
                text=True,
                timeout=30,
            )

        yield run


def test_passes_for_a_fulfilled_order_that_expires_within_the_retention(check):
    result = check({"status": "fulfilled"}, 3_600_000)
    assert result.returncode == 0, result.stderr
    assert "is fulfilled in Redis and expires in" in result.stdout


def test_fails_for_a_fulfilled_order_that_never_expires(check):
    result = check({"status": "fulfilled"}, None)
    assert result.returncode != 0
    assert "does not expire: PTTL" in result.stderr and "'-1'" in result.stderr


def test_fails_for_an_order_that_outlives_the_retention(check):
    result = check({"status": "fulfilled"}, 7_200_000)
    assert result.returncode != 0
    assert "not within orders.retention (3600000 ms)" in result.stderr


def test_fails_for_an_order_redis_does_not_have_fulfilled(check):
    result = check({"status": "created"}, None)
    assert result.returncode != 0
    assert "answered 'created', not 'fulfilled'" in result.stderr
    result = check(None, None)
    assert result.returncode != 0 and "answered '', not 'fulfilled'" in result.stderr
