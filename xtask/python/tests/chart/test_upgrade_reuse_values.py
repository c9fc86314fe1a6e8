"""`helm upgrade --reuse-values` from an earlier release (0.1.0, …) renders with the current chart.

Helm then renders the new templates and checks the new values.schema.json with the OLD release's
defaults and user values (chart_copies.render_reuse_values_upgrade): every section added since is
absent. Each earlier release's values.yaml and CI scenarios are frozen in upgrade/<version>/
(releases.py); each scenario, and a few `--set`s (`redis.auth.existingSecret=…`), stands for one
install's user values: external Redis, spinOperator mode, shards… docs/nano-services.md tells users
to run exactly this upgrade.
"""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
import pytest
import yaml

import releases
from chart_copies import copy_chart, render_reuse_values_upgrade
from order_chart import engine, validate
from order_chart.paths import CHART

# Every install of every frozen earlier release (upgrade/<version>/).
INSTALLS = [
    pytest.param(version, name, values, id=f"{version}-{name}")
    for version in releases.versions()
    for name, values in releases.installs(version).items()
]

# What a user adds on the upgrade itself: none, and docs/nano-services.md's `--set`.
UPGRADE_SETS = {
    "": {},
    "placement": engine.user_values(sets=["fulfilment.placement=composed"]),
}


@pytest.mark.parametrize("extra", UPGRADE_SETS)
@pytest.mark.parametrize(("version", "name", "values"), INSTALLS)
def test_reuse_values_upgrade_renders_valid_objects_and_keeps_immutable_fields(
    version, name, values, extra, tmp_path
):
    previous = releases.FIXTURES / version
    manifests = render_reuse_values_upgrade(tmp_path, previous, values, UPGRADE_SETS[extra])
    assert validate.all_problems(manifests) == []
    # What Kubernetes would refuse to change, or a rename would lose, is as that release made it.
    before = releases.frozen_immutable_fields(version)[name]
    after = releases.immutable_fields(manifests)
    assert {key: after.get(key) for key in before} == before
    if extra:  # the upgrade's own --set wins over the reused values
        assert placement(manifests) == "composed"


def placement(manifests: list[engine.Manifest]) -> str:
    """The order-processor's Spin variable `fulfilment_placement`, in either mode."""
    for manifest in manifests:
        if manifest.name.endswith("-order-processor") and manifest.kind == "SpinApp":
            variables = {v["name"]: v.get("value") for v in manifest.obj["spec"]["variables"]}
            return variables["fulfilment_placement"]
        if manifest.name.endswith("-order-processor") and manifest.kind == "Deployment":
            assert manifest.pod_spec is not None
            variables = {v["name"]: v.get("value") for v in manifest.pod_spec["containers"][0]["env"]}
            return variables["SPIN_VARIABLE_FULFILMENT_PLACEMENT"]
    raise AssertionError("no order-processor")


def masked(manifests: list[engine.Manifest]) -> list[dict[str, Any]]:
    """The objects with Secret data hidden: a password the chart generates differs on every render."""
    objects = []
    for manifest in manifests:
        obj = json.loads(json.dumps(manifest.obj))
        if manifest.kind == "Secret":
            obj["data"] = sorted(obj.get("data", {}))
        objects.append(obj)
    return objects


def reused_and_fresh(tmp_path, version: str, config: dict[str, Any], chart=CHART) -> tuple[list, list]:
    """The reuse-values upgrade of a release of `version` installed with `config`, and a fresh
    install with that release's defaults and `config` as user values over the current defaults
    (so new sections present, at their defaults); Secret data masked."""
    previous = releases.FIXTURES / version
    reused = render_reuse_values_upgrade(tmp_path, previous, config, chart=chart)
    old_settings = engine.merge(engine.user_values([previous / "values.yaml"]), config)
    return masked(reused), masked(engine.render(old_settings, chart=chart))


@pytest.mark.parametrize(("version", "name", "values"), INSTALLS)
def test_an_absent_new_section_renders_as_its_default(version, name, values, tmp_path):
    """A section added since is absent after a reuse-values upgrade; the templates must then do
    what values.yaml's default for it says, so the upgraded release runs what a fresh install with
    the same settings runs (`--reuse-values` and `--reset-then-reuse-values` agree on it)."""
    reused, fresh = reused_and_fresh(tmp_path, version, values)
    assert reused == fresh


def required_but_absent(schema: dict[str, Any], values: Any, path: str = "") -> list[str]:
    """Keys values.schema.json requires where `values` (an earlier release's defaults) has no such
    key, walking `properties` (and `$ref`s into `definitions`) wherever `values` has the enclosing map."""
    root = schema
    found: list[str] = []

    def walk(node: dict[str, Any], value: Any, where: str) -> None:
        while "$ref" in node:
            node = root["definitions"][node["$ref"].removeprefix("#/definitions/")]
        if not isinstance(value, dict):
            return
        found.extend(f"{where}{key}" for key in node.get("required", []) if key not in value)
        for key, child in node.get("properties", {}).items():
            if key in value:
                walk(child, value[key], f"{where}{key}.")

    walk(schema, values, path)
    return found


@pytest.mark.parametrize("version", releases.versions())
def test_the_schema_requires_nothing_an_earlier_release_lacks(version):
    schema = json.loads((CHART / "values.schema.json").read_text())
    absent = required_but_absent(schema, engine.user_values([releases.FIXTURES / version / "values.yaml"]))
    assert absent == [], (
        f"values.schema.json requires {absent}, which a {version} release's values lack: "
        "`helm upgrade --reuse-values` would fail. New keys are optional (README: Upgrades)."
    )


def test_the_checks_catch_a_chart_that_needs_a_new_section(tmp_path):
    """The guards have teeth: a new section the templates read without `dig`, or read with another
    default than values.yaml's, or that the schema requires, each fails one of the tests above."""
    chart = copy_chart(tmp_path)
    values = (chart / "values.yaml").read_text()
    (chart / "values.yaml").write_text(values + "\nretentionProbe:\n  period: 7d\n")
    schema = json.loads((chart / "values.schema.json").read_text())
    schema["properties"]["retentionProbe"] = {"type": "object", "properties": {"period": {"type": "string"}}}
    (chart / "values.schema.json").write_text(json.dumps(schema))

    def reads_period_as(expression: str) -> None:
        (chart / "templates" / "probe.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n"
            f"data:\n  period: {{{{ {expression} }}}}\n"
        )
        assert engine.render(chart=chart)  # a fresh install is fine either way

    reads_period_as(".Values.retentionProbe.period")
    with pytest.raises(helm.HelmRenderError, match=r"nil pointer evaluating interface \{\}\.period"):
        render_reuse_values_upgrade(tmp_path, releases.FIXTURES / "0.1.0", {}, chart=chart)
    reads_period_as('dig "retentionProbe" "period" "30d" .Values.AsMap')
    reused, fresh = reused_and_fresh(tmp_path, "0.1.0", {}, chart)
    assert reused != fresh
    reads_period_as('dig "retentionProbe" "period" "7d" .Values.AsMap')
    reused, fresh = reused_and_fresh(tmp_path, "0.1.0", {}, chart)
    assert reused == fresh

    schema["required"].append("retentionProbe")
    old_defaults = engine.user_values([releases.FIXTURES / "0.1.0" / "values.yaml"])
    assert required_but_absent(schema, old_defaults) == ["retentionProbe"]


def test_the_fixtures_are_the_releases_they_name():
    assert "0.1.0" in releases.versions()
    for version in releases.versions():
        directory = releases.FIXTURES / version
        assert (
            (directory / "values.yaml")
            .read_text()
            .startswith(f"# order-system chart {version}'s values.yaml")
        )
        assert set(releases.frozen_immutable_fields(version)) == set(releases.installs(version))


def test_freeze_records_the_chart_as_it_is_and_never_rewrites_a_release(tmp_path):
    directory = releases.freeze(tmp_path)
    version = engine.chart_metadata()["version"]
    assert directory == tmp_path / version
    frozen = (directory / "values.yaml").read_text()
    assert frozen.startswith(f"# order-system chart {version}'s values.yaml")
    assert frozen.endswith((CHART / "values.yaml").read_text())
    assert engine.user_values([directory / "values.yaml"]) == engine.default_values()
    assert {path.name for path in (directory / "ci").iterdir()} == {p.name for p in (CHART / "ci").iterdir()}
    fields = yaml.safe_load((directory / "immutable.yaml").read_text())
    assert set(fields) == set(releases.installs(version, tmp_path))
    assert "StatefulSet/shop-order-system-redis" in fields["defaults"]
    with pytest.raises(FileExistsError):
        releases.freeze(tmp_path)
