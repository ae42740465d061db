"""The rnnt family without the runner: registry entry, proxy dataset in MLPerf's LibriSpeech
layout, staging, the committed proxies and their contract, the proxy's reference.

A small driver below answers the staged waveforms through the task with a
backend and writes a LoadGen-format accuracy log, which the family's scorer
reads, so accuracy is checked the way a run checks it.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jiwer", reason="rnnt's word error rate is computed with jiwer")
pytest.importorskip("onnxruntime", reason="the proxy's reference is measured through ONNX Runtime")

from harness.backends.base import BackendConfig, ModelContractError  # noqa: E402
from harness.datasets.base import DatasetRequest  # noqa: E402
from harness.provision import model_options  # noqa: E402
from harness.registry.loader import load_benchmark  # noqa: E402
from harness.registry.parts import _package_for, dataset_format, resolve, task_class  # noqa: E402
from harness.staging import Volumes  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "rnnt"
PROXY = FAMILY_DIR / "proxy"
RECORD = json.loads((PROXY / "proxy.json").read_text())


def family(module: str):
    return importlib.import_module(f"{_package_for(FAMILY_DIR)}.{module}")


synth, text, wav = family("synth"), family("text"), family("wav")
SpeechRecognition = family("task").SpeechRecognition
LibriSpeechWav = family("dataset").LibriSpeechWav
WerScorer = family("scorer").WerScorer


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def bench():
    return load_benchmark(FAMILY_DIR / "benchmark.toml")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    # Shared by the session's workers and later sessions, as the suite's own proxy cache.
    return tmp_path_factory.getbasetemp().parent / "mlperf-cache"


@pytest.fixture(scope="module")
def proxy_dir(bench, cache):
    return LibriSpeechWav().proxy_directory(bench, cache)


@pytest.fixture(scope="module")
def prepared(proxy_dir, cache):
    return LibriSpeechWav().prepare(proxy_dir, DatasetRequest(cache_dir=cache, dtype="int64"))


@pytest.fixture(scope="module")
def waveforms(prepared):
    return Volumes(prepared.samples_path)


def load_backend(kind: str, bench):
    task = SpeechRecognition()
    config = dict(threads=1, inputs=task.inputs, outputs=task.outputs, contract_outputs=task.contract_outputs)
    if kind == "onnxruntime":
        from harness.backends.onnxruntime_backend import OnnxRuntimeBackend as cls
    else:
        pytest.importorskip("torch", reason="the PyTorch proxy needs torch")
        from harness.backends.pytorch_backend import PyTorchBackend as cls
        config["options"] = model_options(bench, "pytorch", "fp32", "proxy")[0]
    backend = cls()
    backend.load(BackendConfig(model_path=PROXY / bench.backends[kind].proxy_models["fp32"], **config))
    return backend


@pytest.fixture(scope="module")
def ort(bench):
    return load_backend("onnxruntime", bench)


def write_log(task, backend, waveforms, path: Path) -> Path:
    """LoadGen's accuracy-log format, one entry per utterance in index order, answered by ``task``."""
    entries = []
    for index in range(len(waveforms)):
        (answer,) = task.run(backend, [waveforms[index]], np.array([index]))
        entries.append({"seq_id": index, "qsl_idx": index, "data": answer.tobytes().hex().upper()})
    path.write_text(json.dumps(entries))
    return path


# ------------------------------------------------------------------ the registry entry
def test_the_registry_holds_mlperfs_facts(bench):
    assert (bench.name, bench.checker_name, bench.conf_model) == ("rnnt", "rnnt", "rnnt")
    assert bench.scenarios == ("Offline", "Server", "SingleStream")
    assert bench.server_latency_ms == 1000
    assert (bench.dataset_size, bench.performance_sample_count, bench.offline_min_samples_per_query) == (2513,) * 3
    assert bench.compliance == ()  # retired without a compliance audit
    assert (bench.accuracy.metric, bench.accuracy.unit, bench.accuracy.reference) == ("ACCURACY", "percent", 92.548)
    assert bench.accuracy.threshold() == pytest.approx(91.62252)  # (100 - 7.452) x 0.99
    assert (bench.response_dtype, bench.max_batchsize) == ("int64", 1)
    assert bench.requires.modules == ("jiwer",)
    assert bench.modes("Offline") == ("accuracy", "performance")


def test_loadgens_built_in_conf_agrees_with_the_registry(bench):
    lg = pytest.importorskip("mlperf_loadgen", reason="LoadGen's compiled-in mlperf.conf is read from LoadGen")
    for scenario in bench.scenarios:
        settings = lg.TestSettings()
        settings.FromConfig("", bench.conf_model, scenario, 0)
        assert settings.server_target_latency_ns == bench.server_latency_ms * 1_000_000
        assert settings.performance_sample_count_override == bench.performance_sample_count
    offline = lg.TestSettings()
    offline.FromConfig("", bench.conf_model, "Offline", 0)
    assert offline.min_query_count == bench.offline_min_samples_per_query


def test_the_proxy_reference_is_the_measured_one_and_far_above_chance(bench):
    assert bench.proxy.reference == RECORD["reference_accuracy"]
    assert bench.proxy.reference >= 80.0 and RECORD["chance"]["empty transcripts"] == 0.0
    threshold = bench.proxy.reference * bench.accuracy.ratio
    assert all(value < threshold for value in RECORD["mutations"].values()), RECORD["mutations"]


def test_the_parts_resolve_to_the_family_classes(bench):
    assert task_class(bench).__name__ == "SpeechRecognition"
    assert type(dataset_format(bench)).__name__ == "LibriSpeechWav"
    assert resolve(bench.scorer, bench.home_dir).__name__ == "WerScorer"
    task = task_class(bench)()
    assert (task.input_kind, task.response_kind, task.response_dtype) == ("volumes", "ragged", np.int64)


def test_only_fp32_onnxruntime_and_pytorch_on_cpu_are_offered_with_reasons(bench):
    assert sorted(bench.backends) == ["onnxruntime", "pytorch"]
    assert bench.unsupported_reason("onnxruntime", "cpu", "fp32", "Server") is None
    assert bench.unsupported_reason("pytorch", "cpu", "fp32", "SingleStream") is None
    assert "fp32 only" in bench.unsupported_reason("pytorch", "cpu", "fp16", "Offline")
    assert "no MultiStream" in bench.unsupported_reason("onnxruntime", "cpu", "fp32", "MultiStream")
    assert "CPU provider" in bench.unsupported_reason("onnxruntime", "cuda", "fp32", "Offline")


# ------------------------------------------------------------------ the committed proxy files
def test_the_proxy_files_are_small_and_the_recorded_ones():
    for name, digest in RECORD["files"].items():
        assert hashlib.sha256((PROXY / name).read_bytes()).hexdigest() == digest, f"{name}: rerun build_proxy.py"
    total = sum(f.stat().st_size for f in PROXY.rglob("*") if f.is_file())
    assert total < 4_000_000, f"the proxy folder holds {total} bytes"


def test_the_proxy_dataset_renders_byte_for_byte_the_same(proxy_dir, tmp_path):
    synth.render_dataset(tmp_path, len(json.loads((proxy_dir / synth.MANIFEST).read_text())))
    committed = sorted(p.relative_to(proxy_dir) for p in proxy_dir.rglob("*") if p.is_file())
    rendered = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert committed == rendered
    for name in committed:
        assert (tmp_path / name).read_bytes() == (proxy_dir / name).read_bytes(), f"{name} differs"


def test_the_proxy_layout_is_what_mlperfs_manifest_and_qsl_read(proxy_dir):
    entries = json.loads((proxy_dir / "dev-clean-wav.json").read_text())
    assert len(entries) == 40
    for entry in entries:
        assert set(entry) == {"files", "original_duration", "original_num_samples", "transcript"}
        (file,) = entry["files"]
        assert set(file) >= {"fname", "speed", "duration", "num_samples", "sample_rate"} and file["speed"] == 1
        parts = Path(file["fname"]).parts
        assert parts[0] == "dev-clean-wav" and parts[3] == f"{parts[1]}-{parts[2]}-{parts[3][-8:-4]}.wav"
        found = wav.info(proxy_dir / file["fname"])
        assert (found.sample_rate, found.channels, found.sample_width) == (16000, 1, 2)
        assert found.frames == file["num_samples"] == entry["original_num_samples"]
        assert entry["original_duration"] == file["duration"] == found.frames / 16000 <= 15.0
        assert text.normalize(entry["transcript"]) == entry["transcript"]


def test_staged_samples_are_the_waveforms_in_manifest_order(proxy_dir, prepared, waveforms, cache):
    entries = json.loads((proxy_dir / "dev-clean-wav.json").read_text())
    assert prepared.total == len(waveforms) == 40 and waveforms.dtype == np.float32
    for index in (0, 17, 39):
        raw = np.frombuffer((proxy_dir / entries[index]["files"][0]["fname"]).read_bytes()[44:], "<i2")
        assert np.array_equal(waveforms[index], raw.astype(np.float32) / 32768.0)  # soundfile's scaling
    assert prepared.truth.references == tuple(e["transcript"] for e in entries)
    first = LibriSpeechWav().prepare(proxy_dir, DatasetRequest(cache_dir=cache, count=5))
    assert first.total == 5 and np.array_equal(Volumes(first.samples_path)[4], waveforms[4])


# ------------------------------------------------------------------ the models
def test_the_onnx_proxy_meets_the_task_contract_and_a_wrong_class_count_does_not(bench, ort, waveforms, tmp_path):
    from harness.runner.contract import check_contract

    task = SpeechRecognition()
    backend, batch = check_contract(ort, task, waveforms, 1, model="proxy")
    assert backend is ort and batch == 1
    torch = pytest.importorskip("torch", reason="the wrong model is exported from torch")
    wrong = family("model").TinySpeechCTC(classes=30)
    with warnings.catch_warnings():  # the legacy exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(wrong, (torch.zeros(1, 20, 240),), str(tmp_path / "wrong.onnx"), input_names=["features"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"features": {0: "n", 1: "t"}, "logits": {0: "n", 1: "t"}})
    from harness.backends.onnxruntime_backend import OnnxRuntimeBackend

    bad = OnnxRuntimeBackend()
    bad.load(BackendConfig(tmp_path / "wrong.onnx", threads=1, inputs=task.inputs, outputs=task.outputs))
    with pytest.raises(ModelContractError, match=r"output 'logits' has shape \[N, \?, 30\].*expected \[N, \?, 29\]"):
        check_contract(bad, task, waveforms, 1, model="wrong.onnx")


def test_the_onnx_and_torch_proxies_transcribe_alike(bench, ort, waveforms):
    pt = load_backend("pytorch", bench)
    task = SpeechRecognition()
    for index in range(0, len(waveforms), 3):
        feed = task.feed(task.featurize(waveforms[index]))
        assert np.allclose(ort.predict(feed)[0], pt.predict(feed)[0], atol=1e-4)
        assert np.array_equal(task.transcribe(ort, waveforms[index]), task.transcribe(pt, waveforms[index]))


def test_responses_are_contiguous_int64_label_ids(ort, waveforms):
    answers = SpeechRecognition().run(ort, [waveforms[0], waveforms[1]], np.array([0, 1]))
    assert len(answers) == 2
    for answer in answers:
        assert answer.dtype == np.int64 and answer.flags.c_contiguous and answer.ndim == 1
        assert ((0 <= answer) & (answer < text.BLANK)).all()


def test_the_onnx_proxy_reaches_the_registry_reference(bench, ort, waveforms, prepared, tmp_path):
    log = write_log(SpeechRecognition(), ort, waveforms, tmp_path / "mlperf_log_accuracy.json")
    scored = WerScorer(prepared.truth).score(log)
    assert scored.values["ACCURACY"] == bench.proxy.reference
    assert scored.lines[0] == RECORD["official_line"]


@pytest.mark.slow
def test_the_build_script_runs_from_its_folder_and_makes_every_proxy_file(tmp_path):
    """A tiny build (a few training steps): the script's whole path, not the committed model's quality."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(FAMILY_DIR / "build_proxy.py"), "--steps", "2",
                           "--train-utterances", "8", "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads((tmp_path / "proxy.json").read_text())
    assert set(meta["files"]) == {"rnnt_proxy.onnx", "rnnt_proxy_torch.pt"}
    assert set(meta["mutations"]) == set(RECORD["mutations"]) and meta["training"]["steps"] == 2
    assert done.stdout.splitlines()[-1].startswith(meta["official_line"])
    for name in meta["files"]:
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == meta["files"][name]
    committed = PROXY / "librispeech-tones" / "dev-clean-wav.json"
    assert (tmp_path / "librispeech-tones" / "dev-clean-wav.json").read_bytes() == committed.read_bytes()
