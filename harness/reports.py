"""results.json and the terminal summary table (a case's record: harness/record.py).

The document layout is a contract other tools read (design.md, contract 4).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


OUTCOMES = ("passed", "failed", "skipped", "error")
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


def machine_info() -> dict:
    return {
        "node": platform.node(), "system": platform.system(), "release": platform.release(),
        "machine": platform.machine(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions(records: list[dict] = ()) -> dict:
    """LoadGen, the harness's own libraries, and every framework a case's run imported."""
    names = ("mlcommons-loadgen", "numpy", "onnxruntime", "onnxruntime-gpu", "opencv-python-headless", "pytest")
    found = {name: _version(name) for name in names}
    loadgen = found.pop("mlcommons-loadgen")
    frameworks = {k: v for k, v in found.items() if v}
    for record in records:
        frameworks.update(record.get("frameworks") or {})  # torch, tensorflow, openvino, ... as the child ran them
    return {
        "loadgen": loadgen,
        "frameworks": dict(sorted(frameworks.items())),
        "project_commit": _git_commit(),
    }


def results_document(records: list[dict]) -> dict:
    return {"cases": sorted(records, key=lambda r: r["id"]), "machine": machine_info(), "versions": versions(records)}


def write_results(path: Path, records: list[dict], document: dict | None = None) -> Path:
    """``document``: the whole document when the caller built it (with a comparison block)."""
    document = results_document(records) if document is None else document
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str))
    os.replace(tmp, path)  # a reader never sees half a file
    return path


def _metric_text(record: dict) -> tuple[str, str]:
    """(metric, threshold) as the summary table prints them."""
    if record.get("accuracy"):
        acc = record["accuracy"]
        return f"{acc['metric']} {acc['value']:.3f}", f"{acc['threshold']:.3f}"
    if record.get("performance"):
        perf = record["performance"]
        value = perf["value"]
        text = "-" if value is None else f"{value:,.2f} {perf['unit']}" if perf["unit"] != "ns" else f"{value / 1e6:.3f} ms"
        return text, "-"
    return "-", "-"


def summary_table(records: list[dict], show_skipped: bool = False) -> str:
    rows = [("id", "outcome", "metric", "threshold", "validity")]
    skipped = 0
    for record in sorted(records, key=lambda r: r["id"]):
        if record["outcome"] == "skipped" and not show_skipped:
            skipped += 1
            continue
        metric, threshold = _metric_text(record)
        validity = (record.get("performance") or {}).get("result_validity") or "-"
        rows.append((record["id"], record["outcome"] or "-", metric, threshold, validity))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if skipped:
        lines.append(f"({skipped} skipped cases not shown; their reasons are in results.json and -rs)")
    return "\n".join(lines)
