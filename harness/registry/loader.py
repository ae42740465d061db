"""Load the declarative registry (one TOML file per benchmark) strictly.

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
    AXIS_DEVICES,
    AXIS_PRECISIONS,
    AccuracySpec,
    Artifact,
    Benchmark,
    BackendSupport,
    ProxySpec,
    UnsupportedRule,
)

REGISTRY_DIR = Path(__file__).resolve().parent


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


def load_benchmark(path: Path) -> Benchmark:
    where = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{where}: not valid TOML: {exc}") from exc
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
        },
    )
    _check_values(bench.scenarios, ALL_SCENARIOS, f"{where}.scenarios")
    for spec in bench.accuracy_also:
        if spec.metric not in bench.proxy.also:
            raise RegistryError(f"{where}: [proxy.also] lacks the proxy's reference for {spec.metric!r}")
    return bench


@lru_cache(maxsize=None)
def load_registry(directory: Path = REGISTRY_DIR) -> dict[str, Benchmark]:
    """All benchmarks by name, in name order."""
    benchmarks = {}
    for path in sorted(directory.glob("*.toml")):
        bench = load_benchmark(path)
        if bench.name in benchmarks:
            raise RegistryError(f"{path}: benchmark {bench.name!r} is defined twice")
        benchmarks[bench.name] = bench
    return dict(sorted(benchmarks.items()))
