"""OpenTelemetry wiring (`observability.otlp`): the standard `OTEL_*` environment on order-processor and
every fulfilment shard in runtimeClass mode, on nothing else, and nowhere at all without an endpoint;
spinOperator mode refuses an endpoint because spin-operator reads OTel settings only from the
SpinAppExecutor (the CRD checks below fail, and the chart should pass the settings through, once
spin-operator gives a SpinApp a place for them)."""

from __future__ import annotations

import copy
from pathlib import Path

import helm_python as helm
import pytest
import yaml

from conftest import SCENARIO_FILES
from order_chart import engine
from order_chart.paths import crds_dir

OTEL_SCENARIO = engine.CHART / "ci" / "otel-values.yaml"
ENDPOINT = {"observability": {"otlp": {"endpoint": "http://otel-collector.observability:4318"}}}
MODES = ["runtimeClass", "spinOperator"]


def without_otel(values: dict) -> dict:
    values = copy.deepcopy(values)
    values.pop("observability", None)
    return values


def env_of(manifest: engine.Manifest) -> list[dict]:
    assert manifest.pod_spec is not None
    (container,) = manifest.pod_spec["containers"]
    return container["env"]


def spin_deployments(manifests: list[engine.Manifest]) -> list[engine.Manifest]:
    return [m for m in manifests if m.kind == "Deployment" and "runtimeClassName" in (m.pod_spec or {})]


def resource_attributes(value: str) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES as the OTel SDK reads it: `key=value` pairs separated by commas."""
    return dict(pair.split("=", 1) for pair in value.split(","))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "scenario_file", SCENARIO_FILES, ids=lambda path: path.name.removesuffix("-values.yaml")
)
def test_no_otel_environment_anywhere_without_an_endpoint(scenario_file: Path, mode: str):
    """Every scenario, in both modes, with the OTel values left at their defaults: no template
    (hooks and NOTES included) mentions OTEL_ or the pod-name variable the resource attributes use."""
    values = engine.merge(without_otel(engine.user_values([scenario_file])), {"mode": mode})
    files = engine.render_files(values)
    assert files
    for name, text in files.items():
        assert "OTEL_" not in text and "K8S_POD_NAME" not in text, name


def test_every_spin_app_exports_and_nothing_else_does():
    """The otel scenario: order-processor and both shards carry the OTel environment; Redis, the
    reconciler and the test pod carry none of it."""
    manifests = engine.render(engine.user_values([OTEL_SCENARIO]))
    spin = spin_deployments(manifests)
    assert sorted(m.name for m in spin) == [
        "shop-order-system-fulfilment-processor-0",
        "shop-order-system-fulfilment-processor-1",
        "shop-order-system-order-processor",
    ]
    for manifest in spin:
        env = {variable["name"]: variable for variable in env_of(manifest)}
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://otel-collector.observability.svc:4317"
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "grpc"
        assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"]["value"] == "0.25"
        # The headers (credentials) only through the Secret, never as a value.
        assert env["OTEL_EXPORTER_OTLP_HEADERS"] == {
            "name": "OTEL_EXPORTER_OTLP_HEADERS",
            "valueFrom": {"secretKeyRef": {"name": "otel-collector-auth", "key": "headers"}},
        }
        app = "order-processor" if manifest.name.endswith("order-processor") else "fulfilment-processor"
        assert env["OTEL_SERVICE_NAME"]["value"] == f"shop-order-system-{app}"
    others = [m for m in manifests if m.pod_spec is not None and m not in spin]
    assert {m.kind for m in others} == {"StatefulSet", "CronJob", "Pod"}
    for manifest in others:
        assert "OTEL_" not in yaml.safe_dump(manifest.obj) and "K8S_POD_NAME" not in yaml.safe_dump(
            manifest.obj
        )


def test_resource_attributes_name_the_pod_namespace_and_deployment():
    """OTel's Kubernetes attributes: the namespace and Deployment from the render, the pod's name from
    the downward API, declared before the variable that refers to it (kubelet expands `$(VAR)` only
    for variables defined earlier in the list, and leaves it as it is otherwise)."""
    for manifest in spin_deployments(engine.render(engine.user_values([OTEL_SCENARIO]))):
        env = env_of(manifest)
        names = [variable["name"] for variable in env]
        pod_name = env[names.index("K8S_POD_NAME")]
        assert pod_name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert names.index("K8S_POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")
        attributes = resource_attributes(env[names.index("OTEL_RESOURCE_ATTRIBUTES")]["value"])
        assert attributes == {
            "k8s.namespace.name": engine.NAMESPACE,
            "k8s.deployment.name": manifest.name,
            "k8s.pod.name": "$(K8S_POD_NAME)",
        }
        # service.name comes from OTEL_SERVICE_NAME alone, which wins in Spin's resource detector.
        assert "service.name" not in attributes


@pytest.mark.parametrize("ratio", [0, 0.001, 0.25, 1])
def test_sampling_ratio_reaches_the_sampler_as_a_number(ratio):
    values = engine.merge(ENDPOINT, {"observability": {"otlp": {"sampling": ratio}}})
    for manifest in spin_deployments(engine.render(values)):
        (argument,) = [v["value"] for v in env_of(manifest) if v["name"] == "OTEL_TRACES_SAMPLER_ARG"]
        assert float(argument) == ratio


def test_service_names_follow_the_fullname_or_the_prefix():
    named = engine.render(engine.merge(ENDPOINT, {"fullnameOverride": "orders-eu"}))
    prefixed = engine.render(
        engine.merge(ENDPOINT, {"observability": {"otlp": {"serviceNamePrefix": "acme/"}}})
    )
    for manifests, prefix in [(named, "orders-eu-"), (prefixed, "acme/")]:
        names = {
            variable["value"]
            for manifest in spin_deployments(manifests)
            for variable in env_of(manifest)
            if variable["name"] == "OTEL_SERVICE_NAME"
        }
        assert names == {f"{prefix}order-processor", f"{prefix}fulfilment-processor"}


def crd_spec(file: str) -> dict:
    (crd,) = [d for d in yaml.safe_load_all((Path(crds_dir()) / file).read_text()) if d]
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def test_spin_operator_mode_refuses_an_endpoint_and_names_where_it_goes():
    with pytest.raises(helm.HelmRenderError) as failure:
        engine.render(engine.merge(ENDPOINT, {"mode": "spinOperator", "spinOperator": {"executor": "shim"}}))
    message = str(failure.value)
    assert "observability.otlp.endpoint:" in message
    assert 'spec.deploymentConfig.otel.exporter_otlp_endpoint on SpinAppExecutor "shim"' in message
    # That is where spin-operator takes it: the executor's otel block has the endpoints and nothing
    # else (no protocol, headers, service name or sampler) ...
    otel = crd_spec("spinappexecutors.yaml")["deploymentConfig"]["properties"]["otel"]["properties"]
    assert set(otel) == {
        "exporter_otlp_endpoint",
        "exporter_otlp_traces_endpoint",
        "exporter_otlp_metrics_endpoint",
        "exporter_otlp_logs_endpoint",
    }
    # ... and a SpinApp has no env of its own: its variables become SPIN_VARIABLE_* only.
    spin_app = crd_spec("spinapps.yaml")
    assert not {"env", "envFrom", "otel"} & set(spin_app)


def test_spin_operator_mode_renders_without_otel_when_the_endpoint_is_empty():
    """The other OTel settings (shared values, say) do nothing there without an endpoint."""
    values = {
        "mode": "spinOperator",
        "observability": {"otlp": {"serviceNamePrefix": "acme-", "sampling": 0.5, "protocol": "grpc"}},
    }
    assert "OTEL_" not in "".join(engine.render_files(values).values())
