"""Build the stable-diffusion-xl proxy: train its pipeline and feature extractors, export, measure.

    nice -n 19 .venv/bin/python -m harness.benchmarks.sdxl.build_proxy [--out DIR] [--quick]

(``python -m harness.benchmarks.sdxl.build_proxy``). Deterministic: the
pictures come from scene.py's seeded splits, training from fixed seeds on
one thread (training.py). It writes into ``proxy/`` (or ``--out``):

- ``vocab.json``, ``merges.txt``: the proxy's CLIP BPE vocabulary (clip_tokenizer.py);
- ``sdxl_proxy.onnx``: TinySDXLPipeline (model.py) exported with opset 17,
  the batch axis free and the schedule's length fixed to the proxy's steps;
- ``sdxl_proxy_torch.pt``: its state dict, for the pytorch backend;
- ``clip_score.pt``, ``fid_features.pt``: the scorer's feature extractors
  (features.py); ``fid_statistics.npz``: the pool-feature mean and
  covariance of the 2,000 ``reference`` pictures (MLPerf's val2014.npz);
- ``proxy.json``: the measured figures and each file's sha256.

The reference is the CLIP score and FID of ONNX Runtime's pictures for the
128 proxy captions (proxy_data.py's folder, staged by dataset.py, answered
by task.py with MLPerf's guidance 8 and the proxy's steps, written as a
LoadGen accuracy log and scored by scorer.py). Measured the same way: the
pytorch backend, other guidance scales (the mutations), and what the
scores are at chance (the captions shuffled against the pictures) and for
the real pictures themselves.
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

from . import scene

HERE = Path(__file__).resolve().parent
PROXY_DIR = HERE / "proxy"
ONNX_FILE, TORCH_FILE, REFERENCE_FILE = "sdxl_proxy.onnx", "sdxl_proxy_torch.pt", "proxy.json"
OPSET = 17
PROXY_STEPS = 4
GUIDANCE = 8.0
MUTATION_GUIDANCE = (1.0, 2.0, 4.0, 6.0, 12.0)
TRAINING = {"vae": 1000, "unet": 2000, "clip": 500, "inception": 600}
QUICK = {"vae": 20, "unet": 20, "clip": 20, "inception": 20}


def tokenized(tokenizers, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from .clip_tokenizer import token_ids

    return token_ids(tokenizers[0], texts), token_ids(tokenizers[1], texts)


def train_everything(out: Path, steps: dict) -> dict:
    """Train and save every network; returns what the record keeps of the training."""
    import torch

    from . import training
    from .clip_tokenizer import pipeline_tokenizers, proxy_vocabulary, score_tokenizer, token_ids, write_vocabulary
    from .dataset import NEGATIVE_PROMPT
    from .model import TinySDXLPipeline
    from .schedule import euler_schedule

    write_vocabulary(out, *proxy_vocabulary())
    tokenizers = pipeline_tokenizers(out)
    started = time.perf_counter()
    train = scene.scenes("train")
    pictures = scene.render_all(train)
    captions = [s.caption for s in train]
    timings = {"render_s": time.perf_counter() - started}

    started = time.perf_counter()
    vae = training.train_vae(pictures, steps["vae"])
    means, stds = training.latent_moments(vae, pictures)
    timings["vae_s"] = time.perf_counter() - started
    scale = training.scaling_factor(means)

    torch.manual_seed(training.SEED)  # the text encoders' and the UNet's starting weights
    pipeline = TinySDXLPipeline()
    decoder_state = {k: v for k, v in vae.state_dict().items() if not k.startswith(("encoder.", "quant_conv."))}
    pipeline.vae.load_state_dict(decoder_state)
    pipeline.scaling_factor.fill_(scale)
    ids, ids_2 = tokenized(tokenizers, captions)
    negative, negative_2 = tokenized(tokenizers, [NEGATIVE_PROMPT])
    started = time.perf_counter()
    training.train_pipeline(pipeline, means, stds, ids, ids_2, negative, negative_2,
                            euler_schedule(PROXY_STEPS).timesteps, steps["unet"])
    timings["unet_s"] = time.perf_counter() - started
    torch.save(pipeline.state_dict(), out / TORCH_FILE)

    started = time.perf_counter()
    clip = training.train_clip(pictures, token_ids(score_tokenizer(out), captions), steps["clip"])
    torch.save(clip.state_dict(), out / "clip_score.pt")
    timings["clip_s"] = time.perf_counter() - started
    started = time.perf_counter()
    labels = np.array([s.labels() for s in train])
    inception = training.train_inception(pictures, labels, scene.ATTRIBUTE_CLASSES, steps["inception"])
    torch.save(inception.state_dict(), out / "fid_features.pt")
    timings["inception_s"] = time.perf_counter() - started
    write_statistics(out, inception)
    export_onnx(pipeline, out / ONNX_FILE, PROXY_STEPS)
    return {"steps": steps, "scaling_factor": scale, "seconds": {k: round(v) for k, v in timings.items()}}


def write_statistics(out: Path, inception) -> None:
    """The reference pictures' pool-feature statistics, as save_fid_stats writes val2014.npz."""
    import torch

    from . import metrics
    from .features import fid_pixels

    with torch.inference_mode():
        features = inception.pool_features(fid_pixels(list(scene.render_all(scene.scenes("reference"))))).numpy()
    mu, sigma = metrics.activation_statistics(features.astype(np.float64))
    np.savez(out / "fid_statistics.npz", mu=mu, sigma=sigma)


def export_onnx(pipeline, path: Path, steps: int) -> None:
    import torch

    from .model import INPUTS, LATENT_CHANNELS, LATENT_SIZE, VOCAB_SIZE
    from .schedule import euler_schedule

    schedule = euler_schedule(steps)
    ids = torch.randint(0, VOCAB_SIZE, (2, 77))
    example = (ids, ids, ids, ids, torch.randn(2, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE),
               torch.from_numpy(schedule.timesteps), torch.from_numpy(schedule.sigmas),
               torch.tensor([schedule.init_noise_sigma]), torch.tensor([GUIDANCE], dtype=torch.float32))
    batch = {0: "batch_size"}
    axes = {name: batch for name in INPUTS[:5]} | {"images": batch}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the unrolled loop; the exporter's notices
        torch.onnx.export(pipeline.eval(), example, str(path), input_names=list(INPUTS), output_names=["images"],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)


def backend(kind: str, model_file: Path, threads: int = 1):
    from harness.backends.base import BackendConfig

    from .task import INPUTS

    if kind == "onnxruntime":
        from harness.backends.onnxruntime_backend import OnnxRuntimeBackend as cls
        options = {}
    else:
        from harness.backends.pytorch_backend import PyTorchBackend as cls
        options = {"architecture": "harness.benchmarks.sdxl.model:TinySDXLPipeline"}
    instance = cls()
    instance.load(BackendConfig(model_path=model_file, threads=threads, inputs=INPUTS, outputs=("images",),
                                contract_outputs=("images",), options=options))
    return instance


def generate(backend_, samples: np.ndarray, guidance: float, steps: int = PROXY_STEPS, batch: int = 8) -> np.ndarray:
    """uint8 [N, 64, 64, 3] for every staged sample, ``batch`` at a time."""
    from .task import TextToImage

    task = TextToImage(steps=steps, guidance_scale=guidance, image_size=scene.IMAGE_SIZE)
    parts = [task.run(backend_, samples[i:i + batch], np.arange(i, min(i + batch, len(samples))))
             for i in range(0, len(samples), batch)]
    return np.concatenate(parts)


def write_accuracy_log(path: Path, pictures: np.ndarray) -> None:
    """LoadGen's mlperf_log_accuracy.json for one picture per caption, in query-sample-index order."""
    entries = [{"seq_id": i, "qsl_idx": i, "data": p.tobytes().hex().upper()} for i, p in enumerate(pictures)]
    path.write_text(json.dumps(entries))


def stage_proxy(work: Path, tokenizer_dir: Path):
    """The proxy caption folder, rendered and staged as a run stages it."""
    from harness.datasets.base import DatasetRequest

    from . import proxy_data
    from .dataset import Coco2014Captions

    root = proxy_data.render_dataset(work / "coco2014")
    request = DatasetRequest(cache_dir=work / "cache", tokenizer_dir=tokenizer_dir, dtype="uint8",
                             task_options={"image_size": scene.IMAGE_SIZE, "steps": PROXY_STEPS})
    return Coco2014Captions().prepare(root, request)


def measure(out: Path, work: Path) -> dict:
    from .scorer import ClipFidScorer, extractors

    prepared = stage_proxy(work, out)
    samples = np.load(prepared.samples_path)
    scorer = ClipFidScorer(prepared.truth, extractors_dir=out)
    log = work / "mlperf_log_accuracy.json"

    def scored(pictures):
        write_accuracy_log(log, pictures)
        summary = scorer.summary(log)
        return {"CLIP_SCORE": summary.clip, "FID_SCORE": summary.fid, "line": summary.official_line()}

    results = {}
    ort = backend("onnxruntime", out / ONNX_FILE)
    started = time.perf_counter()
    reference_pictures = generate(ort, samples, GUIDANCE)
    results["onnxruntime_ms_per_picture"] = (time.perf_counter() - started) / len(samples) * 1e3
    results["reference"] = scored(reference_pictures)
    for guidance in MUTATION_GUIDANCE:
        results[f"guidance_scale={guidance:g}"] = scored(generate(ort, samples, guidance))
    torch_backend = backend("pytorch", out / TORCH_FILE)
    started = time.perf_counter()
    torch_pictures = generate(torch_backend, samples, GUIDANCE)
    results["pytorch_ms_per_picture"] = (time.perf_counter() - started) / len(samples) * 1e3
    results["pytorch"] = scored(torch_pictures)
    difference = np.abs(torch_pictures.astype(np.int16) - reference_pictures.astype(np.int16))
    results["pytorch_vs_onnxruntime"] = {"max_abs": int(difference.max()), "values_differing": int((difference > 0).sum())}
    tools = extractors(out)
    captions = list(prepared.truth.captions)
    shuffled = captions[1:] + captions[:1]  # every picture against another caption
    results["chance_clip_score"] = float(np.mean(tools.clip_scores(list(reference_pictures), shuffled)))
    real = scene.render_all(scene.scenes("val"))
    results["real_pictures"] = {"CLIP_SCORE": float(np.mean(tools.clip_scores(list(real), captions))),
                                "FID_SCORE": tools.fid(list(real))}
    noise = np.random.default_rng(0).integers(0, 256, real.shape, dtype=np.uint8)
    results["noise_pictures"] = {"CLIP_SCORE": float(np.mean(tools.clip_scores(list(noise), captions))),
                                 "FID_SCORE": tools.fid(list(noise))}
    return results


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROXY_DIR)
    parser.add_argument("--quick", action="store_true", help="a few training steps (to try the script, not a proxy)")
    parser.add_argument("--measure-only", action="store_true", help="measure the files already in --out")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # deterministic, and polite on a shared machine
    args.out.mkdir(parents=True, exist_ok=True)
    record_path = args.out / REFERENCE_FILE
    if args.measure_only:
        training_record = json.loads(record_path.read_text())["training"]
    else:
        training_record = train_everything(args.out, QUICK if args.quick else TRAINING)
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args.out, Path(tmp))
    reference = results["reference"]
    files = ("vocab.json", "merges.txt", ONNX_FILE, TORCH_FILE, "clip_score.pt", "fid_features.pt", "fid_statistics.npz")
    record = {
        "reference": {"CLIP_SCORE": round(reference["CLIP_SCORE"], 4), "FID_SCORE": round(reference["FID_SCORE"], 4)},
        "official_line": reference["line"],
        "settings": {"steps": PROXY_STEPS, "guidance_scale": GUIDANCE, "image_size": scene.IMAGE_SIZE,
                     "captions": len(scene.scenes("val")), "backend": "onnxruntime"},
        "pytorch": {k: round(results["pytorch"][k], 4) for k in ("CLIP_SCORE", "FID_SCORE")},
        "pytorch_vs_onnxruntime": results["pytorch_vs_onnxruntime"],
        "mutations": {name: {k: round(results[name][k], 4) for k in ("CLIP_SCORE", "FID_SCORE")}
                      for name in results if name.startswith("guidance_scale=")},
        "chance_clip_score": round(results["chance_clip_score"], 4),
        "real_pictures": {k: round(v, 4) for k, v in results["real_pictures"].items()},
        "noise_pictures": {k: round(v, 4) for k, v in results["noise_pictures"].items()},
        "ms_per_picture": {"onnxruntime": round(results["onnxruntime_ms_per_picture"], 1),
                           "pytorch": round(results["pytorch_ms_per_picture"], 1)},
        "dataset": f"scene.py v{scene.GENERATOR_VERSION}: 128 val captions, 2000 reference and 4000 train pictures",
        "training": training_record,
        "files": {name: sha256(args.out / name) for name in files},
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    for name in ("reference", "pytorch") + tuple(n for n in results if n.startswith("guidance_scale=")):
        print(f"{name:22s} CLIP {results[name]['CLIP_SCORE']:.4f}  FID {results[name]['FID_SCORE']:.4f}")
    print(f"chance CLIP {results['chance_clip_score']:.4f}; real pictures {results['real_pictures']}; "
          f"noise {results['noise_pictures']}")
    print(f"ms per picture: {record['ms_per_picture']}; pytorch vs onnxruntime: {results['pytorch_vs_onnxruntime']}")
    print(reference["line"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
