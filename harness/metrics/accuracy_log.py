"""Reading ``mlperf_log_accuracy.json``: one entry per completed sample.

``data`` is the response bytes as upper-case hex. Like MLPerf's scripts we
keep the first entry of each ``qsl_idx`` (a sample can be logged twice).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64, "uint8": np.uint8}


class AccuracyLogError(ValueError):
    """The accuracy log cannot be read."""


def read_accuracy_log(path: Path) -> list[dict]:
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        raise AccuracyLogError(f"{path}: no such accuracy log (expected LoadGen's mlperf_log_accuracy.json)") from None
    except json.JSONDecodeError as exc:
        raise AccuracyLogError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(entries, list):
        raise AccuracyLogError(f"{path}: expected a JSON array of {{seq_id, qsl_idx, data}} objects")
    for position, entry in enumerate(entries):
        missing = [k for k in ("qsl_idx", "data") if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise AccuracyLogError(f"{path}: entry {position} lacks field(s) {missing}")
    return entries


def first_responses(path: Path, dtype: str) -> dict[int, np.ndarray]:
    """qsl_idx -> decoded response of its first logged entry, in log order."""
    if dtype not in DTYPES:
        raise AccuracyLogError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    decoded: dict[int, np.ndarray] = {}
    for position, entry in enumerate(read_accuracy_log(path)):
        index = int(entry["qsl_idx"])
        if index in decoded:
            continue
        try:
            decoded[index] = np.frombuffer(bytes.fromhex(entry["data"]), DTYPES[dtype])
        except ValueError as exc:
            raise AccuracyLogError(f"{path}: entry {position} (qsl_idx {index}): data is not {dtype} hex: {exc}") from None
    return decoded
