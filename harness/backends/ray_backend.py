"""Ray backend: each batch split across Ray actors that each hold an ONNX Runtime session.

Options (``config.options``, from the registry's backend table):
- ``num_actors`` (default 2): actors, each one ONNX Runtime session with
  ``threads // num_actors`` intra-op threads and one Ray CPU.
- ``address`` (default none): connect to this running Ray cluster
  (``ray.init(address=...)``; a cluster with token auth needs RAY_AUTH_MODE=token
  and its RAY_AUTH_TOKEN in the environment); without it a local cluster is
  started for the run, with a per-run token, and ends with the process.
- ``spread`` (default true): each actor is pinned to a node chosen here
  (Ray's NodeAffinitySchedulingStrategy, hard): round-robin over the
  cluster's alive nodes that have CPUs, at most one actor per CPU of a node,
  so N actors on a cluster of N one-CPU nodes run one per node, and a head
  started with ``--num-cpus 0`` gets none. A cluster with fewer CPUs than
  ``num_actors`` is refused before any actor starts. ``false`` leaves
  placement to Ray's default scheduler, which prefers the driver's node
  (Ray's own SPREAD strategy is best effort only, hence the explicit one).
- ``min_chunk`` (default 8): the fewest samples sent to one actor; a batch
  goes to min(num_actors, batch // min_chunk) actors (at least one). Each
  Ray call costs ~3 ms on two cores, so splitting small batches only adds.
- ``object_store_mb`` (default 256): the local cluster's object store. A
  batch of 32 samples is 19 MB; Ray's default (30 % of RAM) would reserve GBs
  of /dev/shm on a 2-core CI machine.

The model travels to the actors as bytes through the object store, so a
remote cluster needs onnxruntime and numpy on its nodes, not this checkout or
the file path; the actor class is defined inside a function so cloudpickle
ships it by value. Each batch is put into the object store once and every
actor reads its rows from there in place. A local cluster listens on the
loopback address only, and Ray's usage-stats reporting is off: nothing
leaves the machine. ``info()`` names each actor's node (``actor_nodes``:
node id and IP, in actor order), the number of distinct nodes they run on
(``nodes``) and the cluster's alive nodes (``cluster_nodes``).
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import sys
import time
from pathlib import Path

import numpy as np

from .base import BackendConfig, BackendError, DeviceUnavailable, FrameworkMissing, ModelLoadError, Signature

DEFAULT_ACTORS = 2
DEFAULT_OBJECT_STORE_MB = 256
DEFAULT_MIN_CHUNK = 8
LOOPBACK = ("127.", "localhost", "[::1]")


def _ray(address: str | None):
    """Import Ray with its environment-driven settings chosen first (Ray reads them at import)."""
    # No usage reports to the internet.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if "ray" not in sys.modules:
        if address is None or address.startswith(LOOPBACK):
            # Linux Ray swaps 127.0.0.1 for the machine's routable address,
            # listens there, and cannot reach a head listening on loopback.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        if address is None and "RAY_AUTH_MODE" not in os.environ:
            # Ray's default for a new local cluster is token auth with a token
            # file written to ~/.ray; a per-run token in the environment
            # (inherited by the cluster's processes) leaves nothing behind.
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    try:
        import ray
    except ImportError as exc:
        raise FrameworkMissing("ray is not installed (pip install ray)") from exc
    return ray


def _worker_class(ray):
    """The actor class, built once Ray is imported (and pickled by value)."""

    @ray.remote(num_cpus=1)
    class OrtWorker:
        def __init__(self, model_bytes: bytes, outputs: list[str], threads: int):
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Never spin: the actors share the cores with the driver's LoadGen
            # and SUT threads, which a spinning pool starves.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
            self.outputs = outputs or [o.name for o in self.session.get_outputs()]
            self.threads = threads
            self.version = ort.__version__

        def signature(self) -> tuple[list[str], list[str]]:
            return [i.name for i in self.session.get_inputs()], [o.name for o in self.session.get_outputs()]

        def tensors(self) -> tuple[list, list]:
            """(name, ONNX Runtime type, shape) of every input and output."""
            def describe(args):
                return [(a.name, a.type, list(a.shape) if a.shape is not None else None) for a in args]
            return describe(self.session.get_inputs()), describe(self.session.get_outputs())

        def run(self, names: list[str], lo: int, hi: int, *arrays) -> list:
            # Ray resolves the ObjectRef arguments to read-only numpy views of
            # the object store (no copy); each actor reads only its rows.
            return self.session.run(self.outputs, {n: a[lo:hi] for n, a in zip(names, arrays)})

        def info(self) -> dict:
            import ray as _ray_in_actor

            return {
                "pid": os.getpid(),
                "node_id": _ray_in_actor.get_runtime_context().get_node_id(),
                "node_ip": _ray_in_actor.util.get_node_ip_address(),
                "execution_provider": self.session.get_providers()[0],
                "intra_op_threads": self.threads,
                "onnxruntime_version": self.version,
            }

    return OrtWorker


class RayBackend:
    name = "ray"
    layout = "NCHW"

    def __init__(self):
        self._actors: list = []
        self._config: BackendConfig | None = None
        self._next = 0

    @classmethod
    def probe(cls, device: str) -> str | None:
        # find_spec, not import: importing Ray takes 0.3 s and fixes its
        # environment-driven settings before load() can choose them.
        if importlib.util.find_spec("ray") is None:
            return "ray is not installed (pip install ray)"
        if importlib.util.find_spec("onnxruntime") is None:
            return "the Ray backend's actors run ONNX Runtime, which is not installed"
        if device != "cpu":
            return f"the Ray backend's actors run ONNX Runtime on CPU only, not {device}"
        return None

    def load(self, config: BackendConfig) -> None:
        reason = self.probe(config.device)
        if reason:
            raise DeviceUnavailable(reason)
        options = config.options
        address = options.get("address") or None
        num_actors = int(options.get("num_actors", DEFAULT_ACTORS))
        if num_actors < 1:
            raise ValueError(f"num_actors must be at least 1, got {num_actors}")
        spread = _flag(options, "spread", True)
        try:
            model_bytes = Path(config.model_path).read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"{config.model_path}: cannot read the model file ({exc})") from exc
        ray = _ray(address)
        started = time.perf_counter()
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=max(num_actors, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False,
                    object_store_memory=int(options.get("object_store_mb", DEFAULT_OBJECT_STORE_MB)) << 20,
                )
        init_s = time.perf_counter() - started
        threads = max(1, (config.threads or os.cpu_count() or 1) // num_actors)
        worker = _worker_class(ray)
        model_ref = ray.put(model_bytes)
        if spread:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            # soft=False: an actor runs on its node or not at all, never
            # silently beside another one.
            workers = [worker.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                       for node in _placement(ray, num_actors, address)]
        else:
            workers = [worker] * num_actors
        actors = [w.remote(model_ref, list(config.outputs), threads) for w in workers]
        try:
            signatures = ray.get([a.signature.remote() for a in actors])
        except ray.exceptions.RayActorError as exc:  # the session could not be built
            raise ModelLoadError(
                f"{config.model_path}: ONNX Runtime in the Ray actors cannot load this file; "
                f"expected an ONNX model ({exc})"
            ) from exc
        inputs, outputs = signatures[0]
        missing = [n for n in config.inputs if n not in inputs] + [n for n in config.outputs if n not in outputs]
        if missing:
            raise ModelLoadError(f"{config.model_path}: model has no tensor(s) {missing}; inputs {inputs}, outputs {outputs}")
        self._ray, self._actors, self._config = ray, actors, config
        self._signature = _signature(*ray.get(actors[0].tensors.remote()), model_path=config.model_path,
                                     precision=config.precision)
        # A model whose batch is a fixed number runs only whole batches: never split one.
        self._whole_batches = any(shape and shape[0] is not None for _, shape in self._signature.inputs.values())
        self._address, self._threads, self._spread = address, threads, spread
        self._min_chunk = max(1, int(options.get("min_chunk", DEFAULT_MIN_CHUNK)))
        self._startup_s = {"ray_init": init_s, "to_actors_ready": time.perf_counter() - started}

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        names = list(feed)
        batch = len(feed[names[0]])
        # Each Ray call costs milliseconds: a batch is split only into chunks
        # of at least min_chunk samples (Server's and SingleStream's small
        # batches go to one actor, in turn).
        parts = 1 if self._whole_batches else max(1, min(len(self._actors), batch // self._min_chunk))
        bounds = np.linspace(0, batch, parts + 1).astype(int)
        # One copy of the batch into the object store, whatever the split.
        refs = [self._ray.put(feed[n]) for n in names]
        start, self._next = self._next, (self._next + parts) % len(self._actors)
        futures = [
            self._actors[(start + i) % len(self._actors)].run.remote(names, int(lo), int(hi), *refs)
            for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))
        ]
        results = self._ray.get(futures)  # in submission order, so the batch order is kept
        if parts == 1:
            return results[0]
        return [np.concatenate([r[i] for r in results]) for i in range(len(results[0]))]

    def signature(self) -> Signature:
        return self._signature

    def info(self) -> dict:
        workers = self._ray.get([a.info.remote() for a in self._actors])
        return {
            "backend": self.name,
            "device": self._config.device,
            "precision": self._config.precision,
            "execution_provider": workers[0]["execution_provider"],
            "num_actors": len(self._actors),
            "min_chunk": self._min_chunk,
            "cluster": self._address or "local",
            "spread": self._spread,
            "nodes": len({w["node_id"] for w in workers}),
            "actor_nodes": [{"node_id": w["node_id"], "node_ip": w["node_ip"]} for w in workers],
            "cluster_nodes": sum(1 for n in self._ray.nodes() if n["Alive"]),
            "node_ip": self._ray.util.get_node_ip_address(),
            "intra_op_threads": self._threads,
            "actors": workers,
            "startup_s": self._startup_s,
            "framework_version": self._ray.__version__,
            "onnxruntime_version": workers[0]["onnxruntime_version"],
        }


def _flag(options: dict, name: str, default: bool) -> bool:
    value = options.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"Ray backend option {name!r} must be true or false, got {value!r}")


def _placement(ray, num_actors: int, address: str | None) -> list[str]:
    """The node id for each actor: round-robin over alive nodes with CPUs, one actor per CPU at most."""
    # Sorted by id, so the same cluster gives the same placement run after run.
    nodes = sorted((n["NodeID"], int(n["Resources"].get("CPU", 0))) for n in ray.nodes() if n["Alive"])
    free = {node: cpus for node, cpus in nodes if cpus >= 1}
    if sum(free.values()) < num_actors:
        # Each actor holds one Ray CPU: with fewer, the rest would wait for
        # CPUs that never come and load() would hang. A failure, not a skip:
        # the options ask for more than the cluster named has.
        raise BackendError(
            f"num_actors = {num_actors} needs {num_actors} Ray CPUs (one per actor), but the cluster "
            f"{address or '(local)'} has {sum(free.values())} on {len(free)} alive node(s) with CPUs; "
            "lower num_actors or add nodes")
    placement: list[str] = []
    while len(placement) < num_actors:
        for node in free:
            if free[node] and len(placement) < num_actors:
                placement.append(node)
                free[node] -= 1
    return placement


def _signature(inputs: list, outputs: list, *, model_path, precision: str) -> Signature:
    # plain numpy module: no onnxruntime import here
    from .onnxruntime_backend import ORT_DTYPES, batch_dependence

    def table(rows):
        return {name: (ORT_DTYPES.get(kind, kind), None if shape is None else
                       [d if isinstance(d, int) and d >= 0 else None for d in shape]) for name, kind, shape in rows}
    # as the ONNX Runtime backend decides it, on the driver's copy of the file
    return Signature(inputs=table(inputs), outputs=table(outputs),
                     batch_dependence=batch_dependence(model_path, precision))
