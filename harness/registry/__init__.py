"""The declarative benchmark registry: facts and thresholds, and the names of each family's parts."""
from .loader import (
    REGISTRY_DIR, RegistryError, add_registry_dirs, extra_registry_dirs, family_files, load_benchmark, load_family,
    load_registry,
)
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
    "Benchmark", "REGISTRY_DIR", "RegistryError", "add_registry_dirs", "extra_registry_dirs", "family_files",
    "load_benchmark", "load_family", "load_registry",
]
