"""Starting real programs on loopback for the tests: a free port, and waiting until one listens."""

import socket
import subprocess
import time
from pathlib import Path


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
