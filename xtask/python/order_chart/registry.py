"""Pushing the packaged chart to an OCI registry (`helm push`), with Helm's registry client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import helm_python as helm

# Credentials for registries that need them (GHCR in CI: the workflow's token).
USERNAME_VAR = "HELM_REGISTRY_USERNAME"
PASSWORD_VAR = "HELM_REGISTRY_PASSWORD"


def push(archive: Path, remote: str, *, plain_http: bool = False) -> None:
    """Pushes `archive` under `remote` (`oci://host/path`) as `<name>:<version>`. Logs in first
    when both credential variables are set."""
    if not remote.startswith("oci://"):
        raise ValueError(f"the remote must be an oci:// reference, not {remote!r}")
    with helm.RegistryClient(plain_http=plain_http) as client:
        username, password = os.environ.get(USERNAME_VAR), os.environ.get(PASSWORD_VAR)
        if username and password:
            host = remote.removeprefix("oci://").split("/", 1)[0]
            client.login(host, username, password, plain_http=plain_http)
        client.push(str(archive), remote, plain_http=plain_http)


def resolve(reference: str, *, plain_http: bool = False) -> dict[str, Any]:
    """The manifest descriptor (digest, media type, size) of `oci://host/path/chart:version`."""
    with helm.RegistryClient(plain_http=plain_http) as client:
        return client.resolve(reference)


def pull(reference: str, version: str, destination: Path, *, plain_http: bool = False) -> Path:
    """Downloads `oci://host/path/chart` at `version` into `destination`; returns the archive."""
    destination.mkdir(parents=True, exist_ok=True)
    helm.pull(reference, destination=str(destination), version=version, plain_http=plain_http)
    name = reference.rstrip("/").rsplit("/", 1)[-1]
    return destination / f"{name}-{version}.tgz"
