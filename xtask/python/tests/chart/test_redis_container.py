"""The Redis container as rendered, run for real: the command line (with the kubelet's `$(VAR)`
expansion), the password from the Secret (its URL form, decoded), the append-only setting, the pub/sub
output buffer limit, and the readiness probe."""

import subprocess
from urllib.parse import quote

import pytest

from order_chart import engine
from services import free_port, rendered_redis


@pytest.fixture(params=[True, False], ids=["persistent", "in-memory"])
def redis(request, tmp_path):
    """redis-server started from the rendered container; yields (port, environment, probe, persistent)."""
    values = {"redis": {"persistence": {"enabled": request.param}}}
    with rendered_redis(values, tmp_path) as (port, environment, manifests):
        (statefulset,) = [m.obj for m in manifests if m.kind == "StatefulSet"]
        (container,) = statefulset["spec"]["template"]["spec"]["containers"]
        yield port, environment, container["readinessProbe"]["exec"]["command"], request.param


def cli(port: int, environment: dict[str, str], *args: str) -> list[str]:
    """redis-cli's answer, one line per element."""
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], env=environment, capture_output=True, text=True, check=True
    ).stdout.splitlines()


def test_requires_the_password_from_the_secret(redis):
    port, environment, _, _ = redis
    assert "NOAUTH" in cli(port, {}, "GET", "order:pending")[0]
    assert cli(port, {"REDISCLI_AUTH": environment["REDIS_PASSWORD"]}, "PING") == ["PONG"]


# A managed Redis' access key, and one of every character a URL reserves.
SPECIAL_PASSWORDS = ["Ab1/cD+e=", *(f"Ab1{c}cD{c}" for c in "/+=@:%#?& "), "ü\\'\"$`*"]


@pytest.mark.parametrize("password", SPECIAL_PASSWORDS)
def test_an_existing_secret_holds_the_url_form_and_redis_requires_the_password(tmp_path, password):
    encoded = quote(password, safe="")
    with rendered_redis({}, tmp_path, secret_password=encoded) as (port, _, manifests):
        assert cli(port, {"REDISCLI_AUTH": password}, "PING") == ["PONG"]
        assert cli(port, {"REDISCLI_AUTH": encoded}, "PING") != ["PONG"]
        (statefulset,) = [m.obj for m in manifests if m.kind == "StatefulSet"]
        probe = statefulset["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
        assert subprocess.run(probe, env={"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": encoded}).returncode == 0
        assert (
            subprocess.run(probe, env={"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": quote(encoded)}).returncode
            != 0
        )


def test_a_secret_not_in_url_form_stops_redis_with_the_reason(tmp_path):
    port = free_port()
    manifests = engine.render({"redis": {"service": {"port": port}}})
    (statefulset,) = [m.obj for m in manifests if m.kind == "StatefulSet"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    result = subprocess.run(
        container["command"] + container["args"],
        env={"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": "100%"},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode != 0
    assert "not percent-encoded" in result.stderr


def test_readiness_probe_passes_only_with_the_password(redis):
    _, environment, probe, _ = redis
    assert subprocess.run(probe, env={"PATH": "/usr/bin:/bin", **environment}).returncode == 0
    assert subprocess.run(probe, env={"PATH": "/usr/bin:/bin"}).returncode != 0


def test_append_only_file_follows_persistence(redis):
    port, environment, _, persistent = redis
    assert cli(port, environment, "CONFIG", "GET", "appendonly") == [
        "appendonly",
        "yes" if persistent else "no",
    ]
    if persistent:
        assert cli(port, environment, "CONFIG", "GET", "appendfsync") == ["appendfsync", "everysec"]
    else:
        assert cli(port, environment, "CONFIG", "GET", "save") == ["save", ""]


def test_append_only_file_can_be_fsynced_before_every_answer(tmp_path):
    with rendered_redis({"redis": {"persistence": {"appendFsync": "always"}}}, tmp_path) as (
        port,
        environment,
        _,
    ):
        assert cli(port, environment, "CONFIG", "GET", "appendfsync") == ["appendfsync", "always"]


def test_pubsub_buffer_limit_follows_the_values(redis):
    """Redis' defaults, set explicitly: Redis answers in bytes."""
    port, environment, _, _ = redis
    limits = cli(port, environment, "CONFIG", "GET", "client-output-buffer-limit")[1]
    assert "pubsub 33554432 8388608 60" in limits, limits


def test_pubsub_buffer_limit_can_be_changed(tmp_path):
    values = {"redis": {"pubsubBufferLimit": {"hard": "1gb", "soft": "256mb", "softSeconds": 120}}}
    with rendered_redis(values, tmp_path) as (port, environment, _):
        limits = cli(port, environment, "CONFIG", "GET", "client-output-buffer-limit")[1]
        assert "pubsub 1073741824 268435456 120" in limits, limits
