"""Shared helpers for the suite's own tests."""
from __future__ import annotations

from pathlib import Path

import pytest

# pytester (the `suite` fixtures) puts sys.modules back as it was after each
# test. A module with a pybind11 / protobuf C extension that a test imported
# in between (onnx, through provisioning) is then imported a second time in
# the same process, and that aborts the interpreter ("Fatal Python error:
# Aborted" in onnx/__init__.py), taking an xdist worker down with it. Loaded
# once here, before any snapshot, it stays loaded.
try:
    import onnx  # noqa: F401
except ImportError:  # the ONNX tests skip with their reason
    pass

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def proxy_resnet50(tmp_path_factory):
    """The embedded resnet50 proxy, provisioned into a per-session cache."""
    from harness.provision import provision
    from harness.registry import load_registry

    cache = tmp_path_factory.getbasetemp().parent / "mlperf-cache"
    return provision(load_registry()["resnet50"], "onnxruntime", "fp32", cache_dir=cache)


@pytest.fixture(scope="session")
def nhwc_reference_samples(proxy_resnet50):
    """The first 64 preprocessed val samples, NHWC float32, with ONNX Runtime's answers and the labels."""
    import numpy as np

    from harness.proxies import RESNET50_PROXY_ONNX

    ort = pytest.importorskip("onnxruntime", reason="the comparison needs the ONNX proxy's runtime")
    nchw = np.ascontiguousarray(np.load(proxy_resnet50.samples_path, mmap_mode="r")[:64])
    session = ort.InferenceSession(str(RESNET50_PROXY_ONNX), providers=["CPUExecutionProvider"])
    argmax, softmax = session.run(["ArgMax:0", "softmax_tensor:0"], {"input_tensor:0": nchw})
    return np.ascontiguousarray(nchw.transpose(0, 2, 3, 1)), argmax, softmax, proxy_resnet50.evaluation.labels[:64]


@pytest.fixture
def fault_backends_on_path(monkeypatch):
    """Child processes can import tests/fault_backends.py as ``fault_backends``."""
    import os

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))


# machine_to_itself: the test does not hold the lock shared, so that it can take it exclusively
NESTED_SESSION_FIXTURES = {"nested_run_lock", "suite", "cached_suite", "machine_to_itself"}


def pytest_collection_modifyitems(items):
    """A test running a session of its own lets that session take the run lock (activation.py)."""
    for item in items:
        if NESTED_SESSION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.mlperf_nested_session)


@pytest.fixture
def nested_run_lock(request, monkeypatch):
    """The inner session's LoadGen runs take this session's run lock: its performance
    runs then have the machine to themselves, as this session's own do."""
    from harness.pytest_plugin.collection import mlperf_config
    from harness.runner.runlock import LOCK_ENV, lock_path

    monkeypatch.setenv(LOCK_ENV, str(lock_path(mlperf_config(request.config).cache_dir)))


@pytest.fixture
def suite(pytester, nested_run_lock):
    """An inner pytest session holding the benchmark suite, as a user runs it."""
    import shutil

    shutil.copy(TESTS_DIR.parent / "suites" / "test_mlperf.py", pytester.path / "test_mlperf.py")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester


@pytest.fixture
def cached_suite(pytester, proxy_resnet50, tmp_path_factory, nested_run_lock):
    """The inner session as a user runs it, on the resnet50 proxy provisioned once for the whole run."""
    import shutil

    shutil.copy(TESTS_DIR.parent / "suites" / "test_mlperf.py", pytester.path / "test_mlperf.py")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\njunit_family = xunit1\n")
    pytester.cache_dir = tmp_path_factory.getbasetemp().parent / "mlperf-cache"
    return pytester


@pytest.fixture
def machine_to_itself(request):
    """This session's run lock held exclusively, as an MLPerf performance case holds it: the
    session's other tests (which hold it shared) wait, so the latency bound measures this run."""
    from harness.pytest_plugin.activation import is_active
    from harness.pytest_plugin.collection import mlperf_config
    from harness.runner.runlock import run_lock

    if not is_active(request.config):
        yield
        return
    with run_lock(mlperf_config(request.config).cache_dir, exclusive=True):
        yield
