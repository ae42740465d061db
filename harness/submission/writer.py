"""Write the submission tree from grouped runs (``write_tree``).

Per result: performance/run_1 (summary and detail logs), accuracy/ (summary, detail,
accuracy.txt with its hash line, the truncated accuracy log, and the ``images/`` an SDXL
accuracy run saved beside its log), the compliance test folders copied from the
compliance cases' ``TEST0x/`` subfolders, and the measurements files (user.conf as the
run used it, README.md, the measurements JSON; for v3.1 also mlperf.conf and
``code/<benchmark>/<implementation>/``, legacy_v3.py). Per system:
``systems/<system>.json``. Per submitter: the code folder and documentation/.

Untruncated accuracy logs go to the originals folder (beside the tree, never inside
it: a submission ships truncated logs) under the same relative paths, because MLPerf
asks submitters to keep them and the check verifies the hash against them.

Problems that only the runs can show (run style, proxy models, failed or missing
cases) are returned as (scope, rule, message); the tree's own rules are checker.py's.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from harness.submission.inputs import Case, ResultInput, Run
from harness.submission.layout import IMAGES_DIR, SubmissionLayout
from harness.submission.legacy_v3 import code_readme_text, mlperf_conf_text
from harness.submission.network import collect_servers, describe_network, servers_of, sut_nodes
from harness.submission.system_desc import describe_system, placeholder
from harness.submission.truncate import truncate_into
from harness.submission.versions import Version

PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
RERUN_HINT = "rerun with --mlperf-run-style valid"


@dataclass
class TreeSpec:
    out: Path
    originals: Path
    division: str
    submitter: str
    system: str
    version: Version
    category: str
    system_overrides: dict = field(default_factory=dict)


@dataclass
class Written:
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (scope, rule, message)
    notes: list[str] = field(default_factory=list)
    description: dict = field(default_factory=dict)


def benchmark_folder(version: Version, model: str) -> str:
    """The checker's name when the round has the benchmark, else the suite's own name."""
    return version.official_name(model) or model


def write_tree(spec: TreeSpec, runs: list[Run], results: dict[tuple[str, str], ResultInput]) -> Written:
    layout = SubmissionLayout(spec.out, spec.division, spec.submitter, spec.version.layout)
    written = Written()
    used_cases: list[Case] = []
    for key in sorted(results):
        result = results[key]
        benchmark = benchmark_folder(spec.version, result.model)
        scope = f"{spec.system}/{benchmark}/{result.scenario}"
        written.problems += [(scope, rule, message) for rule, message in run_problems(result, spec.version)]
        args = (spec.system, benchmark, result.scenario)
        if result.performance:
            _copy_files(result.performance.log_path, layout.performance_dir(*args), PERF_FILES)
        if result.accuracy:
            _write_accuracy(result.accuracy, layout, spec, args)
        for test, case in sorted(result.compliance.items()):
            source = case.log_path / test
            if source.is_dir():
                shutil.copytree(source, layout.compliance_dir(*args) / test)
            else:
                written.problems.append((scope, f"compliance-{test}", f"case {case.id} has no {test}/ folder in "
                                                                      f"{case.log_path}"))
        _write_measurements(result, layout, spec, args)
        used_cases += result.cases()

    records = [c.record for c in used_cases]
    servers = collect_servers(records)  # none: the inference ran where LoadGen did
    description, notes = describe_system(
        division=spec.division, submitter=spec.submitter, system=spec.system, category=spec.category,
        machines=[run.machine for run in runs], versions=runs[-1].versions if runs else {},
        cases=records, run_dirs=[run.path for run in runs],
        network_card_field=spec.version.network_card_field, sut_nodes=sut_nodes(servers) or None)
    if servers:
        loadgen = ", ".join(sorted({str(run.machine.get("node")) for run in runs if run.machine.get("node")}))
        description = dict(sorted({**description, **describe_network(servers, loadgen or None)}.items()))
    description.update(spec.system_overrides)
    written.description = description
    written.notes += notes
    _write_json(layout.system_json(spec.system), description)
    _write_code_and_docs(layout, spec, runs, used_cases)
    return written


def run_problems(result: ResultInput, version: Version) -> list[tuple[str, str]]:
    """What the runs say about a result that its logs alone cannot."""
    problems = []
    if version.official_name(result.model) is None:
        problems.append(("benchmark", f"{result.model} is not a benchmark of {version.name}"))
    styles = sorted({str(c.run_style) for c in result.cases() if c.run_style != "valid"})
    for style in styles:
        problems.append(("run-style", f"run style {style}: not a submission run; {RERUN_HINT}"))
    if any(c.record.get("model_source") == "proxy" for c in result.cases()):
        problems.append(("model", "the runs used the suite's proxy model and dataset, not MLPerf's; a submission "
                                  "needs the real artifacts (--mlperf-model-path / --mlperf-dataset-path)"))
    for case in result.cases():
        if case.outcome == "failed":
            problems.append(("suite-outcome", f"case {case.id} failed in the suite: {case.record.get('message')}"))
    for case in result.errored:
        problems.append(("suite-outcome", f"case {case.id} ended in error: {case.record.get('message')}"))
    if result.performance is None:
        problems.append(("performance-run", "the runs hold no performance case for this result"))
    if result.accuracy is None:
        problems.append(("accuracy-run", "the runs hold no accuracy case for this result"))
    return problems


def _copy_files(source: Path, dest: Path, names: tuple[str, ...]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)


def _write_accuracy(case: Case, layout: SubmissionLayout, spec: TreeSpec, args: tuple[str, str, str]) -> None:
    dest = layout.accuracy_dir(*args)
    _copy_files(case.log_path, dest, PERF_FILES)
    if (case.log_path / IMAGES_DIR).is_dir():  # SDXL's pictures; the check says which the round wants
        shutil.copytree(case.log_path / IMAGES_DIR, dest / IMAGES_DIR)
    original = case.log_path / "mlperf_log_accuracy.json"
    text_path = case.log_path / "accuracy.txt"
    if not original.is_file():
        if text_path.is_file():
            shutil.copyfile(text_path, dest / "accuracy.txt")
        return
    kept = spec.originals / dest.relative_to(spec.out) / "mlperf_log_accuracy.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(original, kept)
    text = text_path.read_text(encoding="utf-8", errors="replace") if text_path.is_file() else ""
    text, _ = truncate_into(original, text, dest / "mlperf_log_accuracy.json")
    (dest / "accuracy.txt").write_text(text, encoding="utf-8")


def _measurements_json(case: Case) -> dict:
    precision = case.precision
    model_file = case.record.get("model_file")
    return {
        "input_data_types": precision if precision == "fp32" else placeholder(f"input data type ({precision} model)"),
        "retraining": "No",  # the suite never trains
        "starting_weights_filename": Path(model_file).name if model_file else placeholder("starting weights file"),
        "weight_data_types": precision,
        "weight_transformations": "No" if precision == "fp32" else placeholder(
            f"how the weights became {precision} (e.g. quantization, calibration set)"),
    }


def _readme(result: ResultInput, case: Case, version: Version) -> str:
    options = [f"--mlperf-model {result.model}", f"--mlperf-backend {case.backend}",
               f"--mlperf-device {case.device}", f"--mlperf-precision {case.precision}",
               f"--mlperf-scenario {result.scenario}", "--mlperf-run-style valid"]
    urls = [str(s["url"]) for s in servers_of(case.record) if s.get("url")]
    where = ""
    if urls:  # LoadGen ran here, the inference on these servers
        where = (f"The inference ran on the SUT server(s) {', '.join(urls)}; LoadGen and the samples stayed "
                 "on the LoadGen host.\n\n")
        if ((case.record.get("settings") or {}).get("backend") or {}).get("backend") == "remote":
            options.append(f"--mlperf-sut-url {','.join(urls)}")  # servers started with python -m harness serve
    versions = case.run.versions or {}
    commit, loadgen = versions.get("project_commit") or "unknown", versions.get("loadgen") or "unknown"
    return (f"# {benchmark_folder(version, result.model)} {result.scenario}\n\n"
            f"Run with the mlperf-pytest suite (commit {commit}), LoadGen {loadgen}, "
            f"implementation {case.implementation}.\n\n{where}"
            "To reproduce the performance and accuracy runs:\n\n"
            f"```\npython -m pytest suites {' '.join(options)} --mlperf-output RUN_DIR\n```\n\n"
            "The performance and accuracy runs used the user.conf beside this file.\n")


def _write_measurements(result: ResultInput, layout: SubmissionLayout, spec: TreeSpec,
                        args: tuple[str, str, str]) -> None:
    case = result.performance or result.accuracy
    if case is None:
        return
    folder = layout.measurements_dir(*args)
    folder.mkdir(parents=True, exist_ok=True)
    conf = case.log_path / "user.conf"
    if conf.is_file():
        shutil.copyfile(conf, folder / "user.conf")
    (folder / "README.md").write_text(_readme(result, case, spec.version), encoding="utf-8")
    name = layout.measurements_json_name(spec.system, case.implementation, result.scenario)
    _write_json(folder / name, _measurements_json(case))
    code = layout.benchmark_code_dir(args[1])
    if code is not None:  # v3.1 only
        user_conf = conf.read_text(encoding="utf-8", errors="replace") if conf.is_file() else ""
        (folder / "mlperf.conf").write_text(mlperf_conf_text(user_conf, (case.run.versions or {}).get("loadgen")),
                                            encoding="utf-8")
        commit = str((case.run.versions or {}).get("project_commit"))
        (code / case.implementation).mkdir(parents=True, exist_ok=True)
        (code / case.implementation / "README.md").write_text(
            code_readme_text(args[1], case.implementation, [commit]), encoding="utf-8")


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n", encoding="utf-8")


def _write_code_and_docs(layout: SubmissionLayout, spec: TreeSpec, runs: list[Run], cases: list[Case]) -> None:
    commits = sorted({str((run.versions or {}).get("project_commit")) for run in runs})
    code = layout.code_dir()
    code.mkdir(parents=True, exist_ok=True)
    (code / "README.md").write_text(
        "# Implementation\n\n"
        f"The results were produced by the mlperf-pytest suite at commit(s) {', '.join(commits)}.\n"
        f"{placeholder('copy that source tree (harness/, suites/, tools/) here before submitting')}\n",
        encoding="utf-8")
    docs = layout.documentation_dir()
    docs.mkdir(parents=True, exist_ok=True)
    lines = ["# Calibration and quantization", ""]
    for implementation in sorted({c.implementation for c in cases}):
        precision = implementation.rsplit("-", 1)[-1]
        lines.append(f"- {implementation}: " + ("FP32 weights as published; no calibration."
                                                 if precision == "fp32" else
                                                 placeholder(f"describe how the {precision} model was made")))
    (docs / "calibration.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
