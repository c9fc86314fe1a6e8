"""Starting real programs on loopback for the tests: a free port, waiting until one listens, and
the command line and environment of a rendered container as the kubelet would run it."""

import base64
import math
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
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


_SUFFIXES: dict[str, int | Fraction] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}


def quantity(text: str | int | float) -> Fraction:
    """A Kubernetes quantity (`256Mi`, `0.5Gi`, `1e9`, `1G`) as an exact number."""
    match = re.fullmatch(
        r"([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)", str(text)
    )
    assert match, f"not a quantity: {text}"
    number = Fraction(match[1])
    if match[2]:
        return number * Fraction(10) ** int(match[2][1:])
    return number * _SUFFIXES[match[3] or ""]


def container_environment(container: dict, secrets: dict[str, dict]) -> dict[str, str]:
    """The container's variables as the kubelet sets them: Secret-backed ones read from the rendered
    Secrets (name → Secret), `resourceFieldRef` ones from the container's resources (rounded up to
    the divisor, as the downward API does), plain values as they are."""
    environment = {}
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        elif reference := variable["valueFrom"].get("secretKeyRef"):
            secret = secrets[reference["name"]]
            environment[variable["name"]] = base64.b64decode(secret["data"][reference["key"]]).decode()
        else:
            field = variable["valueFrom"]["resourceFieldRef"]
            assert field["containerName"] == container["name"]
            kind, resource = field["resource"].split(".")
            amount = quantity(container["resources"][kind][resource]) / quantity(field.get("divisor", "1"))
            environment[variable["name"]] = str(math.ceil(amount))
    return environment


def secrets_of(
    manifests: list[engine.Manifest], existing: dict[str, dict[str, str]] | None = None
) -> dict[str, dict]:
    """The rendered Secrets by name, plus `existing` ones (name → key → value) standing in for
    Secrets made outside the chart."""
    secrets = {m.name: m.obj for m in manifests if m.kind == "Secret"}
    for name, data in (existing or {}).items():
        secrets[name] = {
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
        }
    return secrets


def role_credentials(
    manifests: list[engine.Manifest], container: dict, existing: dict[str, dict[str, str]] | None = None
) -> tuple[str, str]:
    """(Redis user, password) that a rendered redis-cli container (reconciler, test, hook) uses:
    `--user` from its args (empty: the default user), the password decoded from its Secret."""
    arguments = container.get("args", [])
    user = arguments[arguments.index("--user") + 1] if "--user" in arguments else ""
    environment = container_environment(container, secrets_of(manifests, existing))
    return user, unquote(environment.get("REDIS_PASSWORD", ""))


@contextmanager
def rendered_redis(
    values: dict,
    data_dir: Path,
    secret_password: str | None = None,
    existing_secrets: dict[str, dict[str, str]] | None = None,
) -> Iterator[tuple[int, dict[str, str], list[engine.Manifest]]]:
    """Renders the chart with `values` (Redis on a free port) and runs the rendered Redis container's
    command line with its environment, `data_dir` standing in for its /data volume (and a directory
    beside it for /tmp); yields (port, the container's environment plus the decoded password as
    redis-cli's REDISCLI_AUTH, every rendered manifest). `secret_password` stands in for what an
    existing Secret holds instead of the generated password (the password's URL form);
    `existing_secrets` (name → key → value) for Secrets the values name that the chart does not make."""
    if shutil.which("redis-server") is None:
        raise RuntimeError(
            "`redis-server` is needed; `cargo xtask test` installs it (apt-get install -y redis-server)"
        )
    port = free_port()
    manifests = engine.render(engine.merge(values, {"redis": {"service": {"port": port}}}))
    (statefulset,) = [m.obj for m in manifests if m.kind == "StatefulSet"]
    (container,) = [c for c in statefulset["spec"]["template"]["spec"]["containers"] if c["name"] == "redis"]
    environment = container_environment(container, secrets_of(manifests, existing_secrets))
    if secret_password is not None:
        environment["REDIS_PASSWORD"] = secret_password
    # /tmp (an emptyDir, where Redis' ACL file is written) beside the stand-in for /data.
    tmp_dir = data_dir.with_name(f"{data_dir.name}-tmp")
    tmp_dir.mkdir(exist_ok=True)
    command = [
        re.sub(
            "/tmp/|/data",
            lambda m: f"{tmp_dir}/" if m[0] == "/tmp/" else str(data_dir),
            expand(part, environment),
        )
        for part in container["command"] + container["args"]
    ]
    log_path = tmp_dir / "redis.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, env={"PATH": "/usr/bin:/bin", **environment}, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_listening(port, process, "the rendered redis-server", log=log_path)
        yield port, {**environment, "REDISCLI_AUTH": unquote(environment["REDIS_PASSWORD"])}, manifests
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def rendered_exporter(
    manifests: list[engine.Manifest],
    work_dir: Path,
    existing_secrets: dict[str, dict[str, str]] | None = None,
) -> Iterator[int]:
    """Runs the rendered Redis pod's `metrics` container (redis_exporter, configured by its
    environment) with Debian's `prometheus-redis-exporter`: its variables as the kubelet sets them
    (`$(NAME)` expanded), the rendered ConfigMap's metrics.lua in `work_dir` standing in for the
    mounted /etc/redis-exporter, on a free loopback port; yields that port. Redis is reached where
    the container's REDIS_ADDR says (127.0.0.1 and the rendered Redis port)."""
    program = shutil.which("prometheus-redis-exporter")
    if program is None:
        raise RuntimeError(
            "`prometheus-redis-exporter` is needed; `cargo xtask test` installs it "
            "(apt-get install -y prometheus-redis-exporter)"
        )
    (statefulset,) = [m.obj for m in manifests if m.kind == "StatefulSet"]
    (container,) = [
        c for c in statefulset["spec"]["template"]["spec"]["containers"] if c["name"] == "metrics"
    ]
    (config_map,) = [
        m.obj for m in manifests if m.kind == "ConfigMap" and "metrics.lua" in m.obj.get("data", {})
    ]
    (mount,) = container["volumeMounts"]
    script = work_dir / "metrics.lua"
    script.write_text(config_map["data"]["metrics.lua"])
    environment: dict[str, str] = {}
    for name, value in container_environment(container, secrets_of(manifests, existing_secrets)).items():
        environment[name] = expand(value, environment)  # the kubelet expands earlier variables only
    port = free_port()
    environment["REDIS_EXPORTER_SCRIPT"] = environment["REDIS_EXPORTER_SCRIPT"].replace(
        mount["mountPath"], str(work_dir)
    )
    environment["REDIS_EXPORTER_WEB_LISTEN_ADDRESS"] = f"127.0.0.1:{port}"
    log_path = work_dir / "exporter.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [program], env={"PATH": "/usr/bin:/bin", **environment}, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_listening(port, process, "the rendered redis_exporter", log=log_path)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
