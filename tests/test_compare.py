"""Nightly regression comparison: two results.json side by side (harness/compare.py)."""
from __future__ import annotations

import copy
import json
import math
import re

import pytest

from harness.compare import AccuracyChange, ComparisonError, NotCompared, compare, load_results

# The machine and versions blocks of a real full run (2-core CI VM), as results.json records them.
REAL_MACHINE = {
    "node": "vm", "system": "Linux", "release": "6.18.44-fc-v669", "machine": "x86_64",
    "processor": "", "cpu_count": 2, "python": "3.11.7",
}
REAL_VERSIONS = {
    "loadgen": "6.0.17",
    "frameworks": {"numpy": "2.4.6", "onnxruntime": "1.32.0", "opencv-python-headless": "5.0.0.93",
                   "pytest": "9.2.0"},
    "project_commit": "53f33cefa93d93a48f03814f5be65ea3a4341d1f",
}


def _real(case_id: str, scenario: str, mode: str, outcome: str = "passed", accuracy=None, performance=None,
          message=None) -> dict:
    model, backend, device, precision = case_id.split("-" + scenario)[0].rsplit("-", 3)
    return {"model": model, "backend": backend, "device": device, "precision": precision, "scenario": scenario,
            "mode": mode, "id": case_id, "outcome": outcome, "run_style": "test", "accuracy": accuracy,
            "performance": performance, "settings": {}, "message": message}


# A few cases of that run, their fields as written (log_dir, settings and provenance trimmed).
REAL_CASES = [
    _real("bert-99-onnxruntime-cpu-bf16-Offline-performance", "Offline", "performance", outcome="skipped",
          message="ONNX Runtime's CPU provider has no bf16 kernels for BERT's ops; use pytorch for bf16"),
    _real("llama2-70b-99-pytorch-cpu-bf16-Offline-performance", "Offline", "performance",
          performance={"result_validity": "VALID", "metric": "result_samples_per_second", "value": 92.6024,
                       "unit": "samples/s", "tokens_metric": "result_tokens_per_second",
                       "tokens_per_second": 3015.37}),
    _real("resnet50-onnxruntime-cpu-fp32-MultiStream-performance", "MultiStream", "performance",
          performance={"result_validity": "VALID", "metric": "early_stopping_latency_ms", "value": 15483082,
                       "unit": "ns"}),
    _real("resnet50-onnxruntime-cpu-fp32-Offline-accuracy", "Offline", "accuracy",
          accuracy={"metric": "top1", "value": 95.6, "reference": 95.6, "threshold": 94.64399999999999}),
    _real("resnet50-onnxruntime-cpu-fp32-Offline-performance", "Offline", "performance",
          performance={"result_validity": "VALID", "metric": "result_samples_per_second", "value": 10789.5,
                       "unit": "samples/s"}),
    _real("resnet50-onnxruntime-cpu-fp32-Server-performance", "Server", "performance",
          performance={"result_validity": "VALID", "metric": "result_completed_samples_per_sec",
                       "value": 249.866, "unit": "samples/s"}),
    _real("resnet50-onnxruntime-cpu-fp32-SingleStream-performance", "SingleStream", "performance",
          performance={"result_validity": "VALID", "metric": "early_stopping_latency_ss", "value": 222880,
                       "unit": "ns"}),
]


def real_document() -> dict:
    return {"cases": copy.deepcopy(REAL_CASES), "machine": dict(REAL_MACHINE),
            "versions": copy.deepcopy(REAL_VERSIONS)}


def perf(case_id: str, value, unit: str = "samples/s", outcome: str = "passed", **extra) -> dict:
    metric = {"samples/s": "result_samples_per_second", "ns": "early_stopping_latency_ss"}.get(unit, "figure")
    return {"id": case_id, "outcome": outcome, "run_style": "test", "accuracy": None,
            "performance": {"result_validity": "VALID", "metric": metric, "value": value, "unit": unit, **extra}}


def acc(case_id: str, value, metric: str = "top1", outcome: str = "passed", also=None) -> dict:
    block = {"metric": metric, "value": value, "reference": 95.6, "threshold": 94.644}
    if also is not None:
        block["also"] = also
    return {"id": case_id, "outcome": outcome, "run_style": "test", "accuracy": block, "performance": None}


def doc(*cases: dict, machine=None, versions=None) -> dict:
    return {"cases": list(cases), "machine": dict(machine or REAL_MACHINE),
            "versions": copy.deepcopy(versions or REAL_VERSIONS)}


OFFLINE = "resnet50-onnxruntime-cpu-fp32-Offline-performance"
SINGLE = "resnet50-onnxruntime-cpu-fp32-SingleStream-performance"
ACCURACY = "resnet50-onnxruntime-cpu-fp32-Offline-accuracy"


# ---------------------------------------------------------------- regressions and their direction

def test_an_inflated_baseline_makes_throughput_and_latency_regressions_in_the_right_direction():
    # the baseline claims more throughput and less latency than this run measured
    baseline = doc(perf(OFFLINE, 10_000), perf(SINGLE, 200_000, unit="ns"))
    current = doc(perf(OFFLINE, 9_100), perf(SINGLE, 250_000, unit="ns"))
    result = compare(baseline, current)
    by_id = {c.case_id: c for c in result.regressions}
    assert set(by_id) == {OFFLINE, SINGLE}
    assert by_id[OFFLINE].change_pct == pytest.approx(-9.0)  # lower throughput: a negative change, worse
    assert by_id[OFFLINE].worse_pct == pytest.approx(9.0)
    assert by_id[SINGLE].change_pct == pytest.approx(25.0)  # higher latency: a positive change, worse
    assert by_id[SINGLE].worse_pct == pytest.approx(25.0)
    assert (by_id[OFFLINE].baseline, by_id[OFFLINE].current) == (10_000, 9_100)
    assert result.improvements == [] and result.unchanged == []


def test_the_same_changes_the_other_way_round_are_improvements_not_regressions():
    # more throughput and less latency than the baseline: swapping the two documents above
    baseline = doc(perf(OFFLINE, 9_100), perf(SINGLE, 250_000, unit="ns"))
    current = doc(perf(OFFLINE, 10_000), perf(SINGLE, 200_000, unit="ns"))
    result = compare(baseline, current)
    assert result.regressions == []
    assert {c.case_id for c in result.improvements} == {OFFLINE, SINGLE}
    single = next(c for c in result.improvements if c.case_id == SINGLE)
    assert single.change_pct == pytest.approx(-20.0) and single.worse_pct == pytest.approx(-20.0)
    assert result.regression_for(OFFLINE) is None


def test_a_real_run_against_an_inflated_copy_of_itself():
    current = real_document()
    baseline = real_document()
    for case in baseline["cases"]:
        block = case["performance"]
        if block is None:
            continue
        # throughput 10% higher in the baseline, latency 10% lower: this run is worse everywhere
        block["value"] = block["value"] * (1.1 if block["unit"] == "samples/s" else 0.9)
        if "tokens_per_second" in block:
            block["tokens_per_second"] *= 1.1
    result = compare(baseline, current)
    regressed = {(c.case_id, c.unit) for c in result.regressions}
    assert regressed == {
        ("llama2-70b-99-pytorch-cpu-bf16-Offline-performance", "samples/s"),
        ("llama2-70b-99-pytorch-cpu-bf16-Offline-performance", "tokens/s"),
        ("resnet50-onnxruntime-cpu-fp32-MultiStream-performance", "ns"),
        ("resnet50-onnxruntime-cpu-fp32-Offline-performance", "samples/s"),
        ("resnet50-onnxruntime-cpu-fp32-Server-performance", "samples/s"),
        ("resnet50-onnxruntime-cpu-fp32-SingleStream-performance", "ns"),
    }
    for change in result.regressions:
        expected = -100 / 11 if change.unit in ("samples/s", "tokens/s") else 100 / 9  # 1/1.1 - 1, 1/0.9 - 1
        assert change.change_pct == pytest.approx(expected)
    # the skipped case is listed, not compared; the accuracy case is compared for accuracy only
    assert [n.case_id for n in result.not_compared] == ["bert-99-onnxruntime-cpu-bf16-Offline-performance"]
    assert [(a.case_id, a.change) for a in result.accuracy_changes] == [(ACCURACY, 0.0)]
    assert result.warnings == [] and result.only_in_baseline == [] and result.only_in_current == []
    assert result.regression_for(SINGLE) == (
        f"{SINGLE}: 0.223 ms against the baseline's 0.201 ms (+11.1%, worse than the 5% allowed)")


def test_a_real_run_against_itself_changes_nothing():
    result = compare(real_document(), real_document())
    assert result.regressions == [] and result.improvements == []
    assert len(result.unchanged) == 6  # five performance cases, the LLM's with tokens/s as well
    assert all(c.change_pct == 0 for c in result.unchanged)


# ---------------------------------------------------------------- the threshold

def test_a_change_within_the_threshold_is_not_a_regression():
    baseline = doc(perf(OFFLINE, 10_000), perf(SINGLE, 200_000, unit="ns"))
    current = doc(perf(OFFLINE, 9_600), perf(SINGLE, 208_000, unit="ns"))  # -4%, +4%
    result = compare(baseline, current)
    assert result.regressions == [] and result.improvements == []
    assert {c.case_id for c in result.unchanged} == {OFFLINE, SINGLE}


def test_exactly_at_the_threshold_is_allowed_and_just_beyond_it_is_not():
    baseline = doc(perf(OFFLINE, 10_000), perf(SINGLE, 200_000, unit="ns"))
    at = compare(baseline, doc(perf(OFFLINE, 9_500), perf(SINGLE, 210_000, unit="ns")))
    assert at.regressions == [] and len(at.unchanged) == 2
    beyond = compare(baseline, doc(perf(OFFLINE, 9_499), perf(SINGLE, 210_001, unit="ns")))
    assert {c.case_id for c in beyond.regressions} == {OFFLINE, SINGLE}


def test_exactly_at_the_threshold_holds_through_floating_point_rounding():
    # (0.315 - 0.3) * 100 / 0.3 is 5.000000000000004 in binary floating point
    assert (0.315 - 0.3) * 100 / 0.3 > 5
    result = compare(doc(perf("a", 0.3, unit="ms")), doc(perf("a", 0.315, unit="ms")))
    assert result.regressions == [] and [c.case_id for c in result.unchanged] == ["a"]


def test_the_threshold_is_the_callers():
    baseline, current = doc(perf(OFFLINE, 10_000)), doc(perf(OFFLINE, 9_100))
    assert compare(baseline, current, fail_pct=10).regressions == []
    assert len(compare(baseline, current, fail_pct=2.5).regressions) == 1
    # zero: any loss at all regresses, an equal figure does not
    assert len(compare(baseline, doc(perf(OFFLINE, 9_999)), fail_pct=0).regressions) == 1
    assert compare(baseline, doc(perf(OFFLINE, 10_000)), fail_pct=0).regressions == []


def test_improvements_use_the_same_band():
    baseline = doc(perf(OFFLINE, 10_000), perf("b", 10_000), perf("c", 10_000))
    current = doc(perf(OFFLINE, 10_400), perf("b", 10_500), perf("c", 10_501))
    result = compare(baseline, current)
    assert [c.case_id for c in result.improvements] == ["c"]
    assert {c.case_id for c in result.unchanged} == {OFFLINE, "b"}


@pytest.mark.parametrize("bad", [-1, -0.001, math.nan, math.inf, -math.inf, "5", None, True])
def test_a_threshold_that_is_negative_or_not_finite_is_refused(bad):
    with pytest.raises(ComparisonError, match=r"fail_pct .*expected a finite percentage >= 0, got"):
        compare(doc(perf(OFFLINE, 1)), doc(perf(OFFLINE, 1)), fail_pct=bad)


# ---------------------------------------------------------------- tokens/s

def test_an_llm_regressing_in_tokens_per_second_only_is_a_regression_on_that_figure():
    llm = "llama2-70b-99-pytorch-cpu-bf16-Offline-performance"
    extra = {"tokens_metric": "result_tokens_per_second"}
    baseline = doc(perf(llm, 92.6, tokens_per_second=3_300, **extra))
    current = doc(perf(llm, 92.6, tokens_per_second=3_000, **extra))
    result = compare(baseline, current)
    assert [(c.unit, c.metric) for c in result.regressions] == [("tokens/s", "result_tokens_per_second")]
    assert [c.unit for c in result.unchanged] == ["samples/s"]
    assert result.regression_for(llm) == (
        f"{llm}: 3,000 tokens/s against the baseline's 3,300 tokens/s (-9.1%, worse than the 5% allowed)")


def test_both_llm_figures_regressing_share_one_line():
    llm = "llama2-70b-99-pytorch-cpu-bf16-Offline-performance"
    result = compare(doc(perf(llm, 100, tokens_per_second=3_300)), doc(perf(llm, 90, tokens_per_second=3_000)))
    assert result.regression_for(llm) == (
        f"{llm}: 90 samples/s against the baseline's 100 samples/s (-10.0%, worse than the 5% allowed); "
        "3,000 tokens/s against the baseline's 3,300 tokens/s (-9.1%, worse than the 5% allowed)")


def test_tokens_per_second_on_one_side_only_is_warned_and_the_rest_compared():
    result = compare(doc(perf(OFFLINE, 100, tokens_per_second=3_000)), doc(perf(OFFLINE, 100)))
    assert [c.unit for c in result.unchanged] == ["samples/s"]
    assert result.warnings == [f"case {OFFLINE!r}: no tokens/s in this run; only its samples/s compared"]


# ---------------------------------------------------------------- accuracy

def test_accuracy_changes_are_reported_and_never_regressions():
    rouge = "llama2-70b-99-pytorch-cpu-fp32-Offline-accuracy"
    baseline = doc(acc(ACCURACY, 95.6), acc(rouge, 84.3, metric="rouge1",
                                            also=[{"metric": "rouge2", "value": 68.0}]))
    current = doc(acc(ACCURACY, 80.0), acc(rouge, 84.3, metric="rouge1",
                                           also=[{"metric": "rouge2", "value": 67.5}]))
    result = compare(baseline, current)
    assert result.regressions == [] and result.regression_for(ACCURACY) is None
    changes = {(a.case_id, a.metric): a for a in result.accuracy_changes}
    assert set(changes) == {(ACCURACY, "top1"), (rouge, "rouge1"), (rouge, "rouge2")}
    top1 = changes[(ACCURACY, "top1")]
    assert (top1.baseline, top1.current) == (95.6, 80.0) and top1.change == pytest.approx(-15.6)
    assert changes[(rouge, "rouge1")].change == 0
    assert changes[(rouge, "rouge2")].change == pytest.approx(-0.5)


def test_an_accuracy_that_could_not_be_computed_is_reported_without_a_change():
    result = compare(doc(acc(ACCURACY, 95.6)), doc(acc(ACCURACY, math.nan)))
    [change] = result.accuracy_changes
    assert change.case_id == ACCURACY and change.baseline == 95.6 and math.isnan(change.current)
    assert change.change is None


# ---------------------------------------------------------------- cases on one side, or not run

def test_cases_missing_from_either_side_are_listed_both_ways():
    baseline = doc(perf("a", 1), perf("b", 1), perf(OFFLINE, 1))
    current = doc(perf(OFFLINE, 1), perf("c", 1), perf("d", 1))
    result = compare(baseline, current)
    assert result.only_in_baseline == ["a", "b"]
    assert result.only_in_current == ["c", "d"]
    assert [c.case_id for c in result.unchanged] == [OFFLINE]


def test_skipped_or_failed_cases_are_listed_with_why_and_never_regressions():
    baseline = doc(perf("skipped-now", 10_000), perf("failed-before", 10_000, outcome="failed"),
                   perf("error-now", 10_000), perf(OFFLINE, 10_000))
    skipped = perf("skipped-now", None, outcome="skipped")
    skipped["performance"] = None
    skipped["message"] = "onnxruntime is not installed\n(second line not shown)"
    errored = perf("error-now", 1, outcome="error")
    errored["reason"] = "the child process was killed"
    current = doc(skipped, perf("failed-before", 1), errored, perf(OFFLINE, 10_000))
    result = compare(baseline, current)
    assert result.regressions == []
    assert result.not_compared == [
        NotCompared("error-now", "error in this run (the child process was killed)"),
        NotCompared("failed-before", "failed in the baseline"),
        NotCompared("skipped-now", "skipped in this run (onnxruntime is not installed)"),
    ]
    assert [c.case_id for c in result.unchanged] == [OFFLINE]


def test_a_passed_case_without_a_usable_figure_on_a_side_is_not_compared():
    no_block = perf("no-block", 1)
    no_block["performance"] = None
    result = compare(doc(perf("no-block", 1), perf("null-value", 5), perf("zero", 0)),
                     doc(no_block, perf("null-value", None), perf("zero", 5)))
    assert result.not_compared == [
        NotCompared("no-block", "no performance figure in this run"),
        NotCompared("null-value", "no samples/s figure in this run"),
        NotCompared("zero", "the baseline's samples/s figure is 0, so no change in percent"),
    ]
    assert result.regressions == result.improvements == result.unchanged == []


def test_a_unit_mismatch_is_refused_naming_the_case():
    with pytest.raises(ComparisonError, match=rf"case '{SINGLE}': the baseline's performance is in ms "
                                              r"but this run's in ns"):
        compare(doc(perf(SINGLE, 0.2, unit="ms")), doc(perf(SINGLE, 200_000, unit="ns")))


def test_a_different_metric_name_is_warned():
    changed = perf(OFFLINE, 10_000)
    changed["performance"]["metric"] = "result_completed_samples_per_sec"
    result = compare(doc(perf(OFFLINE, 10_000)), doc(changed))
    assert result.warnings == [f"case {OFFLINE!r}: performance.metric differs: the baseline's "
                               "'result_samples_per_second', this run's 'result_completed_samples_per_sec'"]


# ---------------------------------------------------------------- machine and versions

def test_a_different_machine_or_versions_are_warned_naming_field_and_values():
    machine = dict(REAL_MACHINE, cpu_count=8, processor="Xeon", node="ci-runner-17", release="6.19.1")
    versions = copy.deepcopy(REAL_VERSIONS)
    versions["loadgen"] = "5.1.0"
    versions["frameworks"]["onnxruntime"] = "1.31.0"
    del versions["frameworks"]["pytest"]
    versions["frameworks"]["openvino"] = "2025.1"
    versions["project_commit"] = "0" * 40
    baseline = doc(perf(OFFLINE, 1), machine=machine, versions=versions)
    result = compare(baseline, doc(perf(OFFLINE, 1)))
    assert result.warnings == [
        "machine.processor differs: the baseline's 'Xeon', this run's '' "
        "(a different machine: figures may not be comparable)",
        "machine.cpu_count differs: the baseline's 8, this run's 2 "
        "(a different machine: figures may not be comparable)",
        "versions.loadgen differs: the baseline's '5.1.0', this run's '6.0.17'",
        "versions.frameworks.onnxruntime differs: the baseline's '1.31.0', this run's '1.32.0'",
        "versions.frameworks.openvino differs: the baseline's '2025.1', this run's not installed",
        "versions.frameworks.pytest differs: the baseline's not installed, this run's '9.2.0'",
    ]
    # the hostname, the kernel release and the project commit differ too, and are not warned about
    assert not any(w.startswith(("machine.node", "machine.release", "versions.project_commit"))
                   for w in result.warnings)


def test_a_different_python_is_warned_as_software():
    result = compare(doc(machine=dict(REAL_MACHINE, python="3.12.1")), doc())
    assert result.warnings == ["machine.python differs: the baseline's '3.12.1', this run's '3.11.7'"]


def test_a_different_run_style_is_warned_once_with_a_count():
    valid = [perf(f"c{i}", 1) for i in range(3)]
    for case in valid:
        case["run_style"] = "valid"
    result = compare(doc(*valid), doc(*(perf(f"c{i}", 1) for i in range(3))))
    assert result.warnings == ["run_style differs: the baseline's 'valid', this run's 'test' (3 cases); "
                               "their settings differ, so their figures are not comparable"]


# ---------------------------------------------------------------- malformed files

def _write(tmp_path, content) -> str:
    path = tmp_path / "results.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_a_good_file_loads_as_written(tmp_path):
    path = _write(tmp_path, real_document())
    assert load_results(path) == real_document()


A = {"id": "a", "outcome": "passed"}


@pytest.mark.parametrize("content, field_text", [
    ("{not json", r"not JSON \(line 1, column 2"),
    ([], r"expected a JSON object at the top level, got list \[\]"),
    ({"machine": {}, "versions": {}}, r"field 'cases': expected a list of cases, got nothing"),
    ({"cases": {}, "machine": {}, "versions": {}}, r"field 'cases': expected a list of cases, got dict"),
    ({"cases": [], "versions": {}}, r"field 'machine': expected an object"),
    ({"cases": [], "machine": {}, "versions": {"frameworks": []}},
     r"field 'versions.frameworks': expected an object"),
    (doc({"outcome": "passed"}), r"cases\[0\]: field 'id': expected the case's id string, got nothing"),
    (doc(perf("a", 1), {"id": 7, "outcome": "passed"}),
     r"cases\[1\]: field 'id': expected the case's id string, got int 7"),
    (doc(perf("a", 1), perf("a", 2)), r"cases\[1\]: case 'a' appears twice"),
    (doc(dict(A, outcome="green")),
     r"case 'a': field 'outcome': expected one of passed, failed, skipped, error, got str 'green'"),
    (doc(dict(A, performance={"unit": "ns"})), r"case 'a': field 'performance.value' is missing"),
    (doc(dict(A, performance={"value": 3})), r"case 'a': field 'performance.unit' is missing"),
    (doc(perf("a", 1, unit="fps")),
     r"case 'a': field 'performance.unit': expected one of ms, ns, samples/s, tokens/s, got str 'fps'"),
    (doc(perf("a", "fast")),
     r"case 'a': field 'performance.value': expected a finite number >= 0 or null, got str 'fast'"),
    (doc(perf("a", -3)), r"case 'a': field 'performance.value': expected a finite number >= 0 or null, got int -3"),
    (doc(perf("a", 1, tokens_per_second=True)),
     r"case 'a': field 'performance.tokens_per_second': expected a finite number"),
    (doc(dict(A, performance=[1])), r"case 'a': field 'performance': expected an object or null"),
    (doc(dict(A, accuracy={"value": 1})), r"case 'a': field 'accuracy.metric': expected the metric's name"),
    (doc(dict(A, accuracy={"metric": "top1"})), r"case 'a': field 'accuracy.value' is missing"),
    (doc(acc("a", "95")), r"case 'a': field 'accuracy.value': expected a number or null, got str '95'"),
    (doc(acc("a", 95, also=[{"metric": "rouge2"}])), r"case 'a': field 'accuracy.also\[0\].value' is missing"),
])
def test_a_malformed_file_is_refused_naming_the_file_and_the_field(tmp_path, content, field_text):
    path = _write(tmp_path, content)
    with pytest.raises(ComparisonError) as info:
        load_results(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert re.search(field_text, message), message


def test_a_missing_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "nowhere" / "results.json"
    with pytest.raises(ComparisonError, match=rf"^{re.escape(str(path))}: cannot read the results file"):
        load_results(path)


def test_compare_checks_hand_made_documents_too_naming_the_side():
    with pytest.raises(ComparisonError, match=r"^current run: case 'a': field 'performance.value' is missing"):
        compare(doc(perf("a", 1)), doc({"id": "a", "outcome": "passed", "performance": {"unit": "ns"}}))
    with pytest.raises(ComparisonError, match=r"^baseline: field 'cases'"):
        compare({"machine": {}, "versions": {}}, doc())


# ---------------------------------------------------------------- the messages

def test_the_regression_message_reads_exactly_as_documented():
    result = compare(doc(perf(OFFLINE, 10_000)), doc(perf(OFFLINE, 9_100)))
    assert result.regression_for(OFFLINE) == (
        f"{OFFLINE}: 9,100 samples/s against the baseline's 10,000 samples/s (-9.0%, worse than the 5% allowed)")
    result = compare(doc(perf(SINGLE, 1_714_351, unit="ns")), doc(perf(SINGLE, 2_400_000, unit="ns")), fail_pct=2.5)
    assert result.regression_for(SINGLE) == (
        f"{SINGLE}: 2.4 ms against the baseline's 1.71 ms (+40.0%, worse than the 2.5% allowed)")


def test_a_change_that_rounds_to_the_threshold_shows_enough_digits_to_be_beyond_it():
    result = compare(doc(perf(OFFLINE, 10_000)), doc(perf(OFFLINE, 9_496)))
    assert result.regression_for(OFFLINE) == (
        f"{OFFLINE}: 9,496 samples/s against the baseline's 10,000 samples/s (-5.04%, worse than the 5% allowed)")


def test_the_terminal_summary():
    baseline = doc(perf(OFFLINE, 10_000), perf(SINGLE, 200_000, unit="ns"), perf("fast", 100), acc(ACCURACY, 95.6),
                   acc("same", 90.0), perf("gone", 1), perf("skipped", 1),
                   machine=dict(REAL_MACHINE, cpu_count=4))
    current = doc(perf(OFFLINE, 9_100), perf(SINGLE, 201_000, unit="ns"), perf("fast", 120), acc(ACCURACY, 95.0),
                  acc("same", 90.0), perf("new", 1), perf("skipped", 1, outcome="skipped"))
    assert compare(baseline, current).lines() == [
        "compared with the baseline (a figure more than 5% worse is a regression): 1 regression, 1 improvement, "
        "1 within 5%",
        f"REGRESSION {OFFLINE}: 9,100 samples/s against the baseline's 10,000 samples/s (-9.0%, worse than the 5% "
        "allowed)",
        "improved fast: 120 samples/s against the baseline's 100 samples/s (+20.0%)",
        f"accuracy {ACCURACY}: top1 95.6 -> 95 (-0.6)",
        "only in the baseline (1): gone",
        "only in this run (1): new",
        "not compared (1): skipped, failed or without a figure on a side (why: results.json's comparison.not_compared)",
        "warning: machine.cpu_count differs: the baseline's 4, this run's 2 (a different machine: figures may not be "
        "comparable)",
    ]


def test_the_terminal_summary_names_a_few_ids_of_a_long_list():
    result = compare(doc(*(perf(f"case{i}", 1) for i in range(8))), doc())
    assert result.lines()[1] == "only in the baseline (8): case0, case1, case2, case3, case4 and 3 more"


def test_to_json_is_plain_json_with_every_list():
    baseline = doc(perf(OFFLINE, 10_000), acc(ACCURACY, 95.6), perf("gone", 1))
    current = doc(perf(OFFLINE, 9_100), acc(ACCURACY, 95.0), perf("new", 1))
    block = json.loads(json.dumps(compare(baseline, current).to_json(), allow_nan=False))
    assert block["fail_pct"] == 5.0
    [regression] = block["regressions"]
    assert regression["case_id"] == OFFLINE and regression["unit"] == "samples/s"
    assert (regression["baseline"], regression["current"]) == (10_000, 9_100)
    assert regression["change_pct"] == pytest.approx(-9.0) and regression["worse_pct"] == pytest.approx(9.0)
    assert block["improvements"] == [] and block["unchanged"] == []
    [accuracy] = block["accuracy_changes"]
    assert accuracy["metric"] == "top1" and accuracy["change"] == pytest.approx(-0.6)
    assert block["only_in_baseline"] == ["gone"] and block["only_in_current"] == ["new"]
    assert block["not_compared"] == [] and block["warnings"] == []
    assert AccuracyChange(**accuracy).case_id == ACCURACY
