"""Copies of the chart as another release, or an upgrade, sees it: a different version in
Chart.yaml, or the defaults `helm upgrade --reuse-values` puts in place of values.yaml."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from order_chart import engine
from order_chart.paths import CHART


def copy_chart(directory: Path, source: Path = CHART) -> Path:
    """The chart `source` as `helm package` ships it, in a new directory under `directory`."""
    copy = Path(tempfile.mkdtemp(dir=directory)) / CHART.name

    def ignore(folder: str, names: list[str]) -> set[str]:
        # The top-level tests/ and ci/ only (.helmignore): templates/tests/ is the `helm test` hook.
        return {"tests", "ci"} & set(names) if Path(folder) == source else set()

    shutil.copytree(source, copy, ignore=ignore)
    return copy


def set_versions(chart: Path, *, version: str | None = None, app_version: str | None = None) -> None:
    """Rewrites Chart.yaml's `version` and/or `appVersion` lines, leaving everything else as it is."""
    metadata = (chart / "Chart.yaml").read_text()
    for key, value in (("version", version), ("appVersion", app_version)):
        if value is not None:
            metadata, count = re.subn(rf"(?m)^{key}: .*$", f'{key}: "{value}"', metadata)
            assert count == 1, f"Chart.yaml has no single `{key}:` line"
    (chart / "Chart.yaml").write_text(metadata)


def render_reuse_values_upgrade(
    directory: Path,
    previous: Path,
    config: dict[str, Any],
    sets: dict[str, Any] | None = None,
    *,
    chart: Path = CHART,
) -> list[engine.Manifest]:
    """Renders `chart` (the current chart) as `helm upgrade --reuse-values [sets]` does for a release
    installed from the chart whose values.yaml is `previous/values.yaml`, with user values `config`.

    Helm (pkg/action/upgrade.go, `reuseValues`) coalesces the OLD chart's defaults with the old user
    values and makes that the new chart's defaults (`chart.Values = oldVals`), so the new chart's
    values.yaml is never read; the user values are the old ones under the new `--set`/`-f`
    (`CoalesceTables(newVals, current.Config)`). Only the old chart's values enter that
    coalescing, so the current chart carrying the old values.yaml computes the same `oldVals`.
    """
    chart = copy_chart(directory, chart)
    shutil.copyfile(previous / "values.yaml", chart / "values.yaml")
    with helm.Chart.load(chart) as old:
        old_values = old.merge_values(config)
    (chart / "values.yaml").write_text(yaml.safe_dump(old_values, sort_keys=False))
    return engine.render(engine.merge(config, sets or {}), chart=chart)
