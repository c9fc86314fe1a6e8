"""checkov's Kubernetes checks over the render of every `ci/` scenario: each failed check is either
fixed or explained in the chart README's table of skipped checks, and every row there still
explains a finding (a fixed one is taken out)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import SCENARIO_FILES
from order_chart import engine
from order_chart.paths import CHART

TABLE = re.compile(r"<!-- checkov-skips:start -->\n(.*?)<!-- checkov-skips:end -->", re.S)


@dataclass(frozen=True)
class Finding:
    scenario: str
    check: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.scenario}: {self.check} on {self.kind}/{self.name}"


def checkov() -> str:
    """checkov lives in its own venv (its pins clash with the project's); `cargo xtask chart test`
    passes its path in $CHECKOV."""
    program = os.environ.get("CHECKOV") or shutil.which("checkov")
    if not program:
        raise RuntimeError("checkov is needed: run the chart tests with `cargo xtask chart test`")
    return program


def skip_table() -> dict[str, set[tuple[str, str]]]:
    """The README's table: check id → {(kind, component)} it is explained for."""
    match = TABLE.search((CHART / "README.md").read_text())
    assert match, "the chart README has no checkov-skips table"
    table: dict[str, set[tuple[str, str]]] = {}
    for line in match.group(1).splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        check = re.match(r"`([A-Z0-9_]+)`", cells[0])
        assert check and cells[2], f"a row needs a check id and a reason: {line}"
        objects = {tuple(o.strip().split("/", 1)) for o in cells[1].split(",")}
        table[check.group(1)] = objects
    return table


def run_checkov(directory: Path) -> list[Finding]:
    """Every failed check over the YAML files in `directory` (offline: nothing is downloaded)."""
    result = subprocess.run(
        [checkov(), "--directory", str(directory), "--framework", "kubernetes", "--output", "json",
         "--quiet", "--compact", "--skip-download"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    # 0: all passed, 1: some failed; anything else is checkov failing.
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    findings = []
    for one in reports:
        if "results" not in one:  # nothing failed: checkov prints only a summary
            continue
        for failed in one["results"]["failed_checks"]:
            kind, _namespace, name = failed["resource"].split(".", 2)
            if kind == "Pod" and "." in name:
                # A Job's pod template, which checkov names `<job>.<its labels>`: the Job's name.
                name = name.split(".", 1)[0]
            scenario = Path(failed["file_path"]).stem
            findings.append(Finding(scenario, failed["check_id"], kind, name))
    return findings


def explained(finding: Finding, table: dict[str, set[tuple[str, str]]]) -> tuple[str, str] | None:
    for kind, component in table.get(finding.check, ()):
        if finding.kind == kind and (finding.name == component or finding.name.endswith(f"-{component}")):
            return kind, component
    return None


@pytest.fixture(scope="module")
def findings(tmp_path_factory) -> list[Finding]:
    directory = tmp_path_factory.mktemp("checkov")
    for file in SCENARIO_FILES:
        objects = [m.obj for m in engine.render(engine.user_values([file]))]
        (directory / file.name.replace("-values", "")).write_text(yaml.safe_dump_all(objects))
    found = run_checkov(directory)
    assert {f.scenario for f in found} == {f.name.removesuffix("-values.yaml") for f in SCENARIO_FILES}
    return found


def test_every_failed_check_is_explained(findings):
    table = skip_table()
    unexplained = [str(f) for f in findings if explained(f, table) is None]
    assert not unexplained, "fix these, or explain them in the README's checkov table:\n" + "\n".join(
        unexplained
    )


def test_every_explanation_is_still_needed(findings):
    table = skip_table()
    used = {(f.check, explained(f, table)) for f in findings}
    stale = [
        f"{check} {kind}/{component}"
        for check, objects in table.items()
        for kind, component in objects
        if (check, (kind, component)) not in used
    ]
    assert not stale, "the README's checkov table explains findings checkov no longer reports:\n" + "\n".join(
        stale
    )


def test_digests_pin_every_image(findings):
    # With the `digest` values set, the image-digest check passes for every object.
    assert [f for f in findings if f.check == "CKV_K8S_43"]
    assert not [str(f) for f in findings if f.scenario == "digests" and f.check == "CKV_K8S_43"]


def test_checkov_reports_what_it_finds(tmp_path):
    # The parsing above would hide everything if it misread checkov's report: a privileged pod.
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "bad", "namespace": "orders"},
                "spec": {
                    "containers": [{"name": "c", "image": "x:1", "securityContext": {"privileged": True}}]
                },
            }
        )
    )
    checks = {f.check for f in run_checkov(tmp_path)}
    assert "CKV_K8S_16" in checks, checks  # "Container should not be privileged"
