"""A scope is everything one GitOps entry point would apply: a Flux cluster directory followed through
its Kustomizations, or the Argo CD root Applications followed through the directories they sync.
References resolve inside a scope; environments compare across them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .manifests import Manifest, kustomize_build, load_directory, load_file, relative
from .problems import CheckError
from .repository import ArgoVariant, FluxVariant, Repository

FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "Kustomization")
ARGO_APPLICATION = ("argoproj.io", "Application")


def group_kind(obj: dict[str, Any]) -> tuple[str, str]:
    return str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", ""))


def namespace_of(obj: dict[str, Any], default: str = "") -> str:
    return (obj.get("metadata") or {}).get("namespace") or default


def name_of(obj: dict[str, Any]) -> str:
    name: str = (obj.get("metadata") or {}).get("name", "")
    return name


@dataclass
class Scope:
    name: str
    tool: str  # "flux" or "argocd"
    environment: str | None
    manifests: list[Manifest] = field(default_factory=list)
    # Directories that did not build (the same failure is reported once for the whole check).
    problems: list[str] = field(default_factory=list)

    def add(self, load: Callable[..., list[Manifest]], *args: Any) -> None:
        """Adds what `load(*args)` returns, or records why it failed."""
        try:
            self.manifests += load(*args)
        except CheckError as error:
            self.problems.append(str(error))

    def find(self, kind: str, namespace: str, name: str) -> Manifest | None:
        return next(
            (
                m
                for m in self.manifests
                if m.obj.get("kind") == kind and name_of(m.obj) == name and namespace_of(m.obj) == namespace
            ),
            None,
        )


def repo_path(repo: Repository, path: str) -> Path:
    return (repo.root / path.removeprefix("./")).resolve()


def is_this_repository_source(
    repo: Repository, scope: Scope, source_ref: dict[str, Any], own_namespace: str
) -> bool:
    """Whether a Flux `sourceRef` is this repository: a GitRepository whose URL is this repository's,
    or one made on the cluster (`flux bootstrap`'s, listed in check.toml)."""
    if source_ref.get("kind") != "GitRepository":
        return False
    namespace = source_ref.get("namespace") or own_namespace
    name = source_ref.get("name", "")
    declared = scope.find("GitRepository", namespace, name)
    if declared:
        return repo.is_this_repository(str((declared.obj.get("spec") or {}).get("url", "")))
    return repo.external("GitRepository", namespace, name) is not None


def flux_follows(repo: Repository, kustomization: dict[str, Any], scope: Scope) -> Path | None:
    """The repository directory a Flux Kustomization applies, when its source is this repository."""
    spec = kustomization.get("spec") or {}
    if not is_this_repository_source(repo, scope, spec.get("sourceRef") or {}, namespace_of(kustomization)):
        return None
    return repo_path(repo, spec.get("path", "./"))


def follow(
    scope: Scope,
    kind: tuple[str, str],
    targets: Callable[[dict[str, Any]], list[Path]],
    load: Callable[[Path], list[Manifest]],
) -> None:
    """Adds what every `kind` object in the scope applies from this repository (each directory once),
    including what the objects found that way apply in turn."""
    done: set[Path] = set()
    index = 0
    while index < len(scope.manifests):
        manifest = scope.manifests[index]
        index += 1
        if group_kind(manifest.obj) != kind:
            continue
        for directory in targets(manifest.obj):
            if directory not in done and directory.is_dir():  # a missing one is a reference problem
                done.add(directory)
                scope.add(load, directory)


def flux_scope(repo: Repository, cluster_dir: Path, variant: FluxVariant | None = None) -> Scope:
    environment = cluster_dir.name
    scope = Scope(f"Flux {environment}" + (f" ({variant.name})" if variant else ""), "flux", environment)
    scope.add(load_directory, repo.root, cluster_dir, True)

    def targets(kustomization: dict[str, Any]) -> list[Path]:
        directory = flux_follows(repo, kustomization, scope)
        return [directory] if directory and directory != cluster_dir.resolve() else []

    def load(directory: Path) -> list[Manifest]:
        if variant and directory == variant.kustomization.resolve():
            return kustomize_build(repo.root, directory, variant.components)
        return load_directory(repo.root, directory, flux=True)

    follow(scope, FLUX_KUSTOMIZATION, targets, load)
    return scope


def argocd_sources(application: dict[str, Any]) -> list[dict[str, Any]]:
    spec = application.get("spec") or {}
    return list(spec.get("sources") or ([spec["source"]] if spec.get("source") else []))


def argocd_scope(repo: Repository, roots: list[Path], variant: ArgoVariant | None = None) -> Scope:
    scope = Scope("Argo CD" + (f" ({variant.name})" if variant else ""), "argocd", None)
    for root_file in roots:
        scope.add(load_file, repo.root, root_file)

    def targets(application: dict[str, Any]) -> list[Path]:
        """Directories synced as plain manifests or kustomize; a chart is the values check's."""
        directories = [
            repo_path(repo, source["path"])
            for source in argocd_sources(application)
            if repo.is_this_repository(str(source.get("repoURL", ""))) and "path" in source
        ]
        return [d for d in directories if not (d / "Chart.yaml").is_file()]

    follow(
        scope,
        ARGO_APPLICATION,
        targets,
        lambda d: swap_variant(repo, load_directory(repo.root, d, flux=False), variant),
    )
    return scope


def swap_variant(repo: Repository, manifests: list[Manifest], variant: ArgoVariant | None) -> list[Manifest]:
    """`manifests` with those from the variant's `replace` file swapped for its `with` file's."""
    if variant is None:
        return manifests
    replaced = relative(repo.root, variant.replace)
    kept = [m for m in manifests if m.origin != replaced]
    if len(kept) == len(manifests):
        return manifests
    return kept + load_file(repo.root, variant.with_)


def all_scopes(repo: Repository) -> list[Scope]:
    clusters = repo.gitops / "flux" / "clusters"
    scopes = (
        [flux_scope(repo, d) for d in sorted(clusters.iterdir()) if d.is_dir()] if clusters.is_dir() else []
    )
    for variant in repo.flux_variants:
        scopes.append(flux_scope(repo, clusters / variant.environment, variant))
    argocd = repo.gitops / "argocd"
    roots = sorted(p for p in argocd.glob("*.y*ml")) if argocd.is_dir() else []
    if roots:
        scopes.append(argocd_scope(repo, roots))
        scopes += [argocd_scope(repo, roots, variant) for variant in repo.argocd_variants]
    return scopes
