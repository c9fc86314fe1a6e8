"""Shared fixtures: the value scenarios, their rendered objects, and a real OCI registry."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from order_chart import engine
from order_chart.paths import SCENARIOS

SCENARIO_FILES = sorted(SCENARIOS.glob("*-values.yaml"))


@pytest.fixture(params=SCENARIO_FILES, ids=lambda path: path.name.removesuffix("-values.yaml"))
def scenario(request) -> dict:
    return engine.user_values([request.param])


@pytest.fixture
def rendered(scenario) -> list[engine.Manifest]:
    return engine.render(scenario)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory) -> str:
    """A Debian `docker-registry` (distribution) on a free loopback port; yields `host:port`."""
    program = shutil.which("docker-registry")
    if program is None:
        raise RuntimeError(
            "`docker-registry` is needed to test pushing the chart; `cargo xtask test` installs it "
            "(or: sudo apt-get install -y docker-registry)"
        )
    directory = tmp_path_factory.mktemp("registry")
    host, port = "127.0.0.1", _free_port()
    address = f"{host}:{port}"
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {directory / 'data'}}}}}\n"
        f"http: {{addr: '{address}'}}\n"
    )
    log = (directory / "registry.log").open("w")
    process = subprocess.Popen([program, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                break
            except OSError as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = Path(log.name).read_text()
                    raise RuntimeError(f"docker-registry did not start: {output}") from error
                time.sleep(0.05)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
