"""A new chart version rolls no workload that did not change: the chart rendered again as another
version (Chart.yaml rewritten in a copy) gives every workload the same spec, pod templates byte for
byte. Kubernetes restarts a StatefulSet's or Deployment's pods when their template changes, so a
version in a pod's labels or annotations would restart Redis at every release."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chart_copies import copy_chart, set_versions
from order_chart import engine

# Kinds that run pods; the helm test Pod is made anew by each `helm test`, whatever its labels.
WORKLOADS = {"StatefulSet", "Deployment", "CronJob", "SpinApp"}
NEW = "9.8.7"

# Labels that identify a workload's pods; every other label on a pod template is the user's
# (commonLabels, <component>.podLabels).
IDENTITY = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "order-system/shard",
}


def render(tmp_path, values: dict[str, Any], **versions: str) -> list[engine.Manifest]:
    chart = copy_chart(tmp_path)
    set_versions(chart, **versions)
    return engine.render(values, chart=chart)


def workload_specs(manifests: list[engine.Manifest]) -> dict[str, str]:
    """Kind/name → the workload's whole spec (pod template, claim templates, selector) as JSON."""
    return {
        f"{m.kind}/{m.name}": json.dumps(m.obj["spec"], sort_keys=True)
        for m in manifests
        if m.kind in WORKLOADS
    }


def pod_metadata(manifest: engine.Manifest) -> list[dict[str, Any]]:
    """The metadata a workload gives what it makes: pods (and a CronJob's Jobs)."""
    spec = manifest.obj["spec"]
    if manifest.kind == "SpinApp":  # spin-operator copies these onto its Deployment's pods
        return [{"labels": spec.get("podLabels", {}), "annotations": spec.get("podAnnotations", {})}]
    if manifest.kind == "CronJob":
        return [spec["jobTemplate"]["metadata"], spec["jobTemplate"]["spec"]["template"]["metadata"]]
    return [spec["template"]["metadata"]]


def test_a_new_chart_version_changes_no_workload(scenario, tmp_path):
    before = workload_specs(render(tmp_path, scenario))
    after_manifests = render(tmp_path, scenario, version=NEW)
    assert before and workload_specs(after_manifests) == before
    # The objects themselves still say which chart made them.
    for manifest in after_manifests:
        assert manifest.obj["metadata"]["labels"]["helm.sh/chart"] == f"order-system-{NEW}", manifest


def test_a_new_app_version_changes_only_the_spin_app_images(scenario, tmp_path):
    """The Spin apps' image tag defaults to the appVersion: their pods roll for a new one (unless
    the values pin a tag or digest); Redis and the reconciler run their own image and stay."""
    current = engine.chart_metadata()["appVersion"]
    before = workload_specs(render(tmp_path, scenario))
    after = workload_specs(render(tmp_path, scenario, version=NEW, app_version=NEW))
    assert after.keys() == before.keys()
    for name, spec in after.items():
        if name.endswith(("-redis", "-reconciler")):
            assert spec == before[name], name
        else:
            assert spec.replace(f'processor:{NEW}"', f'processor:{current}"') == before[name], name


@pytest.mark.parametrize(
    ("setting", "rolled"),
    [
        ("redis.persistence.appendFsync=always", "StatefulSet/shop-order-system-redis"),
        # docs/nano-services.md: switching placement restarts the order-processor alone.
        ("fulfilment.placement=composed", "Deployment/shop-order-system-order-processor"),
    ],
)
def test_a_changed_setting_changes_its_workload_only(setting, rolled, tmp_path):
    """The comparison sees a change: a setting rolls the workload it is about, and only that one,
    also together with a new chart version."""
    before = workload_specs(render(tmp_path, {}))
    after = workload_specs(render(tmp_path, engine.user_values(sets=[setting]), version=NEW))
    assert {name for name in after if after[name] != before[name]} == {rolled}


def test_pod_templates_carry_identity_and_user_labels_only(tmp_path):
    components = ("orderProcessor", "fulfilmentProcessor", "redis", "reconciler")
    user = {"commonLabels": {"team": "orders"}} | {key: {"podLabels": {"tier": key}} for key in components}
    for values in (user, engine.merge(user, {"mode": "spinOperator", "fulfilmentProcessor": {"shards": 2}})):
        for manifest in engine.render(values):
            if manifest.kind not in WORKLOADS:
                continue
            selector = manifest.obj["spec"].get("selector", {}).get("matchLabels", {})
            for metadata in pod_metadata(manifest):
                labels = metadata.get("labels", {})
                assert set(labels) - {"team", "tier"} <= IDENTITY, manifest
                assert labels["team"] == "orders" and "app.kubernetes.io/component" in labels, manifest
                assert selector.items() <= labels.items(), manifest
                assert not metadata.get("annotations"), manifest
            assert "tier" in pod_metadata(manifest)[-1]["labels"], manifest
            assert {"helm.sh/chart", "app.kubernetes.io/version"} <= set(manifest.obj["metadata"]["labels"])
