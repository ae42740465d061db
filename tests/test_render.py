"""report.html and summary.md (harness.render) from small hand-built results documents.

The page is parsed back with html.parser (never searched for substrings alone)
so that the checks are about elements: which rows, how many bars in which
chart, which text sits in which cell. Latency percentiles come from copies of
published LoadGen v4.1 logs in ../shared (skipped with the reason when absent).
"""
from __future__ import annotations

import copy
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.render import ReportInputError, append_step_summary, render_html, render_markdown, write_report
from harness.render import write_report_file
from harness.render.charts import threshold_axis
from harness.render.document import AccuracyFigure
from harness.render.formatting import latency_ns
from harness.render.markdown_summary import md_cell

try:  # tests/ may or may not be a package; the helper imports either way
    from . import logfixtures as lf
except ImportError:
    import logfixtures as lf

# Published runs (closed division, MLPerf Inference v4.1), one per scenario.
REAL_RUNS = {
    "Offline": "closed/Intel/results/1-node-2S-EMR-PyTorch/resnet50/Offline/performance/run_1",
    "Server": "closed/Intel/results/1-node-2S-EMR-PyTorch/resnet50/Server/performance/run_1",
    "SingleStream": "closed/UntetherAI/results/h13_u1_preview/resnet50/singlestream/performance/run_1",
    "MultiStream": "closed/UntetherAI/results/h13_u1_preview/resnet50/multistream/performance/run_1",
}
# Figures those logs print (ns), read off the files by eye: the test's own expectations.
SINGLE_STREAM_P50, SINGLE_STREAM_P999 = 118099, 174909
MULTI_STREAM_PER_QUERY_P50, MULTI_STREAM_PER_SAMPLE_P50 = 265908, 264148
SERVER_P99 = 14809492

HOSTILE = '<script>alert("x")</script>'


# ---------------------------------------------------------------- building documents

def make_case(model, backend, precision, scenario, mode, outcome="passed", **fields):
    record = {
        "id": f"{model}-{backend}-cpu-{precision}-{scenario}-{mode}", "model": model, "backend": backend,
        "device": "cpu", "precision": precision, "scenario": scenario, "mode": mode, "outcome": outcome,
        "log_dir": None, "run_style": "test", "duration_s": 2.5, "accuracy": None, "performance": None,
        "settings": {}, "message": None,
    }
    record.update(fields)
    return record


def accuracy(metric, value, threshold, reference, **extra):
    return {"metric": metric, "value": value, "threshold": threshold, "reference": reference, **extra}


def performance(scenario, value, validity="VALID", **extra):
    metric, unit = {
        "Offline": ("result_samples_per_second", "samples/s"),
        "Server": ("result_completed_samples_per_sec", "samples/s"),
        "SingleStream": ("early_stopping_latency_ss", "ns"),
        "MultiStream": ("early_stopping_latency_ms", "ns"),
    }[scenario]
    return {"result_validity": validity, "metric": metric, "value": value, "unit": unit, **extra}


def base_results(tmp_path: Path) -> dict:
    """A small run: accuracy passes and a failure, every scenario's performance, an error and skips.

    Performance cases point at folders under ``tmp_path`` that do not exist,
    so this document alone exercises "logs not found".
    """
    nowhere = tmp_path / "no-such-run"
    cases = [
        make_case("resnet50", "onnxruntime", "fp32", "Offline", "accuracy",
                  accuracy=accuracy("top1", 76.2, 75.694, 76.46)),
        make_case("resnet50", "openvino", "int8", "Offline", "accuracy", outcome="failed",
                  accuracy=accuracy("top1", 75.1, 75.694, 76.46), message="top1 75.100 is below the threshold 75.694"),
        make_case("gptj-99", "pytorch", "fp32", "Offline", "accuracy", accuracy=accuracy(
            "rouge1", 84.3, 83.48, 84.32,
            also=[{"metric": "gen_len", "value": 14750.0, "reference": 14762.0, "threshold": 13285.8,
                   "upper_threshold": 16238.2}])),
        make_case("resnet50", "onnxruntime", "fp32", "Offline", "performance",
                  performance=performance("Offline", 10789.5), log_dir=str(nowhere / "a")),
        make_case("resnet50", "openvino", "int8", "Offline", "performance",
                  performance=performance("Offline", 2955.2, "INVALID"), log_dir=str(nowhere / "b")),
        make_case("resnet50", "onnxruntime", "fp32", "Server", "performance",
                  performance=performance("Server", 480.0), log_dir=str(nowhere / "c")),
        make_case("gptj-99", "pytorch", "fp32", "Offline", "performance",
                  performance=performance("Offline", 12.15, tokens_metric="result_tokens_per_second",
                                          tokens_per_second=1530.2), log_dir=None),
        make_case("resnet50", "onnxruntime", "fp32", "SingleStream", "performance",
                  performance=performance("SingleStream", 1_192_000), log_dir=str(nowhere / "d")),
        make_case("resnet50", "onnxruntime", "fp32", "MultiStream", "performance", outcome="error",
                  performance=None, message="child process exited -9 " + "x" * 200, log_dir=str(nowhere / "e")),
        make_case("resnet50", "tvm", "int8", "Offline", "accuracy", outcome="skipped",
                  message="the TVM backend compiles for the llvm CPU target in fp32 only"),
        make_case("resnet50", "tvm", "fp16", "Offline", "accuracy", outcome="skipped",
                  message="the TVM backend compiles for the llvm CPU target in fp32 only"),
        make_case("resnet50", "tvm", "bf16", "Offline", "accuracy", outcome="skipped",
                  message="the TVM backend compiles for the llvm CPU target in fp32 only"),
        make_case("resnet50", "ray", "int8", "Offline", "accuracy", outcome="skipped",
                  message="the Ray backend runs fp32 only"),
        make_case("resnet50", "ray", "fp16", "Offline", "accuracy", outcome="skipped", message=None),
    ]
    return {
        "cases": cases,
        "machine": {"node": "ci-runner-7", "system": "Linux", "machine": "x86_64", "cpu_count": 2,
                    "python": "3.11.7"},
        "versions": {"loadgen": "6.0.17", "frameworks": {"numpy": "2.4.6", "onnxruntime": "1.32.0"},
                     "project_commit": "53f33cefa93d93a48f03814f5be65ea3a4341d1f"},
    }


def by_id(results: dict, case_id: str) -> dict:
    (record,) = [c for c in results["cases"] if c["id"] == case_id]
    return record


# ---------------------------------------------------------------- reading the page back

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: "Node | None"):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.content: list["Node | str"] = []  # text and child elements, in document order

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        parts = (item if isinstance(item, str) else item.text() for item in self.content)
        return " ".join(p for p in (" ".join(x.split()) for x in parts) if p)

    def iter(self):
        for child in self.children:
            yield child
            yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list["Node"]:
        return [n for n in self.iter() if n.tag == tag and (cls is None or cls in n.classes)]


class TreeBuilder(HTMLParser):
    """A strict little DOM: a closing tag that does not match the open one is a test failure."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.open = self.root
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.open)
        self.open.children.append(node)
        self.open.content.append(node)
        if tag not in VOID:
            self.open = node

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.open)
        self.open.children.append(node)
        self.open.content.append(node)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if tag != self.open.tag:
            self.errors.append(f"</{tag}> closes <{self.open.tag}> at {self.getpos()}")
            return
        self.open = self.open.parent

    def handle_data(self, data):
        self.open.content.append(data)


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert not builder.errors, builder.errors[:5]
    assert builder.open is builder.root, f"<{builder.open.tag}> never closed"
    return builder.root


def cells(row: Node) -> list[str]:
    return [td.text() for td in row.children if td.tag == "td"]


def case_rows(root: Node) -> dict[str, Node]:
    return {cells(tr)[0]: tr for tr in root.find_all("tr", "case")}


def latency_rows(root: Node) -> dict[str, Node]:
    return {cells(tr)[0]: tr for tr in root.find_all("tr", "latency")}


def charts(root: Node, kind: str) -> dict[str, Node]:
    """Charts of one kind by their title."""
    found = {}
    for svg in root.find_all("svg", f"chart-{kind}"):
        (title,) = [c for c in svg.children if c.tag == "title"]
        found[title.text()] = svg
    return found


def bars(svg: Node) -> list[Node]:
    return svg.find_all("rect", "bar")


@pytest.fixture
def results(tmp_path) -> dict:
    return base_results(tmp_path)


@pytest.fixture
def real_logs(tmp_path) -> dict[str, Path]:
    """Copies of one published run per scenario, as case folders."""
    if not lf.REAL_LOGS.is_dir():
        pytest.skip(lf.REAL_LOGS_MISSING)
    return {scenario: lf.copy_run(lf.REAL_LOGS / rel, tmp_path / "cases" / scenario)
            for scenario, rel in REAL_RUNS.items()}


def with_real_logs(results: dict, real_logs: dict[str, Path]) -> dict:
    """Point the resnet50 onnxruntime performance cases at the copied logs."""
    for scenario, folder in real_logs.items():
        by_id(results, f"resnet50-onnxruntime-cpu-fp32-{scenario}-performance")["log_dir"] = str(folder)
    return results


# ---------------------------------------------------------------- files

def test_write_report_writes_both_files_into_out_dir(results, tmp_path):
    out = tmp_path / "out" / "nested"
    html_path, md_path = write_report(results, out)
    assert (html_path, md_path) == (out / "report.html", out / "summary.md")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert md_path.read_text(encoding="utf-8").startswith("## MLPerf run")
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "summary.md"]  # no .tmp left behind


def test_write_report_file_reads_results_and_writes_beside_it(results, tmp_path):
    path = tmp_path / "run" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps(results))
    html_path, md_path = write_report_file(path)
    assert html_path.parent == md_path.parent == path.parent
    assert str(path) in html_path.read_text(encoding="utf-8")  # the header names its source


# ---------------------------------------------------------------- header and rows

def test_header_shows_totals_machine_and_versions(results):
    root = parse(render_html(results))
    (totals,) = [p for p in root.find_all("p", "totals")]
    assert totals.text() == "7 passed · 1 failed · 5 skipped · 1 error of 14 cases"
    tables = root.find_all("table", "kv")
    machine = {tr.children[0].text(): tr.children[1].text() for tr in tables[0].children}
    versions = {tr.children[0].text(): tr.children[1].text() for tr in tables[1].children}
    assert machine["node"] == "ci-runner-7" and machine["cpu_count"] == "2"
    assert versions["loadgen"] == "6.0.17" and versions["frameworks.onnxruntime"] == "1.32.0"


def test_missing_machine_and_versions_are_said_not_recorded(results):
    del results["machine"], results["versions"]
    text = parse(render_html(results)).text()
    assert "machine not recorded" in text and "versions not recorded" in text


def test_one_row_per_case_that_ran_with_metric_value_threshold_and_validity(results):
    rows = case_rows(parse(render_html(results)))
    ran = {c["id"] for c in results["cases"] if c["outcome"] != "skipped"}
    assert set(rows) == ran
    # id, outcome, metric, value, threshold, validity, duration, note
    passed = cells(rows["resnet50-onnxruntime-cpu-fp32-Offline-accuracy"])
    assert passed[1:6] == ["passed", "top1", "76.200", "≥ 75.694", "-"]
    failed = cells(rows["resnet50-openvino-cpu-int8-Offline-accuracy"])
    assert failed[1] == "failed" and failed[7] == "top1 75.100 is below the threshold 75.694"
    offline = cells(rows["resnet50-openvino-cpu-int8-Offline-performance"])
    assert offline[2:6] == ["result_samples_per_second", "2,955.20 samples/s", "-", "INVALID"]
    single = cells(rows["resnet50-onnxruntime-cpu-fp32-SingleStream-performance"])
    assert single[3] == "1.192 ms"
    gptj = cells(rows["gptj-99-pytorch-cpu-fp32-Offline-accuracy"])
    assert gptj[2] == "rouge1 gen_len" and gptj[4] == "≥ 83.480 ≥ 13285.800 and ≤ 16238.200"
    tokens = cells(rows["gptj-99-pytorch-cpu-fp32-Offline-performance"])
    assert tokens[3] == "12.15 samples/s 1,530.20 tokens/s"


def test_a_long_failure_message_is_folded_into_details(results):
    rows = case_rows(parse(render_html(results)))
    note = rows["resnet50-onnxruntime-cpu-fp32-MultiStream-performance"].children[-1]
    (details,) = note.find_all("details")
    assert details.find_all("pre")[0].text() == "child process exited -9 " + "x" * 200


# ---------------------------------------------------------------- charts

def test_accuracy_chart_per_benchmark_metric_with_one_bar_per_case(results):
    found = charts(parse(render_html(results)), "accuracy")
    assert set(found) == {"resnet50: top1", "gptj-99: rouge1", "gptj-99: gen_len"}
    top1 = found["resnet50: top1"]
    assert top1.attrs["data-bars"] == "2" and len(bars(top1)) == 2
    assert [sorted(b.classes) for b in bars(top1)] == [["bar", "meets"], ["bar", "misses"]]
    assert len(top1.find_all("line", "threshold")) == 2 and len(top1.find_all("line", "reference")) == 2
    assert "below threshold" in top1.text()
    # a bounded metric marks both of its thresholds
    assert len(found["gptj-99: gen_len"].find_all("line", "threshold")) == 2


def test_accuracy_axis_is_zoomed_and_says_so():
    low, high = threshold_axis([AccuracyFigure("top1", 76.2, 75.694, 76.46)])
    assert 70 < low < 75.694 and 76.46 < high < 80
    chart = charts(parse(render_html(base_results(Path("/nonexistent")))), "accuracy")["resnet50: top1"]
    assert "(not from zero)" in chart.text()


def test_threshold_line_sits_where_the_threshold_is(results):
    top1 = charts(parse(render_html(results)), "accuracy")["resnet50: top1"]
    passing, failing = bars(top1)
    threshold_x = float(top1.find_all("line", "threshold")[0].attrs["x1"])
    passing_end = float(passing.attrs["x"]) + float(passing.attrs["width"])
    failing_end = float(failing.attrs["x"]) + float(failing.attrs["width"])
    assert failing_end < threshold_x < passing_end  # 75.1 < 75.694 < 76.2


def test_throughput_chart_per_model_and_scenario_from_offline_and_server_only(results):
    found = charts(parse(render_html(results)), "throughput")
    assert set(found) == {"resnet50 Offline: throughput (samples/s)", "resnet50 Server: throughput (samples/s)",
                          "gptj-99 Offline: throughput (samples/s)"}
    offline = found["resnet50 Offline: throughput (samples/s)"]
    assert offline.attrs["data-bars"] == "2" and len(bars(offline)) == 2
    valid, invalid = bars(offline)
    assert "flagged" not in valid.classes and "flagged" in invalid.classes and "INVALID" in offline.text()
    # bars are proportional to throughput, from zero
    assert float(invalid.attrs["width"]) / float(valid.attrs["width"]) == pytest.approx(2955.2 / 10789.5, rel=1e-2)
    assert len(bars(found["resnet50 Server: throughput (samples/s)"])) == 1


# ---------------------------------------------------------------- latency percentiles

def test_missing_logs_show_logs_not_found(results, tmp_path):
    empty = tmp_path / "empty-case"
    empty.mkdir()
    by_id(results, "resnet50-onnxruntime-cpu-fp32-Server-performance")["log_dir"] = str(empty)
    rows = latency_rows(parse(render_html(results)))
    perf_ids = {c["id"] for c in results["cases"] if c["mode"] == "performance" and c["outcome"] != "skipped"}
    assert set(rows) == perf_ids
    for case_id, row in rows.items():
        assert "logs not found" in row.text(), case_id
        assert not row.find_all("svg"), case_id
    assert "no log folder recorded" in rows["gptj-99-pytorch-cpu-fp32-Offline-performance"].text()
    assert str(empty) in rows["resnet50-onnxruntime-cpu-fp32-Server-performance"].text()


def test_unreadable_logs_are_reported_not_raised(results, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "mlperf_log_detail.txt").write_text("this is not a LoadGen log\n")
    by_id(results, "resnet50-onnxruntime-cpu-fp32-Server-performance")["log_dir"] = str(broken)
    row = latency_rows(parse(render_html(results)))["resnet50-onnxruntime-cpu-fp32-Server-performance"]
    assert "logs unreadable" in row.text()
    assert "mlperf_log_detail.txt unreadable" in row.text() and "marker" in row.text()


def test_latency_percentiles_from_real_logs(results, real_logs):
    root = parse(render_html(with_real_logs(results, real_logs)))
    rows = latency_rows(root)
    for scenario in REAL_RUNS:
        row = rows[f"resnet50-onnxruntime-cpu-fp32-{scenario}-performance"]
        (svg,) = row.find_all("svg", "chart-latency")
        assert svg.attrs["data-bars"] == "6" and len(bars(svg)) == 6, scenario
        assert [t.text() for t in svg.find_all("text")] == ["p50", "p90", "p95", "p97", "p99", "p99.9"]
    single = rows["resnet50-onnxruntime-cpu-fp32-SingleStream-performance"]
    figures = [td for td in single.children if td.tag == "td" and "num" in td.classes]
    assert figures[0].attrs["title"] == f"{SINGLE_STREAM_P50} ns" and figures[0].text() == latency_ns(SINGLE_STREAM_P50)
    assert figures[-1].attrs["title"] == f"{SINGLE_STREAM_P999} ns"
    server = cells(rows["resnet50-onnxruntime-cpu-fp32-Server-performance"])
    assert server[2 + 4] == "14.809 ms" == latency_ns(SERVER_P99)
    # MultiStream's metric is per query (as its summary prints), not per sample
    multi = rows["resnet50-onnxruntime-cpu-fp32-MultiStream-performance"]
    titles = [td.attrs.get("title") for td in multi.children if td.tag == "td"]
    assert f"{MULTI_STREAM_PER_QUERY_P50} ns" in titles and f"{MULTI_STREAM_PER_SAMPLE_P50} ns" not in titles
    assert "per-query" in multi.find_all("svg")[0].attrs["aria-label"]


def test_summary_fills_in_when_the_detail_log_is_gone(results, real_logs):
    (real_logs["SingleStream"] / "mlperf_log_detail.txt").unlink()
    row = latency_rows(parse(render_html(with_real_logs(results, real_logs))))[
        "resnet50-onnxruntime-cpu-fp32-SingleStream-performance"]
    assert len(bars(row.find_all("svg")[0])) == 6
    assert latency_ns(SINGLE_STREAM_P999) in cells(row)
    assert "mlperf_log_detail.txt not found" in row.text()


def test_logs_that_disagree_are_flagged(results, real_logs):
    lf.set_summary_line(real_logs["Server"], "99.00 percentile latency (ns)", "99")
    row = latency_rows(parse(render_html(with_real_logs(results, real_logs))))[
        "resnet50-onnxruntime-cpu-fp32-Server-performance"]
    assert f"p99: mlperf_log_summary.txt prints 99 but mlperf_log_detail.txt logs {SERVER_P99}" in row.text()
    assert cells(row)[2 + 4] == latency_ns(SERVER_P99)  # the detail log's figure is the one shown


def test_a_moved_run_folder_is_found_beside_results_json(results, real_logs, tmp_path):
    run = tmp_path / "moved-run"
    case_id = "resnet50-onnxruntime-cpu-fp32-Offline-performance"
    shutil.copytree(real_logs["Offline"], run / case_id)
    by_id(results, case_id)["log_dir"] = f"/where/it/ran/{case_id}"  # the recorded path is gone
    (run / "results.json").write_text(json.dumps(results))
    html_path, _ = write_report_file(run / "results.json")
    row = latency_rows(parse(html_path.read_text(encoding="utf-8")))[case_id]
    assert len(bars(row.find_all("svg")[0])) == 6


# ---------------------------------------------------------------- skips

def test_skipped_cases_grouped_by_reason_in_details(results):
    groups = parse(render_html(results)).find_all("details", "skip-group")
    summaries = [g.find_all("summary")[0].text() for g in groups]
    assert summaries == ["3 × the TVM backend compiles for the llvm CPU target in fp32 only",
                         "1 × no reason recorded", "1 × the Ray backend runs fp32 only"]
    assert [li.text() for li in groups[0].find_all("li")] == [
        "resnet50-tvm-cpu-bf16-Offline-accuracy", "resnet50-tvm-cpu-fp16-Offline-accuracy",
        "resnet50-tvm-cpu-int8-Offline-accuracy"]


# ---------------------------------------------------------------- safety

def hostile_results(tmp_path: Path) -> dict:
    results = base_results(tmp_path)
    results["cases"][0]["id"] = f"resnet50-{HOSTILE}-accuracy"
    results["cases"][1]["message"] = f"failed: {HOSTILE}"
    results["cases"][3]["log_dir"] = '/tmp/"><img src=x onerror=alert(1)>'
    results["cases"][-1]["message"] = f"skip {HOSTILE} | with a pipe"
    results["machine"]["node"] = "<b>bold</b>"
    return results


def test_hostile_strings_are_escaped_in_the_page(tmp_path):
    results = hostile_results(tmp_path)
    comparison = {"regressions": [{"id": HOSTILE, "change": -0.5}], "warnings": [HOSTILE]}
    page = render_html(results, comparison)
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    root = parse(page)
    assert not [n for n in root.iter() if n.tag in ("script", "img", "b")]
    assert f"resnet50-{HOSTILE}-accuracy" in case_rows(root)  # shown as text, intact
    assert any(HOSTILE in li.text() for li in root.find_all("li"))


def test_hostile_strings_are_escaped_in_the_summary(tmp_path):
    summary = render_markdown(hostile_results(tmp_path), {"regressions": [HOSTILE]})
    assert "<script" not in summary.lower()
    assert "&lt;script&gt;" in summary


def test_page_is_self_contained(results):
    page = render_html(results, {"warnings": ["none"]})
    assert "http://" not in page and "https://" not in page
    root = parse(page)
    fetching = [n.tag for n in root.iter() if n.tag in ("script", "link", "img", "iframe", "object", "embed")]
    assert fetching == []
    assert not [n for n in root.iter() if "src" in n.attrs]
    assert all(n.attrs["href"].startswith("#") for n in root.iter() if "href" in n.attrs)
    assert "url(" not in page and "@import" not in page
    (csp,) = [m for m in root.find_all("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in csp.attrs["content"]
    assert len(root.find_all("svg")) >= 6  # the charts are inline


# ---------------------------------------------------------------- comparison

# The block harness/compare.py stores in results.json (Comparison.to_json plus the baseline's path),
# with a few entries of shapes it does not write, which must still show.
COMPARISON = {
    "baseline": "/runs/nightly-41/results.json",
    "fail_pct": 5.0,
    "regressions": [{"case_id": "resnet50-onnxruntime-cpu-fp32-Offline-performance",
                     "metric": "result_samples_per_second", "unit": "samples/s", "baseline": 11500.0,
                     "current": 10789.5, "change_pct": -6.178, "worse_pct": 6.178}],
    "improvements": [],
    "unchanged": [{"case_id": "a", "metric": "m", "unit": "ns", "baseline": 1.0, "current": 1.0,
                   "change_pct": 0.0, "worse_pct": 0.0}, "b"],
    "accuracy_changes": {"resnet50-x": {"before": 76.0, "after": 76.2}},  # a mapping, not a list
    "only_in_baseline": ["resnet50-old-case"],
    "not_compared": [{"case_id": "resnet50-tvm-cpu-int8-Offline-accuracy", "why": "skipped in both runs"}],
    "warnings": ["baseline ran on another machine", {"note": "odd entry"}],
    "extra_list": ["a section this report does not know"],
}


def comparison_section(root: Node) -> Node:
    (section,) = [s for s in root.find_all("section") if s.attrs.get("id") == "comparison"]
    return section


def test_comparison_section_renders_what_is_there(results):
    section = comparison_section(parse(render_html(results, COMPARISON)))
    (facts,) = section.find_all("table", "comparison-facts")
    assert [(tr.children[0].text(), tr.children[1].text()) for tr in facts.children] == [
        ("baseline", "/runs/nightly-41/results.json"), ("fail_pct", "5")]
    assert [h.text() for h in section.find_all("h3")] == [
        "Regressions (1)", "Improvements (0)", "Accuracy changes (1)", "Only in the baseline (1)", "Warnings (2)",
        "Extra list (1)"]
    regression = section.find_all("div", "comparison-regressions")[0]
    assert [th.text() for th in regression.find_all("th")] == [
        "case_id", "metric", "unit", "baseline", "current", "change_pct", "worse_pct"]
    assert [td.text() for td in regression.find_all("td")] == [
        "resnet50-onnxruntime-cpu-fp32-Offline-performance", "result_samples_per_second", "samples/s", "11500",
        "10789.5", "-6.18%", "+6.18%"]
    warnings = section.find_all("div", "comparison-warnings")[0]
    assert [li.text() for li in warnings.find_all("li")] == ["baseline ran on another machine"]
    assert [td.text() for td in warnings.find_all("td")] == ["odd entry"]
    changes = [td.text() for td in section.find_all("div", "comparison-accuracy_changes")[0].find_all("td")]
    assert changes == ["resnet50-x", '{"after": 76.2, "before": 76.0}']
    # the long, rarely read sections are folded
    folded = {d.find_all("summary")[0].text(): d for d in section.find_all("details")}
    assert set(folded) == {"Not compared (1)", "Unchanged (2)"}
    assert [li.text() for li in folded["Unchanged (2)"].find_all("li")] == ["b"]


def test_the_comparison_stored_in_results_json_is_shown(results):
    results["comparison"] = COMPARISON
    section = comparison_section(parse(render_html(results)))
    assert "Regressions (1)" in [h.text() for h in section.find_all("h3")]
    lines = render_markdown(results).splitlines()
    start = lines.index("### Regressions against the baseline: 1")
    assert lines[start + 2] == "baseline: /runs/nightly-41/results.json · fail_pct: 5"


def test_a_comparison_that_could_not_run_shows_its_error(results):
    comparison = {"baseline": "/runs/old.json", "error": "the baseline has no cases"}
    section = comparison_section(parse(render_html(results, comparison)))
    assert "the baseline has no cases" in section.find_all("table", "comparison-facts")[0].text()
    assert "the comparison holds no sections" in section.text()
    summary = render_markdown(results, comparison)
    assert "error: the baseline has no cases" in summary and "The comparison lists no regressions." in summary


def test_no_comparison_no_section(results):
    root = parse(render_html(results))
    assert not [s for s in root.find_all("section") if s.attrs.get("id") == "comparison"]


def test_a_comparison_that_is_not_an_object_is_an_error(results):
    with pytest.raises(ReportInputError, match=r"comparison: \(top level\): expected a JSON object"):
        render_html(results, ["regressions"])


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("damage, field, expected", [
    (lambda r: r.pop("cases"), "cases", "a list of case records (the field is missing)"),
    (lambda r: r.update(cases={}), "cases", "a list of case records"),
    (lambda r: r["cases"][0].pop("id"), "cases[0].id", "a non-empty string"),
    (lambda r: r["cases"][0].update(outcome="green"), "cases[0] (id 'resnet50-onnxruntime-cpu-fp32-Offline-accuracy')"
     ".outcome", "one of passed, failed, skipped, error"),
    (lambda r: r["cases"][0]["accuracy"].update(value="76.2"), "cases[0] (id "
     "'resnet50-onnxruntime-cpu-fp32-Offline-accuracy').accuracy.value", "a number"),
    (lambda r: r["cases"][2]["accuracy"]["also"][0].pop("threshold"), "accuracy.also[0].threshold", "a number"),
    (lambda r: r["cases"][3]["performance"].pop("unit"), "performance.unit", "a string"),
    (lambda r: r["cases"][3].pop("scenario"), "scenario", "a string"),
    (lambda r: r.update(machine=["vm"]), "machine", "a JSON object"),
])
def test_bad_input_names_file_field_and_expectation(results, tmp_path, damage, field, expected):
    damage(results)
    with pytest.raises(ReportInputError) as raised:
        write_report(results, tmp_path / "out", source="run-42/results.json")
    message = str(raised.value)
    assert message.startswith("run-42/results.json: ") and field in message and f"expected {expected}" in message
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"cases": [')
    with pytest.raises(ReportInputError, match=re.escape(str(path)) + r".*invalid JSON at line 1"):
        write_report_file(path)


# ---------------------------------------------------------------- summary.md

def split_row(line: str) -> list[str]:
    """A GFM table row's cells: split on pipes that are not escaped."""
    assert line.startswith("| ") and line.endswith(" |"), line
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line[1:-1])]


def test_summary_totals_line_and_one_row_per_case_that_ran(results):
    lines = render_markdown(results).splitlines()
    assert lines[2] == "**7 passed, 1 failed, 5 skipped, 1 error** of 14 cases"
    header = lines.index("| id | outcome | metric | value | threshold / validity |")
    assert lines[header + 1] == "| --- | --- | --- | --- | --- |"
    rows = []
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        rows.append(split_row(line))
    assert [row[0] for row in rows] == sorted(c["id"] for c in results["cases"] if c["outcome"] != "skipped")
    table = {row[0]: row for row in rows}
    assert table["resnet50-onnxruntime-cpu-fp32-Offline-accuracy"] == [
        "resnet50-onnxruntime-cpu-fp32-Offline-accuracy", "passed", "top1", "76.200", "≥ 75.694"]
    assert table["resnet50-openvino-cpu-int8-Offline-performance"][1:] == [
        "passed", "result_samples_per_second", "2,955.20 samples/s", "INVALID"]
    assert table["resnet50-onnxruntime-cpu-fp32-MultiStream-performance"][1:] == ["error", "-", "-", "-"]


def test_summary_counts_skips_by_reason(results):
    text = render_markdown(results)
    assert "### Skipped: 5 cases" in text
    skip_rows = [split_row(line) for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    assert skip_rows == [["3", "the TVM backend compiles for the llvm CPU target in fp32 only"],
                         ["1", "no reason recorded"], ["1", "the Ray backend runs fp32 only"]]


def test_summary_escapes_pipes_backslashes_and_line_breaks(results):
    results["cases"][0]["id"] = "odd|id\\|x"
    results["cases"][-2]["message"] = "first line | second\nthird"
    text = render_markdown(results)
    (row,) = [line for line in text.splitlines() if line.startswith("| odd")]
    cells_ = split_row(row)
    assert len(cells_) == 5 and cells_[0] == r"odd\|id\\\|x"
    assert "| 1 | first line \\| second third |" in text.splitlines()
    assert md_cell("a|b") == r"a\|b" and md_cell("a\\b") == "a\\\\b"


def test_summary_lists_regressions_only_when_a_comparison_is_given(results):
    assert "Regressions" not in render_markdown(results)
    comparison = {"regressions": [{"id": "r|1", "metric": "samples/s", "change": -0.25}, "free text"],
                  "improvements": [{"id": "ignored-in-summary"}]}
    lines = render_markdown(results, comparison).splitlines()
    start = lines.index("### Regressions against the baseline: 2")
    assert lines[start + 2:start + 4] == ["| id | metric | change |", "| --- | --- | --- |"]
    assert split_row(lines[start + 4]) == [r"r\|1", "samples/s", "-0.25"]
    assert "- free text" in lines and "ignored-in-summary" not in "\n".join(lines)
    assert "None." in render_markdown(results, {"regressions": []})


def test_append_step_summary_only_inside_a_ci_job(results, tmp_path):
    _, md_path = write_report(results, tmp_path / "out")
    assert append_step_summary(md_path, environ={}) is None
    target = tmp_path / "step_summary.md"
    target.write_text("earlier step\n")
    assert append_step_summary(md_path, environ={"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert target.read_text() == "earlier step\n" + md_path.read_text()


def test_rendering_leaves_the_document_untouched(results):
    before = copy.deepcopy(results)
    render_html(results, {"regressions": []})
    render_markdown(results)
    assert results == before


def test_long_sections_are_folded_but_regressions_never(results):
    many = [{"case_id": f"case-{i}", "change_pct": -10.0} for i in range(31)]
    section = comparison_section(parse(render_html(results, {"regressions": many, "improvements": many})))
    assert [d.find_all("summary")[0].text() for d in section.find_all("details")] == ["Improvements (31)"]
    open_regressions = section.find_all("div", "comparison-regressions")[0]
    assert len(open_regressions.find_all("tr")) == 32  # header and every regression, on view


def test_audits_and_find_peak_get_their_own_table_in_both_files(results):
    results["cases"] += [
        make_case("resnet50", "onnxruntime", "fp32", "Server", "find-peak",
                  performance=performance("Server", 1915.2),
                  find_peak={"target": 1915.21, "unit": "QPS", "attempts": [{}, {}, {}]}),
        make_case("resnet50", "onnxruntime", "fp32", "Offline", "TEST04", outcome="failed",
                  performance=performance("Offline", 6455.4),
                  compliance={"test": "TEST04", "passed": False, "checks": {"performance": False}}),
    ]
    root = parse(render_html(results))
    section = [n for n in root.iter() if n.tag == "h2" and n.attrs.get("id") == "findings"]
    assert section, "no findings section"
    page = render_html(results)
    assert "1915.21 QPS in 3 runs" in page and "TEST FAIL: performance FAIL" in page
    summary = render_markdown(results)
    assert "| resnet50-onnxruntime-cpu-fp32-Server-find-peak | find-peak | pass | 1915.21 QPS in 3 runs" in summary
    assert "| resnet50-onnxruntime-cpu-fp32-Offline-TEST04 | TEST04 | fail | TEST FAIL: performance FAIL |" in summary


def test_a_malformed_audit_verdict_names_the_field(results):
    results["cases"].append(make_case("resnet50", "onnxruntime", "fp32", "Offline", "TEST01", compliance="yes"))
    with pytest.raises(ReportInputError, match=r"cases\[\d+\] \(id 'resnet50-onnxruntime-cpu-fp32-Offline-TEST01'\)"
                                               r"\.compliance: expected an audit verdict"):
        render_html(results)
