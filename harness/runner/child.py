"""Child-process entry point: one LoadGen run, then exit.

LoadGen keeps one process-wide logger and loads its built-in mlperf.conf only
once per process, so every run gets a fresh process (see launch.py).
Exit status: 0 ran to the end, 3 the SUT raised (samples were completed empty),
4 the run could not start (bad model, settings, ...).
"""
from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

import numpy as np

from .. import settings as conf
from ..backends import BackendConfig, DeviceUnavailable, backend_class
from ..tasks import make_task
from .calibrate import calibrate, calibrate_generation, prefers_single_views, targets, warm_batch_sizes
from .contract import check_contract
from .generation_sut import GENERATION_SUTS
from .responses import Completer
from .samples import LayoutView, SampleStore
from .launch import EXIT_UNAVAILABLE, UNAVAILABLE_FILE
from .spec import RESULT_FILE, RunSpec
from .sut import SUTS

SWITCH_INTERVAL_S = 1e-4
EXIT_SUT_ERROR = 3
EXIT_SETUP_ERROR = 4

_BUILTIN_KEYS = (
    "min_duration", "max_duration", "min_query_count", "max_query_count",
    "performance_sample_count_override", "target_qps", "target_latency", "samples_per_query",
)


def _default_threads(scenario: str) -> int:
    """Server leaves one core to LoadGen's issue thread; the rest, all cores."""
    cores = os.cpu_count() or 1
    return max(1, cores - 1) if scenario == "Server" else cores


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
    return merged, builtin


def run(spec: RunSpec) -> int:
    import mlperf_loadgen as lg

    out = Path(spec.output_dir)
    task = make_task(spec.task, **spec.task_options)
    backend = backend_class(spec.backend)()
    backend.load(
        BackendConfig(
            model_path=Path(spec.model_path), device=spec.device, precision=spec.precision,
            threads=spec.threads or spec.backend_options.get("intra_op_threads") or _default_threads(spec.scenario),
            inputs=task.inputs, outputs=task.outputs,
            contract_outputs=task.contract_outputs,
            # Server's threads share the cores with the backend's pool: no spinning.
            options={"spin": spec.scenario != "Server", **spec.backend_options},
        )
    )
    source = np.load(spec.samples_path, mmap_mode="r")
    if spec.count:
        source = source[: spec.count]
    source = LayoutView(source, spec.layout)
    # Before anything runs: the model's tensors against the task's contract;
    # a fixed batch size becomes the max batch (padded to, for a batch > 1).
    backend, spec.max_batchsize = check_contract(backend, task, source, spec.max_batchsize, model=spec.model_path,
                                                 explicit=spec.max_batchsize_given)
    generative = getattr(task, "generative", False)
    if generative:
        calibration = calibrate_generation(backend, task, source, spec.max_batchsize)
    else:
        calibration = calibrate(backend, task, source, spec.max_batchsize)
        if spec.scenario == "Server":
            warm_batch_sizes(backend, task, source, spec.max_batchsize)

    merged, builtin = _resolve_settings(lg, spec, calibration)
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

    store = SampleStore(source)
    suts = GENERATION_SUTS if generative else SUTS
    sut = suts[spec.scenario](store, backend, task, spec.max_batchsize, Completer(lg))
    sut.split_gathers = not generative and prefers_single_views(calibration)
    qsl = lg.ConstructQSL(store.total, min(spec.performance_sample_count, store.total), store.load, store.unload)
    lg_sut = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
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
        lg.DestroySUT(lg_sut)
        lg.DestroyQSL(qsl)

    result = {
        "backend_info": backend.info(),
        "calibration": calibration,
        "user_conf": {key: {"value": s.value, "origin": s.origin} for key, s in merged.items()},
        "loadgen_version": metadata.version("mlcommons-loadgen"),
        "run_seconds": time.time() - started,
        "sut_errors": sut.errors,
        "samples_total": store.total,
        "max_batchsize": spec.max_batchsize,
    }
    (out / RESULT_FILE).write_text(json.dumps(result, indent=2))
    return EXIT_SUT_ERROR if sut.errors else 0


def main(argv: list[str]) -> int:
    spec = RunSpec.read(Path(argv[0]))
    # LoadGen's issue thread needs the GIL for every query; with the default
    # 5 ms switch interval it can wait that long behind the inference thread,
    # which alone pushed Server p99 past 15 ms at a few thousand QPS.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    os.chdir(spec.output_dir)
    try:
        return run(spec)
    except DeviceUnavailable as exc:
        # Not a failure of the harness: this machine lacks what the case needs.
        Path(UNAVAILABLE_FILE).write_text(f"{exc}\n")
        print(f"unavailable here: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNAVAILABLE
    except Exception:  # noqa: BLE001 - reported to the parent through the log and exit code
        traceback.print_exc()
        sys.stderr.flush()
        return EXIT_SETUP_ERROR


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
