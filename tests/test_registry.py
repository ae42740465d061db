import textwrap

import pytest

from harness.registry import RegistryError, load_benchmark, load_registry
from harness.proxies import resnet50_proxy_metadata


def test_resnet50_carries_the_mlperf_facts():
    bench = load_registry()["resnet50"]
    assert bench.accuracy.reference == 76.46
    assert bench.accuracy.ratio == 0.99
    assert bench.accuracy.threshold() == pytest.approx(75.6954)
    assert bench.server_latency_ms == 15
    assert bench.performance_sample_count == 1024
    assert bench.offline_min_samples_per_query == 24576
    assert bench.scenarios == ("Offline", "Server", "SingleStream", "MultiStream")
    assert bench.conf_model == "resnet50" and bench.checker_name == "resnet"


def test_real_onnx_artifact_is_registered_with_a_checksum():
    artifact = load_registry()["resnet50"].artifact("onnxruntime", "fp32")
    assert artifact.url == "https://zenodo.org/record/4735647/files/resnet50_v1.onnx"
    assert artifact.checksum.startswith(("md5:", "sha256:"))


def test_proxy_reference_is_the_measured_one_and_far_above_chance():
    bench = load_registry()["resnet50"]
    measured = resnet50_proxy_metadata()["reference_top1"]
    assert bench.proxy.reference == pytest.approx(measured, abs=1e-9)
    assert bench.proxy.reference >= 90.0  # chance is 10% on ten digits


def _write(tmp_path, text):
    path = tmp_path / "x.toml"
    path.write_text(textwrap.dedent(text))
    return path


BASE = """
name = "x"
checker_name = "x"
conf_model = "x"
task = "image-classification"
dataset_format = "imagenet"
dataset_size = 10
scenarios = ["Offline"]
server_latency_ms = 15
performance_sample_count = 10
offline_min_samples_per_query = 10
max_batchsize = 4
response_dtype = "float32"
[accuracy]
metric = "top1"
unit = "percent"
reference = 50.0
ratio = 0.99
[proxy]
dataset = "d"
reference = 90.0
[backends.onnxruntime]
devices = ["cpu"]
precisions = ["fp32"]
proxy_models = { fp32 = "m.onnx" }
"""


def test_loader_accepts_a_minimal_entry(tmp_path):
    bench = load_benchmark(_write(tmp_path, BASE))
    assert bench.unsupported_reason("onnxruntime", "cpu", "fp32", "Offline") is None
    assert "cuda" in bench.unsupported_reason("onnxruntime", "cuda", "fp32", "Offline")


def test_loader_rejects_an_unknown_key_naming_file_and_key(tmp_path):
    path = _write(tmp_path, BASE.replace('ratio = 0.99', 'ratio = 0.99\nratoi = 0.9'))
    with pytest.raises(RegistryError, match=r"x\.toml.*unknown key.*ratoi"):
        load_benchmark(path)


def test_loader_rejects_a_missing_key(tmp_path):
    path = _write(tmp_path, BASE.replace('max_batchsize = 4\n', ''))
    with pytest.raises(RegistryError, match="missing key.*max_batchsize"):
        load_benchmark(path)


def test_loader_rejects_an_unknown_axis_value(tmp_path):
    path = _write(tmp_path, BASE.replace('devices = ["cpu"]', 'devices = ["gpu"]'))
    with pytest.raises(RegistryError, match="unknown value.*gpu.*valid"):
        load_benchmark(path)


def test_unsupported_rules_match_before_the_backend_table(tmp_path):
    text = BASE + '[[unsupported]]\nprecision = "fp32"\nscenario = "Offline"\nreason = "because"\n'
    bench = load_benchmark(_write(tmp_path, text))
    assert bench.unsupported_reason("onnxruntime", "cpu", "fp32", "Offline") == "because"
