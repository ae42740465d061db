"""Provisioning a benchmark's model and dataset: proxy, real or the user's own.

- proxy (default): the committed proxy model and a dataset rendered into the
  cache in the real on-disk layout; the gate's reference is the proxy's own
  measured accuracy from the registry.
- real: the registry's real model artifact, downloaded and verified into the
  cache (``offline`` makes a miss an error); the dataset must be the user's.
- the user's files (``model_path`` / ``dataset_path``) are used in place.
Which FP32 reference gates the case follows from what the model and the
dataset are, recognised by content (harness.references).
Everything cached is built once across processes (file locks), under a
temporary name, then renamed.
"""
from __future__ import annotations

import json
from pathlib import Path

from .artifacts.cache import ensure_artifact
from .artifacts.checksum import verify
from .artifacts.download import fetch
from .case_run import Provisioned
from .datasets.base import DatasetRequest
from .datasets.vocabulary import TOKENIZER_FILES, check_model_vocabulary
from .identity import content_files, same_content
from .references import ReferenceChoice, ReferenceError, choose_reference
from .registry import Benchmark
from .registry.parts import dataset_format, qualify, scorer

SOURCES = ("proxy", "real")


class ProvisionError(RuntimeError):
    """The model or dataset cannot be provided."""


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
        return (bench.proxy_dir / name).resolve(), "proxy"
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
    task_options: dict = dict(bench.proxy.task_options) if model_source == "proxy" else {}
    if model_source == "proxy":
        backend_options.update(bench.proxy.backend_options)
    artifact = bench.artifact(backend, precision)
    if model_source != "proxy" and artifact is not None:
        backend_options.update(artifact.options)
        task_options.update(artifact.task_options)
    if isinstance(backend_options.get("architecture"), str):
        # a module of the family folder ("model:TinyDLRM") by its importable name;
        # the child registers the folder's package when it makes the task, before the model loads
        backend_options["architecture"] = qualify(backend_options["architecture"], bench.home, "architecture")
    return backend_options, task_options


def verify_real_model(bench: Benchmark, backend: str, precision: str, path: Path) -> None:
    """A user file named like the registry's real artifact must be that artifact."""
    artifact = bench.artifact(backend, precision)
    if artifact is not None and path.name == artifact.filename:
        verify(path, artifact.checksum)


def tokenizer_folder(bench: Benchmark, *, source: str, cache_dir: Path, model_path: Path | None,
                     tokenizer_path: Path | None, offline: bool = False) -> Path | None:
    """Where the tokenizer comes from: the user's, the model folder's, the proxy's, or the real artifact."""
    if tokenizer_path is not None:
        path = Path(tokenizer_path).expanduser().resolve()
        if not path.exists():
            raise ProvisionError(f"--mlperf-tokenizer-path {path}: no such file or folder")
        return path if path.is_dir() else path.parent
    if model_path is not None:
        folder = Path(model_path).expanduser().resolve()
        if folder.is_dir() and any((folder / name).is_file() for name in TOKENIZER_FILES):
            return folder
    if bench.proxy.tokenizer is None:
        return None
    if source == "proxy" and model_path is None:
        return (bench.proxy_dir / bench.proxy.tokenizer).resolve()
    artifact = next((a for a in bench.artifacts if a.kind == "tokenizer"), None)
    if artifact is None or source != "real":
        raise ProvisionError(
            f"{bench.name} needs the tokenizer that belongs to the model: pass --mlperf-tokenizer-path"
        )
    dest = Path(cache_dir) / "models" / bench.name / artifact.filename
    return fetch(artifact.url, dest, artifact.checksum, offline=offline).parent


def model_limits(model_path: Path) -> int:
    """The model's maximum positions, read from a Hugging Face config.json (0: unknown)."""
    config = Path(model_path) / "config.json"
    if not config.is_file():
        return 0
    data = json.loads(config.read_text())
    return int(data.get("max_position_embeddings") or data.get("n_positions") or 0)


def is_proxy_model(bench: Benchmark, path: Path, model_source: str) -> bool:
    """The committed proxy, or a byte-identical copy of one of the benchmark's proxy files."""
    if model_source != "user":
        return model_source == "proxy"
    path = Path(path)
    files = content_files(path)
    for name in sorted({n for support in bench.backends.values() for n in support.proxy_models.values()}):
        proxy = (bench.proxy_dir / name).resolve()
        if proxy.exists() and proxy.is_dir() == path.is_dir() and same_content(files, path, content_files(proxy), proxy):
            return True
    return False


def _content(fmt, directory: Path) -> tuple[list[Path], Path]:
    files = fmt.content_files(directory)
    return files, (files[0] if len(files) == 1 else Path(directory))


def is_proxy_dataset(fmt, bench: Benchmark, directory: Path, cache_dir: Path, offline: bool = False) -> bool:
    """Whether a user's dataset holds exactly the proxy dataset's content (a copy counts)."""
    if bench.proxy.dataset is None:
        return False
    files, root = _content(fmt, directory)
    proxy_files, proxy_root = _content(fmt, fmt.proxy_directory(bench, cache_dir, offline=offline))
    return same_content(files, root, proxy_files, proxy_root)


def dataset(bench: Benchmark, *, cache_dir: Path, dataset_path: Path | None, source: str,
            channel_order: str = "RGB", count: int | None = None, tokenizer_dir: Path | None = None,
            model_path: Path | None = None, task_options: dict | None = None, offline: bool = False):
    """(Prepared dataset, whether it is the proxy's). ``offline``: a damaged cache entry is an error, not rebuilt."""
    fmt = dataset_format(bench)
    if dataset_path is not None:
        directory = Path(dataset_path).expanduser().resolve()
        fmt.check(directory, count)  # clear errors before any long preprocessing
        proxy = is_proxy_dataset(fmt, bench, directory, cache_dir, offline)
    elif source == "real":
        raise ProvisionError(
            f"the real {fmt.name} dataset cannot be downloaded; pass --mlperf-dataset-path {fmt.real_hint}"
        )
    else:
        directory = fmt.proxy_directory(bench, cache_dir, offline=offline)
        proxy = True
    options = {**bench.task_options, **(task_options or {})}
    request = DatasetRequest(
        cache_dir=cache_dir, count=count, channel_order=channel_order, tokenizer_dir=tokenizer_dir,
        dtype=bench.response_dtype, offline=offline, task_options=options,
        # A prompt plus its new tokens must fit the model (0: the model folder does not say).
        max_positions=model_limits(model_path) if model_path else 0,
        max_new_tokens=int(options.get("max_new_tokens", 0)),
    )
    return fmt.prepare(directory, request), proxy


def provision(bench: Benchmark, backend: str, precision: str, *, cache_dir: Path, source: str = "proxy",
              model_path: Path | None = None, dataset_path: Path | None = None, offline: bool = False,
              channel_order: str = "RGB", count: int | None = None, tokenizer_path: Path | None = None,
              reference_accuracy: dict | None = None) -> Provisioned:
    if source not in SOURCES:
        raise ProvisionError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
    path, model_source = model_file(
        bench, backend, precision, source=source, cache_dir=cache_dir, model_path=model_path, offline=offline
    )
    if model_source == "user":
        verify_real_model(bench, backend, precision, path)
    tokenizer_dir = tokenizer_folder(bench, source=source, cache_dir=cache_dir, model_path=model_path,
                                     tokenizer_path=tokenizer_path, offline=offline)
    if tokenizer_dir is not None:
        check_model_vocabulary(path, tokenizer_dir)
    backend_options, task_options = model_options(bench, backend, precision, model_source)
    prepared, proxy_dataset = dataset(
        bench, cache_dir=cache_dir, dataset_path=dataset_path, source=source, channel_order=channel_order,
        count=count, tokenizer_dir=tokenizer_dir, model_path=path, task_options=task_options, offline=offline,
    )
    evaluation = scorer(bench, prepared.truth, dtype=bench.response_dtype, tokenizer_dir=tokenizer_dir,
                        subset=count is not None)
    try:
        choice = choose_reference(bench, model_is_proxy=is_proxy_model(bench, path, model_source),
                                  dataset_is_proxy=proxy_dataset, given=dict(reference_accuracy or {}),
                                  model=str(path), dataset=str(prepared.directory))
    except ReferenceError as exc:
        raise ProvisionError(str(exc)) from None
    references = choice.references
    return Provisioned(
        model_path=path, model_source=model_source, dataset_dir=prepared.directory,
        samples_path=prepared.samples_path, evaluation=evaluation,
        reference=references[bench.accuracy.metric], reference_source=choice.description,
        reference_reason=choice.reason,
        backend_options=backend_options, task_options=task_options, references=references,
        tokenizer_dir=tokenizer_dir,
    )
