"""Load the declarative registry strictly: one ``benchmark.toml`` per family folder.

Each benchmark family lives in its own folder (``harness/benchmarks/<family>/``,
or a folder given with ``--mlperf-registry``): its ``benchmark.toml`` holds the
family's keys, and a family with accuracy variants (bert-99 / bert-99.9) lists
what differs under ``[variants."<name>"]``, merged over the shared keys.
Unknown or missing keys are errors naming the file and the key: a typo in a
threshold must never silently fall back to a default.
"""
from __future__ import annotations

import dataclasses
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from .schema import (
    ALL_SCENARIOS,
    COMPLIANCE_TESTS,
    AXIS_DEVICES,
    AXIS_PRECISIONS,
    AccuracySpec,
    Artifact,
    Benchmark,
    BackendSupport,
    ProxySpec,
    Requirement,
    UnsupportedRule,
)

# The built-in families; more come from add_registry_dirs (--mlperf-registry).
REGISTRY_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
FAMILY_FILE = "benchmark.toml"
_EXTRA_DIRS: list[Path] = []
# Keys the loader sets; a registry file must not.
_LOADER_KEYS = ("home",)


class RegistryError(ValueError):
    """A registry file does not match the schema."""


def _build(cls, data: Any, where: str, converters: dict | None = None):
    if not isinstance(data, dict):
        raise RegistryError(f"{where}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    required = {
        name for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = sorted(required - set(data))
    if missing:
        raise RegistryError(f"{where}: missing key(s) {missing}")
    values = {}
    for key, value in data.items():
        convert = (converters or {}).get(key)
        values[key] = convert(value, f"{where}.{key}") if convert else _freeze(value)
    return cls(**values)


def _freeze(value):
    if isinstance(value, list):
        return tuple(value)
    return value


def _check_values(values, allowed, where):
    bad = [v for v in values if v not in allowed]
    if bad:
        raise RegistryError(f"{where}: unknown value(s) {bad}; valid: {list(allowed)}")
    return tuple(values)


def _backends(table, where):
    out = {}
    for name, spec in table.items():
        support = _build(BackendSupport, spec, f"{where}.{name}")
        _check_values(support.devices, AXIS_DEVICES, f"{where}.{name}.devices")
        _check_values(support.precisions, AXIS_PRECISIONS, f"{where}.{name}.precisions")
        out[name] = support
    return out


def _list_of(cls):
    def convert(items, where):
        if not isinstance(items, list):
            raise RegistryError(f"{where}: expected an array of tables")
        return tuple(_build(cls, item, f"{where}[{i}]") for i, item in enumerate(items))
    return convert


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``; tables merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read this registry file ({exc})") from exc


def load_family(path: Path) -> list[Benchmark]:
    """Every benchmark one family file defines: its variants, or the one it names."""
    path = Path(path).resolve()
    data = _read(path)
    for key in _LOADER_KEYS:
        if key in data:
            raise RegistryError(f"{path}: {key!r} is set by the loader, not in a registry file")
    variants = data.pop("variants", None)
    if variants is None:
        return [_benchmark(data, str(path), path.parent)]
    if not isinstance(variants, dict) or not variants:
        raise RegistryError(f"{path}.variants: expected tables named by benchmark, e.g. [variants.\"bert-99\"]")
    if "name" in data:
        raise RegistryError(f"{path}: a family with [variants] names its benchmarks there, not with a top-level name")
    out = []
    for name, over in variants.items():
        if not isinstance(over, dict):
            raise RegistryError(f"{path}.variants.{name}: expected a table")
        out.append(_benchmark(_variant(data, dict(over), name, f"{path}.variants.{name}"),
                              f"{path} [variants.{name}]", path.parent))
    return out


def _variant(shared: dict, over: dict, name: str, where: str) -> dict:
    """One variant's entry: its keys over the shared ones, plus the two variant-only keys.

    ``ratio``: the accuracy target of this variant (0.99, 0.999) for the
    primary metric and every further metric gated at the family's ratio (a
    length bound such as gptj's GEN_LEN at 0.9 keeps its own).
    ``unsupported_also``: rules added to the shared [[unsupported]] ones.
    """
    ratio = over.pop("ratio", None)
    extra_rules = over.pop("unsupported_also", [])
    merged = _merge(shared, {**over, "name": name})
    if ratio is not None:
        if not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
            raise RegistryError(f"{where}.ratio: expected a number in (0, 1], got {ratio!r}")
        family_ratio = merged.get("accuracy", {}).get("ratio")
        merged["accuracy"] = {**merged.get("accuracy", {}), "ratio": ratio}
        merged["accuracy_also"] = [
            {**spec, "ratio": ratio} if isinstance(spec, dict) and spec.get("ratio") == family_ratio else spec
            for spec in merged.get("accuracy_also", [])
        ]
    if not isinstance(extra_rules, list):
        raise RegistryError(f"{where}.unsupported_also: expected an array of tables")
    if extra_rules:
        merged["unsupported"] = list(merged.get("unsupported", [])) + extra_rules
    return merged


def load_benchmark(path: Path) -> Benchmark:
    """The one benchmark of a family file without variants."""
    found = load_family(path)
    if len(found) != 1:
        raise RegistryError(f"{path}: defines {len(found)} benchmarks ({', '.join(b.name for b in found)}); "
                            "use load_family")
    return found[0]


def _benchmark(data: dict, where: str, home: Path) -> Benchmark:
    bench = _build(
        Benchmark,
        data,
        where,
        converters={
            "accuracy": lambda v, w: _build(AccuracySpec, v, w),
            "proxy": lambda v, w: _build(ProxySpec, v, w),
            "backends": _backends,
            "unsupported": _list_of(UnsupportedRule),
            "artifacts": _list_of(Artifact),
            "accuracy_also": _list_of(AccuracySpec),
            "requires": _requirement,
        },
    )
    _check_values(bench.scenarios, ALL_SCENARIOS, f"{where}.scenarios")
    _check_values(bench.compliance, COMPLIANCE_TESTS, f"{where}.compliance")
    for spec in bench.accuracy_also:
        if spec.metric not in bench.proxy.also:
            raise RegistryError(f"{where}: [proxy.also] lacks the proxy's reference for {spec.metric!r}")
    _check_test_style(bench.test_style, f"{where}.test_style")
    for key in ("task", "dataset_format", "scorer", "accuracy_command"):
        ref = getattr(bench, key)
        if ref is not None and (not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":"))):
            raise RegistryError(f"{where}.{key}: {ref!r} is not 'module:Name' (a module of the family folder "
                                "or an importable one)")
    default_backend = bench.default_backend or next(iter(bench.backends), "")
    if default_backend not in bench.backends:
        raise RegistryError(f"{where}.default_backend: {default_backend!r} has no [backends.{default_backend}] "
                            f"table; backends: {', '.join(bench.backends) or 'none'}")
    return dataclasses.replace(bench, home=str(home), default_backend=default_backend)


def _requirement(value, where: str) -> Requirement:
    req = _build(Requirement, value, where)
    if not isinstance(req.extra, str) or not req.extra.strip():
        raise RegistryError(f"{where}.extra: expected the name of the project's extra that installs the modules")
    if not req.modules or not all(isinstance(m, str) and m.isidentifier() for m in req.modules):
        raise RegistryError(f"{where}.modules: expected top-level module names, e.g. [\"transformers\"]")
    return req


def _check_test_style(table, where: str) -> None:
    if not isinstance(table, dict):
        raise RegistryError(f"{where}: expected tables per scenario, e.g. [test_style.Offline]")
    for scenario, keys in table.items():
        if scenario not in ALL_SCENARIOS:
            raise RegistryError(f"{where}: unknown scenario {scenario!r}; valid: {list(ALL_SCENARIOS)}")
        if not isinstance(keys, dict) or not all(isinstance(v, (int, float)) for v in keys.values()):
            raise RegistryError(f"{where}.{scenario}: expected user.conf keys with numbers, e.g. min_query_count = 64")


def family_files(directory: Path) -> list[Path]:
    """The family files of a registry folder: itself a family, or one family per subfolder."""
    directory = Path(directory).expanduser().resolve()
    if not directory.is_dir():
        raise RegistryError(f"{directory}: no such registry folder")
    if (directory / FAMILY_FILE).is_file():
        return [directory / FAMILY_FILE]
    found = sorted(directory.glob(f"*/{FAMILY_FILE}"))
    if not found:
        raise RegistryError(f"{directory}: no {FAMILY_FILE} in it or in its subfolders (a registry folder holds "
                            "one benchmark family per folder)")
    return found


def add_registry_dirs(directories) -> None:
    """More benchmark families for this process (--mlperf-registry DIR); checked at once."""
    for directory in directories:
        path = Path(directory).expanduser().resolve()
        family_files(path)
        if path not in _EXTRA_DIRS and path != REGISTRY_DIR:
            _EXTRA_DIRS.append(path)
    load_registry(tuple(_EXTRA_DIRS))  # a bad file fails now, not at the first case


def extra_registry_dirs() -> tuple[Path, ...]:
    return tuple(_EXTRA_DIRS)


def load_registry(extra: tuple[Path, ...] | None = None) -> dict[str, Benchmark]:
    """All benchmarks by name, in name order: the built-in families, then ``extra`` (default: those added)."""
    return _load((REGISTRY_DIR,) + tuple(extra_registry_dirs() if extra is None else extra))


@lru_cache(maxsize=None)
def _load(directories: tuple[Path, ...]) -> dict[str, Benchmark]:
    benchmarks: dict[str, Benchmark] = {}
    for directory in directories:
        for path in family_files(directory):
            for bench in load_family(path):
                if bench.name in benchmarks:
                    raise RegistryError(f"{path}: benchmark {bench.name!r} is already defined by "
                                        f"{benchmarks[bench.name].home}/{FAMILY_FILE}")
                benchmarks[bench.name] = bench
    return dict(sorted(benchmarks.items()))
