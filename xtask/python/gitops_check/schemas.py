"""Validates one object: a core kind against the pinned Kubernetes version's strict OpenAPI schema, a
Flux or Argo CD kind against its CRD (metadata against Kubernetes' ObjectMeta)."""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

from .crds import CrdVersion

OBJECT_META = (
    "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)


def split_api_version(api_version: str) -> tuple[str, str]:
    """`group/version` → (group, version); the core group is ''."""
    group, _, version = api_version.rpartition("/")
    return group, version


def error_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<object>"


class Validator:
    def __init__(self, kubernetes_version: str, crd_kinds: dict[tuple[str, str], dict[str, CrdVersion]]):
        if kubernetes_version not in {
            kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()
        }:
            raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version}")
        self.kubernetes_version = kubernetes_version
        self.crd_kinds = crd_kinds
        self.crd_groups = {group for group, _ in crd_kinds}
        definitions = schema_contents(
            f"kubernetes-json-schema/v{kubernetes_version}.0-local-strict/_definitions.json",
            kubernetes_version,
        )
        self.registry = Resource.from_contents(definitions) @ Registry()
        self._validators: dict[tuple[str, str, str], jsonschema.protocols.Validator] = {}

    def validate(self, obj: dict[str, Any]) -> list[str]:
        """Every problem with `obj`'s shape, as `path: message` lines."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return ["<object>: apiVersion and kind must be strings"]
        group, version = split_api_version(api_version)
        if group in self.crd_groups:
            return self._validate_custom(obj, group, version, kind)
        try:
            kubernetes_validate.validate(obj, self.kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            return [f"{error_path(error)}: {error.message} (Kubernetes {self.kubernetes_version} schema)"]
        except kubernetes_validate.SchemaNotFoundError:
            return [
                f"<object>: no schema for {kind} {api_version}: not a Kubernetes"
                f" {self.kubernetes_version} kind and no pinned CRD (gitops/crds.lock) defines it"
            ]
        return []

    def _validate_custom(self, obj: dict[str, Any], group: str, version: str, kind: str) -> list[str]:
        versions = self.crd_kinds.get((group, kind))
        if versions is None:
            return [f"<object>: the pinned CRDs define no kind {kind} in {group}"]
        crd_version = versions.get(version)
        if crd_version is None or not crd_version.served:
            return [f"<object>: {kind} {group}/{version} is not served; use {self._storage(versions)}"]
        if crd_version.deprecated or not crd_version.storage:
            return [
                f"<object>: {kind} {group}/{version} is not the current API; use {self._storage(versions)}"
            ]
        validator = self._validators.get((group, version, kind))
        if validator is None:
            schema = dict(crd_version.schema)
            schema["properties"] = {**schema.get("properties", {}), "metadata": {"$ref": OBJECT_META}}
            validator = jsonschema.Draft202012Validator(schema, registry=self.registry)
            self._validators[(group, version, kind)] = validator
        return sorted(f"{error_path(error)}: {error.message}" for error in validator.iter_errors(obj))

    @staticmethod
    def _storage(versions: dict[str, CrdVersion]) -> str:
        return next((name for name, v in versions.items() if v.storage), "?")
