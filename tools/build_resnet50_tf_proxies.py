#!/usr/bin/env python3
"""Build the TensorFlow and TFLite resnet50 proxies from the ONNX proxy.

The ONNX proxy (harness/proxies/resnet50_proxy.onnx, made by
tools/build_resnet50_proxy.py) is the one source of truth: this script reads
its graph and initializers and rebuilds the same computation in TensorFlow ops,
taking NHWC input [N,224,224,3] float32 as the real MLPerf TF ResNet50 does:

    AvgPool 28x28/28 (NHWC) -> [N,8,8,3] -> reshape [N,192]
    -> gather the ONNX model's selected features, their indices remapped from
       the ONNX NCHW flatten order (c*64 + h*8 + w) to NHWC order (h*24 + w*3 + c)
    -> standardise -> RBF exp(2g z.c - g|c|^2 - g|z|^2) -> MatMul to 10 digits
    -> pad to 1001 classes -> softmax_tensor, ArgMax (int64).

Writes under harness/proxies/:
    resnet50_proxy_savedmodel/     SavedModel; signature serving_default:
                                   input_tensor -> {ArgMax, softmax_tensor}
    resnet50_proxy.tflite          fp32
    resnet50_proxy_fp16.tflite     float16 weights (computed in float32)
    resnet50_proxy_int8.tflite     int8, calibrated on the calibration split (never
                                   val); float32 input and output; every op in int8
                                   but SQUARE (TFLite has no int8 kernel for it)

Every file is checked against ONNX Runtime's argmax and the accuracy gate on
the val split before anything is written; the script prints what it measured.
Measured with TensorFlow 2.21 / ai-edge-litert 2.3: SavedModel, fp32 and fp16
TFLite 95.6 % (100 % agreement with ONNX Runtime), int8 95.0 % (99.4 %).
Reruns write byte-identical files (the SavedModel fingerprint's random uuid
is cleared; the weights are the ONNX initializers, nothing is trained).

Usage:  python tools/build_resnet50_tf_proxies.py [--out DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from harness.benchmarks.resnet50 import imagenet  # noqa: E402
from harness.proxies import RESNET50_PROXY_ONNX, digits_imagenet  # noqa: E402

SAVEDMODEL = "resnet50_proxy_savedmodel"
TFLITE = {"fp32": "resnet50_proxy.tflite", "fp16": "resnet50_proxy_fp16.tflite", "int8": "resnet50_proxy_int8.tflite"}
INPUT, ARGMAX, SOFTMAX = "input_tensor", "ArgMax", "softmax_tensor"
# The op sequence this script knows how to translate; anything else means the
# ONNX builder changed and this translation must be revisited.
EXPECTED_OPS = ["AveragePool", "Flatten", "Gather", "Sub", "Mul", "Gemm", "ReduceSumSquare", "Mul", "Sub", "Exp",
                "Gemm", "Pad", "Softmax", "ArgMax"]
# Agreement with ONNX Runtime's argmax on val, below which a file is not written.
MIN_AGREEMENT = {"fp32": 1.0, "fp16": 0.99, "int8": 0.97}


def onnx_weights(path: Path = RESNET50_PROXY_ONNX) -> dict:
    """The ONNX proxy's initializers and attributes, checked against EXPECTED_OPS."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    if ops != EXPECTED_OPS:
        raise SystemExit(f"{path}: unexpected op sequence {ops}; this script translates {EXPECTED_OPS}")
    w = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    pool = next(n for n in model.graph.node if n.op_type == "AveragePool")
    attrs = {a.name: list(onnx.helper.get_attribute_value(a)) for a in pool.attribute}
    if attrs["kernel_shape"] != attrs["strides"] or len(set(attrs["kernel_shape"])) != 1:
        raise SystemExit(f"{path}: AveragePool {attrs} is not a square non-overlapping pool")
    w["pool"] = attrs["kernel_shape"][0]
    return w


def nhwc_feature_indices(selected: np.ndarray, channels: int, cells: int) -> np.ndarray:
    """ONNX flatten indices of an NCHW [C,H,W] map, as indices into the NHWC flatten."""
    c, rest = np.divmod(selected, cells * cells)
    h, x = np.divmod(rest, cells)
    return ((h * cells + x) * channels + c).astype(np.int32)


def make_module(w: dict):
    import tensorflow as tf

    pool = int(w["pool"])
    cells = 224 // pool
    pads = w["class_pads"].reshape(2, 2).T  # ONNX [begin0, begin1, end0, end1] -> [[b0, e0], [b1, e1]]

    class ResNet50Proxy(tf.Module):
        def __init__(self):
            super().__init__(name="resnet50_proxy")
            # Variables, as a trained model has: freezing them is then real work.
            self.features = tf.Variable(nhwc_feature_indices(w["selected_features"], 3, cells), trainable=False,
                                        name="selected_features")
            self.mean = tf.Variable(w["feature_mean"], name="feature_mean")
            self.scale = tf.Variable(w["feature_scale"], name="feature_scale")
            self.centers = tf.Variable(w["rbf_centers_2gamma"], name="rbf_centers_2gamma")
            self.center_bias = tf.Variable(w["rbf_center_bias"], name="rbf_center_bias")
            self.gamma = tf.Variable(w["gamma"], name="gamma")
            self.ridge = tf.Variable(w["ridge_weights"], name="ridge_weights")
            self.ridge_bias = tf.Variable(w["ridge_bias"], name="ridge_bias")

        @tf.function(input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32, name=INPUT)])
        def serve(self, images):
            pooled = tf.nn.avg_pool2d(images, pool, pool, "VALID")  # [N, 8, 8, 3]
            flat = tf.reshape(pooled, [-1, cells * cells * 3])
            z = (tf.gather(flat, self.features, axis=1) - self.mean) * self.scale
            zc = tf.matmul(z, self.centers) + self.center_bias
            z_sq = tf.reduce_sum(tf.square(z), axis=1, keepdims=True) * self.gamma
            rbf = tf.exp(zc - z_sq)
            digits = tf.matmul(rbf, self.ridge) + self.ridge_bias
            logits = tf.pad(digits, pads, constant_values=float(w["pad_logit"]))
            # Named as in the real MLPerf graph, so a frozen GraphDef has
            # ArgMax:0 and softmax_tensor:0.
            return {
                ARGMAX: tf.math.argmax(logits, axis=1, output_type=tf.int64, name=ARGMAX),
                SOFTMAX: tf.nn.softmax(logits, axis=1, name=SOFTMAX),
            }

    return ResNet50Proxy()


def nhwc_split(split: str, tmp: Path) -> tuple[np.ndarray, np.ndarray]:
    """The split through the MLPerf pipeline, transposed to NHWC."""
    folder = digits_imagenet.render_dataset(tmp / split, split)
    samples, labels = imagenet.preprocess_dataset(folder)
    return np.ascontiguousarray(samples.transpose(0, 2, 3, 1)), labels


def onnx_argmax(nchw: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(RESNET50_PROXY_ONNX), opts, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["ArgMax:0"], {"input_tensor:0": nchw[i:i + 100]})[0]
                           for i in range(0, len(nchw), 100)])


def tflite_argmax(content: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=content, num_threads=1)
    runner = interp.get_signature_runner("serving_default")
    return np.concatenate([runner(**{INPUT: x[i:i + 100]})[ARGMAX] for i in range(0, len(x), 100)])


def convert_tflite(saved_model: Path, precision: str, calibration: np.ndarray | None = None) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

        def representative():
            for i in range(0, len(calibration), 10):
                yield {INPUT: calibration[i:i + 10]}

        converter.representative_dataset = representative
        # Every op with an int8 kernel runs in int8. TFLite has none for
        # SQUARE, so the converter keeps that one op in float32 between a
        # DEQUANTIZE and a QUANTIZE; input and output stay float32 at the
        # boundary (QUANTIZE / DEQUANTIZE inside the model).
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def top1(argmax: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * int(np.sum(argmax - 1 == labels)) / len(labels)


def build(out_dir: Path, threshold: float) -> dict:
    """Build, check against the accuracy ``threshold`` and write every file; return {file name: measurements}."""
    import tensorflow as tf

    w = onnx_weights()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="resnet50-tf-proxy-") as tmp:
        tmp = Path(tmp)
        val, labels = nhwc_split("val", tmp)
        calibration, _ = nhwc_split("calibration", tmp)
        expected = onnx_argmax(np.ascontiguousarray(val.transpose(0, 3, 1, 2)))

        saved = tmp / SAVEDMODEL
        module = make_module(w)
        tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serve})
        _clear_fingerprint_uuid(saved)
        if not any((saved / "assets").iterdir()):
            (saved / "assets").rmdir()  # empty; git would not keep it anyway
        serve = tf.saved_model.load(str(saved)).signatures["serving_default"]
        got = np.concatenate([serve(**{INPUT: tf.constant(val[i:i + 100])})[ARGMAX].numpy()
                              for i in range(0, len(val), 100)])
        results[SAVEDMODEL] = _check(SAVEDMODEL, "fp32", got, expected, labels, threshold)
        for precision, name in TFLITE.items():
            content = convert_tflite(saved, precision, calibration if precision == "int8" else None)
            results[name] = _check(name, precision, tflite_argmax(content, val), expected, labels, threshold)
            (tmp / name).write_bytes(content)

        # Written only once every file passed its check.
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in results:
            dest = out_dir / name
            if dest.is_dir():
                shutil.rmtree(dest)
            if (tmp / name).is_dir():
                shutil.copytree(tmp / name, dest)
            else:
                shutil.copyfile(tmp / name, dest)
            results[name]["sha256"] = _digest(dest)
    return results


def freeze_graph_def(saved_model: Path, out_pb: Path) -> Path:
    """Freeze the SavedModel's serving signature into a GraphDef .pb file.

    Named like the real MLPerf resnet50_v1.pb: input_tensor:0, ArgMax:0 and
    softmax_tensor:0 (the restored signature nests its ops under
    StatefulPartitionedCall/, so the outputs get Identity nodes with the
    MLPerf names). Used by the tests of the frozen-graph path.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    loaded = tf.saved_model.load(str(saved_model))
    signature = loaded.signatures["serving_default"]
    frozen = convert_variables_to_constants_v2(signature)
    graph_def = frozen.graph.as_graph_def()
    # The frozen function's outputs are the signature's, flattened: by sorted key.
    for name, tensor in zip(sorted(signature.structured_outputs), frozen.outputs):
        node = graph_def.node.add(name=name, op="Identity", input=[tensor.name.split(":")[0]])
        node.attr["T"].type = tensor.dtype.as_datatype_enum
    out_pb.write_bytes(graph_def.SerializeToString(deterministic=True))
    return out_pb


def _clear_fingerprint_uuid(saved: Path) -> None:
    """fingerprint.pb carries a random uuid per save; the content hashes stay."""
    from tensorflow.core.protobuf import fingerprint_pb2

    path = saved / "fingerprint.pb"
    fingerprint = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))


def _check(name: str, precision: str, got: np.ndarray, expected: np.ndarray, labels: np.ndarray,
           threshold: float) -> dict:
    agreement = float(np.mean(got == expected))
    score = top1(got, labels)
    print(f"{name:32s} {precision}: top-1 {score:.1f}%, argmax agrees with ONNX Runtime on {agreement:.1%}",
          file=sys.stderr)
    if agreement < MIN_AGREEMENT[precision] or score < threshold:
        raise SystemExit(f"{name}: top-1 {score}% (threshold {threshold:.3f}), agreement {agreement:.3f} "
                         f"(minimum {MIN_AGREEMENT[precision]}): not writing the files")
    return {"precision": precision, "top1": score, "onnx_agreement": agreement}


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        h.update(str(p.relative_to(path)).encode() if path.is_dir() else b"")
        h.update(p.read_bytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "harness" / "proxies", help="output folder")
    args = parser.parse_args(argv)
    # Set here, not at import: the tests import freeze_graph_def from this file.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN's blocked float kernels may sum in another order on another CPU;
    # the checks before writing must not depend on that.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    from harness.registry import load_registry

    bench = load_registry()["resnet50"]
    results = build(args.out, bench.accuracy.threshold(bench.proxy.reference))
    for name, r in results.items():
        print(f"wrote {args.out / name}: {r['precision']} top-1 {r['top1']}%, sha256 {r['sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
