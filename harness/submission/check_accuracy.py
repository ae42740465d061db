"""The checker's accuracy rules (``checks/accuracy_check.py``) on one ``accuracy/`` folder,
plus the hash verification the checker leaves to reviewers.

The checker requires a ``hash=`` line but never compares it with anything (it cannot:
the log is truncated). With the original log at hand (the tool keeps it in the
originals folder beside the tree) this check also verifies that the hash is the
original's sha256 and that the tree's log is exactly what truncating the original
gives, so a log or accuracy.txt edited after hashing is rejected. Without the original
a log that was never truncated is compared with its hash directly; a truncated one
cannot be verified and gets a note.

SDXL must also ship some of its pictures (``extra_files_check``, the round's
``REQUIRED_ACC_BENCHMARK``): ``accuracy/images/`` holding a file per listed qsl index,
named ``<index>.<ext>`` (the checker compares the part before the first dot). The
checker applies this in the open division too, and skips a round it lists nothing for.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from harness.logs.detail import LogFormatError, parse_detail
from harness.submission.benchmarks import ACC_PATTERN, BenchmarkRules
from harness.submission.check_performance import loadgen_errors
from harness.submission.layout import IMAGES_DIR, REQUIRED_ACC_FILES, files_diff, list_files
from harness.submission.truncate import (
    ELLIPSIS, HASH_LINE, MAX_ACCURACY_LOG_SIZE, VIEWABLE_SIZE, hash_lines, truncated_bytes,
)


def accuracy_values(lines: list[str], rules: BenchmarkRules) -> tuple[dict, list[tuple[str, str]]]:
    """The metrics accuracy.txt reports and the target problems, as accuracy_result_check.

    Every line is matched against every metric's regex; each metric must be seen with a
    value that reaches its target, a value below it anywhere fails, and upper limits
    use ``>``. Like the checker, reading stops once every metric and a hash are seen.
    """
    problems, seen, found = [], {metric: False for metric, _ in rules.targets}, {}
    has_hash = False
    for line in lines:
        for metric, target in rules.targets:
            match = re.match(ACC_PATTERN[metric], line)
            if not match:
                continue
            value = float(match.group(1))
            found.setdefault(metric, value)
            if value >= target:
                seen[metric] = True
            else:
                problems.append(("accuracy-target", f"{metric} {value:g} < target {target:g}"))
        for metric, limit in rules.upper_limits:
            match = re.match(ACC_PATTERN[metric], line)
            if match and float(match.group(1)) > limit:
                problems.append(("accuracy-target", f"{metric} {float(match.group(1)):g} > upper limit {limit:g}"))
        has_hash = has_hash or bool(HASH_LINE.match(line))
        if all(seen.values()) and has_hash:
            break
    for metric, was_seen in seen.items():
        if not was_seen and metric not in found:
            problems.append(("accuracy-metric", f"accuracy.txt has no line matching the checker's {metric} pattern "
                                                f"{ACC_PATTERN[metric]}"))
    return found, problems


def check_accuracy(acc_dir: Path, rules: BenchmarkRules, *, division: str, original_log: Path | None,
                   required_images: tuple[str, ...] = ()) -> tuple[list[tuple[str, str]], list[str]]:
    """(problems, notes) for one accuracy folder; ``required_images``: the qsl indices
    whose pictures the round wants in ``images/``."""
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    if not acc_dir.is_dir():
        return [("accuracy-files", f"no accuracy folder {acc_dir}")], notes
    diff = files_diff(list_files(acc_dir), REQUIRED_ACC_FILES)
    if diff:
        problems.append(("accuracy-files", f"{acc_dir} must hold exactly {', '.join(REQUIRED_ACC_FILES)}; "
                                           f"missing or extra: {', '.join(sorted(diff))}"))

    detail_path = acc_dir / "mlperf_log_detail.txt"
    if detail_path.is_file():
        try:
            detail = parse_detail(detail_path)
        except LogFormatError as exc:
            problems.append(("accuracy-log", str(exc)))
        else:
            problems += _detail_rules(detail, rules)

    text_path, log_path = acc_dir / "accuracy.txt", acc_dir / "mlperf_log_accuracy.json"
    text = text_path.read_text(encoding="utf-8", errors="replace") if text_path.is_file() else None
    if text is not None:
        _, target_problems = accuracy_values(text.splitlines(), rules)
        if division != "open":  # the open division skips the targets, not the hash
            problems += target_problems
        if not hash_lines(text):
            problems.append(("accuracy-hash", "accuracy.txt has no hash=<sha256> line (the truncation step "
                                              "adds it)"))
    if log_path.is_file():
        size = log_path.stat().st_size
        if size > MAX_ACCURACY_LOG_SIZE:
            problems.append(("accuracy-log-size", f"mlperf_log_accuracy.json is {size} bytes, more than "
                                                  f"{MAX_ACCURACY_LOG_SIZE}: not truncated"))
        if text is not None and hash_lines(text):
            found = _verify_hash(log_path, hash_lines(text)[0], original_log)
            if found and found[0] == "note":
                notes.append(f"{log_path}: {found[1]}")
            elif found:
                problems.append(found)
    problems += _image_rules(acc_dir, rules, required_images)
    return problems, notes


def _image_rules(acc_dir: Path, rules: BenchmarkRules, required: tuple[str, ...]) -> list[tuple[str, str]]:
    if not required:
        return []
    folder = acc_dir / IMAGES_DIR
    if not folder.is_dir():
        return [("accuracy-images", f"{acc_dir} has no {IMAGES_DIR}/ folder; {rules.name} must ship the pictures of "
                                    f"qsl_idx {', '.join(required)} as {IMAGES_DIR}/<qsl_idx>.png")]
    stems = {name.split(".")[0] for name in list_files(folder)}
    missing = [index for index in required if index not in stems]
    if not missing:
        return []
    return [("accuracy-images", f"{folder} lacks the pictures of qsl_idx {', '.join(missing)} (this round's "
                                f"list: {', '.join(required)}); save them as <qsl_idx>.png beside the accuracy log")]


def _detail_rules(detail, rules: BenchmarkRules) -> list[tuple[str, str]]:
    problems = []
    mode = detail.values.get("effective_test_mode")
    if mode != "AccuracyOnly":
        problems.append(("accuracy-mode", f"effective_test_mode is {mode!r} in the accuracy folder; expected "
                                          "AccuracyOnly"))
    problems += loadgen_errors(detail)
    key = ("effective_accuracy_sample_count" if "effective_accuracy_sample_count" in detail.values
           else "qsl_reported_total_count")
    count = detail.values.get(key)
    if count != rules.expected_accuracy_samples:
        problems.append(("dataset-size", f"{key} is {count}; the accuracy run must cover the whole dataset "
                                         f"({rules.expected_accuracy_samples} samples for {rules.name})"))
    return problems


def _looks_truncated(data: bytes) -> bool:
    middle = data[VIEWABLE_SIZE:VIEWABLE_SIZE + len(ELLIPSIS)]
    return len(data) == 2 * VIEWABLE_SIZE + len(ELLIPSIS) and middle == ELLIPSIS


def _verify_hash(log_path: Path, digest: str, original: Path | None) -> tuple[str, str] | None:
    data = log_path.read_bytes()
    if original is not None and original.is_file():
        full = original.read_bytes()
        if hashlib.sha256(full).hexdigest() != digest:
            return ("accuracy-hash", f"hash={digest[:16]}... is not the sha256 of the original log {original}")
        if data not in (full, truncated_bytes(full)):
            return ("accuracy-hash", "mlperf_log_accuracy.json is not the truncation of the hashed original "
                                     f"{original} (edited after hashing?)")
        return None
    if hashlib.sha256(data).hexdigest() == digest:
        return None
    if _looks_truncated(data):
        return ("note", "truncated; its hash can be verified only against the original log (keep it; "
                        "pass --originals)")
    return ("accuracy-hash", f"hash={digest[:16]}... is not the sha256 of mlperf_log_accuracy.json, and the "
                             "log is not a truncated one (edited after hashing?)")
