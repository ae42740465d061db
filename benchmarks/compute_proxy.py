"""A compute-bound stand-in for the resnet50 proxy, built on demand (never committed).

The resnet50 proxy is memory-bound: one 28x28 average pool over a 600 KB
input, ~0.13 ms a sample whatever the batch, so batching cannot help its
Server figure. This model keeps its input/output contract (``input_tensor:0``
[N, 3, 224, 224] float32 -> ``ArgMax:0`` [N] int64 and ``softmax_tensor:0``
[N, 1001]) and puts a few milliseconds of dense layers behind the same pool:
at batch 1 every run reads all the weights for one sample; at batch 32 the
same read serves 32, so a Server SUT that batches wins by far more than one
that runs every query alone. The weights are seeded: the same file each time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HIDDEN = 2560
LAYERS = 3
CLASSES = 1001
POOLED = 3 * 8 * 8  # a 28x28 pool with stride 28 over 224x224


def build(path: Path, hidden: int = HIDDEN, layers: int = LAYERS, seed: int = 0) -> Path:
    """Write the model to ``path`` (if it is not there yet) and return it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    if path.is_file():
        return path
    rng = np.random.default_rng(seed)
    sizes = [POOLED] + [hidden] * layers + [CLASSES]
    nodes = [
        helper.make_node("AveragePool", ["input_tensor:0"], ["pooled"], kernel_shape=[28, 28], strides=[28, 28]),
        helper.make_node("Flatten", ["pooled"], ["h0"], axis=1),
    ]
    weights = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = np.zeros(fan_out, dtype=np.float32)
        weights += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        last = i == len(sizes) - 2
        nodes.append(helper.make_node("Gemm", [f"h{i}", f"w{i}", f"b{i}"], ["logits" if last else f"g{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"g{i}"], [f"h{i + 1}"]))
    nodes += [
        helper.make_node("Softmax", ["logits"], ["softmax_tensor:0"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["ArgMax:0"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "compute_bound_proxy",
        [helper.make_tensor_value_info("input_tensor:0", TensorProto.FLOAT, ["unk__batch", 3, 224, 224])],
        [helper.make_tensor_value_info("ArgMax:0", TensorProto.INT64, ["unk__batch"]),
         helper.make_tensor_value_info("softmax_tensor:0", TensorProto.FLOAT, ["unk__batch", CLASSES])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)  # a reader never sees half a file
    return path
