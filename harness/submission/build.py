"""From finished runs to a checked submission tree: ``build_submission``.

All input is validated before the first file is written: the run folders and their
results.json, the output folders (never one that exists with something in it), the
names, the round, the selection, and that the division fits where the inference ran
(network.py: runs on SUT servers are network mode, which the closed division forbids and
the network division requires). Then the tree is written, checked with
``checker.check_tree`` (the same code ``--check`` runs), and the run-level problems
(run style, proxy models, missing cases) are added to the report.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.submission import network
from harness.submission.checker import check_tree
from harness.submission.inputs import SubmissionInputError, group_results, load_run
from harness.submission.layout import DIVISIONS, SubmissionLayout
from harness.submission.problems import Report
from harness.submission.system_desc import placeholder_fields
from harness.submission.versions import (
    CATEGORIES, NEWEST_FIRST, VERSIONS, Version, default_category, get_version, newest_version_for,
)
from harness.submission.writer import TreeSpec, write_tree

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass
class BuildResult:
    report: Report
    version: Version
    category: str
    out: Path
    originals: Path
    placeholders: list[str]  # system description fields still to fill


def default_originals(out: Path) -> Path:
    """Where the untruncated accuracy logs go: beside the tree, never in it."""
    out = Path(out)
    return out.with_name(out.name + ".originals")


def check_name(option: str, value: str) -> str:
    if not value or not _NAME.match(value) or value in (".", ".."):
        raise SubmissionInputError(f"{option} {value!r}: expected a folder name of letters, digits and . _ + - "
                                   "(it becomes a folder of the tree)")
    return value


def check_empty_output(option: str, path: Path) -> None:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SubmissionInputError(f"{option} {path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        raise SubmissionInputError(f"{option} {path}: exists and is not empty; give a new folder (nothing there "
                                   "is ever overwritten)")


def load_overrides(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionInputError(f"--system-json {path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SubmissionInputError(f"--system-json {path}: expected a JSON object of system description fields")
    return data


def build_submission(run_dirs: list[Path], out: Path, *, submitter: str, system: str, division: str,
                     version: str | None = None, category: str | None = None, originals: Path | None = None,
                     system_json: Path | None = None, select: dict | None = None) -> BuildResult:
    """Write and check the tree; raise ``SubmissionInputError`` (nothing written) on bad input."""
    if division not in DIVISIONS:
        raise SubmissionInputError(f"--division {division!r}: expected one of {', '.join(DIVISIONS)}")
    if category is not None and category not in CATEGORIES:
        raise SubmissionInputError(f"--category {category!r}: expected one of {', '.join(CATEGORIES)}")
    check_name("--submitter", submitter)
    check_name("--system", system)
    chosen = get_version(version) if version else None
    out, originals = Path(out), Path(originals) if originals else default_originals(Path(out))
    check_empty_output("--out", out)
    check_empty_output("--originals", originals)
    if originals.resolve() == out.resolve() or out.resolve() in originals.resolve().parents:
        raise SubmissionInputError(f"--originals {originals}: must lie outside --out {out} (the untruncated logs "
                                   "stay out of the submission)")
    runs = [load_run(Path(r)) for r in run_dirs]
    if not runs:
        raise SubmissionInputError("--from: give at least one run folder")
    overrides = load_overrides(system_json)
    results, notes = group_results(runs, select or {})
    if not results:
        raise SubmissionInputError(f"--from {' '.join(map(str, run_dirs))}: no accuracy, performance or compliance "
                                   "case with logs (all skipped, or filtered out by --select)")
    category = _network_division_rules(results, division, category)
    models = {r.model for r in results.values()}
    # A model no round knows (a custom family) is reported per result, not a reason to stop.
    known = {m for m in models if any(v.official_name(m) for v in VERSIONS.values())}
    chosen = chosen or (newest_version_for(known) if known else VERSIONS[NEWEST_FIRST[0]])
    benchmarks = {chosen.official_name(m) for m in models if chosen.official_name(m)}
    category = category or default_category(chosen, benchmarks)

    spec = TreeSpec(out, originals, division, submitter, system, chosen, category, overrides)
    written = write_tree(spec, runs, results)
    report = check_tree(out, version=chosen, originals=originals)
    for scope, rule, message in written.problems:
        report.add(scope, rule, message)
    report.notes = notes + written.notes + report.notes
    report.notes.append(f"round {chosen.name}, category {category}, division {division}")
    report.notes.append(f"untruncated accuracy logs kept in {originals} (keep them; the check verifies hashes "
                        "against them)")
    layout = SubmissionLayout(out, division, submitter, chosen.layout)
    report.notes.append(f"{layout.code_dir() / 'README.md'} and {layout.documentation_dir() / 'calibration.md'} "
                        "may hold TO FILL lines to complete by hand")
    return BuildResult(report, chosen, category, out, originals, placeholder_fields(written.description))


def _network_division_rules(results: dict, division: str, category: str | None) -> str | None:
    """Refuse a division the runs cannot be in; the network division's category.

    A system is in network mode or not: its results all ran on SUT servers over the
    network, or none did. Network mode is forbidden in the closed division and required
    in the network division, which has the datacenter suite only.
    """
    cases = [case for result in results.values() for case in result.cases()]
    remote = [c for c in cases if network.servers_of(c.record)]
    local = [c for c in cases if not network.servers_of(c.record)]
    if remote and local:
        raise SubmissionInputError(
            f"case {remote[0].id} ran its inference on SUT servers over the network, case {local[0].id} ran it "
            "where LoadGen ran: one system is either in network mode or not; build a submission from each kind "
            "of run separately (another --system), or give only one kind with --from")
    if remote and division == "closed":
        urls = ", ".join(str(s.get("url")) for s in network.collect_servers([c.record for c in remote]))
        raise SubmissionInputError(
            f"--division closed: the runs' inference ran on SUT servers over the network ({urls}), and MLPerf's "
            "closed division forbids network mode; use --division network (closed rules plus the network ones) "
            "or --division open")
    if division == network.DIVISION:
        if not remote:
            raise SubmissionInputError("--division network: the runs' inference ran where LoadGen ran; the network "
                                       "division is for runs on SUT servers over the network (--mlperf-sut-url)")
        if category not in (None, "datacenter"):
            raise SubmissionInputError(f"--category {category}: the network division has the datacenter suite "
                                       "only")
        return "datacenter"
    return category
