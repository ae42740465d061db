"""What verifying cache entries costs: the quick check per use, the full check.

Provisions the embedded proxies (resnet50's ~300 MB staged samples and its 500
rendered JPEGs; the language proxies' small staged arrays) into a cache, plus a
100 MB file fetched through the downloader as a stand-in for a real model, and
times on each entry:
- ``quick_ms``: ``quick_check`` (sizes, timestamps, sampled blocks), the cost
  every case pays per entry it uses; median of ``--repeat`` runs;
- ``full_ms``: ``full_check`` (every block re-hashed): what a use pays when
  timestamps moved; median of 3;
- ``build_digest_ms``: scanning the entry into its manifest, what a build
  adds (a download hashes while it streams instead); median of 3.
For the model stand-in also ``sha256_ms``, the full registry checksum that
every use paid before manifests. Page cache warm (as on repeated runs).

    python -m benchmarks.cache_check [--cache DIR] [--repeat 50]

prints one JSON line: {"unit": "ms", "entries": {name: {...}}, ...}.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.artifacts import fetch, file_digest, full_check, manifest, quick_check
from harness.benchmarks.resnet50 import preprocessed
from harness.provision import provision
from harness.registry import load_registry

MODEL_BYTES = 100 * 1000 * 1000  # about the real resnet50_v1.onnx


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 3)


def entry_figures(entry: Path, repeat: int) -> dict:
    files = [p for p in entry.rglob("*") if p.is_file() and p.name != manifest.INNER_NAME] if entry.is_dir() else [entry]

    def quick():
        found = quick_check(entry)
        if not found.ok:
            raise SystemExit(f"{entry}: quick check failed: {found.problems or found.unsure}")

    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "quick_ms": median_ms(quick, repeat), "full_ms": median_ms(lambda: full_check(entry), 3),
            "build_digest_ms": median_ms(lambda: manifest.build(entry, entry.name), 3)}


def staged_entries(cache: Path) -> dict[str, Path]:
    """Provision every proxy benchmark once; its staged folder (and resnet50's rendered images)."""
    entries, registry = {}, load_registry()
    for name in ("resnet50", "bert-99", "gptj-99", "llama2-70b-99"):
        bench = registry[name]
        backend = next(b for b, s in bench.backends.items() if s.proxy_models.get("fp32"))
        prov = provision(bench, backend, "fp32", cache_dir=cache)
        entries[f"{name}-samples"] = Path(prov.samples_path).parent
        if Path(prov.dataset_dir).is_relative_to(cache):
            entries[f"{name}-dataset"] = Path(prov.dataset_dir)
    return entries


def model_figures(cache: Path, repeat: int) -> dict:
    import hashlib

    src = cache / "mirror" / "model.bin"
    src.parent.mkdir(parents=True, exist_ok=True)
    data = os.urandom(MODEL_BYTES)
    src.write_bytes(data)
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    dest = cache / "models" / "stand-in" / "model.bin"
    t = time.perf_counter()
    fetch(src.as_uri(), dest, checksum, progress=False)  # download + sha256 + manifest, one pass
    figures = entry_figures(dest, repeat)
    figures["download_ms"] = round((time.perf_counter() - t) * 1000, 3)
    figures["fetch_hit_ms"] = median_ms(lambda: fetch(src.as_uri(), dest, checksum, progress=False), repeat)
    figures["sha256_ms"] = median_ms(lambda: file_digest(dest), 3)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="cache to use (default: a new temporary one, removed after)")
    parser.add_argument("--repeat", type=int, default=50, help="runs per quick-check median")
    args = parser.parse_args(argv)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="cache-check-"))
    try:
        entries = staged_entries(cache)
        report = {"unit": "ms", "entries": {name: entry_figures(path, args.repeat) for name, path in entries.items()}}
        report["entries"]["model-100MB"] = model_figures(cache, args.repeat)
        # For scale: what load_or_build already spends per call hashing the 500 JPEGs into its key.
        dataset = entries["resnet50-dataset"]
        report["resnet50_cache_key_ms"] = median_ms(lambda: preprocessed.cache_key(dataset), 5)
    finally:
        if args.cache is None:
            shutil.rmtree(cache, ignore_errors=True)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
