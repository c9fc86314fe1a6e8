"""Problems are collected, never raised, so one run reports all of them."""

from __future__ import annotations

from typing import Any


class CheckError(Exception):
    """A problem that stops the check (a tool failing, a file that cannot be read)."""


def describe(obj: dict[str, Any]) -> str:
    """`Kind namespace/name`, the way kubectl names an object."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "<no name>")
    namespace = metadata.get("namespace")
    return (
        f"{obj.get('kind', '<no kind>')} {namespace}/{name}"
        if namespace
        else f"{obj.get('kind', '<no kind>')} {name}"
    )
