"""python -m harness merge: the shards of a matrix as one run, refused where they are not one run's."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import merge

ROOT = Path(__file__).resolve().parents[1]
# Two cases run (the resnet50 proxy, accuracy only: seconds each) and two skip (no TPU): both kinds in each shard.
SELECTION = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-device", "cpu,tpu",
             "--mlperf-precision", "fp32", "--mlperf-scenario", "Offline,SingleStream", "--mlperf-mode", "accuracy")
MACHINE = {"node": "runner-1", "system": "Linux", "release": "6.1.0", "machine": "x86_64", "processor": "",
           "cpu_count": 4, "python": "3.11.7"}
VERSIONS = {"loadgen": "6.0.17", "frameworks": {"numpy": "2.4.6", "onnxruntime": "1.32.0"}, "project_commit": "abc123"}


def _merge_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "merge", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_a_merge_of_the_shards_is_the_unsharded_run(cached_suite, tmp_path):
    suite = cached_suite
    common = (*SELECTION, "--mlperf-cache", str(suite.cache_dir), "--mlperf-progress", "0")
    whole = suite.runpytest_subprocess("--collect-only", "-q", *common)
    assert whole.ret == 0
    unsharded = sorted(line.split("[", 1)[1].rstrip("]") for line in whole.outlines if "test_mlperf[" in line)
    assert len(unsharded) == 4
    shards = [tmp_path / "shard1", tmp_path / "shard2"]
    for index, out in enumerate(shards, start=1):
        result = suite.runpytest_subprocess(*common, "--mlperf-shard", f"{index}/2", "--mlperf-output", str(out))
        result.assert_outcomes(passed=1, skipped=1, deselected=2)  # the skips cost nothing: one real run each
    documents = [json.loads((out / "results.json").read_text()) for out in shards]
    shard_ids = [{case["id"] for case in document["cases"]} for document in documents]
    assert not shard_ids[0] & shard_ids[1]

    merged_dir = tmp_path / "merged"
    done = _merge_cli(*map(str, shards), "--out", str(merged_dir))
    assert done.returncode == 0, done.stderr
    assert f"results: {merged_dir / 'results.json'} (4 cases from 2 runs)" in done.stdout
    merged = json.loads((merged_dir / "results.json").read_text())
    assert [case["id"] for case in merged["cases"]] == unsharded
    assert merged["merged_from"] == [str(out) for out in shards]
    # every record exactly as its shard wrote it (its case folder is still where it says)
    by_id = {case["id"]: case for document in documents for case in document["cases"]}
    assert all(case == by_id[case["id"]] for case in merged["cases"])
    assert merged["machine"] == documents[0]["machine"]
    assert merged["versions"]["project_commit"] == documents[0]["versions"]["project_commit"]
    assert set(merged) == {"cases", "machine", "versions", "merged_from"}
    # the report beside it, as a session writes its own
    summary = (merged_dir / "summary.md").read_text()
    assert "**2 passed, 0 failed, 2 skipped, 0 error** of 4 cases" in summary
    page = (merged_dir / "report.html").read_text()
    assert all(case_id in page for case_id in unsharded)

    # merged again into the same folder: refused, the first merge left as it was
    before = (merged_dir / "results.json").read_bytes()
    again = _merge_cli(*map(str, shards), "--out", str(merged_dir))
    assert again.returncode == 2
    assert f"--out {merged_dir} already holds a results.json; a merge never replaces a run" in again.stderr
    assert (merged_dir / "results.json").read_bytes() == before


# ---------------------------------------------------------------- made-up runs, for the refusals

def _record(case_id: str, outcome: str = "passed", log_dir: str | None = None) -> dict:
    model, backend, device, precision, scenario, mode = case_id.split("-")
    return {"model": model, "backend": backend, "device": device, "precision": precision, "scenario": scenario,
            "mode": mode, "id": case_id, "log_dir": log_dir or f"/nowhere/{case_id}", "run_style": "test",
            "outcome": outcome, "dataset": "/data", "model_file": "/model.onnx",
            "accuracy": {"metric": "top1", "value": 95.6, "reference": 95.6, "threshold": 94.644},
            "performance": None, "settings": {}, "started": 1.0, "duration_s": 2.0, "message": None}


def _run_dir(path: Path, ids: list[str], machine: dict | None = None, versions: dict | None = None, **extra) -> Path:
    path.mkdir(parents=True)
    document = {"cases": [_record(i) for i in ids], "machine": {**MACHINE, **(machine or {})},
                "versions": {**VERSIONS, **(versions or {})}, **extra}
    (path / "results.json").write_text(json.dumps(document))
    return path


def _merge(capsys, *args) -> tuple[int, str, str]:
    code = merge.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_case_in_two_shards_is_refused_naming_it_and_both_runs(tmp_path, capsys):
    a = _run_dir(tmp_path / "a", ["m-b-cpu-fp32-Offline-accuracy", "m-b-cpu-fp32-Server-accuracy"])
    b = _run_dir(tmp_path / "b", ["m-b-cpu-fp32-Server-accuracy"])
    code, _, err = _merge(capsys, a, b, "--out", tmp_path / "out")
    assert code == 2
    assert f"case 'm-b-cpu-fp32-Server-accuracy' is in both {a} and {b}" in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_one_run_given_twice_is_refused(tmp_path, capsys):
    a = _run_dir(tmp_path / "a", ["m-b-cpu-fp32-Offline-accuracy"])
    code, _, err = _merge(capsys, a, tmp_path / "a" / ".." / "a", "--out", tmp_path / "out")
    assert code == 2 and "given twice" in err


@pytest.mark.parametrize("machine, versions, field", [
    ({"cpu_count": 64}, None, "machine.cpu_count"),
    ({"processor": "other"}, None, "machine.processor"),
    (None, {"project_commit": "def456"}, "versions.project_commit"),
    (None, {"loadgen": "5.0"}, "versions.loadgen"),
    (None, {"frameworks": {"onnxruntime": "1.20.0"}}, "versions.frameworks.onnxruntime"),
])
def test_runs_of_different_machines_or_versions_are_refused_unless_allowed(tmp_path, capsys, machine, versions, field):
    a = _run_dir(tmp_path / "a", ["m-b-cpu-fp32-Offline-accuracy"])
    b = _run_dir(tmp_path / "b", ["m-b-cpu-fp32-Server-accuracy"], machine, versions)
    code, _, err = _merge(capsys, a, b, "--out", tmp_path / "refused")
    assert code == 2
    assert f"the runs differ in machine or versions ({field}: {a} has " in err and "--allow-mixed" in err
    assert not (tmp_path / "refused").exists()

    code, out, err = _merge(capsys, a, b, "--out", tmp_path / "mixed", "--allow-mixed")
    assert code == 0, err
    merged = json.loads((tmp_path / "mixed" / "results.json").read_text())
    assert len(merged["cases"]) == 2 and merged["merged_from"] == [str(a), str(b)]
    assert set(merged["mixed"]) == {field}  # the difference is recorded, per run
    assert set(merged["mixed"][field]) == {str(a), str(b)}
    assert f"merge: mixed {field}: " in err


def test_ci_runners_of_one_kind_merge_without_allow_mixed(tmp_path, capsys):
    # fresh hostnames and kernel patches on identical runners; each shard imported its own frameworks
    a = _run_dir(tmp_path / "a", ["m-b-cpu-fp32-Offline-accuracy"])
    b = _run_dir(tmp_path / "b", ["m-b-cpu-fp32-Server-accuracy"], {"node": "runner-2", "release": "6.1.1"},
                 {"frameworks": {"numpy": "2.4.6", "torch": "2.5.0"}})
    code, _, err = _merge(capsys, a, b, "--out", tmp_path / "out")
    assert code == 0, err
    merged = json.loads((tmp_path / "out" / "results.json").read_text())
    assert merged["versions"]["frameworks"] == {"numpy": "2.4.6", "onnxruntime": "1.32.0", "torch": "2.5.0"}
    assert "mixed" not in merged


def test_an_existing_results_json_is_never_replaced(tmp_path, capsys):
    a = _run_dir(tmp_path / "a", ["m-b-cpu-fp32-Offline-accuracy"])
    b = _run_dir(tmp_path / "b", ["m-b-cpu-fp32-Server-accuracy"])
    # the output folder is one of the shards: its results.json must survive
    before = (a / "results.json").read_bytes()
    code, _, err = _merge(capsys, a, b, "--out", a)
    assert code == 2 and "already holds a results.json" in err
    assert (a / "results.json").read_bytes() == before
    (tmp_path / "file").write_text("x")
    code, _, err = _merge(capsys, a, b, "--out", tmp_path / "file")
    assert code == 2 and "this is a file; expected a folder" in err


def test_without_out_a_new_folder_under_reports_is_made(tmp_path, capsys, monkeypatch):
    a = _run_dir(tmp_path / "a", ["m-b-cpu-fp32-Offline-accuracy"])
    monkeypatch.chdir(tmp_path)
    code, out, _ = _merge(capsys, a)
    assert code == 0
    made = list((tmp_path / "reports").glob("merged-*"))
    assert len(made) == 1 and (made[0] / "results.json").is_file() and (made[0] / "report.html").is_file()
    assert f"results: {made[0] / 'results.json'}" in out


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "not a folder"),
    (lambda p: p.mkdir(), "no results.json in this folder"),
    (lambda p: (p.mkdir(), (p / "results.json").write_text("{")), "not JSON"),
    (lambda p: (p.mkdir(), (p / "results.json").write_text('{"cases": [{"id": "x"}], "machine": {}, '
                                                           '"versions": {}}')), "field 'outcome'"),
])
def test_a_run_that_is_not_one_is_refused(tmp_path, capsys, setup, message):
    setup(tmp_path / "run")
    code, _, err = _merge(capsys, tmp_path / "run", "--out", tmp_path / "out")
    assert code == 2 and message in err and str(tmp_path / "run") in err


def test_a_moved_shard_s_case_folders_are_found_where_they_are_now(tmp_path, capsys):
    moved = tmp_path / "downloaded" / "shard1"
    case_id = "m-b-cpu-fp32-Offline-accuracy"
    moved.mkdir(parents=True)
    (moved / case_id).mkdir()  # the case folder came along; the recorded path is the old machine's
    document = {"cases": [_record(case_id, log_dir=f"/old/workspace/shard1/{case_id}")],
                "machine": MACHINE, "versions": VERSIONS, "comparison": {"baseline": "x"}}
    (moved / "results.json").write_text(json.dumps(document))
    code, _, err = _merge(capsys, moved, "--out", tmp_path / "out")
    assert code == 0, err
    merged = json.loads((tmp_path / "out" / "results.json").read_text())
    assert merged["cases"][0]["log_dir"] == str(moved / case_id)
    # a shard's own comparison is about that shard: not carried over, and said so
    assert "comparison" not in merged and "not merged: each shard's own comparison block" in err

