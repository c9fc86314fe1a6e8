"""The chart's helm-unittest suites pass, and the runner really fails what it should."""

import textwrap

import pytest
import yaml

from order_chart import unittest
from order_chart.paths import UNIT_TESTS


@pytest.mark.parametrize("suite", sorted(UNIT_TESTS.glob("*_test.yaml")), ids=lambda path: path.stem)
def test_suite_passes(suite):
    results = unittest.run_suite(suite)
    assert results
    failed = {result.test: result.failures for result in results if result.failures}
    assert failed == {}


def failures(tmp_path, asserts: str, *, template="order-processor-service.yaml", extra=None) -> list[str]:
    """Runs a one-test suite with these asserts (YAML) against a template (or a list of them)."""
    test = {"it": "should probe", **(extra or {}), "asserts": yaml.safe_load(textwrap.dedent(asserts))}
    templates = template if isinstance(template, list) else [template]
    suite = {
        "suite": "probe",
        "templates": templates,
        "release": {"name": "shop", "namespace": "orders"},
        "tests": [test],
    }
    path = tmp_path / "probe_test.yaml"
    path.write_text(yaml.safe_dump(suite))
    (result,) = unittest.run_suite(path)
    return result.failures


@pytest.mark.parametrize(
    "asserts",
    [
        "- equal: {path: 'spec.ports[0].port', value: 81}",
        "- notEqual: {path: 'spec.ports[0].port', value: 80}",
        "- equal: {path: spec.nothing, value: 1}",
        "- exists: {path: spec.clusterIP}",
        "- notExists: {path: spec.type}",
        "- matchRegex: {path: metadata.name, pattern: ^other}",
        "- notMatchRegex: {path: metadata.name, pattern: order-processor$}",
        "- contains: {path: spec.ports, content: {name: http}}",
        "- notContains: {path: spec.ports, content: {name: http, port: 80, targetPort: http, protocol: TCP}}",
        "- contains: {path: spec.ports, content: {name: http, port: 80, targetPort: http, protocol: TCP},"
        " count: 2}",
        "- isSubset: {path: spec.selector, content: {app.kubernetes.io/component: redis}}",
        "- lengthEqual: {path: spec.ports, count: 2}",
        "- isKind: {of: Deployment}",
        "- hasDocuments: {count: 2}",
        "- equal: {path: spec.type, value: ClusterIP}\n  not: true",
        "- failedTemplate: {}",
        "- matchRegexRaw: {pattern: no such text}",
        """- equal: {path: 'metadata.labels["app.kubernetes.io/component"]', value: redis}""",
    ],
)
def test_runner_fails_wrong_expectations(tmp_path, asserts):
    assert failures(tmp_path, asserts)


def test_runner_passes_right_expectations(tmp_path):
    assert not failures(
        tmp_path,
        """
        - equal: {path: 'spec.ports[0].port', value: 80}
        - equal: {path: 'metadata.labels["app.kubernetes.io/component"]', value: order-processor}
        - isSubset: {path: spec.selector, content: {app.kubernetes.io/component: order-processor}}
        - hasDocuments: {count: 1}
        - notFailedTemplate: {}
        """,
    )


def test_runner_asserts_each_template_on_its_own(tmp_path):
    apps = ["order-processor-deployment.yaml", "fulfilment-processor-deployment.yaml"]
    assert not failures(tmp_path, "- hasDocuments: {count: 1}", template=apps)
    assert not failures(tmp_path, "- isKind: {of: Deployment}", template=apps)
    with_hpa_off = ["order-processor-deployment.yaml", "order-processor-hpa.yaml"]
    (failure,) = failures(tmp_path, "- isKind: {of: Deployment}", template=with_hpa_off)
    assert failure == "templates/order-processor-hpa.yaml: renders no documents"


def test_runner_asserts_one_document_by_its_index(tmp_path):
    shards = {"set": {"fulfilmentProcessor.shards": 2}}
    template = "fulfilment-processor-deployment.yaml"
    first = "- equal: {path: metadata.name, value: shop-order-system-fulfilment-processor-0}"
    assert failures(tmp_path, first, template=template, extra=shards)  # document 1 differs
    assert not failures(tmp_path, first + "\n  documentIndex: 0", template=template, extra=shards)
    assert failures(tmp_path, first + "\n  documentIndex: 1", template=template, extra=shards)
    (failure,) = failures(tmp_path, first + "\n  documentIndex: 2", template=template, extra=shards)
    assert "no document 2 among 2" in failure


def test_runner_reports_render_failures_and_matches_their_message(tmp_path):
    broken = {"set": {"redis.enabled": False}}
    assert failures(tmp_path, "- isKind: {of: Service}", extra=broken)
    assert failures(tmp_path, "- failedTemplate: {errorPattern: no such message}", extra=broken)
    assert not failures(
        tmp_path, "- failedTemplate: {errorPattern: external Redis is required}", extra=broken
    )


def test_runner_rejects_what_it_does_not_implement(tmp_path):
    with pytest.raises(unittest.SuiteError, match="exactly one of"):
        failures(tmp_path, "- matchSnapshot: {path: spec}")
    with pytest.raises(unittest.SuiteError, match="no template"):
        failures(tmp_path, "- hasDocuments: {count: 1}", template="missing.yaml")
    with pytest.raises(unittest.SuiteError, match="keys outside"):
        failures(tmp_path, "- hasDocuments: {count: 1}", extra={"documentIndex": 0})
    with pytest.raises(unittest.SuiteError, match="unsupported path"):
        failures(tmp_path, '- exists: {path: "spec.ports[?(@.name == \\"http\\")]"}')
