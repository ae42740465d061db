"""stable-diffusion-xl as a family of the suite: its registry entry, its gate, and its cases end to end.

- the registry entry holds MLPerf's facts (notes/mlperf-facts.md §1, §6, §9):
  the checker's two-sided range for CLIP_SCORE and FID_SCORE, the scenarios,
  the 20 s Server bound, 5,000 captions, TEST01 and TEST04;
- the gate holds a figure inside the band from both sides: a CLIP score or
  FID just past either bound fails, as the checker's ``>=`` target and ``>``
  upper limit fail it;
- the suite runs Offline in accuracy and performance mode on PyTorch (ONNX
  Runtime, the default backend, runs every scenario in suites/; PyTorch's others
  run in make matrix), VALID, within the band, with the official
  line in accuracy.txt and the pictures the checker wants saved;
- ``python -m harness accuracy`` prints that line from the log;
- a wrong guidance scale (MLPerf's is 8) moves the figures out of the band.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the proxy pipeline and the scorer's feature extractors are torch modules")
pytest.importorskip("diffusers", reason="the proxy pipeline is built from diffusers' UNet and VAE")
pytest.importorskip("onnxruntime", reason="the proxy's reference is measured through ONNX Runtime")

from harness.accuracy.scoring import Scored  # noqa: E402
from harness.checks.accuracy import verdicts  # noqa: E402
from harness.registry.loader import load_family  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "sdxl"
RECORD = json.loads((FAMILY_DIR / "proxy" / "proxy.json").read_text())
NAME = "stable-diffusion-xl"
LINE = re.compile(r"^Accuracy Results: \{'FID_SCORE': \d+\.\d+(e-?\d+)?, 'CLIP_SCORE': \d+\.\d+(e-?\d+)?\}$")


@pytest.fixture(scope="module")
def bench():
    (found,) = load_family(FAMILY_DIR / "benchmark.toml")
    return found


# ------------------------------------------------------------------ registry facts
def test_the_registry_holds_mlperfs_facts(bench):
    assert bench.name == bench.checker_name == bench.conf_model == NAME
    assert bench.scenarios == ("Offline", "Server", "SingleStream")
    assert bench.server_latency_ms == 20000
    assert bench.dataset_size == bench.performance_sample_count == bench.offline_min_samples_per_query == 5000
    assert bench.compliance == ("TEST01", "TEST04")
    assert bench.response_dtype == "uint8"
    assert bench.task_options["steps"] == 20 and bench.task_options["guidance_scale"] == 8.0
    assert bench.task_options["image_size"] == 1024


def test_the_bounds_are_the_checkers_range(bench):
    clip, fid = bench.accuracy, bench.accuracy_also[0]
    assert (clip.metric, fid.metric) == ("CLIP_SCORE", "FID_SCORE")
    assert clip.threshold() == pytest.approx(31.68631873, abs=5e-9)
    assert clip.reference * clip.upper_ratio == pytest.approx(31.81331801, abs=5e-9)
    assert fid.threshold() == pytest.approx(23.01085758, abs=5e-9)
    assert fid.reference * fid.upper_ratio == pytest.approx(23.95007626, abs=5e-9)


def test_the_proxy_reference_is_the_measured_one(bench):
    assert bench.proxy.reference == RECORD["reference"]["CLIP_SCORE"]
    assert bench.proxy.also == {"FID_SCORE": RECORD["reference"]["FID_SCORE"]}
    assert bench.proxy.task_options == {"steps": RECORD["settings"]["steps"], "image_size": 64}
    # far from chance: the pictures against other captions, and noise against the FID statistics
    assert RECORD["reference"]["CLIP_SCORE"] > RECORD["chance_clip_score"] + 30
    assert RECORD["reference"]["FID_SCORE"] < RECORD["noise_pictures"]["FID_SCORE"] / 3
    # the pytorch proxy lies inside the band the onnxruntime reference sets
    assert abs(RECORD["pytorch"]["CLIP_SCORE"] / RECORD["reference"]["CLIP_SCORE"] - 1) < 0.002
    assert abs(RECORD["pytorch"]["FID_SCORE"] / RECORD["reference"]["FID_SCORE"] - 1) < 0.02


@pytest.mark.parametrize("metric, factor, passes", [
    ("CLIP_SCORE", 1.0, True), ("CLIP_SCORE", 0.9975, False), ("CLIP_SCORE", 1.0025, False),
    ("FID_SCORE", 0.985, True), ("FID_SCORE", 0.975, False), ("FID_SCORE", 1.025, False),
])
def test_the_gate_holds_both_figures_from_both_sides(bench, metric, factor, passes):
    references = {"CLIP_SCORE": bench.proxy.reference, **bench.proxy.also}
    values = dict(references)
    values[metric] = references[metric] * factor
    judged = verdicts(bench.accuracy_specs, Scored(values, (), 128, 128), references, "log")
    assert all(v.passed for v in judged) is passes, [v.message() for v in judged]


# ------------------------------------------------------------------ the suite, end to end
@pytest.fixture(scope="module")
def suite_run(tmp_path_factory, pytestconfig):
    """One inner pytest session: Offline accuracy and performance, on PyTorch.

    ONNX Runtime, the family's default backend, runs every scenario and mode in suites/ (make test); PyTorch's
    other scenarios run in make matrix.
    """
    work = tmp_path_factory.mktemp("sdxl-suite")
    shutil.copy(ROOT / "suites" / "test_mlperf.py", work / "test_mlperf.py")
    (work / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    out = work / "out"
    command = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", "--mlperf-model", NAME,
               "--mlperf-backend", "pytorch", "--mlperf-scenario", "Offline", "--mlperf-device", "cpu", "--mlperf-precision", "fp32",
               "--mlperf-mode", "accuracy,performance", "--rootdir", str(work),
               "--mlperf-cache", str(tmp_path_factory.getbasetemp().parent / "mlperf-cache"), "--mlperf-output", str(out)]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=900)
    return done, out


def test_offline_passes_on_pytorch(suite_run, bench):
    done, out = suite_run
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    cases = {c["id"]: c for c in json.loads((out / "results.json").read_text())["cases"]}
    expected = {f"{NAME}-{b}-cpu-fp32-{s}-{m}" for b in ("pytorch",)
                for s in ("Offline",) for m in ("accuracy", "performance")}
    assert {i for i, c in cases.items() if c["outcome"] == "passed"} == expected
    for case_id in expected:
        case = cases[case_id]
        if case_id.endswith("-performance"):
            assert case["performance"]["result_validity"] == "VALID", case_id
            continue
        accuracy = case["accuracy"]
        assert accuracy["metric"] == "CLIP_SCORE"
        assert accuracy["value"] == pytest.approx(bench.proxy.reference, rel=0.002), case_id
        (fid,) = accuracy["also"]
        assert fid["metric"] == "FID_SCORE" and fid["threshold"] <= fid["value"] <= fid["upper_threshold"], case_id


def test_accuracy_txt_holds_the_official_line_and_the_pictures_are_saved(suite_run):
    _, out = suite_run
    folder = out / f"{NAME}-pytorch-cpu-fp32-Offline-accuracy"
    lines = (folder / "accuracy.txt").read_text().splitlines()
    assert LINE.match(lines[0]), lines[0]
    saved = sorted(int(p.stem) for p in (folder / "images").glob("*.png"))
    (case,) = [c for c in json.loads((out / "results.json").read_text())["cases"] if c["id"] == folder.name]
    sample_ids = Path(case["dataset"]) / "sample_ids.txt"
    assert saved == sorted({0, *map(int, sample_ids.read_text().split())}) and len(saved) == 11


def test_the_accuracy_command_prints_the_official_line(suite_run, tmp_path):
    _, out = suite_run
    folder = out / f"{NAME}-pytorch-cpu-fp32-Offline-accuracy"
    dataset = json.loads((out / "results.json").read_text())
    (case,) = [c for c in dataset["cases"] if c["id"] == folder.name]
    log = tmp_path / "mlperf_log_accuracy.json"
    shutil.copy(folder / "mlperf_log_accuracy.json", log)
    printed = subprocess.run(
        [sys.executable, "-m", "harness", "accuracy",
         "--benchmark", NAME, "--log", str(log), "--dataset", case["dataset"]],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[0] == (folder / "accuracy.txt").read_text().splitlines()[0]
    assert (tmp_path / "images" / "0.png").is_file()


# ------------------------------------------------------------------ the mutation
def test_a_wrong_guidance_scale_fails_the_gate(bench, tmp_path, tmp_path_factory):
    from harness.case_run import execute_case
    from harness.matrix import Case
    from harness.options import RunOptions
    from harness.provision import provision

    cache = tmp_path_factory.getbasetemp().parent / "mlperf-cache"
    prov = provision(bench, "onnxruntime", "fp32", cache_dir=cache)
    case = Case(NAME, "onnxruntime", "cpu", "fp32", "Offline", "accuracy")
    result = execute_case(case, bench, prov, RunOptions(task_options={"guidance_scale": 2.0}), tmp_path / "case")
    assert not result.passed
    outside = [v for v in [result.accuracy, *result.accuracy_also] if not v.passed]
    assert outside, "a guidance scale of 2 left both figures inside the band"
    message = "\n".join(result.failures)
    assert "accuracy gate failed" in message and str(tmp_path / "case" / "mlperf_log_accuracy.json") in message
