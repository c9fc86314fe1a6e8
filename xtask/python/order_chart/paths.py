"""Where the chart and the CRD schemas are; nothing else in the package hard-codes a path."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "order-system"
SCENARIOS = CHART / "ci"
UNIT_TESTS = CHART / "tests"
# CRDs the shared directory lacks (prometheus-operator's), kept in the repository: xtask/crds/SOURCES.md.
REPO_CRDS = ROOT / "xtask" / "crds"


def crds_dir() -> Path:
    """CRD schemas (SpinApp…): `$ORDER_SYSTEM_CRDS`, else `../shared/crds` next to the repository.

    They are read, never copied into the repository; CI downloads the same pinned files.
    """
    configured = os.environ.get("ORDER_SYSTEM_CRDS")
    directory = Path(configured) if configured else ROOT.parent / "shared" / "crds"
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no CRD schemas at {directory}: set ORDER_SYSTEM_CRDS to a directory holding "
            "spinapps.yaml (spin-operator's core.spinkube.dev_spinapps.yaml)"
        )
    return directory
