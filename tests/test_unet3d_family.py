"""The 3d-unet family end to end on its proxy, without the runner.

- the registry entry holds MLPerf's facts for both variants;
- the proxy dataset renders deterministically, in the layout MLPerf's
  preprocess.py writes, with MLPerf's preprocessing constants at work;
- the sliding windows, their Gaussian patch and the window grid are MLPerf's;
- the committed ONNX and PyTorch proxies agree, and fit the task's contract;
- through ONNX Runtime, sliding windows over the staged volumes and a
  LoadGen-format accuracy log (written by a small driver below), the proxy
  reaches the registry's proxy reference, and both mutations fall below 99% of it.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

nibabel = pytest.importorskip("nibabel", reason="KiTS19's volumes are NIfTI, read with nibabel")
pytest.importorskip("onnxruntime", reason="the proxy's reference is measured through ONNX Runtime")
pytest.importorskip("scipy", reason="MLPerf's preprocessing resamples with scipy.ndimage.zoom")

from harness.backends.base import BackendConfig, ModelContractError  # noqa: E402
from harness.benchmarks.unet3d import layout, phantom, preprocess, sliding_window  # noqa: E402
from harness.benchmarks.unet3d.dataset import KiTS19Preprocessed  # noqa: E402
from harness.benchmarks.unet3d.scorer import DiceScorer  # noqa: E402
from harness.benchmarks.unet3d.task import KidneyTumourSegmentation  # noqa: E402
from harness.datasets.base import DatasetRequest  # noqa: E402
from harness.registry.loader import load_family  # noqa: E402
from harness.staging import Volumes  # noqa: E402

FAMILY = Path(__file__).resolve().parents[1] / "harness" / "benchmarks" / "unet3d"
PROXY = FAMILY / "proxy"
RECORD = json.loads((PROXY / "proxy.json").read_text())


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def benchmarks():
    return {bench.name: bench for bench in load_family(FAMILY / "benchmark.toml")}


@pytest.fixture(scope="module")
def bench(benchmarks):
    return benchmarks["3d-unet-99"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("unet3d-cache")


@pytest.fixture(scope="module")
def proxy_dir(bench, cache):
    return KiTS19Preprocessed().proxy_directory(bench, cache)


@pytest.fixture(scope="module")
def prepared(proxy_dir, cache):
    return KiTS19Preprocessed().prepare(proxy_dir, DatasetRequest(cache_dir=cache, dtype="uint8"))


@pytest.fixture(scope="module")
def volumes(prepared):
    return Volumes(prepared.samples_path)


def load_backend(kind: str):
    if kind == "onnxruntime":
        from harness.backends.onnxruntime_backend import OnnxRuntimeBackend as cls
        model, options = PROXY / "unet3d_proxy.onnx", {}
    else:
        pytest.importorskip("torch", reason="the PyTorch proxy needs torch")
        from harness.backends.pytorch_backend import PyTorchBackend as cls
        model, options = PROXY / "unet3d_proxy_torch.pt", {"architecture": "harness.benchmarks.unet3d.model:TinyUNet3D"}
    backend = cls()
    backend.load(BackendConfig(model_path=model, threads=1, inputs=("input",), outputs=("output",),
                               contract_outputs=("output",), options=options))
    return backend


@pytest.fixture(scope="module")
def ort_backend():
    return load_backend("onnxruntime")


def proxy_task(bench, **mutation) -> KidneyTumourSegmentation:
    return KidneyTumourSegmentation(**{**bench.task_options, **bench.proxy.task_options, **mutation})


def write_accuracy_log(task, backend, volumes, path: Path) -> Path:
    """The small driver: each staged volume through ``task.run`` (one sample per query, as
    SingleStream issues them), its response logged as LoadGen does: uppercase hex of the bytes."""
    entries = []
    for seq_id, index in enumerate(range(len(volumes))):
        (response,) = task.run(backend, [volumes[index]], np.array([index]))
        entries.append({"seq_id": seq_id, "qsl_idx": index, "data": response.tobytes().hex().upper()})
    path.write_text(json.dumps(entries))
    return path


@pytest.fixture(scope="module")
def reference_run(bench, ort_backend, volumes, prepared, tmp_path_factory):
    log = write_accuracy_log(proxy_task(bench), ort_backend, volumes,
                             tmp_path_factory.mktemp("unet3d-run") / "mlperf_log_accuracy.json")
    return log, DiceScorer(prepared.truth, dtype=bench.response_dtype).score(log)


# ------------------------------------------------------------- the registry
def test_the_registry_holds_mlperfs_facts_for_both_variants(benchmarks):
    assert sorted(benchmarks) == ["3d-unet-99", "3d-unet-99.9"]
    thresholds = {"3d-unet-99": 0.853083, "3d-unet-99.9": 0.860838}
    for name, bench in benchmarks.items():
        assert bench.checker_name == name and bench.conf_model == "3d-unet"
        assert bench.scenarios == ("Offline", "SingleStream")
        assert (bench.dataset_size, bench.performance_sample_count, bench.offline_min_samples_per_query) == (43, 43, 43)
        assert (bench.max_batchsize, bench.response_dtype) == (1, "uint8")
        assert (bench.accuracy.metric, bench.accuracy.unit, bench.accuracy.reference) == ("DICE", "fraction", 0.8617)
        assert bench.accuracy.threshold() == pytest.approx(thresholds[name], abs=1e-6)
        assert bench.task_options["roi_size"] == layout.ROI_SIZE == 128
        assert bench.proxy.task_options["roi_size"] == 32
        assert bench.proxy.reference == RECORD["reference_dice"] >= 0.8
        assert bench.test_style["SingleStream"]["min_query_count"] >= 64  # early stopping at p90
        assert bench.test_style["Offline"]["min_query_count"] >= phantom.VAL_CASES  # every case once
        assert bench.unsupported_reason("onnxruntime", "cpu", "fp32", "Offline") is None
        assert bench.unsupported_reason("pytorch", "cpu", "fp32", "SingleStream") is None
        assert "Server" in bench.unsupported_reason("pytorch", "cpu", "fp32", "Server")
        for backend, device, precision in (("onnxruntime", "cpu", "fp16"), ("pytorch", "cpu", "bf16"),
                                           ("tensorflow", "cpu", "fp32"), ("onnxruntime", "tpu", "fp32")):
            assert bench.unsupported_reason(backend, device, precision, "Offline")
        real = bench.artifact("onnxruntime", "fp32")
        assert real.checksum == "md5:82f0618fde78f9839e7c712274019b4a" and real.filename.endswith("_dynbatch.onnx")


# ------------------------------------------------------------- the proxy dataset
def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_proxy_dataset_renders_byte_for_byte_the_same(tmp_path):
    phantom.render_dataset(tmp_path / "a", 32)
    phantom.render_dataset(tmp_path / "b", 32)
    first, second = _tree_digest(tmp_path / "a"), _tree_digest(tmp_path / "b")
    assert first == second
    assert len(first) == phantom.VAL_CASES * 5 + 1  # raw pair + pickle + nifti pair per case, and the list


def test_the_proxy_dataset_has_mlperfs_preprocessed_layout(proxy_dir):
    content = pickle.loads((proxy_dir / "preprocessed_files.pkl").read_bytes())  # the project's own file
    cases = [f"case_{i:05d}" for i in range(phantom.VAL_CASES)]
    assert content["file_list"] == cases and sorted(content["cases"]) == cases
    shapes = set()
    for case in cases:
        aux = content["cases"][case]
        assert set(aux) == {"original_affine", "reshaped_affine", "zoom_factor", "case", "image_shape"}
        image, label = pickle.loads((proxy_dir / f"{case}.pkl").read_bytes())
        assert image.dtype == np.float32 and label.dtype == np.uint8
        assert image.shape == label.shape == aux["image_shape"] and image.shape[0] == 1
        assert all(side >= 32 and side % 16 == 0 for side in image.shape[1:])  # whole steps of a 32^3 window
        shapes.add(image.shape)
        segmentation = nibabel.load(proxy_dir / "nifti" / case / "segmentation.nii.gz")
        imaging = nibabel.load(proxy_dir / "nifti" / case / "imaging.nii.gz")
        assert segmentation.get_data_dtype() == np.uint8 and imaging.get_data_dtype() == np.float32
        np.testing.assert_array_equal(np.asanyarray(segmentation.dataobj), label[0])
        np.testing.assert_array_equal(np.asanyarray(imaging.dataobj), image[0])
        np.testing.assert_allclose(segmentation.header.get_zooms(), layout.TARGET_SPACING, atol=1e-6)
        np.testing.assert_allclose(np.abs(aux["reshaped_affine"][:3, :3]).sum(axis=0), layout.TARGET_SPACING)
        assert set(np.unique(label)) == {0, 1, 2}
        raw = proxy_dir.parent / "kits19" / "data" / case
        raw_zooms = nibabel.load(raw / "imaging.nii.gz").header.get_zooms()
        assert not np.allclose(raw_zooms, layout.TARGET_SPACING)  # the resampling did work
        np.testing.assert_allclose(aux["zoom_factor"], np.array(raw_zooms) / layout.TARGET_SPACING)
    assert len(shapes) >= 4  # volumes of several sizes


def test_mlperfs_preprocessing_constants_are_in_force(proxy_dir):
    # global_vars.py of the reference
    assert (layout.MEAN_VAL, layout.STDDEV_VAL) == (101.0, 76.9)
    assert (layout.MIN_CLIP_VAL, layout.MAX_CLIP_VAL, layout.PADDING_VAL) == (-79.0, 304.0, -2.2)
    assert layout.TARGET_SPACING == (1.6, 1.2, 1.2) and layout.SLIDE_OVERLAP_FACTOR == 0.5
    low, high = (-79.0 - 101.0) / 76.9, (304.0 - 101.0) / 76.9
    seen_low = seen_high = False
    for case in (f"case_{i:05d}" for i in range(phantom.VAL_CASES)):
        image, _ = pickle.loads((proxy_dir / f"{case}.pkl").read_bytes())
        assert image.min() >= low - 1e-5 and image.max() <= high + 1e-5
        seen_low |= bool(np.isclose(image, low, atol=1e-5).any())  # fat below -79 HU, clipped
        seen_high |= bool(np.isclose(image, high, atol=1e-5).any())  # bone above 304 HU, clipped
    assert seen_low and seen_high
    # re-running the preprocessing on a raw case gives the staged pickle exactly
    image, label, aux = preprocess.preprocess_case(proxy_dir.parent / "kits19" / "data" / "case_00003", 32)
    staged_image, staged_label = pickle.loads((proxy_dir / "case_00003.pkl").read_bytes())
    np.testing.assert_array_equal(image, staged_image)
    np.testing.assert_array_equal(label, staged_label)


def test_staging_keeps_each_case_its_own_shape_in_list_order(proxy_dir, prepared, volumes, cache):
    content = pickle.loads((proxy_dir / "preprocessed_files.pkl").read_bytes())
    assert len(volumes) == prepared.total == len(prepared.truth) == phantom.VAL_CASES
    for index, case in enumerate(content["file_list"]):
        image, _ = pickle.loads((proxy_dir / f"{case}.pkl").read_bytes())
        assert volumes.shape(index) == content["cases"][case]["image_shape"]
        np.testing.assert_array_equal(volumes[index], image)
    assert len({volumes.shape(i) for i in range(len(volumes))}) >= 4
    files = KiTS19Preprocessed().content_files(proxy_dir)  # the list first, then each case's files in order
    assert files[0] == proxy_dir / "preprocessed_files.pkl"
    assert files[1:3] == [proxy_dir / "case_00000.pkl", proxy_dir / "nifti" / "case_00000" / "segmentation.nii.gz"]
    assert len(files) == 1 + 2 * phantom.VAL_CASES
    first_three = KiTS19Preprocessed().prepare(proxy_dir, DatasetRequest(cache_dir=cache, count=3))
    assert first_three.total == len(Volumes(first_three.samples_path)) == len(first_three.truth) == 3
    assert first_three.samples_path != prepared.samples_path  # its own content key


@pytest.mark.parametrize("side, expected", [
    (20, 32),  # shorter than the window: edge-padded to 32, a whole step count already
    (36, 32),  # remainder 4 under half a step (8): cropped
    (40, 48),  # remainder 8, not under half a step: padded to the next step
    (48, 48),
    (57, 64),  # remainder 9: padded
])
def test_the_shape_adjustment_crops_or_pads_as_the_reference(side, expected):
    image = np.zeros((1, side, 32, 32), np.float32)
    label = np.zeros((1, side, 32, 32), np.uint8)
    image, label = preprocess.pad_to_min_shape(image, label, 32)
    image, label = preprocess.adjust_shape_for_sliding_window(image, label, 32)
    assert image.shape == label.shape == (1, expected, 32, 32)
    if expected > max(side, 32):  # the constant padding is the reference's -2.2 (labels 0)
        assert image[0, 0, 0, 0] == np.float32(layout.PADDING_VAL) and label[0, 0, 0, 0] == 0


# ------------------------------------------------------------- sliding windows
def test_the_importance_patch_is_the_references_gaussian_kernel():
    signal = pytest.importorskip("scipy.signal", reason="the reference builds its kernel with scipy.signal")
    np.testing.assert_allclose(sliding_window.gaussian_window(32, 4.0), signal.windows.gaussian(32, 4.0), rtol=1e-12)
    g = signal.windows.gaussian(32, 0.125 * 32)
    kernel = np.cbrt(np.outer(np.outer(g, g), g).reshape(32, 32, 32))
    patch = sliding_window.importance_patch(32)
    assert patch.dtype == np.float32
    np.testing.assert_allclose(patch, kernel / kernel.max(), rtol=1e-6)
    assert patch.max() == 1.0 and patch[0, 0, 0] < 0.001  # a corner counts for almost nothing


def test_the_window_grid_is_the_references():
    origins = list(sliding_window.window_origins((48, 64, 80), 32, 0.5))
    assert len(origins) == 2 * 3 * 4
    assert origins[:3] == [(0, 0, 0), (0, 0, 16), (0, 0, 32)] and origins[-1] == (16, 32, 48)


def test_a_perfect_model_gives_back_the_labels_and_odd_shapes_are_cropped_back():
    rng = np.random.default_rng(0)
    for shape in ((48, 32, 64), (37, 20, 50)):  # the second does not fit the window grid
        labels = rng.integers(0, 3, size=shape).astype(np.uint8)
        volume = labels.astype(np.float32)[None]

        def perfect(windows):  # logits from the voxel value itself; the padding value maps to background
            x = windows[:, 0]
            return np.stack([np.isclose(x, c) for c in (0, 1, 2)], axis=1).astype(np.float32)

        mask = sliding_window.segment(volume, perfect, roi=32, windows_per_call=3)
        assert mask.dtype == np.uint8 and mask.shape == shape and mask.flags.c_contiguous
        np.testing.assert_array_equal(mask, labels)


# ------------------------------------------------------------- the committed proxies
def test_the_committed_files_are_the_recorded_ones():
    for name, digest in RECORD["files"].items():
        assert hashlib.sha256((PROXY / name).read_bytes()).hexdigest() == digest, name
        assert (PROXY / name).stat().st_size < 2_000_000


def test_the_onnx_model_has_mlperfs_contract_with_a_free_batch():
    import onnx

    model = onnx.load(str(PROXY / "unet3d_proxy.onnx"))
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    (inp,), (out,) = model.graph.input, model.graph.output

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert (inp.name, out.name) == ("input", "output")
    assert isinstance(dims(inp)[0], str) and dims(inp)[1:] == [1, 32, 32, 32]
    assert isinstance(dims(out)[0], str) and dims(out)[1:] == [3, 32, 32, 32]


def test_the_onnx_and_torch_proxies_agree(bench, ort_backend, volumes):
    torch_backend = load_backend("pytorch")
    task = proxy_task(bench)
    windows = np.concatenate([task.probe_batch([volumes[i]]) for i in range(4)])
    ort_logits = ort_backend.predict({"input": windows})[0]
    torch_logits = torch_backend.predict({"input": windows})[0]
    assert ort_logits.shape == torch_logits.shape == (4, 3, 32, 32, 32)
    np.testing.assert_allclose(ort_logits, torch_logits, atol=1e-4)
    for index in (0, 5):
        (from_ort,) = task.run(ort_backend, [volumes[index]], np.array([index]))
        (from_torch,) = task.run(torch_backend, [volumes[index]], np.array([index]))
        np.testing.assert_array_equal(from_ort, from_torch)


def test_the_proxy_fits_the_tasks_contract_and_a_wrong_window_does_not(bench, ort_backend, volumes):
    from harness.runner.contract import check_contract

    backend, batch = check_contract(ort_backend, proxy_task(bench), volumes, 1, model="unet3d_proxy.onnx")
    assert (backend, batch) == (ort_backend, 1)
    with pytest.raises(ModelContractError, match=r"\[N, 1, 64, 64, 64\]"):
        check_contract(ort_backend, KidneyTumourSegmentation(roi_size=64), volumes, 1, model="unet3d_proxy.onnx")


# ------------------------------------------------------------- accuracy
def test_the_proxy_reaches_its_reference_through_sliding_windows(bench, reference_run, prepared, volumes):
    log, scored = reference_run
    assert prepared.total == len(volumes) == phantom.VAL_CASES
    dice = scored.values["DICE"]
    assert dice >= 0.8
    assert dice == pytest.approx(bench.proxy.reference, abs=2e-3)
    for variant_ratio in (0.99, 0.999):  # the gate: value >= reference * ratio, for both variants
        assert dice >= bench.proxy.reference * variant_ratio
    assert scored.lines[0].startswith(f"Accuracy: mean = {dice:.5f}, kidney = ")
    assert (scored.answered, scored.dataset_total) == (phantom.VAL_CASES, phantom.VAL_CASES)
    entries = json.loads(log.read_text())
    for entry in entries:  # each response is the mask of its case: one byte per voxel
        assert len(entry["data"]) == 2 * int(np.prod(volumes.shape(entry["qsl_idx"])))
        assert entry["data"] == entry["data"].upper()


@pytest.mark.parametrize("mutation", [{"gaussian": False}, {"swap_classes": True}], ids=lambda m: next(iter(m)))
def test_each_mutation_falls_below_99_percent_of_the_reference(bench, ort_backend, volumes, prepared, tmp_path,
                                                               mutation):
    log = write_accuracy_log(proxy_task(bench, **mutation), ort_backend, volumes, tmp_path / "mlperf_log_accuracy.json")
    dice = DiceScorer(prepared.truth, dtype=bench.response_dtype).score(log).values["DICE"]
    assert dice < 0.99 * bench.proxy.reference
    recorded = RECORD["mutations"][f"{next(iter(mutation))}={next(iter(mutation.values()))}"]
    assert dice == pytest.approx(recorded, abs=2e-3)


def test_responses_are_contiguous_uint8_masks_of_the_cases_shape(bench, ort_backend, volumes):
    task = proxy_task(bench, swap_classes=True)
    plain = proxy_task(bench)
    masks = task.run(ort_backend, [volumes[1], volumes[2]], np.array([1, 2]))
    for index, mask in zip((1, 2), masks):
        assert mask.dtype == np.uint8 and mask.flags.c_contiguous and mask.shape == volumes.shape(index)[1:]
    (unswapped,) = plain.run(ort_backend, [volumes[1]], np.array([1]))
    (one_window_a_call,) = proxy_task(bench, windows_per_call=1).run(ort_backend, [volumes[1]], np.array([1]))
    np.testing.assert_array_equal(one_window_a_call, unswapped)  # batching windows changes no sum
    swapped = masks[0]
    assert np.array_equal(swapped == layout.KIDNEY, unswapped == layout.TUMOUR)
    assert np.array_equal(swapped == layout.TUMOUR, unswapped == layout.KIDNEY)
    assert (unswapped == layout.TUMOUR).any()
