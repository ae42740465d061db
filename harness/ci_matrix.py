"""``python -m harness ci-matrix``: a CI job matrix of --mlperf-shard jobs, as JSON.

Prints one line, ``{"include": [{"shard": "1/3", "cases": 12, "expected_s": 340.0,
"pytest_args": "..."}, ...]}``, for GitHub Actions' ``strategy.matrix:
${{ fromJSON(...) }}``. The split is the one the pytest plugin makes
(harness.sharding.shard_cases over harness.matrix.build_cases), so each job's
``cases`` is what its ``pytest ... <pytest_args>`` collects, as long as the
job adds no -m/-k of its own (those narrow before the split).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from .matrix import AXES, SelectionError, axis_values, build_cases
from .registry import RegistryError, add_registry_dirs
from .registry.schema import DEFAULT_MODES
from .sharding import ShardError, expected_seconds, read_durations, shard_cases


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit status is 2 as well; the message names the command
        self.exit(2, f"ci-matrix: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness ci-matrix",
                     description="Print a CI job matrix (JSON) that splits the selected MLPerf cases into shards.")
    parser.add_argument("--shards", type=int, default=1, metavar="N", help="number of jobs (default 1)")
    parser.add_argument("--durations", metavar="FILE",
                        help="balance by the case durations in an earlier run's results.json (default: by count)")
    for axis in AXES:
        parser.add_argument(f"--{axis}", metavar="LIST",
                            help=f"only these {axis} values, comma-separated (as --mlperf-{axis})")
    parser.add_argument("--registry", action="append", default=[], metavar="DIR",
                        help="more benchmark families (as --mlperf-registry); repeatable")
    return parser


def _selection(args: argparse.Namespace) -> dict[str, list[str]]:
    vocabulary = axis_values()
    selection = {}
    for axis in AXES:
        text = getattr(args, axis)
        if text is None:
            continue
        values = [part.strip() for part in text.split(",")]
        if not all(values):
            raise SelectionError(f"--{axis} {text!r}: empty value; expected a comma-separated list of: "
                                 f"{', '.join(vocabulary[axis])}")
        selection[axis] = values
    if selection.get("mode") == ["all"]:  # as --mlperf-mode all: find-peak and the audits too
        selection["mode"] = list(vocabulary["mode"])
    return selection


def matrix(selection: dict[str, list[str]], shards: int, durations_path: str | None = None,
           registries: list[str] = ()) -> dict:
    """The ``{"include": [...]}`` document; SelectionError or ShardError on bad input."""
    if shards < 1:
        raise ShardError(f"--shards {shards}: expected a whole number >= 1")
    if durations_path is not None and not durations_path.strip():
        raise ShardError("--durations: empty path; expected an earlier run's results.json")
    durations = read_durations(durations_path) if durations_path is not None else None
    # What the plugin collects for the same options: without a mode, MLPerf's two run modes.
    cases = build_cases({"mode": list(DEFAULT_MODES), **selection})
    if not cases:
        chosen = ", ".join(f"{axis}={','.join(values)}" for axis, values in selection.items())
        raise SelectionError(f"no MLPerf case matches the selection ({chosen or 'everything'})")
    parts = shard_cases(cases, shards, durations)
    common = [word for axis, values in selection.items() for word in (f"--mlperf-{axis}", ",".join(values))]
    common += [word for folder in registries for word in ("--mlperf-registry", folder)]
    unsupported = {case.id for case in cases if case.unsupported}
    include = []
    for number, ids in enumerate(parts, start=1):
        words = [*common, "--mlperf-shard", f"{number}/{shards}"]
        if durations_path is not None:
            words += ["--mlperf-shard-durations", durations_path]
        include.append({
            "shard": f"{number}/{shards}",
            "cases": len(ids),
            # seconds the durations file's run spent on these cases; unknown without one
            "expected_s": round(expected_seconds(ids, durations, unsupported), 1) if durations is not None else None,
            "pytest_args": shlex.join(words),
        })
    return {"include": include}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.registry:
            add_registry_dirs([Path(folder).expanduser().resolve() for folder in args.registry])
        document = matrix(_selection(args), args.shards, args.durations, args.registry)
    except (SelectionError, ShardError, RegistryError) as exc:
        print(f"ci-matrix: {exc}", file=sys.stderr)
        return 2
    empty = [entry["shard"] for entry in document["include"] if entry["cases"] == 0]
    if empty:
        # Such a job collects nothing and pytest exits 5; fewer shards would not.
        print(f"ci-matrix: {len(empty)} of {args.shards} shards have no case (more shards than cases, or "
              f"an audit keeps its runs together): ask for fewer", file=sys.stderr)
        return 2
    print(json.dumps(document, separators=(",", ":")))  # one line: `echo "matrix=..." >> $GITHUB_OUTPUT`
    return 0
