"""Strict parser for LoadGen's ``mlperf_log_detail.txt``.

Each line is ``:::MLLOG {json}`` where the JSON object carries ``key``,
``value`` and ``metadata`` (with the booleans ``is_error`` / ``is_warning``).
Like the MLPerf submission checker, the first line must carry the marker.

Lines without the marker: LoadGen writes this file itself, and every real log
we have (62 published v4.1 runs and LoadGen 6.0.17's own output) holds nothing
but marker lines, so in the default strict mode any other non-blank line is a
``LogFormatError``. Text lands there only when someone saves a console capture
(``copy_detail_to_stdout``) as the detail log; ``strict=False`` reads such a
file anyway, taking the JSON after the marker wherever it sits on a line and
recording the line numbers it skipped.

Numbers keep their printed text (``LoggedFloat.text``): LoadGen prints doubles
with six significant digits here but with two decimals in the summary, and
comparing the two needs to know how precise each printed figure is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER = ":::MLLOG"
DETAIL_LOG_NAME = "mlperf_log_detail.txt"


class LogFormatError(ValueError):
    """A LoadGen log that does not have the expected format."""

    def __init__(self, path: str | Path, line_no: int | None, message: str):
        self.path = str(path)
        self.line_no = line_no
        self.message = message
        where = f"{self.path}:{line_no}" if line_no is not None else self.path
        super().__init__(f"{where}: {message}")


class LoggedFloat(float):
    """A float that remembers the text it was printed as."""

    text: str

    def __new__(cls, text: str) -> "LoggedFloat":
        number = super().__new__(cls, text)
        number.text = text
        return number


@dataclass
class DetailLog:
    path: Path
    values: dict[str, Any]  # last value logged under each key
    all_values: dict[str, list[Any]]  # every value, in log order
    num_errors: int
    num_warnings: int
    errors: list[str]  # the values of the lines flagged is_error
    warnings: list[str]
    skipped_lines: list[int] = field(default_factory=list)  # only with strict=False
    line_count: int = 0  # lines in the file, blank ones included


def parse_detail(path: str | Path, *, strict: bool = True) -> DetailLog:
    """Parse a detail log; raise ``LogFormatError`` naming file and line on bad input."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw.strip():
        raise LogFormatError(path, 1, f"file is empty; expected '{MARKER} {{json}}' lines")

    log = DetailLog(path, {}, {}, 0, 0, [], [])
    for line_no, raw_line in enumerate(raw.splitlines(), start=1):
        log.line_count = line_no
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LogFormatError(path, line_no, f"not UTF-8 text ({exc.reason})") from None
        payload = _payload(path, line_no, line, strict)
        if payload is None:
            if line.strip():
                log.skipped_lines.append(line_no)
            continue
        _add_entry(log, _decode_entry(path, line_no, payload))
    return log


def _payload(path: Path, line_no: int, line: str, strict: bool) -> str | None:
    """The JSON text of a line, or None for a line to skip."""
    if line.startswith(MARKER):
        return line[len(MARKER):]
    if line_no == 1:
        raise LogFormatError(path, 1, f"expected the '{MARKER}' marker at the start of line 1")
    if strict:
        if not line.strip():
            return None
        raise LogFormatError(path, line_no, f"expected a line starting with '{MARKER}', got {line[:60]!r}")
    at = line.find(MARKER)
    return None if at < 0 else line[at + len(MARKER):]


def _decode_entry(path: Path, line_no: int, payload: str) -> dict[str, Any]:
    try:
        entry = json.loads(payload, parse_float=LoggedFloat)
    except json.JSONDecodeError as exc:
        raise LogFormatError(path, line_no, f"invalid JSON after '{MARKER}': {exc.msg} at column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        # json raises a plain ValueError for a number past Python's int-conversion
        # digit limit and RecursionError for nesting deeper than the stack.
        raise LogFormatError(path, line_no, f"unreadable JSON after '{MARKER}': {type(exc).__name__}: {exc}") from None
    if not isinstance(entry, dict):
        raise LogFormatError(path, line_no, f"expected a JSON object after '{MARKER}', got {type(entry).__name__}")
    if not isinstance(entry.get("key"), str):
        raise LogFormatError(path, line_no, "missing string field 'key'")
    if "value" not in entry:
        raise LogFormatError(path, line_no, f"missing field 'value' (key {entry['key']!r})")
    metadata = entry.get("metadata")
    if not isinstance(metadata, dict):
        raise LogFormatError(path, line_no, f"missing object field 'metadata' (key {entry['key']!r})")
    for flag in ("is_error", "is_warning"):
        if not isinstance(metadata.get(flag), bool):
            raise LogFormatError(path, line_no, f"missing boolean 'metadata.{flag}' (key {entry['key']!r})")
    return entry


def _add_entry(log: DetailLog, entry: dict[str, Any]) -> None:
    key, value = entry["key"], entry["value"]
    log.values[key] = value
    log.all_values.setdefault(key, []).append(value)
    if entry["metadata"]["is_error"]:
        log.num_errors += 1
        log.errors.append(str(value))
    if entry["metadata"]["is_warning"]:
        log.num_warnings += 1
        log.warnings.append(str(value))
