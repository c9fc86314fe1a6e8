"""Turning directories into objects the way Flux and Argo CD do: `kubectl kustomize` where there is a
kustomization.yaml, else the YAML files themselves."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .crds import YAML_LOADER
from .problems import CheckError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass
class Manifest:
    obj: dict[str, Any]
    # The file that declares it, or the directory kustomize built it from (repo-relative).
    origin: str


def kustomization_file(directory: Path) -> Path | None:
    return next((directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()), None)


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        raise CheckError(
            "`kubectl` is needed for `kubectl kustomize`; install it from"
            " https://kubernetes.io/docs/tasks/tools/ (GitHub's Ubuntu runners have it)"
        )
    return path


def parse_documents(text: str, origin: str) -> list[Manifest]:
    try:
        documents = list(yaml.load_all(text, Loader=YAML_LOADER))
    except yaml.YAMLError as error:
        raise CheckError(f"{origin}: not YAML: {error}") from error
    manifests = []
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, dict):
            raise CheckError(f"{origin}: a document is not a mapping")
        manifests.append(Manifest(document, origin))
    return manifests


def kustomize_build(root: Path, directory: Path, components: tuple[Path, ...] = ()) -> list[Manifest]:
    """`kubectl kustomize` of `directory`, with `components` added (a documented variant).

    Plain, as a user (or Argo CD, or kustomize itself) builds it: kustomize's default load
    restrictor, under which a file must be in or below the kustomization's directory. Flux's
    controller would also read files from elsewhere in the repository, but a layout that only Flux
    can build is one nobody can preview, so the check holds gitops/ to the stricter rule."""
    origin = relative(root, directory)
    if components:
        output = build_with_components(directory, components, origin)
        origin += " + " + ", ".join(relative(root, component) for component in components)
    else:
        output = run_kustomize(directory, origin)
    return parse_documents(output, f"kustomize build {origin}")


def build_with_components(directory: Path, components: tuple[Path, ...], origin: str) -> str:
    """Builds `directory` as if its kustomization listed `components` too: a copy of it next to it
    (so every relative path resolves the same) with the components appended, removed afterwards."""
    copy = Path(tempfile.mkdtemp(prefix=f".{directory.name}-with-components-", dir=directory.parent))
    try:
        shutil.copytree(directory, copy, dirs_exist_ok=True)
        file = kustomization_file(copy)
        assert file is not None, f"{directory} has no kustomization file"
        kustomization = yaml.safe_load(file.read_text()) or {}
        kustomization["components"] = [
            *kustomization.get("components", []),
            *(os.path.relpath(component, directory) for component in components),
        ]
        file.write_text(yaml.safe_dump(kustomization))
        return run_kustomize(copy, origin)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def run_kustomize(directory: Path, origin: str) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        # Without klog's timestamp prefix, so the same failure reads the same every time.
        message = re.sub(r"^[EWI]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] ", "", result.stderr.strip(), flags=re.M)
        raise CheckError(f"kustomize build {origin} failed: {message}")
    return result.stdout


def yaml_files(directory: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in directory.glob(pattern) if p.suffix in (".yaml", ".yml") and p.is_file())


def load_directory(root: Path, directory: Path, flux: bool) -> list[Manifest]:
    """What Flux or Argo CD applies from a directory: its kustomize build, or every YAML file in it.
    Flux also descends into subdirectories, building those with a kustomization.yaml as a whole
    (as `flux bootstrap`'s flux-system/ is); Argo CD by default does not descend."""
    if kustomization_file(directory):
        return kustomize_build(root, directory)
    manifests = []
    for path in yaml_files(directory, recursive=False):
        manifests.extend(load_file(root, path))
    if flux:
        for subdirectory in sorted(p for p in directory.iterdir() if p.is_dir()):
            manifests.extend(load_directory(root, subdirectory, flux=True))
    return manifests


def load_file(root: Path, path: Path) -> list[Manifest]:
    return parse_documents(path.read_text(), relative(root, path))


def relative(root: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def referenced_paths(kustomization: dict[str, Any]) -> list[str]:
    """The local paths a kustomization.yaml names: resources, components, patches, generator files."""
    paths = [*kustomization.get("resources", []), *kustomization.get("components", [])]
    paths += kustomization.get("configurations", [])
    paths += [patch["path"] for patch in kustomization.get("patches", []) if "path" in patch]
    for generator in [
        *kustomization.get("configMapGenerator", []),
        *kustomization.get("secretGenerator", []),
    ]:
        for entry in generator.get("files", []):
            paths.append(entry.split("=", 1)[-1])
        paths += generator.get("envs", [])
    return [p for p in paths if "://" not in p and not p.startswith("github.com/")]


def confinement_problems(root: Path, directory: Path) -> list[str]:
    """Paths a kustomization.yaml names that do not exist or leave the repository (Flux refuses
    files outside the source's root)."""
    file = kustomization_file(directory)
    if file is None:
        return []
    origin = relative(root, file)
    try:
        kustomization = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as error:
        return [f"{origin}: not YAML: {error}"]
    problems = []
    for name in referenced_paths(kustomization):
        target = (directory / name).resolve()
        if not target.is_relative_to(root.resolve()):
            problems.append(f"{origin}: {name} is outside the repository; Flux cannot read it")
        elif not target.exists():
            problems.append(f"{origin}: {name} does not exist")
    return problems


def kustomization_dirs(gitops: Path) -> list[Path]:
    """Every directory under gitops/ with a kustomization.yaml that is not a kustomize Component
    (a Component only builds as part of another kustomization)."""
    dirs = []
    for directory in sorted({p.parent for name in KUSTOMIZATION_FILES for p in gitops.rglob(name)}):
        file = kustomization_file(directory)
        kind = (yaml.safe_load(file.read_text()) or {}).get("kind", "Kustomization") if file else None
        if kind == "Kustomization":
            dirs.append(directory)
    return dirs


def component_dirs(gitops: Path) -> list[Path]:
    return sorted(
        p.parent
        for name in KUSTOMIZATION_FILES
        for p in gitops.rglob(name)
        if (yaml.safe_load(p.read_text()) or {}).get("kind") == "Component"
    )
