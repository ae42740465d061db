"""The dlrm-v2 family without the runner: registry entry, committed proxies, model contract, accuracy.

A small driver below answers the staged samples through the task and
writes a LoadGen-format accuracy log, which the family's scorer reads, so
accuracy is checked the way a run checks it.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the proxy's reference is measured through ONNX Runtime")
pytest.importorskip("sklearn", reason="the AUC is sklearn's roc_auc_score, as accuracy-dlrm.py computes it")

from harness.backends.base import BackendConfig, ModelContractError  # noqa: E402
from harness.datasets.base import DatasetRequest  # noqa: E402
from harness.provision import model_options  # noqa: E402
from harness.registry.loader import load_family  # noqa: E402
from harness.registry.parts import dataset_format, resolve, scorer, task_class  # noqa: E402
from harness.runner.contract import check_contract  # noqa: E402
from harness.staging import Volumes  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "dlrm"
PROXY = FAMILY_DIR / "proxy"
RECORD = json.loads((PROXY / "proxy.json").read_text())


def family(module: str):
    """A module of the family, imported as the registry imports it.

    Called at test time, not at import: in its staging folder pytest also collects the family
    folder as a package, and once it has, the registry imports the family under that name.
    """
    return sys.modules[resolve(f"{module}:__name__", FAMILY_DIR)]


@pytest.fixture(scope="module")
def layout():
    return family("layout")


@pytest.fixture(scope="module")
def Task():  # noqa: N802 - the task class
    return family("task").ClickThroughRate


@pytest.fixture(scope="module")
def AucScorer():  # noqa: N802 - the scorer class
    return family("scorer").AucScorer


@pytest.fixture(scope="module")
def benchmarks():
    return {bench.name: bench for bench in load_family(FAMILY_DIR / "benchmark.toml")}


@pytest.fixture(scope="module")
def bench(benchmarks):
    return benchmarks["dlrm-v2-99"]


@pytest.fixture(scope="module")
def prepared(bench, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp().parent / "mlperf-cache"  # shared with the suite's runs
    fmt = dataset_format(bench)
    return fmt.prepare(fmt.proxy_directory(bench, cache), DatasetRequest(cache_dir=cache))


@pytest.fixture(scope="module")
def volumes(prepared):
    return Volumes(prepared.samples_path)


def load_backend(bench, kind: str, task):
    if kind == "onnxruntime":
        from harness.backends.onnxruntime_backend import OnnxRuntimeBackend as cls
    else:
        pytest.importorskip("torch", reason="the state-dict proxy runs on PyTorch")
        from harness.backends.pytorch_backend import PyTorchBackend as cls
    support = bench.backends[kind]
    backend = cls()
    backend.load(BackendConfig(PROXY / support.proxy_models["fp32"], threads=1, inputs=task.inputs,
                               outputs=task.outputs, contract_outputs=task.contract_outputs,
                               options=model_options(bench, kind, "fp32", "proxy")[0]))
    return backend


@pytest.fixture(scope="module")
def ort(bench, Task):  # noqa: N803
    return load_backend(bench, "onnxruntime", Task)


def write_accuracy_log(task, backend, volumes, path: Path, per_call: int = 64) -> Path:
    """The small driver: the staged samples through ``task.run``, ``per_call`` at a time (as an
    Offline batch), each response logged as LoadGen logs it: uppercase hex of its bytes."""
    entries = []
    for first in range(0, len(volumes), per_call):
        indices = np.arange(first, min(first + per_call, len(volumes)))
        for index, response in zip(indices, task.run(backend, [volumes[int(i)] for i in indices], indices)):
            entries.append({"seq_id": len(entries), "qsl_idx": int(index), "data": response.tobytes().hex().upper()})
    path.write_text(json.dumps(entries))
    return path


# ------------------------------------------------------------- the registry
def test_the_registry_holds_mlperfs_facts_for_both_variants(benchmarks):
    assert sorted(benchmarks) == ["dlrm-v2-99", "dlrm-v2-99.9"]
    thresholds = {"dlrm-v2-99": 79.5069, "dlrm-v2-99.9": 80.22969}
    for name, bench in benchmarks.items():
        assert bench.checker_name == name and bench.conf_model == "dlrm-v2"
        assert bench.scenarios == ("Offline", "Server") and bench.server_latency_ms == 60
        assert (bench.dataset_size, bench.performance_sample_count, bench.offline_min_samples_per_query) == \
            (330067, 204800, 24576)
        assert bench.compliance == ("TEST01",) and bench.modes("Offline") == ("accuracy", "performance", "TEST01")
        assert (bench.accuracy.metric, bench.accuracy.unit, bench.accuracy.reference) == ("AUC", "percent", 80.31)
        assert bench.accuracy.threshold() == pytest.approx(thresholds[name], abs=1e-6)
        assert bench.response_dtype == "float32"
        # the proxy's reference is its own measurement, far above chance (50)
        assert bench.proxy.reference == RECORD["reference_auc"] >= 75.0 > RECORD["chance_auc"] == 50.0
        assert bench.unsupported_reason("onnxruntime", "cpu", "fp32", "Offline") is None
        assert bench.unsupported_reason("pytorch", "cpu", "fp32", "Server") is None
        assert "no SingleStream" in bench.unsupported_reason("onnxruntime", "cpu", "fp32", "SingleStream")
        for backend, device, precision in (("onnxruntime", "cuda", "fp32"), ("pytorch", "cpu", "bf16"),
                                           ("tensorflow", "cpu", "fp32"), ("pytorch", "tpu", "fp32")):
            assert bench.unsupported_reason(backend, device, precision, "Offline")
        assert bench.test_style["Offline"]["min_query_count"] >= 1024


def test_the_registry_parts_are_the_family_s_classes(bench, Task, AucScorer):  # noqa: N803
    assert task_class(bench) is Task
    assert type(dataset_format(bench)).__name__ == "MultihotCriteoFormat"
    truth = family("truth").ClickTruth(Path("x"), np.zeros(2, np.int8), np.array([0, 2]))
    assert isinstance(scorer(bench, truth, dtype="float32"), AucScorer)


# ------------------------------------------------------------- the committed proxies
def test_the_committed_files_are_the_recorded_ones_and_small():
    total = 0
    for name, digest in RECORD["files"].items():
        data = (PROXY / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{name}: rebuild with build_proxy.py"
        total += len(data)
    assert total < 2_000_000


def test_the_onnx_model_takes_the_staged_features_with_a_free_row_axis(layout):
    import onnx

    model = onnx.load(str(PROXY / "dlrm_proxy.onnx"))
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17

    def describe(value):
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        return value.name, onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type), dims

    (dense, dense_type, dense_dims), (sparse, sparse_type, sparse_dims) = map(describe, model.graph.input)
    (out, out_type, out_dims), = map(describe, model.graph.output)
    assert (dense, dense_type, dense_dims[1:]) == ("dense", np.float32, [13])
    assert (sparse, sparse_type, sparse_dims[1:]) == ("sparse", np.int32, [sum(layout.PROXY_MULTI_HOT)])
    assert (out, out_type, len(out_dims)) == ("probability", np.float32, 1)
    assert all(isinstance(d[0], str) for d in (dense_dims, sparse_dims, out_dims))  # rows: free


def test_the_pooled_lookup_is_26_sum_embedding_bags(layout):
    torch = pytest.importorskip("torch", reason="TinyDLRM is a PyTorch module")
    model = family("model").TinyDLRM().eval()
    rng = np.random.default_rng(0)
    ids = np.concatenate([rng.integers(0, n, (5, h)) for n, h in zip(layout.PROXY_TABLE_SIZES,
                                                                     layout.PROXY_MULTI_HOT)], axis=1)
    ids = torch.from_numpy(ids.astype(np.int32))
    pooled = torch.matmul(model.pool, model.table(ids.long() + model.shift))
    column, first_row = 0, 0
    for k, (rows, hot) in enumerate(zip(layout.PROXY_TABLE_SIZES, layout.PROXY_MULTI_HOT)):
        weights = model.table.weight[first_row: first_row + rows]
        bag = torch.nn.functional.embedding_bag(ids[:, column: column + hot].long(), weights, mode="sum")
        torch.testing.assert_close(pooled[:, k], bag, rtol=1e-5, atol=1e-6)
        column, first_row = column + hot, first_row + rows


def test_the_onnx_and_torch_proxies_agree(bench, ort, volumes, Task):  # noqa: N803
    torch_backend = load_backend(bench, "pytorch", Task)
    task = Task()
    batch, indices = [volumes[i] for i in range(10)], np.arange(10)
    for from_ort, from_torch in zip(task.run(ort, batch, indices), task.run(torch_backend, batch, indices)):
        np.testing.assert_allclose(from_ort, from_torch, atol=1e-5)


def test_the_proxy_fits_the_task_contract_and_a_wider_multi_hot_does_not(ort, volumes, layout, Task):  # noqa: N803
    assert check_contract(ort, Task(), volumes, 2048, model="dlrm_proxy.onnx") == (ort, 2048)
    wider = [np.zeros((3, 13 + sum(layout.PROXY_MULTI_HOT) + 1), np.int32)]  # one more id a row
    with pytest.raises(ModelContractError, match=r"input 'sparse' has shape \[N, 67\].*expected \[N, 68\] int32"):
        check_contract(ort, Task(), wider, 2048, model="dlrm_proxy.onnx")


# ------------------------------------------------------------- accuracy
def test_the_proxy_reaches_its_reference_through_the_task(bench, ort, volumes, prepared, tmp_path, Task,  # noqa: N803
                                                          AucScorer):
    log = write_accuracy_log(Task(), ort, volumes, tmp_path / "mlperf_log_accuracy.json")
    scored = AucScorer(prepared.truth).score(log)
    auc = scored.values["AUC"]
    assert auc == pytest.approx(bench.proxy.reference, abs=0.01)
    assert auc >= bench.proxy.reference * 0.999  # the tighter variant's gate
    assert scored.lines[0] == RECORD["official_line"]
    assert (scored.answered, scored.dataset_total) == (len(volumes), len(volumes))


def test_scores_in_reverse_row_order_fall_below_the_gate(bench, ort, volumes, prepared, tmp_path, Task,  # noqa: N803
                                                         AucScorer):
    log = write_accuracy_log(Task(reverse_rows=True), ort, volumes, tmp_path / "mlperf_log_accuracy.json")
    auc = AucScorer(prepared.truth).score(log).values["AUC"]
    assert auc < 0.99 * bench.proxy.reference
    assert auc == pytest.approx(RECORD["mutations"]["reverse_rows=True"], abs=0.01)


def test_responses_are_one_float32_score_per_row_and_chunking_changes_none(ort, volumes, Task):  # noqa: N803
    batch, indices = [volumes[i] for i in (3, 4, 5)], np.array([3, 4, 5])
    whole = Task().run(ort, batch, indices)
    chunked = Task(rows_per_call=7).run(ort, batch, indices)
    for sample, scores, again in zip(batch, whole, chunked):
        assert scores.dtype == np.float32 and scores.flags.c_contiguous and scores.shape == (len(sample),)
        assert ((0 < scores) & (scores < 1)).all()
        np.testing.assert_allclose(scores, again, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected int32 \[rows, 13 \+ multi-hot ids\]"):
        Task().feed(np.zeros((2, 80), np.float32))
