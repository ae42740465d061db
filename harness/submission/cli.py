"""``python -m harness submission``: build an MLPerf submission tree from runs, or check one.

Exit status: 0 every result is submittable; 1 the tree was written (or checked) but
some result is not; 2 bad input (nothing written).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from harness.submission.build import build_submission
from harness.submission.checker import check_tree
from harness.submission.inputs import SubmissionInputError, parse_select
from harness.submission.layout import DIVISIONS
from harness.submission.versions import CATEGORIES, NEWEST_FIRST, VersionError, get_version

EXIT_OK, EXIT_NOT_SUBMITTABLE, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness submission",
        description=(
            "Turn finished runs (folders holding results.json) into the tree MLPerf's submission checker "
            "expects, then check it: required scenarios, run length, query counts, seeds, early stopping, "
            "LoadGen errors, accuracy targets and hashes, dataset size, compliance tests, measurements and "
            "the system description. Prints one line per broken rule naming the result. With --check, "
            "checks an existing tree instead."),
        epilog="exit status: 0 all results submittable; 1 some are not (the tree is written anyway); 2 bad input "
               f"(nothing written). Rounds: {', '.join(NEWEST_FIRST)}.",
    )
    parser.add_argument("--from", dest="run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="run folders (each with results.json) to take results from; a case in several "
                             "is taken from the last")
    parser.add_argument("--check", type=Path, metavar="DIR", help="check an existing submission tree instead")
    parser.add_argument("--out", type=Path, help="new (or empty) folder for the submission tree")
    parser.add_argument("--submitter", help="submitting organisation (a folder name)")
    parser.add_argument("--system", help="system name (the systems/<system>.json and results/<system> folder)")
    parser.add_argument("--division", choices=DIVISIONS,
                        help="network: runs whose inference ran on SUT servers over the network (--mlperf-sut-url); "
                             "closed rules plus MLPerf's network rules, datacenter only")
    parser.add_argument("--version", help="checker round, e.g. v6.0; default: the newest that has every benchmark")
    parser.add_argument("--category", choices=CATEGORIES, metavar="CATEGORY",
                        help=f"system type, one of {', '.join(CATEGORIES)}; default: datacenter when the round has "
                             "every benchmark there, else edge")
    parser.add_argument("--originals", type=Path,
                        help="where the untruncated accuracy logs are kept (default: OUT.originals beside the tree)")
    parser.add_argument("--system-json", type=Path, metavar="FILE",
                        help="JSON object of system description fields that replace generated ones (fill the "
                             "TO FILL placeholders here)")
    parser.add_argument("--select", action="append", default=[], metavar="KEY=VALUE",
                        help="take only cases with this backend, device or precision (repeatable), when the "
                             "runs hold several implementations of one benchmark")
    return parser


def _print_report(report) -> None:
    for line in report.lines():
        print(line)


def run_check(args) -> int:
    if not args.check.is_dir():
        raise SubmissionInputError(f"--check {args.check}: not a folder")
    version = get_version(args.version) if args.version else None
    originals = args.originals
    if originals is None:
        default = args.check.with_name(args.check.name + ".originals")
        originals = default if default.is_dir() else None
    report = check_tree(args.check, version=version, originals=originals)
    _print_report(report)
    return EXIT_OK if report.all_submittable else EXIT_NOT_SUBMITTABLE


def run_build(args) -> int:
    missing = [opt for opt, value in (("--out", args.out), ("--submitter", args.submitter),
                                      ("--system", args.system), ("--division", args.division)) if value is None]
    if missing:
        raise SubmissionInputError(f"building a tree needs {', '.join(missing)} (see --help)")
    result = build_submission(
        args.run_dirs, args.out, submitter=args.submitter, system=args.system, division=args.division,
        version=args.version, category=args.category, originals=args.originals, system_json=args.system_json,
        select=parse_select(args.select))
    _print_report(result.report)
    if result.placeholders:
        print(f"system description fields to fill (TO FILL placeholders; give them with --system-json): "
              f"{', '.join(result.placeholders)}")
    print(f"tree written to {result.out}")
    return EXIT_OK if result.report.all_submittable else EXIT_NOT_SUBMITTABLE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: --help is 0, a bad option 2
        return int(exc.code or 0)
    try:
        if args.check is not None and args.run_dirs:
            raise SubmissionInputError("give either --from RUN_DIR... (build a tree) or --check DIR, not both")
        if args.check is not None:
            return run_check(args)
        if not args.run_dirs:
            raise SubmissionInputError("give --from RUN_DIR... to build a tree, or --check DIR to check one")
        return run_build(args)
    except (SubmissionInputError, VersionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
