"""Make the example-classifier's data and model: ``python examples/custom-benchmark/make_proxy.py``.

The data is scikit-learn's bundled handwritten digits (8x8 images, ten
classes; no download), split deterministically; the model is a multinomial
logistic regression fitted on the training part and written as a small ONNX
graph by hand (MatMul, Add, ArgMax), so the example needs nothing that is
not already installed. Writes, beside this script:
- ``data/digits.csv``: the evaluation split in this benchmark's own format
  (header ``label,p0,...,p63``; one sample per line, pixels 0..16);
- ``proxy/classifier.onnx`` and ``proxy/reference.json`` (the accuracy the
  model reaches on data/digits.csv, which the registry entry repeats).
Running it again writes the same bytes.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PIXELS = 64
CLASSES = 10
EVAL_EVERY = 4  # every fourth digit is held out for the benchmark


def split():
    from sklearn.datasets import load_digits

    digits = load_digits()
    held_out = np.arange(len(digits.target)) % EVAL_EVERY == 0
    return (digits.data[~held_out], digits.target[~held_out]), (digits.data[held_out], digits.target[held_out])


def fit(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000, C=0.1)
    model.fit(x / 16.0, y)
    # The graph takes raw pixels 0..16: fold the /16 into the weights.
    return (model.coef_.T / 16.0).astype(np.float32), model.intercept_.astype(np.float32)


def onnx_model(weights: np.ndarray, bias: np.ndarray) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["pixels", "W"], ["scores"]),
            helper.make_node("Add", ["scores", "b"], ["logits"]),
            helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
        ],
        "example_classifier",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", PIXELS])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="examples/custom-benchmark/make_proxy.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main(out: Path = HERE) -> int:
    (train_x, train_y), (eval_x, eval_y) = split()
    weights, bias = fit(train_x, train_y)
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "proxy").mkdir(parents=True, exist_ok=True)
    lines = ["label," + ",".join(f"p{i}" for i in range(PIXELS))]
    lines += [f"{int(label)}," + ",".join(str(int(v)) for v in row) for row, label in zip(eval_x, eval_y)]
    (out / "data" / "digits.csv").write_text("\n".join(lines) + "\n")
    model = onnx_model(weights, bias)
    (out / "proxy" / "classifier.onnx").write_bytes(model)
    predicted = np.argmax(eval_x.astype(np.float32) @ weights + bias, axis=1)
    accuracy = round(float(np.mean(predicted == eval_y)) * 100, 4)
    (out / "proxy" / "reference.json").write_text(json.dumps({
        "accuracy": accuracy, "samples": int(len(eval_y)),
        "sha256": hashlib.sha256(model).hexdigest(), "builder": "examples/custom-benchmark/make_proxy.py",
    }, indent=2) + "\n")
    print(f"example-classifier: accuracy {accuracy}% on {len(eval_y)} digits (chance 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
