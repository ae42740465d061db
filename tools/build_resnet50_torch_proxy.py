#!/usr/bin/env python3
"""Build the PyTorch resnet50 proxy: harness/proxies/resnet50_proxy_torch.pt.

The ONNX proxy (harness/proxies/resnet50_proxy.onnx, made by
tools/build_resnet50_proxy.py) is the one source of truth. This script
1. checks that the ONNX graph is exactly the op sequence that
   harness/proxies/torch_resnet50_proxy.py:Resnet50Proxy restates,
2. copies every ONNX initializer, under its ONNX name, into a state dict for
   that module (no training, no rounding: the same float32 values),
3. asserts that the module loads it strictly and agrees with ONNX Runtime on the
   500-image val split (the same ArgMax for >= 99.8 % of samples, and the same
   top-1), and only then writes the file with torch.save.

Usage:  python tools/build_resnet50_torch_proxy.py [--onnx FILE] [--out FILE]
Reruns write byte-identical files: the state dict is serialised into memory
(torch.save names the archive's records after the file it writes to, so a
buffer keeps them constant) and the zip records carry no timestamps; the
script saves twice and refuses to write if the two serialisations differ.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from harness.benchmarks.resnet50 import imagenet  # noqa: E402
from harness.proxies import PROXY_DIR, RESNET50_PROXY_ONNX, digits_imagenet  # noqa: E402

OUT_FILE = PROXY_DIR / "resnet50_proxy_torch.pt"
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"
MIN_AGREEMENT = 0.998
# (op type, inputs, outputs) of the ONNX proxy, in graph order: what the torch module restates.
EXPECTED_GRAPH = [
    ("AveragePool", [INPUT], ["pool"]),
    ("Flatten", ["pool"], ["features"]),
    ("Gather", ["features", "selected_features"], ["selected"]),
    ("Sub", ["selected", "feature_mean"], ["centred"]),
    ("Mul", ["centred", "feature_scale"], ["z"]),
    ("Gemm", ["z", "rbf_centers_2gamma", "rbf_center_bias"], ["zc"]),
    ("ReduceSumSquare", ["z"], ["z_sq"]),
    ("Mul", ["z_sq", "gamma"], ["z_sq_gamma"]),
    ("Sub", ["zc", "z_sq_gamma"], ["neg_dist"]),
    ("Exp", ["neg_dist"], ["rbf"]),
    ("Gemm", ["rbf", "ridge_weights", "ridge_bias"], ["digit_logits"]),
    ("Pad", ["digit_logits", "class_pads", "pad_logit"], ["logits"]),
    ("Softmax", ["logits"], [SOFTMAX]),
    ("ArgMax", ["logits"], [ARGMAX]),
]
# Attributes the torch module hard-codes; any other value means the graph changed.
EXPECTED_ATTRIBUTES = {
    "AveragePool": {"kernel_shape": [28, 28], "strides": [28, 28]},
    "Flatten": {"axis": 1},
    "Gather": {"axis": 1},
    "ReduceSumSquare": {"axes": [1], "keepdims": 1},
    "Pad": {"mode": b"constant"},
    "Softmax": {"axis": 1},
    "ArgMax": {"axis": 1, "keepdims": 0},
}


def check_graph(model) -> None:
    from onnx import helper

    found = [(n.op_type, list(n.input), list(n.output)) for n in model.graph.node]
    if found != EXPECTED_GRAPH:
        raise SystemExit(f"the ONNX proxy graph changed; update torch_resnet50_proxy.py first.\nfound: {found}")
    for node in model.graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Gemm":  # defaults only: alpha = beta = 1, no transposes
            expected = {}
        else:
            expected = EXPECTED_ATTRIBUTES.get(node.op_type, {})
        if attributes != expected:
            raise SystemExit(f"ONNX node {node.op_type} has attributes {attributes}; the torch module assumes {expected}")


def state_dict_from_onnx(onnx_path: Path) -> dict:
    import onnx
    import torch
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    check_graph(model)
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    # Every tensor its own contiguous storage: torch.save writes each storage once.
    return {name: torch.from_numpy(np.array(array, copy=True, order="C")) for name, array in arrays.items()}


def proxy_module(state: dict):
    from harness.proxies.torch_resnet50_proxy import Resnet50Proxy

    module = Resnet50Proxy()
    expected = module.state_dict()
    if set(expected) != set(state):
        raise SystemExit(
            f"ONNX initializers {sorted(state)} do not match Resnet50Proxy's state dict {sorted(expected)}"
        )
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise SystemExit(
                f"initializer {name} is {tuple(tensor.shape)} {tensor.dtype}; Resnet50Proxy's defaults expect "
                f"{tuple(expected[name].shape)} {expected[name].dtype} (update N_* in torch_resnet50_proxy.py)"
            )
    module.load_state_dict(state, strict=True)
    return module.eval()


def serialise(state: dict, module_keys) -> bytes:
    import torch

    buffer = io.BytesIO()
    # The module's own key order, so the file reads like module.state_dict().
    torch.save({key: state[key] for key in module_keys}, buffer)
    return buffer.getvalue()


def compare_on_val(onnx_path: Path, module) -> dict:
    """ArgMax agreement and top-1 of torch against ONNX Runtime on the val split."""
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory(prefix="resnet50-torch-proxy-") as tmp:
        val_dir = digits_imagenet.render_dataset(Path(tmp) / "val", "val")
        samples, labels = imagenet.preprocess_dataset(val_dir)
    ort_argmax, ort_softmax, torch_argmax, torch_softmax = [], [], [], []
    with torch.inference_mode():
        for start in range(0, len(samples), 50):
            batch = samples[start : start + 50]
            a, s = session.run([ARGMAX, SOFTMAX], {INPUT: batch})
            ort_argmax.append(a)
            ort_softmax.append(s)
            ta, ts = module(torch.from_numpy(batch))
            torch_argmax.append(ta.numpy())
            torch_softmax.append(ts.numpy())
    ort_argmax, torch_argmax = np.concatenate(ort_argmax), np.concatenate(torch_argmax)
    softmax_diff = float(np.abs(np.concatenate(ort_softmax) - np.concatenate(torch_softmax)).max())
    return {
        "agreement": float(np.mean(ort_argmax == torch_argmax)),
        "onnx_top1": 100.0 * float(np.mean(ort_argmax - 1 == labels)),
        "torch_top1": 100.0 * float(np.mean(torch_argmax - 1 == labels)),
        "max_softmax_diff": softmax_diff,
    }


def build(onnx_path: Path, out: Path) -> dict:
    import torch

    torch.set_num_threads(1)  # the comparison does not depend on the pool size
    state = state_dict_from_onnx(onnx_path)
    module = proxy_module(state)
    keys = list(module.state_dict())
    data = serialise(state, keys)
    if serialise(state, keys) != data:
        raise SystemExit("torch.save wrote different bytes for the same state dict: not writing the model")
    reloaded = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    comparison = compare_on_val(onnx_path, proxy_module(reloaded))
    if comparison["agreement"] < MIN_AGREEMENT or comparison["torch_top1"] != comparison["onnx_top1"]:
        raise SystemExit(f"torch proxy disagrees with ONNX Runtime: {comparison}; not writing the model")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return {"path": out, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **comparison}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, default=RESNET50_PROXY_ONNX, help="the ONNX proxy to convert")
    parser.add_argument("--out", type=Path, default=OUT_FILE, help="the state dict to write")
    args = parser.parse_args(argv)
    r = build(args.onnx, args.out)
    print(
        f"wrote {r['path']} ({r['bytes']} bytes, sha256 {r['sha256'][:12]}): ArgMax agrees with ONNX Runtime on "
        f"{100 * r['agreement']:.1f}% of the val split, top-1 {r['torch_top1']}% (ONNX {r['onnx_top1']}%), "
        f"max softmax difference {r['max_softmax_diff']:.2e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
