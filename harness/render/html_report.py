"""report.html: the whole run on one self-contained page.

No script, font, image or stylesheet is fetched: the charts are inline SVG
(charts.py), the stylesheet is embedded and only decorates (the page reads the
same without it), and a Content-Security-Policy forbids the page any network
access, so a report opened from a CI artifact years later shows what it
showed on the day. Every string from the data is escaped (``html.escape``):
ids, reasons, messages and paths come from files anyone could have edited.
"""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, Iterable

from .charts import Bar, ThresholdRow, bar_chart, column_chart, threshold_chart
from .comparison import FOLDED_SECTIONS, Section, cell_text, comparison_facts, comparison_sections, stored_comparison
from .document import CaseView, RunView, read_run
from .formatting import MISSING, accuracy_number, latency_ns, performance_value, rate, seconds, threshold_text
from .latency import FOUND, PERCENTILES, LatencyReading, find_case_folder, read_latency_percentiles

THROUGHPUT_SCENARIOS = ("Offline", "Server")
LONG_NOTE = 160  # longer messages are folded into <details>
LONG_SECTION = 30  # a comparison section with more entries is folded too, except:
ALWAYS_OPEN = {"regressions", "warnings"}  # what the comparison is read for

STYLESHEET = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1240px; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: left; vertical-align: top; font-size: 0.9em; }
th { background: #f3f3f3; }
td.id { font-family: ui-monospace, monospace; font-size: 0.8em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.bound { text-align: right; font-variant-numeric: tabular-nums; }
.totals { font-size: 1.2em; }
.outcome-passed { color: #1d6b2c; font-weight: bold; }
.outcome-failed, .outcome-error { color: #b22222; font-weight: bold; }
.outcome-skipped { color: #777; }
.missing { color: #b22222; font-style: italic; }
.note { color: #555; font-size: 0.85em; }
figure { margin: 1em 0; }
figcaption { font-size: 0.85em; color: #555; }
details { margin: 0.3em 0; }
summary { cursor: pointer; }
nav a { margin-right: 1em; }
"""
# default-src 'none' blocks every fetch; inline styles are all the page needs.
CSP = "default-src 'none'; style-src 'unsafe-inline'"


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def render_html(results: dict, comparison: dict | None = None, *, source: str = "results.json",
                case_dirs_root: Path | None = None) -> str:
    """The report page for a results.json document (``source`` names it in errors)."""
    run = read_run(results, source)
    comparison = stored_comparison(results, comparison)
    sections = comparison_sections(comparison) if comparison is not None else None
    body = [
        _header(run),
        _nav(sections is not None),
        _comparison(comparison_facts(comparison), sections) if sections is not None else "",
        _cases_table(run),
        _findings(run),
        _accuracy_charts(run),
        _throughput_charts(run),
        _latency_table(run, case_dirs_root),
        _skipped(run),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">'
            f"<title>MLPerf run report</title><style>{STYLESHEET}</style></head>\n<body>\n"
            + "\n".join(part for part in body if part) + "\n</body></html>\n")


# ---------------------------------------------------------------- header

def totals_text(run: RunView) -> str:
    return " · ".join(f"{count} {outcome}" for outcome, count in run.totals.items()) + f" of {len(run.cases)} cases"


def _header(run: RunView) -> str:
    # Only a non-zero count is coloured: a red "0 failed" reads as an alarm.
    totals = " · ".join(f'<span class="outcome-{e(outcome)}">{count} {e(outcome)}</span>' if count
                        else f"{count} {e(outcome)}" for outcome, count in run.totals.items())
    run_time = sum(case.duration_s or 0 for case in run.cases)
    return (f'<header><h1>MLPerf run report</h1>'
            f'<p class="totals" id="totals">{totals} of {len(run.cases)} cases</p>'
            f"<p>From {e(run.source)}; time spent in cases: {e(seconds(run_time))}.</p>"
            f'<h2 id="machine">Machine</h2>{_key_values(run.machine, "machine not recorded")}'
            f'<h2 id="versions">Versions</h2>{_key_values(run.versions, "versions not recorded")}</header>')


def _flatten(mapping: dict, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _key_values(mapping: dict, empty: str) -> str:
    if not mapping:
        return f'<p class="missing">{e(empty)}</p>'
    rows = "".join(f"<tr><th>{e(key)}</th><td>{e(cell_text(value))}</td></tr>" for key, value in _flatten(mapping))
    return f'<table class="kv">{rows}</table>'


def _nav(with_comparison: bool) -> str:
    links = [("cases", "Cases"), ("findings", "Audits and find-peak"), ("accuracy", "Accuracy"),
             ("throughput", "Throughput"), ("latency", "Latency"), ("skipped", "Skipped")]
    if with_comparison:
        links.insert(0, ("comparison", "Comparison"))
    return "<nav>" + "".join(f'<a href="#{anchor}">{text}</a>' for anchor, text in links) + "</nav>"


# ---------------------------------------------------------------- cases

def _note(message: str | None) -> str:
    if not message:
        return ""
    if len(message) <= LONG_NOTE:
        return f'<span class="note">{e(message)}</span>'
    return (f'<details class="note"><summary>{e(message[:80])}…</summary>'
            f'<pre>{e(message)}</pre></details>')


def _lines(items: Iterable[str]) -> str:
    return "<br>".join(e(item) for item in items)


def _case_row(case: CaseView) -> str:
    if case.accuracy:
        metric = _lines(f.metric for f in case.accuracy)
        value = _lines(accuracy_number(f.value) for f in case.accuracy)
        threshold = _lines(threshold_text(f) for f in case.accuracy)
        validity = MISSING
    elif case.performance is not None:
        perf = case.performance
        metric = e(perf.metric)
        if perf.tokens_per_second is not None and perf.unit != "ns":  # two lines: the cell stays narrow
            value = _lines((rate(perf.value, perf.unit), rate(perf.tokens_per_second, "tokens/s")))
        else:
            value = e(performance_value(perf))
        threshold, validity = MISSING, e(perf.validity or MISSING)
    else:
        metric = value = threshold = validity = MISSING
    return (f'<tr id="case-{e(case.id)}" class="case"><td class="id">{e(case.id)}</td>'
            f'<td class="outcome-{e(case.outcome)}">{e(case.outcome)}</td>'
            f'<td>{metric}</td><td class="num">{value}</td><td class="bound">{threshold}</td><td>{validity}</td>'
            f'<td class="num">{e(seconds(case.duration_s))}</td><td>{_note(case.message)}</td></tr>')


def _cases_table(run: RunView) -> str:
    cases = run.shown_cases
    head = "<h2 id=\"cases\">Cases</h2>"
    if not cases:
        return head + '<p class="missing">no case ran (every case was skipped)</p>'
    header = "".join(f"<th>{name}</th>" for name in
                     ("id", "outcome", "metric", "value", "threshold", "validity", "duration", "note"))
    rows = "".join(_case_row(case) for case in cases)
    return f'{head}<table class="cases"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>'


def _findings(run: RunView) -> str:
    head = '<h2 id="findings">Audits and find-peak</h2>'
    cases = run.findings
    if not cases:
        return head + '<p class="missing">no compliance audit or find-peak case in this run</p>'
    rows = "".join(f'<tr><td class="id">{e(case.id)}</td><td>{e(case.finding.kind)}</td>'
                   f'<td class="outcome-{"passed" if case.finding.passed else "failed"}">'
                   f'{"pass" if case.finding.passed else "fail"}</td><td>{e(case.finding.summary)}</td></tr>'
                   for case in cases)
    return (f'{head}<table class="cases"><thead><tr><th>id</th><th>what</th><th>result</th><th>found</th></tr>'
            f'</thead><tbody>{rows}</tbody></table>')


# ---------------------------------------------------------------- charts

def _variant(case: CaseView, *axes: str) -> str:
    return " ".join(getattr(case, axis) for axis in axes)


def accuracy_groups(run: RunView) -> dict[tuple[str, str], list[ThresholdRow]]:
    """(model, metric) -> one row per case that reported that metric, in case order."""
    groups: dict[tuple[str, str], list[ThresholdRow]] = {}
    for case in run.shown_cases:
        for figure in case.accuracy:
            label = _variant(case, "backend", "device", "precision", "scenario")
            groups.setdefault((case.model, figure.metric), []).append(ThresholdRow(label, figure))
    return groups


def _accuracy_charts(run: RunView) -> str:
    groups = accuracy_groups(run)
    head = '<h2 id="accuracy">Accuracy against threshold</h2>'
    if not groups:
        return head + '<p class="missing">no accuracy results</p>'
    figures = "".join(
        f"<figure>{threshold_chart(f'{model}: {metric}', rows)}"
        f"<figcaption>{e(model)} {e(metric)}: {len(rows)} case(s); a bar reaching the red dashed line "
        f"meets the threshold.</figcaption></figure>"
        for (model, metric), rows in sorted(groups.items()))
    return head + figures


def throughput_groups(run: RunView) -> tuple[dict[tuple[str, str, str], list[Bar]], list[CaseView]]:
    """(model, scenario, unit) -> one bar per Offline/Server performance case; and the cases with no figure."""
    groups: dict[tuple[str, str, str], list[Bar]] = {}
    no_figure = []
    for case in run.shown_cases:
        perf = case.performance
        if perf is None or case.scenario not in THROUGHPUT_SCENARIOS or perf.unit == "ns":
            continue
        if perf.value is None:
            no_figure.append(case)
            continue
        flag = "" if perf.validity == "VALID" else (perf.validity or "no validity")
        bar = Bar(_variant(case, "backend", "device", "precision"), perf.value, rate(perf.value, perf.unit), flag)
        groups.setdefault((case.model, case.scenario, perf.unit), []).append(bar)
    return groups, no_figure


def _throughput_charts(run: RunView) -> str:
    groups, no_figure = throughput_groups(run)
    head = '<h2 id="throughput">Throughput (Offline and Server)</h2>'
    if not groups and not no_figure:
        return head + '<p class="missing">no Offline or Server performance results</p>'
    parts = [head]
    for (model, scenario, unit), bars in sorted(groups.items()):
        parts.append(f"<figure>{bar_chart('throughput', f'{model} {scenario}: throughput ({unit})', bars)}"
                     f"<figcaption>{e(model)} {e(scenario)}: one bar per backend, device and precision; "
                     f"a result that is not VALID is marked.</figcaption></figure>")
    if no_figure:
        parts.append('<p class="missing">no throughput figure reported: '
                     + ", ".join(e(case.id) for case in no_figure) + "</p>")
    return "".join(parts)


# ---------------------------------------------------------------- latency

def _latency_row(case: CaseView, reading: LatencyReading) -> str:
    validity = e(case.performance.validity if case.performance and case.performance.validity else MISSING)
    head = (f'<tr class="latency" id="latency-{e(case.id)}"><td class="id">{e(case.id)}</td>'
            f"<td>{validity}</td>")
    notes = _lines(reading.notes)
    if reading.status != FOUND:
        where = f" (looked in {case.log_dir})" if case.log_dir else " (no log folder recorded)"
        return (f'{head}<td colspan="{len(PERCENTILES) + 1}" class="missing">{e(reading.status)}{e(where)}</td>'
                f'<td class="note">{notes}</td></tr>')
    cells = "".join(
        f'<td class="num" title="{e(reading.values_ns[label])} ns">{e(latency_ns(reading.values_ns[label]))}</td>'
        if label in reading.values_ns else f"<td>{MISSING}</td>"
        for label, _ in PERCENTILES)
    bars = [Bar(label, reading.values_ns[label], latency_ns(reading.values_ns[label]))
            for label, _ in PERCENTILES if label in reading.values_ns]
    kind = "per-query latency" if reading.per_query else "latency"
    chart = column_chart("latency", f"{case.id}: {kind} percentiles", bars)
    return f"{head}{cells}<td>{chart}</td><td class=\"note\">{notes}</td></tr>"


def _latency_table(run: RunView, case_dirs_root: Path | None) -> str:
    cases = [case for case in run.shown_cases if case.is_performance]
    head = ('<h2 id="latency">Latency percentiles</h2><p>As LoadGen reports them in each case\'s '
            "mlperf_log_detail.txt (checked against mlperf_log_summary.txt); MultiStream per query.</p>")
    if not cases:
        return head + '<p class="missing">no performance cases</p>'
    header = "".join(f"<th>{e(name)}</th>" for name in
                     ("id", "validity", *(label for label, _ in PERCENTILES), "chart", "notes"))
    rows = "".join(_latency_row(case, read_latency_percentiles(find_case_folder(case.log_dir, case_dirs_root)))
                   for case in cases)
    return f'{head}<table class="latency"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>'


# ---------------------------------------------------------------- skipped

def _skipped(run: RunView) -> str:
    groups = run.skip_groups()
    total = sum(len(cases) for _, cases in groups)
    head = f'<h2 id="skipped">Skipped cases ({total})</h2>'
    if not groups:
        return head + "<p>none</p>"
    parts = [head]
    for reason, cases in groups:
        ids = "".join(f"<li>{e(case.id)}</li>" for case in cases)
        parts.append(f'<details class="skip-group"><summary>{len(cases)} × {e(reason)}</summary><ul>{ids}</ul></details>')
    return "".join(parts)


# ---------------------------------------------------------------- comparison

def _section_body(section: Section) -> str:
    if not section.items:
        return "<p>none</p>"
    parts = []
    rows = [item for item in section.items if isinstance(item, dict)]
    if rows:
        columns = section.columns
        header = "".join(f"<th>{e(column)}</th>" for column in columns)
        body = "".join("<tr>" + "".join(f"<td>{e(cell_text(row.get(column), column))}</td>" for column in columns)
                       + "</tr>"
                       for row in ({str(k): v for k, v in item.items()} for item in rows))
        parts.append(f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>")
    others = [item for item in section.items if not isinstance(item, dict)]
    if others:
        parts.append("<ul>" + "".join(f"<li>{e(cell_text(item))}</li>" for item in others) + "</ul>")
    return "".join(parts)


def _comparison(facts: list[tuple[str, str]], sections: list[Section]) -> str:
    parts = ['<section id="comparison"><h2>Comparison with the baseline</h2>']
    if facts:  # the baseline's path, the tolerance, an error that stopped the comparison
        parts.append('<table class="comparison-facts">' + "".join(
            f"<tr><th>{e(name)}</th><td>{e(text)}</td></tr>" for name, text in facts) + "</table>")
    if not sections:
        parts.append('<p class="missing">the comparison holds no sections</p>')
    for section in sections:
        title = f"{section.title} ({len(section.items)})"
        body = _section_body(section)
        long = len(section.items) > LONG_SECTION and section.key not in ALWAYS_OPEN
        if section.items and (section.key in FOLDED_SECTIONS or long):
            parts.append(f'<details class="comparison-{e(section.key)}"><summary>{e(title)}</summary>{body}</details>')
        else:
            parts.append(f'<div class="comparison-{e(section.key)}"><h3>{e(title)}</h3>{body}</div>')
    parts.append("</section>")
    return "".join(parts)
