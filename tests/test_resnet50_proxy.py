"""The committed ResNet50 proxy model: contract, accuracy, mutations, provenance."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.benchmarks.resnet50 import imagenet
from harness.proxies import RESNET50_PROXY_JSON, RESNET50_PROXY_ONNX, digits_imagenet, resnet50_proxy_metadata

ort = pytest.importorskip("onnxruntime", reason="the proxy model runs on ONNX Runtime")

ROOT = Path(__file__).resolve().parents[1]
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"


@pytest.fixture(scope="module")
def meta():
    return resnet50_proxy_metadata()


@pytest.fixture(scope="module")
def session():
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(RESNET50_PROXY_ONNX), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def val_dir(tmp_path_factory):
    return digits_imagenet.render_dataset(tmp_path_factory.mktemp("proxy") / "val", "val")


def _predict(session, dataset_dir, channel_order):
    samples, labels = imagenet.preprocess_dataset(dataset_dir, channel_order=channel_order)
    preds = np.concatenate([session.run([ARGMAX], {INPUT: samples[i : i + 50]})[0] for i in range(0, len(samples), 50)])
    return preds, labels


@pytest.fixture(scope="module")
def rgb_predictions(session, val_dir):
    return _predict(session, val_dir, "RGB")


def top1(preds, labels, offset=1):
    return 100.0 * np.mean(preds - offset == labels)


def test_io_contract_matches_the_real_resnet50_onnx(session):
    (inp,) = session.get_inputs()
    assert inp.name == INPUT and inp.type == "tensor(float)"
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [3, 224, 224]  # dynamic batch
    outputs = {o.name: o for o in session.get_outputs()}
    assert list(outputs) == [ARGMAX, SOFTMAX]
    assert outputs[ARGMAX].type == "tensor(int64)" and len(outputs[ARGMAX].shape) == 1
    assert outputs[SOFTMAX].type == "tensor(float)" and outputs[SOFTMAX].shape[1:] == [1001]


@pytest.mark.parametrize("batch", [1, 7])
def test_outputs_for_a_batch(session, batch):
    x = np.random.default_rng(batch).uniform(-120, 130, size=(batch, 3, 224, 224)).astype(np.float32)
    argmax, softmax = session.run([ARGMAX, SOFTMAX], {INPUT: x})
    assert argmax.dtype == np.int64 and argmax.shape == (batch,)
    assert softmax.dtype == np.float32 and softmax.shape == (batch, 1001)
    np.testing.assert_allclose(softmax.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(argmax, softmax.argmax(axis=1))


def test_only_digit_classes_get_probability(session, val_dir):
    x = np.stack([imagenet.preprocess_image(val_dir / name) for name, _ in imagenet.read_val_map(val_dir, 8)])
    (softmax,) = session.run([SOFTMAX], {INPUT: x})
    # Class 0 is background and classes 11..1000 are not digits.
    assert softmax[:, 1:11].sum(axis=1).min() > 0.99
    assert softmax[:, 0].max() < 1e-3 and softmax[:, 11:].max() < 1e-3


def test_top1_equals_the_recorded_reference(rgb_predictions, meta):
    value = top1(*rgb_predictions)
    assert value == pytest.approx(meta["reference_top1"], abs=0.2)
    assert value >= 90.0


def test_bgr_channel_order_collapses_top1(session, val_dir):
    value = top1(*_predict(session, val_dir, "BGR"))
    assert value < 50.0, f"BGR input still gives {value}% top-1: the proxy does not depend on colour order"


def test_without_the_class_offset_top1_collapses(rgb_predictions):
    value = top1(*rgb_predictions, offset=0)
    assert value < 20.0, f"{value}% top-1 without the -1 offset: classes are not offset like the real model"


def test_metadata_describes_the_committed_model(meta):
    data = RESNET50_PROXY_ONNX.read_bytes()
    assert meta["onnx_sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["onnx_bytes"] == len(data) < 1_000_000
    assert meta["dataset"]["size"] == 500 and meta["dataset"]["split"] == "val"
    assert meta["dataset"]["generator_version"] == digits_imagenet.GENERATOR_VERSION
    assert meta["preprocessing"] == imagenet.PIPELINE_VERSION
    assert meta["num_classes"] == 1001 and meta["class_offset"] == 1


@pytest.mark.slow
def test_build_script_reproduces_the_committed_files(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_resnet50_proxy.py"), "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "resnet50_proxy.onnx").read_bytes() == RESNET50_PROXY_ONNX.read_bytes(), (
        "rebuilding gives a different model: a change to the renderer, the preprocessing or the build "
        "script needs a rebuild (python tools/build_resnet50_proxy.py) and a new reference in the registry"
    )
    assert (out / "resnet50_proxy.json").read_text() == RESNET50_PROXY_JSON.read_text()
