"""Child-process entry point: one LoadGen run, then exit.

LoadGen keeps one process-wide logger and loads its built-in mlperf.conf only
once per process, so every run gets a fresh process (see launch.py).
Exit status: 0 ran to the end, 3 the SUT raised (samples were completed empty),
4 the run could not start (bad model, settings, ...).
While it runs it reports where it is in progress.json (_ProgressReport).
"""
from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
import traceback
from importlib import metadata
from pathlib import Path

import numpy as np

from .. import settings as conf
from ..limits import SettingRangeError, check_counts
from ..backends import BackendConfig, DeviceUnavailable, backend_class
from ..registry.parts import make_task as make_family_task
from ..staging import Volumes
from ..tasks.kinds import check_kinds
from .calibrate import (calibrate, calibrate_generation, calibrate_samples, prefers_single_views, server_batch_limit,
                        targets, warm_batch_sizes)
from .contract import check_contract
from .generation_sut import GENERATION_SUTS
from .responses import Completer
from .samples import FirstVolumes, LayoutView, SampleStore, VolumeStore
from .launch import EXIT_UNAVAILABLE, PROGRESS_FILE, PROGRESS_TOKEN_ENV, UNAVAILABLE_FILE
from .expected import expected_run_seconds
from .spec import ERROR_FILE, RESULT_FILE, WATCHDOG_FILE, RunSpec
from .sut import SUTS, server_workers

SWITCH_INTERVAL_S = 1e-4
_STARTED = time.monotonic()
# How often an orphaned child notices that its parent is gone.
PARENT_POLL_S = 0.5
EXIT_SUT_ERROR = 3
EXIT_SETUP_ERROR = 4
# What the child is doing now: an error names it when its message names
# nothing ("now"); the progress report names the step it belongs to ("step":
# start, load, calibrate, run; harness/progress.py prints them).
_PHASE = {"now": "set-up", "step": "start"}
# How often the progress report is rewritten; a phase change rewrites it at once.
PROGRESS_INTERVAL_S = 1.0
_PROGRESS_WAKE = threading.Event()


def _phase(what: str, step: str | None = None) -> None:
    _PHASE["now"] = what
    if step is not None:
        _PHASE["step"] = step
    _PROGRESS_WAKE.set()


class _ProgressReport:
    """Where this run is, as a small JSON file the parent reads (launch.py).

    A daemon thread rewrites it about once a second (temp file, then
    os.replace: the parent never reads half a file); during the LoadGen run it
    reads the SUT's integer counters (sut.py), so the query path pays nothing
    for being watched. Every report carries the parent's run token, so a
    report left in the folder by an earlier run is never taken for this one's.
    """

    def __init__(self, out: Path, token: str, interval_s: float = PROGRESS_INTERVAL_S):
        self.path, self._tmp = out / PROGRESS_FILE, out / (PROGRESS_FILE + ".tmp")
        self._token, self._interval_s = token, interval_s
        self._run: tuple | None = None  # (sut, monotonic start, what LoadGen needs to end)
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def running(self, sut, limits: dict) -> None:
        """The LoadGen run starts now: report ``sut``'s counters against ``limits``."""
        self._run = (sut, time.monotonic(), limits)
        _PROGRESS_WAKE.set()

    def finish(self) -> None:
        """Stop the thread and write the final counts (the last report the parent reads)."""
        self._stopping = True
        _PROGRESS_WAKE.set()
        self._thread.join()
        self.write()

    def snapshot(self) -> dict:
        snap = {"token": self._token, "phase": _PHASE["step"], "detail": _PHASE["now"],
                "child_s": round(time.monotonic() - _STARTED, 3)}
        if self._run is not None:
            sut, started, limits = self._run
            issued, completed = sut.issued, sut.completed  # plain int reads: no lock needed
            per_query = limits["samples_per_query"]
            snap.update(limits, elapsed_s=round(time.monotonic() - started, 3), issued=issued, completed=completed,
                        # Offline is counted in samples: its queries are whole sets of them
                        queries=None if per_query is None else completed // per_query)
        return snap

    def write(self) -> None:
        try:
            self._tmp.write_text(json.dumps(self.snapshot()))
            os.replace(self._tmp, self.path)
        except OSError:
            pass  # a full disk must not end the run; the next report may get through, the result still tells

    def _loop(self) -> None:
        while not self._stopping:
            _PROGRESS_WAKE.clear()  # before writing: a phase change during the write is not lost
            self.write()
            _PROGRESS_WAKE.wait(self._interval_s)


def run_limits(lg_settings, scenario: str, mode: str, total: int) -> dict:
    """What LoadGen needs before it ends, from the very settings it is given (user.conf units turned into s)."""
    def value(key: str):
        return conf.builtin_value(lg_settings, key, scenario)

    performance = mode != "accuracy"
    return {
        "scenario": scenario, "mode": mode,
        # An accuracy run ends when every sample was answered once, whatever the minimums say.
        "min_duration_s": value("min_duration") / 1e3 if performance else None,
        "min_query_count": value("min_query_count") if performance else None,
        "samples_total": None if performance else total,
        # None: Offline's one query holds every sample it issues
        "samples_per_query": None if scenario == "Offline" else int(value("samples_per_query") or 1),
    }


_BUILTIN_KEYS = (
    "min_duration", "max_duration", "min_query_count", "max_query_count",
    "performance_sample_count_override", "target_qps", "target_latency", "samples_per_query",
)


def _default_threads(scenario: str, concurrent: bool = False) -> int:
    """Intra-op threads of the loaded model.

    Server on a backend whose predict() may run in several threads at once:
    all cores (the pool never spins in Server) for the calibration and for
    one worker; where the calibration calls for several workers
    (sut.server_workers), run() loads the model again with each worker's
    share. Server on any other backend: all but one core, left to LoadGen's issue
    thread. Other scenarios: all cores.
    """
    cores = os.cpu_count() or 1
    if scenario != "Server" or concurrent:
        return cores
    return max(1, cores - 1)


def _resolve_settings(lg, spec: RunSpec, calibration: dict) -> tuple[dict, dict]:
    builtin_settings = lg.TestSettings()
    builtin_settings.FromConfig("", spec.conf_model, spec.scenario, 0)  # built-in mlperf.conf alone
    builtin = {key: conf.builtin_value(builtin_settings, key, spec.scenario) for key in _BUILTIN_KEYS}
    # How much a scheduling stall matters depends on the benchmark's bound.
    calibration["server_latency_ms"] = builtin_settings.server_target_latency_ns / 1e6
    given = [conf.Setting(key, value, origin) for key, value, origin in spec.settings]
    measured = [
        conf.Setting(key, value, "calibrated: measured before the run")
        for key, value in targets(calibration, spec.scenario, spec.mode, spec.run_style).items()
    ]
    merged = conf.merge(measured, given)  # what the user said beats the measurement
    conf.check_valid_style(spec.run_style, conf.merge(given))
    try:  # each value was checked alone; together the layers can still contradict
        check_counts(effective_values(merged, builtin), f"{spec.case_id} settings")
    except SettingRangeError as exc:
        raise conf.UserConfError(f"{exc} (origins: {', '.join(f'{k}: {s.origin}' for k, s in sorted(merged.items()))})") from None
    return merged, builtin


def effective_values(merged: dict, builtin: dict) -> dict:
    """What LoadGen will use, key by key, in user.conf units."""
    return {**{k: v for k, v in builtin.items() if v is not None}, **{k: s.value for k, s in merged.items()}}


def _report_expected_duration(out: Path, spec: RunSpec, merged: dict, builtin: dict, calibration: dict,
                              total: int) -> None:
    """Tell the parent's watchdog how long LoadGen should run (launch.py)."""
    seconds = expected_run_seconds(spec.scenario, spec.mode, effective_values(merged, builtin), calibration, total)
    tmp = out / (WATCHDOG_FILE + ".tmp")
    tmp.write_text(json.dumps({"expected_run_s": seconds, "elapsed_s": time.monotonic() - _STARTED}))
    os.replace(tmp, out / WATCHDOG_FILE)  # the parent never reads half a file


def make_task(spec: RunSpec):
    """The family's task (the registry's "module:Class", from the family folder), checked for its kinds."""
    task = make_family_task(spec.task, spec.family_home, **spec.task_options)
    check_kinds(task)
    return task


def staged_source(spec: RunSpec, input_kind: str):
    """The staged samples as the task's input kind lays them out (harness.staging)."""
    if input_kind == "volumes":
        return FirstVolumes(Volumes(Path(spec.samples_path)), spec.count)
    source = np.load(spec.samples_path, mmap_mode="r")
    if spec.count:
        source = source[: spec.count]
    return LayoutView(source, spec.layout)


def measure(backend, task, source, spec: RunSpec) -> dict:
    """The measurement before the run, as the input kind calls for (calibrate.py)."""
    if task.input_kind == "tokens":
        return calibrate_generation(backend, task, source, spec.max_batchsize)
    if task.input_kind == "volumes":
        return calibrate_samples(backend, task, source)
    # Server's batch sizes are warmed once the SUT's batch limit is known (run()).
    return calibrate(backend, task, source, spec.max_batchsize)


def load_backend(spec: RunSpec, task, backend_cls, threads: int):
    backend = backend_cls()
    backend.load(
        BackendConfig(
            model_path=Path(spec.model_path), device=spec.device, precision=spec.precision, threads=threads,
            inputs=task.inputs, outputs=task.outputs,
            contract_outputs=task.contract_outputs,
            # Server's threads share the cores with the backend's pool: no spinning.
            options={"spin": spec.scenario != "Server", **spec.backend_options},
        )
    )
    return backend


def run(spec: RunSpec, report: _ProgressReport | None = None) -> int:
    import mlperf_loadgen as lg

    out = Path(spec.output_dir)
    task = make_task(spec)
    backend_cls = backend_class(spec.backend)
    given_threads = spec.threads or spec.backend_options.get("intra_op_threads")
    threads = given_threads or _default_threads(spec.scenario, getattr(backend_cls, "concurrent_predict", False))
    _phase("load", step="load")
    backend = load_backend(spec, task, backend_cls, threads)
    _phase(f"staged samples {spec.samples_path}")
    source = staged_source(spec, task.input_kind)
    # Before anything runs: the model's tensors against the task's contract;
    # a fixed batch size becomes the max batch (padded to, for a batch > 1).
    backend, spec.max_batchsize = check_contract(backend, task, source, spec.max_batchsize, model=spec.model_path,
                                                 explicit=spec.max_batchsize_given)
    _phase(f"calibration of {spec.backend} on {spec.model_path}", step="calibrate")
    calibration = measure(backend, task, source, spec)
    split_gathers = task.input_kind == "stacked" and prefers_single_views(calibration)
    workers = 1
    if spec.scenario == "Server":
        cores = os.cpu_count() or 1
        workers = server_workers(backend_cls, cores, spec.server_workers, per_sample=split_gathers)
        share = max(1, cores // workers)
        reload_helps = getattr(backend_cls, "threads_set_per_load", True)
        if workers > 1 and not given_threads and share < threads and reload_helps:
            # Runs of one sample gain nothing from a pool: 2 workers on
            # 1-thread sessions answered 12.0k samples/s at saturation on
            # 2 cores, on one 2-thread session 10.5k (resnet50 proxy).
            _phase(f"reload of {spec.model_path} with {share} thread(s) for each of {workers} Server workers")
            backend = None  # free the first copy before the second loads
            backend = load_backend(spec, task, backend_cls, share)
            backend, _ = check_contract(backend, task, source, spec.max_batchsize, model=spec.model_path,
                                        explicit=spec.max_batchsize_given)
            calibration["server_reloaded_threads"] = share
        calibration["server_workers"] = workers

    _phase(f"settings of {spec.case_id}")
    merged, builtin = _resolve_settings(lg, spec, calibration)
    _report_expected_duration(out, spec, merged, builtin, calibration, len(source))
    user_conf = out / "user.conf"
    user_conf.write_text(conf.render_user_conf(spec.conf_model, spec.scenario, merged, builtin))
    settings = lg.TestSettings()
    status = settings.FromConfig(str(user_conf), spec.conf_model, spec.scenario, 1)
    if status != 0:
        raise conf.UserConfError(f"{user_conf}: LoadGen refused this file (status {status})")
    settings.scenario = getattr(lg.TestScenario, spec.scenario)
    settings.mode = lg.TestMode.AccuracyOnly if spec.mode == "accuracy" else lg.TestMode.PerformanceOnly

    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False

    store = VolumeStore(source) if task.input_kind == "volumes" else SampleStore(source)
    suts = GENERATION_SUTS if task.response_kind == "tokens" else SUTS
    extra = {"workers": workers} if spec.scenario == "Server" else {}
    sut = suts[spec.scenario](store, backend, task, spec.max_batchsize, Completer(lg), **extra)
    sut.split_gathers = split_gathers
    if spec.scenario == "Server" and task.input_kind == "stacked":
        sut.batch_limit = calibration["server_batch_limit"] = server_batch_limit(calibration, spec.max_batchsize)
        # Every size the workers will form, not only the first few: a first
        # run at batch 9-12 inside the run put p99 over the bound.
        warm_batch_sizes(backend, task, source, spec.max_batchsize, largest=sut.batch_limit)
    qsl = lg.ConstructQSL(store.total, min(spec.performance_sample_count, store.total), store.load, store.unload)
    # Inference over the network: LoadGen's network mode (a QDL), named by the
    # SUT over the network, as MLPerf's checker requires ("Network SUT").
    network_name = getattr(backend, "network_sut_name", None)
    if network_name is not None:
        lg_sut, destroy = lg.ConstructQDL(sut.issue_queries, sut.flush_queries, network_name), lg.DestroyQDL
    else:
        lg_sut, destroy = lg.ConstructSUT(sut.issue_queries, sut.flush_queries), lg.DestroySUT
    _phase(f"the LoadGen run of {spec.case_id}", step="run")
    if report is not None:
        report.running(sut, run_limits(settings, spec.scenario, spec.mode, store.total))
    started = time.time()
    # A cyclic-GC pass over everything set up so far can stall the SUT's
    # threads for milliseconds, in the middle of a latency-bound run: move
    # the set-up objects out of the GC's sight and collect only after it.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        # The case folder is fresh and empty: no stray audit.config applies.
        lg.StartTestWithLogSettings(lg_sut, qsl, settings, log_settings, "audit.config")
    finally:
        gc.enable()
        sut.stop()
        destroy(lg_sut)
        lg.DestroyQSL(qsl)
    if report is not None:
        report.finish()  # the final counts, before the result: the parent reads both once the child ends

    result = {
        "backend_info": (backend_info := backend.info()),
        # where inference ran, when not here (backends/remote.py, openai_endpoint.py)
        "sut_servers": backend_info.get("servers"),
        "calibration": calibration,
        "user_conf": {key: {"value": s.value, "origin": s.origin} for key, s in merged.items()},
        "loadgen_version": metadata.version("mlcommons-loadgen"),
        "run_seconds": time.time() - started,
        "sut_errors": sut.errors,
        "samples_total": store.total,
        "max_batchsize": spec.max_batchsize,
        "server_workers": workers if spec.scenario == "Server" else None,
        "frameworks": imported_frameworks(),
    }
    (out / RESULT_FILE).write_text(json.dumps(result, indent=2))
    if sut.errors:
        last = sut.errors[0].strip().splitlines()[-1]
        _write_error(f"the SUT ({spec.backend} on {spec.model_path}) raised during the run: {last} "
                     f"({len(sut.errors)} failed batch(es); their samples were answered empty)")
        return EXIT_SUT_ERROR
    return 0


# Import name -> distribution of the frameworks a run may import: results.json
# lists the ones this run did, at the versions it ran.
FRAMEWORK_DISTRIBUTIONS = {
    "onnxruntime": "onnxruntime", "torch": "torch", "tensorflow": "tensorflow-cpu", "ai_edge_litert": "ai-edge-litert",
    "openvino": "openvino", "tvm": "apache-tvm", "ray": "ray", "transformers": "transformers",
}


def imported_frameworks() -> dict:
    found = {}
    for module, distribution in FRAMEWORK_DISTRIBUTIONS.items():
        if module in sys.modules:
            try:
                found[distribution] = metadata.version(distribution)
            except metadata.PackageNotFoundError:  # a GPU build under another name: the module's own
                found[distribution] = str(getattr(sys.modules[module], "__version__", "unknown"))
    return found


def _limit_memory(megabytes: int | None) -> None:
    """--mlperf-memory-limit: an address-space limit, so running out is a MemoryError, not the OOM killer."""
    if megabytes:
        import resource

        limit = int(megabytes) << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _watch_parent() -> None:
    """End this run (its whole process group) if the process that launched it dies.

    The child runs in its own session so a terminal's Ctrl-C does not reach
    it; without this, a parent killed by SIGKILL would leave it running for
    as long as LoadGen takes, holding the cores (and the run lock).
    """
    import signal
    import threading

    expected = int(os.environ.get("MLPERF_PARENT_PID") or os.getppid())

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != expected:
                print(f"parent process {expected} is gone: ending this run", file=sys.stderr, flush=True)
                os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def one_line(exc: BaseException, where: str) -> str:
    """The error as one line that names the thing first: a path or option if the message starts with one."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    kind = type(exc).__name__
    if isinstance(exc, MemoryError):
        return f"{where}: out of memory ({kind}: {first or 'allocation failed'}); see --mlperf-memory-limit"
    if first.startswith(("/", "--", "run style")) or first.startswith(where):
        return f"{first} ({kind})"
    return f"{where}: {kind}: {first}" if first else f"{where}: {kind}"


def _write_error(line: str) -> None:
    try:
        Path(ERROR_FILE).write_text(line + "\n")
    except OSError:
        pass  # a full disk: the exit status and child.log still tell


def main(argv: list[str]) -> int:
    spec = RunSpec.read(Path(argv[0]))
    # LoadGen's issue thread needs the GIL for every query; with the default
    # 5 ms switch interval it can wait that long behind the inference thread,
    # which alone pushed Server p99 past 15 ms at a few thousand QPS.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    os.chdir(spec.output_dir)
    _watch_parent()
    report = _ProgressReport(Path(spec.output_dir), os.environ.get(PROGRESS_TOKEN_ENV, ""))
    report.start()
    try:
        _limit_memory(spec.memory_limit_mb)
        status = run(spec, report)
    except DeviceUnavailable as exc:
        # Not a failure of the harness: this machine lacks what the case needs.
        Path(UNAVAILABLE_FILE).write_text(f"{exc}\n")
        print(f"unavailable here: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNAVAILABLE
    except BaseException as exc:  # noqa: BLE001 - reported to the parent through error.txt, the log and exit code
        traceback.print_exc()
        sys.stderr.flush()
        _write_error(one_line(exc, f"model {spec.model_path}" if _PHASE["now"] == "load" else _PHASE["now"]))
        return EXIT_SETUP_ERROR
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
