"""Rewrite the golden case-id files under tests/golden/ from the registry.

Case ids are a public API (CI lists and gates name them), so the full matrix
of every built-in family is kept as golden files: a rename or a new axis
value shows up in review as a diff. The first two files predate the family
folders and keep their names and content; every other family has its own,
``<family folder>_case_ids.txt``. Run after changing the registry:
    .venv/bin/python tools/update_golden_ids.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.matrix import build_cases  # noqa: E402
from harness.registry import load_registry  # noqa: E402
from harness.registry.loader import REGISTRY_DIR, _load  # noqa: E402

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "golden"
GOLDEN = GOLDEN_DIR / "vision_case_ids.txt"
LANGUAGE_GOLDEN = GOLDEN_DIR / "language_case_ids.txt"
# Families whose ids share one of the two original files.
SHARED = {GOLDEN: ("resnet50",), LANGUAGE_GOLDEN: ("bert", "gptj", "llama2")}


def _builtin():
    """The built-in families only: a --mlperf-registry folder never changes these files."""
    return _load((REGISTRY_DIR,))


def ids_for_families(families: tuple[str, ...]) -> list[str]:
    registry = _builtin()
    models = [name for name, bench in registry.items() if Path(bench.home).name in families]
    return [case.id for case in build_cases({"model": models}, registry=registry)]


def golden_files() -> dict[Path, tuple[str, ...]]:
    """Every golden file and the family folders whose ids it holds."""
    files = dict(SHARED)
    shared = {family for families in SHARED.values() for family in families}
    for family in sorted({Path(b.home).name for b in _builtin().values()} - shared):
        files[GOLDEN_DIR / f"{family}_case_ids.txt"] = (family,)
    return files


def vision_ids() -> list[str]:
    return ids_for_families(SHARED[GOLDEN])


def language_ids() -> list[str]:
    return ids_for_families(SHARED[LANGUAGE_GOLDEN])


def main() -> int:
    for path, families in golden_files().items():
        path.write_text("\n".join(ids_for_families(families)) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
