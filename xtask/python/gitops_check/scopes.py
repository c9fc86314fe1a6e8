"""A scope is everything one GitOps entry point would apply: a Flux cluster directory followed through
its Kustomizations, or the Argo CD root Applications followed through the directories they sync.
References resolve inside a scope; environments compare across them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .manifests import Manifest, kustomize_build, load_directory, parse_documents, relative
from .problems import CheckError
from .repository import ArgoVariant, FluxVariant, Repository

FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "Kustomization")
ARGO_APPLICATION = ("argoproj.io", "Application")


def group_kind(obj: dict) -> tuple[str, str]:
    return str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", ""))


def namespace_of(obj: dict, default: str = "") -> str:
    return (obj.get("metadata") or {}).get("namespace") or default


def name_of(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")


@dataclass
class Scope:
    name: str
    tool: str  # "flux" or "argocd"
    environment: str | None
    manifests: list[Manifest] = field(default_factory=list)
    # Directories that did not build (the same failure is reported once for the whole check).
    problems: list[str] = field(default_factory=list)

    def add(self, load: Callable[[], list[Manifest]]) -> list[Manifest]:
        try:
            self.manifests += load()
        except CheckError as error:
            self.problems.append(str(error))
        return self.manifests

    def find(self, kind: str, namespace: str, name: str) -> Manifest | None:
        return next(
            (
                m
                for m in self.manifests
                if m.obj.get("kind") == kind and name_of(m.obj) == name and namespace_of(m.obj) == namespace
            ),
            None,
        )

    def of(self, kind: tuple[str, str]) -> list[Manifest]:
        return [m for m in self.manifests if group_kind(m.obj) == kind]


def repo_path(repo: Repository, path: str) -> Path:
    return (repo.root / path.removeprefix("./")).resolve()


def flux_follows(repo: Repository, kustomization: dict, scope: Scope) -> Path | None:
    """The repository directory a Flux Kustomization applies, when its source is this repository
    (the bootstrap GitRepository, or one whose URL is this repository)."""
    source = (kustomization.get("spec") or {}).get("sourceRef") or {}
    if source.get("kind") != "GitRepository":
        return None
    namespace = source.get("namespace") or namespace_of(kustomization)
    name = source.get("name", "")
    declared = scope.find("GitRepository", namespace, name)
    is_repo = (
        repo.is_this_repository(str((declared.obj.get("spec") or {}).get("url", "")))
        if declared
        else repo.external("GitRepository", namespace, name) is not None
    )
    path = (kustomization.get("spec") or {}).get("path", "./")
    return repo_path(repo, path) if is_repo else None


def flux_scope(repo: Repository, cluster_dir: Path, variant: FluxVariant | None = None) -> Scope:
    environment = cluster_dir.name
    name = f"Flux {environment}" + (f" ({variant.name})" if variant else "")
    scope = Scope(name, "flux", environment)
    scope.add(lambda: load_directory(repo.root, cluster_dir, flux=True))
    applied = {cluster_dir.resolve()}
    index = 0
    while index < len(scope.manifests):
        manifest = scope.manifests[index]
        index += 1
        if group_kind(manifest.obj) != FLUX_KUSTOMIZATION:
            continue
        directory = flux_follows(repo, manifest.obj, scope)
        if directory is None or directory in applied or not directory.is_dir():
            continue  # not this repository's, already applied, or missing (a reference problem)
        applied.add(directory)
        if variant and directory == variant.kustomization.resolve():
            scope.add(lambda: kustomize_build(repo.root, directory, variant.components))
        else:
            scope.add(lambda: load_directory(repo.root, directory, flux=True))
    return scope


def argocd_sources(application: dict) -> list[dict]:
    spec = application.get("spec") or {}
    return list(spec.get("sources") or ([spec["source"]] if spec.get("source") else []))


def argocd_scope(repo: Repository, roots: list[Path], variant: ArgoVariant | None = None) -> Scope:
    name = "Argo CD" + (f" ({variant.name})" if variant else "")
    scope = Scope(name, "argocd", None)
    for root_file in roots:
        scope.add(lambda: parse_documents(root_file.read_text(), relative(repo.root, root_file)))
    synced: set[Path] = set()
    index = 0
    while index < len(scope.manifests):
        manifest = scope.manifests[index]
        index += 1
        if group_kind(manifest.obj) != ARGO_APPLICATION:
            continue
        for source in argocd_sources(manifest.obj):
            if not repo.is_this_repository(str(source.get("repoURL", ""))) or "path" not in source:
                continue
            directory = repo_path(repo, source["path"])
            if directory in synced or not directory.is_dir() or (directory / "Chart.yaml").is_file():
                continue  # already synced, missing (a reference problem), or a chart (values check)
            synced.add(directory)
            scope.add(lambda: swap_variant(repo, load_directory(repo.root, directory, flux=False), variant))
    return scope


def swap_variant(repo: Repository, manifests: list[Manifest], variant: ArgoVariant | None) -> list[Manifest]:
    """`manifests` with those from the variant's `replace` file swapped for its `with` file's."""
    if variant is None:
        return manifests
    replaced = relative(repo.root, variant.replace)
    kept = [m for m in manifests if m.origin != replaced]
    if len(kept) == len(manifests):
        return manifests
    return kept + parse_documents(variant.with_.read_text(), relative(repo.root, variant.with_))


def all_scopes(repo: Repository) -> list[Scope]:
    clusters = repo.gitops / "flux" / "clusters"
    scopes = [flux_scope(repo, d) for d in sorted(clusters.iterdir()) if d.is_dir()] if clusters.is_dir() else []
    for variant in repo.flux_variants:
        scopes.append(flux_scope(repo, clusters / variant.environment, variant))
    argocd = repo.gitops / "argocd"
    roots = sorted(p for p in argocd.glob("*.y*ml")) if argocd.is_dir() else []
    if roots:
        scopes.append(argocd_scope(repo, roots))
        scopes += [argocd_scope(repo, roots, variant) for variant in repo.argocd_variants]
    return scopes
