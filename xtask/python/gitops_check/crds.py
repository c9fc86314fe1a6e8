"""The pinned Flux and Argo CD CRDs: checking a directory against gitops/crds.lock, downloading the
pins, and turning each CRD's structural schema into a JSON Schema that rejects unknown fields."""

from __future__ import annotations

import functools
import hashlib
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .problems import CheckError

# libyaml's parser when PyYAML has it (the wheels do): the CRDs are megabytes of YAML.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RAW_GITHUB = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Pin:
    """One CRD file: where upstream keeps it, at which commit, and its sha256."""

    file: str
    repo: str
    commit: str
    path: str
    sha256: str

    def url(self, base_url: str = RAW_GITHUB) -> str:
        return f"{base_url}/{self.repo}/{self.commit}/{self.path}"


def read_lock(lock: Path) -> list[Pin]:
    try:
        entries = tomllib.loads(lock.read_text())["crd"]
        pins = [Pin(**entry) for entry in entries]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as error:
        raise CheckError(
            f"{lock}: not a CRD lock ([[crd]] tables of file, repo, commit, path, sha256): {error}"
        ) from error
    for pin in pins:
        if len(pin.commit) != 40 or len(pin.sha256) != 64:
            raise CheckError(
                f"{lock}: {pin.file}: commit must be a full 40-digit SHA and sha256 64 hex digits"
            )
    return pins


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(pins: list[Pin], crd_dir: Path) -> list[str]:
    """Problems with the CRD files in `crd_dir`: missing, or not the pinned bytes."""
    problems = []
    for pin in pins:
        path = crd_dir / pin.file
        if not path.is_file():
            problems.append(
                f"{path}: missing; `cargo xtask gitops --fetch-crds {crd_dir}` downloads the pinned CRDs"
            )
        elif (actual := sha256(path.read_bytes())) != pin.sha256:
            problems.append(
                f"{path}: sha256 {actual} is not the pinned {pin.sha256} ({pin.repo}@{pin.commit}:{pin.path})"
            )
    return problems


def fetch(pins: list[Pin], dest: Path, base_url: str = RAW_GITHUB) -> None:
    """Downloads every pinned CRD into `dest`, refusing any whose sha256 differs from its pin."""
    dest.mkdir(parents=True, exist_ok=True)
    for pin in pins:
        url = pin.url(base_url)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except OSError as error:
            raise CheckError(f"downloading {url}: {error}") from error
        if (actual := sha256(data)) != pin.sha256:
            raise CheckError(
                f"{url}: sha256 {actual} is not the pinned {pin.sha256}; refusing to write {pin.file}"
            )
        (dest / pin.file).write_bytes(data)


def structural_to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema that accepts what the API server keeps: objects reject fields their schema does
    not list unless `x-kubernetes-preserve-unknown-fields`; `x-kubernetes-int-or-string` is an integer
    or a string; `nullable` admits null."""
    node = dict(node)
    for key in ("properties", "patternProperties"):
        if key in node:
            node[key] = {name: structural_to_json_schema(child) for name, child in node[key].items()}
    if isinstance(node.get("items"), dict):
        node["items"] = structural_to_json_schema(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = structural_to_json_schema(node["additionalProperties"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            node[key] = [structural_to_json_schema(child) for child in node[key]]
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node["anyOf"] = [*node.get("anyOf", []), {"type": "integer"}, {"type": "string"}]
    is_object = node.get("type") == "object" or "properties" in node
    if (
        is_object
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in node
    ):
        node["additionalProperties"] = False
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    return node


@dataclass(frozen=True)
class CrdVersion:
    schema: dict[str, Any]
    served: bool
    storage: bool
    deprecated: bool


def load_schemas(pins: list[Pin], crd_dir: Path) -> dict[tuple[str, str], dict[str, CrdVersion]]:
    """`(group, kind) → {version: CrdVersion}` for every CRD in the pinned (and verified) files."""
    kinds: dict[tuple[str, str], dict[str, CrdVersion]] = {}
    for pin in pins:
        kinds.update(crd_file_schemas(crd_dir / pin.file, pin.sha256))
    return kinds


@functools.cache
def crd_file_schemas(path: Path, sha: str) -> dict[tuple[str, str], dict[str, CrdVersion]]:
    """One CRD file's kinds; parsed once per process (they are megabytes), keyed by content."""
    kinds = {}
    for crd in yaml.load_all(path.read_text(), Loader=YAML_LOADER):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        versions = {}
        for version in spec["versions"]:
            versions[version["name"]] = CrdVersion(
                schema=structural_to_json_schema(version["schema"]["openAPIV3Schema"]),
                served=version.get("served", False),
                storage=version.get("storage", False),
                deprecated=version.get("deprecated", False),
            )
        kinds[(spec["group"], spec["names"]["kind"])] = versions
    return kinds
