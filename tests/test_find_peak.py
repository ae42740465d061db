"""The find-peak search on simulated systems: it brackets and bisects the edge within its run budget."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.case_run import CaseResult
from harness.matrix import Case
from harness.modes import find_peak as fp
from harness.options import RunOptions
from harness.settings import read_user_conf


class _Bench:
    conf_model = "resnet50"


def _case(scenario: str) -> Case:
    return Case("resnet50", "onnxruntime", "cpu", "fp32", scenario, "find-peak")


def _system(monkeypatch, scenario: str, capacity: float, calibrated: float, invalid_always: bool = False):
    """A system that sustains ``capacity`` QPS (Server) or answers in ``capacity`` ms (the streams)."""
    calls = []

    def fake_execute(case, bench, prov, options, log_dir, progress=None):
        assert case.mode == "performance"  # each attempt is a plain performance run
        Path(log_dir).mkdir(parents=True)
        if scenario == "Server":
            target = options.target_qps or calibrated
            valid = target <= capacity and not invalid_always
            effective = {"effective_target_qps": target}
            record = {"result_validity": "VALID" if valid else "INVALID", "result_completed_samples_per_sec": target}
        else:
            target = options.target_latency_ms or calibrated
            key = "requested_single_stream_expected_latency_ns" if scenario == "SingleStream" \
                else "requested_multi_stream_expected_latency_ns"
            effective = {key: target * 1e6}
            metric_key = fp.PERFORMANCE_METRICS[scenario][0]
            record = {"result_validity": "INVALID" if invalid_always else "VALID", metric_key: capacity * 1e6}
        calls.append(target)
        return CaseResult(case=case, log_dir=Path(log_dir), started=0.0, duration_s=0.0, child=None,
                          performance=record, effective=effective)

    monkeypatch.setattr(fp, "execute_case", fake_execute)
    return calls


def test_server_finds_the_highest_valid_qps_within_the_budget(monkeypatch, tmp_path):
    calls = _system(monkeypatch, "Server", capacity=1234.0, calibrated=300.0)
    result, search = fp.find_peak(_case("Server"), _Bench(), None, RunOptions(), tmp_path, max_runs=10)
    assert len(calls) <= 10
    assert search.best is not None and 1234.0 / (1 + fp.TOLERANCE) ** 2 <= search.best.target <= 1234.0
    assert result.performance["result_validity"] == "VALID" and not result.failures
    conf = read_user_conf(tmp_path / "user.conf")
    assert [(s.model, s.scenario, s.key) for s in conf] == [("resnet50", "Server", "target_qps")]
    assert float(conf[0].value) == pytest.approx(search.best.target, rel=1e-5)
    assert (tmp_path / fp.SEARCH_FILE).is_file()


def test_server_starting_above_capacity_searches_down(monkeypatch, tmp_path):
    calls = _system(monkeypatch, "Server", capacity=100.0, calibrated=5000.0)
    _, search = fp.find_peak(_case("Server"), _Bench(), None, RunOptions(), tmp_path, max_runs=12)
    assert calls[0] == 5000.0 and calls[1] < calls[0]
    assert search.best is not None and search.best.target <= 100.0


@pytest.mark.parametrize("scenario", ["SingleStream", "MultiStream"])
def test_a_stream_finds_the_lowest_target_latency_it_meets(monkeypatch, tmp_path, scenario):
    calls = _system(monkeypatch, scenario, capacity=2.0, calibrated=0.5)  # calibrated too optimistic
    _, search = fp.find_peak(_case(scenario), _Bench(), None, RunOptions(), tmp_path, max_runs=6)
    assert len(calls) <= 6
    # a run is met within TOLERANCE of its target, so the edge is found to within it from either side
    assert search.best is not None and 2.0 / (1 + fp.TOLERANCE) <= search.best.target <= 2.0 * (1 + fp.TOLERANCE) ** 2
    assert not search.attempts[0].feasible and "above the" in search.attempts[0].why
    conf = read_user_conf(tmp_path / "user.conf")
    assert conf[0].key == "target_latency" and float(conf[0].value) == pytest.approx(search.best.target, rel=1e-5)


def test_the_budget_bounds_the_runs(monkeypatch, tmp_path):
    calls = _system(monkeypatch, "Server", capacity=1e9, calibrated=10.0)  # never reaches the edge
    _, search = fp.find_peak(_case("Server"), _Bench(), None, RunOptions(), tmp_path, max_runs=4)
    assert len(calls) == len(search.attempts) == 4 and calls == [10.0, 20.0, 40.0, 80.0]


def test_no_valid_run_fails_the_case_naming_each_target(monkeypatch, tmp_path):
    _system(monkeypatch, "Server", capacity=1e9, calibrated=10.0, invalid_always=True)
    result, search = fp.find_peak(_case("Server"), _Bench(), None, RunOptions(), tmp_path, max_runs=3)
    assert search.best is None and not (tmp_path / "user.conf").exists()
    assert len(result.failures) == 1 and "none of 3 runs was VALID" in result.failures[0]
    assert "10 QPS: result INVALID" in result.failures[0]


def test_offline_and_a_budget_below_two_are_refused(tmp_path):
    with pytest.raises(fp.FindPeakError, match="not Offline"):
        fp.find_peak(_case("Offline"), _Bench(), None, RunOptions(), tmp_path)
    with pytest.raises(fp.FindPeakError, match="at least 2 runs"):
        fp.find_peak(_case("Server"), _Bench(), None, RunOptions(), tmp_path, max_runs=1)
