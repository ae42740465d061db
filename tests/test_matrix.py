import pytest

from harness.matrix import SelectionError, axis_values, build_cases


def test_ids_follow_the_public_pattern_and_are_sorted_and_unique():
    cases = build_cases()
    ids = [case.id for case in cases]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    assert "resnet50-onnxruntime-cpu-fp32-Offline-accuracy" in ids
    for case in cases:
        assert case.id == "-".join([case.model, case.backend, case.device, case.precision, case.scenario, case.mode])


def test_building_twice_gives_the_same_list():
    assert build_cases() == build_cases()


def test_selection_narrows_every_axis():
    cases = build_cases({"model": ["resnet50"], "scenario": ["Offline"], "mode": ["accuracy"], "device": ["cpu"],
                         "precision": ["fp32"], "backend": ["onnxruntime"]})
    assert [c.id for c in cases] == ["resnet50-onnxruntime-cpu-fp32-Offline-accuracy"]
    assert cases[0].unsupported is None


def test_unsupported_combinations_are_kept_with_a_reason():
    cases = {c.id: c for c in build_cases({"device": ["tpu"], "backend": ["onnxruntime"]})}
    assert cases and all(c.unsupported for c in cases.values())
    assert "TPU" in cases["resnet50-onnxruntime-tpu-fp32-Offline-accuracy"].unsupported


def test_the_eight_onnxruntime_cpu_fp32_cases_are_offered():
    selection = {"model": ["resnet50"], "device": ["cpu"], "precision": ["fp32"], "backend": ["onnxruntime"],
                 "mode": ["accuracy", "performance"]}
    offered = [c for c in build_cases(selection) if c.unsupported is None]
    assert len(offered) == 8
    # and every mode: find-peak in Server, SingleStream, MultiStream; TEST01 and TEST04 in all four
    every = [c for c in build_cases({**selection, "mode": list(axis_values()["mode"])}) if c.unsupported is None]
    assert len(every) == 8 + 3 + 4 + 4


def test_backends_that_cannot_be_offered_carry_the_reason():
    cases = build_cases({"backend": ["ncnn", "deepsparse"]})
    assert cases and all(c.unsupported for c in cases)
    assert all("onnx" in c.unsupported.lower() for c in cases)


def test_unknown_value_lists_the_valid_ones():
    with pytest.raises(SelectionError, match="unknown scenario 'offline'.*Offline, Server, SingleStream, MultiStream"):
        build_cases({"scenario": ["offline"]})


def test_every_axis_value_is_a_marker_vocabulary_word():
    values = axis_values()
    assert set(values) == {"model", "backend", "device", "precision", "scenario", "mode"}
    assert values["mode"] == ("accuracy", "performance", "find-peak", "TEST01", "TEST04", "TEST06")


def test_language_benchmarks_offer_the_mlperf_scenarios_only():
    offered = {(c.model, c.scenario) for c in build_cases({"device": ["cpu"], "precision": ["fp32"]})
               if c.unsupported is None}
    assert {s for m, s in offered if m == "bert-99"} == {"Offline", "Server", "SingleStream"}
    assert {s for m, s in offered if m == "bert-99.9"} == {"Offline", "Server"}
    assert {s for m, s in offered if m.startswith("gptj")} == {"Offline", "Server", "SingleStream"}
    assert {s for m, s in offered if m.startswith("llama2-70b")} == {"Offline", "Server"}


def test_the_default_backend_selects_each_familys_own_backend():
    from harness.registry import load_registry

    registry = load_registry()
    cases = build_cases({"backend": ["default"], "device": ["cpu"], "precision": ["fp32"]})
    by_model = {}
    for case in cases:
        by_model.setdefault(case.model, set()).add(case.backend)
    assert set(by_model) == set(registry)  # every family is there...
    for model, backends in by_model.items():
        assert backends == {registry[model].default_backend}  # ...on its one default backend
    # the first [backends.*] table when the family names none: the LLMs are PyTorch-first
    assert registry["resnet50"].default_backend == "onnxruntime"
    assert registry["gptj-99"].default_backend == "pytorch"
    # and with a named backend beside it, both are collected
    both = {c.backend for c in build_cases({"model": ["resnet50"], "backend": ["default", "tflite"]})}
    assert both == {"onnxruntime", "tflite"}


def test_a_default_backend_without_its_table_is_refused(tmp_path):
    from harness.registry.loader import RegistryError, load_family

    family = tmp_path / "fam"
    family.mkdir()
    source = (__import__("pathlib").Path(__file__).parents[1] / "harness" / "benchmarks" / "resnet50"
              / "benchmark.toml").read_text()
    (family / "benchmark.toml").write_text('default_backend = "tensorrt"\n' + source)
    with pytest.raises(RegistryError, match=r"default_backend: 'tensorrt' has no \[backends.tensorrt\]"):
        load_family(family / "benchmark.toml")
