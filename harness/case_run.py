"""One case from start to verdict, usable without pytest.

run child process → parse LoadGen's logs → accuracy gate or performance
checks → a CaseResult that the pytest plugin and reports read.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .checks.accuracy import AccuracyVerdict, verdicts
from .matrix import Case
from .options import RunOptions
from .progress import ProgressSink
from .registry import Benchmark
from .runner import ChildRun, RunSpec, launch
from .settings import parse_user_conf, style_settings

# MLPerf's metric per scenario: (detail-log key, unit)
PERFORMANCE_METRICS = {
    "Offline": ("result_samples_per_second", "samples/s"),
    "Server": ("result_completed_samples_per_sec", "samples/s"),
    "SingleStream": ("early_stopping_latency_ss", "ns"),
    "MultiStream": ("early_stopping_latency_ms", "ns"),
}
# LLMs also report tokens/s (detail-log keys, where the run logs them)
TOKEN_METRICS = {"Offline": "result_tokens_per_second", "Server": "result_completed_tokens_per_second"}


@dataclass
class Provisioned:
    """What fixtures hand to a run: files on disk and the reference to gate on."""
    model_path: Path
    model_source: str  # "proxy" | "user" | "real"
    dataset_dir: Path
    samples_path: Path
    evaluation: object  # the family's scorer: .score(log_path) -> Scored
    reference: float  # the primary metric's
    reference_source: str
    backend_options: dict = field(default_factory=dict)
    task_options: dict = field(default_factory=dict)
    # every gated metric -> the reference the gate uses (primary included)
    references: dict = field(default_factory=dict)
    tokenizer_dir: Path | None = None
    reference_reason: str = ""  # why this reference applies (harness.references)


@dataclass
class CaseResult:
    case: Case
    log_dir: Path
    started: float
    duration_s: float
    child: ChildRun
    accuracy: AccuracyVerdict | None = None
    accuracy_also: list[AccuracyVerdict] = field(default_factory=list)
    accuracy_line: str | None = None
    performance: dict | None = None
    failures: list[str] = field(default_factory=list)
    effective: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


def build_spec(case: Case, bench: Benchmark, prov: Provisioned, options: RunOptions, log_dir: Path) -> RunSpec:
    layers = []
    if options.user_conf:
        layers += [[s.key, s.value, s.origin] for s in parse_user_conf(options.user_conf, bench.conf_model, case.scenario)]
    layers += options.command_line_settings(case.scenario)
    from .backends import backend_class

    from .placement import client_options, client_spec

    style = [] if case.mode == "accuracy" else _style_layer(options.run_style, case.scenario, bench.test_style)
    backend_spec = bench.backend_spec(case.backend)
    # staged as the model's own backend wants them, wherever that backend runs
    layout = backend_class(backend_spec).layout
    backend_options = client_options(case, bench, backend_spec, prov.backend_options, prov.tokenizer_dir, options)
    backend_spec = client_spec(backend_spec, options)

    return RunSpec(
        case_id=case.id, conf_model=bench.conf_model, scenario=case.scenario, mode=case.mode,
        backend=backend_spec, device=case.device, precision=case.precision,
        model_path=str(prov.model_path), samples_path=str(prov.samples_path), output_dir=str(log_dir),
        layout=layout, backend_options=backend_options,
        task=bench.task, family_home=bench.home, task_options=_task_options(bench, prov, options),
        count=options.count,
        performance_sample_count=bench.performance_sample_count,
        max_batchsize=options.max_batchsize or bench.max_batchsize, threads=options.threads,
        server_workers=options.server_workers,
        max_batchsize_given=options.max_batchsize is not None,
        run_style=options.run_style, settings=style + layers, memory_limit_mb=options.memory_limit_mb,
    )


def _task_options(bench: Benchmark, prov: Provisioned, options: RunOptions) -> dict:
    """Registry, then the model file's, then the caller's (mutation tests)."""
    from .registry.parts import task_options

    return task_options(bench, prov.task_options, options.task_options)


def _style_layer(run_style: str, scenario: str, family_style: dict | None = None) -> list[list]:
    return [[s.key, s.value, s.origin] for s in style_settings(run_style, scenario, family_style)]


def execute_case(case: Case, bench: Benchmark, prov: Provisioned, options: RunOptions, log_dir: Path,
                 progress: ProgressSink | None = None) -> CaseResult:
    """Run ``case`` and judge it. ``progress`` (e.g. a harness.progress.CaseProgress) is told the
    phases (start, load, calibrate, run with its counts, score) as they come; the caller closes it."""
    from .checks.performance import check_performance, format_failures
    from .logs.detail import LogFormatError, parse_detail
    from .logs.runs import run_record
    from .runner import RunFailed
    from .runner.launch import disk_hint

    started = time.time()
    spec = build_spec(case, bench, prov, options, log_dir)
    child = launch(spec, options.timeout_s, progress=progress)
    if progress is not None:
        progress.phase("score", "accuracy" if case.mode == "accuracy" else "performance checks")
    result = CaseResult(case=case, log_dir=Path(log_dir), started=started, duration_s=0.0, child=child)
    try:
        detail = parse_detail(Path(log_dir) / "mlperf_log_detail.txt")
        record = run_record(Path(log_dir)) if case.mode != "accuracy" else None
    except (LogFormatError, OSError) as exc:
        raise RunFailed(f"{exc}{disk_hint(Path(log_dir))} [{case.id}: LoadGen's logs are incomplete]") from None
    result.effective = {k: v for k, v in detail.values.items() if k.startswith(("effective_", "requested_"))}
    if case.mode == "accuracy":
        _accuracy(result, bench, prov, detail)
    else:
        result.performance = record
        failures = check_performance(record)
        if failures:
            result.failures.append(format_failures(failures))
    result.failures += server_failures(child.result)
    result.duration_s = time.time() - started
    return result


def server_failures(child_result: dict | None) -> list[str]:
    """A SUT server that failed mid-run fails the case, naming it (backends/remote.py): the
    system under test changed under the run, even where the other servers answered for it."""
    info = (child_result or {}).get("backend_info") or {}
    return [f"SUT server {failure['url']} failed mid-run: {failure['reason']}; the other servers answered its "
            f"queries and their work is in the logs" for failure in info.get("sut_failures") or ()]


def _accuracy(result: CaseResult, bench: Benchmark, prov: Provisioned, detail) -> None:
    log_path = result.log_dir / "mlperf_log_accuracy.json"
    if detail.num_errors:
        result.failures.append(f"LoadGen logged {detail.num_errors} error(s) in {result.log_dir / 'mlperf_log_detail.txt'}")
    scored = prov.evaluation.score(log_path)
    result.accuracy_line = scored.lines[0]
    (result.log_dir / "accuracy.txt").write_text("\n".join(scored.lines) + "\n")
    found = verdicts(bench.accuracy_specs, scored, prov.references or {bench.accuracy.metric: prov.reference}, str(log_path))
    result.accuracy, result.accuracy_also = found[0], found[1:]
    total = result.child.result["samples_total"] if result.child.result else None
    if total is not None and scored.answered != total:
        result.failures.append(f"accuracy log {log_path} answers {scored.answered} of the {total} samples")
    for verdict in found:
        if not verdict.passed:
            result.failures.append(f"accuracy gate failed: {verdict.message()}")
