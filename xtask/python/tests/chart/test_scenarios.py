"""Every ci/*-values.yaml scenario lints strictly, renders, and validates strictly on the oldest
and newest Kubernetes the chart supports; and each renders what it is about."""

from collections import Counter

from order_chart import engine, validate


def kinds(manifests) -> Counter:
    return Counter(manifest.kind for manifest in manifests)


def test_lints_strictly_on_oldest_and_newest_kubernetes(scenario):
    for version in validate.kube_versions():
        assert engine.lint(scenario, kube_version=version) == []


def test_every_object_validates_strictly(rendered):
    assert rendered
    assert validate.all_problems(rendered) == []


def test_names_every_resource_from_the_release(rendered):
    cluster_scoped = {"RuntimeClass"}
    for manifest in rendered:
        if manifest.kind not in cluster_scoped:
            assert manifest.name.startswith(f"{engine.RELEASE}-order-system"), manifest


def test_defaults_render_the_whole_runtime_class_deployment():
    assert kinds(engine.render()) == Counter(
        {
            "RuntimeClass": 1,
            "ServiceAccount": 1,
            "Secret": 2,  # Redis' admin password, its role users' passwords
            "StatefulSet": 1,
            "Service": 3,  # Redis, Redis headless, order-processor
            "Deployment": 2,
            "PodDisruptionBudget": 1,
            "Ingress": 1,
            "NetworkPolicy": 3,
            "Pod": 1,  # the helm test hook
            "CronJob": 1,  # the reconciler
            "ConfigMap": 1,  # its script
        }
    )


def test_scenarios_render_what_they_are_about():
    def render(name: str) -> Counter:
        return kinds(engine.render(engine.user_values([engine.CHART / "ci" / f"{name}-values.yaml"])))

    assert "StatefulSet" not in render("external-redis") and "Secret" not in render("external-redis")
    assert render("external-redis")["CronJob"] == 1
    assert render("external-redis")["Job"] == 1  # the maxmemory-policy check
    assert "Job" not in kinds(engine.render())
    operator = render("spin-operator")
    # order-processor and one fulfilment-processor per shard (3); fulfilment has no CPU HPA.
    assert operator["SpinApp"] == 4 and "HorizontalPodAutoscaler" not in operator
    assert operator["CronJob"] == 1
    assert "Deployment" not in operator and "RuntimeClass" not in operator
    # order-processor's HPA and PDB, and a PDB per fulfilment shard (2).
    assert render("hpa")["HorizontalPodAutoscaler"] == 1 and render("hpa")["PodDisruptionBudget"] == 3
    routed = render("httproute")
    assert routed["HTTPRoute"] == 1 and "Ingress" not in routed
    assert "RuntimeClass" not in render("existing-runtimeclass")
    # OTel adds to the Spin containers' environment (test_observability.py), no object.
    otel = render("otel")
    assert otel == kinds(engine.render({"fulfilmentProcessor": {"shards": 2}})) and otel["Deployment"] == 3
    images = [
        container["image"]
        for manifest in engine.render(engine.user_values([engine.CHART / "ci" / "digests-values.yaml"]))
        if manifest.kind != "Pod" and manifest.pod_spec
        for container in manifest.pod_spec["containers"]
    ]
    assert len(images) == 4 and all("@sha256:" in image and ":latest" not in image for image in images)


def test_hpa_targets_the_deployment_of_its_app(scenario):
    manifests = engine.render(engine.merge(scenario, {"orderProcessor": {"autoscaling": {"enabled": True}}}))
    deployment_names = {m.name for m in manifests if m.kind in {"Deployment", "SpinApp"}}
    for hpa in (m for m in manifests if m.kind == "HorizontalPodAutoscaler"):
        target = hpa.obj["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployment_names
