"""The dlrm-v2 dataset: MLPerf's day-23 layout, the reference's grouping of rows into samples, staging, bad folders."""
from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.datasets.base import DatasetFormatError, DatasetRequest  # noqa: E402
from harness.registry.parts import resolve  # noqa: E402
from harness.staging import Volumes  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "dlrm"


def family(module: str):
    """A module of the family, imported as the registry imports it."""
    return sys.modules[resolve(f"{module}:__name__", FAMILY_DIR)]


aggregation, layout, synthetic = family("aggregation"), family("layout"), family("synthetic")
MultihotCriteoFormat = family("dataset").MultihotCriteoFormat

# recommendation/dlrm_v2/pytorch/tools/dist_trace_verification.txt: the reference's trace
# of its first samples (start, end, rows), which a compatible generator must reproduce.
VERIFICATION_TRACE = """0, 200, 200
200, 400, 200
400, 600, 200
600, 800, 200
800, 1300, 500
1300, 2000, 700
2000, 2200, 200
2200, 2300, 100
2300, 2400, 100
2400, 2900, 500
2900, 3200, 300
3200, 3400, 200""".splitlines()
VERIFICATION_ROWS = [200, 200, 200, 200, 500, 700, 200, 100, 100, 500, 300, 200, 100, 300, 100, 300, 700, 300, 200,
                     100, 400, 200, 500, 200, 200, 200, 200, 300, 400, 200, 200, 200, 200, 100, 200, 100, 200, 200,
                     200, 200]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("dlrm-cache")


@pytest.fixture(scope="module")
def proxy_dir(tmp_path_factory):
    return synthetic.render_dataset(tmp_path_factory.mktemp("dlrm-proxy") / "day23")


@pytest.fixture(scope="module")
def prepared(proxy_dir, cache):
    return MultihotCriteoFormat().prepare(proxy_dir, DatasetRequest(cache_dir=cache))


def small_day(directory: Path, rows: int = 40, **replace) -> Path:
    """A tiny folder in the layout (the proxy's generator), with any file's array replaced."""
    day = synthetic.draw_rows(synthetic.make_world(), rows, seed=1)
    synthetic.write_day(directory, day)
    for name, array in replace.items():
        np.save(directory / name, array)
    return directory


# ------------------------------------------------------------- the grouping into samples
def test_mlperfs_quantile_and_seed_give_the_reference_trace_and_the_checker_s_dataset_size():
    quantile = aggregation.read_quantile(aggregation.MLPERF_QUANTILE)
    assert quantile.tolist() == [100, 100] + [200] * 12 + [300, 300, 400, 500, 600, 700]
    rows = layout.evaluation_rows(layout.MLPERF_DAY_ROWS)
    assert rows == 89137319  # the first half of day 23, rounded up
    offsets = aggregation.sample_offsets(rows, quantile, layout.AGGREGATION_SEED)
    assert len(offsets) - 1 == 330067  # the submission checker's dlrm-v2 dataset size
    assert offsets[0] == 0 and offsets[-1] == rows and (np.diff(offsets) > 0).all()
    assert aggregation.trace_lines(offsets[: len(VERIFICATION_TRACE) + 1]) == VERIFICATION_TRACE
    assert np.diff(offsets)[: len(VERIFICATION_ROWS)].tolist() == VERIFICATION_ROWS


def test_the_last_sample_is_clipped_at_the_end_of_the_rows():
    assert aggregation.sample_offsets(5, np.array([2])).tolist() == [0, 2, 4, 5]
    assert aggregation.sample_offsets(4, np.array([2])).tolist() == [0, 2, 4]
    assert aggregation.sample_offsets(1, np.array([3])).tolist() == [0, 1]


@pytest.mark.parametrize("text, message", [
    ("100; 200\n", r"is not comma-separated row counts"),
    ("100, 0, 200\n", r"row counts must be positive integers"),
    ("300, 200\n", r"a quantile is non-decreasing"),
    ("", r"is not comma-separated row counts"),
])
def test_a_bad_quantile_file_is_an_error_naming_it(tmp_path, text, message):
    path = tmp_path / "dist_quantile.txt"
    path.write_text(text)
    with pytest.raises(DatasetFormatError, match=f"{path}: .*{message}"):
        aggregation.read_quantile(path)


# ------------------------------------------------------------- the proxy dataset
def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_proxy_dataset_renders_byte_for_byte_the_same(proxy_dir, tmp_path):
    again = synthetic.render_dataset(tmp_path / "again")
    assert _digests(again) == _digests(proxy_dir)
    assert sorted(_digests(again)) == sorted([*layout.DAY_FILES, layout.QUANTILE_FILE])


def test_the_proxy_dataset_is_in_mlperfs_layout(proxy_dir):
    dense = np.load(proxy_dir / layout.DENSE_FILE)
    labels = np.load(proxy_dir / layout.LABELS_FILE)
    rows = synthetic.PROXY_DAY_ROWS
    assert dense.dtype == np.float32 and dense.shape == (rows, 13)
    assert dense.min() >= np.log(np.float32(3)) - 1e-6  # log(x + 3) of counts x >= 0
    assert labels.dtype == np.int32 and labels.shape == (rows, 1) and set(np.unique(labels)) == {0, 1}
    with np.load(proxy_dir / layout.SPARSE_FILE) as sparse:
        assert sorted(sparse.files, key=int) == [str(k) for k in range(26)]
        for k, name in enumerate(sorted(sparse.files, key=int)):
            ids = sparse[name]
            assert ids.dtype == np.int32 and ids.shape == (rows, layout.PROXY_MULTI_HOT[k])
            assert 0 <= ids.min() and ids.max() < layout.PROXY_TABLE_SIZES[k]
    # MLPerf's reader finds each member's array at header_offset + len(FileHeader()) + 20 (the
    # zip64 extra np.savez writes) and memory-maps it: it must be stored and land on the npy magic.
    archive = zipfile.ZipFile(proxy_dir / layout.SPARSE_FILE)
    for name in layout.SPARSE_MEMBERS:
        info = archive.NameToInfo[name]
        assert info.compress_type == zipfile.ZIP_STORED
        archive.fp.seek(info.header_offset + len(info.FileHeader()) + 20)
        assert np.lib.format.read_magic(archive.fp) == (1, 0)
    quantile = aggregation.read_quantile(proxy_dir / layout.QUANTILE_FILE)
    assert quantile.tolist() == (aggregation.read_quantile(aggregation.MLPERF_QUANTILE) // 10).tolist()


def test_the_proxy_clicks_carry_signal_that_a_constant_does_not():
    rows = synthetic.draw_rows(synthetic.make_world(), 20000, seed=3)
    assert 0.2 < rows.labels.mean() < 0.5
    assert synthetic.bayes_auc(rows, 20000) > 0.85  # what the click probabilities reach; chance is 0.5


def test_the_file_reader_memory_maps_what_numpy_loads(proxy_dir):
    day = family("criteo_files").open_day(proxy_dir)
    assert day.rows == synthetic.PROXY_DAY_ROWS and day.evaluated == synthetic.PROXY_DAY_ROWS // 2
    assert day.multi_hot == layout.PROXY_MULTI_HOT
    np.testing.assert_array_equal(day.dense, np.load(proxy_dir / layout.DENSE_FILE))
    with np.load(proxy_dir / layout.SPARSE_FILE) as sparse:
        for k, member in enumerate(day.sparse):
            np.testing.assert_array_equal(member, sparse[str(k)])


# ------------------------------------------------------------- staging
def test_each_sample_is_staged_as_its_rows_packed_in_row_order(proxy_dir, prepared):
    volumes = Volumes(prepared.samples_path)
    quantile = aggregation.read_quantile(proxy_dir / layout.QUANTILE_FILE)
    offsets = aggregation.sample_offsets(synthetic.PROXY_DAY_ROWS // 2, quantile)
    assert len(volumes) == prepared.total == len(prepared.truth) == len(offsets) - 1 > 1000
    np.testing.assert_array_equal(prepared.truth.offsets, offsets)
    dense = np.load(proxy_dir / layout.DENSE_FILE)
    labels = np.load(proxy_dir / layout.LABELS_FILE)[:, 0]
    with np.load(proxy_dir / layout.SPARSE_FILE) as npz:
        sparse = np.concatenate([npz[str(k)] for k in range(26)], axis=1)
    for i in (0, 1, 517, len(volumes) - 1):
        start, stop = offsets[i], offsets[i + 1]
        staged = volumes[i]
        assert staged.dtype == np.int32 and staged.shape == (stop - start, 13 + sum(layout.PROXY_MULTI_HOT))
        np.testing.assert_array_equal(staged[:, :13].view(np.float32), dense[start:stop])
        np.testing.assert_array_equal(staged[:, 13:], sparse[start:stop])
        np.testing.assert_array_equal(prepared.truth.of(i), labels[start:stop])
    assert {volumes.shape(i)[0] for i in range(len(volumes))} <= set(range(1, 71))  # the proxy's 10-70 rows
    assert prepared.truth.offsets[-1] == synthetic.PROXY_DAY_ROWS // 2  # only day 23's first half


def test_a_count_stages_the_first_samples_under_their_own_key(proxy_dir, prepared, cache):
    first = MultihotCriteoFormat().prepare(proxy_dir, DatasetRequest(cache_dir=cache, count=5))
    assert first.total == len(Volumes(first.samples_path)) == len(first.truth) == 5
    assert first.samples_path != prepared.samples_path
    np.testing.assert_array_equal(Volumes(first.samples_path)[4], Volumes(prepared.samples_path)[4])
    truth = MultihotCriteoFormat().ground_truth(proxy_dir, DatasetRequest(count=5))
    np.testing.assert_array_equal(truth.labels, first.truth.labels)


def test_the_content_is_the_three_files_then_the_folder_s_own_quantile(proxy_dir, tmp_path):
    files = MultihotCriteoFormat().content_files(proxy_dir)
    assert files == [proxy_dir / n for n in (*layout.DAY_FILES, layout.QUANTILE_FILE)]
    bare = small_day(tmp_path / "bare")
    (bare / layout.QUANTILE_FILE).unlink()
    assert MultihotCriteoFormat().content_files(bare) == [bare / n for n in layout.DAY_FILES]
    assert aggregation.quantile_for(bare) == aggregation.MLPERF_QUANTILE  # no file of its own: MLPerf's applies


# ------------------------------------------------------------- bad folders
def test_mismatched_row_counts_are_errors_naming_the_file_and_the_counts(tmp_path):
    labels = small_day(tmp_path / "labels", **{layout.LABELS_FILE: np.zeros((39, 1), np.int32)})
    with pytest.raises(DatasetFormatError, match=rf"{labels / layout.LABELS_FILE}: 39 rows, but "
                                                 rf"{layout.DENSE_FILE} has 40; expected one label per row"):
        MultihotCriteoFormat().check(labels, None)
    dense = small_day(tmp_path / "dense", **{layout.DENSE_FILE: np.zeros((41, 13), np.float32)})
    with pytest.raises(DatasetFormatError, match=rf"{dense / layout.LABELS_FILE}: 40 rows, but "
                                                 rf"{layout.DENSE_FILE} has 41"):
        MultihotCriteoFormat().check(dense, None)
    sparse = small_day(tmp_path / "sparse")
    members = {str(k): np.zeros((40 if k != 3 else 38, 1), np.int32) for k in range(26)}
    np.savez(sparse / layout.SPARSE_FILE, **members)
    with pytest.raises(DatasetFormatError, match=rf"{sparse / layout.SPARSE_FILE} member 3.npy: 38 rows, but "
                                                 rf"{layout.DENSE_FILE} has 40; expected one row of ids"):
        MultihotCriteoFormat().prepare(sparse, DatasetRequest(cache_dir=tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()  # refused before anything was staged


@pytest.mark.parametrize("breakage, message", [
    (lambda d: (d / layout.DENSE_FILE).unlink(), rf"{layout.DENSE_FILE}: no such file"),
    (lambda d: np.save(d / layout.DENSE_FILE, np.zeros((40, 13), np.float64)),
     rf"{layout.DENSE_FILE}: float64 \[40, 13\]; expected float32 \[rows, 13\]"),
    (lambda d: np.save(d / layout.DENSE_FILE, np.zeros((40, 12), np.float32)), r"expected float32 \[rows, 13\]"),
    (lambda d: np.save(d / layout.LABELS_FILE, np.zeros(40, np.int32)),
     rf"{layout.LABELS_FILE}: int32 \[40\]; expected int32 \[rows, 1\]"),
    (lambda d: np.savez(d / layout.SPARSE_FILE, **{str(k): np.zeros((40, 1), np.int32) for k in range(25)}),
     rf"{layout.SPARSE_FILE}: lacks member\(s\) 25.npy"),
    (lambda d: np.savez_compressed(d / layout.SPARSE_FILE, **{str(k): np.zeros((40, 1), np.int32) for k in range(26)}),
     r"member 0.npy: is compressed; MLPerf's reader memory-maps the members"),
    (lambda d: np.savez(d / layout.SPARSE_FILE, **{str(k): np.zeros((40, 1), np.int64) for k in range(26)}),
     r"member 0.npy: int64 \[40, 1\]; expected int32"),
    (lambda d: (d / layout.SPARSE_FILE).write_bytes(b"not a zip"), rf"{layout.SPARSE_FILE}: not an .npz"),
    (lambda d: (d / layout.QUANTILE_FILE).write_text("a, b\n"), rf"{layout.QUANTILE_FILE}: first line"),
])
def test_a_malformed_folder_is_an_error_naming_the_file(tmp_path, breakage, message):
    folder = small_day(tmp_path / "day")
    breakage(folder)
    with pytest.raises(DatasetFormatError, match=message):
        MultihotCriteoFormat().check(folder, None)


def test_a_label_that_is_not_a_click_or_not_is_named_by_its_row(tmp_path):
    labels = np.zeros((40, 1), np.int32)
    labels[7] = 2
    folder = small_day(tmp_path / "day", **{layout.LABELS_FILE: labels})
    MultihotCriteoFormat().check(folder, None)  # headers are fine; the values are read with the labels
    with pytest.raises(DatasetFormatError, match=rf"{layout.LABELS_FILE}: row 7 holds label 2; expected 0"):
        MultihotCriteoFormat().ground_truth(folder, DatasetRequest())


def test_a_missing_folder_and_staging_without_a_cache_are_errors(tmp_path):
    with pytest.raises(DatasetFormatError, match=rf"{tmp_path / 'nowhere'}: no such folder"):
        MultihotCriteoFormat().check(tmp_path / "nowhere", None)
    with pytest.raises(DatasetFormatError, match=r"staging needs a cache folder"):
        MultihotCriteoFormat().prepare(small_day(tmp_path / "day"), DatasetRequest())
