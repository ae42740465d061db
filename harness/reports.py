"""results.json, the terminal summary table, and what a case records.

The record layout is a contract other tools read (design.md, contract 4).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .case_run import PERFORMANCE_METRICS, TOKEN_METRICS, CaseResult, Provisioned
from .matrix import AXES, Case
from .options import RunOptions

OUTCOMES = ("passed", "failed", "skipped", "error")
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


def base_record(case: Case, options: RunOptions, log_dir: Path) -> dict:
    record = {axis: getattr(case, axis) for axis in AXES}
    record.update(
        id=case.id, outcome=None, log_dir=str(Path(log_dir).resolve()), dataset=None, model_file=None,
        run_style=options.run_style, accuracy=None, performance=None, settings={}, started=None,
        duration_s=None, message=None,
        # Which pytest-xdist worker ran it ("main" without xdist): shows the grouping.
        worker=os.environ.get("PYTEST_XDIST_WORKER", "main"),
    )
    return record


def add_provisioned(record: dict, prov: Provisioned) -> None:
    record["dataset"] = str(Path(prov.dataset_dir).resolve())
    record["model_file"] = str(Path(prov.model_path).resolve())
    record["model_source"] = prov.model_source
    record["reference_source"] = prov.reference_source
    record["reference_reason"] = prov.reference_reason
    if prov.tokenizer_dir is not None:
        record["tokenizer"] = str(Path(prov.tokenizer_dir).resolve())


def add_result(record: dict, result: CaseResult, options: RunOptions) -> None:
    record["started"] = result.started
    record["duration_s"] = round(result.duration_s, 3)
    child = result.child.result or {}
    record["settings"] = {
        "loadgen": result.effective,
        "user_conf": child.get("user_conf", {}),
        "backend": child.get("backend_info", {}),
        "calibration": child.get("calibration", {}),
        "max_batchsize": child.get("max_batchsize"),
        "threads": (child.get("backend_info") or {}).get("intra_op_threads", options.threads),
    }
    if result.accuracy is not None:
        verdict = result.accuracy
        record["accuracy"] = {
            "metric": verdict.metric, "value": verdict.value,
            "reference": verdict.reference, "threshold": verdict.threshold,
        }
        if result.accuracy_also:
            # the further metrics MLPerf's checker requires (ROUGE-2/L, GEN_LEN, tokens per sample)
            record["accuracy"]["also"] = [
                {"metric": v.metric, "value": v.value, "reference": v.reference, "threshold": v.threshold,
                 **({"upper_threshold": v.upper_threshold} if v.upper_ratio is not None else {})}
                for v in result.accuracy_also
            ]
    if result.performance is not None:
        key, unit = PERFORMANCE_METRICS[result.case.scenario]
        record["performance"] = {
            "result_validity": result.performance.get("result_validity"),
            "metric": key, "value": result.performance.get(key), "unit": unit,
        }
        tokens_key = TOKEN_METRICS.get(result.case.scenario)
        if tokens_key and result.performance.get(tokens_key) is not None:
            record["performance"]["tokens_metric"] = tokens_key
            record["performance"]["tokens_per_second"] = result.performance.get(tokens_key)
    if result.failures:
        record["message"] = "\n".join(result.failures)


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


def versions() -> dict:
    names = ("mlcommons-loadgen", "numpy", "onnxruntime", "onnxruntime-gpu", "opencv-python-headless", "pytest")
    found = {name: _version(name) for name in names}
    return {
        "loadgen": found.pop("mlcommons-loadgen"),
        "frameworks": {k: v for k, v in found.items() if v},
        "project_commit": _git_commit(),
    }


def results_document(records: list[dict]) -> dict:
    return {"cases": sorted(records, key=lambda r: r["id"]), "machine": machine_info(), "versions": versions()}


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
