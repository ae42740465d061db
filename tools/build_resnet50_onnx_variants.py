#!/usr/bin/env python3
"""Build the reduced-precision ONNX variants of the ResNet50 proxy.

Writes, next to the fp32 proxy (harness/proxies/resnet50_proxy.onnx, the one
source of truth; this script only transforms its graph and initializers):

- ``resnet50_proxy_fp16.onnx``: every float initializer and every float op in
  float16 (onnxconverter-common's float16 converter), with Cast nodes at the
  boundary so the model still takes float32 ``input_tensor:0`` and returns
  float32 ``softmax_tensor:0`` / int64 ``ArgMax:0``: the ONNX Runtime backend
  feeds float32 as is and needs no change.
- ``resnet50_proxy_int8.onnx``: ONNX Runtime static quantization in QDQ format,
  calibrated (MinMax) on the digits CALIBRATION split (never the val split)
  through the real MLPerf preprocessing.  Only the two Gemm nodes (the RBF
  distances and the ridge read-out, i.e. all the weights) are quantized:
  activations uint8, weights int8 per tensor, the x86 U8S8 path, so ONNX
  Runtime's CPU provider fuses each DQ-Gemm group into a QGemm (float output)
  and really computes in int8; OpenVINO runs the same file with int8
  FullyConnected layers.  The pooling, standardisation, Exp, Pad and Softmax stay
  float: quantizing them too (the quantizer's default op list) costs 0.6
  points (95.0 %), two images above the 94.644 gate, for no speed gain on
  ops that are memory-bound anyway.

Each file carries in its ``metadata_props`` the sha256 of the fp32 source,
the precision, how it was made and the top-1 measured here on the val split;
the script refuses to write a variant below the registry's gate (proxy
reference x ratio).

Usage:  python tools/build_resnet50_onnx_variants.py [--out DIR]
Needs onnxconverter-common (1.16.0) for the fp16 conversion.
Reruns write byte-identical files on the same platform: fixed data, fixed
calibration order and batches, no timestamps; the int8 scales come from ONNX
Runtime's own float32 calibration pass, so another CPU could round a range
differently in its last bit.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from harness.benchmarks.resnet50 import imagenet  # noqa: E402
from harness.proxies import RESNET50_PROXY_ONNX, digits_imagenet  # noqa: E402

BUILDER_VERSION = "1"
INPUT, ARGMAX = "input_tensor:0", "ArgMax:0"
FP16_FILE, INT8_FILE = "resnet50_proxy_fp16.onnx", "resnet50_proxy_int8.onnx"
CALIBRATION_BATCH = 20  # 200 calibration images in 10 batches, always in val_map order
INT8_OP_TYPES = ("Gemm",)


def _onnx():
    import onnx

    return onnx


def fp16_model(fp32):
    """float16 weights and compute, float32 model I/O (names and shapes kept)."""
    from onnxconverter_common import float16

    # keep_io_types: Cast after the float32 input and before the float32
    # output; ArgMax:0 is int64 and untouched.
    model = float16.convert_float_to_float16(fp32, keep_io_types=True)
    _onnx().checker.check_model(model, full_check=True)
    return model


class ArrayCalibrationReader:
    """ONNX Runtime CalibrationDataReader over a preprocessed NCHW float32 array.

    Duck-typed (get_next / rewind) so importing this module does not import
    onnxruntime.quantization; quantize_static only calls these methods.
    """

    def __init__(self, samples: np.ndarray, batch: int = CALIBRATION_BATCH):
        self.samples, self.batch, self.position = samples, batch, 0

    def get_next(self) -> dict | None:
        if self.position >= len(self.samples):
            return None
        chunk = np.ascontiguousarray(self.samples[self.position : self.position + self.batch], dtype=np.float32)
        self.position += self.batch
        return {INPUT: chunk}

    def rewind(self) -> None:
        self.position = 0


def int8_model(fp32_path: Path, calibration: np.ndarray, out_path: Path):
    """Static QDQ quantization of the Gemm nodes, calibrated on ``calibration``."""
    # The quantizer logs a "consider pre-processing" hint on the root logger:
    # shape inference and graph fusion have nothing to add to this graph.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        _quantize(fp32_path, calibration, out_path)
    finally:
        root.setLevel(level)
    model = _onnx().load(str(out_path))
    _onnx().checker.check_model(model, full_check=True)
    return model


def _quantize(fp32_path: Path, calibration: np.ndarray, out_path: Path) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(fp32_path), str(out_path), ArrayCalibrationReader(calibration),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=list(INT8_OP_TYPES),
        per_channel=False,  # per tensor measured 95.6 %; per channel 95.0 %
        activation_type=QuantType.QUInt8,  # U8S8: the x86 fast path of ORT's MLAS and of OpenVINO
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        # Gemm outputs stay float (QGemm writes float32 directly): a Q/DQ pair
        # on the ridge logits also made OpenVINO 2026.4's low-precision Pad
        # transformation throw (the -20 pad logit does not fit its u8 range).
        extra_options={"OpTypesToExcludeOutputQuantization": ["Gemm"]},
    )


def calibration_samples(work_dir: Path) -> np.ndarray:
    directory = digits_imagenet.render_dataset(work_dir / "calibration", "calibration")
    samples, _ = imagenet.preprocess_dataset(directory)
    return samples


def top1(model_bytes: bytes, samples: np.ndarray, labels: np.ndarray, threads: int = 1) -> float:
    """Top-1 in percent through ONNX Runtime's CPU provider (class index - 1)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    preds = np.concatenate([session.run([ARGMAX], {INPUT: samples[i : i + 100]})[0] for i in range(0, len(samples), 100)])
    return 100.0 * int(np.sum(preds - 1 == labels)) / len(labels)


def gate_threshold() -> float:
    from harness.registry import load_registry

    bench = load_registry()["resnet50"]
    return bench.accuracy.threshold(bench.proxy.reference)


def stamp(model, *, precision: str, source_sha256: str, how: str, measured: float) -> bytes:
    """Provenance in the file itself; a fixed producer so reruns are identical."""
    onnx = _onnx()
    model.producer_name = "mlperf-pytest tools/build_resnet50_onnx_variants.py"
    model.producer_version = BUILDER_VERSION
    del model.metadata_props[:]
    props = {
        "source": RESNET50_PROXY_ONNX.name,
        "source_sha256": source_sha256,
        "precision": precision,
        "made_by": how,
        "measured_top1_val": f"{measured:.3f}",
    }
    onnx.helper.set_model_props(model, props)
    return model.SerializeToString()


def build(out_dir: Path) -> dict[str, float]:
    onnx = _onnx()
    source_bytes = RESNET50_PROXY_ONNX.read_bytes()
    source_sha = hashlib.sha256(source_bytes).hexdigest()
    threshold = gate_threshold()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="resnet50-variants-") as tmp:
        tmp = Path(tmp)
        val_dir = digits_imagenet.render_dataset(tmp / "val", "val")
        val, labels = imagenet.preprocess_dataset(val_dir)
        variants = {}

        fp16 = fp16_model(onnx.load_from_string(source_bytes))
        value = top1(fp16.SerializeToString(), val, labels)
        variants[FP16_FILE] = stamp(
            fp16, precision="fp16", source_sha256=source_sha, measured=value,
            how="onnxconverter_common.float16.convert_float_to_float16(keep_io_types=True)",
        )
        results["fp16"] = value

        int8 = int8_model(RESNET50_PROXY_ONNX, calibration_samples(tmp), tmp / "int8.onnx")
        value = top1(int8.SerializeToString(), val, labels)
        variants[INT8_FILE] = stamp(
            int8, precision="int8", source_sha256=source_sha, measured=value,
            how="onnxruntime.quantization.quantize_static QDQ MinMax, Gemm only (float outputs), U8 activations, "
            f"S8 weights per tensor, digits calibration split ({digits_imagenet.SPLITS['calibration']}) in batches of "
            f"{CALIBRATION_BATCH}",
        )
        results["int8"] = value
    low = {p: v for p, v in results.items() if v < threshold}
    if low:
        raise SystemExit(f"top-1 below the {threshold:.3f} gate: {low}; not writing the variants")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in variants.items():
        (out_dir / name).write_bytes(data)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "harness" / "proxies", help="output folder")
    args = parser.parse_args(argv)
    results = build(args.out)
    for precision, value in results.items():
        name = FP16_FILE if precision == "fp16" else INT8_FILE
        size = (args.out / name).stat().st_size
        print(f"wrote {args.out / name} ({size} bytes): top-1 {value:.1f}% on the val split")
    return 0


if __name__ == "__main__":
    sys.exit(main())
