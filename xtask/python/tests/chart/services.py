"""Starting real programs on loopback for the tests: a free port, waiting until one listens, and
the command line and environment of a rendered container as the kubelet would run it."""

import base64
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from order_chart import engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, what: str, log: Path | None = None) -> None:
    """Returns once 127.0.0.1:`port` accepts connections; fails (quoting `log`) if `process` exits
    or 20 s pass."""
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                output = log.read_text() if log else ""
                raise RuntimeError(f"{what} did not start listening on port {port}. {output}") from error
            time.sleep(0.05)


def expand(argument: str, environment: dict[str, str]) -> str:
    """The kubelet's expansion of `$(NAME)` in command and args."""
    return re.sub(
        r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: environment.get(m.group(1), m.group(0)), argument
    )


def container_environment(container: dict, secret: dict) -> dict[str, str]:
    """The container's Secret-backed variables, read from the rendered Secret."""
    environment = {}
    for variable in container["env"]:
        reference = variable["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"]
        environment[variable["name"]] = base64.b64decode(secret["data"][reference["key"]]).decode()
    return environment


@contextmanager
def rendered_redis(
    values: dict, data_dir: Path, secret_password: str | None = None
) -> Iterator[tuple[int, dict[str, str], list[engine.Manifest]]]:
    """Renders the chart with `values` (Redis on a free port) and runs the rendered Redis container's
    command line with its environment, `data_dir` standing in for its /data volume; yields (port,
    the container's environment plus the decoded password as redis-cli's REDISCLI_AUTH, every
    rendered manifest). `secret_password` stands in for what an existing Secret holds instead of
    the generated password (the password's URL form)."""
    if shutil.which("redis-server") is None:
        raise RuntimeError(
            "`redis-server` is needed; `cargo xtask test` installs it (apt-get install -y redis-server)"
        )
    port = free_port()
    manifests = engine.render(engine.merge(values, {"redis": {"service": {"port": port}}}))
    by_kind = {m.kind: m.obj for m in manifests if m.kind in {"StatefulSet", "Secret"}}
    (container,) = by_kind["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    environment = container_environment(container, by_kind["Secret"])
    if secret_password is not None:
        environment["REDIS_PASSWORD"] = secret_password
    command = [
        expand(part, environment).replace("/data", str(data_dir))
        for part in container["command"] + container["args"]
    ]
    process = subprocess.Popen(
        command, env={"PATH": "/usr/bin:/bin", **environment}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_listening(port, process, f"redis-server ({' '.join(command)})")
        yield port, {**environment, "REDISCLI_AUTH": unquote(environment["REDIS_PASSWORD"])}, manifests
    finally:
        process.terminate()
        process.wait(timeout=10)
