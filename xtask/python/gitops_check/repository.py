"""Facts about the repository the check needs, read from the files that define them: the workspace's
`repository` (Cargo.toml), the chart (charts/order-system) and gitops/check.toml."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from .problems import CheckError

# The chart every HelmRelease and Application deploys, from OCI or from this path in Git.
CHART = "charts/order-system"


def git_location(url: str) -> tuple[str, str]:
    """(host, owner/name) of `https://host/owner/name(.git)`, `ssh://git@host/owner/name(.git)` or
    `git@host:owner/name(.git)`."""
    if "://" not in url and ":" in url:
        user_host, _, path = url.partition(":")
        host = user_host.rpartition("@")[2]
    else:
        parsed = urlparse(url)
        host, path = parsed.hostname or "", parsed.path
    return host.lower(), path.strip("/").removesuffix(".git")


@dataclass(frozen=True)
class External:
    """An object made on the cluster rather than declared in gitops/ (check.toml `[[external]]`)."""

    kind: str
    namespace: str
    name: str
    reason: str


@dataclass(frozen=True)
class FluxVariant:
    name: str
    environment: str
    kustomization: Path
    components: tuple[Path, ...]


@dataclass(frozen=True)
class ArgoVariant:
    name: str
    replace: Path
    with_: Path


@dataclass(frozen=True)
class Chart:
    directory: Path
    name: str
    defaults: dict[str, Any]
    schema: dict[str, Any]

    @staticmethod
    def load(directory: Path) -> Chart:
        try:
            name = yaml.safe_load((directory / "Chart.yaml").read_text())["name"]
            defaults = yaml.safe_load((directory / "values.yaml").read_text()) or {}
            schema = json.loads((directory / "values.schema.json").read_text())
        except (OSError, KeyError, TypeError, yaml.YAMLError, json.JSONDecodeError) as error:
            raise CheckError(
                f"{directory}: not a chart with Chart.yaml, values.yaml and values.schema.json: {error}"
            ) from error
        return Chart(directory, name, defaults, schema)


@dataclass
class Repository:
    root: Path
    url: str
    owner: str
    chart: Chart
    kubernetes_version: str
    externals: list[External] = field(default_factory=list)
    flux_variants: list[FluxVariant] = field(default_factory=list)
    argocd_variants: list[ArgoVariant] = field(default_factory=list)

    @property
    def gitops(self) -> Path:
        return self.root / "gitops"

    @property
    def chart_oci_url(self) -> str:
        """Where the release workflow pushes the chart: ghcr.io/<owner>/charts/<chart>."""
        return f"oci://ghcr.io/{self.owner}/charts/{self.chart.name}"

    def is_this_repository(self, url: str) -> bool:
        """Whether a Git URL names this repository, over HTTPS or SSH (`flux bootstrap` writes either)."""
        return git_location(url) == git_location(self.url)

    def chart_path(self) -> str:
        return str(self.chart.directory.resolve().relative_to(self.root.resolve()))

    def external(self, kind: str, namespace: str, name: str) -> External | None:
        return next(
            (e for e in self.externals if (e.kind, e.namespace, e.name) == (kind, namespace, name)),
            None,
        )

    @staticmethod
    def load(root: Path) -> Repository:
        cargo = root / "Cargo.toml"
        try:
            url = tomllib.loads(cargo.read_text())["workspace"]["package"]["repository"]
        except (OSError, KeyError, tomllib.TOMLDecodeError) as error:
            raise CheckError(f"{cargo}: needs [workspace.package] repository: {error}") from error
        url = url.removesuffix("/").removesuffix(".git")
        parsed = urlparse(url)
        owner = parsed.path.strip("/").split("/")[0]
        if parsed.scheme != "https" or not owner:
            raise CheckError(f"{cargo}: repository {url} is not an https://host/owner/name URL")
        config_file = root / "gitops" / "check.toml"
        try:
            config = tomllib.loads(config_file.read_text())
            return Repository(
                root=root,
                url=url,
                owner=owner,
                chart=Chart.load(root / CHART),
                kubernetes_version=config["kubernetes_version"],
                externals=[External(**entry) for entry in config.get("external", [])],
                flux_variants=[
                    FluxVariant(
                        name=entry["name"],
                        environment=entry["environment"],
                        kustomization=root / entry["kustomization"],
                        components=tuple(root / c for c in entry["components"]),
                    )
                    for entry in config.get("flux_variant", [])
                ],
                argocd_variants=[
                    ArgoVariant(
                        name=entry["name"], replace=root / entry["replace"], with_=root / entry["with"]
                    )
                    for entry in config.get("argocd_variant", [])
                ],
            )
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as error:
            raise CheckError(f"{config_file}: {error!r}") from error
