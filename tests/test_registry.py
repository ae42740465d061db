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
task = "task:T"
dataset_format = "dataset:F"
scorer = "scorer:S"
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


VARIANTS = BASE.replace('name = "x"\nchecker_name = "x"\n', "") + """
[[unsupported]]
backend = "onnxruntime"
precision = "int8"
reason = "shared rule"
[variants."x-99"]
checker_name = "x-99"
ratio = 0.99
[variants."x-99.9"]
checker_name = "x-99.9"
ratio = 0.999
scenarios = ["Offline", "Server"]
[[variants."x-99.9".unsupported_also]]
backend = "onnxruntime"
precision = "fp16"
reason = "only the 99.9 variant"
"""


def test_one_family_file_defines_both_accuracy_variants(tmp_path):
    from harness.registry import load_family

    family = tmp_path / "x"
    family.mkdir()
    (family / "benchmark.toml").write_text(textwrap.dedent(VARIANTS))
    found = {b.name: b for b in load_family(family / "benchmark.toml")}
    assert sorted(found) == ["x-99", "x-99.9"]
    assert found["x-99"].accuracy.ratio == 0.99 and found["x-99.9"].accuracy.ratio == 0.999
    assert found["x-99"].scenarios == ("Offline",) and found["x-99.9"].scenarios == ("Offline", "Server")
    assert found["x-99"].checker_name == "x-99"
    assert [r.reason for r in found["x-99"].unsupported] == ["shared rule"]
    assert [r.reason for r in found["x-99.9"].unsupported] == ["shared rule", "only the 99.9 variant"]
    assert found["x-99.9"].home == str(family.resolve())


def test_a_variant_ratio_sets_every_metric_gated_at_the_family_ratio_not_a_length_bound():
    bench = load_registry()["gptj-99.9"]
    assert [s.ratio for s in bench.accuracy_specs] == [0.999, 0.999, 0.999, 0.9]
    assert [s.ratio for s in load_registry()["gptj-99"].accuracy_specs] == [0.99, 0.99, 0.99, 0.9]


def test_a_registry_folder_adds_families_and_refuses_a_name_twice(tmp_path):
    from harness.registry.loader import _load, REGISTRY_DIR

    family = tmp_path / "fam" / "x"
    family.mkdir(parents=True)
    (family / "benchmark.toml").write_text(textwrap.dedent(VARIANTS))
    names = _load((REGISTRY_DIR, tmp_path / "fam"))
    assert {"x-99", "x-99.9", "resnet50"} <= set(names)
    clash = tmp_path / "clash" / "r"
    clash.mkdir(parents=True)
    (clash / "benchmark.toml").write_text(textwrap.dedent(BASE.replace('name = "x"', 'name = "resnet50"')))
    with pytest.raises(RegistryError, match=r"benchmark 'resnet50' is already defined by .*resnet50/benchmark.toml"):
        _load((REGISTRY_DIR, tmp_path / "clash"))


def test_a_registry_folder_without_families_says_what_it_needs(tmp_path):
    from harness.registry import add_registry_dirs

    with pytest.raises(RegistryError, match=rf"{tmp_path}: no benchmark.toml in it or in its subfolders"):
        add_registry_dirs([tmp_path])
    with pytest.raises(RegistryError, match="no such registry folder"):
        add_registry_dirs([tmp_path / "missing"])


def test_a_part_that_is_not_module_colon_name_is_refused(tmp_path):
    with pytest.raises(RegistryError, match=r"\.scorer: 'Top1Scorer' is not 'module:Name'"):
        load_benchmark(_write(tmp_path, BASE.replace('scorer = "scorer:S"', 'scorer = "Top1Scorer"')))


def test_home_is_set_by_the_loader_only(tmp_path):
    with pytest.raises(RegistryError, match="'home' is set by the loader"):
        load_benchmark(_write(tmp_path, 'home = "/elsewhere"\n' + textwrap.dedent(BASE)))


def test_a_backend_option_naming_a_module_of_the_family_folder_is_qualified(tmp_path):
    import importlib
    import shutil

    from harness.provision import model_options
    from harness.registry import load_registry
    from harness.registry.parts import qualify

    dlrm = load_registry()["dlrm-v2-99"]
    assert dlrm.backends["pytorch"].options["architecture"] == "model:TinyDLRM"  # as the family writes it
    options, _ = model_options(dlrm, "pytorch", "fp32", "proxy")
    assert options["architecture"] == "harness.benchmarks.dlrm.model:TinyDLRM"
    # an importable name stays as it is; so does a module the folder lacks
    assert qualify("harness.models.torch_bert:TorchBert", dlrm.home) == "harness.models.torch_bert:TorchBert"
    # the same folder anywhere else (a --mlperf-registry family) gets a package of its own
    copy = tmp_path / "my_dlrm"
    shutil.copytree(dlrm.home_dir, copy, ignore=shutil.ignore_patterns("proxy", "__pycache__"))
    module, name = qualify("model:TinyDLRM", copy).split(":")
    assert module.startswith("mlperf_family_my_dlrm_") and module.endswith(".model")
    assert getattr(importlib.import_module(module), name).__name__ == "TinyDLRM"
