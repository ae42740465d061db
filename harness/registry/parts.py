"""Resolve the parts a registry entry names ("module:Name") to the objects themselves.

A module is looked up in the family's own folder first (``task:ImageClassification``
is ``task.py`` beside the family's ``benchmark.toml``), then imported by its
full name (``harness.tasks.text_generation:TextGeneration``). A family folder
inside an installed package is imported under its package name; one given with
``--mlperf-registry`` becomes a package of its own, so its modules may import
each other relatively. Nothing is imported before a part is asked for, and the
child process resolves the same names from the same folder.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path


class PartError(ImportError):
    """A registry entry names a part that cannot be imported."""


def _package_for(home: Path) -> str:
    """The importable package name of a family folder."""
    home = Path(home).resolve()
    for entry in map(Path, sys.path or ["."]):
        try:
            relative = home.relative_to(entry.resolve())
        except (ValueError, OSError):
            continue
        parts = relative.parts
        # An importable package chain: every folder from sys.path down has __init__.py.
        if parts and all((entry.resolve().joinpath(*parts[: i + 1]) / "__init__.py").is_file()
                         for i in range(len(parts))) and all(p.isidentifier() for p in parts):
            return ".".join(parts)
    # An installed package (an editable install's finder is no sys.path entry):
    # the folder's name under its top-most package, if that imports to this folder.
    chain = []
    folder = home
    while (folder / "__init__.py").is_file() and folder.name.isidentifier():
        chain.insert(0, folder.name)
        folder = folder.parent
    if chain:
        dotted = ".".join(chain)
        try:
            spec = importlib.util.find_spec(dotted)
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if any(Path(location).resolve() == home for location in locations):
            return dotted
    name = "mlperf_family_" + "".join(c if c.isalnum() else "_" for c in home.name) + "_" + \
        hashlib.sha256(str(home).encode()).hexdigest()[:8]
    if name not in sys.modules:
        init = home / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(home)])
        else:  # a plain folder of modules: a package without an __init__
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(home)]
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        if spec.loader is not None:
            spec.loader.exec_module(module)
    return name


def qualify(ref: str, home: str | Path, what: str = "part") -> str:
    """``ref`` ("module:Name") with the module's full importable name: a module of
    the family folder gets the folder's package name, any other is left as given.
    Backend options name code this way too (the pytorch backend's
    ``architecture = "model:TinyDLRM"``), so a family folder works wherever it lies."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise PartError(f"{what} {ref!r}: expected 'module:Name'")
    module_name, attribute = ref.split(":")
    home = Path(home)
    local = home / (module_name.replace(".", "/") + ".py")
    return f"{_package_for(home)}.{module_name}:{attribute}" if home.parts and local.is_file() else ref


def resolve(ref: str, home: str | Path, what: str = "part"):
    """The object ``ref`` ("module:Name") names, for the family in ``home``."""
    full, attribute = qualify(ref, home, what).split(":")
    home = Path(home)
    try:
        module = importlib.import_module(full)
    except ImportError as exc:
        raise PartError(f"{home / 'benchmark.toml'}: {what} {ref!r}: cannot import {full} ({exc})") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise PartError(f"{home / 'benchmark.toml'}: {what} {ref!r}: {full} has no {attribute!r}") from None


def task_class(bench):
    return resolve(bench.task, bench.home_dir, "task")


def task_options(bench, *layers: dict) -> dict:
    """The task's options: the registry's, then each layer over it (the model file's, a caller's).

    A task that encodes its responses in a configurable dtype (text
    generation: int64 for gptj, int32 for llama2) gets the registry's.
    """
    import inspect

    merged = dict(bench.task_options)
    for layer in layers:
        merged.update(layer)
    if "response_dtype" in inspect.signature(task_class(bench)).parameters:
        merged.setdefault("response_dtype", bench.response_dtype)
    return merged


def make_task(ref: str, home: str | Path, **options):
    """The task the registry's ``task`` names, made with ``options``."""
    return resolve(ref, home, "task")(**options)


def dataset_format(bench):
    """The family's dataset format object."""
    return resolve(bench.dataset_format, bench.home_dir, "dataset_format")()


def scorer(bench, truth, **context):
    return resolve(bench.scorer, bench.home_dir, "scorer")(truth, **context)


def accuracy_command(bench):
    """The family's accuracy-command hook, or None."""
    return resolve(bench.accuracy_command, bench.home_dir, "accuracy_command") if bench.accuracy_command else None


def missing_requirement(bench) -> str | None:
    """Why this family cannot run here for want of its [requires] modules, naming the extra; None when they import.

    Looked up, not imported: a missing family never costs the session an import.
    """
    req = bench.requires
    if req is None:
        return None
    missing = []
    for module in req.modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    if not missing:
        return None
    return (f"{bench.name} needs {', '.join(missing)}, not installed here: "
            f"pip install 'mlperf-pytest[{req.extra}]' (or `make test`, which installs every extra)")
