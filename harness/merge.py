"""``python -m harness merge RUN_DIR... [--out DIR] [--allow-mixed]``: the shards of a matrix as one run.

Each RUN_DIR is one shard's --mlperf-output folder. Their results.json files
become one (``DIR/results.json``, contract 4 of design.md, plus
``merged_from``: the shards' folders), with report.html and summary.md
rendered beside it as a session renders its own.

Refused (exit 2), before anything is written: a case id in two shards (the
matrix was split twice, or a shard was given twice), an existing
``DIR/results.json`` (a merge never replaces a run), and shards from
different machines or software, unless ``--allow-mixed`` (then the
differences are recorded under ``mixed``). "Different machine" is what
--mlperf-compare calls one (harness/compare.py): every ``machine`` field but
``node`` and ``release``, because CI jobs run on runners with fresh hostnames
and patched kernels on identical hardware, and refusing those would make
every CI merge need --allow-mixed. The versions compared are LoadGen's, the
project's commit, and each framework that two shards both imported (a shard
records only the frameworks its own cases loaded).

Exit status: 0 merged and reported; 1 results.json written but the report
could not be; 2 bad input, nothing written.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .compare import ComparisonError, load_results
from .render import ReportInputError, write_report

RESULTS = "results.json"
# Fields that differ between identical CI runners (see the module docstring).
MACHINE_IGNORED = ("node", "release")
# Blocks about one shard's own session (its --mlperf-compare, its --mlperf-gate): not merged.
PER_SESSION = ("comparison", "gate")


class MergeError(ValueError):
    """Runs that cannot be merged, or a place the merge may not write."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"merge: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness merge",
                     description="Merge the results.json of several shard runs into one, with its report.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a shard's --mlperf-output folder")
    parser.add_argument("--out", metavar="DIR", help="where to write (default: a new folder under reports/)")
    parser.add_argument("--allow-mixed", action="store_true",
                        help="merge runs from different machines or versions, recording the differences")
    return parser


def load_runs(run_dirs: list[str | Path]) -> list[tuple[Path, dict]]:
    runs, seen = [], {}
    for given in run_dirs:
        folder = Path(given).expanduser().resolve()
        if folder in seen:
            raise MergeError(f"{given}: given twice (as {seen[folder]}); each shard's folder once")
        seen[folder] = given
        path = folder / RESULTS
        if not folder.is_dir():
            raise MergeError(f"{given}: not a folder; expected a run's --mlperf-output folder holding {RESULTS}")
        if not path.is_file():
            raise MergeError(f"{given}: no {RESULTS} in this folder; expected a finished run's --mlperf-output folder")
        try:
            runs.append((folder, load_results(path)))
        except ComparisonError as exc:
            raise MergeError(str(exc)) from None
    return runs


def _differences(runs: list[tuple[Path, dict]]) -> dict[str, dict[str, object]]:
    """Field ("machine.cpu_count", "versions.frameworks.torch") -> {run folder: value}, where runs disagree."""
    def field_values(pick) -> dict[str, object]:
        return {str(folder): pick(document) for folder, document in runs}

    fields: dict[str, dict[str, object]] = {}
    machine_keys = sorted({k for _, d in runs for k in d["machine"]} - set(MACHINE_IGNORED))
    for key in machine_keys:
        fields[f"machine.{key}"] = field_values(lambda d, key=key: d["machine"].get(key))
    for key in sorted({k for _, d in runs for k in d["versions"]} - {"frameworks"}):
        fields[f"versions.{key}"] = field_values(lambda d, key=key: d["versions"].get(key))
    frameworks = [d["versions"].get("frameworks") or {} for _, d in runs]
    for name in sorted({n for f in frameworks for n in f}):
        present = {str(folder): f[name] for (folder, _), f in zip(runs, frameworks) if name in f}
        if len(present) > 1:  # one shard alone importing a framework is no difference
            fields[f"versions.frameworks.{name}"] = present
    return {name: values for name, values in fields.items()
            if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1}


def _log_dir_here(case: dict, folder: Path) -> dict:
    """A shard's folder downloaded elsewhere (a CI artifact): log_dir names where the case folder is now."""
    log_dir = case.get("log_dir")
    if not isinstance(log_dir, str) or not log_dir or Path(log_dir).is_dir():
        return case
    moved = folder / Path(log_dir).name
    return {**case, "log_dir": str(moved)} if Path(log_dir).name and moved.is_dir() else case


def merge_documents(runs: list[tuple[Path, dict]], allow_mixed: bool = False) -> dict:
    owner: dict[str, Path] = {}
    cases = []
    for folder, document in runs:
        for case in document["cases"]:
            if case["id"] in owner:
                raise MergeError(f"case {case['id']!r} is in both {owner[case['id']]} and {folder}: "
                                 "a merged run holds each case once (were the shards of different splits, "
                                 "or one run given as two?)")
            owner[case["id"]] = folder
            cases.append(_log_dir_here(case, folder))
    mixed = _differences(runs)
    if mixed and not allow_mixed:
        lines = "; ".join(f"{name}: " + ", ".join(f"{run} has {value!r}" for run, value in values.items())
                          for name, values in mixed.items())
        raise MergeError(f"the runs differ in machine or versions ({lines}); their figures are not one run's: "
                         "merge runs of one machine type and commit, or pass --allow-mixed to merge anyway")
    first = runs[0][1]
    frameworks: dict[str, str] = {}
    for _, document in reversed(runs):  # the first run's version wins where --allow-mixed let them differ
        frameworks.update(document["versions"].get("frameworks") or {})
    merged = {
        "cases": sorted(cases, key=lambda case: case["id"]),
        "machine": dict(first["machine"]),
        "versions": {**first["versions"], "frameworks": dict(sorted(frameworks.items()))},
        "merged_from": [str(folder) for folder, _ in runs],
    }
    if mixed:
        merged["mixed"] = mixed
    return merged


def default_out_dir() -> Path:
    return Path.cwd() / "reports" / f"merged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def write_merged(document: dict, out_dir: Path) -> Path:
    """``out_dir/results.json``, created, never replacing one (a link fails where the name exists)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise MergeError(f"--out {out_dir}: this is a file; expected a folder (existing or to be created)")
    target = out_dir / RESULTS
    if target.exists():
        raise MergeError(f"--out {out_dir} already holds a {RESULTS}; a merge never replaces a run: "
                         "choose a new folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".{RESULTS}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
        try:
            os.link(tmp, target)  # whole file or none, and never over one that appeared meanwhile
        finally:
            tmp.unlink()
    except FileExistsError:
        raise MergeError(f"--out {out_dir}: a {RESULTS} appeared there while merging; not replaced") from None
    except OSError as exc:
        raise MergeError(f"--out {out_dir}: cannot write here ({exc.strerror or exc})") from None
    return target


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.out is not None and not args.out.strip():
        print("merge: --out: empty path; expected a folder", file=sys.stderr)
        return 2
    out_dir = Path(args.out).expanduser().resolve() if args.out else default_out_dir()
    try:
        if (out_dir / RESULTS).exists():  # before reading any run: nothing to do if it cannot be written
            raise MergeError(f"--out {out_dir} already holds a {RESULTS}; a merge never replaces a run: "
                             "choose a new folder")
        runs = load_runs(args.runs)
        document = merge_documents(runs, args.allow_mixed)
        results_path = write_merged(document, out_dir)
    except MergeError as exc:
        print(f"merge: {exc}", file=sys.stderr)
        return 2
    skipped = [name for name in PER_SESSION if any(name in d for _, d in runs)]
    if skipped:
        print(f"merge: not merged: each shard's own {' and '.join(skipped)} block (see its results.json)",
              file=sys.stderr)
    for name, values in document.get("mixed", {}).items():
        print(f"merge: mixed {name}: " + ", ".join(f"{run} {value!r}" for run, value in values.items()),
              file=sys.stderr)
    print(f"results: {results_path} ({len(document['cases'])} cases from {len(runs)} runs)")
    try:
        # The case folders stay in the shards' folders; their log_dir (re-pointed above if moved) finds them.
        html_path, md_path = write_report(document, out_dir, source=str(results_path), case_dirs_root=out_dir)
    except (ReportInputError, OSError) as exc:
        print(f"merge: report not written ({exc})", file=sys.stderr)
        return 1
    print(f"report: {html_path} (summary: {md_path})")
    return 0

