"""The ids of the full vision matrix are a public API: any change shows as a diff."""
from tools.update_golden_ids import GOLDEN, vision_ids


def test_vision_case_ids_match_the_golden_file():
    expected = GOLDEN.read_text().splitlines()
    actual = vision_ids()
    added = sorted(set(actual) - set(expected))
    removed = sorted(set(expected) - set(actual))
    assert actual == expected, (
        f"case ids changed ({len(added)} added, {len(removed)} removed; first added {added[:3]}, "
        f"first removed {removed[:3]}). If intended, run: .venv/bin/python tools/update_golden_ids.py"
    )
