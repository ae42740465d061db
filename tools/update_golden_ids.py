"""Rewrite tests/golden/vision_case_ids.txt from the registry.

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

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden" / "vision_case_ids.txt"
VISION_TASKS = ("image-classification", "object-detection")


def vision_ids() -> list[str]:
    models = [name for name, bench in load_registry().items() if bench.task in VISION_TASKS]
    return [case.id for case in build_cases({"model": models})]


def main() -> int:
    GOLDEN.write_text("\n".join(vision_ids()) + "\n")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
