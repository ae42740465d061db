"""TensorFlow backend: a SavedModel folder or a frozen GraphDef (.pb), NHWC.

The real MLPerf TensorFlow ResNet50 (``resnet50_v1.pb``) is a frozen graph
with tensors ``input_tensor:0``, ``ArgMax:0`` and ``softmax_tensor:0``; the
embedded proxy is a SavedModel whose ``serving_default`` signature takes
``input_tensor`` and returns ``ArgMax`` and ``softmax_tensor``. Both become one
eager callable (array in, outputs in ``config.outputs`` order out).

Reduced precision is TensorFlow's own graph rewrite (grappler's auto mixed
precision) of the fp32 model, and only counts when it provably happened: the
outputs of a fixed probe batch must differ from the untouched fp32 graph's.
"""
from __future__ import annotations

import importlib.util
import os
from importlib import metadata
from pathlib import Path

import numpy as np

from .base import BackendConfig, BackendError, DeviceUnavailable, FrameworkMissing, ModelLoadError, Signature, SilentFallback

SIGNATURE = "serving_default"
DEVICES = {"cpu": "/CPU:0", "cuda": "/GPU:0", "rocm": "/GPU:0"}
# precision -> (device it is offered on, grappler option that rewrites the fp32 graph)
MIXED_PRECISION = {
    "bf16": ("cpu", "auto_mixed_precision_onednn_bfloat16"),  # oneDNN bf16 (AVX512_BF16 / AMX)
    "fp16": ("cuda", "auto_mixed_precision"),  # float16 on Volta and newer GPUs
}
EXPECTED_FORMATS = ("a SavedModel folder (saved_model.pb and variables/) or a frozen GraphDef .pb file "
                    "(tensors such as input_tensor:0, ArgMax:0)")
_CPU_ONLY_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow-intel", "intel-tensorflow")
_INSTALL = "tensorflow is not installed (pip install tensorflow-cpu, or tensorflow[and-cuda])"


def _tf():
    # Before the first import, or TensorFlow logs its start-up chatter.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise FrameworkMissing(_INSTALL) from exc
    return tf


def _distributions() -> dict[str, str]:
    found = {}
    for name in ("tensorflow", "tensorflow-rocm", *_CPU_ONLY_DISTRIBUTIONS):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


class TensorFlowBackend:
    name = "tensorflow"
    layout = "NHWC"
    # A concrete function may be called from several threads at once.
    concurrent_predict = True
    # Its pools are sized once per process (_set_threads): loading again
    # with fewer threads changes nothing, so the Server SUT does not reload.
    threads_set_per_load = False

    def __init__(self):
        self._run = None
        self._config: BackendConfig | None = None
        self._info: dict = {}

    @classmethod
    def probe(cls, device: str) -> str | None:
        if importlib.util.find_spec("tensorflow") is None:
            return _INSTALL
        if device == "cpu":
            return None
        if device == "tpu":
            return ("the TensorFlow backend does not drive TPUs: that needs tf.distribute.TPUStrategy with libtpu "
                    "on a Cloud TPU VM")
        if device not in DEVICES:
            return f"TensorFlow has no device {device!r}"
        dists = _distributions()
        # Decided from the installed distribution first: importing TensorFlow
        # (3-4 s) only to learn that tensorflow-cpu has no GPU is wasted.
        if dists and all(name in _CPU_ONLY_DISTRIBUTIONS for name in dists):
            name, version = next(iter(dists.items()))
            return (f"{name} {version} is a CPU-only build (install tensorflow[and-cuda] for cuda, "
                    "tensorflow-rocm for rocm)")
        tf = _tf()
        build = tf.sysconfig.get_build_info()
        wanted = "is_cuda_build" if device == "cuda" else "is_rocm_build"
        if not build.get(wanted):
            kind = "CUDA" if device == "cuda" else "ROCm"
            return f"TensorFlow {tf.__version__} here is not a {kind} build ({dict(build)})"
        if not tf.config.list_physical_devices("GPU"):
            return f"TensorFlow {tf.__version__} sees no GPU (driver, CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES?)"
        return None

    def load(self, config: BackendConfig) -> None:
        tf = _tf()
        threads = self._set_threads(tf, config.threads or os.cpu_count() or 1)
        reason = self.probe(config.device)
        if reason:
            raise DeviceUnavailable(reason)
        option = self._mixed_precision_option(config)
        path = Path(config.model_path)
        device = DEVICES[config.device]
        # Grappler's options are process-wide and apply to functions made
        # after they are set: every load starts from plain fp32, so an earlier
        # load in this process cannot leak its precision into this one.
        tf.config.optimizer.set_experimental_options({name: False for _, name in MIXED_PRECISION.values()})
        reference = None
        if option:
            # The untouched fp32 graph first: the evidence that the rewrite ran.
            reference = [t.numpy() for t in self._probe(path, self._open(tf, path, config, device), config)]
            tf.config.optimizer.set_experimental_options({option: True})
        model = self._open(tf, path, config, device)
        outputs = self._probe(path, model, config)
        where = self._check_placement(tf, outputs, device)
        precision_mode = "float32"
        if option:
            diff = max(float(np.max(np.abs(a.astype(np.float64) - t.numpy().astype(np.float64))))
                       for a, t in zip(reference, outputs))
            if diff == 0.0:
                need = ("oneDNN bfloat16 needs a CPU with AVX512_BF16 or AMX and oneDNN on (TF_ENABLE_ONEDNN_OPTS "
                        "not 0)" if config.precision == "bf16"
                        else "float16 needs a GPU of compute capability 7.0 or newer")
                raise SilentFallback(
                    f"asked TensorFlow for {config.precision} on {config.device}, but grappler's {option} did not "
                    f"rewrite the graph (outputs identical to fp32): {need}"
                )
            precision_mode = (f"grappler {option}: mixed {config.precision}/float32, "
                              f"max output change vs fp32 {diff:.3g}")
        self._run, self._config = model.run(config.outputs), config
        self._input, self._input_shape, self._seen_shape = config.inputs[0], model.input_shape, None
        self._signature = model.signature
        self._info = {
            "backend": self.name,
            "device": config.device,
            "tf_device": where,
            "precision": config.precision,
            "precision_mode": precision_mode,
            "model_format": model.format,
            "intra_op_threads": threads,
            "intra_op_threads_requested": config.threads or os.cpu_count() or 1,
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "framework_version": tf.__version__,
        }

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = feed[self._input]
        if x.shape != self._seen_shape:
            # A signature accepts a wrongly shaped batch (NCHW fed to this NHWC
            # model gave an empty ArgMax, not an error): checked once per shape.
            check_input_shape(x.shape, self._input_shape, self._config.model_path)
            self._seen_shape = x.shape
        return [t.numpy() for t in self._run(x)]

    def info(self) -> dict:
        return dict(self._info)

    def signature(self) -> Signature:
        return self._signature

    # -- loading -----------------------------------------------------------

    @staticmethod
    def _set_threads(tf, threads: int) -> int:
        """Set the pools' sizes; return the intra-op size in force (0: TensorFlow's default, one per core)."""
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)  # the graphs here are one chain of ops
        except RuntimeError:
            # The runtime already started in this process (a second load, or
            # TensorFlow used before, as in unit tests): its pools are fixed
            # and info() reports the size in force. The harness loads first
            # thing in a fresh process per case, so there the setting holds.
            pass
        return tf.config.threading.get_intra_op_parallelism_threads()

    @staticmethod
    def _mixed_precision_option(config: BackendConfig) -> str | None:
        if config.precision == "fp32":
            return None
        offered = MIXED_PRECISION.get(config.precision)
        if offered is None or offered[0] != config.device:
            combos = ", ".join(f"{p} on {d}" for p, (d, _) in MIXED_PRECISION.items())
            raise BackendError(
                f"the TensorFlow backend has no {config.precision} on {config.device}: it runs fp32 models, "
                f"rewritten by grappler only for {combos}"
            )
        return offered[1]

    @staticmethod
    def _open(tf, path: Path, config: BackendConfig, device: str) -> "_Model":
        if path.is_dir() and (path / "saved_model.pb").is_file():
            return _saved_model(tf, path, config, device)
        if path.is_file() and path.name == "saved_model.pb":
            return _saved_model(tf, path.parent, config, device)
        if path.is_file() and path.suffix == ".pb":
            return _frozen_graph(tf, path, config, device)
        raise ModelLoadError(f"{path}: the TensorFlow backend cannot load this; expected {EXPECTED_FORMATS}")

    # -- checks ------------------------------------------------------------

    @staticmethod
    def _probe(path: Path, model: "_Model", config: BackendConfig) -> list:
        """Every contract output the model has, for a fixed batch of two in the model's input shape."""
        names = list(config.outputs) + [n for n in config.contract_outputs
                                        if n not in config.outputs and model.has_output(n)]
        shape = [2 if d is None else d for d in model.input_shape]
        x = np.random.default_rng(0).normal(0.0, 60.0, shape).astype(np.float32)
        try:
            return model.run(names)(x)
        except Exception as exc:  # TensorFlow raises many classes; the message says which
            raise ModelLoadError(f"{path}: the model does not run on a float32 batch of shape {shape} "
                                 f"({type(exc).__name__}: {exc})") from exc

    @staticmethod
    def _check_placement(tf, outputs: list, device: str) -> list[str]:
        # Eager TensorFlow places ops softly: asked for /GPU:0 without a usable
        # GPU it runs on the CPU without a word. Where the outputs live is
        # where the graph's last ops ran.
        wanted = tf.DeviceSpec.from_string(device).device_type
        where = sorted({t.device for t in outputs})
        if any(tf.DeviceSpec.from_string(d).device_type != wanted for d in where):
            raise SilentFallback(f"asked TensorFlow for {device}, but the outputs were computed on {where}")
        return where


class _Model:
    """A loaded model: ``run(output names)`` gives a callable array -> tensors."""

    def __init__(self, fmt: str, run, has_output, input_shape, keep=None, signature: Signature | None = None):
        self.format, self.run, self.has_output = fmt, run, has_output
        self.input_shape = tuple(input_shape)  # None where the dimension is free (the batch)
        self._keep = keep  # a signature does not keep its SavedModel's variables alive
        self.signature = signature  # the declared tensors, under the harness's names


def _spec(dtype, shape) -> tuple[str, list | None]:
    """A TensorFlow dtype and TensorShape -> (NumPy dtype name, dims with None where free)."""
    return np.dtype(dtype.as_numpy_dtype).name, (shape.as_list() if shape.rank is not None else None)


def _saved_model(tf, folder: Path, config: BackendConfig, device: str) -> _Model:
    try:
        with tf.device(device):  # variables are restored onto the device asked for
            loaded = tf.saved_model.load(str(folder))
    except Exception as exc:  # TensorFlow raises several unrelated classes for a bad folder
        raise ModelLoadError(f"{folder}: TensorFlow cannot load this SavedModel; expected {EXPECTED_FORMATS} "
                             f"({type(exc).__name__}: {exc})") from exc
    signature = loaded.signatures.get(SIGNATURE)
    if signature is None:
        raise ModelLoadError(f"{folder}: no {SIGNATURE!r} signature; it has {sorted(loaded.signatures)}")
    inputs, outputs = sorted(signature.structured_input_signature[1]), sorted(signature.structured_outputs)
    # The harness names tensors as in the frozen graph ("input_tensor:0"); a
    # signature names them without the output index.
    wanted_in = _strip(config.inputs[0])
    if wanted_in not in inputs:
        raise ModelLoadError(f"{folder}: signature {SIGNATURE!r} has no input {wanted_in!r}; it has {inputs}")
    missing = [n for n in config.outputs if _strip(n) not in outputs]
    if missing:
        raise ModelLoadError(f"{folder}: signature {SIGNATURE!r} has no output(s) {missing}; it has {outputs}")

    def run(names):
        keys = [_strip(n) for n in names]

        def call(x):
            with tf.device(device):
                result = signature(**{wanted_in: _tensor(tf, x)})
            return [result[k] for k in keys]
        return call

    spec_in = signature.structured_input_signature[1][wanted_in]
    declared = signature.structured_outputs
    tensors = Signature(
        inputs={config.inputs[0]: _spec(spec_in.dtype, spec_in.shape)},
        outputs={n: _spec(declared[_strip(n)].dtype, declared[_strip(n)].shape)
                 for n in (*config.contract_outputs, *config.outputs) if _strip(n) in declared},
    )
    shape = spec_in.shape.as_list()
    return _Model("SavedModel", run, lambda name: _strip(name) in outputs, shape, keep=loaded, signature=tensors)


def _frozen_graph(tf, path: Path, config: BackendConfig, device: str) -> _Model:
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as exc:  # protobuf's DecodeError
        raise ModelLoadError(f"{path}: not a GraphDef protobuf; expected {EXPECTED_FORMATS} ({exc})") from exc
    if not graph_def.node:
        raise ModelLoadError(f"{path}: the GraphDef has no nodes; expected {EXPECTED_FORMATS}")

    def import_graph():
        tf.compat.v1.import_graph_def(graph_def, name="")

    try:
        with tf.device(device):
            wrapped = tf.compat.v1.wrap_function(import_graph, [])
    except Exception as exc:
        raise ModelLoadError(f"{path}: TensorFlow cannot import this graph ({type(exc).__name__}: {exc})") from exc
    graph = wrapped.graph
    ops = {op.name for op in graph.get_operations()}
    missing = [n for n in (*config.inputs, *config.outputs) if n.split(":")[0] not in ops]
    if missing:
        raise ModelLoadError(f"{path}: the graph has no tensor(s) {missing}; expected the MLPerf names "
                             "(input_tensor:0, ArgMax:0, softmax_tensor:0)")
    feeds = [graph.get_tensor_by_name(n) for n in config.inputs]

    def run(names):
        pruned = wrapped.prune(feeds=feeds, fetches=[graph.get_tensor_by_name(n) for n in names])

        def call(x):
            with tf.device(device):
                return pruned(_tensor(tf, x))
        return call

    # A placeholder without a shape: assume the MLPerf NHWC contract.
    shape = feeds[0].shape.as_list() if feeds[0].shape.rank is not None else [None, 224, 224, 3]
    fetchable = [n for n in (*config.contract_outputs, *config.outputs) if n.split(":")[0] in ops]
    tensors = Signature(
        inputs={config.inputs[0]: _spec(feeds[0].dtype, feeds[0].shape)},
        outputs={n: _spec(graph.get_tensor_by_name(n).dtype, graph.get_tensor_by_name(n).shape) for n in fetchable},
    )
    return _Model("frozen GraphDef", run, lambda name: name.split(":")[0] in ops, shape, signature=tensors)


def check_input_shape(shape: tuple, expected: tuple, model_path) -> None:
    """Raise ValueError naming both shapes unless ``shape`` fits ``expected`` (None/-1: any)."""
    if len(shape) != len(expected) or any(e not in (None, -1, s) for s, e in zip(shape, expected)):
        want = "[" + ",".join("N" if e in (None, -1) else str(e) for e in expected) + "]"
        raise ValueError(f"input shape mismatch: got a batch of shape {list(shape)}, but {model_path} takes {want} "
                         "(is the data staged in the model's layout, NHWC?)")


def _tensor(tf, x: np.ndarray):
    """The batch as a TensorFlow tensor, without a copy where that is safe.

    tf.constant copies the whole batch (1.5 ms for 32 samples, as long as the
    model itself takes). DLPack shares the memory instead, but TensorFlow's
    kernels assume 64-byte aligned buffers and abort the process on others,
    so only an aligned C-contiguous float32 array goes that way (and a
    writable one: NumPy exports no read-only array through legacy DLPack).
    """
    if x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable and x.ctypes.data % 64 == 0:
        return tf.experimental.dlpack.from_dlpack(x.__dlpack__())
    return tf.constant(x)


def _strip(tensor_name: str) -> str:
    """'input_tensor:0' -> 'input_tensor' (a signature's name for it)."""
    return tensor_name[:-2] if tensor_name.endswith(":0") else tensor_name
