"""TEST04: no caching of results (compliance/TEST04 of mlcommons/inference).

The compliance run issues the same sample (index 3) for every query. An SUT
that caches would run it much faster than the real performance run, so
``verify_performance.py`` passes when the TEST04 score stays below the
performance run's x 1.10 (x 1.20 when the reference is a SingleStream score
<= 200000 or a MultiStream one <= 1600000). It reads the *summaries* line by
line: the scenario, the score (Offline ``Samples per second`` and Server
``Completed samples per second`` as printed; SingleStream and MultiStream
1e9 / the early-stopping percentile estimate), ``Result is`` (INVALID stops
it with TEST FAIL) and an ``N ERROR`` count (a warning). Its Server
target-latency comparison never fires (the pattern ``target_latency (ns)``
is a regex group and matches no summary line), so it is not reproduced.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.logs.detail import DETAIL_LOG_NAME
from harness.logs.summary import SummaryLog

from . import inputs
from .script_output import ScriptOutput
from .verdict import ComplianceError, ComplianceVerdict, figure

_ESTIMATE = {
    "SingleStream": re.compile(r"^early_stopping_(?:90|90\.0|99\.9)th_percentile_estimate$"),
    "MultiStream": re.compile(r"^early_stopping_(?:99|99\.0)th_percentile_estimate$"),
}
_THROUGHPUT = {"Offline": "samples_per_second", "Server": "completed_samples_per_second"}
_ERROR_COUNT = re.compile(r"^\d+ ERROR")


def _read(summary: SummaryLog, role: str, out: ScriptOutput) -> tuple[str, object] | None:
    """(scenario, score) as the script reads them, or None where it stops."""
    mode, score = "", 0
    for entry in summary.entries:
        if entry.key == "scenario":
            mode = entry.text
            continue
        if mode in _ESTIMATE and _ESTIMATE[mode].match(entry.key):
            score = _inverse(summary, entry)
            continue
        if _THROUGHPUT.get(mode) == entry.key:
            score = entry.text  # kept as printed: the script prints the string
            continue
        if entry.key == "result_is" and entry.text == "INVALID":
            out.exit(f"TEST FAIL: {role.capitalize()} results are invalid")
            return None
        if entry.key == "num_errors" and _ERROR_COUNT.match(entry.text):
            out.print(f"WARNING: {entry.text.split(' ', 1)[0]} ERROR reported in {role} results")
    return mode, score


def _inverse(summary: SummaryLog, entry) -> float:
    try:
        return 1e9 / float(entry.text)
    except (ValueError, ZeroDivisionError):
        raise ComplianceError(f"{summary.path}:{entry.line_no}: early-stopping estimate {entry.text!r} is not a "
                              f"positive latency in ns") from None


def threshold(scenario: str, reference: float) -> float:
    if (scenario == "SingleStream" and reference <= 200000) or (scenario == "MultiStream" and reference <= 1600000):
        return 0.20
    return 0.10


def verify_performance(reference: SummaryLog, test: SummaryLog) -> tuple[ScriptOutput, dict]:
    out = ScriptOutput()
    out.print("Verifying performance.")
    ref = _read(reference, "reference", out)
    if ref is None:
        return out, {}
    got = _read(test, "test", out)
    if got is None:
        return out, {}
    (ref_mode, ref_score), (test_mode, test_score) = ref, got
    if test_mode != ref_mode:
        out.exit("Test and reference scenarios do not match!")
        return out, {}
    out.print(f"reference score = {ref_score}")
    out.print(f"test score = {test_score}")
    allowed = threshold(ref_mode, float(ref_score))
    limit = float(ref_score) * (1 + allowed)
    out.print("TEST PASS" if float(test_score) < limit else "TEST FAIL: Test score invalid")
    return out, dict(scenario=ref_mode, reference=float(ref_score), test=float(test_score), threshold=allowed,
                     limit=limit)


def run(*, compliance_dir: Path, performance_dir: Path | None, out_dir: Path, model: str, scenario: str,
        audit_line: str) -> ComplianceVerdict:
    performance_dir = inputs.run_folder(performance_dir, "performance-mode run of the same case")
    reference = inputs.summary_log(performance_dir, "performance-mode run")
    test = inputs.summary_log(compliance_dir, "TEST04 compliance run")
    detail = inputs.log_file(compliance_dir, DETAIL_LOG_NAME, "TEST04 compliance run")
    out, info = verify_performance(reference, test)

    target = inputs.fresh_output(out_dir, "TEST04")
    written: list[Path] = []
    inputs.write_text(target / "verify_performance.txt", out.text(), written)
    inputs.copy_into(test.path, target / "performance" / "run_1", written)
    inputs.copy_into(detail, target / "performance" / "run_1", written)

    lines = [audit_line]
    if info:
        unit = "samples/s" if info["scenario"] in _THROUGHPUT else "1e9 / early-stopping latency (ns)"
        lines.append(
            f"performance: {info['scenario']} score {figure(info['test'])} {unit} with one sample issued for every "
            f"query (TEST04 run {test.path}) vs {figure(info['reference'])} (performance run {reference.path}); "
            f"rule: below reference x {1 + info['threshold']:.2f} = {figure(info['limit'])} (caching would make it "
            f"faster) -> "
            f"{'TEST PASS' if out.passed else 'TEST FAIL'}"
        )
    else:
        lines.append(f"performance: {out.stderr[-1].strip()}")
    lines.append(f"Performance check pass: {out.passed}")
    lines.append(f"TEST04 {'passed' if out.passed else 'failed'}")
    return ComplianceVerdict(test="TEST04", model=model, scenario=scenario, passed=out.passed,
                             checks={"performance": out.passed}, lines=lines, files=sorted(written), out_dir=target)
