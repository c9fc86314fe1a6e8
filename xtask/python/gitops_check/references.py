"""Cross-references inside a scope: every name a Flux or Argo CD object uses resolves to an object
the scope declares (or gitops/check.toml lists as made on the cluster), every path to a directory or
file in the repository."""

from __future__ import annotations

import fnmatch
from typing import Any

from .problems import describe
from .repository import Repository
from .scopes import (
    ARGO_APPLICATION,
    FLUX_KUSTOMIZATION,
    Scope,
    argocd_sources,
    group_kind,
    is_this_repository_source,
    namespace_of,
    repo_path,
)

HELM_RELEASE = ("helm.toolkit.fluxcd.io", "HelmRelease")


def exists(repo: Repository, scope: Scope, kind: str, namespace: str, name: str) -> bool:
    return scope.find(kind, namespace, name) is not None or repo.external(kind, namespace, name) is not None


def missing(kind: str, namespace: str, name: str, field: str) -> str:
    return (
        f"{field} names {kind} {namespace}/{name},"
        " which nothing declares (nor gitops/check.toml's [[external]])"
    )


def check_ref(
    repo: Repository, scope: Scope, ref: dict[str, Any], default_kind: str, own_namespace: str, field: str
) -> list[str]:
    kind = ref.get("kind", default_kind)
    namespace = ref.get("namespace") or own_namespace
    name = ref.get("name", "")
    return [] if exists(repo, scope, kind, namespace, name) else [missing(kind, namespace, name, field)]


def in_repository(repo: Repository, path: str, field: str, want_dir: bool) -> list[str]:
    target = repo_path(repo, path)
    if not target.is_relative_to(repo.root.resolve()):
        return [f"{field} {path} is outside the repository"]
    if not (target.is_dir() if want_dir else target.is_file()):
        return [f"{field} {path} is not a {'directory' if want_dir else 'file'} in the repository"]
    return []


def flux_kustomization(repo: Repository, scope: Scope, obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    own = namespace_of(obj)
    source = spec.get("sourceRef") or {}
    problems = check_ref(repo, scope, source, "GitRepository", own, "spec.sourceRef")
    if not problems and not is_this_repository_source(repo, scope, source, own):
        problems.append(
            f"spec.sourceRef {source.get('kind')} {source.get('name')} is not this repository ({repo.url},"
            " Cargo.toml), so what it applies cannot be checked"
        )
    for i, dependency in enumerate(spec.get("dependsOn") or []):
        problems += check_ref(repo, scope, dependency, "Kustomization", own, f"spec.dependsOn[{i}]")
    problems += in_repository(repo, spec.get("path", "./"), "spec.path", want_dir=True)
    return problems


def helm_release(repo: Repository, scope: Scope, obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    own = namespace_of(obj)
    problems = []
    if "chartRef" in spec:
        problems += check_ref(repo, scope, spec["chartRef"], "OCIRepository", own, "spec.chartRef")
    chart_spec = (spec.get("chart") or {}).get("spec")
    if chart_spec:
        source = chart_spec.get("sourceRef") or {}
        problems += check_ref(repo, scope, source, "HelmRepository", own, "spec.chart.spec.sourceRef")
        if source.get("kind") == "GitRepository":
            problems += in_repository(
                repo, f"{chart_spec.get('chart', '')}/Chart.yaml", "spec.chart.spec.chart", False
            )
    for i, dependency in enumerate(spec.get("dependsOn") or []):
        problems += check_ref(repo, scope, dependency, "HelmRelease", own, f"spec.dependsOn[{i}]")
    for i, values_from in enumerate(spec.get("valuesFrom") or []):
        problems += values_reference(repo, scope, values_from, own, f"spec.valuesFrom[{i}]")
    return problems


def values_reference(
    repo: Repository, scope: Scope, ref: dict[str, Any], namespace: str, field: str
) -> list[str]:
    kind, name = ref.get("kind", ""), ref.get("name", "")
    declared = scope.find(kind, namespace, name)
    if declared is None:
        if ref.get("optional") or repo.external(kind, namespace, name):
            return []
        return [missing(kind, namespace, name, field)]
    key = ref.get("valuesKey", "values.yaml")
    data = {**(declared.obj.get("data") or {}), **(declared.obj.get("stringData") or {})}
    return [] if key in data else [f"{field}: {kind} {namespace}/{name} has no key {key}"]


def argocd_application(repo: Repository, scope: Scope, obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    project = spec.get("project", "")
    problems = []
    declared_project = scope.find("AppProject", namespace_of(obj), project)
    if (
        project != "default"
        and declared_project is None
        and not repo.external("AppProject", namespace_of(obj), project)
    ):
        problems.append(missing("AppProject", namespace_of(obj), project, "spec.project"))
    sources = argocd_sources(obj)
    if declared_project is not None:
        problems += project_permits(declared_project.obj, sources, spec.get("destination") or {})
    refs = {s["ref"]: s for s in sources if "ref" in s}
    for i, source in enumerate(sources):
        field = f"spec.sources[{i}]" if "sources" in spec else "spec.source"
        url = str(source.get("repoURL", ""))
        is_git = not url.startswith("oci://") and "chart" not in source
        if is_git and not repo.is_this_repository(url):
            problems.append(f"{field}.repoURL {url} is not this repository ({repo.url}, Cargo.toml)")
            continue
        if is_git and "path" in source:
            problems += in_repository(repo, source["path"], f"{field}.path", want_dir=True)
        for value_file in (source.get("helm") or {}).get("valueFiles") or []:
            problems += value_file_reference(repo, refs, source, value_file, f"{field}.helm.valueFiles")
    return problems


def project_permits(
    project: dict[str, Any], sources: list[dict[str, Any]], destination: dict[str, Any]
) -> list[str]:
    """Argo CD refuses to sync a source or destination its AppProject does not allow."""
    spec = project.get("spec") or {}
    name = (project.get("metadata") or {}).get("name")
    problems = [
        f"repoURL {source.get('repoURL')} is not in AppProject {name}'s sourceRepos"
        for source in sources
        if not any(
            fnmatch.fnmatchcase(str(source.get("repoURL", "")), allowed)
            for allowed in spec.get("sourceRepos") or []
        )
    ]
    allowed_destinations = spec.get("destinations") or []
    if not any(
        fnmatch.fnmatchcase(str(destination.get("namespace", "")), allowed.get("namespace", "*"))
        and fnmatch.fnmatchcase(str(destination.get("server", "")), allowed.get("server", "*"))
        and fnmatch.fnmatchcase(str(destination.get("name", "")), allowed.get("name", "*"))
        for allowed in allowed_destinations
    ):
        problems.append(f"destination {destination} is not in AppProject {name}'s destinations")
    return problems


def value_file_reference(
    repo: Repository, refs: dict[str, Any], source: dict[str, Any], value_file: str, field: str
) -> list[str]:
    if value_file.startswith("$"):
        ref, _, path = value_file[1:].partition("/")
        if ref not in refs:
            return [f"{field}: {value_file} uses ${ref}, but no source has `ref: {ref}`"]
        if not repo.is_this_repository(str(refs[ref].get("repoURL", ""))):
            return [f"{field}: ${ref} is not this repository; its files cannot be checked"]
        return in_repository(repo, path, field, want_dir=False)
    chart_dir = (
        source.get("path", ".")
        if repo.is_this_repository(str(source.get("repoURL", "")))
        else repo.chart_path()
    )
    return in_repository(repo, f"{chart_dir}/{value_file}", field, want_dir=False)


CHECKS = {
    FLUX_KUSTOMIZATION: flux_kustomization,
    HELM_RELEASE: helm_release,
    ARGO_APPLICATION: argocd_application,
}


def check(repo: Repository, scope: Scope) -> list[str]:
    problems = []
    for manifest in scope.manifests:
        checker = CHECKS.get(group_kind(manifest.obj))
        if checker:
            problems += [
                f"{scope.name}: {manifest.origin}: {describe(manifest.obj)}: {p}"
                for p in checker(repo, scope, manifest.obj)
            ]
    return problems
