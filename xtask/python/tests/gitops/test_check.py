"""Each check fails on a broken example, for the right reason; the unbroken example passes."""

from __future__ import annotations

import pytest

from conftest import assert_problem


def test_the_example_passes(repo):
    assert repo.problems() == []


# --- kustomize builds -------------------------------------------------------------------------


def test_a_kustomization_that_does_not_build(repo):
    repo.edit("gitops/flux/infrastructure/kustomization.yaml", "- namespace.yaml", "- namespaces.yaml")
    problems = repo.problems()
    assert_problem(problems, "kustomize build gitops/flux/infrastructure failed")
    assert_problem(problems, "gitops/flux/infrastructure/kustomization.yaml: namespaces.yaml does not exist")


def test_a_generator_file_outside_the_repository(repo):
    (repo.root.parent / "secrets.yaml").write_text("password: x\n")
    repo.edit(
        "gitops/values/common/kustomization.yaml", "- values.yaml", "- values.yaml=../../../../secrets.yaml"
    )
    assert_problem(repo.problems(), "../../../../secrets.yaml is outside the repository")


def test_a_generator_file_outside_its_kustomization_directory(repo):
    """Flux's controller would build this; plain `kubectl kustomize`, kustomize and Argo CD do not."""
    repo.edit(
        "gitops/flux/apps/base/shop/kustomization.yaml",
        "  - ../../../../values/common\n",
        "configMapGenerator:\n  - name: shop-values\n    files:\n"
        "      - values.yaml=../../../../values/common/values.yaml\n",
    )
    assert_problem(
        repo.problems(),
        "kustomize build gitops/flux/apps/base/shop failed",
        "security; file",
        "is not in or below",
    )


# --- object schemas and cross-references ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "old", "new", "expected"),
    [
        (
            "gitops/flux/infrastructure/namespace.yaml",
            "    pod-security.kubernetes.io/warn: restricted\n",
            "    pod-security.kubernetes.io/warn: restricted\nspec:\n  finalisers: []\n",
            ("Namespace shop", "'finalisers' was unexpected", "Kubernetes 1.32 schema"),
        ),
        (
            "gitops/flux/infrastructure/namespace.yaml",
            "  labels:\n",
            "  labels:\n    tier: [a]\n",
            ("Namespace shop", "metadata.labels.tier"),
        ),
        (
            "gitops/flux/apps/base/shop/release.yaml",
            "  interval: 30m",
            "  interval: 30m\n  intervall: 5m",
            ("HelmRelease shop/shop", "'intervall' was unexpected"),
        ),
        (
            "gitops/flux/apps/base/shop/release.yaml",
            "      name: RetryOnFailure",
            "      name: RetryOnFailure\n      retries: 3",
            ("HelmRelease shop/shop", "spec.install.strategy", "'retries' was unexpected"),
        ),
        (
            "gitops/flux/apps/base/shop/release.yaml",
            "name: RetryOnFailure",
            "name: RetryForever",
            ("spec.install.strategy.name", "'RetryForever' is not one of"),
        ),
        (
            "gitops/flux/apps/base/shop/release.yaml",
            "helm.toolkit.fluxcd.io/v2",
            "helm.toolkit.fluxcd.io/v2beta1",
            ("HelmRelease helm.toolkit.fluxcd.io/v2beta1 is not served; use v2",),
        ),
        (
            "gitops/argocd/apps/shop-dev.yaml",
            "      selfHeal: true",
            "      selfHeel: true",
            ("Application argocd/shop-dev", "spec.syncPolicy.automated", "'selfHeel' was unexpected"),
        ),
        # Custom objects' metadata is Kubernetes' ObjectMeta, strictly.
        (
            "gitops/argocd/apps/shop-dev.yaml",
            "    environment: dev",
            "    environment: dev\n  finalizer: [x]",
            ("Application argocd/shop-dev", "metadata", "'finalizer' was unexpected"),
        ),
        # cross-references
        (
            "gitops/flux/clusters/dev/apps.yaml",
            "- name: infrastructure",
            "- name: infra",
            ("spec.dependsOn[0] names Kustomization flux-system/infra",),
        ),
        (
            "gitops/flux/clusters/dev/apps.yaml",
            "    name: flux-system",
            "    name: shop-repo",
            ("spec.sourceRef names GitRepository flux-system/shop-repo",),
        ),
        (
            "gitops/flux/clusters/dev/apps.yaml",
            "path: ./gitops/flux/apps/dev",
            "path: ./gitops/flux/apps/prod",
            ("spec.path ./gitops/flux/apps/prod is not a directory",),
        ),
        (
            "gitops/flux/apps/base/shop/release.yaml",
            "    name: shop\n  install",
            "    name: shop-chart\n  install",
            ("spec.chartRef names OCIRepository shop/shop-chart",),
        ),
        (
            "gitops/flux/apps/base/shop/release.yaml",
            "      name: shop-values",
            "      name: shop-values\n      valuesKey: values.yml",
            ("ConfigMap shop/shop-values-",),
        ),
        (
            "gitops/flux/apps/base/shop/release.yaml",
            "  interval: 30m",
            "  interval: 30m\n  dependsOn:\n    - name: redis",
            ("spec.dependsOn[0] names HelmRelease shop/redis",),
        ),
        (
            "gitops/flux/components/chart-from-git/kustomization.yaml",
            "chart: ./charts/order-system",
            "chart: ./charts/shop",
            ("spec.chart.spec.chart ./charts/shop/Chart.yaml is not a file",),
        ),
        (
            "gitops/argocd/apps/shop-dev.yaml",
            "  project: shop",
            "  project: shops",
            ("spec.project names AppProject argocd/shops",),
        ),
        (
            "gitops/argocd/apps/shop-dev.yaml",
            "$values/gitops/values/dev/values.yaml",
            "$values/gitops/values/prod/values.yaml",
            ("gitops/values/prod/values.yaml is not a file",),
        ),
        (
            "gitops/argocd/apps/shop-dev.yaml",
            "$values/gitops/values/dev/values.yaml",
            "$vals/gitops/values/dev/values.yaml",
            ("uses $vals, but no source has `ref: vals`",),
        ),
        (
            "gitops/argocd/apps/shop-dev.yaml",
            "https://github.com/acme/shop.git",
            "https://github.com/acme/other.git",
            ("repoURL https://github.com/acme/other.git is not this repository",),
        ),
        (
            "gitops/argocd/root.yaml",
            "path: gitops/argocd/apps",
            "path: gitops/argocd/applications",
            ("spec.source.path gitops/argocd/applications is not a directory",),
        ),
        (
            "gitops/argocd/apps/project.yaml",
            "oci://ghcr.io/acme/charts/*",
            "oci://ghcr.io/acme/images/*",
            ("repoURL oci://ghcr.io/acme/charts/order-system is not in AppProject shop's sourceRepos",),
        ),
        (
            "gitops/argocd/apps/shop-dev.yaml",
            "    namespace: shop\n  syncPolicy",
            "    namespace: shop-dev\n  syncPolicy",
            ("is not in AppProject shop's destinations",),
        ),
    ],
)
def test_an_object_its_schema_or_a_reference_rejects(repo, path, old, new, expected):
    repo.edit(path, old, new)
    assert_problem(repo.problems(), *expected)


def test_a_kind_nothing_defines(repo):
    repo.write(
        "gitops/flux/infrastructure/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    )
    repo.edit(
        "gitops/flux/infrastructure/kustomization.yaml",
        "- namespace.yaml",
        "- namespace.yaml\n  - widget.yaml",
    )
    assert_problem(repo.problems(), "Widget w", "no schema for Widget example.com/v1")


def test_preserve_unknown_fields_admits_any_chart_values(repo):
    # HelmRelease spec.values is x-kubernetes-preserve-unknown-fields: the CRD admits anything there,
    # so only the chart's schema can catch this (and does).
    repo.edit(
        "gitops/flux/apps/base/shop/release.yaml",
        "  interval: 30m",
        "  interval: 30m\n  values:\n    colour: blue",
    )
    problems = repo.problems()
    assert not any("spec.values" in p for p in problems), problems
    assert_problem(problems, "HelmRelease shop/shop", "values", "'colour' was unexpected")


@pytest.mark.parametrize(("count", "valid"), [("2", True), ('"2"', True), ("true", False), ("[2]", False)])
def test_int_or_string_admits_exactly_integers_and_strings(repo, count, valid):
    # Application spec.source.kustomize.replicas[].count is x-kubernetes-int-or-string.
    repo.edit(
        "gitops/argocd/root.yaml",
        "    path: gitops/argocd/apps",
        "    path: gitops/argocd/apps\n"
        f"    kustomize:\n      replicas:\n        - name: web\n          count: {count}",
    )
    problems = repo.problems()
    if valid:
        assert problems == []
    else:
        assert_problem(problems, "Application argocd/apps", "spec.source.kustomize.replicas.0.count")


# --- CRD pins ---------------------------------------------------------------------------------


def test_crds_that_differ_from_the_pins(repo, tmp_path):
    crds = tmp_path / "crds"
    crds.mkdir()
    for crd in repo.crds.glob("*.yaml"):
        (crds / crd.name).write_bytes(crd.read_bytes())
    (crds / "helmreleases.yaml").write_bytes((crds / "helmreleases.yaml").read_bytes() + b"\n# edited\n")
    (crds / "kustomizations.yaml").unlink()
    repo.crds = crds
    problems = repo.problems()
    assert_problem(problems, "helmreleases.yaml: sha256", "is not the pinned")
    assert_problem(problems, "kustomizations.yaml: missing")


# --- chart values -----------------------------------------------------------------------------


def test_values_the_chart_schema_rejects(repo):
    repo.edit(
        "gitops/values/dev/values.yaml",
        "registry: registry.localhost:5000",
        "registry: registry.localhost:5000/shop",
    )
    problems = repo.problems()
    for who in ("Flux dev: ", "Argo CD: "):
        assert_problem(problems, who, "values.image.registry", "does not match")


def test_values_with_a_key_the_chart_does_not_have(repo):
    repo.edit(
        "gitops/values/common/values.yaml",
        "existingSecret: redis-auth",
        "existingSecret: redis-auth\n    password: hunter2",
    )
    assert_problem(repo.problems(), "values.redis.auth", "'password' was unexpected")


def test_argocd_inline_values_are_checked_too(repo):
    repo.edit(
        "gitops/argocd/apps/shop-dev.yaml",
        "          - $values/gitops/values/dev/values.yaml",
        "          - $values/gitops/values/dev/values.yaml\n"
        "        valuesObject:\n          ingress:\n            host: 42",
    )
    assert_problem(repo.problems(), "Argo CD: ", "values.ingress.host", "is not of type 'string'")


def test_flux_and_argocd_giving_an_environment_different_values(repo):
    repo.edit(
        "gitops/argocd/apps/shop-dev.yaml",
        "          - $values/gitops/values/dev/values.yaml",
        "          - $values/gitops/values/dev/values.yaml\n"
        "        parameters:\n          - name: ingress.host\n            value: shop.example",
    )
    assert_problem(
        repo.problems(),
        "dev: HelmRelease shop/shop (Flux) and Application argocd/shop-dev (Argo CD)",
        "ingress.host",
    )


def test_flux_and_argocd_deploying_different_chart_versions(repo):
    repo.edit("gitops/argocd/apps/shop-dev.yaml", "targetRevision: 0.1.0", "targetRevision: 0.2.0")
    assert_problem(repo.problems(), "deploy different charts")


def test_a_chart_from_another_owner(repo):
    repo.edit("gitops/flux/apps/base/shop/source.yaml", "ghcr.io/acme/", "ghcr.io/someone-else/")
    assert_problem(
        repo.problems(),
        "oci://ghcr.io/someone-else/charts/order-system is not this project's chart oci://ghcr.io/acme/charts/order-system",
    )


def test_an_existing_secret_nothing_declares(repo):
    repo.edit(
        "gitops/values/common/values.yaml", "existingSecret: redis-auth", "existingSecret: redis-password"
    )
    assert_problem(repo.problems(), "values.redis.auth.existingSecret names Secret shop/redis-password")


def test_a_values_from_nothing_declares(repo):
    repo.edit(
        "gitops/flux/apps/base/shop/release.yaml",
        "      name: shop-values",
        "      name: shop-values\n    - kind: Secret\n      name: shop-secrets",
    )
    assert_problem(repo.problems(), "spec.valuesFrom[1] names Secret shop/shop-secrets")


# --- Pod Security of the release namespaces ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "old", "new", "expected"),
    [
        (
            "gitops/flux/infrastructure/namespace.yaml",
            "pod-security.kubernetes.io/enforce: restricted",
            "pod-security.kubernetes.io/enforce: baseline",
            ("kustomize build gitops/flux/infrastructure: Namespace shop:",
             "namespace shop needs pod-security.kubernetes.io/enforce: restricted (has 'baseline')"),
        ),
        (
            "gitops/flux/infrastructure/namespace.yaml",
            "    pod-security.kubernetes.io/warn: restricted\n",
            "",
            ("namespace shop needs pod-security.kubernetes.io/warn: restricted (has 'none')",),
        ),
        (
            "gitops/argocd/apps/shop-dev.yaml",
            "        pod-security.kubernetes.io/enforce: restricted\n",
            "        pod-security.kubernetes.io/enforce: privileged\n",
            ("gitops/argocd/apps/shop-dev.yaml", "syncPolicy.managedNamespaceMetadata: namespace shop needs"
             " pod-security.kubernetes.io/enforce: restricted (has 'privileged')"),
        ),
    ],
)  # fmt: skip
def test_a_namespace_label_short_of_restricted(repo, path, old, new, expected):
    repo.edit(path, old, new)
    assert_problem(repo.problems(), *expected)


def test_an_argocd_created_namespace_without_managed_metadata(repo):
    text = (repo.root / "gitops/argocd/apps/shop-dev.yaml").read_text()
    repo.write("gitops/argocd/apps/shop-dev.yaml", text[: text.index("    managedNamespaceMetadata:")])
    assert_problem(
        repo.problems(),
        "syncPolicy.managedNamespaceMetadata: namespace shop needs"
        " pod-security.kubernetes.io/enforce: restricted",
    )


def test_a_release_namespace_nothing_labels(repo):
    text = (repo.root / "gitops/argocd/apps/shop-dev.yaml").read_text()
    repo.write("gitops/argocd/apps/shop-dev.yaml", text[: text.index("    syncOptions:")])
    assert_problem(
        repo.problems(),
        "Application argocd/shop-dev: nothing in",
        "declares namespace shop, so its Pod Security level (restricted) is unset",
    )


# --- coverage of gitops/ ----------------------------------------------------------------------


def test_a_file_no_entry_point_reaches(repo):
    repo.write("gitops/argocd/alternatives/shop-prod.yaml", FILE_NOBODY_USES)
    assert_problem(repo.problems(), "gitops/argocd/alternatives/shop-prod.yaml: reached by no Flux cluster")


def test_a_variant_that_changes_nothing(repo):
    repo.edit(
        "gitops/check.toml",
        'replace = "gitops/argocd/apps/shop-dev.yaml"',
        'replace = "gitops/argocd/apps/shop-prod.yaml"',
    )
    assert_problem(
        repo.problems(),
        "argocd_variant 'chart from Git': no root Application syncs gitops/argocd/apps/shop-prod.yaml",
    )


FILE_NOBODY_USES = """
apiVersion: v1
kind: Namespace
metadata:
  name: prod
"""


def test_a_component_nothing_uses(repo):
    repo.write(
        "gitops/flux/components/debug/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
    )
    assert_problem(
        repo.problems(),
        "gitops/flux/components/debug: a kustomize Component no kustomization or variant uses",
    )


def test_a_chart_from_another_git_repository(repo):
    repo.write(
        "gitops/flux/components/chart-from-git/source.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fork\n"
        "spec:\n  interval: 5m\n  url: https://github.com/someone-else/shop.git\n",
    )
    repo.edit(
        "gitops/flux/components/chart-from-git/kustomization.yaml",
        "patches:",
        "resources:\n  - source.yaml\npatches:",
    )
    repo.edit(
        "gitops/flux/components/chart-from-git/kustomization.yaml", "name: flux-system\n", "name: fork\n"
    )
    repo.edit("gitops/flux/components/chart-from-git/kustomization.yaml", "namespace: flux-system\n", "")
    assert_problem(repo.problems(), "Flux dev (chart from Git)", "the chart must come from")


def test_a_cluster_directory_after_flux_bootstrap(repo):
    # What `flux bootstrap git --url=ssh://…` commits (gotk-components.yaml left out): the
    # GitRepository is then declared in the repository, with an SSH URL of this repository.
    repo.write("gitops/flux/clusters/dev/flux-system/kustomization.yaml", "resources:\n  - gotk-sync.yaml\n")
    repo.write("gitops/flux/clusters/dev/flux-system/gotk-sync.yaml", BOOTSTRAP_SYNC)
    assert repo.problems() == []
    repo.edit("gitops/flux/clusters/dev/flux-system/gotk-sync.yaml", "acme/shop.git", "acme/other.git")
    assert_problem(repo.problems(), "Kustomization flux-system/flux-system", "is not this repository")


BOOTSTRAP_SYNC = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: ssh://git@github.com/acme/shop.git
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./gitops/flux/clusters/dev
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
