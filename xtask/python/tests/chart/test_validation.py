"""The validators reject what the API server would, and bad values fail with readable messages."""

import copy
import json

import helm_python as helm
import jsonschema
import pytest

from order_chart import engine, validate


def first(manifests, kind):
    return next(m for m in manifests if m.kind == kind)


@pytest.fixture(scope="module")
def operator_manifests():
    return engine.render({"mode": "spinOperator"})


def test_spin_app_schema_rejects_unknown_fields_and_wrong_types(operator_manifests):
    spin_app = next(m for m in operator_manifests if m.kind == "SpinApp" and "order-processor" in m.name)
    assert validate.problems(spin_app, validate.kube_versions()) == []
    for mutate, expected in [
        (lambda obj: obj["spec"].update(runtimeClassName="x"), "runtimeClassName"),
        (lambda obj: obj["spec"].update(replicas="two"), "'two' is not of type 'integer'"),
        (lambda obj: obj["spec"].pop("executor"), "'executor' is a required property"),
        (lambda obj: obj["spec"]["variables"][0].update(secret=True), "secret"),
        (lambda obj: obj["spec"]["checks"]["readiness"]["httpGet"].update(port=80), "port"),
    ]:
        broken = copy.deepcopy(spin_app.obj)
        mutate(broken)
        problems = validate.problems(engine.Manifest(spin_app.template, broken), validate.kube_versions())
        assert any(expected in problem for problem in problems), problems


def test_int_or_string_quantities_accept_both(operator_manifests):
    spin_app = copy.deepcopy(first(operator_manifests, "SpinApp").obj)
    spin_app["spec"]["resources"]["requests"]["cpu"] = 1
    assert validate.problems(engine.Manifest("t", spin_app), validate.kube_versions()) == []


def test_core_kinds_are_validated_strictly_on_each_version():
    deployment = first(engine.render(), "Deployment")
    broken = copy.deepcopy(deployment.obj)
    broken["spec"]["template"]["spec"]["containers"][0]["commands"] = ["/"]
    problems = validate.problems(engine.Manifest(deployment.template, broken), validate.kube_versions())
    assert len(problems) == 2 and all("commands" in problem for problem in problems)
    unknown = engine.Manifest(
        "t", {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    )
    assert "no schema" in validate.problems(unknown, ["1.29.0"])[0]


def test_oldest_version_comes_from_kube_version():
    oldest, newest = validate.kube_versions()
    assert engine.chart_metadata()["kubeVersion"] == f">={oldest}-0"
    assert tuple(map(int, oldest.split("."))) < tuple(map(int, newest.split(".")))


@pytest.mark.parametrize(
    "values, message",
    [
        ({"mode": "wasi"}, "/mode"),
        ({"orderProcessor": {"image": {"tag": "latest"}}}, "/orderProcessor/image/tag"),
        ({"redis": {"image": {"digest": "md5:abc"}}}, "/redis/image/digest"),
        ({"redis": {"external": {"port": 70000}}}, "/redis/external/port"),
        ({"ingres": {"enabled": True}}, "additional properties 'ingres' not allowed"),
        (
            {"fulfilmentProcessor": {"securityContext": {"privileged": True}}},
            "/fulfilmentProcessor/securityContext/privileged",
        ),
        ({"orderProcessor": {"resources": {"requests": None}}}, "/orderProcessor/resources"),
        ({"runtimeClass": {"handler": "Spin Shim"}}, "/runtimeClass/handler"),
        ({"fullnameOverride": "1shop"}, "/fullnameOverride"),
        ({"fulfilmentProcessor": {"shards": 0}}, "/fulfilmentProcessor/shards"),
        ({"fulfilmentProcessor": {"shards": 65}}, "/fulfilmentProcessor/shards"),
        # Replicas of one shard would each handle every order of it: fulfilment scales by shards.
        ({"fulfilmentProcessor": {"autoscaling": {"enabled": True}}}, "'autoscaling' not allowed"),
        ({"serviceAccount": {"name": "s" * 254}}, "/serviceAccount/name"),
    ],
)
def test_schema_rejects_bad_values_by_path(values, message):
    with pytest.raises(helm.HelmValuesError, match=message.replace("(", r"\(")):
        engine.render(values)


def test_validation_helper_lists_every_problem_at_once():
    with pytest.raises(helm.HelmRenderError) as failure:
        engine.render(
            {
                "mode": "spinOperator",
                "spinOperator": {"executor": ""},
                "redis": {"enabled": False},
                "httpRoute": {"enabled": True},
                "orderProcessor": {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 1}},
            }
        )
    message = str(failure.value)
    for expected in [
        "orderProcessor.autoscaling: minReplicas (3) is above maxReplicas (1)",
        "spinOperator.executor:",
        "redis.external.host: redis.enabled is false",
        "httpRoute.parentRefs:",
    ]:
        assert expected in message
    assert message.count("\n  - ") == 4


def test_lint_reports_bad_values():
    findings = engine.lint({"redis": {"enabledd": True}}, kube_version=validate.kube_versions()[0])
    assert any("enabledd" in finding for finding in findings)


def test_values_schema_is_strict_draft_07_for_other_validators_too():
    """GitOps checks validate their values with Python's jsonschema: it must agree with Helm."""
    schema = json.loads((engine.CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    for path in sorted((engine.CHART / "ci").glob("*-values.yaml")):
        merged = engine.merge(engine.default_values(), engine.user_values([path]))
        assert list(validator.iter_errors(merged)) == [], path.name
    bad = engine.merge(engine.default_values(), {"orderProcessor": {"image": {"tag": "latest"}}, "extra": 1})
    assert len(list(validator.iter_errors(bad))) == 2
