"""`python -m api_fuzz --url URL`: at least `--min-requests` schemathesis requests against the order
API, every check on; fails on any failure, any 5xx, or too few requests, and prints the counts."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import schemathesis

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "docs" / "openapi.yaml"


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="api_fuzz", description=__doc__)
    parser.add_argument("--url", required=True, help="the order API, e.g. http://127.0.0.1:3000")
    parser.add_argument("--min-requests", type=int, default=1000, help="fail with fewer requests than this")
    parser.add_argument(
        "--max-examples", type=int, default=300, help="generated cases per operation and phase"
    )
    # A fixed seed keeps CI repeatable; pass another to explore further.
    parser.add_argument("--seed", type=int, default=20261124)
    return parser.parse_args(argv)


def har_statuses(report_dir: Path) -> Counter[int]:
    """Response status codes of every request in the HAR report schemathesis wrote."""
    statuses: Counter[int] = Counter()
    for report in report_dir.glob("*.json"):
        for entry in json.loads(report.read_text())["log"]["entries"]:
            statuses[entry["response"]["status"]] += 1
    return statuses


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="api-fuzz-") as report_dir:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                str(SPEC),
                "--url",
                arguments.url,
                "--checks",
                "all",
                "--max-examples",
                str(arguments.max_examples),
                "--seed",
                str(arguments.seed),
                "--report",
                "har",
                "--report-dir",
                report_dir,
                "--no-color",
                # Repeatable from the seed alone; nothing stored between runs.
                "--generation-database",
                "none",
            ],
            env={**os.environ, "SCHEMATHESIS_HOOKS": "api_fuzz.hooks"},
            # schemathesis keeps caches in its working directory: not in the repository.
            cwd=report_dir,
        )
        statuses = har_statuses(Path(report_dir))
    requests = sum(statuses.values())
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    by_status = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    print(
        f"API fuzzing (schemathesis {schemathesis.__version__}, seed {arguments.seed}): {requests} requests "
        f"({by_status}); server errors: {server_errors}; spec violations and other failures: "
        f"{'none' if run.returncode == 0 else 'see above'}"
    )
    problems = []
    if run.returncode != 0:
        problems.append(f"schemathesis found failures (exit code {run.returncode})")
    if server_errors:
        problems.append(f"{server_errors} responses were 5xx")
    if requests < arguments.min_requests:
        problems.append(f"only {requests} requests, fewer than {arguments.min_requests}")
    for problem in problems:
        print(f"API fuzzing failed: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
