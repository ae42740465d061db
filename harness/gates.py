"""Qualification gates as data: the figures a machine must reach (``--mlperf-gate FILE``).

A gate file is TOML: one ``[[case]]`` table per gated case and nothing else.

.. code-block:: toml

    [[case]]
    id = "resnet50-onnxruntime-cpu-fp32-Offline-performance"
    min = 9000                      # samples/s: Offline and Server throughput

    [[case]]
    id = "resnet50-onnxruntime-cpu-fp32-SingleStream-performance"
    max = 2_000_000                 # ns: SingleStream and MultiStream latency
    unit = "ns"                     # optional; checked, never converted

    [[case]]
    id = "resnet50-onnxruntime-cpu-fp32-Offline-accuracy"
    metric = "accuracy"
    min = 75.5                      # in the accuracy metric's own units (top1 %, f1, ...)

Keys of a ``[[case]]`` table (any other key is refused):

``id``      required: a case id of the matrix, ``<model>-<backend>-<device>-<precision>-<scenario>-<mode>``.
``metric``  ``"performance"`` (the default: results.json's ``performance.value``) or ``"accuracy"``
            (``accuracy.value``, the metric the case is judged on; its ``also`` metrics are not gated).
            A ``-performance`` id takes a performance gate and an ``-accuracy`` id an accuracy gate:
            the other combination could never be measured, so it is refused when the file is read.
``min``     the lowest figure that meets the gate (inclusive); a number.
``max``     the highest figure that meets the gate (inclusive); a number. At least one of ``min``/``max``,
            and ``min <= max`` when both are given.
``unit``    performance gates only, optional: ``"samples/s"`` or ``"ns"``. Figures are never converted;
            the unit only guards against a bound written in the wrong one (ms for ns, say), so it must be
            the unit results.json reports for the case's scenario. Left out, it is that unit.

Each id appears once. An empty file, or one without ``[[case]]`` tables, is refused. Every problem is a
``GateError`` naming the file, the table (``[[case]] #N``, counted from 1 in file order) and the key.

A gated case meets its gate only when it ran, passed, recorded its figure, and that figure is within the
bounds; a performance figure also needs LoadGen's ``result_validity`` to be ``VALID``, because an INVALID
run did not hold the scenario's constraints and its figure does not mean what the bound means.
"""
from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .case_run import PERFORMANCE_METRICS
from .registry import AXIS_MODES
from .render.formatting import latency_ns
from .render.markdown_summary import md_cell

METRICS = ("performance", "accuracy")
CASE_KEYS = ("id", "metric", "min", "max", "unit")
# The units results.json reports performance in, by scenario (one source: what the records are built from).
SCENARIO_UNITS = {scenario: unit for scenario, (_, unit) in PERFORMANCE_METRICS.items()}
UNITS = tuple(sorted(set(SCENARIO_UNITS.values())))
OUTCOMES = ("met", "missed", "skipped", "failed", "not run")
RECORD_OUTCOMES = ("passed", "failed", "skipped", "error")
# How like a known id an unknown one must be to be offered as "did you mean": the ids share long
# prefixes, so difflib's default (0.6) would offer an unrelated case for almost any typo.
_SUGGESTION_CUTOFF = 0.8


class GateError(ValueError):
    """A gate file that cannot be used, a gated id the matrix lacks, or records that cannot be judged."""


# ---------------------------------------------------------------- the gate


@dataclass(frozen=True)
class GateCase:
    """One ``[[case]]`` table, checked."""
    id: str
    metric: str  # "performance" | "accuracy"
    min: float | None
    max: float | None
    unit: str | None  # performance: as given, or the scenario's; None for accuracy (and unknown scenarios)
    table: int  # its [[case]] number in the file, from 1

    @property
    def requirement(self) -> str:
        """``>= 9000 samples/s``, ``<= 2000000 ns (2.000 ms)``, ``accuracy >= 75.5``."""
        bounds = []
        if self.min is not None:
            bounds.append(f">= {_figure(self.min, self.unit)}")
        if self.max is not None:
            bounds.append(f"<= {_figure(self.max, self.unit)}")
        text = " and ".join(bounds)
        return f"accuracy {text}" if self.metric == "accuracy" else text


@dataclass(frozen=True)
class Gate:
    path: Path
    cases: tuple[GateCase, ...]

    @property
    def ids(self) -> list[str]:
        """The gated case ids, in file order."""
        return [case.id for case in self.cases]

    def check_ids(self, known_ids: Iterable[str]) -> None:
        """Raise a GateError listing every gated id that ``known_ids`` (the matrix) lacks."""
        known = list(known_ids)
        known_set = set(known)
        unknown = [case for case in self.cases if case.id not in known_set]
        if not unknown:
            return
        entries = []
        for case in unknown:
            close = difflib.get_close_matches(case.id, known, n=1, cutoff=_SUGGESTION_CUTOFF)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            entries.append(f"{case.id!r} ([[case]] #{case.table}){hint}")
        raise GateError(f"{self.path}: {len(unknown)} gated case id{'s' if len(unknown) > 1 else ''} "
                        f"not in the matrix: {'; '.join(entries)}")

    def verdict(self, records: list[dict]) -> "GateVerdict":
        """Judge this session's case records (results.json's ``cases``) against every gated case."""
        by_id = _records_by_id(records)
        return GateVerdict(str(self.path), tuple(_judge(case, by_id.get(case.id)) for case in self.cases))


# ---------------------------------------------------------------- reading


def load_gate(path: str | Path) -> Gate:
    """Read and check a gate file (the schema is in this module's docstring)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GateError(f"{path}: cannot read the gate file: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GateError(f"{path}: not a TOML gate file (not UTF-8 text: {exc.reason})") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GateError(f"{path}: not valid TOML: {exc}") from exc
    return Gate(path, _parse_cases(document, str(path)))


def _parse_cases(document: dict, source: str) -> tuple[GateCase, ...]:
    extra = sorted(set(document) - {"case"})
    if extra:
        raise GateError(f"{source}: unknown top-level key {extra[0]!r}{_near(extra[0], ('case',))}; "
                        "expected only [[case]] tables")
    tables = document.get("case")
    if tables is None or tables == []:
        raise GateError(f"{source}: no [[case]] tables; a gate file needs at least one, each with an id "
                        "and min and/or max")
    if isinstance(tables, dict):
        raise GateError(f"{source}: key 'case': a single [case] table; expected [[case]] tables (double "
                        "brackets: an array of tables, one per gated case)")
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise GateError(f"{source}: key 'case': expected [[case]] tables (an array of tables), got "
                        f"{_kind(tables)}")
    cases: list[GateCase] = []
    first_table: dict[str, int] = {}
    for number, table in enumerate(tables, start=1):
        case = _parse_case(table, f"{source}: [[case]] #{number}", number)
        if case.id in first_table:
            raise GateError(f"{source}: [[case]] #{number}: key 'id': {case.id!r} is already gated by "
                            f"[[case]] #{first_table[case.id]}; each case id appears once")
        first_table[case.id] = number
        cases.append(case)
    return tuple(cases)


def _parse_case(table: dict, where: str, number: int) -> GateCase:
    case_id = table.get("id")
    named = isinstance(case_id, str) and bool(case_id.strip())
    if named:  # the id finds the table faster than its number does
        where = f"{where} (id {case_id!r})"
    for key in table:
        if key not in CASE_KEYS:
            raise GateError(f"{where}: unknown key {key!r}{_near(key, CASE_KEYS)}; "
                            f"expected only {', '.join(CASE_KEYS)}")
    if case_id is None:
        raise GateError(f"{where}: key 'id' is missing; expected the gated case's id")
    if not named:
        raise GateError(f"{where}: key 'id': expected a case id string, got {_kind(case_id)}")
    metric = table.get("metric", "performance")
    if metric not in METRICS:
        raise GateError(f"{where}: key 'metric': expected one of {', '.join(map(repr, METRICS))}, "
                        f"got {_kind(metric)}")
    low, high = (_bound(table, key, where) for key in ("min", "max"))
    if low is None and high is None:
        raise GateError(f"{where}: neither 'min' nor 'max'; expected at least one bound")
    if low is not None and high is not None and low > high:
        raise GateError(f"{where}: key 'min' ({_number(low)}) is greater than key 'max' ({_number(high)}); "
                        "no figure could meet both")
    mode, scenario = _mode_and_scenario(case_id)
    if mode is not None and mode != metric:
        raise GateError(f"{where}: key 'metric': the case runs in {mode} mode and records no {metric} "
                        f"figure; expected metric = {mode!r}" + (" (the default)" if mode == "performance" else ""))
    return GateCase(case_id, metric, low, high, _unit(table, metric, scenario, where), number)


def _bound(table: dict, key: str, where: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    # bool is an int to Python; `min = true` is a slip, not a bound
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GateError(f"{where}: key {key!r}: expected a finite number, got {_kind(value)}")
    return value


def _unit(table: dict, metric: str, scenario: str | None, where: str) -> str | None:
    given = table.get("unit")
    if metric == "accuracy":
        if given is not None:
            raise GateError(f"{where}: key 'unit': only performance gates have a unit; an accuracy gate's "
                            "bounds are in the accuracy metric's own units")
        return None
    expected = SCENARIO_UNITS.get(scenario) if scenario else None
    if given is None:
        return expected
    if given not in UNITS:
        raise GateError(f"{where}: key 'unit': expected one of {', '.join(map(repr, UNITS))} (the units "
                        f"results.json reports; figures are not converted), got {_kind(given)}")
    if expected is not None and given != expected:
        raise GateError(f"{where}: key 'unit': results.json reports {scenario} cases in {expected}, "
                        f"not {given}; write the bound in {expected}")
    return given


def _mode_and_scenario(case_id: str) -> tuple[str | None, str | None]:
    """The id's last two parts when they are a scenario and a mode; (None, None) for a malformed id,
    which check_ids then refuses as not in the matrix."""
    parts = case_id.rsplit("-", 2)
    if len(parts) == 3 and parts[1] in SCENARIO_UNITS and parts[2] in AXIS_MODES:
        return parts[2], parts[1]
    return None, None


# ---------------------------------------------------------------- judging


@dataclass(frozen=True)
class GateRow:
    """One gated case: what was required, what was measured, and the outcome."""
    id: str
    metric: str
    requirement: str
    measured: str  # "-" when nothing was measured
    outcome: str  # one of OUTCOMES
    why: str  # "" when met
    value: float | None = None  # the figure judged, in its recorded unit, when there was a finite one

    @property
    def met(self) -> bool:
        return self.outcome == "met"


@dataclass(frozen=True)
class GateVerdict:
    source: str  # the gate file
    rows: tuple[GateRow, ...]

    @property
    def passed(self) -> bool:
        return all(row.met for row in self.rows)

    def summary_line(self) -> str:
        """``gate gates.toml: FAILED, 2 of 3 cases met`` (a heading for lines())."""
        met = sum(row.met for row in self.rows)
        return (f"gate {self.source}: {'passed' if self.passed else 'FAILED'}, "
                f"{met} of {len(self.rows)} case{'s' if len(self.rows) != 1 else ''} met")

    def lines(self) -> list[str]:
        """One line per gated case, in file order, for the terminal."""
        out = []
        for row in self.rows:
            text = f"{row.outcome.upper():<7} {row.id}: requires {row.requirement}, measured {row.measured}"
            out.append(text + (f" ({row.why})" if row.why else ""))
        return out

    def to_json(self) -> dict:
        """The ``gate`` block for results.json."""
        return {
            "file": self.source,
            "passed": self.passed,
            "cases": [{"id": r.id, "metric": r.metric, "requirement": r.requirement, "measured": r.measured,
                       "value": r.value, "outcome": r.outcome, "why": r.why} for r in self.rows],
        }

    def markdown(self) -> str:
        """A section for summary.md: the verdict and one table row per gated case."""
        lines = [f"### Qualification gate: {'passed' if self.passed else 'FAILED'}", "",
                 md_cell(self.summary_line()), "",
                 "| case | required | measured | outcome | why |", "| --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(md_cell(cell) for cell in
                                    (r.id, r.requirement, r.measured, r.outcome, r.why or "-")) + " |"
                  for r in self.rows]
        return "\n".join(lines) + "\n"


def _records_by_id(records: list[dict]) -> dict[str, dict]:
    if not isinstance(records, list):
        raise GateError(f"records: expected a list of case records, got {_kind(records)}")
    by_id: dict[str, dict] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise GateError(f"records[{index}]: expected a case record (an object), got {_kind(record)}")
        case_id = record.get("id")
        if not isinstance(case_id, str) or not case_id:
            raise GateError(f"records[{index}]: field 'id': expected the case's id string, got {_kind(case_id)}")
        if case_id in by_id:
            raise GateError(f"records[{index}]: case {case_id!r} appears twice; a session records each case once")
        by_id[case_id] = record
    return by_id


def _judge(case: GateCase, record: dict | None) -> GateRow:
    def row(outcome: str, why: str, measured: str = "-", value: float | None = None) -> GateRow:
        return GateRow(case.id, case.metric, case.requirement, measured, outcome, why, value)

    if record is None:
        return row("not run", "the case did not run in this session (no record of it)")
    outcome = record.get("outcome")
    where = f"case {case.id!r}"
    if outcome not in RECORD_OUTCOMES:
        raise GateError(f"{where}: field 'outcome': expected one of {', '.join(RECORD_OUTCOMES)}, "
                        f"got {_kind(outcome)}")
    said = _first_line(record.get("reason") or record.get("message"))
    if outcome == "skipped":
        return row("skipped", f"skipped: {said}" if said else "skipped (no reason recorded)")
    if outcome != "passed":
        what = "failed" if outcome == "failed" else "errored in setup or teardown"
        return row("failed", f"the case {what}" + (f": {said}" if said else ""))
    if case.metric == "accuracy":
        return _judge_accuracy(case, record.get("accuracy"), where, row)
    return _judge_performance(case, record.get("performance"), where, row)


def _judge_accuracy(case: GateCase, acc: Any, where: str, row) -> GateRow:
    if acc is None:
        return row("missed", "the case passed but recorded no accuracy figure")
    if not isinstance(acc, dict):
        raise GateError(f"{where}: field 'accuracy': expected an object or null, got {_kind(acc)}")
    value = _recorded_number(acc, "accuracy", where)
    name = acc.get("metric") if isinstance(acc.get("metric"), str) and acc.get("metric") else "accuracy"
    if value is None or not math.isfinite(value):
        # NaN is what the suite records when a metric could not be computed
        return row("missed", f"no finite accuracy figure recorded ({name} is {value})",
                   f"{name} {'-' if value is None else value}")
    measured = f"{name} {_number(value, case.min, case.max)}"
    return _against_bounds(case, value, measured, None, row)


def _judge_performance(case: GateCase, perf: Any, where: str, row) -> GateRow:
    if perf is None:
        return row("missed", "the case passed but recorded no performance figure")
    if not isinstance(perf, dict):
        raise GateError(f"{where}: field 'performance': expected an object or null, got {_kind(perf)}")
    value = _recorded_number(perf, "performance", where)
    unit = perf.get("unit")
    if not isinstance(unit, str) or not unit:
        raise GateError(f"{where}: field 'performance.unit': expected the figure's unit, got {_kind(unit)}")
    if value is None or not math.isfinite(value):
        return row("missed", f"no finite performance figure recorded (performance.value is {value})")
    measured = _figure(value, unit, case.min, case.max)
    if case.unit is not None and unit != case.unit:
        return row("missed", f"the gate is in {case.unit} but results.json reports this case in {unit}; "
                             "figures are not converted", measured, value)
    validity = perf.get("result_validity")
    if validity != "VALID":
        return row("missed", f"LoadGen's result_validity is {validity!r}, not 'VALID': the run did not hold "
                             "the scenario's constraints, so its figure meets no gate",
                   f"{measured} ({validity or 'validity not recorded'})", value)
    return _against_bounds(case, value, measured, unit, row)


def _against_bounds(case: GateCase, value: float, measured: str, unit: str | None, row) -> GateRow:
    if case.min is not None and value < case.min:
        return row("missed", f"{_figure(value, unit, case.min)} is below the required minimum "
                             f"{_figure(case.min, unit)}", measured, value)
    if case.max is not None and value > case.max:
        return row("missed", f"{_figure(value, unit, case.max)} is above the allowed maximum "
                             f"{_figure(case.max, unit)}", measured, value)
    return row("met", "", measured, value)


def _recorded_number(block: dict, name: str, where: str) -> float | None:
    if "value" not in block:
        raise GateError(f"{where}: field '{name}.value' is missing; expected a number or null")
    value = block["value"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise GateError(f"{where}: field '{name}.value': expected a number or null, got {_kind(value)}")
    return value


# ---------------------------------------------------------------- text


def _number(value: float, *others: float | None) -> str:
    """Plain decimal text (no thousands separators: it reads back into a gate file), with as many
    digits as it takes not to print a figure that differs from a bound as that bound."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    whole_digits = len(str(int(abs(value))))
    for digits in range(max(6, whole_digits + 1), 18):
        text = f"{value:.{digits}g}"
        if all(other is None or other == value or float(text) != other for other in others):
            return text
    return repr(value)


def _figure(value: float, unit: str | None, *others: float | None) -> str:
    """``9000 samples/s``; a latency also in readable units, ``2000000 ns (2.000 ms)``."""
    text = _number(value, *others)
    if unit is None:
        return text
    if unit == "ns" and abs(value) >= 1e3:
        return f"{text} ns ({latency_ns(value)})"
    return f"{text} {unit}"


def _first_line(said: Any) -> str:
    text = str(said).strip() if said is not None else ""
    return text.splitlines()[0].strip() if text else ""


def _near(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind(value: Any) -> str:
    """What a bad value is, for an error message: its type and a short look at it."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}
    if value is None:
        return "nothing (null)"
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{names.get(type(value), type(value).__name__)} {shown}"
