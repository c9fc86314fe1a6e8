"""The whole check: every problem in gitops/, collected in one list."""

from __future__ import annotations

from pathlib import Path

import yaml

from . import crds, pod_security, references, values
from .manifests import (
    Manifest,
    component_dirs,
    confinement_problems,
    kustomization_dirs,
    kustomization_file,
    kustomize_build,
    relative,
    yaml_files,
)
from .problems import CheckError, describe
from .repository import Repository
from .schemas import Validator
from .scopes import Scope, all_scopes


def run(root: Path, crd_dir: Path) -> list[str]:
    """Every problem found; an empty list means gitops/ is valid."""
    pins = crds.read_lock(root / "gitops" / "crds.lock")
    problems = crds.verify(pins, crd_dir)
    if problems:
        return problems  # the schemas would not be the pinned ones
    repo = Repository.load(root)
    validator = Validator(repo.kubernetes_version, crds.load_schemas(pins, crd_dir))

    built: list[Manifest] = []
    for directory in kustomization_dirs(repo.gitops):
        problems += confinement_problems(root, directory)
        try:
            built += kustomize_build(root, directory)
        except CheckError as error:
            problems.append(str(error))
    scopes = all_scopes(repo)
    problems += variant_problems(repo, scopes)

    validated: set[tuple[str, str]] = set()
    for manifest in built + [m for scope in scopes for m in scope.manifests]:
        key = (manifest.origin, repr(manifest.obj))
        if key not in validated:
            validated.add(key)
            where = f"{manifest.origin}: {describe(manifest.obj)}"
            problems += [f"{where}: {p}" for p in validator.validate(manifest.obj)]

    flux_envs: dict[str, list[values.ChartValues]] = {}
    argocd_envs: dict[str, list[values.ChartValues]] = {}
    for scope in scopes:
        problems += scope.problems
        problems += references.check(repo, scope)
        releases, value_problems = values.chart_values(repo, scope)
        problems += value_problems
        problems += pod_security.check(scope, releases)
        for release in releases:
            if scope.tool == "flux":
                flux_envs.setdefault(scope.environment or "", []).append(release)
            elif environment := ((release.manifest.obj.get("metadata") or {}).get("labels") or {}).get(
                "environment"
            ):
                argocd_envs.setdefault(environment, []).append(release)
    problems += values.compare_environments(flux_envs, argocd_envs)
    problems += unchecked_files(repo, scopes)
    return list(dict.fromkeys(problems))  # variants repeat their base's problems


def variant_problems(repo: Repository, scopes: list[Scope]) -> list[str]:
    """A variant that changes nothing would check nothing."""
    origins = {m.origin for scope in scopes for m in scope.manifests}
    problems = []
    for variant in repo.flux_variants:
        if not any(
            o.startswith(f"kustomize build {relative(repo.root, variant.kustomization)} + ") for o in origins
        ):
            problems.append(
                f"gitops/check.toml: flux_variant {variant.name!r}: cluster {variant.environment}"
                f" never applies {relative(repo.root, variant.kustomization)}"
            )
    for argocd_variant in repo.argocd_variants:
        if relative(repo.root, argocd_variant.with_) not in origins:
            problems.append(
                f"gitops/check.toml: argocd_variant {argocd_variant.name!r}:"
                f" no root Application syncs {relative(repo.root, argocd_variant.replace)}"
            )
    return problems


def unchecked_files(repo: Repository, scopes: list[Scope]) -> list[str]:
    """YAML under gitops/ that no cluster, root, variant or kustomization reaches is never checked;
    Helm values files are checked through the releases that read them."""
    origins = {m.origin for scope in scopes for m in scope.manifests}
    built_dirs = kustomization_dirs(repo.gitops)
    problems = []
    for path in yaml_files(repo.gitops, recursive=True):
        if path.is_relative_to(repo.gitops / "values") or path.name.startswith("kustomiz"):
            continue
        if relative(repo.root, path) in origins or any(path.is_relative_to(d) for d in built_dirs):
            continue
        if any(path.is_relative_to(c) for v in repo.flux_variants for c in v.components):
            continue
        problems.append(
            f"{relative(repo.root, path)}: reached by no Flux cluster, Argo CD root or variant,"
            " so never checked"
        )
    used = {c.resolve() for v in repo.flux_variants for c in v.components}
    for directory in built_dirs:
        file = kustomization_file(directory)
        assert file is not None, "kustomization_dirs() returns directories with a kustomization file"
        kustomization = yaml.safe_load(file.read_text()) or {}
        used |= {(directory / c).resolve() for c in kustomization.get("components", [])}
    for component in component_dirs(repo.gitops):
        if component.resolve() not in used:
            problems.append(
                f"{relative(repo.root, component)}: a kustomize Component no kustomization or variant uses"
            )
    return problems
