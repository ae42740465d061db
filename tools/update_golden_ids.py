"""Rewrite tests/golden/{vision,language}_case_ids.txt from the registry.

Case ids are a public API (CI lists and gates name them), so the full vision
matrix is kept as a golden file: a rename or a new axis value shows up in
review as a diff of this file. Run after changing the registry:
    .venv/bin/python tools/update_golden_ids.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.matrix import build_cases  # noqa: E402
from harness.registry import load_registry  # noqa: E402

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "golden"
GOLDEN = GOLDEN_DIR / "vision_case_ids.txt"
LANGUAGE_GOLDEN = GOLDEN_DIR / "language_case_ids.txt"
VISION_TASKS = ("image-classification", "object-detection")
LANGUAGE_TASKS = ("question-answering", "text-generation")


def ids_for(tasks: tuple[str, ...]) -> list[str]:
    models = [name for name, bench in load_registry().items() if bench.task in tasks]
    return [case.id for case in build_cases({"model": models})]


def vision_ids() -> list[str]:
    return ids_for(VISION_TASKS)


def language_ids() -> list[str]:
    return ids_for(LANGUAGE_TASKS)


def main() -> int:
    for path, ids in ((GOLDEN, vision_ids()), (LANGUAGE_GOLDEN, language_ids())):
        path.write_text("\n".join(ids) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
