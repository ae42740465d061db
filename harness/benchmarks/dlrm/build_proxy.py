"""Build the dlrm-v2 proxy: train TinyDLRM on generated clicks, export it, measure its AUC.

    .venv/bin/python -m harness.benchmarks.dlrm.build_proxy [--epochs N] [--out DIR]

Deterministic: the training rows come from ``synthetic`` (the proxy's world,
a seed of their own, never a row of the proxy's day 23), batches from a
seeded permutation, torch on one thread with a fixed seed. It writes into
``proxy/`` (or ``--out``):

- ``dlrm_proxy.onnx``: opset 17, inputs ``dense`` float32 [N, 13] and
  ``sparse`` int32 [N, 67], output ``probability`` float32 [N], N free;
- ``dlrm_proxy_torch.pt``: the state dict for the pytorch backend;
- ``proxy.json``: the measured reference and each file's sha256.

The reference is the AUC of ONNX Runtime's scores over the proxy dataset
(its day 23 rendered as ``dataset.proxy_directory`` does, staged and
grouped into samples as a run stages them), through the task, written as a
LoadGen accuracy log and scored by ``scorer.AucScorer``. Also measured the
same way: the PyTorch proxy, the labels shuffled across the rows (the
mutation the gate must catch), and the best AUC any model could reach (the
click probabilities the labels were drawn from). Takes about 1 minute on one core.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the family folder as a package first
    import importlib

    _HERE = Path(__file__).resolve().parent
    sys.path.insert(0, str(_HERE.parent))
    __package__ = _HERE.name
    importlib.import_module(__package__)

import numpy as np

from . import layout, synthetic

HERE = Path(__file__).resolve().parent
PROXY_DIR = HERE / "proxy"
ONNX_FILE = "dlrm_proxy.onnx"
TORCH_FILE = "dlrm_proxy_torch.pt"
REFERENCE_FILE = "proxy.json"
ARCHITECTURE = "harness.benchmarks.dlrm.model:TinyDLRM"
OPSET = 17
TRAIN_ROWS = 400_000
TRAIN_SEED = 7
EPOCHS = 5
BATCH = 1024
LEARNING_RATE = 4e-3
SEED = 1729
SHUFFLE_SEED = 5
SAMPLES_PER_CALL = 64  # how many samples one task.run answers in the measurement


def train(rows: synthetic.Rows, epochs: int):
    import torch

    from .model import TinyDLRM

    torch.manual_seed(SEED)
    dense = torch.from_numpy(rows.dense)
    sparse = torch.from_numpy(np.concatenate(rows.sparse, axis=1))
    labels = torch.from_numpy(rows.labels[:, 0].astype(np.float32))
    model = TinyDLRM()
    steps = epochs * -(-len(labels) // BATCH)
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.2)
    order = np.random.default_rng(SEED)
    start = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        permutation = torch.from_numpy(order.permutation(len(labels)))
        for first in range(0, len(labels), BATCH):
            batch = permutation[first: first + BATCH]
            (probability,) = model(dense[batch], sparse[batch])
            loss = torch.nn.functional.binary_cross_entropy(probability, labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        print(f"epoch {epoch}  loss {loss.item():.4f}  {time.perf_counter() - start:5.0f} s", flush=True)
    return model.eval()


def export(model, out_dir: Path) -> None:
    import torch

    torch.save(model.state_dict(), out_dir / TORCH_FILE)
    dense = torch.zeros(3, layout.DENSE_FEATURES)  # more than one row, so the exporter keeps the axis free
    sparse = torch.zeros(3, sum(layout.PROXY_MULTI_HOT), dtype=torch.int32)
    rows = {0: "rows"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(model, (dense, sparse), str(out_dir / ONNX_FILE), input_names=["dense", "sparse"],
                          output_names=["probability"],
                          dynamic_axes={"dense": rows, "sparse": rows, "probability": rows},
                          opset_version=OPSET, dynamo=False)


def backend(kind: str, model_file: Path, threads: int = 1):
    from harness.backends.base import BackendConfig

    from .task import ClickThroughRate

    if kind == "onnxruntime":
        from harness.backends.onnxruntime_backend import OnnxRuntimeBackend as cls
        options = {}
    else:
        from harness.backends.pytorch_backend import PyTorchBackend as cls
        options = {"architecture": ARCHITECTURE}
    task = ClickThroughRate
    instance = cls()
    instance.load(BackendConfig(model_path=model_file, threads=threads, inputs=task.inputs, outputs=task.outputs,
                                contract_outputs=task.contract_outputs, options=options))
    return instance


def answer(task, model, volumes) -> list[np.ndarray]:
    """Every staged sample through ``task.run``, ``SAMPLES_PER_CALL`` at a time, in index order."""
    answers: list[np.ndarray] = []
    for first in range(0, len(volumes), SAMPLES_PER_CALL):
        indices = np.arange(first, min(first + SAMPLES_PER_CALL, len(volumes)))
        answers += task.run(model, [volumes[int(i)] for i in indices], indices)
    return answers


def write_accuracy_log(path: Path, answers: list[np.ndarray]) -> Path:
    """LoadGen's mlperf_log_accuracy.json for one response per sample, in query-sample-index order."""
    entries = [{"seq_id": i, "qsl_idx": i, "data": a.tobytes().hex().upper()} for i, a in enumerate(answers)]
    path.write_text(json.dumps(entries))
    return path


def shuffled_labels_copy(source: Path, destination: Path, seed: int = SHUFFLE_SEED) -> Path:
    """The dataset with its label column permuted across the rows (features untouched)."""
    shutil.copytree(source, destination)
    labels = np.load(source / layout.LABELS_FILE)
    np.save(destination / layout.LABELS_FILE, labels[np.random.default_rng(seed).permutation(len(labels))])
    return destination


def measure(model_dir: Path, work: Path) -> dict:
    from harness.datasets.base import DatasetRequest
    from harness.staging import Volumes

    from .dataset import MultihotCriteoFormat
    from .scorer import AucScorer
    from .task import ClickThroughRate

    fmt = MultihotCriteoFormat()
    day = synthetic.render_dataset(work / "day23")
    prepared = fmt.prepare(day, DatasetRequest(cache_dir=work / "cache"))
    volumes = Volumes(prepared.samples_path)
    results = {"samples": len(volumes), "rows": int(prepared.truth.offsets[-1])}
    ort = backend("onnxruntime", model_dir / ONNX_FILE)
    torch_backend = backend("pytorch", model_dir / TORCH_FILE)
    for label, model, options in (("reference", ort, {}), ("pytorch", torch_backend, {}),
                                  ("reverse_rows=True", ort, {"reverse_rows": True})):
        start = time.perf_counter()
        answers = answer(ClickThroughRate(**options), model, volumes)
        elapsed = time.perf_counter() - start
        log = write_accuracy_log(work / f"{label}.json", answers)
        scored = AucScorer(prepared.truth).score(log)
        results[label] = {"auc": scored.values["AUC"], "line": scored.lines[0],
                          "ms_per_sample": 1e3 * elapsed / len(volumes)}
        results.setdefault("answers", {})[label] = answers
    shuffled = shuffled_labels_copy(day, work / "shuffled")
    truth = fmt.ground_truth(shuffled, DatasetRequest())
    scored = AucScorer(truth).score(work / "reference.json")
    results["shuffled_labels"] = {"auc": scored.values["AUC"], "line": scored.lines[0]}
    ort_scores = np.concatenate(results["answers"]["reference"])
    torch_scores = np.concatenate(results["answers"]["pytorch"])
    results["max_abs_score_difference"] = float(np.abs(ort_scores - torch_scores).max())
    rows = synthetic.draw_rows(synthetic.make_world(), synthetic.PROXY_DAY_ROWS, synthetic.EVAL_SEED)
    results["bayes_auc"] = 100.0 * synthetic.bayes_auc(rows, results["rows"])
    results["click_rate"] = float(prepared.truth.labels.mean())
    return results


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", type=Path, default=PROXY_DIR)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # deterministic, and polite on a shared machine
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = synthetic.draw_rows(synthetic.make_world(), TRAIN_ROWS, TRAIN_SEED)
    print(f"drew {TRAIN_ROWS} training rows in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    model = train(rows, args.epochs)
    train_s = time.perf_counter() - start
    export(model, args.out)
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args.out, Path(tmp))
    reference = results["reference"]
    record = {
        "reference_auc": round(reference["auc"], 3),
        "metric": "AUC (sklearn roc_auc_score over every row) as accuracy-dlrm.py computes it, in percent; "
                  "ONNX Runtime scores",
        "official_line": reference["line"],
        "chance_auc": 50.0,
        "bayes_auc": round(results["bayes_auc"], 3),
        "pytorch_auc": round(results["pytorch"]["auc"], 3),
        "mutations": {"shuffled_labels": round(results["shuffled_labels"]["auc"], 3),
                      "reverse_rows=True": round(results["reverse_rows=True"]["auc"], 3)},
        "dataset": f"synthetic v{synthetic.GENERATOR_VERSION}: {synthetic.PROXY_DAY_ROWS} rows in day 23, "
                   f"{results['rows']} evaluated in {results['samples']} samples, click rate "
                   f"{results['click_rate']:.3f}",
        "training": {"rows": TRAIN_ROWS, "epochs": args.epochs, "batch": BATCH, "learning_rate": LEARNING_RATE,
                     "seed": SEED, "seconds": round(train_s)},
        "files": {name: sha256(args.out / name) for name in (ONNX_FILE, TORCH_FILE)},
    }
    (args.out / REFERENCE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    for name in ("reference", "pytorch", "reverse_rows=True"):
        print(f"{name:18s} {results[name]['line']}  ({results[name]['ms_per_sample']:.2f} ms per sample)")
    print(f"{'shuffled labels':18s} {results['shuffled_labels']['line']}")
    print(f"best possible AUC {results['bayes_auc']:.3f}%; ONNX Runtime vs pytorch: max |score difference| "
          f"{results['max_abs_score_difference']:.2e}")
    print(f"reference AUC {record['reference_auc']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
