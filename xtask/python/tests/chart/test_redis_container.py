"""The Redis container as rendered, run for real: the command line (with the kubelet's `$(VAR)`
expansion), the password from the Secret, the append-only setting, and the readiness probe."""

import base64
import re
import shutil
import subprocess

import pytest
from services import free_port, wait_until_listening

from order_chart import engine


def expand(argument: str, environment: dict[str, str]) -> str:
    """The kubelet's expansion of `$(NAME)` in command and args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: environment[m.group(1)], argument)


def container_environment(container: dict, secret: dict) -> dict[str, str]:
    environment = {}
    for variable in container["env"]:
        reference = variable["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"]
        environment[variable["name"]] = base64.b64decode(secret["data"][reference["key"]]).decode()
    return environment


@pytest.fixture(params=[True, False], ids=["persistent", "in-memory"])
def redis(request, tmp_path):
    """redis-server started from the rendered container; yields (port, environment, probe, persistent)."""
    if shutil.which("redis-server") is None:
        raise RuntimeError(
            "`redis-server` is needed; `cargo xtask test` installs it (apt-get install -y redis-server)"
        )
    port = free_port()
    values = {"redis": {"service": {"port": port}, "persistence": {"enabled": request.param}}}
    manifests = {m.kind: m.obj for m in engine.render(values) if m.kind in {"StatefulSet", "Secret"}}
    (container,) = manifests["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    environment = container_environment(container, manifests["Secret"])
    # /data is the pod's volume; here a temporary directory stands in for it.
    command = [
        expand(part, environment).replace("/data", str(tmp_path))
        for part in container["command"] + container["args"]
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_listening(port, process, f"redis-server ({' '.join(command)})")
        yield port, environment, container["readinessProbe"]["exec"]["command"], request.param
    finally:
        process.terminate()
        process.wait(timeout=10)


def cli(port: int, environment: dict[str, str], *args: str) -> list[str]:
    """redis-cli's answer, one line per element."""
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], env=environment, capture_output=True, text=True, check=True
    ).stdout.splitlines()


def test_requires_the_password_from_the_secret(redis):
    port, environment, _, _ = redis
    assert "NOAUTH" in cli(port, {}, "GET", "order:pending")[0]
    assert cli(port, {"REDISCLI_AUTH": environment["REDIS_PASSWORD"]}, "PING") == ["PONG"]


def test_readiness_probe_passes_only_with_the_password(redis):
    port, environment, probe, _ = redis
    assert subprocess.run(probe, env={"PATH": "/usr/bin:/bin", **environment}).returncode == 0
    assert subprocess.run(probe, env={"PATH": "/usr/bin:/bin"}).returncode != 0


def test_append_only_file_follows_persistence(redis):
    port, environment, _, persistent = redis
    assert cli(port, environment, "CONFIG", "GET", "appendonly") == [
        "appendonly",
        "yes" if persistent else "no",
    ]
    if not persistent:
        assert cli(port, environment, "CONFIG", "GET", "save") == ["save", ""]
