"""The generated Redis passwords (the admin's and the role users') are kept across upgrades: rendered
cluster-aware (as `helm upgrade` does), the chart's `lookup` finds the Secrets and reuses them."""

import base64

import helm_python as helm
import pytest

from kube_api import KubeApi
from order_chart import engine

SECRET = f"{engine.RELEASE}-order-system-redis"
USERS_SECRET = f"{engine.RELEASE}-order-system-redis-users"
ROLES = {"order-processor", "fulfilment-processor", "reconciler", "helm-test"}


@pytest.fixture
def kube_api():
    api = KubeApi(engine.NAMESPACE)
    yield api
    api.close()


def render_upgrade(api: KubeApi, values=None) -> dict[str, dict]:
    """Kind/name → object, rendered against the API server as an upgrade."""
    with (
        helm.Config(kubeconfig_content=api.kubeconfig, namespace=engine.NAMESPACE) as config,
        helm.Chart.load(engine.CHART) as chart,
    ):
        rendered = config.render(
            chart, values or {}, name=engine.RELEASE, namespace=engine.NAMESPACE, is_upgrade=True
        )
    return {f"{m.kind}/{m.name}": m.obj for m in engine.manifests(rendered)}


def password(objects) -> str:
    return base64.b64decode(objects[f"Secret/{SECRET}"]["data"]["redis-password"]).decode()


def test_upgrade_keeps_the_password_it_finds(kube_api):
    kube_api.secrets[SECRET] = {"redis-password": base64.b64encode(b"Kept0Password1From2Install").decode()}
    assert password(render_upgrade(kube_api)) == "Kept0Password1From2Install"
    assert f"/api/v1/namespaces/{engine.NAMESPACE}/secrets/{SECRET}" in kube_api.requests


def test_first_install_generates_a_fresh_url_safe_password(kube_api):
    first, second = password(render_upgrade(kube_api)), password(render_upgrade(kube_api))
    assert first != second  # nothing stored yet: each render generates
    assert first.isalnum() and len(first) == 32


def test_an_existing_secret_needs_no_lookup(kube_api):
    objects = render_upgrade(kube_api, {"redis": {"auth": {"existingSecret": "mine"}}})
    assert f"Secret/{SECRET}" not in objects
    assert f"/api/v1/namespaces/{engine.NAMESPACE}/secrets/{SECRET}" not in kube_api.requests


def user_passwords(objects) -> dict[str, str]:
    return {
        role: base64.b64decode(value).decode()
        for role, value in objects[f"Secret/{USERS_SECRET}"]["data"].items()
    }


def test_upgrade_keeps_the_user_passwords_it_finds_and_generates_a_missing_one(kube_api):
    kept = {
        role: f"Kept{i}PasswordOf{role.replace('-', '')}"
        for i, role in enumerate(sorted(ROLES - {"helm-test"}))
    }
    kube_api.secrets[USERS_SECRET] = {role: base64.b64encode(p.encode()).decode() for role, p in kept.items()}
    passwords = user_passwords(render_upgrade(kube_api))
    assert set(passwords) == ROLES
    assert {role: passwords[role] for role in kept} == kept
    assert passwords["helm-test"].isalnum() and len(passwords["helm-test"]) == 32


def test_users_with_existing_secrets_need_no_generated_secret(kube_api):
    users = {
        role: {"existingSecret": f"{role.lower()}-pw"}
        for role in ("orderProcessor", "fulfilmentProcessor", "reconciler", "helmTest")
    }
    objects = render_upgrade(kube_api, {"redis": {"users": users}})
    assert f"Secret/{USERS_SECRET}" not in objects
