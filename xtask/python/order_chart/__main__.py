"""`python -m order_chart <command>`: the steps behind `cargo xtask chart …`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from . import engine, registry, unittest, validate, values_doc
from .paths import CHART, SCENARIOS


def _values_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f", "--values", type=Path, action="append", default=[], help="a values file (repeatable)"
    )
    parser.add_argument("--set", action="append", default=[], help="a --set expression (repeatable)")


def _scenarios(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The values to check: those given, else every ci/*-values.yaml scenario."""
    if args.values or args.set:
        return {"given values": engine.user_values(args.values, args.set)}
    return {path.name: engine.user_values([path]) for path in sorted(SCENARIOS.glob("*-values.yaml"))}


def lint(args: argparse.Namespace) -> int:
    failed = False
    for scenario, values in _scenarios(args).items():
        problems = [
            f"helm lint (Kubernetes {version}): {finding}"
            for version in validate.kube_versions()
            for finding in engine.lint(values, kube_version=version)
        ]
        problems = problems or validate.all_problems(engine.render(values))
        for problem in problems:
            print(f"{scenario}: {problem}", file=sys.stderr)
        failed |= bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {scenario}")
    return int(failed)


def template(args: argparse.Namespace) -> int:
    manifests = engine.render(
        engine.user_values(args.values, args.set), release=args.release, namespace=args.namespace
    )
    for manifest in manifests:
        print(f"---\n# Source: {manifest.template}\n{yaml.safe_dump(manifest.obj, sort_keys=False)}", end="")
    problems = validate.all_problems(manifests)
    for problem in problems:
        print(problem, file=sys.stderr)
    return int(bool(problems))


def run_unittests(args: argparse.Namespace) -> int:
    results = unittest.run_all()
    for result in results:
        print(f"{'FAIL' if result.failures else 'ok  '} {result.suite} :: {result.test}")
        for failure in result.failures:
            print(f"       {failure}")
    failed = sum(bool(result.failures) for result in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return int(bool(failed))


def readme(args: argparse.Namespace) -> int:
    current, fresh = values_doc.updated_readme()
    if current == fresh:
        return 0
    if args.check:
        print(
            f"{CHART / 'README.md'}: the values table is stale; run `cargo xtask chart readme`",
            file=sys.stderr,
        )
        return 1
    (CHART / "README.md").write_text(fresh)
    print(f"updated {CHART / 'README.md'}")
    return 0


def package(args: argparse.Namespace) -> int:
    print(engine.package(args.destination))
    return 0


def push(args: argparse.Namespace) -> int:
    archive = engine.package(args.destination)
    metadata = engine.chart_metadata()
    reference = f"{args.remote.rstrip('/')}/{metadata['name']}:{metadata['version']}"
    if args.dry_run:
        print(f"would push {archive} as {reference}")
        return 0
    registry.push(archive, args.remote, plain_http=args.plain_http)
    # The digest is what a release signs and deploys by.
    digest = registry.resolve(reference, plain_http=args.plain_http)["digest"]
    print(f"pushed {reference}@{digest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cargo xtask chart", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    command = commands.add_parser(
        "lint", help="strict lint + validation of every ci/ scenario (or the given values)"
    )
    _values_options(command)
    command.set_defaults(run=lint)

    command = commands.add_parser("template", help="render like `helm template`, then validate every object")
    _values_options(command)
    command.add_argument("--release", default=engine.RELEASE)
    command.add_argument("--namespace", default=engine.NAMESPACE)
    command.set_defaults(run=template)

    command = commands.add_parser(
        "unittest", help="run the helm-unittest suites in charts/order-system/tests"
    )
    command.set_defaults(run=run_unittests)

    command = commands.add_parser("readme", help="regenerate the README's values table")
    command.add_argument("--check", action="store_true", help="fail if it is stale instead of writing it")
    command.set_defaults(run=readme)

    for name, run, help_text in [
        ("package", package, "`helm package` into --destination"),
        ("push", push, "package, then push to an OCI registry"),
    ]:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--destination", type=Path, default=CHART.parents[1] / "target" / "chart")
        command.set_defaults(run=run)
    command.add_argument("--remote", required=True, help="oci://host/path the chart goes under")
    command.add_argument("--plain-http", action="store_true", help="talk HTTP (a local registry)")
    command.add_argument("--dry-run", action="store_true", help="package and print the reference only")

    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except Exception as error:  # every failure ends as one readable line, not a traceback
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
