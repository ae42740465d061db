"""Provisioning a benchmark's model and dataset: proxy, real or the user's own.

- proxy (default): the committed proxy model and a dataset rendered into the
  cache in the real on-disk layout; the gate's reference is the proxy's own
  measured accuracy from the registry.
- real: the registry's real model artifact, downloaded and verified into the
  cache (``offline`` makes a miss an error); the dataset must be the user's.
- the user's files (``model_path`` / ``dataset_path``) are used in place.
With a real dataset the reference is MLPerf's FP32 reference.
Everything cached is built once across processes (file locks), under a
temporary name, then renamed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .artifacts.cache import ensure_artifact
from .artifacts.checksum import verify
from .artifacts.download import fetch
from .case_run import Provisioned
from .datasets.imagenet import read_val_map
from .datasets.preprocessed import load_or_build
from .proxies import PROXY_DIR
from .registry import Benchmark

SOURCES = ("proxy", "real")


class ProvisionError(RuntimeError):
    """The model or dataset cannot be provided."""


def proxy_dataset(bench: Benchmark, cache_dir: Path) -> Path:
    from .proxies import digits_imagenet

    name = f"datasets/{bench.proxy.dataset}-v{digits_imagenet.GENERATOR_VERSION}"
    return ensure_artifact(cache_dir, name, build=lambda tmp: digits_imagenet.render_dataset(tmp, "val"))


def model_file(bench: Benchmark, backend: str, precision: str, *, source: str, cache_dir: Path,
               model_path: Path | None = None, offline: bool = False) -> tuple[Path, str]:
    if model_path is not None:
        path = Path(model_path).expanduser().resolve()
        if not path.exists():
            raise ProvisionError(f"--mlperf-model-path {path}: no such file")
        return path, "user"
    if source == "proxy":
        support = bench.backends.get(backend)
        name = support.proxy_models.get(precision) if support else None
        if name is None:
            raise ProvisionError(f"the registry has no {backend} {precision} proxy model for {bench.name}")
        return (PROXY_DIR / name).resolve(), "proxy"
    artifact = bench.artifact(backend, precision)
    if artifact is None:
        raise ProvisionError(f"the registry has no real {backend} {precision} model for {bench.name}")
    dest = Path(cache_dir) / "models" / bench.name / artifact.filename
    return fetch(artifact.url, dest, artifact.checksum, offline=offline), "real"


def model_options(bench: Benchmark, backend: str, precision: str, model_source: str) -> tuple[dict, dict]:
    """(backend options, task options) for the model file in use.

    A real artifact may differ from the proxy (another architecture, no
    background class); the registry says how, per artifact.
    """
    support = bench.backends.get(backend)
    backend_options = dict(support.options) if support else {}
    task_options: dict = {}
    artifact = bench.artifact(backend, precision)
    if model_source != "proxy" and artifact is not None:
        backend_options.update(artifact.options)
        task_options.update(artifact.task_options)
    return backend_options, task_options


def verify_real_model(bench: Benchmark, backend: str, precision: str, path: Path) -> None:
    """A user file named like the registry's real artifact must be that artifact."""
    artifact = bench.artifact(backend, precision)
    if artifact is not None and path.name == artifact.filename:
        verify(path, artifact.checksum)


def dataset(bench: Benchmark, *, cache_dir: Path, dataset_path: Path | None, source: str,
            channel_order: str = "RGB", count: int | None = None) -> tuple[Path, Path, np.ndarray, float, str]:
    """(dataset dir, preprocessed samples .npy, labels, reference, reference origin)."""
    if dataset_path is not None:
        directory = Path(dataset_path).expanduser().resolve()
        read_val_map(directory, count=count)  # clear errors before any long preprocessing
        reference, origin = bench.accuracy.reference, "MLPerf FP32 reference (registry)"
    elif source == "real":
        raise ProvisionError(
            f"the real {bench.dataset_format} dataset cannot be downloaded; pass --mlperf-dataset-path "
            "pointing at the validation set (val_map.txt and the JPEG files)"
        )
    else:
        directory = proxy_dataset(bench, cache_dir)
        reference, origin = bench.proxy.reference, "proxy's measured FP32 reference (registry)"
    samples, labels, _ = load_or_build(directory, cache_dir, count=count, channel_order=channel_order)
    return directory, samples, np.load(labels), reference, origin


def provision(bench: Benchmark, backend: str, precision: str, *, cache_dir: Path, source: str = "proxy",
              model_path: Path | None = None, dataset_path: Path | None = None, offline: bool = False,
              channel_order: str = "RGB", count: int | None = None) -> Provisioned:
    if source not in SOURCES:
        raise ProvisionError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
    path, model_source = model_file(
        bench, backend, precision, source=source, cache_dir=cache_dir, model_path=model_path, offline=offline
    )
    if model_source == "user":
        verify_real_model(bench, backend, precision, path)
    directory, samples, labels, reference, origin = dataset(
        bench, cache_dir=cache_dir, dataset_path=dataset_path, source=source,
        channel_order=channel_order, count=count,
    )
    backend_options, task_options = model_options(bench, backend, precision, model_source)
    return Provisioned(
        model_path=path, model_source=model_source, dataset_dir=directory, samples_path=samples,
        labels=labels, reference=reference, reference_source=origin,
        backend_options=backend_options, task_options=task_options,
    )
