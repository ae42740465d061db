"""The ids of the full matrix are a public API: any change shows as a diff."""
import pytest

from tools.update_golden_ids import _builtin, golden_files, ids_for_families

FILES = golden_files()


@pytest.mark.parametrize("golden", sorted(FILES), ids=[p.stem for p in sorted(FILES)])
def test_case_ids_match_the_golden_file(golden):
    assert golden.is_file(), f"{golden} is missing: run .venv/bin/python tools/update_golden_ids.py"
    expected = golden.read_text().splitlines()
    actual = ids_for_families(FILES[golden])
    added = sorted(set(actual) - set(expected))
    removed = sorted(set(expected) - set(actual))
    assert actual == expected, (
        f"case ids changed ({len(added)} added, {len(removed)} removed; first added {added[:3]}, "
        f"first removed {removed[:3]}). If intended, run: .venv/bin/python tools/update_golden_ids.py"
    )


def test_every_built_in_benchmark_has_golden_ids():
    covered = {case_id.split("-", 1)[0] for path in FILES for case_id in path.read_text().split()}
    for name in _builtin():
        assert any(line.startswith(f"{name}-") for path in FILES for line in path.read_text().split()), name
    assert covered
