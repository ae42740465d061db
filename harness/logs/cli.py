"""``python -m harness logs PATH...``: one JSON object per LoadGen run folder.

Exit status: 2 when a path does not exist, holds no run, or a log cannot be
read or parsed (a performance run's detail log cut off before LoadGen reported
its result is malformed, not INVALID); otherwise 1 when a performance run is
INVALID or its summary and detail log disagree; otherwise 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from harness.logs.detail import LogFormatError
from harness.logs.runs import find_runs, run_record

EXIT_OK, EXIT_FAILED_RUN, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness logs",
        description=(
            "Find every LoadGen run folder (a folder holding mlperf_log_detail.txt) under the "
            "given paths and print one JSON object per run, one per line, sorted by path: every "
            "effective_*, requested_* and result_* key the detail log holds (the common settings and "
            "results always, null where the run does not log them), num_errors and num_warnings "
            "(detail lines flagged is_error / is_warning), summary_num_warnings and warnings_differ "
            "(LoadGen's two warning counts may differ; reported, never an inconsistency), the parsed "
            "summary, is_performance, and whether the summary agrees with the detail log "
            "(consistent, inconsistencies)."
        ),
        epilog=(
            "exit status: 0 all runs fine; 1 a performance run is INVALID or inconsistent; "
            "2 a path is missing or holds no run, or a log is unreadable or malformed (including a "
            "performance run's detail log cut off before its result_validity line)."
        ),
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="a run folder, a folder above run folders, or a run's mlperf_log_detail.txt",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status = EXIT_OK
    runs = []
    for path in args.paths:
        try:
            found = find_runs([path])
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        if not found:
            print(f"error: no LoadGen run (mlperf_log_detail.txt) found under {path}", file=sys.stderr)
            status = EXIT_BAD_INPUT
        runs.extend(found)

    for run_dir in sorted(set(runs), key=str):
        try:
            record = run_record(run_dir)
        except LogFormatError as exc:
            print(f"error: malformed log: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        except OSError as exc:
            print(f"error: cannot read {run_dir}: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        print(json.dumps(record, sort_keys=True))
        if record["is_performance"] and not _performance_ok(record):
            status = max(status, EXIT_FAILED_RUN)
    if not runs and status == EXIT_OK:
        status = EXIT_BAD_INPUT
    return status


def _performance_ok(record: dict) -> bool:
    return record["result_validity"] == "VALID" and record["consistent"]


if __name__ == "__main__":
    sys.exit(main())
