"""From a real session to a submission tree: the suite's run folder is what `harness submission` reads."""
from __future__ import annotations

import subprocess
import sys

CASES = [f"resnet50-onnxruntime-cpu-fp32-SingleStream-{mode}" for mode in ("accuracy", "performance", "TEST01", "TEST04")]


def _submission(*args, cwd):
    return subprocess.run([sys.executable, "-m", "harness", "submission", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_a_session_s_runs_become_a_tree_that_is_written_but_not_called_submittable(cached_suite, tmp_path):
    out = cached_suite.path / "run"
    result = cached_suite.runpytest_subprocess(*[f"test_mlperf.py::test_mlperf[{c}]" for c in CASES],
                                               "--mlperf-mode", "all", "--mlperf-output", str(out), "--mlperf-cache",
                                               str(cached_suite.cache_dir), "--mlperf-progress", "0")
    assert (out / "results.json").is_file(), result.stdout.str()
    tree = tmp_path / "sub"
    done = _submission("--from", str(out), "--out", str(tree), "--submitter", "ACME", "--system", "box",
                       "--division", "closed", cwd=cached_suite.path)
    assert done.returncode == 1, done.stdout + done.stderr  # written, not submittable
    assert "[run-style] run style test: not a submission run" in done.stdout
    assert "[model] the runs used the suite's proxy model" in done.stdout
    result_dir = next((tree / "closed" / "ACME" / "results" / "box").glob("resnet*/SingleStream"))
    for path in ("performance/run_1/mlperf_log_detail.txt", "accuracy/mlperf_log_accuracy.json",
                 "TEST01/verify_accuracy.txt", "TEST01/verify_performance.txt", "TEST04/verify_performance.txt"):
        assert (result_dir / path).is_file(), path
    accuracy_txt = (result_dir / "accuracy" / "accuracy.txt").read_text().splitlines()
    assert accuracy_txt[0].startswith("accuracy=") and accuracy_txt[-1].startswith("hash=")
    assert (tree / "closed" / "ACME" / "systems" / "box.json").is_file()

    # The tree as written checks the same; an accuracy log edited afterwards is caught by its hash.
    before = _submission("--check", str(tree), cwd=cached_suite.path)
    assert before.returncode == 1 and "[min-duration]" in before.stdout, before.stdout  # a test-style run
    log = result_dir / "accuracy" / "mlperf_log_accuracy.json"
    text = log.read_text()
    first = text.index('"data" : "') + len('"data" : "')
    log.write_text(text[:first] + ("1" if text[first] != "1" else "2") + text[first + 1:])  # one response changed
    after = _submission("--check", str(tree), cwd=cached_suite.path)
    assert after.returncode == 1
    new_lines = set(after.stdout.splitlines()) - set(before.stdout.splitlines())
    assert any("hash" in line for line in new_lines), after.stdout
