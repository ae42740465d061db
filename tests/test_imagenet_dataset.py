"""ImageNet layout reading, the MLPerf ResNet50 preprocessing, the preprocessed
cache and the digits proxy dataset renderer."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.benchmarks.resnet50 import imagenet, preprocessed
from harness.benchmarks.resnet50.imagenet import DatasetError, DatasetNotFoundError
from harness.proxies import digits_imagenet

MEAN = np.array([123.68, 116.78, 103.94], dtype=np.float32)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """Lossless on disk, so pixel-exact expectations hold; cv2 wants BGR."""
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def make_dataset(root: Path, labels=(3, 1, 4), size=(300, 500)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = []
    for i, label in enumerate(labels):
        name = f"img_{i}.png"
        write_png(root / name, rng.integers(0, 256, size=(*size, 3), dtype=np.uint8))
        lines.append(f"{name} {label}\n")
    (root / "val_map.txt").write_text("".join(lines))
    return root


# ---------------------------------------------------------------- val_map.txt


def test_read_val_map_keeps_line_order_and_count(tmp_path):
    root = make_dataset(tmp_path / "ds", labels=(7, 0, 9))
    assert imagenet.read_val_map(root) == [("img_0.png", 7), ("img_1.png", 0), ("img_2.png", 9)]
    assert imagenet.read_val_map(root, count=2) == [("img_0.png", 7), ("img_1.png", 0)]


def test_read_val_map_accepts_trailing_blank_lines(tmp_path):
    root = make_dataset(tmp_path / "ds", labels=(1, 2))
    (root / "val_map.txt").write_text("img_0.png 1\nimg_1.png\t2\n\n\n")
    assert imagenet.read_val_map(root) == [("img_0.png", 1), ("img_1.png", 2)]


def test_count_beyond_the_list_is_an_error(tmp_path):
    root = make_dataset(tmp_path / "ds", labels=(1, 2))
    with pytest.raises(DatasetError, match=r"count=5 .* only 2 images"):
        imagenet.read_val_map(root, count=5)


def test_missing_folder_names_path_and_layout(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as err:
        imagenet.read_val_map(missing)
    assert str(missing) in str(err.value)
    assert f"expected {missing / 'val_map.txt'} with lines '<image file> <label>'" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)


def test_missing_val_map_names_expected_layout(tmp_path):
    (tmp_path / "ds").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:
        imagenet.read_val_map(tmp_path / "ds")
    expected = (
        f"expected {tmp_path / 'ds' / 'val_map.txt'} with lines '<image file> <label>' "
        "and the JPEG files beside it"
    )
    assert expected in str(err.value)


@pytest.mark.parametrize(
    "bad_line",
    ["img_1.png", "img_1.png seven", "img_1.png 1 extra", "img_1.png -1", "img_1.png 2.5", ""],
    ids=["one-field", "non-integer", "three-fields", "negative", "float", "blank-in-middle"],
)
def test_malformed_line_names_file_line_and_expectation(tmp_path, bad_line):
    root = make_dataset(tmp_path / "ds")
    (root / "val_map.txt").write_text(f"img_0.png 3\n{bad_line}\nimg_2.png 4\n")
    with pytest.raises(DatasetError) as err:
        imagenet.read_val_map(root)
    msg = str(err.value)
    assert str(root / "val_map.txt") in msg
    assert "line 2" in msg
    assert repr(bad_line) in msg
    assert "expected '<image file> <integer label>'" in msg


def test_listed_image_that_does_not_exist(tmp_path):
    root = make_dataset(tmp_path / "ds")
    (root / "img_1.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(root / "img_1.png"))):
        imagenet.read_val_map(root)


def test_listed_image_that_cannot_be_decoded(tmp_path):
    root = make_dataset(tmp_path / "ds")
    (root / "img_1.png").write_bytes(b"this is not an image")
    with pytest.raises(DatasetError, match=re.escape(str(root / "img_1.png")) + ".*cannot be decoded"):
        imagenet.preprocess_dataset(root)


# ------------------------------------------------------------- preprocessing


@pytest.mark.parametrize(
    ("hw", "expected_hw"),
    [
        ((90, 200), (256, 568)),  # 568.89 truncated, as the reference does (rounding gives 569)
        ((200, 90), (568, 256)),
        ((300, 400), (256, 341)),
        ((288, 320), (256, 284)),  # the proxy dataset's pictures
        ((100, 100), (256, 256)),
    ],
)
def test_resize_short_side_to_256_truncating_the_long_side(hw, expected_hw):
    img = np.zeros((*hw, 3), dtype=np.uint8)
    assert imagenet.resize_short_side(img).shape[:2] == expected_hw


def test_resize_uses_area_interpolation():
    # A 1-px checkerboard shrunk by 256/300: INTER_AREA averages over >1-px
    # windows (values stay within ~64..191); INTER_LINEAR/CUBIC/NEAREST alias
    # to near 0 and 255.
    board = (np.indices((300, 420)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = imagenet.resize_short_side(np.dstack([board] * 3))
    assert out.shape == (256, 358, 3)
    assert 50 < out.min() and out.max() < 205


def test_center_crop_offsets():
    h, w = 256, 341
    rows, cols = np.mgrid[0:h, 0:w]
    img = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.int32)
    crop = imagenet.center_crop(img)
    assert crop.shape == (224, 224, 3)
    assert (crop[0, 0, 0], crop[0, 0, 1]) == (16, 58)  # int(32/2), int(117/2)


def test_preprocess_nonsquare_image_shape_and_dtype(tmp_path):
    path = write_png(tmp_path / "x.png", np.full((300, 500, 3), 77, dtype=np.uint8))
    out = imagenet.preprocess_image(path)
    assert out.shape == (3, 224, 224)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous


def test_resize_then_crop_keeps_the_centre_of_a_nonsquare_image(tmp_path):
    # A 300x500 picture with a 280x280 white square in the middle: after the
    # short side goes to 256 the square is ~239 px and the 224 crop is inside it;
    # stretching to 224x224 instead of resize+crop would show the black margins.
    img = np.zeros((300, 500, 3), dtype=np.uint8)
    img[10:290, 110:390] = 255
    out = imagenet.preprocess_image(write_png(tmp_path / "sq.png", img))
    np.testing.assert_allclose(out, np.broadcast_to((255 - MEAN)[:, None, None], out.shape), atol=1e-4)


def test_mean_subtraction_of_a_uniform_image(tmp_path):
    path = write_png(tmp_path / "mean.png", np.broadcast_to(np.uint8([124, 117, 104]), (240, 320, 3)))
    out = imagenet.preprocess_image(path)
    expected = np.float32([124, 117, 104]) - MEAN  # ~[0.32, 0.22, 0.06]: no std division
    np.testing.assert_allclose(out.mean(axis=(1, 2)), expected, atol=1e-5)
    assert np.abs(out).max() < 0.5


def test_channel_zero_is_red(tmp_path):
    red = np.zeros((256, 300, 3), dtype=np.uint8)
    red[..., 0] = 200
    out = imagenet.preprocess_image(write_png(tmp_path / "red.png", red))
    np.testing.assert_allclose(out[:, 100, 100], np.float32([200, 0, 0]) - MEAN, atol=1e-4)


def test_bgr_order_gives_channel_swapped_output(tmp_path):
    rng = np.random.default_rng(1)
    path = write_png(tmp_path / "r.png", rng.integers(0, 256, size=(260, 310, 3), dtype=np.uint8))
    rgb = imagenet.preprocess_image(path) + MEAN[:, None, None]
    bgr = imagenet.preprocess_image(path, channel_order="BGR") + MEAN[:, None, None]
    np.testing.assert_allclose(bgr, rgb[::-1], atol=1e-4)
    assert not np.allclose(bgr, rgb, atol=1.0)


def test_unknown_channel_order_is_rejected(tmp_path):
    path = write_png(tmp_path / "r.png", np.zeros((10, 10, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="channel_order"):
        imagenet.preprocess_image(path, channel_order="GBR")


def test_preprocess_dataset_stacks_in_val_map_order(tmp_path):
    root = make_dataset(tmp_path / "ds", labels=(5, 2, 8))
    samples, labels = imagenet.preprocess_dataset(root, count=2)
    assert samples.shape == (2, 3, 224, 224) and samples.dtype == np.float32
    assert samples.flags.c_contiguous
    assert labels.dtype == np.int64 and labels.tolist() == [5, 2]
    for i in range(2):
        np.testing.assert_array_equal(samples[i], imagenet.preprocess_image(root / f"img_{i}.png"))


# ---------------------------------------------------------- the proxy dataset


@pytest.fixture(scope="module")
def rendered_val(tmp_path_factory):
    return digits_imagenet.render_dataset(tmp_path_factory.mktemp("digits") / "val", "val")


def _tree_bytes(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


def test_render_is_deterministic(rendered_val, tmp_path):
    again = digits_imagenet.render_dataset(tmp_path / "again", "val")
    first = _tree_bytes(rendered_val)
    assert len(first) == 501
    assert _tree_bytes(again) == first


def test_rendered_val_layout(rendered_val):
    from sklearn.datasets import load_digits

    entries = imagenet.read_val_map(rendered_val)  # also checks every file exists
    assert len(entries) == 500
    assert entries[0][0] == "ILSVRC2012_val_00000001.JPEG"
    assert entries[-1][0] == "ILSVRC2012_val_00000500.JPEG"
    labels = np.array([label for _, label in entries])
    # The fixed split: val is the last 500 digits, in order.
    np.testing.assert_array_equal(labels, load_digits().target[1297:1797])
    counts = np.bincount(labels, minlength=10)
    assert len(counts) == 10 and counts.min() >= 35 and counts.max() <= 65, counts
    img = cv2.imread(str(rendered_val / entries[0][0]))
    assert img.shape == (288, 320, 3)  # non-square on purpose


def test_rendered_digit_is_red_and_distractor_is_blue():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images, digits.target
    index = 1297
    rgb = digits_imagenet.render_image(index, images, labels).astype(np.float64)
    # Pool each channel onto the digit's 8x8 grid (32-px cells, centred).
    top, left = (288 - 256) // 2, (320 - 256) // 2
    cells = rgb[top : top + 256, left : left + 256].reshape(8, 32, 8, 32, 3).mean(axis=(1, 3))
    red_corr = np.corrcoef(cells[..., 0].ravel(), images[index].ravel())[0, 1]
    blue_corr = np.corrcoef(cells[..., 2].ravel(), images[index].ravel())[0, 1]
    assert red_corr > 0.99
    assert blue_corr < 0.9  # a different digit, not a copy of the true one


def test_render_calibration_split(tmp_path):
    root = digits_imagenet.render_dataset(tmp_path / "cal", "calibration")
    entries = imagenet.read_val_map(root)
    assert len(entries) == 200
    assert (root / "cal_map.txt").read_text() == (root / "val_map.txt").read_text()
    assert entries[0][0] == "ILSVRC2012_cal_00000001.JPEG"


def test_render_rejects_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="split"):
        digits_imagenet.render_dataset(tmp_path, "test")


# ------------------------------------------------------ the preprocessed cache


@pytest.fixture
def small_digits(tmp_path):
    return digits_imagenet.render_dataset(tmp_path / "small", "val", count=6)


def _counting(monkeypatch, calls: list):
    real = imagenet.preprocess_dataset

    def wrapper(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(imagenet, "preprocess_dataset", wrapper)


def test_cache_builds_once_and_loads_with_mmap(small_digits, tmp_path, monkeypatch):
    calls: list = []
    _counting(monkeypatch, calls)
    cache = tmp_path / "cache"
    samples_path, labels_path, key = preprocessed.load_or_build(small_digits, cache)
    again = preprocessed.load_or_build(small_digits, cache)
    assert calls == [1]
    assert again == (samples_path, labels_path, key)
    assert samples_path == cache / "preprocessed" / f"imagenet-{key[:16]}" / "samples.npy"
    assert len(key) == 64

    samples = np.load(samples_path, mmap_mode="r")
    labels = np.load(labels_path, mmap_mode="r")
    assert isinstance(samples, np.memmap)
    assert samples.shape == (6, 3, 224, 224) and samples.dtype == np.float32
    assert labels.dtype == np.int64
    ref_samples, ref_labels = imagenet.preprocess_dataset(small_digits)
    np.testing.assert_array_equal(samples, ref_samples)
    np.testing.assert_array_equal(labels, ref_labels)


def test_cache_key_follows_content_and_parameters(small_digits, tmp_path):
    cache = tmp_path / "cache"
    _, _, key = preprocessed.load_or_build(small_digits, cache)
    assert preprocessed.load_or_build(small_digits, cache, channel_order="BGR")[2] != key
    assert preprocessed.load_or_build(small_digits, cache, count=3)[2] != key

    # Re-encode one image with different content: same name, new key.
    img = cv2.imread(str(small_digits / "ILSVRC2012_val_00000002.JPEG"))
    cv2.imwrite(str(small_digits / "ILSVRC2012_val_00000002.JPEG"), 255 - img)
    samples_path, _, changed = preprocessed.load_or_build(small_digits, cache)
    assert changed != key
    expected = imagenet.preprocess_image(small_digits / "ILSVRC2012_val_00000002.JPEG")
    np.testing.assert_array_equal(np.load(samples_path)[1], expected)

    # Relabelling (val_map.txt bytes) changes it too.
    lines = (small_digits / "val_map.txt").read_text().splitlines(keepends=True)
    name, label = lines[0].split()
    lines[0] = f"{name} {(int(label) + 1) % 10}\n"
    (small_digits / "val_map.txt").write_text("".join(lines))
    assert preprocessed.load_or_build(small_digits, cache)[2] != changed


def test_failed_build_leaves_nothing_behind(small_digits, tmp_path, monkeypatch):
    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(preprocessed.np, "save", broken_save)
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match="disk full"):
        preprocessed.load_or_build(small_digits, cache)
    leftovers = [p.name for p in (cache / "preprocessed").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def _concurrent_builder(dataset_dir, cache_dir, log_path, barrier, results):
    """Runs in a spawned process: count builds in a shared log, then race."""
    real = imagenet.preprocess_dataset

    def logged(*args, **kwargs):
        with open(log_path, "a") as log:
            log.write(f"{os.getpid()}\n")
        time.sleep(0.5)  # widen the window in which the other process could start a second build
        return real(*args, **kwargs)

    imagenet.preprocess_dataset = logged
    barrier.wait(timeout=60)
    samples, labels, key = preprocessed.load_or_build(dataset_dir, cache_dir)
    results.put((str(samples), str(labels), key))


def test_concurrent_builders_build_once(small_digits, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    cache, log = tmp_path / "cache", tmp_path / "builds.log"
    procs = [
        ctx.Process(target=_concurrent_builder, args=(small_digits, cache, log, barrier, results)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert outcomes[0] == outcomes[1]
    assert len(log.read_text().splitlines()) == 1, "the dataset was preprocessed more than once"
    # Only the final folder (and perhaps its lock file): no temporary folder left.
    names = sorted(p.name for p in (cache / "preprocessed").iterdir() if not p.name.endswith(".lock"))
    assert names == [f"imagenet-{outcomes[0][2][:16]}"]
    assert np.load(outcomes[0][0], mmap_mode="r").shape == (6, 3, 224, 224)


# --------------------------------------------- damaged images, bad val_map lines


def test_a_label_outside_the_classes_names_the_line(tmp_path):
    root = make_dataset(tmp_path / "ds")
    (root / "val_map.txt").write_text("img_0.png 3\nimg_1.png 1000\nimg_2.png 4\n")
    with pytest.raises(DatasetError) as err:
        imagenet.read_val_map(root)
    assert str(err.value) == (
        f"{root / 'val_map.txt'}, line 2: 'img_1.png 1000' has label 1000, outside the model's 1000 classes; "
        "expected a label in 0..999"
    )


def test_the_class_count_is_a_parameter(tmp_path):
    root = make_dataset(tmp_path / "ds", labels=(3, 9, 4))
    assert [label for _, label in imagenet.read_val_map(root, num_classes=10)] == [3, 9, 4]
    with pytest.raises(DatasetError, match=r"line 2: 'img_1.png 9' has label 9, outside the model's 9 classes; "
                                           r"expected a label in 0\.\.8"):
        imagenet.read_val_map(root, num_classes=9)
    # the labels-only reading (scoring an accuracy log) checks them too
    with pytest.raises(DatasetError, match="outside the model's 9 classes"):
        imagenet.read_val_map(root, num_classes=9, check_images=False)


def test_an_image_listed_twice_names_both_lines(tmp_path):
    root = make_dataset(tmp_path / "ds")
    (root / "val_map.txt").write_text("img_0.png 3\nimg_1.png 1\nimg_0.png 3\n")
    with pytest.raises(DatasetError) as err:
        imagenet.read_val_map(root)
    assert str(err.value) == (
        f"{root / 'val_map.txt'}, line 3: 'img_0.png 3' lists img_0.png again (first listed on line 1); "
        "expected each image once"
    )


@pytest.fixture
def three_jpegs(tmp_path):
    """Three of the proxy's real JPEG files (written by OpenCV's libjpeg) and their val_map.txt."""
    return digits_imagenet.render_dataset(tmp_path / "jpegs", "val", count=3)


def _second_image(root: Path) -> Path:
    return root / imagenet.read_val_map(root)[1][0]


def test_a_truncated_jpeg_names_the_image_and_the_line(three_jpegs):
    image = _second_image(three_jpegs)
    data = image.read_bytes()
    image.write_bytes(data[: len(data) - 300])  # as a download cut short leaves it
    # OpenCV alone decodes it, grey at the bottom, with only a warning on stderr
    assert cv2.imread(str(image)) is not None
    with pytest.raises(DatasetError) as err:
        imagenet.preprocess_dataset(three_jpegs)
    message = str(err.value)
    line = f"{image.name} {imagenet.read_val_map(three_jpegs)[1][1]}"
    assert message.startswith(f"{three_jpegs / 'val_map.txt'}, line 2 ('{line}'): image {image} is a damaged JPEG")
    assert f"ends after {len(data) - 300} bytes, before the end-of-image marker FF D9 (the file is truncated)" in message


def test_a_jpeg_cut_just_before_its_end_marker_is_truncated(three_jpegs):
    image = _second_image(three_jpegs)
    image.write_bytes(image.read_bytes()[:-2])
    with pytest.raises(DatasetError, match=re.escape(str(image)) + " is a damaged JPEG.*truncated"):
        imagenet.preprocess_image(image)


def test_stray_bytes_before_a_marker_are_an_error(three_jpegs):
    """libjpeg: 'Corrupt JPEG data: 3 extraneous bytes before marker', and an image."""
    image = _second_image(three_jpegs)
    data = image.read_bytes()
    at = data.index(b"\xff\xdb")  # the first quantisation table
    image.write_bytes(data[:at] + b"\x01\x02\x03" + data[at:])
    with pytest.raises(DatasetError, match=re.escape(str(image)) + r" is a damaged JPEG: it has 3 stray byte\(s\)"):
        imagenet.preprocess_image(image)


def test_a_decoder_warning_is_an_error_naming_the_image(three_jpegs, capfd):
    """Damage inside the compressed data keeps the structure intact: only libjpeg's warning tells."""
    image = _second_image(three_jpegs)
    data = bytearray(image.read_bytes())
    scan = data.index(b"\xff\xda")
    middle = (scan + len(data)) // 2
    data[middle:middle + 40] = b"\xff\xd3" * 20  # restart markers where none belong
    image.write_bytes(bytes(data))
    assert imagenet.jpeg_damage(bytes(data)) is None  # the structure alone looks whole
    with pytest.raises(DatasetError) as err:
        imagenet.preprocess_dataset(three_jpegs)
    message = str(err.value)
    assert f"line 2 ('{image.name} " in message and f"image {image}: the decoder warned 'Corrupt JPEG data" in message
    assert "expected a file that decodes cleanly" in message
    # the warning went into the error, not onto the terminal, and stderr works afterwards
    import sys

    print("after", file=sys.stderr, flush=True)
    assert capfd.readouterr().err == "after\n"


def test_clean_jpegs_decode_as_opencv_decodes_them(three_jpegs):
    image = _second_image(three_jpegs)
    np.testing.assert_array_equal(imagenet.decode_image(image), cv2.imread(str(image), cv2.IMREAD_COLOR))
    assert imagenet.preprocess_dataset(three_jpegs)[0].shape == (3, 3, 224, 224)
