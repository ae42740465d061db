"""The ids of the full matrix are a public API: any change shows as a diff."""
import pytest

from tools.update_golden_ids import GOLDEN, LANGUAGE_GOLDEN, language_ids, vision_ids


@pytest.mark.parametrize("golden, ids", [(GOLDEN, vision_ids), (LANGUAGE_GOLDEN, language_ids)],
                         ids=["vision", "language"])
def test_case_ids_match_the_golden_file(golden, ids):
    expected = golden.read_text().splitlines()
    actual = ids()
    added = sorted(set(actual) - set(expected))
    removed = sorted(set(expected) - set(actual))
    assert actual == expected, (
        f"case ids changed ({len(added)} added, {len(removed)} removed; first added {added[:3]}, "
        f"first removed {removed[:3]}). If intended, run: .venv/bin/python tools/update_golden_ids.py"
    )
