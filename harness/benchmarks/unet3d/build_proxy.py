"""Build the 3d-unet proxy: train TinyUNet3D on rendered cases, export it, measure its DICE.

    .venv/bin/python -m harness.benchmarks.unet3d.build_proxy [--steps N] [--out DIR]

Deterministic: the training cases come from ``phantom`` (split "train", a
seed of their own, never the proxy's evaluation cases), crops and flips from
a seeded generator, torch on one thread with a fixed seed. It writes into
``proxy/`` (or ``--out``):

- ``unet3d_proxy.onnx``: opset 17, input ``input`` [N, 1, 32, 32, 32], output
  ``output`` [N, 3, 32, 32, 32], the batch axis free;
- ``unet3d_proxy_torch.pt``: the state dict for the pytorch backend;
- ``proxy.json``: the measured reference and each file's sha256.

The reference is the mean DICE of ONNX Runtime's masks over the proxy
dataset (12 cases rendered and preprocessed as ``dataset.proxy_directory``
does), through the task's sliding windows, written as a LoadGen accuracy log
and scored by ``scorer.DiceScorer``. The two mutations are measured the same
way. Training takes about 4-5 minutes on one core.

Why the model predicts only the central 24^3 of each 32^3 window and
replicates its border band (``model.BORDER``): a real U-Net is weaker near
window borders, and MLPerf's Gaussian weighting of overlapping windows is
there to discount those predictions. A tiny proxy with same-padded
convolutions sees almost the same context at the border as inside: in a
trial without the band, dropping the weighting changed its DICE by 0.1%
(0.8047 against 0.8055). With a border band extrapolated from the inside,
as a network with unpadded convolutions must extend its smaller output to
the window, uniform weighting lets those guesses vote as much as the
centred predictions and costs about 13% of the DICE (0.863 -> 0.752),
while the Gaussian weighting discounts them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from . import kits_files, layout, phantom

HERE = Path(__file__).resolve().parent
PROXY_DIR = HERE / "proxy"
ONNX_FILE = "unet3d_proxy.onnx"
TORCH_FILE = "unet3d_proxy_torch.pt"
REFERENCE_FILE = "proxy.json"
ROI = 32
OPSET = 17
TRAIN_CASES = 60
STEPS = 2500
BATCH = 4
LEARNING_RATE = 4e-3
FOREGROUND_CROPS = 0.7  # share of training windows placed on a kidney or tumour voxel
SEED = 1729


def load_cases(preprocessed: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image [D, H, W], labels [D, H, W]) of every case of a preprocessed folder."""
    case_list = kits_files.read_case_list(preprocessed)
    truth = kits_files.KitsTruth(case_list.path, case_list.cases)
    return [(kits_files.read_case_image(case_list.root, entry)[0], truth.segmentation(i))
            for i, entry in enumerate(case_list.cases)]


def training_window(rng, image: np.ndarray, labels: np.ndarray):
    """A random ROI^3 crop (mostly on foreground), randomly flipped along each axis."""
    foreground = np.argwhere(labels > 0)
    if len(foreground) and rng.random() < FOREGROUND_CROPS:
        origin = foreground[rng.integers(len(foreground))] - rng.integers(0, ROI, 3)
    else:
        origin = np.array([rng.integers(0, side - ROI + 1) for side in image.shape])
    origin = np.clip(origin, 0, np.array(image.shape) - ROI)
    window = tuple(slice(o, o + ROI) for o in origin)
    x, y = image[window], labels[window]
    for axis in range(3):
        if rng.random() < 0.5:
            x, y = np.flip(x, axis), np.flip(y, axis)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def train(cases, steps: int):
    import torch

    from .model import TinyUNet3D

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = TinyUNet3D()
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.15)
    b = model.border
    inner = (slice(None), slice(None)) + (slice(b, ROI - b),) * 3  # the band is a copy: nothing to learn there
    start = time.perf_counter()
    for step in range(steps):
        windows = [training_window(rng, *cases[rng.integers(len(cases))]) for _ in range(BATCH)]
        x = torch.from_numpy(np.stack([w[0] for w in windows])[:, None])
        y = torch.from_numpy(np.stack([w[1] for w in windows]).astype(np.int64))
        loss = torch.nn.functional.cross_entropy(model(x)[0][inner], y[inner[1:]])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - start:6.0f} s", flush=True)
    return model.eval()


def export(model, out_dir: Path) -> None:
    import torch

    torch.save(model.state_dict(), out_dir / TORCH_FILE)
    example = torch.randn(2, 1, ROI, ROI, ROI)  # batch >= 2, so the exporter keeps the axis free
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(model, (example,), str(out_dir / ONNX_FILE), input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}},
                          opset_version=OPSET, dynamo=False)


def backend(kind: str, model_file: Path, threads: int = 0):
    from harness.backends.base import BackendConfig

    if kind == "onnxruntime":
        from harness.backends.onnxruntime_backend import OnnxRuntimeBackend as cls
        options = {}
    else:
        from harness.backends.pytorch_backend import PyTorchBackend as cls
        options = {"architecture": "harness.benchmarks.unet3d.model:TinyUNet3D"}
    instance = cls()
    instance.load(BackendConfig(model_path=model_file, threads=threads, inputs=("input",), outputs=("output",),
                                contract_outputs=("output",), options=options))
    return instance


def write_accuracy_log(path: Path, masks: list[np.ndarray]) -> None:
    """LoadGen's mlperf_log_accuracy.json for one mask per case, in query-sample-index order."""
    entries = [{"seq_id": i, "qsl_idx": i, "data": mask.tobytes().hex().upper()} for i, mask in enumerate(masks)]
    path.write_text(json.dumps(entries))


def measure(model_dir: Path, preprocessed: Path, work: Path) -> dict:
    from .dataset import KiTS19Preprocessed
    from .scorer import DiceScorer
    from .task import KidneyTumourSegmentation

    from harness.datasets.base import DatasetRequest

    cases = kits_files.read_case_list(preprocessed).cases
    volumes = [kits_files.read_case_image(preprocessed, entry) for entry in cases]
    truth = KiTS19Preprocessed().ground_truth(preprocessed, DatasetRequest())
    ort = backend("onnxruntime", model_dir / ONNX_FILE)
    results = {}
    for label, options in (("reference", {}), ("gaussian=False", {"gaussian": False}),
                           ("swap_classes=True", {"swap_classes": True})):
        task = KidneyTumourSegmentation(roi_size=ROI, **options)
        start = time.perf_counter()
        masks = task.run(ort, volumes, np.arange(len(volumes)))
        elapsed = (time.perf_counter() - start) / len(volumes)
        write_accuracy_log(work / "mlperf_log_accuracy.json", masks)
        summary = DiceScorer(truth, dtype="uint8").summary(work / "mlperf_log_accuracy.json")
        results[label] = {"mean": summary.mean, "kidney": summary.mean_kidney, "tumor": summary.mean_tumour,
                          "line": summary.official_line(), "seconds_per_case": elapsed}
    torch_backend = backend("pytorch", model_dir / TORCH_FILE)
    windows = np.random.default_rng(0).normal(size=(4, 1, ROI, ROI, ROI)).astype(np.float32)
    results["max_abs_logit_difference"] = float(np.abs(
        ort.predict({"input": windows})[0] - torch_backend.predict({"input": windows})[0]).max())
    task = KidneyTumourSegmentation(roi_size=ROI)
    start = time.perf_counter()
    torch_masks = task.run(torch_backend, volumes, np.arange(len(volumes)))
    results["pytorch_seconds_per_case"] = (time.perf_counter() - start) / len(volumes)
    ort_masks = task.run(ort, volumes, np.arange(len(volumes)))
    results["mask_voxels_differing"] = int(sum(np.count_nonzero(a != b) for a, b in zip(ort_masks, torch_masks)))
    return results


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=PROXY_DIR)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # deterministic, and polite on a shared machine
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        cases = load_cases(phantom.render_dataset(tmp / "train", ROI, split="train", count=TRAIN_CASES))
        print(f"rendered and preprocessed {len(cases)} training cases in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        model = train(cases, args.steps)
        train_s = time.perf_counter() - start
        export(model, args.out)
        preprocessed = phantom.render_dataset(tmp / "val", ROI)
        results = measure(args.out, preprocessed, tmp)
    reference = results["reference"]
    record = {
        "reference_dice": round(reference["mean"], 5),
        "metric": "mean DICE (kidney, tumour) as accuracy_kits.py computes it, ONNX Runtime, sliding windows "
                  f"of {ROI}^3 with overlap {layout.SLIDE_OVERLAP_FACTOR} and Gaussian weighting",
        "official_line": reference["line"],
        "mutations": {name: round(results[name]["mean"], 5) for name in ("gaussian=False", "swap_classes=True")},
        "dataset": f"phantom v{phantom.GENERATOR_VERSION}, {phantom.VAL_CASES} cases, "
                   f"preprocessed for a {ROI}^3 window",
        "training": {"cases": TRAIN_CASES, "steps": args.steps, "batch": BATCH, "learning_rate": LEARNING_RATE,
                     "seed": SEED, "seconds": round(train_s)},
        "files": {name: sha256(args.out / name) for name in (ONNX_FILE, TORCH_FILE)},
    }
    (args.out / REFERENCE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    for name in ("reference", "gaussian=False", "swap_classes=True"):
        per_case_ms = results[name]["seconds_per_case"] * 1e3
        print(f"{name:18s} {results[name]['line']}  ({per_case_ms:.0f} ms per case, ONNX Runtime)")
    print(f"pytorch: {results['pytorch_seconds_per_case'] * 1e3:.0f} ms per case; ONNX Runtime vs pytorch: "
          f"max |logit difference| {results['max_abs_logit_difference']:.2e}, "
          f"{results['mask_voxels_differing']} mask voxels differ")
    print(f"reference DICE {record['reference_dice']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
