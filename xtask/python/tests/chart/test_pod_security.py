"""Every pod the chart renders passes the Pod Security `restricted` profile, in every scenario (both
modes, external Redis, the helm test hook), so the release runs in a namespace that enforces it."""

from __future__ import annotations

import copy

import pytest
import yaml

from order_chart import engine
from order_chart.paths import crds_dir
from pod_security import violations


def pod_templates(manifests: list[engine.Manifest]):
    """(manifest, template metadata, pod spec) for every object that makes pods."""
    for manifest in manifests:
        if (spec := manifest.pod_spec) is None:
            continue
        if manifest.kind == "Pod":
            metadata = manifest.obj["metadata"]
        elif manifest.kind == "CronJob":
            metadata = manifest.obj["spec"]["jobTemplate"]["spec"]["template"].get("metadata", {})
        else:
            metadata = manifest.obj["spec"]["template"].get("metadata", {})
        yield manifest, metadata, spec


def assert_restricted(manifests: list[engine.Manifest]) -> list[str]:
    """Asserts every pod is admitted; returns the `kind/name` of the pods checked."""
    checked, problems = [], []
    for manifest, metadata, spec in pod_templates(manifests):
        checked.append(f"{manifest.kind}/{manifest.name}")
        problems += [f"{manifest}: {v}" for v in violations(metadata, spec)]
    assert not problems, "\n".join(problems)
    return checked


def test_every_scenario_passes_restricted(rendered):
    checked = assert_restricted(rendered)
    # Redis or not, Spin Deployments or SpinApps: the test hook's pod is always there.
    assert any(name.startswith("Pod/") for name in checked), checked


def test_every_pod_of_the_defaults_is_checked():
    checked = assert_restricted(engine.render())
    kinds = sorted(name.split("/")[0] for name in checked)
    # Both Spin Deployments, Redis, the reconciler and the helm test pod.
    assert kinds == ["CronJob", "Deployment", "Deployment", "Pod", "StatefulSet"], checked


def test_redis_in_memory_only_passes_restricted():
    # persistence off swaps the claim for an emptyDir volume.
    assert_restricted(engine.render({"redis": {"persistence": {"enabled": False}}}))


@pytest.mark.parametrize("key", ["orderProcessor", "fulfilmentProcessor"])
def test_spin_pods_without_the_pod_context_are_refused(key):
    # The chart before this check: no runAsNonRoot and no seccompProfile on the Spin pods.
    manifests = engine.render({key: {"podSecurityContext": {"runAsNonRoot": None, "seccompProfile": None}}})
    (deployment,) = [m for m in manifests if m.kind == "Deployment" and key_component(key) in m.name]
    assert deployment.pod_spec is not None
    found = violations(deployment.obj["spec"]["template"]["metadata"], deployment.pod_spec)
    assert any(v.startswith("Running as Non-root:") for v in found), found
    assert any(v.startswith("Seccomp:") for v in found), found


def key_component(key: str) -> str:
    return {"orderProcessor": "order-processor", "fulfilmentProcessor": "fulfilment-processor"}[key]


def test_spinapp_crd_has_no_security_context_field():
    """spinOperator mode: spin-operator builds the Spin pods, and neither SpinApp nor SpinAppExecutor
    can set a security context (the README's workaround depends on that); when a release of
    spin-operator adds one, this fails and the chart should pass the values through."""
    for file in ("spinapps.yaml", "spinappexecutors.yaml"):
        schema = yaml.safe_load((crds_dir() / file).read_text())["spec"]["versions"]
        text = str([version["schema"] for version in schema])
        for field in ("podSecurityContext", "'securityContext'", "runAsNonRoot", "seccompProfile"):
            assert field not in text, f"{file} now has {field}: pass the chart's values through"


# --- the checker itself: each control catches a pod that breaks it ----------------------------

ADMITTED = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "app",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            },
        }
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
}


def broken(change) -> dict:
    spec = copy.deepcopy(ADMITTED)
    change(spec)
    return spec


def container_context(spec):
    return spec["containers"][0]["securityContext"]


@pytest.mark.parametrize(
    ("change", "control"),
    [
        (lambda s: s.update(hostNetwork=True), "Host Namespaces"),
        (lambda s: s.update(hostPID=True), "Host Namespaces"),
        (lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "HostPath Volumes"),
        (lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}), "Volume Types"),
        (lambda s: container_context(s).update(privileged=True), "Privileged Containers"),
        (lambda s: container_context(s).pop("allowPrivilegeEscalation"), "Privilege Escalation"),
        (lambda s: s["securityContext"].pop("runAsNonRoot"), "Running as Non-root:"),
        (lambda s: container_context(s).update(runAsNonRoot=False), "Running as Non-root:"),
        (lambda s: container_context(s).update(runAsUser=0), "Running as Non-root user"),
        (lambda s: s["securityContext"].pop("seccompProfile"), "Seccomp"),
        (lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"}), "Seccomp"),
        (lambda s: container_context(s)["capabilities"].update(drop=["NET_RAW"]), "Capabilities"),
        (lambda s: container_context(s)["capabilities"].update(add=["CHOWN"]), "Capabilities"),
        (lambda s: container_context(s)["capabilities"].update(add=["SYS_ADMIN"]), "Capabilities"),
        (lambda s: s["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]), "Host Ports"),
        (lambda s: container_context(s).update(procMount="Unmasked"), "/proc Mount Type"),
        (lambda s: container_context(s).update(seLinuxOptions={"type": "spc_t"}), "SELinux"),
        (lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]), "Sysctls"),
        (
            lambda s: s.update(initContainers=[{"name": "init", "securityContext": {}}]),
            "Privilege Escalation: initContainers[init]",
        ),
    ],
)
def test_the_checker_refuses_each_broken_control(change, control):
    assert violations({}, ADMITTED) == []
    found = violations({}, broken(change))
    assert any(v.startswith(control) for v in found), found


def test_the_checker_reads_apparmor_annotations():
    metadata = {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}}
    assert any(v.startswith("AppArmor") for v in violations(metadata, ADMITTED))
    metadata = {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}}
    assert violations(metadata, ADMITTED) == []
