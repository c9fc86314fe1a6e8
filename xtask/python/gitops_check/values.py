"""The values each HelmRelease and Application gives the chart, merged the way helm-controller and
Argo CD merge them, validated against the chart's values.schema.json (over the chart's defaults, as
Helm does), and compared between Flux and Argo CD for each environment."""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml

from .manifests import Manifest
from .problems import describe
from .references import HELM_RELEASE, exists, missing
from .repository import Repository
from .scopes import (
    ARGO_APPLICATION,
    Scope,
    argocd_sources,
    is_this_repository_source,
    namespace_of,
    repo_path,
)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge key by key, anything else replaces, null deletes."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_path(values: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """`--set`-style `a.b.c=value` (helm-controller's targetPath, Argo CD's parameters)."""
    override: dict[str, Any] = {}
    node = override
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return merge(values, override)


def parse_values(text: str, where: str) -> tuple[dict[str, Any], list[str]]:
    try:
        parsed = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        return {}, [f"{where}: not YAML: {error}"]
    return (parsed, []) if isinstance(parsed, dict) else ({}, [f"{where}: values are not a mapping"])


@dataclass
class ChartValues:
    """What one HelmRelease or Application passes to the chart."""

    manifest: Manifest
    namespace: str
    values: dict[str, Any]
    # (url, version) of the chart when it comes from OCI, else None (Git: the version is the commit).
    oci: tuple[str, str] | None


def flux_values(repo: Repository, scope: Scope, release: Manifest) -> tuple[ChartValues | None, list[str]]:
    spec = release.obj.get("spec") or {}
    namespace = namespace_of(release.obj)
    oci, problems = flux_chart_source(repo, scope, spec, namespace)
    if problems:
        return None, problems
    values: dict[str, Any] = {}
    for i, ref in enumerate(spec.get("valuesFrom") or []):
        kind, name = ref.get("kind", ""), ref.get("name", "")
        declared = scope.find(kind, namespace, name)
        if declared is None:
            if ref.get("targetPath"):
                # Made on the cluster: its content is unknown here, but it will be a string.
                values = set_path(values, ref["targetPath"], f"<{kind} {name}>")
            continue  # a missing one is a reference problem
        key = ref.get("valuesKey", "values.yaml")
        data = declared.obj.get("data") or {}
        if kind == "Secret" and key in data:
            text = base64.b64decode(data[key]).decode()
        else:
            text = {**data, **(declared.obj.get("stringData") or {})}.get(key, "")
        if ref.get("targetPath"):
            values = set_path(values, ref["targetPath"], text)
        else:
            parsed, parse_problems = parse_values(text, f"spec.valuesFrom[{i}] {kind} {name} key {key}")
            problems += parse_problems
            values = merge(values, parsed)
    values = merge(values, spec.get("values") or {})
    target = spec.get("targetNamespace") or namespace
    return ChartValues(release, target, values, oci), problems


def flux_chart_source(
    repo: Repository, scope: Scope, spec: dict[str, Any], namespace: str
) -> tuple[tuple[str, str] | None, list[str]]:
    """The chart a HelmRelease deploys must be this repository's, from OCI or from Git."""
    if "chartRef" in spec:
        ref = spec["chartRef"]
        declared = scope.find(ref.get("kind", ""), ref.get("namespace") or namespace, ref.get("name", ""))
        if declared is None:
            return None, []  # a reference problem
        source = declared.obj.get("spec") or {}
        url = source.get("url", "")
        if url != repo.chart_oci_url:
            return None, [
                f"spec.chartRef: {url} is not this project's chart {repo.chart_oci_url}"
                " (owner from Cargo.toml)"
            ]
        oci_ref = source.get("ref") or {}
        tag = oci_ref.get("digest") or oci_ref.get("tag") or oci_ref.get("semver") or ""
        return (url, str(tag)), []
    chart_spec = (spec.get("chart") or {}).get("spec") or {}
    if is_this_repository_source(repo, scope, chart_spec.get("sourceRef") or {}, namespace):
        if repo_path(repo, chart_spec.get("chart", "")) != repo.chart.directory.resolve():
            return None, [f"spec.chart.spec.chart {chart_spec.get('chart')} is not {repo.chart_path()}"]
        return None, []
    return None, [f"the chart must come from {repo.chart_oci_url} or {repo.chart_path()} in Git"]


def argocd_values(repo: Repository, application: Manifest) -> tuple[ChartValues | None, list[str]]:
    """The values of the Application's chart source, or None when it deploys no chart."""
    sources = argocd_sources(application.obj)
    refs = {s["ref"]: s for s in sources if "ref" in s}
    namespace = ((application.obj.get("spec") or {}).get("destination") or {}).get("namespace", "")
    for source in sources:
        url = str(source.get("repoURL", ""))
        from_git = repo.is_this_repository(url) and "path" in source
        if from_git and repo_path(repo, source["path"]) != repo.chart.directory.resolve():
            continue  # a plain directory or kustomize source
        if not from_git and "ref" in source:
            continue  # only a source of value files
        if not from_git and url != repo.chart_oci_url:
            return None, [f"{url} is not this project's chart {repo.chart_oci_url} (owner from Cargo.toml)"]
        values, problems = argocd_source_values(repo, refs, source)
        oci = None if from_git else (url, str(source.get("targetRevision", "")))
        return ChartValues(application, namespace, values, oci), problems
    return None, []


def argocd_source_values(
    repo: Repository, refs: dict[str, Any], source: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Argo CD's precedence: valueFiles < values < valuesObject < parameters."""
    helm = source.get("helm") or {}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for value_file in helm.get("valueFiles") or []:
        if value_file.startswith("$"):
            ref, _, path = value_file[1:].partition("/")
            if ref not in refs or not repo.is_this_repository(str(refs[ref].get("repoURL", ""))):
                continue  # a reference problem
            file = repo_path(repo, path)
        else:
            file = repo.chart.directory / value_file
        if not file.is_file():
            continue  # a reference problem
        parsed, parse_problems = parse_values(file.read_text(), value_file)
        problems += parse_problems
        values = merge(values, parsed)
    if helm.get("values"):
        parsed, parse_problems = parse_values(helm["values"], "helm.values")
        problems += parse_problems
        values = merge(values, parsed)
    values = merge(values, helm.get("valuesObject") or {})
    for parameter in helm.get("parameters") or []:
        values = set_path(values, parameter["name"], parameter.get("value"))
    return values, problems


def schema_problems(repo: Repository, values: dict[str, Any]) -> list[str]:
    """The chart's schema over its defaults merged with `values`, every error."""
    schema = repo.chart.schema
    validator = jsonschema.validators.validator_for(schema)(schema)
    merged = merge(repo.chart.defaults, values)
    return sorted(
        f"values.{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(merged)
    )


def secret_names(values: Any, path: str = "") -> list[tuple[str, str]]:
    """Every non-empty `existingSecret` in the values: (dotted path, Secret name)."""
    found = []
    if isinstance(values, dict):
        for key, value in values.items():
            here = f"{path}.{key}" if path else key
            if key == "existingSecret" and isinstance(value, str) and value:
                found.append((here, value))
            else:
                found += secret_names(value, here)
    return found


def chart_values(repo: Repository, scope: Scope) -> tuple[list[ChartValues], list[str]]:
    """The values of every release of the chart in `scope`, and every problem with them."""
    results, problems = [], []
    for manifest in scope.manifests:
        kind = (str(manifest.obj.get("apiVersion", "")).rpartition("/")[0], manifest.obj.get("kind"))
        if kind == HELM_RELEASE:
            found, found_problems = flux_values(repo, scope, manifest)
        elif kind == ARGO_APPLICATION:
            found, found_problems = argocd_values(repo, manifest)
        else:
            continue
        where = f"{scope.name}: {manifest.origin}: {describe(manifest.obj)}"
        problems += [f"{where}: {p}" for p in found_problems]
        if found is None:
            continue
        results.append(found)
        problems += [f"{where}: {p}" for p in schema_problems(repo, found.values)]
        for path, secret in secret_names(merge(repo.chart.defaults, found.values)):
            if not exists(repo, scope, "Secret", found.namespace, secret):
                problems.append(f"{where}: {missing('Secret', found.namespace, secret, f'values.{path}')}")
    return results, problems


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right), key=str):
            found += differences(left.get(key), right.get(key), f"{path}.{key}" if path else str(key))
        return found
    return [] if left == right else [f"{path or '<root>'}: {left!r} ≠ {right!r}"]


def compare_environments(
    flux: dict[str, list[ChartValues]], argocd: dict[str, list[ChartValues]]
) -> list[str]:
    """Flux and Argo CD must give an environment the same values and the same OCI chart version."""
    problems = []
    for environment in sorted(set(flux) & set(argocd)):
        for left in flux[environment]:
            for right in argocd[environment]:
                pair = (
                    f"{environment}: {describe(left.manifest.obj)} (Flux)"
                    f" and {describe(right.manifest.obj)} (Argo CD)"
                )
                problems += [
                    f"{pair} differ in values at {d}" for d in differences(left.values, right.values)
                ]
                if left.oci and right.oci and left.oci != right.oci:
                    problems.append(f"{pair} deploy different charts: {left.oci} ≠ {right.oci}")
    return problems
