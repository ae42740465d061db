"""Nightly regression comparison: this run's results.json against an earlier one.

``load_results`` reads and checks a results.json; ``compare`` puts two of them
side by side and returns a ``Comparison``: per case present in both runs, the
MLPerf performance figure (and, for LLMs, tokens/s) against the baseline's,
with a case more than ``fail_pct`` percent worse counted as a regression.
Accuracy changes are reported but never failed here: the accuracy gate already
judges every accuracy case against its MLPerf threshold, and a second,
relative verdict on the same number would only disagree with it.

Only what results.json records is compared; the LoadGen logs behind it are
not re-read, because a baseline's case folders are usually gone (another
machine, a cleaned CI workspace) while its results.json is kept.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OUTCOMES = ("passed", "failed", "skipped", "error")

# Whether a bigger figure is better, by unit. results.json records Offline and
# Server throughput in samples/s and SingleStream/MultiStream latency in ns;
# tokens/s comes with LLM throughput, ms is accepted for hand-made baselines.
HIGHER_IS_BETTER = {"samples/s": True, "tokens/s": True, "ns": False, "ms": False}

# The machine fields that make "a different machine", and so figures that are
# not comparable: the CPU architecture, the processor (its model, where the
# platform reports one, or a `cpu_model` a later results.json may add), the
# core count, and the operating system. Left out on purpose: `node` (the
# hostname: CI runners get a fresh name on identical hardware, and a warning
# every night trains people to ignore warnings) and `release` (kernel patch
# updates arrive routinely on the same hardware and are not what makes one
# machine's numbers another's). `python` is compared as a software version.
MACHINE_FIELDS = ("system", "machine", "processor", "cpu_model", "cpu_count")
# Software whose version moves the figures. `project_commit` is left out: it
# differs on every nightly by design, it is what is being measured.
MACHINE_SOFTWARE_FIELDS = ("python",)

_SHOWN_IDS = 5  # ids the terminal summary names before "and N more"


class ComparisonError(ValueError):
    """A results.json that cannot be compared, or a comparison asked for with bad settings."""


@dataclass(frozen=True)
class FigureChange:
    """One performance figure of one case, baseline against current."""
    case_id: str
    metric: str  # the LoadGen key, e.g. result_samples_per_second, result_tokens_per_second
    unit: str
    baseline: float
    current: float
    change_pct: float  # signed: (current - baseline) / baseline * 100
    worse_pct: float  # the same change with the sign that makes "worse" positive, per unit

    def text(self) -> str:
        """``9,100 samples/s against the baseline's 10,000 samples/s`` (the message's middle)."""
        return f"{_figure(self.current, self.unit)} against the baseline's {_figure(self.baseline, self.unit)}"


@dataclass(frozen=True)
class AccuracyChange:
    """One accuracy metric of one case, baseline against current (reported, never failed)."""
    case_id: str
    metric: str
    baseline: float | None
    current: float | None
    change: float | None  # current - baseline, in the metric's own units; None when either is missing


@dataclass(frozen=True)
class NotCompared:
    case_id: str
    why: str


@dataclass
class Comparison:
    fail_pct: float
    regressions: list[FigureChange] = field(default_factory=list)
    improvements: list[FigureChange] = field(default_factory=list)
    unchanged: list[FigureChange] = field(default_factory=list)
    accuracy_changes: list[AccuracyChange] = field(default_factory=list)
    only_in_baseline: list[str] = field(default_factory=list)
    only_in_current: list[str] = field(default_factory=list)
    not_compared: list[NotCompared] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def regression_for(self, case_id: str) -> str | None:
        """The one-line failure message for ``case_id``, or None when it did not regress.

        A case with two regressed figures (an LLM's samples/s and tokens/s)
        names both on the one line, separated by ``; ``.
        """
        parts = [
            f"{change.text()} ({_percent(change.change_pct, self.fail_pct)}, worse than the "
            f"{self.fail_pct:g}% allowed)"
            for change in self.regressions if change.case_id == case_id
        ]
        return f"{case_id}: " + "; ".join(parts) if parts else None

    def to_json(self) -> dict:
        """The ``comparison`` block for results.json: plain JSON types, figures in their recorded units."""
        return {
            "fail_pct": self.fail_pct,
            "regressions": [asdict(c) for c in self.regressions],
            "improvements": [asdict(c) for c in self.improvements],
            "unchanged": [asdict(c) for c in self.unchanged],
            "accuracy_changes": [asdict(c) for c in self.accuracy_changes],
            "only_in_baseline": list(self.only_in_baseline),
            "only_in_current": list(self.only_in_current),
            "not_compared": [asdict(c) for c in self.not_compared],
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        """A short plain-text summary for the terminal: every regression, counts for the rest."""
        out = [
            f"compared with the baseline (a figure more than {self.fail_pct:g}% worse is a regression): "
            f"{_count(len(self.regressions), 'regression')}, {_count(len(self.improvements), 'improvement')}, "
            f"{len(self.unchanged)} within {self.fail_pct:g}%"
        ]
        for case_id in _unique(c.case_id for c in self.regressions):
            out.append(f"REGRESSION {self.regression_for(case_id)}")
        for change in self.improvements:
            out.append(f"improved {change.case_id}: {change.text()} ({_percent(change.change_pct, self.fail_pct)})")
        for acc in self.accuracy_changes:
            if acc.change:  # the unchanged ones (0.0) and the unknown ones (None) stay in results.json
                out.append(f"accuracy {acc.case_id}: {acc.metric} {acc.baseline:g} -> {acc.current:g} "
                           f"({acc.change:+.4g})")
        if self.only_in_baseline:
            out.append(f"only in the baseline ({len(self.only_in_baseline)}): {_some(self.only_in_baseline)}")
        if self.only_in_current:
            out.append(f"only in this run ({len(self.only_in_current)}): {_some(self.only_in_current)}")
        if self.not_compared:
            out.append(f"not compared ({len(self.not_compared)}): skipped, failed or without a figure on a side "
                       "(why: results.json's comparison.not_compared)")
        out.extend(f"warning: {warning}" for warning in self.warnings)
        return out


# ---------------------------------------------------------------- reading

def load_results(path: str | Path) -> dict:
    """Read ``path`` as a results.json and check what the comparison relies on.

    Returns the parsed document unchanged. Any problem is a ComparisonError
    naming the file, the field (with the case's id where there is one) and
    what was expected.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ComparisonError(f"{path}: cannot read the results file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ComparisonError(f"{path}: not a results.json (not UTF-8 text: {exc.reason})") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ComparisonError(f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    validate_results(document, str(path))
    return document


def validate_results(document: Any, source: str) -> None:
    """Check a parsed results.json; ``source`` (a path, or "baseline") starts every error message.

    ``accuracy`` and ``performance`` may be absent as well as null (a case
    that produced neither); everything the comparison reads must have its type.
    """
    if not isinstance(document, dict):
        raise ComparisonError(f"{source}: expected a JSON object at the top level, got {_kind(document)}")
    cases = document.get("cases")
    if not isinstance(cases, list):
        raise ComparisonError(f"{source}: field 'cases': expected a list of cases, got {_kind(cases)}")
    for name in ("machine", "versions"):
        if not isinstance(document.get(name), dict):
            raise ComparisonError(f"{source}: field '{name}': expected an object, got {_kind(document.get(name))}")
    frameworks = document["versions"].get("frameworks", {})
    if not isinstance(frameworks, dict):
        raise ComparisonError(f"{source}: field 'versions.frameworks': expected an object of name: version, "
                              f"got {_kind(frameworks)}")
    seen: set[str] = set()
    for index, case in enumerate(cases):
        where = f"{source}: cases[{index}]"
        if not isinstance(case, dict):
            raise ComparisonError(f"{where}: expected a case object, got {_kind(case)}")
        case_id = case.get("id")
        if not isinstance(case_id, str) or not case_id:
            raise ComparisonError(f"{where}: field 'id': expected the case's id string, got {_kind(case_id)}")
        if case_id in seen:
            raise ComparisonError(f"{where}: case {case_id!r} appears twice; a results.json holds each case once")
        seen.add(case_id)
        where = f"{source}: case {case_id!r}"
        if case.get("outcome") not in OUTCOMES:
            raise ComparisonError(f"{where}: field 'outcome': expected one of {', '.join(OUTCOMES)}, "
                                  f"got {_kind(case.get('outcome'))}")
        _validate_performance(case.get("performance"), where)
        _validate_accuracy(case.get("accuracy"), where)


def _validate_performance(perf: Any, where: str) -> None:
    if perf is None:
        return
    if not isinstance(perf, dict):
        raise ComparisonError(f"{where}: field 'performance': expected an object or null, got {_kind(perf)}")
    for key in ("value", "unit"):
        if key not in perf:
            raise ComparisonError(f"{where}: field 'performance.{key}' is missing")
    unit = perf["unit"]
    if unit not in HIGHER_IS_BETTER:
        raise ComparisonError(f"{where}: field 'performance.unit': expected one of "
                              f"{', '.join(sorted(HIGHER_IS_BETTER))}, got {_kind(unit)}")
    # null is what the suite writes when LoadGen's log lacked the figure
    _check_figure(perf["value"], f"{where}: field 'performance.value'")
    if "tokens_per_second" in perf:
        _check_figure(perf["tokens_per_second"], f"{where}: field 'performance.tokens_per_second'")


def _check_figure(value: Any, where: str) -> None:
    if value is None:
        return
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ComparisonError(f"{where}: expected a finite number >= 0 or null, got {_kind(value)}")


def _validate_accuracy(acc: Any, where: str) -> None:
    if acc is None:
        return
    if not isinstance(acc, dict):
        raise ComparisonError(f"{where}: field 'accuracy': expected an object or null, got {_kind(acc)}")
    also = acc.get("also", [])
    if not isinstance(also, list):
        raise ComparisonError(f"{where}: field 'accuracy.also': expected a list, got {_kind(also)}")
    for label, entry in [("accuracy", acc)] + [(f"accuracy.also[{i}]", e) for i, e in enumerate(also)]:
        if not isinstance(entry, dict):
            raise ComparisonError(f"{where}: field '{label}': expected an object, got {_kind(entry)}")
        if not isinstance(entry.get("metric"), str) or not entry["metric"]:
            raise ComparisonError(f"{where}: field '{label}.metric': expected the metric's name, "
                                  f"got {_kind(entry.get('metric'))}")
        if "value" not in entry:
            raise ComparisonError(f"{where}: field '{label}.value' is missing")
        value = entry["value"]
        # NaN is allowed: the suite writes it when a metric could not be computed
        if value is not None and not _is_number(value):
            raise ComparisonError(f"{where}: field '{label}.value': expected a number or null, got {_kind(value)}")


# ---------------------------------------------------------------- comparing

def compare(baseline: dict, current: dict, fail_pct: float = 5.0) -> Comparison:
    """Compare ``current`` (this run) with ``baseline`` (an earlier run's results.json).

    A figure more than ``fail_pct`` percent worse than the baseline's is a
    regression; exactly ``fail_pct`` worse is not. One more than ``fail_pct``
    better is an improvement; the rest are unchanged (the band is the same
    both ways: a 1% gain is as much noise as a 1% loss).
    """
    if not _is_number(fail_pct) or not math.isfinite(fail_pct) or fail_pct < 0:
        raise ComparisonError(f"fail_pct (--mlperf-compare-fail): expected a finite percentage >= 0, "
                              f"got {fail_pct!r}")
    validate_results(baseline, "baseline")
    validate_results(current, "current run")
    fail_pct = float(fail_pct)

    base_cases = {case["id"]: case for case in baseline["cases"]}
    cur_cases = {case["id"]: case for case in current["cases"]}
    result = Comparison(
        fail_pct=fail_pct,
        only_in_baseline=sorted(base_cases.keys() - cur_cases.keys()),
        only_in_current=sorted(cur_cases.keys() - base_cases.keys()),
    )
    result.warnings.extend(_environment_warnings(baseline, current))
    run_styles: dict[tuple[Any, Any], int] = {}

    for case_id in sorted(base_cases.keys() & cur_cases.keys()):
        before, after = base_cases[case_id], cur_cases[case_id]
        styles = (before.get("run_style"), after.get("run_style"))
        if styles[0] != styles[1]:
            run_styles[styles] = run_styles.get(styles, 0) + 1
        why = _outcome_difference(before, after)
        if why is not None:
            result.not_compared.append(NotCompared(case_id, why))
            continue
        result.accuracy_changes.extend(_accuracy_changes(case_id, before.get("accuracy"), after.get("accuracy")))
        changes, why, notes = _performance_changes(case_id, before.get("performance"), after.get("performance"))
        result.warnings.extend(notes)
        if why is not None:
            result.not_compared.append(NotCompared(case_id, why))
        for change in changes:
            if _beyond(change.worse_pct, fail_pct):
                result.regressions.append(change)
            elif _beyond(-change.worse_pct, fail_pct):
                result.improvements.append(change)
            else:
                result.unchanged.append(change)

    for (was, now), count in sorted(run_styles.items(), key=str):
        result.warnings.append(f"run_style differs: the baseline's {was!r}, this run's {now!r} "
                               f"({_count(count, 'case')}); their settings differ, so their figures are not "
                               "comparable")
    return result


def _beyond(worse_pct: float, fail_pct: float) -> bool:
    """worse_pct > fail_pct, with exactly-at-the-threshold (give or take float rounding) counting as within.

    (9,500 - 10,000) / 10,000 * 100 can come out a hair beyond -5 in floating
    point; "5% allowed" has to allow a change that is 5% to the printed digit.
    """
    return worse_pct > fail_pct and not math.isclose(worse_pct, fail_pct, rel_tol=1e-9, abs_tol=1e-9)


def _outcome_difference(before: dict, after: dict) -> str | None:
    """Why a case is not compared because of how it ended on either side; None when both passed."""
    reasons = []
    for side, case in (("the baseline", before), ("this run", after)):
        if case["outcome"] != "passed":
            said = case.get("reason") or case.get("message")
            first_line = str(said).strip().splitlines()[0] if said and str(said).strip() else ""
            reasons.append(f"{case['outcome']} in {side}" + (f" ({first_line})" if first_line else ""))
    return "; ".join(reasons) if reasons else None


def _performance_changes(case_id: str, before: dict | None, after: dict | None):
    """(figure changes, why not compared or None, warnings) for one case that passed on both sides."""
    if before is None and after is None:
        return [], None, []  # an accuracy case: nothing to time
    if before is None or after is None:
        side = "the baseline" if before is None else "this run"
        return [], f"no performance figure in {side}", []
    if before["unit"] != after["unit"]:
        raise ComparisonError(f"case {case_id!r}: the baseline's performance is in {before['unit']} but this run's "
                              f"in {after['unit']}; figures in different units cannot be compared")
    notes = []
    if before.get("metric") != after.get("metric"):
        notes.append(f"case {case_id!r}: performance.metric differs: the baseline's {before.get('metric')!r}, "
                     f"this run's {after.get('metric')!r}")
    pairs = [(after.get("metric") or "value", before["unit"], before["value"], after["value"])]
    base_tokens, cur_tokens = before.get("tokens_per_second"), after.get("tokens_per_second")
    if base_tokens is not None and cur_tokens is not None:
        pairs.append((after.get("tokens_metric") or "tokens_per_second", "tokens/s", base_tokens, cur_tokens))
    elif base_tokens is not None or cur_tokens is not None:
        side = "the baseline" if base_tokens is None else "this run"
        notes.append(f"case {case_id!r}: no tokens/s in {side}; only its {before['unit']} compared")

    changes, missing = [], []
    for metric, unit, was, now in pairs:
        if was is None or now is None:
            missing.append(f"no {unit} figure in {'the baseline' if was is None else 'this run'}")
        elif was == 0:
            missing.append(f"the baseline's {unit} figure is 0, so no change in percent")
        else:
            change_pct = (now - was) * 100.0 / was
            worse_pct = -change_pct if HIGHER_IS_BETTER[unit] else change_pct
            changes.append(FigureChange(case_id, metric, unit, was, now, change_pct, worse_pct))
    return changes, ("; ".join(missing) or None), notes


def _accuracy_changes(case_id: str, before: dict | None, after: dict | None) -> list[AccuracyChange]:
    """One entry per accuracy metric both sides report (the headline one and its `also`)."""
    if before is None or after is None:
        return []
    was, now = _accuracy_values(before), _accuracy_values(after)
    changes = []
    for metric in [m for m in now if m in was]:
        a, b = was[metric], now[metric]
        known = a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
        changes.append(AccuracyChange(case_id, metric, a, b, (b - a) if known else None))
    return changes


def _accuracy_values(acc: dict) -> dict[str, float | None]:
    values = {acc["metric"]: acc["value"]}
    for entry in acc.get("also", []):
        values.setdefault(entry["metric"], entry["value"])
    return values


def _environment_warnings(baseline: dict, current: dict) -> list[str]:
    """A warning per machine field or software version that differs, naming it and both values."""
    pairs = [(f"machine.{name}", baseline["machine"].get(name), current["machine"].get(name))
             for name in MACHINE_FIELDS + MACHINE_SOFTWARE_FIELDS]
    pairs.append(("versions.loadgen", baseline["versions"].get("loadgen"), current["versions"].get("loadgen")))
    base_fw = baseline["versions"].get("frameworks", {})
    cur_fw = current["versions"].get("frameworks", {})
    pairs += [(f"versions.frameworks.{name}", base_fw.get(name), cur_fw.get(name))
              for name in sorted(base_fw.keys() | cur_fw.keys())]
    return [
        f"{name} differs: the baseline's {_shown(was, name)}, this run's {_shown(now, name)}"
        + (" (a different machine: figures may not be comparable)" if name.startswith("machine.")
           and name.removeprefix("machine.") in MACHINE_FIELDS else "")
        for name, was, now in pairs if was != now
    ]


# ---------------------------------------------------------------- text

def _figure(value: float, unit: str) -> str:
    """A figure as a person reads it; latency in ns is shown in ms, as the summary table shows it."""
    if unit == "ns":
        return f"{_number(value / 1e6)} ms"
    return f"{_number(value)} {unit}"


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _percent(change_pct: float, fail_pct: float) -> str:
    """Signed, one decimal; more where one decimal would print exactly the threshold that was passed.

    -5.04% shown as "-5.0%, worse than the 5% allowed" would read as a contradiction.
    """
    at_threshold = math.isclose(abs(change_pct), fail_pct, rel_tol=1e-9, abs_tol=1e-9)
    for decimals in range(1, 5):
        text = f"{change_pct:+.{decimals}f}%"
        if at_threshold or abs(float(text[:-1])) != fail_pct:
            break
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _some(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOWN_IDS])
    return shown + (f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else "")


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _shown(value: Any, name: str) -> str:
    if value is None:
        # results.json lists only the frameworks it found installed
        return "not installed" if name.startswith("versions.frameworks.") else "not recorded"
    return repr(value) if isinstance(value, str) else str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    """What was found instead, short enough for an error message."""
    if value is None:
        return "nothing (null or missing)"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def case_regression(baseline: dict, record: dict, fail_pct: float = 5.0) -> str | None:
    """The one-line failure of one case just run against the baseline's case of that id, or None.

    ``record`` is the case's results.json record as the run left it; a case
    the baseline lacks, or that did not pass, is never a regression here (the
    session's comparison lists it).
    """
    before = next((c for c in baseline.get("cases", []) if c.get("id") == record.get("id")), None)
    if before is None:
        return None
    current = {**record, "outcome": record.get("outcome") or "passed"}
    one = compare({"cases": [before], "machine": {}, "versions": {}},
                  {"cases": [current], "machine": {}, "versions": {}}, fail_pct)
    return one.regression_for(record["id"])
