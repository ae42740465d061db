"""Train the retinanet proxy detector and write proxy/: ONNX model, torch state dict, proxy.json.

    .venv/bin/python -m harness.benchmarks.retinanet.build_proxy [--steps N] [--out DIR]

Deterministic: training images come from proxy_shapes' own "train" seed
stream (never a validation image), pass through the real pipeline (JPEG,
then MLPerf's preprocessing), and training runs on one thread with fixed
seeds for a fixed number of steps. The reference mAP is then measured the
way a run measures it: the 64 validation images rendered in the OpenImages
layout, staged by the dataset format, answered through ONNX Runtime by the
task, written as a LoadGen accuracy log and scored by the scorer.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PROXY_DIR = HERE / "proxy"
ONNX_FILE = "retinanet_proxy.onnx"
TORCH_FILE = "retinanet_proxy_torch.pt"
META_FILE = "proxy.json"
OPSET = 17
TRAIN_IMAGES = 800
STEPS = 500
BATCH = 16
LEARNING_RATE = 3e-3
SEED = 1234
# Heatmap target spread: sigma = SIGMA_BASE + SIGMA_SCALE * object side, in cells.
SIGMA_BASE, SIGMA_SCALE = 0.3, 0.08


def _torch():
    import torch

    torch.set_num_threads(1)  # the build machine's cores are shared; one thread is also deterministic
    return torch


def boxes_800(objects, width: int, height: int) -> list[tuple[int, float, float, float, float]]:
    """(category, x1, y1, x2, y2) in pixels of the 800x800 input: the plain resize scales each axis."""
    from .preprocess import INPUT_SIZE

    sx, sy = INPUT_SIZE / width, INPUT_SIZE / height
    return [(o.category_id, o.bbox[0] * sx, o.bbox[1] * sy, (o.bbox[0] + o.bbox[2]) * sx, (o.bbox[1] + o.bbox[3]) * sy)
            for o in objects]


def targets(boxes, num_classes: int):
    """Heatmap [C, G, G], edge distances [4, G, G] (cells) and their mask [G, G] for one image."""
    from .model import GRID, STRIDE

    heat = np.zeros((num_classes, GRID, GRID), np.float32)
    edges = np.ones((4, GRID, GRID), np.float32)
    mask = np.zeros((GRID, GRID), np.float32)
    centres = (np.arange(GRID, dtype=np.float32) + 0.5)  # cell centres, in cells
    for category, x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        w, h = (x2 - x1) / STRIDE, (y2 - y1) / STRIDE
        sx, sy = SIGMA_BASE + SIGMA_SCALE * w, SIGMA_BASE + SIGMA_SCALE * h
        g = np.exp(-((centres[None, :] - cx) ** 2) / (2 * sx * sx) - ((centres[:, None] - cy) ** 2) / (2 * sy * sy))
        col, row = min(int(cx), GRID - 1), min(int(cy), GRID - 1)
        g[row, col] = 1.0
        np.maximum(heat[category], g, out=heat[category])
        # Edge distances are learnt at the peak cell and its neighbours, so a
        # peak one cell off still knows its box.
        for r in range(max(row - 1, 0), min(row + 2, GRID)):
            for c in range(max(col - 1, 0), min(col + 2, GRID)):
                px, py = (c + 0.5) * STRIDE, (r + 0.5) * STRIDE
                ltrb = np.array([px - x1, py - y1, x2 - px, y2 - py], np.float32) / STRIDE
                if (ltrb > 0.05).all():
                    edges[:, r, c] = ltrb
                    mask[r, c] = 1.0
    return heat, edges, mask


def training_set(count: int):
    """Pooled inputs [N, 3, 100, 100] and targets, through the real JPEG + MLPerf pipeline."""
    import cv2

    from . import proxy_shapes
    from .model import GRID, NUM_CLASSES, POOL
    from .preprocess import INPUT_SIZE, preprocess_bgr

    side = INPUT_SIZE // POOL
    images = np.empty((count, 3, side, side), np.float32)
    heat = np.empty((count, NUM_CLASSES, GRID, GRID), np.float32)
    edges = np.empty((count, 4, GRID, GRID), np.float32)
    mask = np.empty((count, GRID, GRID), np.float32)
    for n in range(count):
        bgr, objects = proxy_shapes.render_image("train", n)
        decoded = cv2.imdecode(np.frombuffer(proxy_shapes.encode_jpeg(bgr), np.uint8), cv2.IMREAD_COLOR)
        sample = preprocess_bgr(decoded)
        images[n] = sample.reshape(3, side, POOL, side, POOL).mean(axis=(2, 4))
        height, width = bgr.shape[:2]
        heat[n], edges[n], mask[n] = targets(boxes_800(objects, width, height), NUM_CLASSES)
    return images, heat, edges, mask


def focal_loss(torch, logits, target):
    """CenterNet's penalty-reduced focal loss, per positive."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1).float()
    pos = -(torch.log(p) * (1 - p) ** 2 * positive).sum()
    neg = -(torch.log(1 - p) * p ** 2 * (1 - target) ** 4 * (1 - positive)).sum()
    return (pos + neg) / positive.sum().clamp(min=1.0)


def box_loss(torch, log_edges, target, mask):
    """GIoU of the boxes the edge distances describe, plus L1 on the log distances, over masked cells."""
    count = mask.sum().clamp(min=1.0)
    pred = torch.exp(log_edges.clamp(max=6.0))
    l, t, r, b = pred.unbind(1)
    tl, tt, tr, tb = target.unbind(1)
    inter = (torch.minimum(l, tl) + torch.minimum(r, tr)) * (torch.minimum(t, tt) + torch.minimum(b, tb))
    union = (l + r) * (t + b) + (tl + tr) * (tt + tb) - inter
    hull = (torch.maximum(l, tl) + torch.maximum(r, tr)) * (torch.maximum(t, tt) + torch.maximum(b, tb))
    giou = inter / union - (hull - union) / hull
    l1 = (log_edges - torch.log(target)).abs().sum(1)
    return (((1 - giou) + 0.2 * l1) * mask).sum() / count


def train(steps: int, train_images: int, log=print):
    torch = _torch()
    from .model import NUM_CLASSES, TinyRetina

    started = time.perf_counter()
    images, heat, edges, mask = (torch.from_numpy(a) for a in training_set(train_images))
    log(f"rendered and preprocessed {train_images} training images in {time.perf_counter() - started:.0f} s")
    torch.manual_seed(SEED)
    model = TinyRetina(NUM_CLASSES)
    body = model.body.train()
    optimiser = torch.optim.AdamW(body.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.1)
    order = torch.Generator().manual_seed(SEED)
    started = time.perf_counter()
    for step in range(steps):
        pick = torch.randint(0, train_images, (BATCH,), generator=order)
        flip = torch.rand(BATCH, generator=order) < 0.5
        x, h, e, m = images[pick], heat[pick], edges[pick], mask[pick]
        # Horizontal flips (the shapes are left-right symmetric): mirror the
        # maps and swap the left and right distances.
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        h = torch.where(flip[:, None, None, None], h.flip(-1), h)
        m = torch.where(flip[:, None, None], m.flip(-1), m)
        e = torch.where(flip[:, None, None, None], e.flip(-1)[:, [2, 1, 0, 3]], e)
        heat_logits, log_edges = body(x)
        loss_heat = focal_loss(torch, heat_logits, h)
        loss_box = box_loss(torch, log_edges, e, m)
        loss = loss_heat + loss_box
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 200 == 0 or step == steps - 1:
            log(f"step {step:5d}  heat {loss_heat.item():.3f}  box {loss_box.item():.3f}  "
                f"{time.perf_counter() - started:.0f} s")
    return model.eval()


def export_onnx(model, path: Path) -> None:
    torch = _torch()
    example = torch.zeros(1, 3, 800, 800)
    torch.onnx.export(model, (example,), str(path), input_names=["images"],
                      output_names=["boxes", "scores", "labels"], opset_version=OPSET, dynamo=False)


def agreement(torch_path: Path, ort_backend, samples: np.ndarray) -> str:
    """The largest differences between the two proxies' outputs; raises when they disagree."""
    torch = _torch()
    from .model import TinyRetina

    model = TinyRetina()
    model.load_state_dict(torch.load(str(torch_path), weights_only=True))
    model.eval()
    worst = {"boxes": 0.0, "scores": 0.0}
    for n in range(len(samples)):
        sample = np.ascontiguousarray(samples[n:n + 1])
        with torch.inference_mode():
            boxes, scores, labels = (t.numpy() for t in model(torch.from_numpy(sample)))
        ort_boxes, ort_labels, ort_scores = ort_backend.predict({"images": sample})
        kept = scores >= 0.05  # below the threshold, near-ties may order differently
        if not (np.array_equal(labels[kept], ort_labels[kept]) and np.allclose(scores, ort_scores, atol=1e-5)
                and np.allclose(boxes[kept], ort_boxes[kept], atol=1e-2)):
            raise RuntimeError(f"pytorch and ONNX Runtime disagree on validation sample {n}")
        worst["boxes"] = max(worst["boxes"], float(np.abs(boxes[kept] - ort_boxes[kept]).max(initial=0.0)))
        worst["scores"] = max(worst["scores"], float(np.abs(scores - ort_scores).max()))
    return f"max |boxes| difference {worst['boxes']:.2e} px, max |scores| difference {worst['scores']:.2e}"


def write_log(task, backend, samples: np.ndarray, path: Path) -> None:
    """LoadGen's accuracy-log format, one entry per sample, in index order."""
    entries = []
    for index in range(len(samples)):
        (answer,) = task.run(backend, samples[index:index + 1], np.array([index]))
        entries.append({"seq_id": index, "qsl_idx": index, "data": answer.tobytes().hex().upper()})
    path.write_text(json.dumps(entries))


def measure_reference(onnx_path: Path, work: Path, log=print) -> float:
    """The proxy's mAP on the rendered validation set, through ONNX Runtime, scored by the scorer."""
    from harness.backends.base import BackendConfig
    from harness.backends.onnxruntime_backend import OnnxRuntimeBackend
    from harness.datasets.base import DatasetRequest

    from . import proxy_shapes
    from .dataset import OpenImagesFormat
    from .scorer import OpenImagesMapScorer
    from .task import ObjectDetection

    dataset_dir = proxy_shapes.render_dataset(work / "dataset")
    prepared = OpenImagesFormat().prepare(dataset_dir, DatasetRequest(cache_dir=work / "cache"))
    task = ObjectDetection()
    backend = OnnxRuntimeBackend()
    backend.load(BackendConfig(onnx_path, threads=1, inputs=task.inputs, outputs=task.outputs,
                               contract_outputs=task.contract_outputs))
    samples = np.load(prepared.samples_path, mmap_mode="r")
    log(f"pytorch and ONNX Runtime agree: {agreement(onnx_path.with_name(TORCH_FILE), backend, samples[:8])}")
    write_log(task, backend, samples, work / "mlperf_log_accuracy.json")
    scored = OpenImagesMapScorer(prepared.truth).score(work / "mlperf_log_accuracy.json")
    for line in scored.lines:
        log(line)
    return scored.values["mAP"]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--train-images", type=int, default=TRAIN_IMAGES)
    parser.add_argument("--out", type=Path, default=PROXY_DIR)
    args = parser.parse_args(argv)
    torch = _torch()
    from . import proxy_shapes

    started = time.perf_counter()
    model = train(args.steps, args.train_images)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / TORCH_FILE)
    export_onnx(model, args.out / ONNX_FILE)
    with tempfile.TemporaryDirectory(prefix="retinanet-proxy-") as work:
        reference = measure_reference(args.out / ONNX_FILE, Path(work))
    meta = {
        "reference_map": round(reference, 3),
        "metric": "mAP (COCO AP at IoU 0.50:0.95, percent), through ONNX Runtime on the rendered validation set",
        "dataset": f"proxy_shapes v{proxy_shapes.GENERATOR_VERSION}, {proxy_shapes.VAL_IMAGES} images",
        "training": {"images": args.train_images, "steps": args.steps, "batch": BATCH, "seed": SEED},
        "files": {ONNX_FILE: sha256(args.out / ONNX_FILE), TORCH_FILE: sha256(args.out / TORCH_FILE)},
    }
    (args.out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    print(f"reference mAP={reference:.3f}% (built in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
