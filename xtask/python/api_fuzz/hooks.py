"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS=api_fuzz.hooks)."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def filter_case(ctx: schemathesis.HookContext, case: schemathesis.Case[Any]) -> bool:
    """Keeps header values ASCII. HTTP sends other characters as Latin-1 bytes that are not UTF-8,
    and Spin answers those with 500 before any app runs (its HTTP trigger hands components header
    values as strings; spin-local does the same), so such cases would test Spin, not the apps.
    Bodies, paths and everything else keep all of Unicode."""
    return all(str(value).isascii() for value in (case.headers or {}).values())
