"""Synthetic run folders for the submission tests, made from genuine LoadGen logs.

``loadgen_templates`` runs LoadGen once per scenario against an instant SUT (through
tests/loadgen_tiny_run.py: real summary, detail and accuracy logs in LoadGen's own
format). ``RunBuilder`` copies those logs into case folders the way a run of the suite
lays them out (``RUN_DIR/<case-id>/`` plus ``results.json``) and, for a "valid" run,
rewrites the settings a ten-minute official run would have logged (duration, sample
counts, seeds, dataset size): an instant SUT cannot run for ten minutes, but every
other byte is LoadGen's.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from harness.reports import machine_info
from harness.submission.benchmarks import BENCHMARKS
from harness.submission.versions import VERSIONS

try:  # tests/ may or may not be a package; the helper imports either way
    from . import logfixtures as lf
except ImportError:
    import logfixtures as lf

PERFORMANCE = "PerformanceOnly"
ACCURACY = "AccuracyOnly"
TEMPLATE_RUNS = [("Offline", PERFORMANCE), ("SingleStream", PERFORMANCE), ("MultiStream", PERFORMANCE),
                 ("Server", PERFORMANCE), ("Offline", ACCURACY)]
LOG_NAMES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json")
# What a passing verify script prints last (compliance/TEST0x/verify_*.py).
PASS_LINE = "TEST PASS"


def loadgen_templates(base: Path) -> dict[tuple[str, str], Path]:
    return lf.loadgen_runs(base, TEMPLATE_RUNS)


def make_official(folder: Path, benchmark: str, version: str, scenario: str, mode: str) -> None:
    """Rewrite a copied detail log's settings to what an official run would log."""
    rules, seeds = BENCHMARKS[benchmark], VERSIONS[version].seeds
    for name, value in seeds.items():
        lf.set_detail_value(folder, f"effective_{name}", value)
    lf.set_detail_value(folder, "qsl_reported_total_count", rules.dataset_size)
    if mode == ACCURACY:
        lf.set_detail_value(folder, "effective_accuracy_sample_count", rules.dataset_size)
        return
    lf.set_detail_value(folder, "effective_min_duration_ms", 600000)
    lf.set_detail_value(folder, "effective_performance_sample_count", rules.performance_sample_count)
    if scenario == "Offline":
        lf.set_detail_value(folder, "effective_samples_per_query", rules.offline_min_samples_per_query)
    if scenario in rules.latency_constraint_ns:
        lf.set_detail_value(folder, "effective_target_latency_ns", rules.latency_constraint_ns[scenario])


@dataclass
class RunBuilder:
    """One RUN_DIR of the suite, built case by case."""

    root: Path
    templates: dict
    version: str = "v6.1"  # whose seeds an official run logs
    run_style: str = "valid"
    cases: list = field(default_factory=list)

    def case_dir(self, case_id: str) -> Path:
        return self.root / case_id

    def _record(self, model, scenario, mode, backend, precision, **extra) -> dict:
        case_id = f"{model}-{backend}-cpu-{precision}-{scenario}-{mode}"
        record = {
            "id": case_id, "model": model, "backend": backend, "device": "cpu", "precision": precision,
            "scenario": scenario, "mode": mode, "outcome": "passed", "log_dir": str(self.case_dir(case_id)),
            "run_style": self.run_style, "dataset": "/data/imagenet", "model_file": "/models/resnet50_v1.onnx",
            "accuracy": None, "performance": None, "message": None,
            "settings": {"backend": {"backend": backend, "framework_version": "1.32.0"}},
        }
        record.update(extra)
        self.cases.append(record)
        return record

    def _logs(self, scenario: str, mode: str, dest: Path, benchmark: str) -> None:
        template = self.templates[("Offline", ACCURACY) if mode == ACCURACY else (scenario, PERFORMANCE)]
        dest.mkdir(parents=True, exist_ok=True)
        for name in LOG_NAMES:
            if (template / name).is_file():
                shutil.copyfile(template / name, dest / name)
        if self.run_style == "valid":
            make_official(dest, benchmark, self.version, scenario, mode)

    def add_result(self, model: str, scenario: str, *, benchmark: str = "resnet", backend: str = "onnxruntime",
                   precision: str = "fp32", accuracy_line: str = "accuracy=76.500%, good=38250, total=50000",
                   compliance: tuple[str, ...] = ("TEST01", "TEST04"), model_source: str | None = None) -> None:
        extra = {"model_source": model_source} if model_source else {}
        perf = self._record(model, scenario, "performance", backend, precision, **extra)
        self._logs(scenario, PERFORMANCE, Path(perf["log_dir"]), benchmark)
        (Path(perf["log_dir"]) / "user.conf").write_text(f"{model}.{scenario}.target_qps = 100\n")
        acc = self._record(model, scenario, "accuracy", backend, precision, **extra)
        self._logs(scenario, ACCURACY, Path(acc["log_dir"]), benchmark)
        (Path(acc["log_dir"]) / "accuracy.txt").write_text(accuracy_line + "\n")
        for test in compliance:
            case = self._record(model, scenario, test, backend, precision, **extra)
            self._compliance(Path(case["log_dir"]) / test, test, scenario, benchmark)

    def _compliance(self, test_dir: Path, test: str, scenario: str, benchmark: str) -> None:
        """The tree compliance/TEST0x/run_verification.py writes for a passing test."""
        self._logs(scenario, PERFORMANCE, test_dir / "performance" / "run_1", benchmark)
        (test_dir / "performance" / "run_1" / "mlperf_log_accuracy.json").unlink(missing_ok=True)
        (test_dir / "verify_performance.txt").write_text(
            "reference score = 100.0\ntest score = 100.0\n" + PASS_LINE + "\n")
        if test == "TEST01":
            (test_dir / "accuracy").mkdir()
            shutil.copyfile(self.templates[("Offline", ACCURACY)] / "mlperf_log_accuracy.json",
                            test_dir / "accuracy" / "mlperf_log_accuracy.json")
            (test_dir / "verify_accuracy.txt").write_text(
                "Reading accuracy mode results...\nnum_perf_log_data_mismatch = 0\n" + PASS_LINE + "\n")

    def write(self) -> Path:
        document = {"cases": self.cases, "machine": machine_info(),
                    "versions": {"loadgen": "6.0.17", "frameworks": {"onnxruntime": "1.32.0"},
                                 "project_commit": "0123456789abcdef0123456789abcdef01234567"}}
        (self.root / "results.json").write_text(json.dumps(document, indent=2))
        return self.root


# Answers for the system description fields a run cannot know (what --system-json
# carries), and for the host fields this machine may not expose (a container's
# /proc/cpuinfo can lack "physical id"), so that a valid tree is valid on any machine.
FILLED_SYSTEM_FIELDS = {
    "status": "available", "cooling": "air", "host_memory_configuration": "2x 16GB DDR5",
    "host_storage_type": "NVMe SSD", "host_processor_model_name": "Test CPU", "host_processors_per_node": 1,
    "host_processor_core_count": 2, "host_memory_capacity": "32 GiB", "host_storage_capacity": "500 GB",
}


def filled_system_json(path: Path) -> Path:
    path.write_text(json.dumps(FILLED_SYSTEM_FIELDS))
    return path
