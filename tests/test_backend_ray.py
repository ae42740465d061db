"""Ray backend: batches spread over ONNX Runtime actors, end to end.

Every run starts its own local Ray cluster (about 4 s), unless
MLPERF_RAY_ADDRESS names a running cluster: then the same tests run against it
(its nodes need onnxruntime and numpy; the model travels as bytes).
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pytest

from harness.backends import BackendConfig, BackendError, ModelLoadError, backend_class
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
    # spread is the default: every actor pinned to a node, and each one named
    assert info["spread"] is True and len(info["actor_nodes"]) == 3
    assert [a["node_id"] for a in info["actor_nodes"]] == [a["node_id"] for a in info["actors"]]
    if not ADDRESS:
        assert info["node_ip"] == "127.0.0.1"  # a local cluster stays on the loopback address
        assert info["cluster_nodes"] == info["nodes"] == 1
        assert {a["node_ip"] for a in info["actor_nodes"]} == {"127.0.0.1"}


def test_more_actors_than_the_cluster_has_cpus_is_refused(ray_session):
    _load(RESNET50_PROXY_ONNX, num_actors=1)  # the cluster, if this test runs first
    cpus = int(sys.modules["ray"].cluster_resources()["CPU"])
    # refused before any actor starts, rather than waiting for CPUs that never come
    with pytest.raises(BackendError, match=f"num_actors = {cpus + 1} needs {cpus + 1} Ray CPUs"):
        _load(RESNET50_PROXY_ONNX, num_actors=cpus + 1)


def test_placement_is_round_robin_over_nodes_with_cpus():
    """Which node each actor is pinned to, from a cluster's node table as `ray.nodes()` gives it.

    Ray's default scheduler often spreads two actors over two nodes too, so
    the cluster test below alone would not show the placement is chosen.
    """
    from harness.backends.ray_backend import _placement

    def node(node_id, cpus, alive=True):
        return {"NodeID": node_id, "Alive": alive, "Resources": {"CPU": cpus} if cpus else {}}
    table = [node("head", 0), node("b", 4), node("a", 4), node("gone", 8, alive=False), node("c", 1)]
    cluster = types.SimpleNamespace(nodes=lambda: table)
    assert _placement(cluster, 2, "x:1") == ["a", "b"]  # not both on a node with room for four
    # c's one CPU taken, the rest alternate; the head (no CPUs) and the dead node never
    assert _placement(cluster, 6, "x:1") == ["a", "b", "c", "a", "b", "a"]
    with pytest.raises(BackendError, match=r"num_actors = 10 needs 10 Ray CPUs .* cluster x:1 has 9 on 3"):
        _placement(cluster, 10, "x:1")


def test_spread_must_be_true_or_false():
    with pytest.raises(ValueError, match="'spread' must be true or false, got 'yes'"):
        _load(RESNET50_PROXY_ONNX, spread="yes")


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
        _end_groups([head])
        shutil.rmtree(temp_dir, ignore_errors=True)


HEAD_IP, WORKER_IPS = "127.0.0.2", ("127.0.0.3", "127.0.0.4")

# Lists the cluster's alive nodes once it has `want` of them: run as its own
# process, a driver of its own, so this test process never imports Ray (the
# in-process tests above keep their own local cluster in it).
_WAIT_FOR_NODES = """
import json, sys, time
import ray
address, want, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ray.init(address=address, log_to_driver=False)
deadline = time.monotonic() + limit
while True:
    alive = [n for n in ray.nodes() if n["Alive"]]
    if len(alive) >= want or time.monotonic() > deadline:
        break
    time.sleep(0.2)
print(json.dumps([{"node_id": n["NodeID"], "ip": n["NodeManagerAddress"], "cpus": n["Resources"].get("CPU", 0),
                   "head": "node:__internal_head__" in n["Resources"]} for n in alive]))
"""


def _start_node(ray_cli: Path, args: list[str], ip: str, temp_dir: Path, log: Path, env: dict) -> subprocess.Popen:
    """One `ray start --block` node at a loopback address, in a process group of its own."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(ray_cli), "start", "--block", *args, f"--node-ip-address={ip}", "--include-log-monitor=false",
             # the agent's default port is fixed (52365): two nodes on one host would clash
             "--dashboard-agent-listen-port=0", "--object-store-memory", str(128 << 20),
             "--temp-dir", str(temp_dir)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def _end_groups(nodes: list[subprocess.Popen]) -> None:
    """SIGTERM each node's process group, wait, then SIGKILL whatever of a group is left.

    By group id, never `ray stop`, which would end every Ray process on the machine.
    """
    for node in nodes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for node in nodes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.wait(timeout=max(0.1, deadline - time.monotonic()))
        # the raylet's workers and agents are in the group too and may outlive `ray start`
        while time.monotonic() < deadline and _group_alive(node.pid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)
        node.wait()


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (a zombie no one reaps does not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # fields after the command's closing parenthesis: state, ppid, pgrp
            state, _, group = stat.read_text().rpartition(")")[2].split()[:3]
            if int(group) == pgid and state != "Z":
                return True
    return False


@pytest.mark.slow
def test_actors_spread_over_two_worker_nodes(proxy_resnet50, tmp_path, monkeypatch):
    """A head with no CPUs and two one-CPU worker nodes, `ray start` processes at loopback addresses.

    The run's two actors must land one on each worker node, never on the
    head: the backend pins each to a node (spread = true, its default).
    """
    ray_cli = Path(sys.executable).parent / "ray"
    assert ray_cli.exists(), "the ray package installs a `ray` command beside the interpreter"
    for ip in (HEAD_IP, *WORKER_IPS):
        with socket.socket() as probe:
            try:
                probe.bind((ip, 0))
            except OSError as exc:
                pytest.skip(f"the nodes need the loopback address {ip}, which this host cannot bind ({exc})")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    # Linux Ray refuses a second node (`ray start --address`) unless
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER is 1, and with 1 it swaps 127.0.0.1
    # (as a node's address and in --address) for the machine's routable
    # address, but not 127.0.0.2 and the like: each node gets a loopback
    # address of its own. The driver attaches to the head's raylet whatever
    # its address. With 1, Ray's servers listen on every interface (only a
    # node at exactly 127.0.0.1 listens on loopback alone): the token guards
    # them while the test runs.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}
    # short: Ray's unix socket paths under them must stay below 107 characters
    temp_dirs = [Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp")) for _ in range(3)]
    logs = [tmp_path / f"{name}.log" for name in ("head", "worker1", "worker2")]
    nodes: list[subprocess.Popen] = []

    def log_tails() -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}" for log in logs if log.exists())

    try:
        # --num-cpus=0: no actor can be placed on the head
        nodes.append(_start_node(ray_cli, ["--head", "--port=0", "--num-cpus=0", "--include-dashboard=false"],
                                 HEAD_IP, temp_dirs[0], logs[0], env))
        address_file = temp_dirs[0] / "ray_current_cluster"
        deadline = time.monotonic() + 60
        while not address_file.exists() and nodes[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert address_file.exists(), f"the Ray head did not start (exit status {nodes[0].poll()})\n{log_tails()}"
        address = address_file.read_text().strip()
        assert address.startswith(f"{HEAD_IP}:"), address
        for ip, temp_dir, log in zip(WORKER_IPS, temp_dirs[1:], logs[1:]):
            nodes.append(_start_node(ray_cli, [f"--address={address}", "--num-cpus=1"], ip, temp_dir, log, env))

        listing = subprocess.run([sys.executable, "-c", _WAIT_FOR_NODES, address, "3", "45"], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert listing.returncode == 0, f"{listing.stderr[-3000:]}\n{log_tails()}"
        alive = json.loads(listing.stdout.strip().splitlines()[-1])
        assert len(alive) == 3, f"the cluster has {len(alive)} alive nodes, expected 3: {alive}\n{log_tails()}"
        heads = {n["node_id"] for n in alive if n["head"]}
        workers = {n["node_id"] for n in alive if n["cpus"] >= 1}
        assert len(heads) == 1 and len(workers) == 2 and not heads & workers, alive
        assert sorted(n["ip"] for n in alive if n["node_id"] in workers) == list(WORKER_IPS), alive

        result = _run(proxy_resnet50, "Offline", "accuracy", tmp_path / "acc", address=address, num_actors=2)
        assert result.passed, result.failures
        assert result.accuracy.value >= result.accuracy.threshold
        info = result.child.result["backend_info"]
        assert info["cluster"] == address and info["spread"] is True
        assert info["cluster_nodes"] == 3 and info["nodes"] == 2
        actor_nodes = [a["node_id"] for a in info["actor_nodes"]]
        assert sorted(actor_nodes) == sorted(workers) and not heads & set(actor_nodes), (actor_nodes, alive)
        assert sorted(a["node_ip"] for a in info["actor_nodes"]) == list(WORKER_IPS), info["actor_nodes"]
    finally:
        _end_groups(nodes)
        for temp_dir in temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)
    assert not any(_group_alive(node.pid) for node in nodes), "a Ray process outlived the test"
