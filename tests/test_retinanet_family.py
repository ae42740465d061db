"""The retinanet family end to end without the runner: registry entry, proxy dataset, staging, proxies, gate.

A small driver below answers the staged samples through the task with the
ONNX Runtime backend and writes a LoadGen-format accuracy log, which the
family's scorer reads, so accuracy is checked the way a run checks it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="the OpenImages pipeline decodes and resizes with OpenCV")
pytest.importorskip("pycocotools", reason="the retinanet mAP is computed by pycocotools, as MLPerf's script does")

from harness.benchmarks.retinanet import proxy_shapes  # noqa: E402
from harness.benchmarks.retinanet.annotations import ANNOTATION_FILE, IMAGE_DIR  # noqa: E402
from harness.benchmarks.retinanet.dataset import OpenImagesFormat  # noqa: E402
from harness.benchmarks.retinanet.preprocess import INPUT_SIZE, preprocess_bgr  # noqa: E402
from harness.benchmarks.retinanet.scorer import OpenImagesMapScorer  # noqa: E402
from harness.benchmarks.retinanet.task import ObjectDetection  # noqa: E402
from harness.datasets.base import DatasetRequest  # noqa: E402

FAMILY = Path(proxy_shapes.__file__).resolve().parent
PROXY = FAMILY / "proxy"
META = json.loads((PROXY / "proxy.json").read_text())


@pytest.fixture(scope="module")
def bench():
    from harness.registry.loader import load_benchmark

    return load_benchmark(FAMILY / "benchmark.toml")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    # Shared by the session's workers and later sessions, as the suite's own proxy cache.
    return tmp_path_factory.getbasetemp().parent / "mlperf-cache"


@pytest.fixture(scope="module")
def proxy_dir(bench, cache):
    return OpenImagesFormat().proxy_directory(bench, cache)


@pytest.fixture(scope="module")
def prepared(proxy_dir, cache):
    return OpenImagesFormat().prepare(proxy_dir, DatasetRequest(cache_dir=cache))


@pytest.fixture(scope="module")
def samples(prepared):
    return np.load(prepared.samples_path, mmap_mode="r")


def load_backend(kind: str, bench, task):
    from harness.backends.base import BackendConfig

    if kind == "onnxruntime":
        pytest.importorskip("onnxruntime", reason="the ONNX proxy runs on ONNX Runtime")
        from harness.backends.onnxruntime_backend import OnnxRuntimeBackend as cls
    else:
        pytest.importorskip("torch", reason="the state-dict proxy runs on PyTorch")
        from harness.backends.pytorch_backend import PyTorchBackend as cls
    support = bench.backends[kind]
    backend = cls()
    backend.load(BackendConfig(PROXY / support.proxy_models["fp32"], threads=1, inputs=task.inputs,
                               outputs=task.outputs, contract_outputs=task.contract_outputs,
                               options=dict(support.options)))
    return backend


@pytest.fixture(scope="module")
def ort(bench):
    return load_backend("onnxruntime", bench, ObjectDetection())


def accuracy_log(task, backend, samples, path: Path) -> Path:
    """Answer every staged sample once, in a shuffled order as accuracy mode issues them, as LoadGen logs it."""
    order = np.random.default_rng(7).permutation(len(samples))
    entries = []
    for seq, index in enumerate(order):
        (answer,) = task.run(backend, samples[index:index + 1], np.array([index]))
        assert answer.dtype == np.float32 and answer.flags.c_contiguous
        entries.append({"seq_id": seq, "qsl_idx": int(index), "data": answer.tobytes().hex().upper()})
    path.write_text(json.dumps(entries))
    return path


def proxy_map(task, backend, samples, prepared, tmp_path) -> float:
    log = accuracy_log(task, backend, samples, tmp_path / "mlperf_log_accuracy.json")
    return OpenImagesMapScorer(prepared.truth, dtype="float32").score(log).values["mAP"]


# --- registry ------------------------------------------------------------------


def test_registry_entry_holds_mlperf_facts(bench):
    assert (bench.name, bench.checker_name, bench.conf_model) == ("retinanet", "retinanet", "retinanet")
    assert (bench.accuracy.metric, bench.accuracy.unit) == ("mAP", "percent")
    assert bench.accuracy.reference == 37.55 and bench.accuracy.ratio == 0.99
    assert bench.accuracy.threshold() == pytest.approx(37.1745)
    assert (bench.server_latency_ms, bench.performance_sample_count, bench.max_batchsize) == (100, 64, 1)
    assert (bench.dataset_size, bench.offline_min_samples_per_query) == (24781, 24576)
    assert set(bench.scenarios) == {"Offline", "Server", "SingleStream", "MultiStream"}
    assert bench.response_dtype == "float32"
    real = bench.artifact("onnxruntime", "fp32")
    assert real.url.endswith("/resnext50_32x4d_fpn.onnx") and real.checksum.startswith("md5:")


def test_registry_parts_resolve_to_the_family_classes(bench):
    from harness.registry import parts

    task = parts.make_task(bench.task, bench.home_dir, **bench.task_options)
    assert (task.input_kind, task.response_kind) == ("stacked", "ragged")
    assert type(parts.dataset_format(bench)).__name__ == "OpenImagesFormat"
    assert parts.resolve(bench.scorer, bench.home_dir, "scorer").__name__ == "OpenImagesMapScorer"


def test_only_fp32_onnxruntime_and_pytorch_are_offered_with_reasons_for_the_rest(bench):
    assert bench.unsupported_reason("onnxruntime", "cpu", "fp32", "Offline") is None
    for device in ("cpu", "cuda", "rocm"):
        assert bench.unsupported_reason("pytorch", device, "fp32", "Server") is None
    for backend, device, precision in [("onnxruntime", "cpu", "int8"), ("pytorch", "cpu", "bf16"),
                                       ("pytorch", "tpu", "fp32"), ("onnxruntime", "cuda", "fp32"),
                                       ("tensorflow", "cpu", "fp32"), ("tflite", "cpu", "fp32")]:
        assert bench.unsupported_reason(backend, device, precision, "Offline"), (backend, device, precision)


def test_proxy_files_are_small_and_match_their_recorded_digests(bench):
    assert bench.proxy.reference == META["reference_map"]
    for name, digest in META["files"].items():
        data = (PROXY / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
        assert len(data) < 2 * 1024 * 1024, name
    assert set(META["files"]) == {m for s in bench.backends.values() for m in s.proxy_models.values()}


# --- proxy dataset ----------------------------------------------------------------


def test_the_proxy_dataset_renders_the_same_bytes_twice(proxy_dir, tmp_path):
    # The cached copy (built by ensure_artifact, possibly in an earlier
    # session) and a fresh render here hold the same bytes, file for file.
    fresh = proxy_shapes.render_dataset(tmp_path / "fresh")
    files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    cached = sorted(p.relative_to(proxy_dir) for p in proxy_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert files == cached and len(files) == 65  # the annotation file and 64 images
    for rel in files:
        assert (fresh / rel).read_bytes() == (proxy_dir / rel).read_bytes(), rel


def test_the_proxy_layout_is_what_the_accuracy_script_reads(proxy_dir):
    data = json.loads((proxy_dir / ANNOTATION_FILE).read_text())
    assert [c["id"] for c in data["categories"]] == list(range(len(proxy_shapes.CLASSES)))  # enumerate, as MLPerf
    assert [i["id"] for i in data["images"]] == list(range(1, 65))  # 64 images, ids from 1
    sizes = set()
    for image in data["images"]:
        decoded = cv2.imread(str(proxy_dir / IMAGE_DIR / image["file_name"]))
        assert decoded is not None and decoded.shape == (image["height"], image["width"], 3)
        sizes.add((image["width"], image["height"]))
    assert len(sizes) > 32 and (INPUT_SIZE, INPUT_SIZE) not in sizes  # the resize does real work
    per_image = {}
    by_id = {i["id"]: i for i in data["images"]}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        image = by_id[ann["image_id"]]
        assert 0 <= x and 0 <= y and x + w <= image["width"] and y + h <= image["height"]
        assert ann["area"] == w * h and ann["iscrowd"] == 0
        per_image.setdefault(ann["image_id"], set()).add(ann["category_id"])
    assert len(per_image) == 64 and sum(len(c) > 1 for c in per_image.values()) > 32  # several classes per image
    assert {c for cats in per_image.values() for c in cats} == set(range(len(proxy_shapes.CLASSES)))
    files = OpenImagesFormat().content_files(proxy_dir)
    assert files[0] == proxy_dir / ANNOTATION_FILE
    assert [f.name for f in files[1:]] == [i["file_name"] for i in data["images"]]


def test_a_boxes_pixels_are_the_objects_own(tmp_path):
    # The annotation box is the tight extent of the object's colour: inside it
    # the border rows and columns hold object pixels, outside it background.
    image, objects = proxy_shapes.render_image("val", 0)
    colours = {i: np.array(c.rgb[::-1], np.float32) for i, c in enumerate(proxy_shapes.CLASSES)}
    for obj in objects:
        x, y, w, h = obj.bbox
        near = np.abs(image.astype(np.float32) - colours[obj.category_id]).max(axis=2) < 40
        assert near[y:y + h, x].any() and near[y:y + h, x + w - 1].any()
        assert near[y, x:x + w].any() and near[y + h - 1, x:x + w].any()
        if x > 0:
            assert not near[y:y + h, x - 1].any()
        if y + h < image.shape[0]:
            assert not near[y + h, x:x + w].any()


# --- preprocessing and staging ------------------------------------------------------


def test_preprocessing_is_mlperfs_plain_800_resize_over_255_in_rgb():
    # A 1x2 BGR image: blue on the left, red on the right. INTER_LINEAR with
    # OpenCV's half-pixel centres: output column x reads source position
    # u = (x + 0.5) * 2 / 800 - 0.5, clamped to [0, 1], so red rises as u.
    image = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    out = preprocess_bgr(image)
    assert out.shape == (3, 800, 800) and out.dtype == np.float32 and out.flags.c_contiguous
    u = np.clip((np.arange(800) + 0.5) * 2 / 800 - 0.5, 0.0, 1.0)
    np.testing.assert_allclose(out[0], np.broadcast_to(u, (800, 800)), atol=1e-6)  # R (channel 0)
    np.testing.assert_allclose(out[2], np.broadcast_to(1 - u, (800, 800)), atol=1e-6)  # B
    assert not out[1].any()  # no mean subtracted: green stays 0
    flat = preprocess_bgr(np.full((37, 91, 3), 51, np.uint8))
    np.testing.assert_array_equal(flat, np.full((3, 800, 800), np.float32(51) / np.float32(255)))  # / 255, no std
    swapped = preprocess_bgr(image, channel_order="BGR")
    np.testing.assert_array_equal(swapped[0], out[2])


def test_staged_samples_are_the_preprocessed_images_in_annotation_order(prepared, samples, proxy_dir):
    data = json.loads((proxy_dir / ANNOTATION_FILE).read_text())
    assert samples.shape == (64, 3, 800, 800) and samples.dtype == np.float32 and prepared.total == 64
    assert [i.id for i in prepared.truth.images] == [i["id"] for i in data["images"]]
    for index in (0, 37, 63):
        image = cv2.imread(str(proxy_dir / IMAGE_DIR / data["images"][index]["file_name"]))
        np.testing.assert_array_equal(samples[index], preprocess_bgr(image))


def test_a_count_stages_the_first_images(proxy_dir, samples, cache):
    few = OpenImagesFormat().prepare(proxy_dir, DatasetRequest(cache_dir=cache, count=3))
    staged = np.load(few.samples_path, mmap_mode="r")
    assert staged.shape[0] == 3 and few.total == 3 and few.truth.count == 3
    np.testing.assert_array_equal(staged[2], samples[2])


# --- task ------------------------------------------------------------------------------


def test_responses_are_mlperfs_seven_float_rows():
    # Boxes x1, y1, x2, y2 in 800-pixel input coordinates; MLPerf writes
    # [qsl_idx, y1/800, x1/800, y2/800, x2/800, score, label] and stops at the
    # first score under 0.05 (the third detection, 0.5, is not reached).
    boxes = np.array([[80, 40, 400, 200], [8, 16, 24, 32], [0, 0, 800, 800]], np.float32)
    labels = np.array([3, 1, 2], np.int64)
    scores = np.array([0.9, 0.04, 0.5], np.float32)
    (answer,) = ObjectDetection().responses([boxes, labels, scores], np.array([17]))
    np.testing.assert_array_equal(answer, np.array([17, 0.05, 0.1, 0.25, 0.5, 0.9, 3], np.float32))
    (swapped,) = ObjectDetection(swap_xy=True).responses([boxes, labels, scores], np.array([17]))
    np.testing.assert_array_equal(swapped, np.array([17, 0.1, 0.05, 0.5, 0.25, 0.9, 3], np.float32))
    (shifted,) = ObjectDetection(label_offset=1).responses([boxes, labels, scores], np.array([17]))
    assert shifted[6] == 4
    (nothing,) = ObjectDetection().responses([boxes, labels, np.full(3, 0.01, np.float32)], np.array([3]))
    assert nothing.dtype == np.float32 and nothing.size == 0  # zero bytes: "no results" to the script


def test_the_task_and_scorer_agree_on_coordinates(proxy_dir, prepared, tmp_path):
    # Ground-truth boxes scaled into the 800x800 input as the plain resize
    # scales them, answered through the task, score 100%.
    data = json.loads((proxy_dir / ANNOTATION_FILE).read_text())
    task, entries = ObjectDetection(), []
    for index, image in enumerate(data["images"][:8]):
        sx, sy = INPUT_SIZE / image["width"], INPUT_SIZE / image["height"]
        objects = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        boxes = np.array([[x * sx, y * sy, (x + w) * sx, (y + h) * sy] for x, y, w, h in (a["bbox"] for a in objects)],
                         np.float32)
        labels = np.array([a["category_id"] for a in objects], np.int64)
        (answer,) = task.responses([boxes, labels, np.full(len(objects), 0.9, np.float32)], np.array([index]))
        entries.append({"seq_id": index, "qsl_idx": index, "data": answer.tobytes().hex().upper()})
    log = tmp_path / "log.json"
    log.write_text(json.dumps(entries))
    assert OpenImagesMapScorer(prepared.truth).score(log).lines[0] == "mAP=100.000%"


# --- proxies --------------------------------------------------------------------------


def test_the_onnx_proxy_meets_the_task_contract(bench, ort, samples):
    from harness.runner.contract import check_contract

    task = ObjectDetection()
    signature = ort.signature()
    assert signature.inputs["images"] == ("float32", [1, 3, 800, 800])
    assert signature.outputs["labels"][0] == "int64" and signature.outputs["boxes"][1][1:] == [4]
    assert list(signature.outputs) == list(task.contract_outputs)  # the real model's output order
    _, batch = check_contract(ort, task, samples, bench.max_batchsize, model="retinanet_proxy.onnx")
    assert batch == 1


def test_the_onnx_and_torch_proxies_agree(bench, ort, samples):
    task = ObjectDetection()
    torch_backend = load_backend("pytorch", bench, task)
    answered = 0
    for index in range(0, 64, 8):
        batch = samples[index:index + 1]
        (from_ort,) = task.run(ort, batch, np.array([index]))
        (from_torch,) = task.run(torch_backend, np.ascontiguousarray(batch), np.array([index]))
        a, b = from_ort.reshape(-1, 7), from_torch.reshape(-1, 7)
        assert a.shape == b.shape, index
        np.testing.assert_array_equal(a[:, [0, 6]], b[:, [0, 6]])  # indices and labels
        np.testing.assert_allclose(a[:, 1:6], b[:, 1:6], atol=2e-5)  # coordinates / 800 and scores
        answered += len(a)
    assert answered >= 16  # the comparison covered real detections


def test_the_onnx_proxy_reaches_the_registry_reference(bench, ort, samples, prepared, tmp_path):
    value = proxy_map(ObjectDetection(), ort, samples, prepared, tmp_path)
    assert value >= 50.0
    assert value == pytest.approx(bench.proxy.reference, abs=0.5)
    assert value >= bench.accuracy.threshold(bench.proxy.reference)


@pytest.mark.parametrize("options", [{"swap_xy": True}, {"label_offset": 1}], ids=["swap_xy", "label_offset"])
def test_a_broken_response_layout_fails_the_gate(bench, ort, samples, prepared, tmp_path, options):
    value = proxy_map(ObjectDetection(**options), ort, samples, prepared, tmp_path)
    assert value < bench.accuracy.threshold(bench.proxy.reference)


def test_a_channel_order_mix_up_fails_the_gate(bench, ort, proxy_dir, cache, tmp_path):
    # Red and blue circles, yellow and cyan triangles trade places in BGR.
    bgr = OpenImagesFormat().prepare(proxy_dir, DatasetRequest(cache_dir=cache, channel_order="BGR"))
    value = proxy_map(ObjectDetection(), ort, np.load(bgr.samples_path, mmap_mode="r"), bgr, tmp_path)
    assert value < bench.accuracy.threshold(bench.proxy.reference)

