"""The run report people read: report.html and summary.md, from a results.json document.

``write_report`` takes the document as a dict (the plugin has it in memory);
``write_report_file`` reads it from disk, names that file in every error, and
finds case folders beside it when the run folder has been moved or copied.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from .document import ReportInputError
from .html_report import render_html
from .markdown_summary import render_markdown

__all__ = ["ReportInputError", "append_step_summary", "render_html", "render_markdown", "write_report",
           "write_report_file", "HTML_NAME", "MARKDOWN_NAME"]

HTML_NAME, MARKDOWN_NAME = "report.html", "summary.md"


def _write_atomically(path: Path, text: str) -> None:
    # A CI step that uploads the folder while the run ends never sees half a page.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(results: dict, out_dir: Path, comparison: dict | None = None, *,
                 source: str = "results.json", case_dirs_root: Path | None = None) -> tuple[Path, Path]:
    """Write ``out_dir/report.html`` and ``out_dir/summary.md``; return their paths.

    ``comparison`` defaults to the block results.json carries when the run was
    compared (``--mlperf-compare``). Both files are rendered before either is
    written, so bad input (ReportInputError) leaves no half-made report behind. ``case_dirs_root`` is where to look for
    a case folder by name when its recorded ``log_dir`` no longer exists.
    """
    page = render_html(results, comparison, source=source, case_dirs_root=case_dirs_root)
    summary = render_markdown(results, comparison, source=source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, markdown_path = out_dir / HTML_NAME, out_dir / MARKDOWN_NAME
    _write_atomically(html_path, page)
    _write_atomically(markdown_path, summary)
    return html_path, markdown_path


def write_report_file(results_path: Path, out_dir: Path | None = None,
                      comparison: dict | None = None) -> tuple[Path, Path]:
    """The report for a results.json on disk, written beside it unless ``out_dir`` is given."""
    results_path = Path(results_path)
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportInputError(str(results_path), "(file)", "JSON text",
                               f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise ReportInputError(str(results_path), "(file)", "UTF-8 text", exc.reason) from None
    return write_report(results, out_dir if out_dir is not None else results_path.parent, comparison,
                        source=str(results_path), case_dirs_root=results_path.parent)


def append_step_summary(markdown_path: Path, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Append summary.md to ``$GITHUB_STEP_SUMMARY`` when a CI job provides one; the file it wrote, or None."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as out:
        out.write(Path(markdown_path).read_text(encoding="utf-8"))
    return Path(target)
