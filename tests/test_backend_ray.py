"""Ray backend: batches spread over ONNX Runtime actors, end to end.

Every run starts its own local Ray cluster (about 4 s), unless
MLPERF_RAY_ADDRESS names a running cluster: then the same tests run against it
(its nodes need onnxruntime and numpy; the model travels as bytes).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from harness.backends import BackendConfig, ModelLoadError, backend_class
from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.proxies import RESNET50_PROXY_ONNX
from harness.registry import load_registry

# find_spec, not importorskip: Ray reads its address settings when imported,
# and the backend chooses them (loopback) before importing it.
if importlib.util.find_spec("ray") is None:
    pytest.skip("ray is not installed (pip install ray)", allow_module_level=True)
ort = pytest.importorskip("onnxruntime", reason="the Ray actors run ONNX Runtime")

BENCH = load_registry()["resnet50"]
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"
ADDRESS = os.environ.get("MLPERF_RAY_ADDRESS") or None


def _options(**extra):
    return {**({"address": ADDRESS} if ADDRESS else {}), **extra}


@pytest.fixture(scope="module")
def ray_session():
    """One Ray cluster for the in-process tests of this module, shut down after them.

    The backend sets RAY_* variables in this process (loopback, auth token):
    they are put back so later runs start from the environment they had.
    """
    saved = {k: v for k, v in os.environ.items() if k.startswith("RAY_")}
    yield
    if "ray" in sys.modules:
        sys.modules["ray"].shutdown()
    for key in [k for k in os.environ if k.startswith("RAY_")]:
        del os.environ[key]
    os.environ.update(saved)


def _load(model: Path, **options):
    backend = backend_class("ray")()
    backend.load(BackendConfig(model_path=model, threads=2, inputs=(INPUT,), outputs=(ARGMAX, SOFTMAX),
                               contract_outputs=(ARGMAX, SOFTMAX), options=_options(**options)))
    return backend


def test_probe_is_cpu_only():
    cls = backend_class("ray")
    assert cls.layout == "NCHW"
    assert cls.probe("cpu") is None
    assert "CPU only" in cls.probe("cuda")


def test_a_batch_split_over_three_actors_comes_back_in_order(ray_session):
    backend = _load(RESNET50_PROXY_ONNX, num_actors=3, min_chunk=1)
    x = np.random.default_rng(11).uniform(-120, 130, size=(7, 3, 224, 224)).astype(np.float32)
    argmax, softmax = backend.predict({INPUT: x})
    ref_argmax, ref_softmax = ort.InferenceSession(str(RESNET50_PROXY_ONNX), providers=["CPUExecutionProvider"]).run(
        [ARGMAX, SOFTMAX], {INPUT: x})
    np.testing.assert_array_equal(argmax, ref_argmax)
    np.testing.assert_allclose(softmax, ref_softmax, rtol=1e-5, atol=1e-7)
    (single,) = backend.predict({INPUT: x[3:4]})[:1]  # fewer samples than actors
    assert single.tolist() == ref_argmax[3:4].tolist()
    info = backend.info()
    assert info["num_actors"] == 3 and len({a["pid"] for a in info["actors"]}) == 3
    assert info["execution_provider"] == "CPUExecutionProvider" and info["cluster"] == (ADDRESS or "local")
    if not ADDRESS:
        assert info["node_ip"] == "127.0.0.1"  # a local cluster stays on the loopback address


def test_a_file_onnx_runtime_cannot_load_names_the_file(ray_session, tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ModelLoadError, match="expected an ONNX model") as info:
        _load(bad, num_actors=1)
    assert str(bad) in str(info.value)


def _run(prov, scenario, mode, out, **options):
    prov = dataclasses.replace(prov, backend_options=_options(**options))
    return execute_case(Case("resnet50", "ray", "cpu", "fp32", scenario, mode), BENCH, prov,
                        RunOptions(timeout_s=180), out)


def test_accuracy_offline_passes_the_gate(proxy_resnet50, tmp_path):
    result = _run(proxy_resnet50, "Offline", "accuracy", tmp_path / "acc")
    assert result.passed, result.failures
    assert result.accuracy.value >= result.accuracy.threshold
    info = result.child.result["backend_info"]
    assert info["backend"] == "ray" and info["num_actors"] == 2


def test_performance_offline_is_valid(proxy_resnet50, tmp_path):
    result = _run(proxy_resnet50, "Offline", "performance", tmp_path / "perf")
    assert result.passed, result.failures
    assert result.performance["result_validity"] == "VALID"


@pytest.mark.slow
def test_connects_to_a_running_cluster_by_address(proxy_resnet50, tmp_path, monkeypatch):
    """A head node started with `ray start --block` on the loopback address; the run connects to it.

    The head runs in its own process group, ended by that group's id (never
    `ray stop`, which would end every Ray process on the machine).
    """
    ray_cli = Path(sys.executable).parent / "ray"
    assert ray_cli.exists(), "the ray package installs a `ray` command beside the interpreter"
    # token auth as Ray clusters have it by default; the run (a child process) inherits the token
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    # loopback, no usage reports, and on SIGTERM stop at once (Ray drains for 30 s by default)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    # short: Ray's unix socket paths under it must stay below 107 characters
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--port=0", "--num-cpus=2", "--include-dashboard=false",
         "--object-store-memory", str(256 << 20), "--temp-dir", str(temp_dir)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        address_file = temp_dir / "ray_current_cluster"
        deadline = time.monotonic() + 60
        while not address_file.exists() and head.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert address_file.exists(), f"the Ray head did not start (exit status {head.poll()})"
        address = address_file.read_text().strip()
        result = _run(proxy_resnet50, "Offline", "accuracy", tmp_path / "acc", address=address)
        assert result.passed, result.failures
        assert result.child.result["backend_info"]["cluster"] == address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
        shutil.rmtree(temp_dir, ignore_errors=True)
