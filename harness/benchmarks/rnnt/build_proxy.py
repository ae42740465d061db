"""Render the rnnt proxy dataset, train its CTC recogniser, write proxy/: dataset, ONNX, state dict, proxy.json.

    .venv/bin/python <family folder>/build_proxy.py [--steps N] [--train-utterances N] [--out DIR]

Deterministic: the validation utterances (committed, in MLPerf's
LibriSpeech layout) and the training utterances come from synth.py's two
seed streams, so no training utterance is a validation one; training
utterances pass through the same 16-bit quantisation and the same feature
extraction as a run (features.py); training runs on one thread with fixed
seeds for a fixed number of steps. The reference is then measured the way a
run measures it: the committed dataset staged by the dataset format,
answered through ONNX Runtime by the task, written as a LoadGen accuracy log
and scored by the scorer; so are the mutations and the chance level.
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

import numpy as np

if __package__ in (None, ""):  # run as a script: import this folder as the package it is
    from harness.registry.parts import _package_for

    __package__ = _package_for(Path(__file__).resolve().parent)

from . import synth, wav  # noqa: E402
from .features import Filterbank  # noqa: E402
from .text import BLANK, to_ids  # noqa: E402

HERE = Path(__file__).resolve().parent
PROXY_DIR = HERE / "proxy"
DATASET = "librispeech-tones"
ONNX_FILE = "rnnt_proxy.onnx"
TORCH_FILE = "rnnt_proxy_torch.pt"
META_FILE = "proxy.json"
OPSET = 17
VAL_UTTERANCES = 40
TRAIN_UTTERANCES = 3000
STEPS = 2500
BATCH = 32
LEARNING_RATE = 4e-3
SEED = 2024
MUTATIONS = {"window_stride=0.02": {"window_stride": 0.02}, "remove_blanks_first=True": {"remove_blanks_first": True}}


def _torch():
    import torch

    torch.set_num_threads(1)  # the build machine's cores are shared; one thread is also deterministic
    return torch


def training_set(count: int, log=print):
    """Features (float32 [T, 240] each) and label ids of ``count`` training utterances."""
    started = time.perf_counter()
    filterbank = Filterbank()
    feats, targets = [], []
    for index in range(count):
        text, samples = synth.utterance("train", index)
        waveform = samples.astype(np.float32) * np.float32(wav.PCM_SCALE)  # what wav.read gives back
        feats.append(filterbank(waveform))
        targets.append(np.array(to_ids(text), dtype=np.int64))
    log(f"rendered {count} training utterances in {time.perf_counter() - started:.0f} s")
    return feats, targets


def _batch(torch, feats, targets, pick):
    longest = max(len(feats[i]) for i in pick)
    x = np.zeros((len(pick), longest, feats[0].shape[1]), np.float32)
    for row, i in enumerate(pick):
        x[row, : len(feats[i])] = feats[i]
    lengths = torch.tensor([len(feats[i]) for i in pick])
    labels = torch.from_numpy(np.concatenate([targets[i] for i in pick]))
    label_lengths = torch.tensor([len(targets[i]) for i in pick])
    return torch.from_numpy(x), lengths, labels, label_lengths


def train(steps: int, count: int, log=print):
    torch = _torch()
    from .model import TinySpeechCTC

    feats, targets = training_set(count, log)
    torch.manual_seed(SEED)
    model = TinySpeechCTC()
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.1)
    ctc = torch.nn.CTCLoss(blank=BLANK, zero_infinity=True)
    order = np.random.default_rng(SEED)
    started = time.perf_counter()
    model.train()
    for step in range(steps):
        x, lengths, labels, label_lengths = _batch(torch, feats, targets, order.integers(0, count, BATCH))
        (logits,) = model(x)
        loss = ctc(logits.log_softmax(-1).transpose(0, 1), labels, lengths, label_lengths)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        schedule.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"step {step:5d}  ctc {loss.item():.4f}  {time.perf_counter() - started:.0f} s")
    return model.eval(), time.perf_counter() - started


def export_onnx(model, path: Path) -> None:
    torch = _torch()
    example = torch.zeros(1, 50, 240)
    with warnings.catch_warnings():
        # The legacy (TorchScript) exporter warns that it is deprecated, and that an
        # LSTM exported without initial states may not take other batch sizes: the
        # task feeds one utterance per call, as MLPerf's SUT does.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), input_names=["features"], output_names=["logits"],
                          dynamic_axes={"features": {0: "batch", 1: "frames"}, "logits": {0: "batch", 1: "frames"}},
                          opset_version=OPSET, dynamo=False)


def _backends(out: Path, task):
    from harness.backends.base import BackendConfig
    from harness.backends.onnxruntime_backend import OnnxRuntimeBackend
    from harness.backends.pytorch_backend import PyTorchBackend

    config = dict(threads=1, inputs=task.inputs, outputs=task.outputs, contract_outputs=task.contract_outputs)
    ort = OnnxRuntimeBackend()
    ort.load(BackendConfig(out / ONNX_FILE, **config))
    pt = PyTorchBackend()
    pt.load(BackendConfig(out / TORCH_FILE, options={"architecture": "harness.benchmarks.rnnt.model:TinySpeechCTC"},
                          **config))
    return ort, pt


def write_log(task, backend, waveforms, path: Path) -> None:
    """LoadGen's accuracy-log format, one entry per utterance, in index order."""
    entries = []
    for index in range(len(waveforms)):
        (answer,) = task.run(backend, [waveforms[index]], np.array([index]))
        entries.append({"seq_id": index, "qsl_idx": index, "data": answer.tobytes().hex().upper()})
    path.write_text(json.dumps(entries))


def measure(out: Path, work: Path, log=print) -> dict:
    """The proxy's accuracy through ONNX Runtime, the mutations', chance, and the two proxies' agreement."""
    from harness.datasets.base import DatasetRequest
    from harness.staging import Volumes

    from .dataset import LibriSpeechWav
    from .scorer import WerScorer
    from .task import SpeechRecognition

    prepared = LibriSpeechWav().prepare(out / DATASET, DatasetRequest(cache_dir=work / "cache"))
    waveforms = Volumes(prepared.samples_path)
    scorer = WerScorer(prepared.truth)
    task = SpeechRecognition()
    ort, pt = _backends(out, task)
    worst = 0.0
    for index in range(len(waveforms)):
        feed = task.feed(task.featurize(waveforms[index]))
        worst = max(worst, float(np.abs(ort.predict(feed)[0] - pt.predict(feed)[0]).max()))
        if task.transcribe(ort, waveforms[index]).tolist() != task.transcribe(pt, waveforms[index]).tolist():
            raise RuntimeError(f"pytorch and ONNX Runtime transcribe utterance {index} differently")
    log(f"pytorch and ONNX Runtime agree on every transcript (max |logit| difference {worst:.2e})")
    results = {}
    for name, options in {"reference": {}, **MUTATIONS}.items():
        path = work / f"{name}.json"
        write_log(SpeechRecognition(**options), ort, waveforms, path)
        scored = scorer.score(path)
        log(f"{name}: {scored.lines[0]}")
        results[name] = {"accuracy": scored.values["ACCURACY"], "line": scored.lines[0]}
    empty = work / "empty.json"
    empty.write_text(json.dumps([{"seq_id": i, "qsl_idx": i, "data": ""} for i in range(len(waveforms))]))
    chance = scorer.score(empty)
    results["chance"] = {"accuracy": chance.values["ACCURACY"], "line": chance.lines[0]}
    results["words"] = sum(len(t.split()) for t in prepared.truth.references)
    return results


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--train-utterances", type=int, default=TRAIN_UTTERANCES)
    parser.add_argument("--out", type=Path, default=PROXY_DIR)
    args = parser.parse_args(argv)
    torch = _torch()
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.out / DATASET, ignore_errors=True)
    synth.render_dataset(args.out / DATASET, VAL_UTTERANCES)
    model, train_s = train(args.steps, args.train_utterances)
    torch.save(model.state_dict(), args.out / TORCH_FILE)
    export_onnx(model, args.out / ONNX_FILE)
    with tempfile.TemporaryDirectory(prefix="rnnt-proxy-") as work:
        results = measure(args.out, Path(work))
    meta = {
        "reference_accuracy": results["reference"]["accuracy"],
        "official_line": results["reference"]["line"],
        "metric": "accuracy = (1 - WER) x 100 as accuracy_eval.py prints it, through ONNX Runtime, CTC best path",
        "chance": {"empty transcripts": results["chance"]["accuracy"]},
        "mutations": {name: results[name]["accuracy"] for name in MUTATIONS},
        "dataset": f"synth v{synth.GENERATOR_VERSION}, {VAL_UTTERANCES} utterances, {results['words']} words",
        "training": {"utterances": args.train_utterances, "steps": args.steps, "batch": BATCH,
                     "learning_rate": LEARNING_RATE, "seed": SEED, "seconds": round(train_s)},
        "files": {name: sha256(args.out / name) for name in (ONNX_FILE, TORCH_FILE)},
    }
    (args.out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{results['reference']['line']} (built in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
