"""`python -m gitops_check check|fetch-crds`, run by `cargo xtask gitops`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import check, crds
from .problems import CheckError


def main() -> int:
    parser = argparse.ArgumentParser(prog="gitops_check", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="the repository root")
    tasks = parser.add_subparsers(dest="task", required=True)
    check_args = tasks.add_parser("check", help="check gitops/ offline")
    check_args.add_argument("--crds", type=Path, required=True, help="directory with the pinned CRD files")
    fetch_args = tasks.add_parser("fetch-crds", help="download the CRDs gitops/crds.lock pins")
    fetch_args.add_argument("dest", type=Path)
    args = parser.parse_args()

    root = args.root.resolve()
    try:
        if args.task == "fetch-crds":
            pins = crds.read_lock(root / "gitops" / "crds.lock")
            crds.fetch(pins, args.dest)
            print(f"gitops: {len(pins)} pinned CRDs written to {args.dest}")
            return 0
        problems = check.run(root, args.crds.resolve())
    except CheckError as error:
        print(f"gitops: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"gitops: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("gitops: every kustomization builds; every object, reference and chart value is valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
