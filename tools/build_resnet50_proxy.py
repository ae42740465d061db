#!/usr/bin/env python3
"""Build the ResNet50 proxy model: harness/proxies/resnet50_proxy.{onnx,json}.

The proxy keeps the real MLPerf ResNet50 ONNX contract (input ``input_tensor:0``
float32 [N,3,224,224]; outputs ``ArgMax:0`` int64 [N] and ``softmax_tensor:0``
float32 [N,1001]; class 0 is background, digit d is class d+1) and is trained
on the digits proxy dataset (harness/proxies/digits_imagenet.py) through the
real MLPerf preprocessing, so a pipeline bug shows up as lost accuracy.

Graph (ONNX opset 17, built with onnx.helper; no torch):
    AveragePool 28x28/28 -> [N,3,8,8] -> Flatten -> [N,192]
    -> Gather the 64 features ranked best by an ANOVA F-test on the train split
    -> standardise -> RBF layer exp(-gamma * |z - c|^2) over the 1,097 train
       points c -> Gemm to 10 digit logits (kernel ridge regression weights)
    -> Pad with a low constant to 1,001 classes (background + digits + 990)
    -> Softmax -> softmax_tensor:0, and ArgMax -> ArgMax:0.
Why a kernel model and not Gemm-Relu-Gemm: on this fixed split (val = the last
500 digits, which are the hardest) an MLP on the pooled features tops out near
90-91 %, too close to the 90 % floor; kernel ridge reaches about 96 %, is
solved in closed form (no random init, no iteration) and is deterministic.
The F-test is what makes the model read the red channel: red carries the
label, blue and green carry distractors, so a red/blue swap collapses top-1.

Usage:  python tools/build_resnet50_proxy.py [--out DIR]
Reruns write byte-identical files on the same platform: fixed data and split,
exact float64 pooling, single-threaded BLAS, weights rounded to 16 mantissa
bits (so last-bit BLAS noise cannot change the stored floats), and no
timestamps in the model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from harness.benchmarks.resnet50 import imagenet  # noqa: E402
from harness.proxies import digits_imagenet  # noqa: E402

BUILDER_VERSION = "1"
OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; read by ORT 1.x
NUM_CLASSES = 1001
NUM_DIGITS = 10
POOL = 28  # 224 / 28 = 8, the digits' own grid
N_FEATURES = 64
GAMMA = 0.02  # RBF width on standardised features; 0.005-0.04 all give 94-96 %
RIDGE = 0.1  # kernel ridge regulariser
LOGIT_SCALE = 10.0  # ridge outputs ~0/1; scaled so the softmax is confident
PAD_LOGIT = -20.0  # non-digit classes: far below any digit, mild for int8 ranges
MIN_TOP1 = 90.0
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"
BATCH_DIM = "unk__batch"


def pooled_features(dataset_dir: Path, channel_order: str = "RGB") -> tuple[np.ndarray, np.ndarray]:
    """AveragePool 28x28 of each preprocessed image, flattened as the graph does.

    Summed in float64: the float32 inputs are multiples of 2**-17 below 2**9,
    so the sums are exact in any order and the features do not depend on the
    CPU's SIMD width.  Streams image by image to keep memory small.
    """
    entries = imagenet.read_val_map(dataset_dir)
    feats = np.empty((len(entries), 3 * 8 * 8), dtype=np.float64)
    for i, (name, _) in enumerate(entries):
        x = imagenet.preprocess_image(dataset_dir / name, channel_order=channel_order)
        cells = x.astype(np.float64).reshape(3, 8, POOL, 8, POOL).sum(axis=(2, 4))
        feats[i] = (cells / (POOL * POOL)).ravel()
    return feats, np.array([label for _, label in entries], dtype=np.int64)


def round_mantissa(x: np.ndarray, bits: int = 16) -> np.ndarray:
    """float32 copy of ``x`` rounded to ``bits`` mantissa bits (see module doc)."""
    m, e = np.frexp(np.asarray(x, dtype=np.float64))
    return np.ldexp(np.round(m * 2.0**bits) / 2.0**bits, e).astype(np.float32)


def train(feats: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    from sklearn.feature_selection import f_classif
    from threadpoolctl import threadpool_limits

    f_scores, _ = f_classif(feats, labels)
    # Ties broken by index (stable sort) so the choice is reproducible.
    selected = np.sort(np.argsort(-np.nan_to_num(f_scores, nan=0.0), kind="stable")[:N_FEATURES])
    x = feats[:, selected]
    mean = x.mean(axis=0)
    scale = 1.0 / x.std(axis=0)
    mean, scale = round_mantissa(mean).astype(np.float64), round_mantissa(scale).astype(np.float64)
    centers = round_mantissa((x - mean) * scale).astype(np.float64)
    sq = (centers**2).sum(axis=1)
    kernel = np.exp(-GAMMA * (sq[:, None] - 2.0 * centers @ centers.T + sq[None, :]))
    targets = np.eye(NUM_DIGITS)[labels]
    with threadpool_limits(1):  # one thread: the same summation order every run
        alpha = np.linalg.solve(kernel + RIDGE * np.eye(len(x)), targets)
    return {
        "selected": selected.astype(np.int64),
        "mean": round_mantissa(mean),
        "scale": round_mantissa(scale),
        "centers_t": round_mantissa(2.0 * GAMMA * centers.T),  # 2*gamma*c, as Gemm's B
        "center_bias": round_mantissa(-GAMMA * sq),  # -gamma*|c|^2, as Gemm's C
        "alpha": round_mantissa(LOGIT_SCALE * alpha),
    }


def make_model(w: dict[str, np.ndarray]):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name, array):
        return numpy_helper.from_array(np.asarray(array), name)

    n_centers = w["alpha"].shape[0]
    initializers = [
        const("selected_features", w["selected"]),
        const("feature_mean", w["mean"]),
        const("feature_scale", w["scale"]),
        const("rbf_centers_2gamma", w["centers_t"]),
        const("rbf_center_bias", w["center_bias"]),
        const("gamma", np.array(GAMMA, dtype=np.float32)),
        const("ridge_weights", w["alpha"]),
        const("ridge_bias", np.zeros(NUM_DIGITS, dtype=np.float32)),
        # Class 0 is background and classes 11..1000 are not digits.
        const("class_pads", np.array([0, 1, 0, NUM_CLASSES - NUM_DIGITS - 1], dtype=np.int64)),
        const("pad_logit", np.array(PAD_LOGIT, dtype=np.float32)),
    ]
    nodes = [
        helper.make_node("AveragePool", [INPUT], ["pool"], kernel_shape=[POOL, POOL], strides=[POOL, POOL]),
        helper.make_node("Flatten", ["pool"], ["features"], axis=1),
        helper.make_node("Gather", ["features", "selected_features"], ["selected"], axis=1),
        helper.make_node("Sub", ["selected", "feature_mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "feature_scale"], ["z"]),
        # exp(-gamma*|z-c|^2) = exp(2*gamma*z.c - gamma*|c|^2 - gamma*|z|^2)
        helper.make_node("Gemm", ["z", "rbf_centers_2gamma", "rbf_center_bias"], ["zc"]),
        helper.make_node("ReduceSumSquare", ["z"], ["z_sq"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["z_sq", "gamma"], ["z_sq_gamma"]),
        helper.make_node("Sub", ["zc", "z_sq_gamma"], ["neg_dist"]),
        helper.make_node("Exp", ["neg_dist"], ["rbf"]),
        helper.make_node("Gemm", ["rbf", "ridge_weights", "ridge_bias"], ["digit_logits"]),
        helper.make_node("Pad", ["digit_logits", "class_pads", "pad_logit"], ["logits"], mode="constant"),
        helper.make_node("Softmax", ["logits"], [SOFTMAX], axis=1),
        helper.make_node("ArgMax", ["logits"], [ARGMAX], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "resnet50_proxy",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [BATCH_DIM, 3, 224, 224])],
        [
            helper.make_tensor_value_info(ARGMAX, TensorProto.INT64, [BATCH_DIM]),
            helper.make_tensor_value_info(SOFTMAX, TensorProto.FLOAT, [BATCH_DIM, NUM_CLASSES]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="mlperf-pytest tools/build_resnet50_proxy.py",
        producer_version=BUILDER_VERSION,
        doc_string=f"ResNet50 I/O-compatible proxy for the digits proxy dataset v{digits_imagenet.GENERATOR_VERSION}; "
        f"{n_centers} RBF centres",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def predict(model_bytes: bytes, dataset_dir: Path, *, channel_order: str = "RGB") -> tuple[np.ndarray, np.ndarray]:
    """(ArgMax:0 predictions, labels) for the dataset through ONNX Runtime."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    entries = imagenet.read_val_map(dataset_dir)
    preds = []
    for start in range(0, len(entries), 100):  # batches keep memory small
        names = [name for name, _ in entries[start : start + 100]]
        batch = np.stack([imagenet.preprocess_image(dataset_dir / n, channel_order=channel_order) for n in names])
        preds.append(sess.run([ARGMAX], {INPUT: batch})[0])
    return np.concatenate(preds), np.array([label for _, label in entries], dtype=np.int64)


def top1(preds: np.ndarray, labels: np.ndarray, offset: int = 1) -> float:
    """Top-1 in percent as MLPerf computes it: class index minus the offset."""
    return 100.0 * int(np.sum(preds - offset == labels)) / len(labels)


def build(out_dir: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="resnet50-proxy-") as tmp:
        train_dir = digits_imagenet.render_dataset(Path(tmp) / "train", "train")
        val_dir = digits_imagenet.render_dataset(Path(tmp) / "val", "val")
        feats, labels = pooled_features(train_dir)
        model_bytes = make_model(train(feats, labels)).SerializeToString()
        preds, val_labels = predict(model_bytes, val_dir)
        bgr_preds, _ = predict(model_bytes, val_dir, channel_order="BGR")
    reference, no_offset = top1(preds, val_labels), top1(preds, val_labels, offset=0)
    bgr = top1(bgr_preds, val_labels)
    if reference < MIN_TOP1:
        raise SystemExit(f"reference top-1 {reference}% is below the {MIN_TOP1}% floor: not writing the model")
    if bgr >= 50.0 or no_offset >= 20.0:
        raise SystemExit(f"mutations do not bite (BGR {bgr}%, no offset {no_offset}%): not writing the model")

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "resnet50_proxy.onnx"
    onnx_path.write_bytes(model_bytes)
    meta = {
        "model": "resnet50",
        "onnx_file": onnx_path.name,
        "onnx_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "onnx_bytes": len(model_bytes),
        "builder": "tools/build_resnet50_proxy.py",
        "builder_version": BUILDER_VERSION,
        "opset": OPSET,
        "inputs": {INPUT: ["float32", [BATCH_DIM, 3, 224, 224]]},
        "outputs": {ARGMAX: ["int64", [BATCH_DIM]], SOFTMAX: ["float32", [BATCH_DIM, NUM_CLASSES]]},
        "num_classes": NUM_CLASSES,
        "class_offset": 1,
        "dataset": {
            "generator": "harness.proxies.digits_imagenet",
            "generator_version": digits_imagenet.GENERATOR_VERSION,
            "split": "val",
            "size": digits_imagenet.SPLITS["val"][1] - digits_imagenet.SPLITS["val"][0],
            "train_size": len(labels),
        },
        "preprocessing": imagenet.PIPELINE_VERSION,
        "metric": "top-1 accuracy, percent",
        "reference_top1": reference,
        "mutations": {"bgr_top1": bgr, "no_offset_top1": no_offset},
    }
    (out_dir / "resnet50_proxy.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "harness" / "proxies", help="output folder")
    args = parser.parse_args(argv)
    meta = build(args.out)
    print(
        f"wrote {args.out / meta['onnx_file']} ({meta['onnx_bytes']} bytes, sha256 {meta['onnx_sha256'][:12]}): "
        f"top-1 {meta['reference_top1']}%, BGR {meta['mutations']['bgr_top1']}%, "
        f"no offset {meta['mutations']['no_offset_top1']}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
