"""Where each file of a submission lives, per round (the checker's ``*_PATH`` tables).

v5.x: ``results/<system>/<benchmark>/<scenario>/{performance/run_1, accuracy}``, compliance
tests under ``compliance/<system>/<benchmark>/<scenario>/TEST0x``, and ``measurements/
<system>/<benchmark>/<scenario>/`` holding user.conf, README.md and
``<system>_<implementation>_<scenario>.json``; the code under ``code/``.
v6.x: everything of a result in ``results/<system>/<benchmark>/<scenario>/`` (TEST0x,
measurements.json, user.conf, README.md beside accuracy/ and performance/); the code
under ``src/``. Both: ``systems/<system>.json``. No round from v5.0 on asks for
mlperf.conf among the measurements files (``REQUIRED_MEASURE_FILES``), so none is written.
v3 (the single-file checker of v3.1): v5's trees, plus ``mlperf.conf`` among the
measurements files and a ``code/<benchmark>/`` folder per benchmark
(``check_measurement_dir`` looks for ``code/<benchmark>/<implementation>`` or its parent).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REQUIRED_PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
OPTIONAL_PERF_FILES = ("mlperf_log_accuracy.json",)
REQUIRED_ACC_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt", "mlperf_log_accuracy.json")
REQUIRED_MEASURE_FILES = ("user.conf", "README.md")
REQUIRED_MEASURE_FILES_V3 = ("mlperf.conf", "user.conf", "README.md")
IMAGES_DIR = "images"  # accuracy/images/: the pictures SDXL ships (REQUIRED_ACC_BENCHMARK)
# utils.files_diff never counts these as extra
ALWAYS_OPTIONAL_FILES = ("mlperf_log_trace.json", "results.json", ".gitkeep")
DIVISIONS = ("closed", "open", "network")  # VALID_DIVISIONS


@dataclass(frozen=True)
class SubmissionLayout:
    """Paths of one submitter's tree: ``root/<division>/<submitter>/...``."""

    root: Path
    division: str
    submitter: str
    style: str  # "v3" | "v5" | "v6"

    @property
    def base(self) -> Path:
        return self.root / self.division / self.submitter

    def systems_dir(self) -> Path:
        return self.base / "systems"

    def system_json(self, system: str) -> Path:
        return self.systems_dir() / f"{system}.json"

    def code_dir(self) -> Path:
        return self.base / ("src" if self.style == "v6" else "code")

    def benchmark_code_dir(self, benchmark: str) -> Path | None:
        """v3: the per-benchmark code folder the checker requires; later rounds ask none."""
        return self.code_dir() / benchmark if self.style == "v3" else None

    @property
    def measure_files(self) -> tuple[str, ...]:
        return REQUIRED_MEASURE_FILES_V3 if self.style == "v3" else REQUIRED_MEASURE_FILES

    def documentation_dir(self) -> Path:
        return self.base / "documentation"

    def results_root(self) -> Path:
        return self.base / "results"

    def result_dir(self, system: str, benchmark: str, scenario: str) -> Path:
        return self.results_root() / system / benchmark / scenario

    def performance_dir(self, system: str, benchmark: str, scenario: str) -> Path:
        return self.result_dir(system, benchmark, scenario) / "performance" / "run_1"

    def accuracy_dir(self, system: str, benchmark: str, scenario: str) -> Path:
        return self.result_dir(system, benchmark, scenario) / "accuracy"

    def compliance_dir(self, system: str, benchmark: str, scenario: str) -> Path:
        """The folder holding TEST01/, TEST04/, ... for one result."""
        if self.style == "v6":
            return self.result_dir(system, benchmark, scenario)
        return self.base / "compliance" / system / benchmark / scenario

    def measurements_dir(self, system: str, benchmark: str, scenario: str) -> Path:
        if self.style == "v6":
            return self.result_dir(system, benchmark, scenario)
        return self.base / "measurements" / system / benchmark / scenario

    def measurements_json_name(self, system: str, implementation: str, scenario: str) -> str:
        return "measurements.json" if self.style == "v6" else f"{system}_{implementation}_{scenario}.json"

    def find_measurements_json(self, system: str, benchmark: str, scenario: str) -> Path | None:
        """The measurements JSON the checker's loader would pick, or None."""
        folder = self.measurements_dir(system, benchmark, scenario)
        if self.style == "v6":
            path = folder / "measurements.json"
            return path if path.is_file() else None
        if not folder.is_dir():
            return None
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
        # Loader.get_measurement_path: first a file named <system>..._<scenario>.json,
        # otherwise any <system>...json.
        for name in names:
            if name.startswith(system) and name.endswith(f"_{scenario}.json"):
                return folder / name
        for name in names:
            if name.startswith(system) and name.endswith(".json"):
                return folder / name
        return None


def list_dirs(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def list_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []


def files_diff(present: list[str], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> set[str]:
    """Files missing or extra, as the checker's ``utils.files_diff``."""
    return set(present).symmetric_difference(required) - set(optional) - set(ALWAYS_OPTIONAL_FILES)
