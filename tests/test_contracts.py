"""The model contract (harness/runner/contract.py): a model whose inputs or
outputs differ from what the task feeds and reads fails before calibration,
naming the file, what it has and what was expected; a model with a fixed
batch size runs, and is only ever fed that batch size."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from harness.backends import BackendConfig, BackendError, ModelContractError
from harness.backends.fixed_batch import FixedBatchBackend
from harness.backends.onnxruntime_backend import OnnxRuntimeBackend
from harness.proxies import RESNET50_PROXY_ONNX
from harness.runner.calibrate import calibrate, warm_batch_sizes
from harness.runner.contract import check_contract
from harness.runner.samples import LayoutView
from harness.benchmarks.bert.task import QuestionAnswering
from harness.benchmarks.resnet50.task import ImageClassification

BATCH_SIZES_FILE = "batch_sizes.json"  # written by tests/contract_backends.py


# ---------------------------------------------------------------- models


def proxy_variant(path, *, batch=None, hw=None):
    """The resnet50 proxy with its input's batch fixed and/or its spatial size changed."""
    model = onnx.load(str(RESNET50_PROXY_ONNX))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if batch is not None:
        dims[0].ClearField("dim_param")
        dims[0].dim_value = batch
    if hw is not None:
        dims[2].dim_value = dims[3].dim_value = hw
    onnx.save(model, str(path))
    return path


def tiny_classifier(path, *, dtype=TensorProto.FLOAT, classes=1001):
    """A model of our own with the MLPerf ResNet50 names: mean colour -> class scores."""
    nodes = []
    source = "input_tensor:0"
    if dtype != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [source], ["as_float"], to=TensorProto.FLOAT))
        source = "as_float"
    weights = np.random.default_rng(0).normal(size=(3, classes)).astype(np.float32)
    nodes += [
        helper.make_node("ReduceMean", [source], ["colour"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["colour", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["softmax_tensor:0"], axis=1),
        helper.make_node("ArgMax", ["softmax_tensor:0"], ["ArgMax:0"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input_tensor:0", dtype, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("ArgMax:0", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("softmax_tensor:0", TensorProto.FLOAT, ["N", classes])],
        initializer=[onnx.numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def ort(path, task=None):
    task = task or ImageClassification()
    backend = OnnxRuntimeBackend()
    backend.load(BackendConfig(model_path=path, threads=1, inputs=task.inputs, outputs=task.outputs,
                               contract_outputs=task.contract_outputs))
    return backend


@pytest.fixture(scope="module")
def staged():
    """Samples as the child stages them (NCHW float32), random values: the contract reads shapes only."""
    return LayoutView(np.random.default_rng(1).normal(size=(12, 3, 224, 224)).astype(np.float32), "NCHW")


# ------------------------------------------------------- what passes


@pytest.mark.parametrize("name", ["resnet50_proxy.onnx", "resnet50_proxy_fp16.onnx", "resnet50_proxy_int8.onnx"])
def test_the_proxy_models_meet_the_contract(name, staged):
    backend = ort(RESNET50_PROXY_ONNX.parent / name)
    assert check_contract(backend, ImageClassification(), staged, 32, model=name) == (backend, 32)


def test_the_bert_proxy_meets_the_question_answering_contract():
    from harness.proxies import PROXY_DIR

    task = QuestionAnswering()
    samples = np.zeros((4, 3, 384), dtype=np.int64)  # staged as the SQuAD format stages them
    backend = ort(PROXY_DIR / "bert" / "bert_proxy.onnx", task)
    assert check_contract(backend, task, samples, 32, model="bert_proxy.onnx") == (backend, 32)


def test_a_1000_wide_class_output_is_accepted(tmp_path, staged):
    """torchvision's layout (no background class, offset 0) is a real model too."""
    path = tiny_classifier(tmp_path / "thousand.onnx", classes=1000)
    backend = ort(path)
    assert check_contract(backend, ImageClassification(class_offset=0), staged, 32, model=str(path))[1] == 32


def test_without_a_signature_or_a_task_contract_nothing_is_checked(staged):
    class NoSignature:
        layout = "NCHW"

    backend = NoSignature()
    assert check_contract(backend, ImageClassification(), staged, 7, model="m") == (backend, 7)

    class NoContract:
        model_contract = None

    ort_backend = ort(RESNET50_PROXY_ONNX)
    assert check_contract(ort_backend, NoContract(), staged, 7, model="m") == (ort_backend, 7)


# ---------------------------------------------------- what does not


def _contract_error(path, staged, task=None, max_batchsize=32, explicit=False, starts=None) -> str:
    with pytest.raises(ModelContractError) as info:
        check_contract(ort(path, task), task or ImageClassification(), staged, max_batchsize, model=str(path),
                       explicit=explicit)
    assert isinstance(info.value, BackendError)
    message = str(info.value)
    assert message.startswith(starts or f"{path}: ") and "\n" not in message
    return message


def test_a_spatial_shape_that_differs_names_both_shapes(tmp_path, staged):
    path = proxy_variant(tmp_path / "small.onnx", hw=192)
    message = _contract_error(path, staged)
    assert "input 'input_tensor:0' has shape [N, 3, 192, 192], dtype float32" in message
    assert "expected [N, 3, 224, 224] float32 (the staged samples, NCHW)" in message


def test_a_layout_that_differs_names_both_shapes(staged):
    """NHWC samples (a TensorFlow-style backend's staging) against this NCHW model."""
    nhwc = LayoutView(staged.source, "NHWC")
    message = _contract_error(RESNET50_PROXY_ONNX, nhwc)
    assert "has shape [N, 3, 224, 224]" in message and "expected [N, 224, 224, 3]" in message


def test_an_input_dtype_that_differs_names_both(tmp_path, staged):
    path = tiny_classifier(tmp_path / "half_input.onnx", dtype=TensorProto.FLOAT16)
    message = _contract_error(path, staged)
    assert "input 'input_tensor:0' has shape [N, 3, 224, 224], dtype float16; expected [N, 3, 224, 224] float32" in message


def test_a_class_count_that_differs_names_both(tmp_path, staged):
    path = tiny_classifier(tmp_path / "eleven.onnx", classes=11)
    message = _contract_error(path, staged)
    assert "output 'softmax_tensor:0' has shape [N, 11], dtype float32" in message
    assert "expected [N, 1001] or [N, 1000] float32/float16" in message
    assert "1000 classes plus the background class 0" in message


def test_the_class_count_comes_from_the_task(tmp_path, staged):
    """A ten-class benchmark (num_classes from its registry task options) takes an 11-wide output."""
    path = tiny_classifier(tmp_path / "eleven.onnx", classes=11)
    assert check_contract(ort(path), ImageClassification(num_classes=10), staged, 32, model=str(path))[1] == 32


def test_question_answering_inputs_that_differ_name_the_sequence_length():
    from harness.proxies import PROXY_DIR

    task = QuestionAnswering()
    samples = np.zeros((4, 3, 256), dtype=np.int64)  # features built for a 256-token model
    path = PROXY_DIR / "bert" / "bert_proxy.onnx"
    message = _contract_error(path, samples, task)
    assert "input 'input_ids' has shape [N, 384], dtype int64; expected [N, 256] int64" in message


def test_the_registry_declares_imagenets_class_count():
    from harness.registry import load_registry

    assert load_registry()["resnet50"].task_options["num_classes"] == 1000


# ------------------------------------------------------- fixed batch


def test_a_fixed_batch_of_one_becomes_the_max_batch(tmp_path, staged):
    path = proxy_variant(tmp_path / "batch1.onnx", batch=1)
    backend = ort(path)
    assert check_contract(backend, ImageClassification(), staged, 32, model=str(path)) == (backend, 1)
    assert check_contract(backend, ImageClassification(), staged, 1, model=str(path), explicit=True) == (backend, 1)


def test_an_explicit_max_batch_above_a_fixed_batch_names_both(tmp_path, staged):
    path = proxy_variant(tmp_path / "batch1.onnx", batch=1)
    message = _contract_error(path, staged, max_batchsize=32, explicit=True, starts="--mlperf-max-batchsize 32, ")
    assert message == (f"--mlperf-max-batchsize 32, but {path} fixes its batch to 1 (input 'input_tensor:0' has "
                       "shape [1, 3, 224, 224]): pass --mlperf-max-batchsize 1, or leave it out to use the model's batch")


def test_an_explicit_max_batch_below_a_fixed_batch_is_an_error(tmp_path, staged):
    path = proxy_variant(tmp_path / "batch4.onnx", batch=4)
    with pytest.raises(ModelContractError, match=r"--mlperf-max-batchsize 2, but .*batch4.onnx fixes its batch to 4"):
        check_contract(ort(path), ImageClassification(), staged, 2, model=str(path), explicit=True)


def test_a_fixed_batch_above_one_is_padded_and_the_padding_dropped(tmp_path, staged):
    path = proxy_variant(tmp_path / "batch4.onnx", batch=4)
    inner = ort(path)
    backend, max_batch = check_contract(inner, ImageClassification(), staged, 32, model=str(path))
    assert max_batch == 4 and isinstance(backend, FixedBatchBackend)
    reference = ort(RESNET50_PROXY_ONNX)
    batch = np.ascontiguousarray(staged[:3])
    argmax, = backend.predict({"input_tensor:0": batch})  # three samples, run as four
    assert argmax.shape == (3,)
    np.testing.assert_array_equal(argmax, reference.predict({"input_tensor:0": batch})[0])
    with pytest.raises(BackendError, match="a batch of 5 samples for a model whose batch is fixed to 4"):
        backend.predict({"input_tensor:0": np.ascontiguousarray(staged[:5])})
    assert backend.info()["fixed_batch"] == 4


class _Recorder:
    """Records the batch sizes calibration feeds; answers like a classifier."""

    layout = "NCHW"

    def __init__(self):
        self.sizes: set[int] = set()

    def predict(self, feed):
        n = len(feed["input_tensor:0"])
        self.sizes.add(n)
        return [np.zeros(n, dtype=np.int64)]


@pytest.mark.parametrize("max_batchsize", [1, 3])
def test_calibration_never_feeds_more_than_the_max_batch(staged, max_batchsize):
    backend = _Recorder()
    calibration = calibrate(backend, ImageClassification(), staged, max_batchsize)  # MultiStream's 8 too
    warm_batch_sizes(backend, ImageClassification(), staged, max_batchsize)
    assert max(backend.sizes) == max_batchsize and calibration["batch"] == max_batchsize


# ------------------------------------------------ real LoadGen runs


def _fixed_case(scenario, mode="accuracy"):
    from harness.matrix import Case

    return Case("resnet50", "contract_backends:BatchRecordingBackend", "cpu", "fp32", scenario, mode)


@pytest.mark.parametrize("scenario", ["Offline", "Server", "SingleStream", "MultiStream"])
def test_a_model_with_batch_fixed_to_one_runs_every_scenario_at_batch_one(
        scenario, proxy_resnet50, tmp_path, fault_backends_on_path):
    from harness.case_run import execute_case
    from harness.options import RunOptions
    from harness.registry import load_registry

    model = proxy_variant(tmp_path / "batch1.onnx", batch=1)
    prov = dataclasses.replace(proxy_resnet50, model_path=model)
    out = tmp_path / scenario
    # The registry's max batch (32) is no explicit choice: the model's batch wins.
    result = execute_case(_fixed_case(scenario), load_registry()["resnet50"], prov, RunOptions(count=96), out)
    assert result.passed, result.failures
    assert result.child.result["max_batchsize"] == 1 and result.child.result["samples_total"] == 96
    # calibration, the Server warm-up and every query: batch 1 only (ORT also
    # refuses any other batch for this file, so a bigger one would fail the run)
    assert json.loads((out / BATCH_SIZES_FILE).read_text()) == [1]


def test_a_fixed_batch_of_four_pads_the_last_offline_batch(proxy_resnet50, tmp_path, fault_backends_on_path):
    from harness.case_run import execute_case
    from harness.options import RunOptions
    from harness.registry import load_registry

    model = proxy_variant(tmp_path / "batch4.onnx", batch=4)
    prov = dataclasses.replace(proxy_resnet50, model_path=model)
    out = tmp_path / "b4"
    result = execute_case(_fixed_case("Offline"), load_registry()["resnet50"], prov, RunOptions(count=94), out)
    assert result.passed, result.failures  # every one of the 94 samples answered, none of the padding
    assert result.child.result["max_batchsize"] == 4
    assert result.child.result["backend_info"]["fixed_batch"] == 4
    assert json.loads((out / BATCH_SIZES_FILE).read_text()) == [4]


def test_an_explicit_max_batch_the_model_cannot_take_fails_in_one_line(proxy_resnet50, tmp_path, fault_backends_on_path):
    from harness.case_run import execute_case
    from harness.options import RunOptions
    from harness.registry import load_registry
    from harness.runner import RunFailed

    model = proxy_variant(tmp_path / "batch1.onnx", batch=1)
    prov = dataclasses.replace(proxy_resnet50, model_path=model)
    with pytest.raises(RunFailed) as info:
        execute_case(_fixed_case("Offline"), load_registry()["resnet50"], prov,
                     RunOptions(count=16, max_batchsize=8), tmp_path / "explicit")
    assert f"--mlperf-max-batchsize 8, but {model} fixes its batch to 1" in info.value.summary
    assert "ModelContractError" in info.value.summary


# ------------------------------------------------ other backends' signatures


def _load(backend_name, path, precision="fp32"):
    from harness.backends import backend_class

    cls = backend_class(backend_name)
    reason = cls.probe("cpu")
    if reason:
        pytest.skip(reason)
    task = ImageClassification()
    backend = cls()
    backend.load(BackendConfig(model_path=path, threads=1, inputs=task.inputs, outputs=task.outputs,
                               contract_outputs=task.contract_outputs))
    return backend


@pytest.mark.parametrize(("backend_name", "file"), [
    ("openvino", "resnet50_proxy.onnx"), ("tvm", "resnet50_proxy.onnx"), ("tflite", "resnet50_proxy.tflite"),
])
def test_other_backends_report_the_proxys_signature(backend_name, file, staged):
    backend = _load(backend_name, RESNET50_PROXY_ONNX.parent / file)
    signature = backend.signature()
    assert signature.outputs["softmax_tensor:0"] == ("float32", [None, 1001])
    samples = staged if backend.layout == "NCHW" else LayoutView(staged.source, backend.layout)
    assert check_contract(backend, ImageClassification(), samples, 32, model=file) == (backend, 32)


def test_tvm_keeps_a_fixed_batch_and_openvino_frees_it(tmp_path, staged):
    """TVM compiles the file's shapes; OpenVINO's backend reshapes a fixed batch to a free one."""
    path = proxy_variant(tmp_path / "batch1.onnx", batch=1)
    tvm = _load("tvm", path)
    assert tvm.signature().inputs["input_tensor:0"] == ("float32", [1, 3, 224, 224])
    assert check_contract(tvm, ImageClassification(), staged, 32, model=str(path)) == (tvm, 1)
    openvino = _load("openvino", path)
    assert openvino.signature().inputs["input_tensor:0"] == ("float32", [None, 3, 224, 224])


# ------------------------------------------------ batch-dependent answers


def _bert_batch(count: int, rng) -> dict:
    """Feeds of ``count`` SQuAD-shaped features, as the bert task stages them."""
    ids = rng.integers(100, 900, size=(count, 384)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[:, 200:] = 0
    return {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids)}


def test_a_dynamically_quantized_model_runs_batches_of_one_unless_the_user_chose():
    """Its int8 scales come from the whole batch, so a sample's answer moves with
    its batch-mates: the bert int8 proxy's F1 moved with a Server run's arrivals."""
    from harness.proxies import PROXY_DIR

    task = QuestionAnswering()
    path = PROXY_DIR / "bert" / "bert_proxy_int8.onnx"
    backend = OnnxRuntimeBackend()
    backend.load(BackendConfig(model_path=path, precision="int8", threads=1, inputs=task.inputs,
                               outputs=task.outputs, contract_outputs=task.contract_outputs))
    reason = backend.signature().batch_dependence
    assert reason is not None and "DynamicQuantizeLinear" in reason
    assert backend.info()["batch_dependence"] == reason

    # the fact the rule rests on: one feature alone, then beside others, answers differently
    feeds = _bert_batch(8, np.random.default_rng(5))
    names = list(feeds)
    alone = backend.predict({n: feeds[n][:1] for n in names})
    louder = {n: feeds[n].copy() for n in names}
    louder["input_ids"][1:] = 1000  # batch-mates with other activations
    beside = backend.predict(louder)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(alone, beside))

    samples = np.zeros((4, 3, 384), dtype=np.int64)
    assert check_contract(backend, task, samples, 32, model=str(path)) == (backend, 1)
    assert check_contract(backend, task, samples, 32, model=str(path), explicit=True) == (backend, 32)


@pytest.mark.parametrize("name", ["resnet50_proxy.onnx", "resnet50_proxy_int8.onnx"])
def test_float_and_statically_quantized_models_are_batch_independent(name):
    from harness.backends.onnxruntime_backend import batch_dependence

    # the int8 resnet50 proxy is QDQ with scales fixed at calibration: any batch
    assert batch_dependence(RESNET50_PROXY_ONNX.parent / name, "int8") is None


def test_a_dynamic_quantizer_inside_a_subgraph_is_found(tmp_path):
    from harness.backends.onnxruntime_backend import dynamic_quantization

    def branch(name, node, output):  # a float output of the branch's one node
        return helper.make_graph([node], name, [], [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)])

    quantize = helper.make_node("DynamicQuantizeLinear", ["x"], ["then_q", "then_scale", "then_zero_point"])
    graph = helper.make_graph(
        [helper.make_node("If", ["flag"], ["y"], then_branch=branch("then", quantize, "then_scale"),
                          else_branch=branch("else", helper.make_node("Identity", ["x"], ["else_out"]), "else_out"))],
        "nested", [helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
                   helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "nested.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert dynamic_quantization(path) == ("dynamically quantized (1 DynamicQuantizeLinear): "
                                          "a batch's samples share one activation scale")


def test_a_model_file_onnx_cannot_read_is_named(tmp_path):
    from harness.backends.onnxruntime_backend import dynamic_quantization

    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07not a model")
    with pytest.raises(BackendError, match=str(path)):
        dynamic_quantization(path)
