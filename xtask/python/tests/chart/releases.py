"""Earlier releases of the chart, frozen in upgrade/<version>/ for the upgrade tests: the release's
values.yaml, its ci/*-values.yaml scenarios (each stands for one install's user values), and
immutable.yaml, what its installs rendered that an upgrade may not change in place.

They are records of published releases and never edited. At a release, `freeze` writes the
release's directory from the chart as it is then (README: Upgrades)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from order_chart import engine
from order_chart.paths import CHART, ROOT, SCENARIOS

FIXTURES = Path(__file__).parent / "upgrade"

# Installs beyond the CI scenarios: settings a user may have passed with `--set`.
EXTRA_INSTALLS = {
    "existing-secret": ["redis.auth.existingSecret=x"],
    "no-persistence": ["redis.persistence.enabled=false"],
    "composed-operator": ["mode=spinOperator", "fulfilment.placement=composed"],
}

# StatefulSet spec fields an update may change; Kubernetes refuses a change to any other
# (apps/validation ValidateStatefulSetUpdate), so an upgrade that changes one fails.
STATEFULSET_MUTABLE = {
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
}


def versions() -> list[str]:
    return sorted(path.name for path in FIXTURES.iterdir() if (path / "values.yaml").is_file())


def installs(version: str, fixtures: Path = FIXTURES) -> dict[str, dict[str, Any]]:
    """Install name → the user values of one install of that release."""
    scenarios = {
        path.name.removesuffix("-values.yaml"): engine.user_values([path])
        for path in sorted((fixtures / version / "ci").glob("*-values.yaml"))
    }
    return scenarios | {name: engine.user_values(sets=sets) for name, sets in EXTRA_INSTALLS.items()}


def immutable_fields(manifests: list[engine.Manifest]) -> dict[str, Any]:
    """Kind/name → what an upgrade may not change in place, for every object but hooks. The name is
    the key: a renamed object is deleted and made anew (a renamed Redis StatefulSet gets a new, empty
    claim). A StatefulSet's spec but for its mutable fields (selector, serviceName, and
    volumeClaimTemplates, labels included), a Deployment's selector, a RuntimeClass' handler."""
    fields: dict[str, Any] = {}
    for manifest in manifests:
        if "helm.sh/hook" in manifest.obj["metadata"].get("annotations", {}):
            continue
        spec = manifest.obj.get("spec", {})
        if manifest.kind == "StatefulSet":
            kept = {key: value for key, value in spec.items() if key not in STATEFULSET_MUTABLE}
        elif manifest.kind == "Deployment":
            kept = {"selector": spec["selector"]}
        elif manifest.kind == "RuntimeClass":
            kept = {"handler": manifest.obj["handler"]}
        else:
            kept = {}
        fields[f"{manifest.kind}/{manifest.name}"] = kept
    return fields


def frozen_immutable_fields(version: str) -> dict[str, dict[str, Any]]:
    """Install name → immutable_fields of what that release rendered for it."""
    return yaml.safe_load((FIXTURES / version / "immutable.yaml").read_text())


def freeze(fixtures: Path = FIXTURES) -> Path:
    """Writes upgrade/<Chart.yaml version>/ from the chart as it is now: run at a release. Refuses
    to rewrite a release already frozen."""
    version = engine.chart_metadata()["version"]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    directory = fixtures / version
    if directory.exists():
        raise FileExistsError(f"{directory}: release {version} is frozen already; bump Chart.yaml first")
    (directory / "ci").mkdir(parents=True)
    (directory / "values.yaml").write_text(
        f"# order-system chart {version}'s values.yaml, byte for byte below this header (git {commit},\n"
        "# charts/order-system/values.yaml). `helm upgrade --reuse-values` from a release of it renders\n"
        "# a newer chart with THESE defaults instead of its own (Helm pkg/action/upgrade.go, reuseValues:\n"
        "# `chart.Values = oldVals`); test_upgrade_reuse_values.py does the same.\n"
        "# A record of a published release (releases.py): never edit it.\n"
        + (CHART / "values.yaml").read_text()
    )
    for scenario in sorted(SCENARIOS.glob("*-values.yaml")):
        (directory / "ci" / scenario.name).write_text(
            f"# charts/order-system/ci/{scenario.name} of chart {version} (git {commit}):"
            " one install's user\n"
            "# values. A record of a published release (releases.py): never edit it.\n" + scenario.read_text()
        )
    fields = {
        name: immutable_fields(engine.render(values)) for name, values in installs(version, fixtures).items()
    }
    (directory / "immutable.yaml").write_text(
        f"# What chart {version} (git {commit}) rendered that an upgrade may not change in place, for\n"
        "# each install of releases.installs: releases.immutable_fields. A record of a published\n"
        "# release (releases.py): never edit it.\n" + yaml.safe_dump(fields, sort_keys=True)
    )
    return directory
