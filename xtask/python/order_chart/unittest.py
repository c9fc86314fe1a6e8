"""Runs the chart's helm-unittest suites (`charts/order-system/tests/*_test.yaml`) with Helm's
engine, so the same files serve the real helm-unittest plugin on GitHub and this offline runner.

Implemented, following helm-unittest's DOCUMENT.md: suite/test `values` (relative to the suite
file), `set` (`--set`-style keys, YAML values), `release`, `templates`/`template` (with or
without the `templates/` prefix), assertion `not`, `template` and `documentIndex` (one document of
a template's, counted from 0), and the assertion kinds in
ASSERTIONS. Anything else in a suite is an error, never silently ignored.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from .engine import merge, render_files
from .paths import UNIT_TESTS

SUITE_KEYS = {"suite", "templates", "values", "set", "release", "tests"}
TEST_KEYS = {"it", "values", "set", "release", "template", "asserts"}
ASSERT_OPTIONS = {"not", "template", "documentIndex"}
# helm-unittest's defaults for `.Release`.
DEFAULT_RELEASE = {"name": "RELEASE-NAME", "namespace": "NAMESPACE"}


class SuiteError(Exception):
    """A suite file uses something this runner does not implement, or is malformed."""


class Missing:
    """A path that leads nowhere (distinct from an explicit null)."""


MISSING = Missing()
_TOKEN = re.compile(r'\.?([A-Za-z0-9_\-$/]+)|\[(\d+)\]|\["([^"]+)"\]')


def lookup(document: Any, path: str) -> Any:
    """Follows a helm-unittest path (`a.b[0].c`, `metadata.labels["x/y"]`) into a document."""
    position, current = 0, document
    while position < len(path):
        token = _TOKEN.match(path, position)
        if not token:
            raise SuiteError(f"unsupported path syntax at {path[position:]!r} in {path!r}")
        position = token.end()
        key, index, quoted = token.groups()
        if index is not None:
            if not isinstance(current, list) or int(index) >= len(current):
                return MISSING
            current = current[int(index)]
        else:
            name = quoted if quoted is not None else key
            if not isinstance(current, dict) or name not in current:
                return MISSING
            current = current[name]
    return current


def set_values(assignments: dict[str, Any]) -> dict[str, Any]:
    """Turns `{"a.b": value}` (value any YAML) into nested values, as `--set` would."""
    values: dict[str, Any] = {}
    for dotted, value in assignments.items():
        keys = re.split(r"(?<!\\)\.", dotted)
        nested: Any = value
        for key in reversed(keys):
            if re.search(r"\[\d+\]$", key):
                raise SuiteError(f"set key {dotted!r}: list indexes are not supported; set the whole list")
            nested = {key.replace("\\.", "."): nested}
        values = merge(values, nested)
    return values


@dataclass
class Rendered:
    """One render of the chart: documents per template, NOTES text, or the error."""

    documents: dict[str, list[Any]] = field(default_factory=dict)
    notes: str = ""
    error: str | None = None


def _template_name(name: str) -> str:
    return name if name.startswith("templates/") else f"templates/{name}"


def _documents(rendered: Rendered, template: str) -> list[Any]:
    if template not in rendered.documents:
        raise SuiteError(f"no template {template} in the chart")
    return rendered.documents[template]


def _values_at(documents: list[Any], params: dict[str, Any]) -> list[Any]:
    return [lookup(document, params["path"]) for document in documents]


def _decoded(value: Any, params: dict[str, Any]) -> Any:
    if params.get("decodeBase64") and isinstance(value, str):
        return base64.b64decode(value).decode()
    return value


def _equal(documents: list[Any], params: dict[str, Any], negate: bool) -> list[str]:
    failures = []
    for actual in _values_at(documents, params):
        if actual is MISSING and not negate:
            failures.append(f"path {params['path']} does not exist")
        elif (_decoded(actual, params) == params["value"]) == negate:
            failures.append(
                f"{params['path']} is {actual!r}, expected {'not ' if negate else ''}{params['value']!r}"
            )
    return failures


def _exists(documents: list[Any], params: dict[str, Any], negate: bool) -> list[str]:
    return [
        f"{params['path']} {'exists' if negate else 'does not exist'}"
        for actual in _values_at(documents, params)
        if (actual is MISSING) != negate
    ]


def _match_regex(documents: list[Any], params: dict[str, Any], negate: bool) -> list[str]:
    failures = []
    for actual in _values_at(documents, params):
        if not isinstance(actual, str):
            failures.append(f"{params['path']} is {actual!r}, not a string")
        elif bool(re.search(params["pattern"], _decoded(actual, params))) == negate:
            verdict = "matches" if negate else "does not match"
            failures.append(f"{params['path']} = {actual!r} {verdict} /{params['pattern']}/")
    return failures


def _contains(documents: list[Any], params: dict[str, Any], negate: bool) -> list[str]:
    failures = []
    for actual in _values_at(documents, params):
        if not isinstance(actual, list):
            failures.append(f"{params['path']} is {actual!r}, not a list")
            continue
        count = actual.count(params["content"])
        wanted = params.get("count")
        found = count == wanted if wanted is not None else count > 0
        if found == negate:
            verdict = "contains" if negate else "does not contain"
            times = "" if wanted is None else f" {wanted} time(s) (found {count})"
            failures.append(f"{params['path']} {verdict} {params['content']!r}{times}; it is {actual!r}")
    return failures


def _is_subset(documents: list[Any], params: dict[str, Any], negate: bool) -> list[str]:
    def subset(content: Any, actual: Any) -> bool:
        if isinstance(content, dict):
            return isinstance(actual, dict) and all(
                key in actual and subset(value, actual[key]) for key, value in content.items()
            )
        same: bool = content == actual
        return same

    return [
        f"{params['path']} = {actual!r} {'contains' if negate else 'does not contain'} {params['content']!r}"
        for actual in _values_at(documents, params)
        if subset(params["content"], actual) == negate
    ]


def _length_equal(documents: list[Any], params: dict[str, Any], negate: bool) -> list[str]:
    return [
        f"{params['path']} has {len(actual) if isinstance(actual, list) else actual!r} items, "
        f"expected {'not ' if negate else ''}{params['count']}"
        for actual in _values_at(documents, params)
        if (isinstance(actual, list) and len(actual) == params["count"]) == negate
    ]


def _is_kind(documents: list[Any], params: dict[str, Any], negate: bool) -> list[str]:
    return _equal(documents, {"path": "kind", "value": params["of"]}, negate)


def _has_documents(documents: list[Any], params: dict[str, Any], negate: bool) -> list[str]:
    if (len(documents) == params["count"]) == negate:
        return [f"{len(documents)} documents rendered, expected {'not ' if negate else ''}{params['count']}"]
    return []


def _match_regex_raw(notes: str, params: dict[str, Any], negate: bool) -> list[str]:
    if bool(re.search(params["pattern"], notes)) == negate:
        return [f"NOTES.txt {'matches' if negate else 'does not match'} /{params['pattern']}/:\n{notes}"]
    return []


# name → (checker, negated by its name)
ASSERTIONS: dict[str, tuple[Callable[..., list[str]], bool]] = {
    "equal": (_equal, False),
    "notEqual": (_equal, True),
    "exists": (_exists, False),
    "notExists": (_exists, True),
    "matchRegex": (_match_regex, False),
    "notMatchRegex": (_match_regex, True),
    "contains": (_contains, False),
    "notContains": (_contains, True),
    "isSubset": (_is_subset, False),
    "lengthEqual": (_length_equal, False),
    "isKind": (_is_kind, False),
    "hasDocuments": (_has_documents, False),
    "matchRegexRaw": (_match_regex_raw, False),
}
FAILURE_ASSERTIONS = {"failedTemplate", "notFailedTemplate"}


def render(values: dict[str, Any], release: dict[str, Any]) -> Rendered:
    try:
        files = render_files(values, release=release["name"], namespace=release["namespace"])
    except (helm.HelmRenderError, helm.HelmValuesError) as error:
        return Rendered(error=str(error))
    rendered = Rendered()
    for name, text in files.items():
        if name == "templates/NOTES.txt":
            rendered.notes = text
        else:
            rendered.documents[name] = [d for d in yaml.safe_load_all(text) if d is not None]
    return rendered


def _check(assertion: dict[str, Any], rendered: Rendered, templates: list[str]) -> list[str]:
    unknown = set(assertion) - ASSERT_OPTIONS - set(ASSERTIONS) - FAILURE_ASSERTIONS
    kinds = set(assertion) - ASSERT_OPTIONS
    if unknown or len(kinds) != 1:
        raise SuiteError(
            f"assertion {assertion!r}: need exactly one of {sorted(ASSERTIONS) + sorted(FAILURE_ASSERTIONS)}"
        )
    (kind,) = kinds
    params = assertion[kind] or {}
    negate = bool(assertion.get("not"))
    if kind in FAILURE_ASSERTIONS:
        expect_failure = (kind == "failedTemplate") != negate
        if rendered.error is None:
            return ["the chart rendered, expected a failure"] if expect_failure else []
        if not expect_failure:
            return [f"the chart failed to render: {rendered.error}"]
        pattern = params.get("errorPattern")
        if pattern is not None and not re.search(pattern, rendered.error):
            return [f"the error does not match /{pattern}/: {rendered.error}"]
        return []
    if rendered.error is not None:
        return [f"the chart failed to render: {rendered.error}"]
    checker, named_negation = ASSERTIONS[kind]
    if kind == "matchRegexRaw":
        return checker(rendered.notes, params, negate != named_negation)
    if "template" in assertion:
        templates = [_template_name(assertion["template"])]
    # Like helm-unittest, an assertion holds for each template in scope on its own.
    failures = []
    for template in templates:
        documents = _documents(rendered, template)
        if "documentIndex" in assertion:
            index = assertion["documentIndex"]
            if not isinstance(index, int) or not 0 <= index < len(documents):
                failures.append(f"{template}: no document {index!r} among {len(documents)}")
                continue
            documents = [documents[index]]
        if not documents and kind != "hasDocuments":
            failures.append(f"{template}: renders no documents")
            continue
        failures += [
            f"{template}: {failure}" for failure in checker(documents, params, negate != named_negation)
        ]
    return failures


@dataclass
class Result:
    suite: str
    test: str
    failures: list[str]


def run_suite(path: Path) -> list[Result]:
    suite = yaml.safe_load(path.read_text())
    if not isinstance(suite, dict) or set(suite) - SUITE_KEYS or "tests" not in suite:
        raise SuiteError(f"{path}: a suite has `tests` and only {sorted(SUITE_KEYS)}")

    def values_of(block: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for file in block.get("values", []):
            values = merge(values, yaml.safe_load((path.parent / file).read_text()) or {})
        return merge(values, set_values(block.get("set", {})))

    suite_values = values_of(suite)
    results = []
    for test in suite["tests"]:
        if set(test) - TEST_KEYS or "asserts" not in test:
            raise SuiteError(f"{path}: test {test.get('it')!r} has keys outside {sorted(TEST_KEYS)}")
        release = {**DEFAULT_RELEASE, **suite.get("release", {}), **test.get("release", {})}
        templates = [test["template"]] if "template" in test else suite.get("templates", [])
        rendered = render(merge(suite_values, values_of(test)), release)
        failures = [
            failure
            for assertion in test["asserts"]
            for failure in _check(assertion, rendered, [_template_name(t) for t in templates])
        ]
        results.append(Result(suite.get("suite", path.name), test["it"], failures))
    return results


def run_all(directory: Path = UNIT_TESTS) -> list[Result]:
    suites = sorted(directory.glob("*_test.yaml"))
    if not suites:
        raise SuiteError(f"no *_test.yaml suites in {directory}")
    return [result for suite in suites for result in run_suite(suite)]
