"""Shared fixtures: the value scenarios, their rendered objects, and a real OCI registry."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from order_chart import engine
from order_chart.paths import SCENARIOS
from services import free_port, wait_until_listening

SCENARIO_FILES = sorted(SCENARIOS.glob("*-values.yaml"))


@pytest.fixture(params=SCENARIO_FILES, ids=lambda path: path.name.removesuffix("-values.yaml"))
def scenario(request) -> dict:
    return engine.user_values([request.param])


@pytest.fixture
def rendered(scenario) -> list[engine.Manifest]:
    return engine.render(scenario)


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory) -> Iterator[str]:
    """A Debian `docker-registry` (distribution) on a free loopback port; yields `host:port`."""
    program = shutil.which("docker-registry")
    if program is None:
        raise RuntimeError(
            "`docker-registry` is needed to test pushing the chart; `cargo xtask test` installs it "
            "(or: sudo apt-get install -y docker-registry)"
        )
    directory = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
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
        port = int(address.rsplit(":", 1)[1])
        wait_until_listening(port, process, "docker-registry", log=Path(log.name))
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
