"""Reading finished runs (``RUN_DIR/results.json`` and its case folders) and grouping
their cases into submission results: one (model, scenario) each, holding its
performance case, its accuracy case and its compliance cases (TEST01/TEST04/TEST05/TEST06).

Every problem with the input is a ``SubmissionInputError`` naming the file, the case
and the field, raised before anything is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

REQUIRED_CASE_FIELDS = ("id", "model", "backend", "device", "precision", "scenario", "mode", "outcome", "log_dir")
RESULT_MODES = ("performance", "accuracy")
# TEST05 is v3.1's (rnnt); the suite runs none, but a TEST05 case given is taken
COMPLIANCE_MODES = ("TEST01", "TEST04", "TEST05", "TEST06")
SELECT_KEYS = ("backend", "device", "precision")


class SubmissionInputError(ValueError):
    """Bad input: a missing or malformed results.json, an ambiguous selection, a bad option."""


@dataclass
class Run:
    path: Path  # the RUN_DIR
    machine: dict
    versions: dict
    cases: list[dict]


@dataclass
class Case:
    record: dict
    run: Run

    id = property(lambda self: self.record["id"])
    model = property(lambda self: self.record["model"])
    backend = property(lambda self: self.record["backend"])
    device = property(lambda self: self.record["device"])
    precision = property(lambda self: self.record["precision"])
    scenario = property(lambda self: self.record["scenario"])
    mode = property(lambda self: self.record["mode"])
    outcome = property(lambda self: self.record["outcome"])
    run_style = property(lambda self: self.record.get("run_style"))

    @property
    def log_path(self) -> Path:
        """The case folder: log_dir as recorded, or ``RUN_DIR/<case-id>`` when the run
        folder was moved or copied since (log_dir is an absolute path)."""
        path = Path(self.record["log_dir"])
        path = path if path.is_absolute() else self.run.path / path
        moved = self.run.path / self.id
        return moved if not path.is_dir() and moved.is_dir() else path

    @property
    def implementation(self) -> str:
        return f"{self.backend}-{self.device}-{self.precision}"


@dataclass
class ResultInput:
    model: str
    scenario: str
    performance: Case | None = None
    accuracy: Case | None = None
    compliance: dict[str, Case] = field(default_factory=dict)
    errored: list[Case] = field(default_factory=list)  # cases that ended in error: no usable logs

    def cases(self) -> list[Case]:
        found = [c for c in (self.performance, self.accuracy) if c is not None]
        return found + [self.compliance[t] for t in sorted(self.compliance)]


def load_run(run_dir: Path) -> Run:
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    if not run_dir.is_dir():
        raise SubmissionInputError(f"--from {run_dir}: not a folder (expected a run folder holding results.json)")
    if not path.is_file():
        raise SubmissionInputError(f"--from {run_dir}: no results.json there (expected the folder a run "
                                   "of the suite wrote with --mlperf-output)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionInputError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        raise SubmissionInputError(f"{path}: expected an object with a 'cases' list")
    for index, case in enumerate(document["cases"]):
        if not isinstance(case, dict):
            raise SubmissionInputError(f"{path}: cases[{index}] is not an object")
        for name in REQUIRED_CASE_FIELDS:
            if not isinstance(case.get(name), str) or not case.get(name):
                raise SubmissionInputError(f"{path}: cases[{index}] ({case.get('id', '?')}) lacks the string "
                                           f"field {name!r}")
    machine = document.get("machine") if isinstance(document.get("machine"), dict) else {}
    versions = document.get("versions") if isinstance(document.get("versions"), dict) else {}
    return Run(run_dir, machine, versions, document["cases"])


def parse_select(items: list[str]) -> dict[str, str]:
    """``--select backend=onnxruntime`` (repeatable, or comma-separated) -> {"backend": "onnxruntime"}."""
    wanted: dict[str, str] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key not in SELECT_KEYS or not value:
                raise SubmissionInputError(f"--select {part!r}: expected KEY=VALUE with KEY one of "
                                           f"{', '.join(SELECT_KEYS)}")
            wanted[key] = value
    return wanted


def group_results(runs: list[Run], select: dict[str, str]) -> tuple[dict[tuple[str, str], ResultInput], list[str]]:
    """Results by (model, scenario), and notes on what was left out and why.

    A case id seen in several runs is taken from the last ``--from`` that has it. Two
    cases of one model, scenario and mode that differ in backend, device or precision
    are ambiguous (a system submits one implementation): a ``SubmissionInputError``
    that names them and the ``--select`` that would choose.
    """
    notes: list[str] = []
    by_id: dict[str, Case] = {}
    for run in runs:
        for record in run.cases:
            if any(record.get(k) != v for k, v in select.items()):
                continue
            if record["id"] in by_id:
                notes.append(f"case {record['id']} is in several runs; using the one in {run.path}")
            by_id[record["id"]] = Case(record, run)

    results: dict[tuple[str, str], ResultInput] = {}
    chosen: dict[tuple[str, str], Case] = {}
    skipped = 0
    for case_id in sorted(by_id):
        case = by_id[case_id]
        mode = case.mode
        if case.outcome == "skipped":
            skipped += 1
            continue
        if mode not in RESULT_MODES + COMPLIANCE_MODES:
            notes.append(f"case {case_id}: mode {mode!r} is not part of a submission; left out")
            continue
        # One result is one implementation: its performance, accuracy and compliance
        # runs must all come from the same backend, device and precision.
        key = (case.model, case.scenario)
        other = chosen.get(key)
        if other is not None and other.implementation != case.implementation:
            raise SubmissionInputError(
                f"cases {other.id} and {case_id} are both {case.model} {case.scenario} runs of different "
                f"implementations ({other.implementation}, {case.implementation}); a system submits one: choose "
                f"with --select (e.g. --select backend={case.backend} --select precision={case.precision})")
        chosen[key] = case
        result = results.setdefault((case.model, case.scenario), ResultInput(case.model, case.scenario))
        if case.outcome == "error":
            result.errored.append(case)
        elif mode == "performance":
            result.performance = case
        elif mode == "accuracy":
            result.accuracy = case
        else:
            result.compliance[mode] = case
    if skipped:
        notes.append(f"{skipped} skipped cases left out (no logs)")
    return results, notes
