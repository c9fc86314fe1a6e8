"""The generated Redis password is kept across upgrades: rendered cluster-aware (as `helm upgrade`
does), the chart's `lookup` finds the Secret and reuses its password."""

import base64

import helm_python as helm
import pytest
from kube_api import KubeApi

from order_chart import engine

SECRET = f"{engine.RELEASE}-order-system-redis"


@pytest.fixture
def kube_api():
    api = KubeApi(engine.NAMESPACE)
    yield api
    api.close()


def render_upgrade(api: KubeApi, values=None) -> dict[str, dict]:
    """Kind/name → object, rendered against the API server as an upgrade."""
    with helm.Config(kubeconfig_content=api.kubeconfig, namespace=engine.NAMESPACE) as config:
        with helm.Chart.load(engine.CHART) as chart:
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
    assert not [path for path in kube_api.requests if "/secrets/" in path]
