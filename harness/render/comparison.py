"""A run-against-baseline comparison, read defensively for display.

Its shape belongs to ``harness/compare.py`` (``Comparison.to_json``, stored as
results.json's ``comparison`` block with the baseline's path) and may grow; the
report shows the sections it knows in a fixed order, then any others it finds,
and shows each entry as it is (an object as a table row, anything else as
text) rather than assuming fields. Plain values beside the sections (the
baseline path, ``fail_pct``, an ``error``) are facts about the comparison, not
sections. Only a comparison that is not an object at all is an error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .document import ReportInputError

KNOWN_SECTIONS = (
    ("regressions", "Regressions"),
    ("improvements", "Improvements"),
    ("accuracy_changes", "Accuracy changes"),
    ("only_in_baseline", "Only in the baseline"),
    ("only_in_current", "Only in this run"),
    ("warnings", "Warnings"),
    ("not_compared", "Not compared"),
    ("unchanged", "Unchanged"),
)
# Long and rarely read (every case within tolerance, every skip on either side): folded on the page.
FOLDED_SECTIONS = {"unchanged", "not_compared"}


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    items: tuple[Any, ...]  # dicts (shown as table rows) or anything else (shown as text)

    @property
    def columns(self) -> list[str]:
        """The union of the entries' keys, in first-seen order."""
        seen: dict[str, None] = {}
        for item in self.items:
            if isinstance(item, dict):
                seen.update(dict.fromkeys(str(key) for key in item))
        return list(seen)


def stored_comparison(results: Any, given: Any) -> Any:
    """The comparison to show: the one given, else the block results.json carries (``--mlperf-compare``)."""
    if given is not None:
        return given
    return results.get("comparison") if isinstance(results, dict) else None


def _is_section(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict))


def _checked(comparison: Any, source: str) -> dict:
    if not isinstance(comparison, dict):
        raise ReportInputError(source, "(top level)", "a JSON object of comparison sections", comparison)
    return comparison


def comparison_facts(comparison: Any, source: str = "comparison") -> list[tuple[str, str]]:
    """The plain values beside the sections (baseline, fail_pct, error), as (name, text)."""
    known = dict(KNOWN_SECTIONS)
    return [(str(key), cell_text(value)) for key, value in _checked(comparison, source).items()
            if key not in known and not _is_section(value)]


def comparison_sections(comparison: Any, source: str = "comparison") -> list[Section]:
    comparison = _checked(comparison, source)
    titles = dict(KNOWN_SECTIONS)
    # A known section is shown even when it is not a list (rendered as what it is); an unknown
    # key is a section only when it holds a list or an object.
    keys = [key for key, _ in KNOWN_SECTIONS if key in comparison]
    keys += [key for key, value in comparison.items() if key not in titles and _is_section(value)]
    return [Section(str(key), titles.get(key, str(key).replace("_", " ").capitalize()), _items(comparison[key]))
            for key in keys]


def _items(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    if isinstance(value, dict):
        # A mapping (say, id -> change) reads best as one row per key.
        return tuple({"key": key, "value": item} for key, item in value.items())
    return (value,)


def cell_text(value: Any, column: str = "") -> str:
    """One entry's field as plain text: scalars as printed, structures as compact JSON."""
    if value is None:
        return "-"
    if column.endswith("_pct") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:+.2f}%"  # compare.py's change_pct / worse_pct
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (str, int, bool)):
        return str(value)
    return json.dumps(value, default=str, sort_keys=True)
