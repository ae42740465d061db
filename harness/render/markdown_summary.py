"""summary.md: the run as a GitHub-flavoured Markdown table, for a CI job summary.

Written for ``$GITHUB_STEP_SUMMARY`` (GitHub caps it at 1 MiB per step): the
totals, one row per case that ran, the skips counted by reason (not listed:
a full matrix skips thousands), and the comparison's regressions when given.
"""
from __future__ import annotations

from html import escape

from .comparison import cell_text, comparison_facts, comparison_sections, stored_comparison
from .document import CaseView, read_run
from .formatting import MISSING, accuracy_number, performance_value, threshold_text

COLUMNS = ("id", "outcome", "metric", "value", "threshold / validity")


def md_cell(value: object) -> str:
    """Text safe inside one table cell.

    A backslash is doubled first so that the ``\\|`` made for a pipe stays an
    escaped pipe (``a\\|b`` in the data must not end the cell); a line break
    would end the row; ``<``/``&`` are entity-escaped because GitHub renders
    inline HTML in a summary.
    """
    text = " ".join(str(value).split())
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return escape(text, quote=False)


def _row(cells) -> str:
    return "| " + " | ".join(md_cell(cell) for cell in cells) + " |"


def _case_cells(case: CaseView) -> tuple[str, ...]:
    if case.accuracy:
        figure = case.accuracy[0]  # the gating metric; the page lists the others
        return case.id, case.outcome, figure.metric, accuracy_number(figure.value), threshold_text(figure)
    if case.performance is not None:
        perf = case.performance
        return case.id, case.outcome, perf.metric, performance_value(perf), perf.validity or MISSING
    return case.id, case.outcome, MISSING, MISSING, MISSING


def render_markdown(results: dict, comparison: dict | None = None, *, source: str = "results.json") -> str:
    run = read_run(results, source)
    comparison = stored_comparison(results, comparison)
    totals = ", ".join(f"{count} {outcome}" for outcome, count in run.totals.items())
    lines = ["## MLPerf run", "", f"**{md_cell(totals)}** of {len(run.cases)} cases", ""]
    shown = run.shown_cases
    if shown:
        lines += [_row(COLUMNS), "| " + " | ".join("---" for _ in COLUMNS) + " |"]
        lines += [_row(_case_cells(case)) for case in shown]
    else:
        lines.append("No case ran.")
    if run.findings:
        lines += ["", "### Audits and find-peak", "", _row(("id", "what", "result", "found")), "| --- | --- | --- | --- |"]
        lines += [_row((case.id, case.finding.kind, "pass" if case.finding.passed else "fail", case.finding.summary))
                  for case in run.findings]
    groups = run.skip_groups()
    if groups:
        lines += ["", f"### Skipped: {sum(len(cases) for _, cases in groups)} cases", "",
                  _row(("skips", "reason")), "| ---: | --- |"]
        lines += [_row((len(cases), reason)) for reason, cases in groups]
    if comparison is not None:
        lines += ["", *_regressions(comparison)]
    return "\n".join(lines) + "\n"


def _regressions(comparison: dict) -> list[str]:
    sections = {section.key: section for section in comparison_sections(comparison)}
    facts = [f"{md_cell(name)}: {md_cell(text)}" for name, text in comparison_facts(comparison)]
    section = sections.get("regressions")
    heading = "### Regressions against the baseline" + (f": {len(section.items)}" if section else "")
    lines = [heading, ""] + ([" · ".join(facts), ""] if facts else [])
    if section is None:
        return lines + ["The comparison lists no regressions."]
    if not section.items:
        return lines + ["None."]
    rows = [item for item in section.items if isinstance(item, dict)]
    if rows:
        columns = section.columns
        lines += [_row(columns), "| " + " | ".join("---" for _ in columns) + " |"]
        lines += [_row(cell_text({str(k): v for k, v in item.items()}.get(column), column) for column in columns)
                  for item in rows]
    others = [item for item in section.items if not isinstance(item, dict)]
    if others:
        if rows:
            lines.append("")
        lines += [f"- {md_cell(cell_text(item))}" for item in others]
    return lines
