"""Object names at and around every length limit: each valid for its kind (and for what controllers
derive from it), distinct, the same on every render, every reference resolving; a release name no
Service can carry fails the render, naming the value to change; every namespaced object carries
the release namespace."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from kube_names import derived, label_problems, name_problems
from order_chart import engine
from order_chart.paths import CHART, REPO_CRDS, crds_dir

MODES = ["runtimeClass", "spinOperator"]
# Every optional object on, so that every name the chart can render is checked.
EVERYTHING: dict[str, Any] = {
    "orderProcessor": {"autoscaling": {"enabled": True}, "podDisruptionBudget": {"enabled": True}},
    # Shards up to two digits: the longest shard suffix, `-11`, must fit too.
    "fulfilmentProcessor": {"shards": 12, "podDisruptionBudget": {"enabled": True}},
    "httpRoute": {"enabled": True, "parentRefs": [{"name": "gateway"}]},
    "spinOperator": {"executor": "containerd-shim-spin"},
    "metrics": {
        "enabled": True,
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    },
}


EXTERNAL_REDIS = {"enabled": False, "external": {"host": "redis.example.internal"}}
# The chart's metrics are its own Redis' sidecar: an external Redis refuses them.
NO_METRICS = {"metrics": {"enabled": False}}


def release_name(length: int) -> str:
    """A release name Helm accepts (at most 53), with dashes where truncation may cut."""
    name = ("shop-eu-west-" * 5)[:length]
    return name if name[-1] != "-" else name[:-1] + "x"


def override(length: int) -> str:
    return release_name(length).replace("shop", "mart")


# (release, extra values): release names of 1, around the 52-character limits of CronJobs,
# StatefulSets and SpinApps (release + "-order-system-reconciler" / "-redis"), and Helm's 53;
# fullnameOverride at 62 and 63; a 63-character nameOverride; a release that contains the chart name.
CASES: list[tuple[str, dict[str, Any]]] = [(release_name(n), {}) for n in (1, 28, 29, 33, 34, 35, 52, 53)] + [
    ("shop", {"fullnameOverride": override(62)}),
    ("shop", {"fullnameOverride": override(63)}),
    (release_name(53), {"nameOverride": override(63)}),
    ("s", {"nameOverride": override(63)}),
    (("order-system-" * 5)[:52] + "x", {}),
]


def ids(case) -> str:
    release, values = case
    chart = "-with-chart-name" if "order-system" in release else ""
    return f"release{len(release)}{chart}" + "".join(f"-{key}{len(value)}" for key, value in values.items())


def render(release: str, values: dict, mode: str) -> list[engine.Manifest]:
    return engine.render(engine.merge(EVERYTHING, {**values, "mode": mode}), release=release)


def objects(manifests: list[engine.Manifest]) -> list[tuple[str, str]]:
    """(kind, name) of every object in the namespace: the rendered ones and those spin-operator makes."""
    return [(m.kind, m.name) for m in manifests] + [pair for m in manifests for pair in derived(m)]


@pytest.fixture(
    scope="module",
    params=[(case, mode) for case in CASES for mode in MODES],
    ids=lambda param: f"{ids(param[0])}-{param[1]}",
)
def case(request):
    (release, values), mode = request.param
    return release, values, mode, render(release, values, mode)


def test_every_kind_the_chart_has_is_rendered():
    """The matrix renders every kind in templates/, so no name goes unchecked."""
    templated = {
        match
        for path in (CHART / "templates").rglob("*")
        if path.is_file()
        for match in re.findall(r"(?m)^kind: (\w+)$", path.read_text())
    }
    rendered = {
        m.kind
        for mode in MODES
        for values in ({}, {"redis": EXTERNAL_REDIS, **NO_METRICS})
        for m in render("shop", values, mode)
    }
    assert rendered == templated


@pytest.mark.parametrize(
    "values", [{}, {"fullnameOverride": override(63)}], ids=["release53", "fullnameOverride63"]
)
def test_every_name_is_valid_with_an_external_redis(values):
    """The objects only an external Redis renders (the maxmemory-policy check's hook Job)."""
    manifests = render(release_name(53), {**values, "redis": EXTERNAL_REDIS, **NO_METRICS}, "runtimeClass")
    assert "Job" in {m.kind for m in manifests}
    assert [problem for m in manifests for problem in name_problems(m) + label_problems(m)] == []


def test_every_name_is_valid_for_its_kind(case):
    *_, manifests = case
    problems = [problem for m in manifests for problem in name_problems(m) + label_problems(m)]
    assert problems == []


def test_names_are_distinct_per_kind(case):
    *_, manifests = case
    duplicates = [pair for pair, count in Counter(objects(manifests)).items() if count > 1]
    assert duplicates == []


def test_names_are_the_same_on_every_render(case):
    release, values, mode, manifests = case
    assert objects(render(release, values, mode)) == objects(manifests)


def test_names_that_fit_are_kept_as_they_were():
    """Up to the limits (release names of 28 characters, 18 in spinOperator mode, as the README says)
    nothing is renamed: `<release>-order-system[-<component>]`; one character more and a name is fitted."""
    # A fulfilment shard's `-<k>` suffix (`-9` with 10 shards) makes its names 2 characters longer.
    for mode, limits in [("runtimeClass", {1: 28, 10: 27}), ("spinOperator", {1: 18, 10: 16})]:
        for shards, longest in limits.items():
            for length in (1, longest, longest + 1):
                release = release_name(length)
                kept = [
                    bool(re.fullmatch(rf"{release}-order-system(-[a-z-]+)?(-[0-9])?", manifest.name))
                    for manifest in render(release, {"fulfilmentProcessor": {"shards": shards}}, mode)
                    if manifest.kind != "RuntimeClass"
                ]
                assert all(kept) == (length <= longest), (mode, shards, release)


def test_long_names_keep_their_component_and_differ_between_releases():
    """Two releases whose names share the first 52 characters, in one namespace: no object in common,
    and each name still ends with its component."""
    first, second = release_name(52) + "a", release_name(52) + "b"
    for mode in MODES:
        ours, theirs = render(first, {}, mode), render(second, {}, mode)
        # The RuntimeClass is cluster-wide and shared on purpose (runtimeClass.create).
        shared = {pair for pair in set(objects(ours)) & set(objects(theirs)) if pair[0] != "RuntimeClass"}
        assert shared == set()
        for manifest in ours:
            component = manifest.obj["metadata"]["labels"].get("app.kubernetes.io/component")
            if component and manifest.kind not in {"Ingress", "HTTPRoute"}:
                # redis-headless (component redis), the test pod's test-order-flow (component test),
                # fulfilment-processor-<k> (a fulfilment shard)
                assert re.search(rf"-{component}(-headless|-order-flow|-[0-9]+)?$", manifest.name), manifest


def test_references_name_objects_that_exist(case):
    """Every name the chart refers to is one it renders (or spin-operator makes)."""
    *_, manifests = case
    existing = set(objects(manifests))
    redis = next(
        m.name
        for m in manifests
        if m.kind == "Service"
        and m.obj["spec"]["selector"]["app.kubernetes.io/component"] == "redis"
        and m.obj["spec"].get("clusterIP") != "None"
        and m.obj["spec"]["ports"][0]["name"] == "redis"
    )
    references, redis_hosts = [], []
    for m in manifests:
        spec = m.obj.get("spec", {})
        if m.kind == "HorizontalPodAutoscaler":
            references.append(("Deployment", spec["scaleTargetRef"]["name"]))
        if m.kind == "StatefulSet":
            references.append(("Service", spec["serviceName"]))
        if m.kind == "Ingress":
            references.append(("Service", spec["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]))
        if m.kind == "HTTPRoute":
            references.append(("Service", spec["rules"][0]["backendRefs"][0]["name"]))
        if m.kind == "SpinApp":
            references.append(("ServiceAccount", spec["serviceAccountName"]))
            variables = {v["name"]: v for v in spec["variables"]}
            redis_hosts.append(variables["redis_host"]["value"])
            references.append(("Secret", variables["redis_password"]["valueFrom"]["secretKeyRef"]["name"]))
        if pod := m.pod_spec:
            if "serviceAccountName" in pod:
                references.append(("ServiceAccount", pod["serviceAccountName"]))
            for volume in pod.get("volumes", []):
                if "configMap" in volume:
                    references.append(("ConfigMap", volume["configMap"]["name"]))
            for container in pod["containers"]:
                for variable in container.get("env", []):
                    if ref := variable.get("valueFrom", {}).get("secretKeyRef"):
                        references.append(("Secret", ref["name"]))
                    if variable["name"] == "SPIN_VARIABLE_REDIS_HOST":
                        redis_hosts.append(variable["value"])
                    if variable["name"] == "API":  # the helm test pod
                        service = re.fullmatch(r"http://([^:]+):\d+", variable["value"])
                        assert service, variable
                        references.append(("Service", service[1]))
                if container["name"] == "reconciler":
                    redis_hosts.append(container["args"][container["args"].index("-h") + 1])
    assert references and [ref for ref in references if ref not in existing] == []
    # order-processor, each fulfilment shard and the reconciler reach Redis through its ClusterIP Service.
    assert len(redis_hosts) == 2 + EVERYTHING["fulfilmentProcessor"]["shards"] and set(redis_hosts) == {redis}


@pytest.mark.parametrize("release", ["1shop", "shop.eu", "2"])
def test_a_release_name_no_service_can_carry_fails_the_render(release):
    with pytest.raises(helm.HelmRenderError) as failure:
        engine.render(release=release)
    message = str(failure.value)
    assert f'release name "{release}"' in message and "set fullnameOverride" in message
    # The way out the message names works.
    assert engine.render({"fullnameOverride": "shop"}, release=release)


def scopes() -> dict[str, bool]:
    """kind → namespaced: Kubernetes' own kinds the chart renders, and each CRD's `spec.scope`."""
    known = {
        "ConfigMap": True,
        "CronJob": True,
        "Deployment": True,
        "HorizontalPodAutoscaler": True,
        "HTTPRoute": True,
        "Ingress": True,
        "NetworkPolicy": True,
        "Pod": True,
        "PodDisruptionBudget": True,
        "Secret": True,
        "Service": True,
        "ServiceAccount": True,
        "StatefulSet": True,
        "RuntimeClass": False,
    }
    for path in [*Path(crds_dir()).glob("*.yaml"), *REPO_CRDS.glob("*.yaml")]:
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "CustomResourceDefinition":
                known[document["spec"]["names"]["kind"]] = document["spec"]["scope"] == "Namespaced"
    return known


@pytest.mark.parametrize("mode", MODES)
def test_every_namespaced_object_names_the_release_namespace(mode):
    """So `helm template | kubectl apply` puts them where `helm install -n` would."""
    kinds = scopes()
    manifests = render("shop", {}, mode)
    assert {m.kind for m in manifests} <= set(kinds)
    for manifest in manifests:
        expected = engine.NAMESPACE if kinds[manifest.kind] else None
        assert manifest.obj["metadata"].get("namespace") == expected, manifest
