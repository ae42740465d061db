"""The PyTorch backend, its resnet50 proxy module and the ResNet50 v1.5 architecture.

Unit tests run in this process; the end-to-end tests run the real harness
(LoadGen in a child process) on the committed torch proxy. Layout: torch
models here take NCHW, the layout the harness's preprocessing produces, so
there is no NCHW/NHWC staging question to test for this backend (the
transposing LayoutView is exercised by the NHWC backends' tests).
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the pytorch backend needs torch (pip install -e '.[pytorch]')")

from harness.backends import BackendConfig, BackendError, DeviceUnavailable, ModelLoadError, SilentFallback  # noqa: E402
from harness.backends.pytorch_backend import DEFAULT_ARCHITECTURE, PyTorchBackend  # noqa: E402
from harness.case_run import execute_case  # noqa: E402
from harness.matrix import Case  # noqa: E402
from harness.options import RunOptions  # noqa: E402
from harness.proxies import PROXY_DIR, RESNET50_PROXY_ONNX  # noqa: E402
from harness.registry import load_registry  # noqa: E402
from harness.runner import RunFailed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROXY_PT = PROXY_DIR / "resnet50_proxy_torch.pt"
RESNET50 = "harness.models.torch_resnet50:ResNet50"
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"
BENCH = load_registry()["resnet50"]
OFFERED = ("fp32", "bf16", "fp16")


def _config(path=PROXY_PT, *, device="cpu", precision="fp32", outputs=(ARGMAX,), threads=2, **options):
    return BackendConfig(
        model_path=Path(path), device=device, precision=precision, threads=threads, inputs=(INPUT,),
        outputs=outputs, contract_outputs=(ARGMAX, SOFTMAX), options=options,
    )


def _loaded(path=PROXY_PT, **kwargs) -> PyTorchBackend:
    backend = PyTorchBackend()
    backend.load(_config(path, **kwargs))
    return backend


@pytest.fixture(scope="module")
def samples(proxy_resnet50):
    """The first 64 preprocessed val samples (NCHW float32) and their labels."""
    return np.ascontiguousarray(np.load(proxy_resnet50.samples_path, mmap_mode="r")[:64]), proxy_resnet50.evaluation.labels[:64]


# --- the backend --------------------------------------------------------------


LOAD_WITHOUT_SPIN = """
import sys
from pathlib import Path
import harness.backends.pytorch_backend as b
print(b.PyTorchBackend.layout, "torch" in sys.modules)
backend = b.PyTorchBackend()
backend.load(b.BackendConfig(model_path=Path(sys.argv[1]), threads=1, inputs=("input_tensor:0",),
             outputs=("ArgMax:0",), contract_outputs=("ArgMax:0", "softmax_tensor:0"), options={"spin": False}))
print(backend.info()["omp_wait_policy"])
"""


def test_torch_loads_only_with_a_model_and_without_spinning_when_asked(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    out = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_SPIN, str(PROXY_PT)], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["NCHW", "False", "PASSIVE"]


def test_predict_returns_the_requested_outputs_in_order_as_numpy(samples):
    x, _ = samples
    backend = _loaded(outputs=(SOFTMAX, ARGMAX))
    softmax, argmax = backend.predict({INPUT: x[:5]})
    assert isinstance(softmax, np.ndarray) and softmax.dtype == np.float32 and softmax.shape == (5, 1001)
    assert isinstance(argmax, np.ndarray) and argmax.dtype == np.int64 and argmax.shape == (5,)
    np.testing.assert_allclose(softmax.sum(axis=1), 1.0, rtol=1e-5)
    assert (softmax.argmax(axis=1) == argmax).all()
    (only,) = _loaded().predict({INPUT: x[:5]})
    assert (only == argmax).all()


def test_the_torch_proxy_matches_onnx_runtime(samples):
    ort = pytest.importorskip("onnxruntime", reason="the comparison needs the ONNX proxy's runtime")
    x, labels = samples
    session = ort.InferenceSession(str(RESNET50_PROXY_ONNX), providers=["CPUExecutionProvider"])
    want_argmax, want_softmax = session.run([ARGMAX, SOFTMAX], {INPUT: x})
    argmax, softmax = _loaded(outputs=(ARGMAX, SOFTMAX)).predict({INPUT: x})
    assert (argmax == want_argmax).all()
    np.testing.assert_allclose(softmax, want_softmax, atol=1e-5)
    assert np.mean(argmax - 1 == labels) > 0.9  # digit d is class d + 1


def test_read_only_inputs_are_used_in_place_without_a_warning(samples):
    x, _ = samples
    frozen = x[:4].copy()
    frozen.flags.writeable = False
    backend = _loaded()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (argmax,) = backend.predict({INPUT: frozen})
    assert (argmax == backend.predict({INPUT: x[:4]})[0]).all()


@pytest.mark.parametrize("precision, dtype", [("fp32", "float32"), ("bf16", "bfloat16"), ("fp16", "float16")])
def test_info_reports_what_the_parameters_actually_are(precision, dtype, samples):
    backend = _loaded(precision=precision, threads=1, outputs=(ARGMAX, SOFTMAX))
    argmax, softmax = backend.predict({INPUT: samples[0][:3]})
    # numpy has no bfloat16: outputs keep the contract's dtypes whatever ran
    assert argmax.dtype == np.int64 and softmax.dtype == np.float32
    info = backend.info()
    assert info["backend"] == "pytorch" and info["device"] == "cpu" and info["torch_device"] == "cpu"
    assert info["precision"] == precision and info["parameter_dtype"] == dtype
    assert info["intra_op_threads"] == 1 == torch.get_num_threads()
    assert info["framework_version"] == torch.__version__
    assert info["architecture"] == DEFAULT_ARCHITECTURE


def test_a_file_that_is_not_a_state_dict_names_the_file_and_the_format(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ModelLoadError, match="cannot read this file") as info:
        _loaded(garbage)
    assert str(garbage) in str(info.value)
    assert f"expected a torch state dict for {DEFAULT_ARCHITECTURE}" in str(info.value)

    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(ModelLoadError, match=r"holds a Tensor, not a mapping of names to tensors") as info:
        _loaded(tensor)
    assert str(tensor) in str(info.value)


def test_the_wrong_architecture_lists_missing_and_unexpected_keys():
    with pytest.raises(ModelLoadError) as info:
        _loaded(architecture=RESNET50)
    message = str(info.value)
    assert str(PROXY_PT) in message and f"expected a torch state dict for {RESNET50}" in message
    assert "missing keys: conv1.weight, bn1.weight, bn1.bias," in message and "and 257 more;" in message
    assert message.endswith("unexpected keys: feature_mean, feature_scale, rbf_centers_2gamma, rbf_center_bias, "
                            "gamma, ridge_weights, ridge_bias, pad_logit, selected_features, class_pads")


def test_a_state_dict_with_a_wrongly_shaped_tensor_is_a_load_error(tmp_path):
    state = torch.load(PROXY_PT, weights_only=True)
    state["ridge_weights"] = torch.zeros(5, 10)
    bad = tmp_path / "shapes.pt"
    torch.save(state, bad)
    with pytest.raises(ModelLoadError, match=r"tensors do not fit .* size mismatch for ridge_weights: .*\[5, 10\]"):
        _loaded(bad)


def test_an_unimportable_architecture_or_precision_is_refused():
    with pytest.raises(BackendError, match="cannot import the pytorch architecture 'no_such_module:Model'"):
        _loaded(architecture="no_such_module:Model")
    with pytest.raises(BackendError, match="runs fp32, bf16, fp16, not int8"):
        _loaded(precision="int8")
    with pytest.raises(BackendError, match=r"MetaOutputs does not take the options \{'num_classes': 5\}"):
        _loaded(architecture=f"{__name__}:MetaOutputs", num_classes=5)


@pytest.mark.skipif(torch.version.cuda is not None or torch.version.hip is not None,
                    reason="this torch build has GPU support: the CPU-only reasons do not apply")
def test_gpu_devices_are_unavailable_here_with_the_reason():
    assert PyTorchBackend.probe("cpu") is None
    assert "is a CPU-only build" in PyTorchBackend.probe("cuda")
    assert "is not a ROCm build" in PyTorchBackend.probe("rocm")
    with pytest.raises(DeviceUnavailable, match="CPU-only build"):
        _loaded(device="cuda")


def test_device_probe_reasons(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_xla", None)  # import fails as if not installed
    assert PyTorchBackend.probe("tpu") == "torch_xla is not installed: PyTorch reaches TPUs only through torch_xla"
    assert "no device 'npu'" in PyTorchBackend.probe("npu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    assert PyTorchBackend.probe("cuda").endswith("(CUDA 12.8) sees no CUDA device")
    monkeypatch.setattr(torch.version, "hip", "6.4")
    assert "is a ROCm (HIP 6.4) build, not CUDA" in PyTorchBackend.probe("cuda")
    assert PyTorchBackend.probe("rocm").endswith("(HIP 6.4) sees no ROCm device")


def test_a_model_left_on_another_device_is_a_silent_fallback(monkeypatch):
    # Pretend cuda is there but the move does nothing: the tensors stay on the CPU.
    monkeypatch.setattr(PyTorchBackend, "probe", classmethod(lambda cls, device: None))
    monkeypatch.setattr(PyTorchBackend, "_torch_device", lambda self, torch_, device: torch.device("cpu"))
    with pytest.raises(SilentFallback, match=r"asked pytorch for cuda, but model tensors are on \['cpu'\]"):
        _loaded(device="cuda")


class MetaOutputs(torch.nn.Module):
    """Parameters on the CPU, outputs somewhere else (as a fallback would be)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1), requires_grad=False)

    def forward(self, x):
        n = x.shape[0]
        return torch.zeros(n, dtype=torch.int64, device="meta"), torch.zeros(n, 1001, device="meta")


def test_outputs_on_another_device_are_a_silent_fallback(tmp_path, samples):
    path = tmp_path / "meta.pt"
    torch.save(MetaOutputs().state_dict(), path)
    backend = _loaded(path, architecture=f"{__name__}:MetaOutputs")
    with pytest.raises(SilentFallback, match=r"the model's outputs land on \['meta'\]"):
        backend.predict({INPUT: samples[0][:1]})


# --- the committed proxy file ---------------------------------------------------


def test_the_committed_state_dict_is_the_onnx_proxys_initializers():
    pytest.importorskip("onnx", reason="reading the ONNX proxy needs onnx")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_resnet50_torch_proxy as build
    finally:
        sys.path.remove(str(ROOT / "tools"))
    state = build.state_dict_from_onnx(RESNET50_PROXY_ONNX)
    keys = list(build.proxy_module(state).state_dict())
    # byte for byte: the build is deterministic and the file is current
    assert build.serialise(state, keys) == PROXY_PT.read_bytes()


# --- the ResNet50 v1.5 architecture for MLPerf's torchvision weights ---------------


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory):
    from harness.models.torch_resnet50 import ResNet50

    torch.manual_seed(0)
    model = ResNet50().eval()
    path = tmp_path_factory.mktemp("resnet50") / "resnet50-random.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_resnet50_has_torchvisions_key_layout_and_v1_5_strides(resnet50_file):
    _, model = resnet50_file
    state = model.state_dict()
    assert len(state) == 320  # torchvision's resnet50 state dict, num_batches_tracked included
    assert sum(v.numel() for k, v in state.items() if k.endswith(("weight", "bias"))) == 25_557_032
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes["conv1.weight"] == (64, 3, 7, 7) and shapes["fc.weight"] == (1000, 2048)
    assert shapes["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert shapes["layer4.2.bn3.running_var"] == (2048,) and "layer3.5.conv3.weight" in shapes
    assert "layer1.1.downsample.0.weight" not in shapes  # only each stage's first block projects
    first = model.layer2[0]
    assert first.conv1.stride == (1, 1) and first.conv2.stride == (2, 2) and first.downsample[0].stride == (2, 2)


def test_resnet50_state_dict_round_trips_through_the_backend(resnet50_file):
    path, model = resnet50_file
    backend = _loaded(path, architecture=RESNET50, outputs=(ARGMAX, SOFTMAX), threads=0)
    loaded = backend._model.state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in model.state_dict().items())
    # 64x64 keeps a random-weight forward fast; the pooling head takes any size.
    x = np.random.default_rng(0).normal(0, 60, (2, 3, 64, 64)).astype(np.float32)
    argmax, softmax = backend.predict({INPUT: x})
    assert argmax.shape == (2,) and argmax.dtype == np.int64
    assert softmax.shape == (2, 1000) and softmax.dtype == np.float32
    with torch.inference_mode():
        want, _ = model(torch.from_numpy(x))
    assert (argmax == want.numpy()).all()


def test_resnet50_missing_key_is_listed(resnet50_file, tmp_path):
    path, _ = resnet50_file
    state = torch.load(path, weights_only=True)
    del state["layer4.2.conv3.weight"]
    broken = tmp_path / "missing.pth"
    torch.save(state, broken)
    with pytest.raises(ModelLoadError, match=r"missing keys: layer4\.2\.conv3\.weight$") as info:
        _loaded(broken, architecture=RESNET50)
    assert str(broken) in str(info.value)


def test_resnet50_loads_a_legacy_checkpoint_without_batch_counters(resnet50_file, tmp_path):
    # MLPerf's resnet50-19c8e357.pth predates num_batches_tracked and the zip format.
    path, model = resnet50_file
    state = {k: v for k, v in torch.load(path, weights_only=True).items() if "num_batches_tracked" not in k}
    legacy = tmp_path / "legacy.pth"
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    backend = _loaded(legacy, architecture=RESNET50, num_classes=1000)
    assert torch.equal(backend._model.fc.weight, model.fc.weight)


def test_resnet50_maps_mlperf_preprocessing_onto_torchvision_normalisation(resnet50_file):
    from harness.models.torch_resnet50 import MLPERF_MEAN_RGB, TORCHVISION_MEAN, TORCHVISION_STD

    _, model = resnet50_file
    per_channel = {name: torch.tensor(v).view(1, 3, 1, 1) for name, v in
                   (("mlperf", MLPERF_MEAN_RGB), ("mean", TORCHVISION_MEAN), ("std", TORCHVISION_STD))}
    image = torch.rand(1, 3, 64, 64) * 255
    as_mlperf = image - per_channel["mlperf"]
    as_torchvision = (image / 255 - per_channel["mean"]) / per_channel["std"]
    seen = []
    hook = model.conv1.register_forward_hook(lambda module, args, out: seen.append(args[0].clone()))
    try:
        with torch.inference_mode():
            model(as_mlperf)
    finally:
        hook.remove()
    # the first conv sees what torchvision's transforms would have produced
    torch.testing.assert_close(seen[0], as_torchvision, rtol=1e-5, atol=1e-5)
    assert "input_scale" not in model.state_dict()  # the affine is not part of the torchvision layout


# --- end to end through the harness ---------------------------------------------------


@pytest.fixture
def torch_proxy(proxy_resnet50):
    return dataclasses.replace(proxy_resnet50, model_path=PROXY_PT, backend_options={"architecture": DEFAULT_ARCHITECTURE})


def _run(prov, precision, scenario, mode, out):
    return execute_case(Case("resnet50", "pytorch", "cpu", precision, scenario, mode), BENCH, prov, RunOptions(), out)


@pytest.mark.parametrize("precision", OFFERED)
def test_accuracy_offline_passes_the_gate(precision, torch_proxy, tmp_path):
    result = _run(torch_proxy, precision, "Offline", "accuracy", tmp_path / "acc")
    assert result.passed, result.failures
    assert result.accuracy.value >= result.accuracy.threshold == pytest.approx(BENCH.proxy.reference * 0.99)
    if precision == "fp32":  # the same graph and weights as the ONNX proxy: the same top-1
        assert result.accuracy.value == pytest.approx(BENCH.proxy.reference)
    info = result.child.result["backend_info"]
    assert info["precision"] == precision and info["parameter_dtype"] == {
        "fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[precision]


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
@pytest.mark.parametrize("precision", OFFERED)
def test_performance_is_valid(precision, scenario, torch_proxy, tmp_path):
    result = _run(torch_proxy, precision, scenario, "performance", tmp_path / "perf")
    assert result.passed, result.failures
    assert result.performance["result_validity"] == "VALID"
    assert result.child.result["backend_info"]["device"] == "cpu"


def test_zeroed_rbf_centres_fail_the_accuracy_gate(torch_proxy, tmp_path):
    state = torch.load(PROXY_PT, weights_only=True)
    state["rbf_centers_2gamma"] = torch.zeros_like(state["rbf_centers_2gamma"])
    corrupted = tmp_path / "corrupted.pt"
    torch.save(state, corrupted)
    result = _run(dataclasses.replace(torch_proxy, model_path=corrupted), "fp32", "Offline", "accuracy", tmp_path / "x")
    assert not result.passed
    assert result.accuracy.value < result.accuracy.threshold
    assert "accuracy gate failed" in "\n".join(result.failures)


def test_a_bad_model_file_stops_the_run_with_the_reason(torch_proxy, tmp_path):
    bad = tmp_path / "not-a-state-dict.pt"
    bad.write_bytes(b"junk")
    with pytest.raises(RunFailed, match="could not start") as info:
        _run(dataclasses.replace(torch_proxy, model_path=bad), "fp32", "Offline", "accuracy", tmp_path / "bad")
    assert f"{bad}: torch.load(weights_only=True) cannot read this file" in str(info.value)
