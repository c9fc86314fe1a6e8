"""A small repository shaped like this one (a Cargo workspace, a chart, Flux and Argo CD deploying it
to one environment) that passes the check; each test breaks one thing in a copy of it."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from gitops_check import check

PROJECT = Path(__file__).resolve().parents[4]
# The pinned CRDs, as `cargo xtask test` resolves them ($GITOPS_CRDS, else ../shared/crds).
CRDS = Path(os.environ.get("GITOPS_CRDS", PROJECT / "../shared/crds")).resolve()

FILES = {
    "Cargo.toml": """
        [workspace.package]
        repository = "https://github.com/acme/shop"
    """,
    "charts/order-system/Chart.yaml": """
        apiVersion: v2
        name: order-system
        version: 0.1.0
    """,
    "charts/order-system/values.yaml": """
        image:
          registry: ghcr.io
        ingress:
          host: ""
        redis:
          auth:
            existingSecret: ""
    """,
    "charts/order-system/values.schema.json": """
        {
          "$schema": "http://json-schema.org/draft-07/schema#",
          "type": "object",
          "additionalProperties": false,
          "required": ["image", "ingress", "redis"],
          "properties": {
            "image": {"type": "object", "additionalProperties": false, "required": ["registry"],
                      "properties": {"registry": {"type": "string", "pattern": "^[^/\\\\s]+$"}}},
            "ingress": {"type": "object", "additionalProperties": false,
                        "properties": {"host": {"type": "string"}}},
            "redis": {"type": "object", "additionalProperties": false, "properties": {
              "auth": {"type": "object", "additionalProperties": false,
                       "properties": {"existingSecret": {"type": "string"}}}}}
          }
        }
    """,
    "gitops/check.toml": """
        kubernetes_version = "1.32"

        [[external]]
        kind = "GitRepository"
        namespace = "flux-system"
        name = "flux-system"
        reason = "flux bootstrap"

        [[external]]
        kind = "Secret"
        namespace = "shop"
        name = "redis-auth"
        reason = "made by hand"

        [[flux_variant]]
        name = "chart from Git"
        environment = "dev"
        kustomization = "gitops/flux/apps/dev"
        components = ["gitops/flux/components/chart-from-git"]

        [[argocd_variant]]
        name = "chart from Git"
        replace = "gitops/argocd/apps/shop-dev.yaml"
        with = "gitops/argocd/alternatives/shop-dev-from-git.yaml"
    """,
    "gitops/values/common/values.yaml": """
        redis:
          auth:
            existingSecret: redis-auth
    """,
    "gitops/values/common/kustomization.yaml": """
        configMapGenerator:
          - name: shop-values
            files:
              - values.yaml
    """,
    "gitops/values/dev/values.yaml": """
        image:
          registry: registry.localhost:5000
        ingress:
          host: shop.localhost
    """,
    "gitops/values/dev/kustomization.yaml": """
        configMapGenerator:
          - name: shop-dev-values
            files:
              - values.yaml
    """,
    "gitops/flux/clusters/dev/infrastructure.yaml": """
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: infrastructure
          namespace: flux-system
        spec:
          interval: 1h
          sourceRef:
            kind: GitRepository
            name: flux-system
          path: ./gitops/flux/infrastructure
          prune: true
    """,
    "gitops/flux/clusters/dev/apps.yaml": """
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: apps
          namespace: flux-system
        spec:
          dependsOn:
            - name: infrastructure
          interval: 10m
          sourceRef:
            kind: GitRepository
            name: flux-system
          path: ./gitops/flux/apps/dev
          prune: true
    """,
    "gitops/flux/infrastructure/kustomization.yaml": """
        resources:
          - namespace.yaml
    """,
    "gitops/flux/infrastructure/namespace.yaml": """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            pod-security.kubernetes.io/enforce: restricted
            pod-security.kubernetes.io/audit: restricted
            pod-security.kubernetes.io/warn: restricted
    """,
    "gitops/flux/apps/base/shop/kustomization.yaml": """
        namespace: shop
        resources:
          - source.yaml
          - release.yaml
          - ../../../../values/common
        configurations:
          - kustomizeconfig.yaml
    """,
    "gitops/flux/apps/base/shop/kustomizeconfig.yaml": """
        nameReference:
          - kind: ConfigMap
            version: v1
            fieldSpecs:
              - path: spec/valuesFrom/name
                kind: HelmRelease
    """,
    "gitops/flux/apps/base/shop/source.yaml": """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: OCIRepository
        metadata:
          name: shop
        spec:
          interval: 10m
          url: oci://ghcr.io/acme/charts/order-system
          ref:
            tag: 0.1.0
    """,
    "gitops/flux/apps/base/shop/release.yaml": """
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: shop
        spec:
          interval: 30m
          chartRef:
            kind: OCIRepository
            name: shop
          install:
            strategy:
              name: RetryOnFailure
          valuesFrom:
            - kind: ConfigMap
              name: shop-values
    """,
    "gitops/flux/apps/dev/kustomization.yaml": """
        namespace: shop
        resources:
          - ../base/shop
          - ../../../values/dev
        patches:
          - target:
              kind: HelmRelease
            patch: |
              - op: add
                path: /spec/valuesFrom/-
                value:
                  kind: ConfigMap
                  name: shop-dev-values
    """,
    "gitops/flux/components/chart-from-git/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        patches:
          - target:
              kind: HelmRelease
            patch: |
              - op: remove
                path: /spec/chartRef
              - op: add
                path: /spec/chart
                value:
                  spec:
                    chart: ./charts/order-system
                    sourceRef:
                      kind: GitRepository
                      name: flux-system
                      namespace: flux-system
    """,
    "gitops/argocd/root.yaml": """
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata:
          name: apps
          namespace: argocd
        spec:
          project: default
          source:
            repoURL: https://github.com/acme/shop.git
            targetRevision: main
            path: gitops/argocd/apps
          destination:
            server: https://kubernetes.default.svc
            namespace: argocd
    """,
    "gitops/argocd/apps/project.yaml": """
        apiVersion: argoproj.io/v1alpha1
        kind: AppProject
        metadata:
          name: shop
          namespace: argocd
        spec:
          sourceRepos:
            - https://github.com/acme/shop.git
            - oci://ghcr.io/acme/charts/*
          destinations:
            - server: https://kubernetes.default.svc
              namespace: shop
    """,
    "gitops/argocd/apps/shop-dev.yaml": """
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata:
          name: shop-dev
          namespace: argocd
          labels:
            environment: dev
        spec:
          project: shop
          sources:
            - repoURL: oci://ghcr.io/acme/charts/order-system
              targetRevision: 0.1.0
              path: .
              helm:
                valueFiles:
                  - $values/gitops/values/common/values.yaml
                  - $values/gitops/values/dev/values.yaml
            - repoURL: https://github.com/acme/shop.git
              targetRevision: main
              ref: values
          destination:
            server: https://kubernetes.default.svc
            namespace: shop
          syncPolicy:
            automated:
              prune: true
              selfHeal: true
            syncOptions:
              - CreateNamespace=true
            managedNamespaceMetadata:
              labels:
                pod-security.kubernetes.io/enforce: restricted
                pod-security.kubernetes.io/audit: restricted
                pod-security.kubernetes.io/warn: restricted
    """,
}
# The documented alternative: the same Application with the chart from Git.
FILES["gitops/argocd/alternatives/shop-dev-from-git.yaml"] = FILES[
    "gitops/argocd/apps/shop-dev.yaml"
].replace(
    """
            - repoURL: oci://ghcr.io/acme/charts/order-system
              targetRevision: 0.1.0
              path: .
""",
    """
            - repoURL: https://github.com/acme/shop.git
              targetRevision: main
              path: charts/order-system
""",
)
assert FILES["gitops/argocd/alternatives/shop-dev-from-git.yaml"] != FILES["gitops/argocd/apps/shop-dev.yaml"]


class Repo:
    def __init__(self, root: Path, crds: Path):
        self.root = root
        self.crds = crds

    def write(self, path: str, text: str) -> None:
        file = self.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(textwrap.dedent(text).lstrip())

    def edit(self, path: str, old: str, new: str) -> None:
        """Replaces `old` (exactly, indentation included), which must be there."""
        file = self.root / path
        text = file.read_text()
        assert old in text, f"{old!r} not in {path}"
        file.write_text(text.replace(old, new))

    def problems(self) -> list[str]:
        return check.run(self.root, self.crds)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    root = tmp_path / "repo"
    fixture = Repo(root, CRDS)
    for path, text in FILES.items():
        fixture.write(path, text)
    shutil.copy(PROJECT / "gitops" / "crds.lock", root / "gitops" / "crds.lock")
    return fixture


def assert_problem(problems: list[str], *fragments: str) -> None:
    """Some problem mentions every fragment: the check failed, and for this reason."""
    assert any(all(f in p for f in fragments) for p in problems), "\n".join(problems) or "no problems"
