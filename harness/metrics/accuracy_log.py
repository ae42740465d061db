"""Reading ``mlperf_log_accuracy.json``: one entry per completed sample.

``data`` is the response bytes as upper-case hex. A sample can be logged
twice, and MLPerf's accuracy scripts do not agree on which entry counts:

* ``keep="first"``: vision/classification_and_detection/tools/accuracy-imagenet.py,
  language/gpt-j/evaluation.py and language/llama2-70b/evaluate-accuracy.py
  skip a ``qsl_idx`` they have already seen;
* ``keep="last"``: language/bert/accuracy-squad.py turns every entry into a
  result and builds a dict keyed by feature, so a later entry overwrites.

Each scorer passes the rule of its own official script.
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
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccuracyLogError(f"{path}: no such accuracy log (expected LoadGen's mlperf_log_accuracy.json)") from None
    except UnicodeDecodeError as exc:
        raise AccuracyLogError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise AccuracyLogError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        # json raises a plain ValueError for a number past Python's int-conversion
        # digit limit and RecursionError for nesting deeper than the stack.
        raise AccuracyLogError(f"{path}: not readable as JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(entries, list):
        raise AccuracyLogError(f"{path}: expected a JSON array of {{seq_id, qsl_idx, data}} objects")
    for position, entry in enumerate(entries):
        missing = [k for k in ("qsl_idx", "data") if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise AccuracyLogError(f"{path}: entry {position} lacks field(s) {missing}")
    return entries


KEEP_RULES = ("first", "last")


def sample_index(entry: dict, where: str, total: int | None = None, within: str = "") -> int:
    """An entry's qsl_idx, checked: an integer and, given ``total``, one of the
    dataset's samples (``within`` says which, e.g. "the dataset's 40 utterances")."""
    index = entry["qsl_idx"]
    if isinstance(index, bool) or not isinstance(index, int):
        raise AccuracyLogError(f"{where}: qsl_idx {index!r} is not an integer")
    if total is not None and not 0 <= index < total:
        raise AccuracyLogError(f"{where}: qsl_idx {index} is outside {within}")
    return index


def responses(path: Path, dtype: str, *, keep: str = "first") -> dict[int, np.ndarray]:
    """qsl_idx -> decoded response of one entry per qsl_idx (module doc), in order of first appearance.

    With ``keep="last"`` every entry is decoded, as accuracy-squad.py decodes
    every entry, so a malformed entry is an error even when a later one replaces it.
    """
    if dtype not in DTYPES:
        raise AccuracyLogError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    if keep not in KEEP_RULES:
        raise AccuracyLogError(f"unknown duplicate rule keep={keep!r}; valid: {', '.join(KEEP_RULES)}")
    decoded: dict[int, np.ndarray] = {}
    for position, entry in enumerate(read_accuracy_log(path)):
        index = sample_index(entry, f"{path}: entry {position}")
        if keep == "first" and index in decoded:
            continue
        try:
            decoded[index] = np.frombuffer(bytes.fromhex(entry["data"]), DTYPES[dtype])
        except (ValueError, TypeError) as exc:  # TypeError: data is not a string
            raise AccuracyLogError(f"{path}: entry {position} (qsl_idx {index}): data is not {dtype} hex: {exc}") from None
    return decoded


def first_responses(path: Path, dtype: str) -> dict[int, np.ndarray]:
    """qsl_idx -> decoded response of its first logged entry, in log order."""
    return responses(path, dtype, keep="first")
