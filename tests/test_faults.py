"""Faults in a run's child process: each becomes a failure whose first line says what happened.

Real LoadGen runs of the resnet50 proxy, broken on purpose from outside (a
signal, a memory limit, a full disk) or by a backend that misbehaves
(tests/fault_backends.py); the SUT exception and hang cases live in
test_mutations.py, signals to the session in test_interrupts.py.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.registry import load_registry
from harness.runner import RunFailed
from harness.runner.spec import WATCHDOG_FILE

BENCH = load_registry()["resnet50"]


def _case(backend: str, scenario="SingleStream", mode="performance") -> Case:
    return Case("resnet50", backend, "cpu", "fp32", scenario, mode)


def _once_running(out: Path, action, timeout_s: float = 120.0) -> threading.Thread:
    """Call ``action(child pid)`` once the run's child has started LoadGen (watchdog.json written)."""

    def watch():
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (out / WATCHDOG_FILE).exists():
                pid = _child_pid(out)
                if pid:
                    action(pid)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _child_pid(out: Path) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "harness.runner.child" in cmdline and str(out) in cmdline:
                return int(entry)
    return None


def test_a_child_killed_mid_run_fails_saying_so(proxy_resnet50, tmp_path, fault_backends_on_path):
    out = tmp_path / "killed"
    watcher = _once_running(out, lambda pid: os.kill(pid, signal.SIGKILL))
    with pytest.raises(RunFailed) as info:
        execute_case(_case("fault_backends:SlowBackend"), BENCH, proxy_resnet50, RunOptions(timeout_s=120), out)
    watcher.join(timeout=5)
    assert "the child process was killed (SIGKILL): out of memory, if the kernel's OOM killer sent it" in info.value.summary
    assert info.value.summary.startswith("resnet50-fault_backends:SlowBackend-cpu-fp32-SingleStream-performance")
    assert str(out / "child.log") in str(info.value)


def test_a_child_out_of_memory_under_its_limit_fails_saying_so(proxy_resnet50, tmp_path, fault_backends_on_path):
    out = tmp_path / "oom"
    with pytest.raises(RunFailed) as info:
        execute_case(_case("fault_backends:MemoryHungryBackend", "Offline", "accuracy"), BENCH, proxy_resnet50,
                     RunOptions(timeout_s=120, memory_limit_mb=4096), out)
    summary = info.value.summary
    assert summary.startswith(f"model {proxy_resnet50.model_path}: out of memory (MemoryError"), summary
    assert "--mlperf-memory-limit" in summary
    assert "Traceback" not in str(info.value) and "MemoryError" in (out / "child.log").read_text()


def _small_filesystem(path: Path, size_kb: int) -> bool:
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                          capture_output=True, timeout=30)
    return done.returncode == 0


def test_a_disk_full_while_loadgen_writes_its_logs_fails_naming_it(proxy_resnet50, tmp_path):
    disk = tmp_path / "disk"
    mounted = _small_filesystem(disk, 64)
    out = disk / "case"
    limit = None
    if not mounted:
        # No small file system here: a file size limit (inherited by the child) stands in for it.
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, limit[1]))
    try:
        with pytest.raises(RunFailed) as info:
            execute_case(_case("onnxruntime", "Offline", "accuracy"), BENCH, proxy_resnet50, RunOptions(timeout_s=120), out)
    finally:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)
    summary = info.value.summary
    if mounted:
        assert "No space left on device" in summary or "has only 0 bytes free (disk full?)" in summary, summary
    else:
        assert "SIGXFSZ" in summary or "File too large" in summary, summary
    assert summary.startswith(("the LoadGen run of", f"{out}", "resnet50-onnxruntime")), summary


def test_a_cache_entry_corrupted_or_deleted_between_sessions_is_rebuilt_or_named_offline(pytester, tmp_path):
    import numpy as np

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "suites" / "test_mlperf.py", pytester.path / "test_mlperf.py")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    cache = tmp_path / "cache"
    select = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-device", "cpu",
              "--mlperf-precision", "fp32", "--mlperf-scenario", "Offline", "--mlperf-mode", "accuracy",
              "--mlperf-count", "64", "--mlperf-cache", str(cache))

    def session(name, *extra):
        return pytester.runpytest_subprocess(*select, "--mlperf-output", str(tmp_path / name), *extra)

    assert session("first").ret == 0
    (staged,) = cache.glob("preprocessed/imagenet-*/samples.npy")
    # altered in place, size unchanged: the samples of every image are now zero
    samples = np.load(staged, mmap_mode="r+")
    samples[:] = 0
    samples.flush()
    del samples
    offline = session("offline", "--mlperf-offline")
    assert offline.ret == pytest.ExitCode.TESTS_FAILED
    offline.stdout.fnmatch_lines([f"*{staged.parent}*--mlperf-offline*"])
    rebuilt = session("rebuilt")
    assert rebuilt.ret == 0, rebuilt.stdout.str()
    assert np.load(staged, mmap_mode="r").any()  # rebuilt from the images, not the zeros
    shutil.rmtree(staged.parent)  # deleted between sessions
    assert session("again").ret == 0 and staged.exists()
