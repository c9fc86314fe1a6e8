"""Every namespace the chart is released into enforces Pod Security `restricted`: the labels Pod
Security admission reads (Kubernetes docs, "Enforce Pod Security Standards with Namespace Labels"),
set on the Namespace the scope declares or, for an Argo CD Application that creates its namespace
(`CreateNamespace=true`), in `syncPolicy.managedNamespaceMetadata`."""

from __future__ import annotations

from typing import Any

from .problems import describe
from .scopes import Scope
from .values import ChartValues

LEVEL = "restricted"
# enforce refuses pods; audit and warn report the same level, so nothing is silently looser.
MODES = ("enforce", "audit", "warn")


def label_problems(labels: dict[str, Any], where: str, namespace: str) -> list[str]:
    return [
        f"{where}: namespace {namespace} needs pod-security.kubernetes.io/{mode}: {LEVEL}"
        f" (has {labels.get(key, 'none')!r})"
        for mode in MODES
        if labels.get(key := f"pod-security.kubernetes.io/{mode}") != LEVEL
    ]


def check(scope: Scope, releases: list[ChartValues]) -> list[str]:
    """Problems with the Pod Security labels of each release's namespace."""
    problems = []
    for release in releases:
        namespace = release.namespace
        labelled = []  # (where, labels) of everything that sets the namespace's labels
        if declared := scope.find("Namespace", "", namespace):
            labels = (declared.obj.get("metadata") or {}).get("labels") or {}
            labelled.append((f"{declared.origin}: {describe(declared.obj)}", labels))
        spec = release.manifest.obj.get("spec") or {}
        sync = spec.get("syncPolicy") or {}
        if "CreateNamespace=true" in (sync.get("syncOptions") or []) and (
            declared is None or "managedNamespaceMetadata" in sync
        ):
            labels = (sync.get("managedNamespaceMetadata") or {}).get("labels") or {}
            where = (
                f"{release.manifest.origin}: {describe(release.manifest.obj)}:"
                " syncPolicy.managedNamespaceMetadata"
            )
            labelled.append((where, labels))
        if not labelled:
            where = f"{release.manifest.origin}: {describe(release.manifest.obj)}"
            problems.append(
                f"{where}: nothing in {scope.name} declares namespace {namespace}, so its Pod Security"
                f" level ({LEVEL}) is unset"
            )
        for where, labels in labelled:
            problems += label_problems(labels, where, namespace)
    return problems
