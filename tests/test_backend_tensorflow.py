"""The TensorFlow backend on the SavedModel proxy and on a frozen GraphDef made from it.

Unit tests run in this process; the end-to-end tests run the real harness
(LoadGen in a child process). The models take NHWC like the real MLPerf
TensorFlow ResNet50; ``NCHWFedTensorFlow`` below stages NCHW data on purpose
and is imported by the child as ``test_backend_tensorflow:NCHWFedTensorFlow``.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow", reason="the tensorflow backend needs tensorflow (pip install tensorflow-cpu)")

from harness.backends import (  # noqa: E402
    BackendConfig, BackendError, DeviceUnavailable, ModelLoadError, SilentFallback,
)
from harness.backends.tensorflow_backend import TensorFlowBackend  # noqa: E402
from harness.case_run import execute_case  # noqa: E402
from harness.matrix import Case  # noqa: E402
from harness.options import RunOptions  # noqa: E402
from harness.proxies import PROXY_DIR, RESNET50_PROXY_ONNX  # noqa: E402
from harness.registry import load_registry  # noqa: E402
from harness.runner import RunFailed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAVEDMODEL = PROXY_DIR / "resnet50_proxy_savedmodel"
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"
BENCH = load_registry()["resnet50"]


class NCHWFedTensorFlow(TensorFlowBackend):
    """The harness stages NCHW samples for it, while the model takes NHWC."""

    layout = "NCHW"


def _config(path=SAVEDMODEL, *, device="cpu", precision="fp32", outputs=(ARGMAX,), threads=2):
    return BackendConfig(model_path=Path(path), device=device, precision=precision, threads=threads,
                         inputs=(INPUT,), outputs=outputs, contract_outputs=(ARGMAX, SOFTMAX))


def _loaded(path=SAVEDMODEL, **kwargs) -> TensorFlowBackend:
    backend = TensorFlowBackend()
    backend.load(_config(path, **kwargs))
    return backend


@pytest.fixture(scope="module")
def samples(nhwc_reference_samples):
    return nhwc_reference_samples


@pytest.fixture(scope="module")
def frozen_pb(tmp_path_factory):
    """The SavedModel frozen to a GraphDef named like MLPerf's resnet50_v1.pb."""
    from tools.build_resnet50_tf_proxies import freeze_graph_def

    return freeze_graph_def(SAVEDMODEL, tmp_path_factory.mktemp("frozen") / "resnet50_proxy_frozen.pb")


# --- the backend --------------------------------------------------------------


def test_importing_the_backend_does_not_import_tensorflow():
    code = ("import sys, harness.backends.tensorflow_backend as b; "
            "print(b.TensorFlowBackend.layout, b.TensorFlowBackend.probe('cpu'), 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["NHWC", "None", "False"]


@pytest.mark.parametrize("model", ["savedmodel", "frozen"])
def test_both_formats_match_onnx_runtime_with_outputs_in_the_order_asked(model, samples, frozen_pb):
    x, want_argmax, want_softmax, labels = samples
    backend = _loaded(SAVEDMODEL if model == "savedmodel" else frozen_pb, outputs=(SOFTMAX, ARGMAX))
    softmax, argmax = backend.predict({INPUT: x})
    assert softmax.dtype == np.float32 and softmax.shape == (64, 1001)
    assert argmax.dtype == np.int64 and argmax.shape == (64,)
    assert (argmax == want_argmax).all()
    np.testing.assert_allclose(softmax, want_softmax, atol=1e-5)
    assert np.mean(argmax - 1 == labels) > 0.9
    assert backend.info()["model_format"] == ("SavedModel" if model == "savedmodel" else "frozen GraphDef")


def test_the_frozen_graph_has_the_mlperf_tensor_names(frozen_pb):
    graph_def = tf.compat.v1.GraphDef.FromString(frozen_pb.read_bytes())
    nodes = {n.name: n.op for n in graph_def.node}
    assert nodes["input_tensor"] == "Placeholder"
    assert "ArgMax" in nodes and "softmax_tensor" in nodes
    assert not any(n.op in ("VarHandleOp", "ReadVariableOp") for n in graph_def.node)  # frozen: constants only


def test_info_reports_what_ran(samples):
    backend = _loaded(threads=1)
    backend.predict({INPUT: samples[0][:3]})
    info = backend.info()
    assert info["backend"] == "tensorflow" and info["device"] == "cpu" and info["precision"] == "fp32"
    assert info["precision_mode"] == "float32"
    assert all(d.endswith("device:CPU:0") for d in info["tf_device"])
    assert info["framework_version"] == tf.__version__
    # Threads are fixed once TensorFlow's runtime starts, and other tests in
    # this process started it: what is reported is what TensorFlow uses (the
    # child-process runs below check that the setting holds there).
    assert info["intra_op_threads"] == tf.config.threading.get_intra_op_parallelism_threads()
    assert info["intra_op_threads_requested"] == 1


def test_bf16_is_grapplers_rewrite_and_proven_by_changed_outputs(samples):
    x, want_argmax, _, _ = samples
    backend = _loaded(precision="bf16", outputs=(ARGMAX, SOFTMAX))
    argmax, softmax = backend.predict({INPUT: x})
    mode = backend.info()["precision_mode"]
    assert mode.startswith("grappler auto_mixed_precision_onednn_bfloat16: mixed bf16/float32")
    assert float(mode.rsplit(" ", 1)[1]) > 0.0
    assert softmax.dtype == np.float32 and np.mean(argmax == want_argmax) >= 0.95
    # The process-wide option is reset by the next load: fp32 again exactly.
    assert (_loaded().predict({INPUT: x})[0] == want_argmax).all()
    assert _loaded().info()["precision_mode"] == "float32"


def test_a_rewrite_that_does_not_happen_is_a_silent_fallback(monkeypatch):
    """On a CPU without bf16 (or with oneDNN off) grappler leaves the graph as it is."""
    real = tf.config.optimizer.set_experimental_options
    monkeypatch.setattr(tf.config.optimizer, "set_experimental_options",
                        lambda options: real({k: False for k in options}))
    with pytest.raises(SilentFallback, match="asked TensorFlow for bf16 on cpu, but grappler's .* did not rewrite"):
        _loaded(precision="bf16")


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_precisions_without_a_rewrite_are_refused(precision):
    with pytest.raises(BackendError, match=f"no {precision} on cpu: it runs fp32 models, rewritten by grappler "
                                           "only for bf16 on cpu, fp16 on cuda"):
        _loaded(precision=precision)


def test_files_of_other_formats_name_the_file_and_the_formats(tmp_path):
    expected = "expected a SavedModel folder (saved_model.pb and variables/) or a frozen GraphDef .pb file"
    not_pb = tmp_path / "model.pb"
    not_pb.write_bytes(b"\xff\xff\xff this is not a protobuf")
    onnx_file, empty_dir = RESNET50_PROXY_ONNX, tmp_path / "empty"
    empty_dir.mkdir()
    for path in (not_pb, onnx_file, empty_dir, tmp_path / "missing.pb"):
        with pytest.raises(ModelLoadError) as info:
            _loaded(path)
        assert str(path) in str(info.value) and expected in str(info.value)


def test_missing_tensors_are_named(frozen_pb):
    with pytest.raises(ModelLoadError, match=r"signature 'serving_default' has no output\(s\) \['nope:0'\]"):
        _loaded(outputs=("nope:0",))
    with pytest.raises(ModelLoadError, match=r"the graph has no tensor\(s\) \['nope:0'\]"):
        _loaded(frozen_pb, outputs=("nope:0",))


@pytest.mark.parametrize("model", ["savedmodel", "frozen"])
def test_nchw_data_is_a_shape_error_not_an_empty_answer(model, frozen_pb):
    backend = _loaded(SAVEDMODEL if model == "savedmodel" else frozen_pb)
    with pytest.raises(ValueError, match=r"input shape mismatch: got a batch of shape \[2, 3, 224, 224\], .* "
                                         r"takes \[N,224,224,3\]"):
        backend.predict({INPUT: np.zeros((2, 3, 224, 224), np.float32)})


def test_only_aligned_batches_are_shared_without_a_copy(samples, monkeypatch):
    """DLPack for 64-byte aligned arrays; TensorFlow aborts the process on others, so they are copied."""
    x = samples[0][:8]
    raw = np.empty(x.nbytes + 128, np.uint8)
    offset = -raw.ctypes.data % 64
    aligned = raw[offset:offset + x.nbytes].view(np.float32).reshape(x.shape)
    unaligned = raw[offset + 4:offset + 4 + x.nbytes].view(np.float32).reshape(x.shape)
    assert aligned.ctypes.data % 64 == 0 and unaligned.ctypes.data % 64 == 4
    shared = []
    real = tf.experimental.dlpack.from_dlpack
    monkeypatch.setattr(tf.experimental.dlpack, "from_dlpack", lambda capsule: shared.append(1) or real(capsule))
    backend = _loaded(outputs=(SOFTMAX,))
    shared.clear()  # the load's own probe batches
    aligned[:] = x
    (from_aligned,) = backend.predict({INPUT: aligned})
    assert len(shared) == 1
    unaligned[:] = x
    (from_unaligned,) = backend.predict({INPUT: unaligned})
    assert len(shared) == 1
    np.testing.assert_array_equal(from_aligned, from_unaligned)


def _skip_if_a_gpu_is_visible(why: str) -> None:
    # Probed here, at run time, not at import: the child process imports this module.
    if tf.config.list_physical_devices("GPU"):
        pytest.skip(f"a GPU is visible to TensorFlow here: {why}")


@pytest.mark.parametrize("device", ["cuda", "rocm"])
def test_a_gpu_device_without_a_gpu_build_is_a_skip_reason(device):
    _skip_if_a_gpu_is_visible("there is no reason to report")
    reason = TensorFlowBackend.probe(device)
    assert "CPU-only build" in reason or "not a" in reason or "sees no GPU" in reason
    with pytest.raises(DeviceUnavailable, match="TensorFlow|tensorflow"):
        _loaded(device=device)


def test_tpu_is_a_skip_reason():
    assert "does not drive TPUs" in TensorFlowBackend.probe("tpu")


def test_a_gpu_run_that_lands_on_the_cpu_fails_loudly(monkeypatch):
    """Eager TensorFlow places ops softly: /GPU:0 without a GPU runs on the CPU."""
    _skip_if_a_gpu_is_visible("nothing falls back")
    monkeypatch.setattr(TensorFlowBackend, "probe", classmethod(lambda cls, device: None))
    with pytest.raises(SilentFallback, match=r"asked TensorFlow for /GPU:0, but the outputs were computed on .*CPU:0"):
        _loaded(device="cuda")


# --- end to end: LoadGen in a child process ----------------------------------


def _run(prov, tmp_path, precision, scenario, mode, backend="tensorflow", model=SAVEDMODEL):
    case = Case("resnet50", backend, "cpu", precision, scenario, mode)
    prov = dataclasses.replace(prov, model_path=Path(model))
    return execute_case(case, BENCH, prov, RunOptions(timeout_s=300), tmp_path / case.id.replace(":", "_"))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_offline_accuracy_passes_the_gate(precision, proxy_resnet50, tmp_path):
    result = _run(proxy_resnet50, tmp_path, precision, "Offline", "accuracy")
    assert result.passed, result.failures
    assert result.accuracy.value >= result.accuracy.threshold
    info = result.child.result["backend_info"]
    assert info["precision"] == precision and info["model_format"] == "SavedModel"
    # A fresh process: the harness's thread count (all cores for Offline) holds.
    assert info["intra_op_threads"] == os.cpu_count() and info["inter_op_threads"] == 1


@pytest.mark.slow  # the frozen path's answers are checked against ONNX Runtime in-process above
def test_the_frozen_graph_passes_the_gate(proxy_resnet50, tmp_path, frozen_pb):
    result = _run(proxy_resnet50, tmp_path, "fp32", "Offline", "accuracy", model=frozen_pb)
    assert result.passed, result.failures
    assert result.accuracy.value == 95.6  # the very answers of the ONNX proxy
    assert result.child.result["backend_info"]["model_format"] == "frozen GraphDef"


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
def test_performance_runs_are_valid(precision, scenario, proxy_resnet50, tmp_path):
    result = _run(proxy_resnet50, tmp_path, precision, scenario, "performance")
    assert result.passed, result.failures
    assert result.performance["result_validity"] == "VALID"


def test_nchw_data_fed_to_the_nhwc_model_fails_the_run_naming_the_shapes(proxy_resnet50, tmp_path,
                                                                         fault_backends_on_path):
    with pytest.raises(RunFailed, match="could not start") as info:
        _run(proxy_resnet50, tmp_path, "fp32", "Offline", "accuracy",
             backend="test_backend_tensorflow:NCHWFedTensorFlow")
    # the model contract (harness/runner/contract.py) stops it before calibration, naming both shapes
    assert "input 'input_tensor:0' has shape [N, 224, 224, 3], dtype float32" in str(info.value)
    assert "expected [N, 3, 224, 224] float32 (the staged samples, NCHW)" in str(info.value)


# --- the committed files --------------------------------------------------------


@pytest.mark.slow
def test_build_script_reproduces_the_committed_files(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_resnet50_tf_proxies.py"), "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    committed = [SAVEDMODEL / "saved_model.pb", SAVEDMODEL / "fingerprint.pb", *SAVEDMODEL.glob("variables/*"),
                 *(PROXY_DIR / name for name in ("resnet50_proxy.tflite", "resnet50_proxy_fp16.tflite",
                                                 "resnet50_proxy_int8.tflite"))]
    assert len(committed) == 7
    rebuilt = {path.relative_to(out) for path in out.rglob("*") if path.is_file()}
    assert rebuilt == {path.relative_to(PROXY_DIR) for path in committed}
    int8 = PROXY_DIR / "resnet50_proxy_int8.tflite"
    for path in committed:
        rebuilt_bytes, committed_bytes = (out / path.relative_to(PROXY_DIR)).read_bytes(), path.read_bytes()
        if path == int8:
            # TFLite's int8 calibration sums floats in an order that depends on
            # the CPU's vector width: on another CPU a scale can differ in its
            # last bit (seen: one byte of 89 kB). Same size, at most a few bytes apart.
            assert len(rebuilt_bytes) == len(committed_bytes), "rebuilding changed the int8 model's layout"
            differing = sum(a != b for a, b in zip(rebuilt_bytes, committed_bytes))
            assert differing <= 16, f"rebuilding changes {differing} bytes of {path.name}"
            continue
        assert rebuilt_bytes == committed_bytes, (
            f"rebuilding gives a different {path.name}: the ONNX proxy or the build script changed; "
            "rerun python tools/build_resnet50_tf_proxies.py and commit the files"
        )
