"""The declarative benchmark registry: facts and thresholds, never code."""
from .loader import REGISTRY_DIR, RegistryError, load_benchmark, load_registry
from .schema import (
    ALL_SCENARIOS,
    AXIS_DEVICES,
    AXIS_MODES,
    AXIS_PRECISIONS,
    Artifact,
    Benchmark,
)

__all__ = [
    "ALL_SCENARIOS", "AXIS_DEVICES", "AXIS_MODES", "AXIS_PRECISIONS", "Artifact",
    "Benchmark", "REGISTRY_DIR", "RegistryError", "load_benchmark", "load_registry",
]
