"""Kubernetes' naming rules for the objects the chart renders, and for the objects controllers make
from them, as the API server and the controllers apply them.

Sources: k8s.io/apimachinery `validation.IsDNS1123Label`/`IsDNS1123Subdomain`/`IsDNS1035Label`/
`IsQualifiedName`/`IsValidLabelValue`; `ValidateService` (DNS-1035 names); `ValidateCronJob` (names of
at most 52 characters: the Job it starts adds `-<minutes since epoch>`); the StatefulSet controller
(label `controller-revision-hash: <name>-<hash>`, hash up to 10 characters; pods `<name>-<ordinal>` with
that as hostname); the Deployment controller (ReplicaSet `<name>-<pod-template-hash>`); spin-operator
(`internal/controller`: a Deployment, a Service and the container named after the SpinApp, labels
`core.spinoperator.dev/app-name: <name>` and `core.spinoperator.dev/app.<name>.status: ready`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from order_chart.engine import Manifest

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_1123_LABEL = re.compile(_LABEL)
DNS_1123_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
# Longest suffixes controllers append: a ControllerRevision hash (uint32 in decimal, safe-encoded)
# and the Job of a CronJob (`-` and the scheduled time in minutes since the epoch).
REVISION_HASH = "x" * 10
JOB_SUFFIX = "-" + "9" * 10


def dns_1123_label(name: str) -> list[str]:
    if len(name) > 63 or not DNS_1123_LABEL.fullmatch(name):
        return [f"{name!r} ({len(name)}) is not a DNS-1123 label (a-z0-9 and '-', at most 63)"]
    return []


def dns_1123_subdomain(name: str) -> list[str]:
    if len(name) > 253 or not DNS_1123_SUBDOMAIN.fullmatch(name):
        return [f"{name!r} ({len(name)}) is not a DNS-1123 subdomain"]
    return []


def dns_1035_label(name: str) -> list[str]:
    if len(name) > 63 or not DNS_1035_LABEL.fullmatch(name):
        return [f"{name!r} ({len(name)}) is not a DNS-1035 label (starts with a letter, at most 63)"]
    return []


def label_value(value: Any) -> list[str]:
    if not isinstance(value, str) or len(value) > 63 or (value and not LABEL_NAME.fullmatch(value)):
        return [f"label value {value!r} is not valid (at most 63, alphanumeric at both ends)"]
    return []


def label_key(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    problems = dns_1123_subdomain(prefix) if prefix else []
    if len(name) > 63 or not LABEL_NAME.fullmatch(name):
        problems.append(f"label key {key!r}: name part {name!r} ({len(name)}) is not valid (at most 63)")
    return problems


def label_maps(obj: Any) -> Iterator[dict[str, Any]]:
    """Every label map in an object: `labels`, `matchLabels`, `podLabels` at any depth, and a
    Service's `spec.selector`."""
    if isinstance(obj, dict):
        if obj.get("kind") == "Service":
            yield obj.get("spec", {}).get("selector", {})
        for key, value in obj.items():
            if key in {"labels", "matchLabels", "podLabels"} and isinstance(value, dict):
                yield value
            else:
                yield from label_maps(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from label_maps(item)


def label_problems(manifest: Manifest) -> list[str]:
    return [
        f"{manifest}: {problem}"
        for labels in label_maps(manifest.obj)
        for key, value in labels.items()
        for problem in label_key(key) + label_value(value)
    ]


def derived(manifest: Manifest) -> list[tuple[str, str]]:
    """(kind, name) of the objects a controller creates under a fixed name from this one."""
    if manifest.kind == "SpinApp":
        return [("Deployment", manifest.name), ("Service", manifest.name)]
    return []


def name_problems(manifest: Manifest) -> list[str]:
    """Why the API server or a controller would reject this object's name or what it derives from it."""
    name, kind = manifest.name, manifest.kind
    problems = dns_1123_subdomain(name)
    if kind == "Service":
        problems += dns_1035_label(name)
    elif kind == "StatefulSet":
        problems += label_value(f"{name}-{REVISION_HASH}")  # controller-revision-hash
        problems += dns_1123_label(f"{name}-{manifest.obj['spec']['replicas'] - 1}")  # pod hostname
    elif kind == "CronJob":
        if len(name) > 52:
            problems.append(f"{name!r} ({len(name)}) is longer than a CronJob's 52 characters")
        problems += label_value(f"{name}{JOB_SUFFIX}")  # the Job's job-name label
    elif kind == "Job":
        problems += label_value(name)  # the job-name label of its pods
    elif kind == "Deployment":
        problems += dns_1123_subdomain(f"{name}-{REVISION_HASH}")  # its ReplicaSets
    elif kind == "SpinApp":
        problems += dns_1035_label(name)  # spin-operator's Service
        problems += dns_1123_label(name)  # spin-operator's container name
        problems += label_value(name)  # core.spinoperator.dev/app-name
        problems += label_key(f"core.spinoperator.dev/app.{name}.status")
    return [f"{manifest}: {problem}" for problem in problems]
