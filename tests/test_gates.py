"""Qualification gates as data (harness/gates.py): reading gate files and judging a session's records."""
from __future__ import annotations

import json
import re

import pytest

from harness.gates import GateError, load_gate

OFFLINE = "resnet50-onnxruntime-cpu-fp32-Offline-performance"
SINGLE = "resnet50-onnxruntime-cpu-fp32-SingleStream-performance"
ACCURACY = "resnet50-onnxruntime-cpu-fp32-Offline-accuracy"
SKIPPED = "bert-99-onnxruntime-cpu-bf16-Offline-performance"
BF16_REASON = "ONNX Runtime's CPU provider has no bf16 kernels for BERT's ops; use pytorch for bf16"


def _record(case_id: str, outcome: str = "passed", accuracy=None, performance=None, message=None) -> dict:
    """A results.json case record as reports.base_record/add_result write it (paths and settings trimmed)."""
    model, backend, device, precision, scenario, mode = case_id.rsplit("-", 5)
    return {"model": model, "backend": backend, "device": device, "precision": precision, "scenario": scenario,
            "mode": mode, "id": case_id, "outcome": outcome, "run_style": "test", "accuracy": accuracy,
            "performance": performance, "settings": {}, "duration_s": 12.5, "message": message}


def _throughput(value=10789.5, validity="VALID") -> dict:
    return {"result_validity": validity, "metric": "result_samples_per_second", "value": value, "unit": "samples/s"}


def _latency(value=222880, validity="VALID") -> dict:
    return {"result_validity": validity, "metric": "early_stopping_latency_ss", "value": value, "unit": "ns"}


def _top1(value=95.6) -> dict:
    return {"metric": "top1", "value": value, "reference": 95.6, "threshold": 94.64399999999999}


# Figures from a real full run on the 2-core CI VM.
REAL_RECORDS = [
    _record(OFFLINE, performance=_throughput()),
    _record(SINGLE, performance=_latency()),
    _record(ACCURACY, accuracy=_top1()),
    _record(SKIPPED, outcome="skipped", message=BF16_REASON),
]


@pytest.fixture
def write_gate(tmp_path):
    def write(text: str, name: str = "gate.toml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write


def _gate_text(*tables: str) -> str:
    return "\n".join(f"[[case]]\n{table}\n" for table in tables)


def _one(write_gate, body: str, records=REAL_RECORDS):
    """The single row of a one-case gate judged against ``records``."""
    verdict = load_gate(write_gate(_gate_text(body))).verdict(records)
    assert len(verdict.rows) == 1
    return verdict, verdict.rows[0]


# ---------------------------------------------------------------- reading a good file


def test_a_gate_lists_its_ids_in_file_order_with_their_units(write_gate):
    gate = load_gate(write_gate(_gate_text(
        f'id = "{SINGLE}"\nmax = 2_000_000', f'id = "{OFFLINE}"\nmin = 9000\nunit = "samples/s"',
        f'id = "{ACCURACY}"\nmetric = "accuracy"\nmin = 75.5')))
    assert gate.ids == [SINGLE, OFFLINE, ACCURACY]
    single, offline, accuracy = gate.cases
    assert (single.metric, single.unit, single.min, single.max, single.table) == ("performance", "ns", None, 2000000, 1)
    assert (offline.unit, offline.min) == ("samples/s", 9000)
    assert (accuracy.metric, accuracy.unit) == ("accuracy", None)
    assert offline.requirement == ">= 9000 samples/s"
    assert single.requirement == "<= 2000000 ns (2.000 ms)"
    assert accuracy.requirement == "accuracy >= 75.5"


def test_both_bounds_read_as_one_requirement(write_gate):
    gate = load_gate(write_gate(_gate_text(f'id = "{OFFLINE}"\nmin = 100\nmax = 200.5')))
    assert gate.cases[0].requirement == ">= 100 samples/s and <= 200.5 samples/s"


# ---------------------------------------------------------------- judging performance


def test_a_figure_the_machine_cannot_reach_fails_with_both_numbers(write_gate):
    verdict, row = _one(write_gate, f'id = "{OFFLINE}"\nmin = 1_000_000')
    assert not verdict.passed
    assert row.outcome == "missed"
    assert row.value == 10789.5
    assert "10789.5 samples/s" in row.why and "1000000 samples/s" in row.why and "below" in row.why
    (line,) = verdict.lines()
    assert line.startswith("MISSED") and OFFLINE in line
    assert "10789.5 samples/s" in line and ">= 1000000 samples/s" in line


@pytest.mark.parametrize("case_id, bounds, outcome", [
    # throughput, 10789.5 samples/s measured
    (OFFLINE, "min = 9000", "met"),
    (OFFLINE, "min = 10789.5", "met"),  # the bound itself meets it
    (OFFLINE, "min = 10790", "missed"),
    (OFFLINE, "max = 20000", "met"),
    (OFFLINE, "max = 10000", "missed"),
    (OFFLINE, "min = 10000\nmax = 11000", "met"),
    (OFFLINE, "min = 11000\nmax = 12000", "missed"),
    # latency, 222880 ns measured: lower is better, so the usual bound is a max
    (SINGLE, "max = 300_000", "met"),
    (SINGLE, "max = 222_880", "met"),
    (SINGLE, "max = 200_000", "missed"),
    (SINGLE, "min = 100_000", "met"),
    (SINGLE, "min = 300_000", "missed"),
])
def test_min_and_max_for_throughput_and_latency(write_gate, case_id, bounds, outcome):
    verdict, row = _one(write_gate, f'id = "{case_id}"\n{bounds}')
    assert row.outcome == outcome
    assert verdict.passed is (outcome == "met")
    assert (row.why == "") is (outcome == "met")


def test_a_latency_over_its_maximum_names_both_figures(write_gate):
    _, row = _one(write_gate, f'id = "{SINGLE}"\nmax = 200_000')
    assert row.why == "222880 ns (222.880 µs) is above the allowed maximum 200000 ns (200.000 µs)"
    assert row.measured == "222880 ns (222.880 µs)"


def test_a_figure_just_under_its_bound_is_not_printed_as_the_bound(write_gate):
    records = [_record(OFFLINE, performance=_throughput(value=8999.9999999))]
    _, row = _one(write_gate, f'id = "{OFFLINE}"\nmin = 9000', records)
    assert row.outcome == "missed"
    shown = re.search(r"^(\S+) samples/s is below", row.why).group(1)
    assert float(shown) != 9000 and float(shown) < 9000


@pytest.mark.parametrize("validity", ["INVALID", None])
def test_a_run_that_is_not_valid_meets_no_gate(write_gate, validity):
    records = [_record(OFFLINE, performance=_throughput(validity=validity))]
    verdict, row = _one(write_gate, f'id = "{OFFLINE}"\nmin = 9000', records)
    assert not verdict.passed
    assert row.outcome == "missed"
    assert row.value == 10789.5  # the figure would have met it; the validity is what fails
    assert "result_validity" in row.why and repr(validity) in row.why
    assert row.measured.startswith("10789.5 samples/s (")


def test_a_unit_that_differs_from_the_recorded_one_misses(write_gate):
    # Every scenario's unit is fixed, so this needs a record from a suite whose units changed.
    records = [_record(OFFLINE, performance={**_throughput(), "unit": "tokens/s"})]
    _, row = _one(write_gate, f'id = "{OFFLINE}"\nmin = 1', records)
    assert row.outcome == "missed"
    assert "samples/s" in row.why and "tokens/s" in row.why


@pytest.mark.parametrize("performance, said", [
    (None, "no performance figure"),
    (_throughput(value=None), "performance.value is None"),
    (_throughput(value=float("nan")), "performance.value is nan"),
])
def test_a_passed_case_without_a_figure_misses(write_gate, performance, said):
    records = [_record(OFFLINE, performance=performance)]
    verdict, row = _one(write_gate, f'id = "{OFFLINE}"\nmax = 1e12', records)
    assert not verdict.passed
    assert row.outcome == "missed" and said in row.why
    assert row.value is None


# ---------------------------------------------------------------- judging accuracy


@pytest.mark.parametrize("bounds, outcome", [
    ("min = 75.5", "met"), ("min = 95.6", "met"), ("min = 99", "missed"),
    ("max = 96", "met"), ("max = 90", "missed"),
])
def test_accuracy_gates_judge_the_accuracy_value(write_gate, bounds, outcome):
    verdict, row = _one(write_gate, f'id = "{ACCURACY}"\nmetric = "accuracy"\n{bounds}')
    assert row.outcome == outcome and verdict.passed is (outcome == "met")
    assert row.measured == "top1 95.6"
    assert row.value == 95.6


def test_an_accuracy_miss_names_both_numbers(write_gate):
    _, row = _one(write_gate, f'id = "{ACCURACY}"\nmetric = "accuracy"\nmin = 99')
    assert row.why == "95.6 is below the required minimum 99"
    assert row.requirement == "accuracy >= 99"


@pytest.mark.parametrize("accuracy, said", [(None, "no accuracy figure"), (_top1(float("nan")), "top1 is nan")])
def test_an_accuracy_case_without_a_finite_value_misses(write_gate, accuracy, said):
    records = [_record(ACCURACY, accuracy=accuracy)]
    _, row = _one(write_gate, f'id = "{ACCURACY}"\nmetric = "accuracy"\nmin = 0', records)
    assert row.outcome == "missed" and said in row.why


# ---------------------------------------------------------------- cases that did not pass


def test_a_skipped_gated_case_fails_the_gate_with_its_reason(write_gate):
    verdict, row = _one(write_gate, f'id = "{SKIPPED}"\nmin = 1')
    assert not verdict.passed
    assert row.outcome == "skipped"
    assert BF16_REASON in row.why
    assert BF16_REASON in verdict.lines()[0]


def test_a_skip_reason_field_is_preferred_to_the_message(write_gate):
    records = [{**_record(SKIPPED, outcome="skipped", message="line one\nline two"), "reason": "not on this CPU"}]
    _, row = _one(write_gate, f'id = "{SKIPPED}"\nmin = 1', records)
    assert row.why == "skipped: not on this CPU"


@pytest.mark.parametrize("outcome, said", [("failed", "failed"), ("error", "errored in setup or teardown")])
def test_a_case_that_failed_fails_the_gate_even_with_a_good_figure(write_gate, outcome, said):
    records = [_record(OFFLINE, outcome=outcome, performance=_throughput(), message="p99 latency too high\ndetail")]
    verdict, row = _one(write_gate, f'id = "{OFFLINE}"\nmin = 1', records)
    assert not verdict.passed
    assert row.outcome == "failed"
    assert row.why == f"the case {said}: p99 latency too high"


def test_a_gated_case_that_did_not_run_fails_the_gate(write_gate):
    verdict = load_gate(write_gate(_gate_text(f'id = "{OFFLINE}"\nmin = 1', f'id = "{SINGLE}"\nmax = 1e9'))).verdict(
        [_record(SINGLE, performance=_latency())])
    assert [row.outcome for row in verdict.rows] == ["not run", "met"]
    assert not verdict.passed
    assert verdict.summary_line().endswith("FAILED, 1 of 2 cases met")


def test_records_of_ungated_cases_do_not_count(write_gate):
    verdict, row = _one(write_gate, f'id = "{OFFLINE}"\nmin = 9000')
    assert verdict.passed and row.outcome == "met"
    assert verdict.source.endswith("gate.toml")
    assert verdict.summary_line() == f"gate {verdict.source}: passed, 1 of 1 case met"


# ---------------------------------------------------------------- ids the matrix lacks


def test_an_unknown_id_is_refused_and_the_near_one_suggested(write_gate):
    typo = "resnet50-onnxruntime-cpu-fp32-offline-performance"
    gate = load_gate(write_gate(_gate_text(f'id = "{OFFLINE}"\nmin = 1', f'id = "{typo}"\nmin = 1',
                                           'id = "no-such-thing"\nmin = 1')))
    with pytest.raises(GateError) as caught:
        gate.check_ids([OFFLINE, SINGLE, ACCURACY])
    message = str(caught.value)
    assert str(gate.path) in message and "2 gated case ids not in the matrix" in message
    assert f"{typo!r} ([[case]] #2) (did you mean {OFFLINE!r}?)" in message
    assert "'no-such-thing' ([[case]] #3)" in message
    assert "'no-such-thing' ([[case]] #3) (did you mean" not in message


def test_known_ids_pass_the_check(write_gate):
    gate = load_gate(write_gate(_gate_text(f'id = "{OFFLINE}"\nmin = 1')))
    assert gate.check_ids(iter([SINGLE, OFFLINE])) is None


# ---------------------------------------------------------------- malformed gate files


@pytest.mark.parametrize("text, expected", [
    ("", r"no \[\[case\]\] tables"),
    ("# nothing gated yet\n", r"no \[\[case\]\] tables"),
    ("case = []\n", r"no \[\[case\]\] tables"),
    (f'[case]\nid = "{OFFLINE}"\nmin = 1\n', r"key 'case': a single \[case\] table; expected \[\[case\]\]"),
    ("case = [1, 2]\n", r"key 'case': expected \[\[case\]\] tables .*got array \[1, 2\]"),
    (f'[[cases]]\nid = "{OFFLINE}"\nmin = 1\n', r"unknown top-level key 'cases' \(did you mean 'case'\?\)"),
    ("[[case]\n", r"not valid TOML: .*line 1"),
])
def test_a_file_without_usable_case_tables_is_refused(write_gate, text, expected):
    path = write_gate(text)
    with pytest.raises(GateError, match=expected) as caught:
        load_gate(path)
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize("second_table, expected", [
    ("min = 1", r"\[\[case\]\] #2: key 'id' is missing; expected the gated case's id"),
    ('id = ""\nmin = 1', r"\[\[case\]\] #2: key 'id': expected a case id string, got string ''"),
    ("id = 7\nmin = 1", r"\[\[case\]\] #2: key 'id': expected a case id string, got integer 7"),
    (f'id = "{SINGLE}"\nminimum = 1', r"#2 \(id '.*'\): unknown key 'minimum' \(did you mean 'min'\?\); "
                                      r"expected only id, metric, min, max, unit"),
    (f'id = "{SINGLE}"', r"#2 \(id '.*'\): neither 'min' nor 'max'; expected at least one bound"),
    (f'id = "{SINGLE}"\nmin = 5\nmax = 4', r"#2 .*key 'min' \(5\) is greater than key 'max' \(4\)"),
    (f'id = "{SINGLE}"\nmax = "2ms"', r"#2 .*key 'max': expected a finite number, got string '2ms'"),
    (f'id = "{SINGLE}"\nmax = true', r"#2 .*key 'max': expected a finite number, got boolean True"),
    (f'id = "{SINGLE}"\nmax = inf', r"#2 .*key 'max': expected a finite number, got number inf"),
    (f'id = "{SINGLE}"\nmin = nan', r"#2 .*key 'min': expected a finite number, got number nan"),
    (f'id = "{SINGLE}"\nmax = [1]', r"#2 .*key 'max': expected a finite number, got array \[1\]"),
    (f'id = "{OFFLINE}"\nmin = 2', rf"#2: key 'id': {OFFLINE!r} is already gated by \[\[case\]\] #1"),
    (f'id = "{SINGLE}"\nmax = 2\nmetric = "latency"',
     r"#2 .*key 'metric': expected one of 'performance', 'accuracy', got string 'latency'"),
    (f'id = "{SINGLE}"\nmax = 2\nunit = "ms"', r"#2 .*key 'unit': expected one of 'ns', 'samples/s'"),
    (f'id = "{SINGLE}"\nmax = 2\nunit = "samples/s"',
     r"#2 .*key 'unit': results.json reports SingleStream cases in ns, not samples/s"),
    (f'id = "{ACCURACY}"\nmin = 2\nmetric = "accuracy"\nunit = "ns"',
     r"#2 .*key 'unit': only performance gates have a unit"),
    (f'id = "{ACCURACY}"\nmin = 75',
     r"#2 .*key 'metric': the case runs in accuracy mode and records no performance figure; "
     r"expected metric = 'accuracy'"),
    (f'id = "{SINGLE}"\nmax = 2\nmetric = "accuracy"',
     r"#2 .*key 'metric': the case runs in performance mode and records no accuracy figure; "
     r"expected metric = 'performance' \(the default\)"),
])
def test_a_malformed_case_table_is_refused_naming_the_file_table_and_key(write_gate, second_table, expected):
    path = write_gate(_gate_text(f'id = "{OFFLINE}"\nmin = 1', second_table))
    with pytest.raises(GateError, match=expected) as caught:
        load_gate(path)
    assert str(caught.value).startswith(f"{path}: [[case]] #2")


def test_a_file_that_cannot_be_read_is_refused(tmp_path):
    missing = tmp_path / "absent.toml"
    with pytest.raises(GateError, match=re.escape(f"{missing}: cannot read the gate file")):
        load_gate(missing)
    binary = tmp_path / "gate.toml"
    binary.write_bytes(b"\xff\xfe[[case]]")
    with pytest.raises(GateError, match=re.escape(f"{binary}: not a TOML gate file (not UTF-8 text")):
        load_gate(binary)


def test_an_unrecognisable_id_is_left_for_the_matrix_check(write_gate):
    # No scenario and mode at its end: nothing to check a unit or metric against until check_ids.
    gate = load_gate(write_gate(_gate_text('id = "resnet50"\nmin = 1\nunit = "ns"')))
    assert gate.cases[0].unit == "ns"
    with pytest.raises(GateError, match="'resnet50'"):
        gate.check_ids([OFFLINE])


# ---------------------------------------------------------------- malformed records


@pytest.mark.parametrize("records, expected", [
    ([_record(OFFLINE, performance=_throughput(value="fast"))],
     rf"case {OFFLINE!r}: field 'performance.value': expected a number or null, got string 'fast'"),
    ([_record(OFFLINE, performance={"unit": "samples/s", "result_validity": "VALID"})],
     rf"case {OFFLINE!r}: field 'performance.value' is missing"),
    ([_record(OFFLINE, performance=[10789.5])], r"field 'performance': expected an object or null"),
    ([_record(OFFLINE, performance={**_throughput(), "unit": None})], r"field 'performance.unit'"),
    ([_record(OFFLINE, outcome="xpassed")], r"field 'outcome': expected one of passed, failed, skipped, error"),
    ([_record(OFFLINE), _record(OFFLINE)], rf"records\[1\]: case {OFFLINE!r} appears twice"),
    ([{"outcome": "passed"}], r"records\[0\]: field 'id': expected the case's id string"),
    (["oops"], r"records\[0\]: expected a case record"),
])
def test_records_that_cannot_be_judged_are_refused(write_gate, records, expected):
    gate = load_gate(write_gate(_gate_text(f'id = "{OFFLINE}"\nmin = 1')))
    with pytest.raises(GateError, match=expected):
        gate.verdict(records)


# ---------------------------------------------------------------- what the verdict hands on


def _mixed_verdict(write_gate):
    return load_gate(write_gate(_gate_text(
        f'id = "{OFFLINE}"\nmin = 9000', f'id = "{SINGLE}"\nmax = 200_000',
        f'id = "{ACCURACY}"\nmetric = "accuracy"\nmin = 75.5', f'id = "{SKIPPED}"\nmin = 1'))).verdict(REAL_RECORDS)


def test_the_terminal_gets_one_line_per_gated_case_in_file_order(write_gate):
    verdict = _mixed_verdict(write_gate)
    lines = verdict.lines()
    assert [line.split()[0] for line in lines] == ["MET", "MISSED", "MET", "SKIPPED"]
    assert [line.split()[1].rstrip(":") for line in lines] == [OFFLINE, SINGLE, ACCURACY, SKIPPED]
    assert verdict.summary_line().endswith("FAILED, 2 of 4 cases met")


def test_the_results_json_block_is_plain_json(write_gate):
    verdict = _mixed_verdict(write_gate)
    block = json.loads(json.dumps(verdict.to_json(), allow_nan=False))
    assert block["passed"] is False and block["file"] == verdict.source
    assert [c["outcome"] for c in block["cases"]] == ["met", "missed", "met", "skipped"]
    assert block["cases"][1] == {
        "id": SINGLE, "metric": "performance", "requirement": "<= 200000 ns (200.000 µs)",
        "measured": "222880 ns (222.880 µs)", "value": 222880, "outcome": "missed",
        "why": "222880 ns (222.880 µs) is above the allowed maximum 200000 ns (200.000 µs)",
    }
    assert block["cases"][3]["value"] is None and BF16_REASON in block["cases"][3]["why"]


def test_the_markdown_table_has_a_row_per_case_with_cells_escaped(write_gate):
    verdict = _mixed_verdict(write_gate)
    text = verdict.markdown()
    lines = text.splitlines()
    assert lines[0] == "### Qualification gate: FAILED"
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| case | required | measured | outcome | why |"
    assert len(table) == 2 + 4
    assert table[2] == f"| {OFFLINE} | &gt;= 9000 samples/s | 10789.5 samples/s | met | - |"
    # every row has exactly five cells: no reason text breaks the table
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 6 for row in table)


def test_a_pipe_in_a_skip_reason_stays_inside_its_cell(write_gate):
    records = [_record(SKIPPED, outcome="skipped", message="needs a|b")]
    verdict, _ = _one(write_gate, f'id = "{SKIPPED}"\nmin = 1', records)
    row = [line for line in verdict.markdown().splitlines() if line.startswith(f"| {SKIPPED}")][0]
    assert "needs a\\|b" in row and len(re.findall(r"(?<!\\)\|", row)) == 6
