"""The one place that turns the registry into test cases.

Cases are sorted and deterministic because every pytest-xdist worker collects
independently and must arrive at the same list. Case ids are a public API:
``<model>-<backend>-<device>-<precision>-<scenario>-<mode>``.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Iterable, Mapping

from .registry import ALL_SCENARIOS, AXIS_DEVICES, AXIS_MODES, AXIS_PRECISIONS, Benchmark, load_registry

AXES = ("model", "backend", "device", "precision", "scenario", "mode")
# A backend selection value meaning each family's own default backend
# (Benchmark.default_backend): `make test` runs every family on it.
DEFAULT_BACKEND = "default"


class SelectionError(ValueError):
    """A selection names a value that no axis has."""


@dataclass(frozen=True, order=True)
class Case:
    model: str
    backend: str
    device: str
    precision: str
    scenario: str
    mode: str
    unsupported: str | None = None

    @property
    def id(self) -> str:
        return "-".join(getattr(self, axis) for axis in AXES)

    @property
    def axis_values(self) -> dict[str, str]:
        return {axis: getattr(self, axis) for axis in AXES}


def axis_values(registry: Mapping[str, Benchmark] | None = None) -> dict[str, tuple[str, ...]]:
    """Every value each axis can take: the vocabulary for options and markers."""
    registry = load_registry() if registry is None else registry
    backends = sorted({name for bench in registry.values() for name in bench.backends})
    return {
        "model": tuple(registry),
        "backend": tuple(backends),
        "device": AXIS_DEVICES,
        "precision": AXIS_PRECISIONS,
        "scenario": ALL_SCENARIOS,
        "mode": AXIS_MODES,
    }


def validate_selection(selection: Mapping[str, Iterable[str]], registry=None) -> None:
    valid = axis_values(registry)
    for axis, wanted in selection.items():
        if axis not in valid:
            raise SelectionError(f"unknown axis {axis!r}; axes: {', '.join(AXES)}")
        unknown = [value for value in wanted
                   if value not in valid[axis] and not (axis == "backend" and value == DEFAULT_BACKEND)]
        if unknown:
            allowed = valid[axis] + ((DEFAULT_BACKEND,) if axis == "backend" else ())
            raise SelectionError(
                f"unknown {axis} {', '.join(map(repr, unknown))}; valid {axis} values: {', '.join(allowed)}"
            )


def build_cases(selection: Mapping[str, Iterable[str]] | None = None, registry=None) -> list[Case]:
    """All cases of the matrix, narrowed by ``selection`` (axis -> allowed values).

    Combinations the registry does not offer are kept, carrying the reason,
    so that they are collected and skipped rather than silently missing.
    """
    registry = load_registry() if registry is None else registry
    selection = {axis: set(values) for axis, values in (selection or {}).items() if values}
    validate_selection(selection, registry)

    def allowed(axis: str, value: str, bench: Benchmark | None = None) -> bool:
        if axis not in selection or value in selection[axis]:
            return True
        return axis == "backend" and DEFAULT_BACKEND in selection[axis] and value == bench.default_backend

    cases = []
    for bench in registry.values():
        if not allowed("model", bench.name):
            continue
        # Modes that MLPerf does not define for a scenario or benchmark (find-peak
        # Offline, TEST04 for bert) are not cases at all: they are never collected.
        for backend, device, precision, scenario in product(
            sorted(bench.backends), AXIS_DEVICES, AXIS_PRECISIONS, bench.scenarios
        ):
            for mode in bench.modes(scenario):
                values = dict(backend=backend, device=device, precision=precision, scenario=scenario, mode=mode)
                if all(allowed(axis, value, bench) for axis, value in values.items()):
                    reason = (bench.unsupported_reason(backend, device, precision, scenario)
                              or bench.mode_unsupported(mode, scenario))
                    cases.append(Case(model=bench.name, unsupported=reason, **values))
    return sorted(cases, key=lambda case: case.id)
