"""Strict validation of rendered objects: core kinds against Kubernetes' own schemas
(kubernetes-validate) for the oldest Kubernetes the chart supports and the newest available,
custom resources against their CRD's openAPIV3Schema (unknown fields rejected, as the API server does)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils

from .engine import Manifest, chart_metadata
from .paths import REPO_CRDS, crds_dir

# Kinds with no schema available offline, and why that is acceptable; the chart's unit tests
# assert their whole shape instead.
WITHOUT_SCHEMA = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "Gateway API CRDs are not shipped here",
}


def kube_versions() -> list[str]:
    """The oldest Kubernetes version Chart.yaml's `kubeVersion` admits, and the newest schema set."""
    constraint = chart_metadata()["kubeVersion"]
    lowest = re.fullmatch(r">=\s*(\d+\.\d+)\.\d+(-0)?", constraint)
    if not lowest:
        raise ValueError(f"Chart.yaml kubeVersion {constraint!r} is not of the form '>=X.Y.Z-0'")
    oldest = f"{lowest.group(1)}.0"
    newest = kv_utils.latest_version()
    available = set(kv_utils.all_versions())
    if oldest not in available:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {oldest}")
    return [oldest, newest]


def _strict(schema: Any) -> Any:
    """A CRD's structural schema as JSON Schema: objects without declared extras reject unknown
    fields, int-or-string accepts both."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _strict(value) for key, value in schema.items()}
    if converted.pop("x-kubernetes-int-or-string", False):
        converted.pop("type", None)
        converted.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (
        converted.get("type") == "object"
        and "additionalProperties" not in converted
        and not converted.get("x-kubernetes-preserve-unknown-fields")
    ):
        converted["additionalProperties"] = False
    return converted


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → strict JSON Schema, for every served version of every CRD (the shared
    directory's and the repository's, xtask/crds)."""
    schemas = {}
    for path in sorted(Path(crds_dir()).glob("*.yaml")) + sorted(REPO_CRDS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    schema = _strict(version["schema"]["openAPIV3Schema"])
                    # apiVersion/kind/metadata are the API server's, not part of the CRD schema.
                    schema["properties"].setdefault("apiVersion", {"type": "string"})
                    schema["properties"].setdefault("kind", {"type": "string"})
                    schema["properties"]["metadata"] = {"type": "object"}
                    schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return schemas


def problems(manifest: Manifest, versions: list[str]) -> list[str]:
    """Why an object would be rejected, per Kubernetes version; empty when valid everywhere."""
    key = (manifest.obj.get("apiVersion", ""), manifest.kind)
    if key in WITHOUT_SCHEMA:
        return []
    if key in crd_schemas():
        validator = jsonschema.Draft7Validator(crd_schemas()[key])
        return [
            f"{manifest}: {'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in validator.iter_errors(manifest.obj)
        ]
    found = []
    for version in versions:
        try:
            kubernetes_validate.validate(manifest.obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            found.append(
                f"{manifest}: no schema for {key[0]} {key[1]}: neither Kubernetes {version} "
                f"nor a CRD in {crds_dir()} or {REPO_CRDS} defines it"
            )
        except kubernetes_validate.ValidationError as error:
            where = "/".join(map(str, error.path)) or "<root>"
            found.append(f"{manifest}: Kubernetes {version}: {where}: {error.message}")
    return found


def all_problems(manifests: list[Manifest]) -> list[str]:
    versions = kube_versions()
    return [problem for manifest in manifests for problem in problems(manifest, versions)]
