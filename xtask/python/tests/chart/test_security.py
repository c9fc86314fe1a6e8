"""Security defaults beyond Pod Security (test_pod_security.py), over every scenario: read-only root
filesystems where the runtime allows, no `latest`, requests everywhere, and the Redis password never
in plain text."""

import base64

import pytest

from order_chart import engine


def pod_specs(manifests):
    """(manifest, pod spec, runs on the Spin shim) for every workload."""
    for manifest in manifests:
        if (pod := manifest.pod_spec) is not None:
            yield manifest, pod, "runtimeClassName" in pod


def containers(pod):
    return pod.get("initContainers", []) + pod["containers"]


def test_container_workloads_have_a_read_only_root_filesystem(rendered):
    # The Spin pods cannot: the shim writes its lock file there (test_pod_security.py checks the rest).
    ordinary = [(m, pod) for m, pod, on_shim in pod_specs(rendered) if not on_shim]
    assert ordinary  # Redis, the reconciler and the test pod
    for manifest, pod in ordinary:
        for container in containers(pod):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, manifest


def test_images_are_pinned_and_never_latest(rendered):
    images = [container["image"] for _, pod, _ in pod_specs(rendered) for container in containers(pod)]
    images += [m.obj["spec"]["image"] for m in rendered if m.kind == "SpinApp"]
    assert images
    for image in images:
        reference = image.rsplit("/", 1)[-1]
        assert "@sha256:" in reference or ":" in reference, f"{image} has no tag"
        assert not reference.endswith(":latest"), image


def test_every_container_requests_resources(rendered):
    for manifest, pod, _ in pod_specs(rendered):
        for container in containers(pod):
            requests = container["resources"]["requests"]
            assert requests.get("cpu") and requests.get("memory"), manifest
    for spin_app in (m for m in rendered if m.kind == "SpinApp"):
        assert spin_app.obj["spec"]["resources"]["requests"], spin_app


def test_redis_password_only_through_secret_key_refs(rendered):
    for manifest, pod, _ in pod_specs(rendered):
        for container in containers(pod):
            for variable in container.get("env", []):
                if "PASSWORD" in variable["name"] or variable["name"] == "REDISCLI_AUTH":
                    assert "value" not in variable and "secretKeyRef" in variable["valueFrom"], manifest
    for spin_app in (m for m in rendered if m.kind == "SpinApp"):
        for variable in spin_app.obj["spec"]["variables"]:
            if variable["name"] == "redis_password":
                assert "value" not in variable and "secretKeyRef" in variable["valueFrom"], spin_app
    assert not [m for m in rendered if m.kind == "ConfigMap" and "password" in str(m.obj).lower()]


@pytest.mark.parametrize("release", ["shop", "order-system"])
def test_generated_passwords_appear_nowhere_but_their_secrets(release):
    manifests = engine.render(release=release)
    secrets = [m for m in manifests if m.kind == "Secret"]
    passwords = [
        base64.b64decode(value).decode() for secret in secrets for value in secret.obj["data"].values()
    ]
    assert len(passwords) == 5  # the admin's and one per role's Redis user
    assert len(set(passwords)) == 5
    notes = engine.render_files(release=release)["templates/NOTES.txt"]
    for password in passwords:
        assert password.isalnum() and len(password) == 32
        for manifest in manifests:
            if manifest not in secrets:
                assert password not in str(manifest.obj), manifest
        assert password not in notes


def test_service_account_token_is_not_mounted(rendered):
    for manifest, pod, _ in pod_specs(rendered):
        assert pod["automountServiceAccountToken"] is False, manifest
