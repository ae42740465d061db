"""Reading an audit's inputs (LoadGen run folders) with errors that name the file,
and writing its output tree."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from harness.logs.detail import DETAIL_LOG_NAME, DetailLog, LogFormatError, parse_detail
from harness.logs.summary import SUMMARY_LOG_NAME, SummaryLog, parse_summary
from harness.metrics.accuracy_log import AccuracyLogError, read_accuracy_log

from .verdict import ComplianceError

ACCURACY_LOG_NAME = "mlperf_log_accuracy.json"


def run_folder(folder: Path | None, role: str) -> Path:
    """A LoadGen run folder the audit needs; ``role`` says which run it must be."""
    if folder is None:
        raise ComplianceError(f"no folder given for the {role}")
    folder = Path(folder)
    if not folder.is_dir():
        raise ComplianceError(f"{folder}: no such folder (expected the {role})")
    return folder


def log_file(folder: Path, name: str, role: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise ComplianceError(f"{path}: missing; the audit needs the {role}'s {name} (LoadGen writes it)")
    return path


def detail_log(folder: Path, role: str) -> DetailLog:
    path = log_file(folder, DETAIL_LOG_NAME, role)
    try:
        return parse_detail(path)
    except (LogFormatError, OSError) as exc:
        raise ComplianceError(f"{path}: unreadable {role} detail log: {exc}") from None


def summary_log(folder: Path, role: str) -> SummaryLog:
    path = log_file(folder, SUMMARY_LOG_NAME, role)
    try:
        return parse_summary(path)
    except (LogFormatError, OSError) as exc:
        raise ComplianceError(f"{path}: unreadable {role} summary log: {exc}") from None


def accuracy_entries(folder: Path, role: str) -> tuple[Path, list[dict]]:
    """The raw entries of a run's accuracy log, each with a hex string ``data``."""
    path = log_file(folder, ACCURACY_LOG_NAME, role)
    try:
        entries = read_accuracy_log(path)
    except (AccuracyLogError, OSError) as exc:
        raise ComplianceError(f"{path}: unreadable {role} accuracy log: {exc}") from None
    for position, entry in enumerate(entries):
        index = entry["qsl_idx"]
        if isinstance(index, bool) or not isinstance(index, int):
            raise ComplianceError(f"{path}: entry {position}: qsl_idx {index!r} is not an integer")
        if not isinstance(entry["data"], str):
            raise ComplianceError(f"{path}: entry {position} (qsl_idx {index}): data is not a hex string")
    return path, entries


def decode(path: Path, position: int, entry: dict, field: str, dtype: np.dtype) -> np.ndarray:
    """``np.frombuffer(bytes.fromhex(entry[field]), dtype)``, as MLPerf's scripts
    decode, with an error naming the entry where they would stop with a traceback."""
    text = entry.get(field)
    if not isinstance(text, str):
        raise ComplianceError(f"{path}: entry {position} (qsl_idx {entry['qsl_idx']}): no hex string {field!r}")
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise ComplianceError(
            f"{path}: entry {position} (qsl_idx {entry['qsl_idx']}): {field} is not hex: {exc}") from None
    if len(raw) % dtype.itemsize:
        raise ComplianceError(
            f"{path}: entry {position} (qsl_idx {entry['qsl_idx']}): {field} has {len(raw)} bytes, not a whole "
            f"number of {dtype.name} values; is the dtype right for this benchmark?"
        )
    return np.frombuffer(raw, dtype)


def first_value(detail: DetailLog, key: str):
    """The first value logged under ``key``: MLPerf's MLPerfLog[key] takes the
    first of repeated keys (our parser keeps the last in ``values``)."""
    values = detail.all_values.get(key)
    return None if not values else values[0]


def fresh_output(out_dir: Path, test: str) -> Path:
    """``out_dir/<test>/``, emptied: the tree must hold exactly this audit's files."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ComplianceError(f"{out_dir}: not a folder (expected the output folder for {test}/)")
    target = out_dir / test
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        raise ComplianceError(f"{target}: exists and is not a folder")
    target.mkdir(parents=True)
    return target


def copy_into(source: Path, folder: Path, written: list[Path]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    written.append(Path(shutil.copy2(source, folder / source.name)))


def write_text(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written.append(path)
