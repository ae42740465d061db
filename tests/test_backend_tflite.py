"""The TFLite backend on the committed fp32, fp16 and int8 proxies.

Unit tests run in this process; the end-to-end tests run the real harness
(LoadGen in a child process). ``NCHWFedTFLite`` stages NCHW data for the NHWC
model on purpose; the child imports it as ``test_backend_tflite:NCHWFedTFLite``.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert.interpreter",
                    reason="the tflite backend needs ai-edge-litert (pip install ai-edge-litert)")

from harness.backends import BackendConfig, DeviceUnavailable, ModelLoadError  # noqa: E402
from harness.backends.tflite_backend import TFLiteBackend  # noqa: E402
from harness.case_run import execute_case  # noqa: E402
from harness.matrix import Case  # noqa: E402
from harness.options import RunOptions  # noqa: E402
from harness.proxies import PROXY_DIR, RESNET50_PROXY_ONNX  # noqa: E402
from harness.registry import load_registry  # noqa: E402
from harness.runner import RunFailed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FILES = {
    "fp32": PROXY_DIR / "resnet50_proxy.tflite",
    "fp16": PROXY_DIR / "resnet50_proxy_fp16.tflite",
    "int8": PROXY_DIR / "resnet50_proxy_int8.tflite",
}
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"
BENCH = load_registry()["resnet50"]


class NCHWFedTFLite(TFLiteBackend):
    """The harness stages NCHW samples for it, while the model takes NHWC."""

    layout = "NCHW"


def _config(path, *, precision="fp32", device="cpu", outputs=(ARGMAX,), threads=2):
    return BackendConfig(model_path=Path(path), device=device, precision=precision, threads=threads,
                         inputs=(INPUT,), outputs=outputs, contract_outputs=(ARGMAX, SOFTMAX))


def _loaded(precision="fp32", path=None, **kwargs) -> TFLiteBackend:
    backend = TFLiteBackend()
    backend.load(_config(path or FILES[precision], precision=precision, **kwargs))
    return backend


@pytest.fixture(scope="module")
def samples(nhwc_reference_samples):
    return nhwc_reference_samples


# --- the backend --------------------------------------------------------------


def test_importing_the_backend_does_not_import_litert_or_tensorflow():
    code = ("import sys, harness.backends.tflite_backend as b; print(b.TFLiteBackend.layout, "
            "b.TFLiteBackend.probe('cpu'), 'ai_edge_litert' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["NHWC", "None", "False", "False"]


# (precision, least argmax agreement with ONNX Runtime, largest softmax error, largest mean softmax error)
CLOSENESS = {"fp32": (1.0, 1e-4, 1e-7), "fp16": (1.0, 5e-3, 5e-6), "int8": (0.95, 0.5, 2e-4)}


@pytest.mark.parametrize("precision", sorted(CLOSENESS))
def test_each_file_matches_onnx_runtime_with_outputs_in_the_order_asked(precision, samples):
    x, want_argmax, want_softmax, labels = samples
    agreement, max_error, mean_error = CLOSENESS[precision]
    softmax, argmax = _loaded(precision, outputs=(SOFTMAX, ARGMAX)).predict({INPUT: x})
    assert softmax.dtype == np.float32 and softmax.shape == (64, 1001)
    assert argmax.dtype == np.int64 and argmax.shape == (64,)
    assert np.mean(argmax == want_argmax) >= agreement
    error = np.abs(softmax - want_softmax)
    assert error.max() <= max_error and error.mean() <= mean_error
    assert np.mean(argmax - 1 == labels) > 0.9


@pytest.mark.parametrize("precision, types", [("fp32", "float32, int32, int64"),
                                              ("fp16", "float16, float32, int32, int64"),
                                              ("int8", "float32, int32, int64, int8")])
def test_info_reports_the_precision_the_file_has(precision, types):
    info = _loaded(precision, threads=1).info()
    assert info["backend"] == "tflite" and info["device"] == "cpu" and info["precision"] == precision
    assert info["model_tensor_types"] == types and info["num_threads"] == 1
    assert info["input_dtype"] == "float32"  # the int8 file quantises inside, at its boundary
    assert info["outputs_matched"] == "by name"


def test_the_batch_size_can_change_between_calls(samples):
    x, want_argmax, _, _ = samples
    backend = _loaded()
    for size in (32, 1, 7, 32):
        (argmax,) = backend.predict({INPUT: x[:size]})
        assert (argmax == want_argmax[:size]).all()


@pytest.mark.parametrize("asked, file", [("int8", "fp32"), ("fp16", "fp32"), ("fp32", "int8"), ("bf16", "fp16")])
def test_a_precision_the_file_does_not_have_is_refused(asked, file):
    with pytest.raises(ModelLoadError, match=f"asked for {asked}, but this file is a {file} model") as info:
        _loaded(asked, path=FILES[file])
    assert str(FILES[file]) in str(info.value)


def test_a_file_that_is_not_a_flatbuffer_names_the_file_and_the_format(tmp_path):
    for path in (RESNET50_PROXY_ONNX, PROXY_DIR / "resnet50_proxy_savedmodel", tmp_path / "missing.tflite"):
        with pytest.raises(ModelLoadError, match="expected a TFLite flatbuffer") as info:
            _loaded(path=path)
        assert str(path) in str(info.value)


def test_nchw_data_is_a_shape_error_naming_both_shapes():
    with pytest.raises(ValueError, match=r"got a batch of shape \[2, 3, 224, 224\], but .* takes \[N,224,224,3\]"):
        _loaded().predict({INPUT: np.zeros((2, 3, 224, 224), np.float32)})


@pytest.mark.parametrize("device, words", [("cuda", "runs on the CPU only"), ("rocm", "runs on the CPU only"),
                                           ("tpu", "Edge TPU")])
def test_accelerators_are_skip_reasons(device, words):
    assert words in TFLiteBackend.probe(device)
    with pytest.raises(DeviceUnavailable, match=words):
        _loaded(device=device)


def test_the_package_really_ships_no_gpu_delegate():
    """What the cuda/rocm reason claims, checked against the installed package."""
    import ai_edge_litert

    package = Path(ai_edge_litert.__file__).parent
    libraries = [p.name for p in package.rglob("*.so")]
    assert not [n for n in libraries if "gpu_delegate" in n or "cuda" in n.lower() or "rocm" in n.lower()]


# --- models converted here: int8 input/output, outputs without names -----------


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Small conversions of the SavedModel proxy that exercise other paths of the backend."""
    tf = pytest.importorskip("tensorflow", reason="converting test models needs tensorflow")
    from harness.benchmarks.resnet50.imagenet import preprocess_dataset
    from harness.proxies.digits_imagenet import render_dataset

    out = tmp_path_factory.mktemp("tflite")
    calibration, _ = preprocess_dataset(render_dataset(out / "calibration", "calibration", count=60))
    calibration = np.ascontiguousarray(calibration.transpose(0, 2, 3, 1))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(PROXY_DIR / "resnet50_proxy_savedmodel"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ({"input_tensor": calibration[i:i + 10]} for i in range(0, 60, 10))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # The converter calibrates through TensorFlow's own, deprecated
        # tf.lite.Interpreter; the backend under test uses ai-edge-litert's.
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        (out / "int8_io.tflite").write_bytes(converter.convert())

    loaded = tf.saved_model.load(str(PROXY_DIR / "resnet50_proxy_savedmodel"))
    serve = loaded.signatures["serving_default"]

    def unnamed(outputs, batch=None):
        # A plain function returning a list: the flatbuffer keeps no output
        # names (its signature says output_0, output_1).
        fn = tf.function(lambda x: outputs(serve(input_tensor=x)),
                         input_signature=[tf.TensorSpec([batch, 224, 224, 3], tf.float32)])
        return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], loaded).convert()

    (out / "unnamed.tflite").write_bytes(unnamed(lambda r: [r["ArgMax"], r["softmax_tensor"]]))
    (out / "unnamed_swapped.tflite").write_bytes(unnamed(lambda r: [r["softmax_tensor"], r["ArgMax"]]))
    (out / "no_argmax.tflite").write_bytes(unnamed(lambda r: [r["softmax_tensor"], 2.0 * r["softmax_tensor"]]))
    (out / "batch1.tflite").write_bytes(unnamed(lambda r: [r["ArgMax"], r["softmax_tensor"]], batch=1))
    return out


def test_int8_input_is_quantised_with_the_inputs_scale_and_zero_point(converted, samples):
    x, _, want_softmax, labels = samples
    backend = _loaded("int8", path=converted / "int8_io.tflite", outputs=(ARGMAX, SOFTMAX))
    assert backend.info()["input_dtype"] == "int8"
    argmax, softmax = backend.predict({INPUT: x})
    (reference,) = _loaded("int8").predict({INPUT: x})  # the committed float-I/O int8 file
    assert np.mean(argmax == reference) >= 0.95
    assert np.mean(argmax - 1 == labels) > 0.9
    # An int8 softmax comes back dequantised to probabilities.
    assert softmax.dtype == np.float32 and np.allclose(softmax.sum(axis=1), 1.0, atol=0.05)


@pytest.mark.parametrize("model", ["unnamed", "unnamed_swapped"])
def test_outputs_without_names_are_told_apart_by_dtype_and_rank(model, converted, samples):
    x, want_argmax, want_softmax, _ = samples
    backend = _loaded(path=converted / f"{model}.tflite", outputs=(SOFTMAX, ARGMAX))
    assert backend.info()["outputs_matched"] == "by kind (dtype, rank)"
    softmax, argmax = backend.predict({INPUT: x[:8]})
    assert (argmax == want_argmax[:8]).all()
    np.testing.assert_allclose(softmax, want_softmax[:8], atol=1e-5)


def test_a_file_converted_for_batch_1_runs_any_batch(converted, samples):
    x, want_argmax, _, _ = samples
    from ai_edge_litert.interpreter import Interpreter

    file = Interpreter(model_path=str(converted / "batch1.tflite")).get_input_details()[0]
    assert list(file["shape_signature"]) == [1, 224, 224, 3]
    backend = _loaded(path=converted / "batch1.tflite")
    for size in (32, 1, 5):
        (argmax,) = backend.predict({INPUT: x[:size]})
        assert (argmax == want_argmax[:size]).all()
    with pytest.raises(ValueError, match=r"got a batch of shape \[4, 3, 224, 224\], but .* takes \[N,224,224,3\]"):
        backend.predict({INPUT: np.zeros((4, 3, 224, 224), np.float32)})


def test_unnamed_outputs_that_are_not_the_contract_are_refused(converted):
    with pytest.raises(ModelLoadError, match=r"is in the place of ArgMax:0 but is not what ArgMax:0 is"):
        _loaded(path=converted / "no_argmax.tflite")


# --- end to end: LoadGen in a child process ----------------------------------


def _run(prov, tmp_path, precision, scenario, mode, backend="tflite", model=None):
    case = Case("resnet50", backend, "cpu", precision, scenario, mode)
    prov = dataclasses.replace(prov, model_path=Path(model or FILES[precision]))
    return execute_case(case, BENCH, prov, RunOptions(timeout_s=300), tmp_path / case.id.replace(":", "_"))


@pytest.mark.parametrize("precision", sorted(FILES))
def test_offline_accuracy_passes_the_gate(precision, proxy_resnet50, tmp_path):
    result = _run(proxy_resnet50, tmp_path, precision, "Offline", "accuracy")
    assert result.passed, result.failures
    assert result.accuracy.value >= result.accuracy.threshold
    info = result.child.result["backend_info"]
    assert info["precision"] == precision and info["num_threads"] == os.cpu_count()


@pytest.mark.parametrize("precision", sorted(FILES))
@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
def test_performance_runs_are_valid(precision, scenario, proxy_resnet50, tmp_path):
    result = _run(proxy_resnet50, tmp_path, precision, scenario, "performance")
    assert result.passed, result.failures
    assert result.performance["result_validity"] == "VALID"


def test_nchw_data_fed_to_the_nhwc_model_fails_the_run_naming_the_shapes(proxy_resnet50, tmp_path,
                                                                         fault_backends_on_path):
    with pytest.raises(RunFailed, match="could not start") as info:
        _run(proxy_resnet50, tmp_path, "fp32", "Offline", "accuracy", backend="test_backend_tflite:NCHWFedTFLite")
    # the model contract (harness/runner/contract.py) stops it before calibration, naming both shapes
    assert "input 'input_tensor:0' has shape [N, 224, 224, 3], dtype float32" in str(info.value)
    assert "expected [N, 3, 224, 224] float32 (the staged samples, NCHW)" in str(info.value)


def test_asking_for_int8_with_the_fp32_file_fails_the_run_clearly(proxy_resnet50, tmp_path):
    with pytest.raises(RunFailed, match="could not start") as info:
        _run(proxy_resnet50, tmp_path, "int8", "Offline", "accuracy", model=FILES["fp32"])
    assert f"{FILES['fp32']}: asked for int8, but this file is a fp32 model" in str(info.value)
