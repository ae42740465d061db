"""ONNX Runtime fp16 and int8 proxies: contract, real reduced precision, gate, mutations.

The variants are made from the fp32 proxy by tools/build_resnet50_onnx_variants.py
and gated, like MLPerf, against the fp32 reference x 0.99.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.proxies import PROXY_DIR, RESNET50_PROXY_ONNX
from harness.registry import load_registry

ort = pytest.importorskip("onnxruntime", reason="the ONNX proxies run on ONNX Runtime")
onnx = pytest.importorskip("onnx", reason="the tests read the ONNX graphs")

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "build_resnet50_onnx_variants.py"
BENCH = load_registry()["resnet50"]
VARIANTS = {"fp16": PROXY_DIR / "resnet50_proxy_fp16.onnx", "int8": PROXY_DIR / "resnet50_proxy_int8.onnx"}
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"


def _tool():
    """The build script as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("build_resnet50_onnx_variants", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _session(path_or_bytes, optimized: Path | None = None):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    source = path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _signature(session):
    return (
        [(i.name, i.type, i.shape[1:]) for i in session.get_inputs()],
        [(o.name, o.type, o.shape[1:]) for o in session.get_outputs()],
    )


def _run(prov, precision, scenario, mode, out: Path, model: Path | None = None):
    prov = dataclasses.replace(prov, model_path=model or VARIANTS[precision])
    case = Case("resnet50", "onnxruntime", "cpu", precision, scenario, mode)
    return execute_case(case, BENCH, prov, RunOptions(timeout_s=300), out)


@pytest.mark.parametrize("precision", sorted(VARIANTS))
def test_variant_keeps_the_fp32_io_contract(precision):
    session = _session(VARIANTS[precision])
    assert _signature(session) == _signature(_session(RESNET50_PROXY_ONNX))
    assert isinstance(session.get_inputs()[0].shape[0], str)  # batch stays dynamic
    x = np.random.default_rng(3).uniform(-120, 130, size=(5, 3, 224, 224)).astype(np.float32)
    argmax, softmax = session.run([ARGMAX, SOFTMAX], {INPUT: x})
    assert argmax.dtype == np.int64 and argmax.shape == (5,)
    assert softmax.dtype == np.float32 and softmax.shape == (5, 1001)


@pytest.mark.parametrize("precision", sorted(VARIANTS))
def test_variant_was_made_from_the_committed_fp32_proxy(precision):
    props = {p.key: p.value for p in onnx.load(str(VARIANTS[precision])).metadata_props}
    assert props["source_sha256"] == hashlib.sha256(RESNET50_PROXY_ONNX.read_bytes()).hexdigest(), (
        "the fp32 proxy changed since the variants were built: python tools/build_resnet50_onnx_variants.py"
    )
    assert props["precision"] == precision
    assert float(props["measured_top1_val"]) >= BENCH.accuracy.threshold(BENCH.proxy.reference)
    assert VARIANTS[precision].stat().st_size < RESNET50_PROXY_ONNX.stat().st_size  # really smaller weights


def test_fp16_variant_holds_every_float_weight_in_float16():
    model = onnx.load(str(VARIANTS["fp16"]))
    kinds = Counter(onnx.TensorProto.DataType.Name(t.data_type) for t in model.graph.initializer)
    assert kinds["FLOAT"] == 0 and kinds["FLOAT16"] >= 8, kinds
    # float32 only at the boundary: one Cast in, one Cast out
    casts = [n for n in model.graph.node if n.op_type == "Cast"]
    assert len(casts) == 2
    assert casts[0].input == [INPUT] and SOFTMAX in [o for c in casts for o in c.output]


def test_int8_variant_is_quantized_and_runs_in_int8(tmp_path):
    model = onnx.load(str(VARIANTS["int8"]))
    ops = Counter(n.op_type for n in model.graph.node)
    # both Gemms: activation Q/DQ in, weight and bias DQ; outputs stay float
    assert ops["QuantizeLinear"] == 2 and ops["DequantizeLinear"] == 6, ops
    weights = {t.name: t for t in model.graph.initializer}
    for name in ("rbf_centers_2gamma_quantized", "ridge_weights_quantized"):
        assert weights[name].data_type == onnx.TensorProto.INT8
    assert "rbf_centers_2gamma" not in weights and "ridge_weights" not in weights  # no float copy left
    # What ONNX Runtime's CPU provider makes of it: QGemm kernels, no float Gemm.
    _session(VARIANTS["int8"], optimized=tmp_path / "optimized.onnx")
    optimized = Counter(n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node)
    assert optimized["QGemm"] == 2 and optimized["Gemm"] == 0, optimized


@pytest.mark.parametrize("precision", sorted(VARIANTS))
def test_variant_passes_the_accuracy_gate_end_to_end(proxy_resnet50, tmp_path, precision):
    result = _run(proxy_resnet50, precision, "Offline", "accuracy", tmp_path / "acc")
    assert result.passed, result.failures
    assert result.accuracy.reference == BENCH.proxy.reference  # gated against fp32, as MLPerf does
    assert result.accuracy.value >= result.accuracy.threshold
    assert result.child.result["backend_info"]["precision"] == precision


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
@pytest.mark.parametrize("precision", sorted(VARIANTS))
def test_variant_performance_run_is_valid(proxy_resnet50, tmp_path, precision, scenario):
    result = _run(proxy_resnet50, precision, scenario, "performance", tmp_path / "perf")
    assert result.passed, result.failures
    assert result.performance["result_validity"] == "VALID"
    assert result.child.result["backend_info"]["execution_provider"] == "CPUExecutionProvider"


def test_int8_calibrated_on_blank_images_fails_the_gate(proxy_resnet50, tmp_path):
    blank = np.zeros((40, 3, 224, 224), dtype=np.float32)
    bad = tmp_path / "int8-blank-calibration.onnx"
    _tool().int8_model(RESNET50_PROXY_ONNX, blank, bad)
    result = _run(proxy_resnet50, "int8", "Offline", "accuracy", tmp_path / "blank", model=bad)
    assert not result.passed
    assert result.accuracy.value < result.accuracy.threshold
    assert "accuracy gate failed" in "\n".join(result.failures)


def test_int8_with_a_corrupted_weight_fails_the_gate(proxy_resnet50, tmp_path):
    from onnx import numpy_helper

    model = onnx.load(str(VARIANTS["int8"]))
    (weights,) = [t for t in model.graph.initializer if t.name == "ridge_weights_quantized"]
    # each digit's read-out column moved to the next digit: a plausible int8 tensor, wrong answers
    weights.CopyFrom(numpy_helper.from_array(np.roll(numpy_helper.to_array(weights), 1, axis=1), weights.name))
    bad = tmp_path / "int8-corrupted.onnx"
    onnx.save(model, str(bad))
    result = _run(proxy_resnet50, "int8", "Offline", "accuracy", tmp_path / "corrupt", model=bad)
    assert not result.passed
    assert result.accuracy.value < 20.0


@pytest.mark.slow
def test_build_script_reproduces_the_committed_variants(tmp_path):
    pytest.importorskip("onnxconverter_common", reason="the fp16 variant is made by onnxconverter-common")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(TOOL), "--out", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for path in VARIANTS.values():
        assert (out / path.name).read_bytes() == path.read_bytes(), (
            f"rebuilding gives a different {path.name}: rerun python tools/build_resnet50_onnx_variants.py"
        )
