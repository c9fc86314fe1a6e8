"""Helm's engine (the Go SDK in helm-python-sdk): values, rendering, strict lint, packaging."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from .paths import CHART as CHART  # re-exported: the chart the engine renders (engine.CHART)

# A release name and namespace that differ from the chart name, so that naming bugs show.
RELEASE = "shop"
NAMESPACE = "orders"


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object and the template it came from (`templates/x.yaml`)."""

    template: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        kind: str = self.obj.get("kind", "")
        return kind

    @property
    def name(self) -> str:
        name: str = self.obj.get("metadata", {}).get("name", "")
        return name

    @property
    def pod_spec(self) -> dict[str, Any] | None:
        """The spec of the pods this object runs (Deployment, StatefulSet, CronJob, Pod); else None."""
        spec: dict[str, Any] = self.obj.get("spec", {})
        pod_spec: dict[str, Any]
        if self.kind in {"Deployment", "StatefulSet"}:
            pod_spec = spec["template"]["spec"]
            return pod_spec
        if self.kind == "CronJob":
            pod_spec = spec["jobTemplate"]["spec"]["template"]["spec"]
            return pod_spec
        if self.kind == "Pod":
            return spec
        return None

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({self.template})"


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merges values the way repeated `-f`/`--set` do: maps merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def user_values(files: Sequence[Path] = (), sets: Sequence[str] = ()) -> dict[str, Any]:
    """The values a user passes: `-f` files in order, then `--set` expressions."""
    values: dict[str, Any] = {}
    for file in files:
        values = merge(values, helm.values_from_yaml(Path(file).read_text()))
    for expression in sets:
        values = merge(values, helm.parse_set_string(expression))
    return values


def render_files(
    values: dict[str, Any] | None = None,
    *,
    chart: Path = CHART,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> dict[str, str]:
    """Renders the chart as `helm install --dry-run` would (schema checked first); returns
    `templates/<file>` → rendered text, NOTES.txt included."""
    with helm.Chart.load(chart) as loaded:
        rendered = loaded.render(values=values or {}, name=release, namespace=namespace, is_install=True)
        prefix = f"{loaded.name}/"
    return {path.removeprefix(prefix): text for path, text in rendered.items()}


def manifests(rendered: dict[str, str]) -> list[Manifest]:
    """Every Kubernetes object in the rendered templates, in template order."""
    found = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                found.append(Manifest(template, document))
    return found


def render(values: dict[str, Any] | None = None, **options: Any) -> list[Manifest]:
    return manifests(render_files(values, **options))


def lint(values: dict[str, Any] | None = None, *, kube_version: str, chart: Path = CHART) -> list[str]:
    """`helm lint --strict` with these values for one Kubernetes version: the findings that
    strict mode fails on (warnings and errors), empty when clean."""
    report = helm.lint(
        str(chart), values or {}, strict=True, namespace=NAMESPACE, kube_version=f"v{kube_version}"
    )
    return [
        f"{message['path']}: {message['error'].strip()}"
        for message in report["messages"]
        if message["severity"] >= 2
    ]


def package(destination: Path, chart: Path = CHART) -> Path:
    """`helm package`: the archive's version is Chart.yaml's, the only place it is written."""
    destination.mkdir(parents=True, exist_ok=True)
    return Path(helm.package(str(chart), destination=str(destination)))


def chart_metadata(chart: Path = CHART) -> dict[str, Any]:
    with helm.Chart.load(chart) as loaded:
        return loaded.metadata


def default_values(chart: Path = CHART) -> dict[str, Any]:
    with helm.Chart.load(chart) as loaded:
        return loaded.values
