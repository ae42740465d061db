"""The COCO-2014 caption folder of stable-diffusion-xl: its layout, its bad inputs, its staging.

- the proxy folder is MLPerf's layout (captions/captions.tsv with tools/coco.py's
  columns, latents/, validation/data/), the same bytes on every build;
- a caption file missing a field, an empty field, a missing or misshapen
  latent is a DatasetFormatError naming the file and what was expected,
  raised by ``check`` before any staging;
- a staged row holds both tokenizers' ids of the caption and of MLPerf's
  negative prompt, then the shared latent, as the task splits it.
"""
from __future__ import annotations

import csv
import hashlib
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="SDXL's captions are tokenized with transformers' CLIPTokenizer")
pytest.importorskip("cv2", reason="the proxy's pictures are written with OpenCV")

from harness.datasets.base import DatasetFormatError, DatasetRequest  # noqa: E402
from harness.registry.parts import resolve  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "sdxl"
PROXY = FAMILY_DIR / "proxy"
TSV_HEADER = "id\timage_id\tcaption\theight\twidth\tfile_name"  # text_to_image/coco-2014/captions/captions.tsv


def family_module(name: str):
    return importlib.import_module(resolve(f"{name}:__name__", FAMILY_DIR, "module"))


@pytest.fixture(scope="module")
def fmt():
    return family_module("dataset").Coco2014Captions()


@pytest.fixture(scope="module")
def proxy_root(tmp_path_factory):
    return family_module("proxy_data").render_dataset(tmp_path_factory.mktemp("sdxl") / "coco2014")


def _copy(proxy_root: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "coco2014"
    shutil.copytree(proxy_root / "captions", target / "captions")
    shutil.copytree(proxy_root / "latents", target / "latents")
    return target


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


# ------------------------------------------------------------------ the proxy folder
def test_the_proxy_folder_is_mlperfs_layout(proxy_root):
    lines = (proxy_root / "captions" / "captions.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == TSV_HEADER and len(lines) == 1 + 128
    rows = list(csv.DictReader(lines, delimiter="\t"))
    ids = [int(r["id"]) for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # tools/coco.py sorts by id
    assert all((proxy_root / "validation" / "data" / r["file_name"]).is_file() for r in rows)
    assert {r["height"] for r in rows} == {r["width"] for r in rows} == {"64"}
    latents = np.load(proxy_root / "latents" / "latents.npy")
    assert latents.shape == (1, 4, 8, 8) and latents.dtype == np.float32
    sample_ids = [int(x) for x in (proxy_root / "sample_ids.txt").read_text().split()]
    assert len(sample_ids) == 10 and all(0 < i < 128 for i in sample_ids)


def test_the_proxy_folder_is_the_same_on_every_build(proxy_root, tmp_path):
    again = family_module("proxy_data").render_dataset(tmp_path / "again")
    assert _digest(again) == _digest(proxy_root)


def test_a_proxy_picture_is_its_caption_rendered(proxy_root):
    cv2 = pytest.importorskip("cv2")
    scene = family_module("scene")
    first = scene.scenes("val")[0]
    row = next(csv.DictReader((proxy_root / "captions" / "captions.tsv").open(encoding="utf-8"), delimiter="\t"))
    assert row["caption"] == first.caption
    picture = cv2.imread(str(proxy_root / "validation" / "data" / row["file_name"]))[..., ::-1]
    assert np.array_equal(picture, scene.render(first))


# ------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("field", ["id", "image_id", "caption", "height", "width", "file_name"])
def test_a_caption_file_missing_a_field_names_the_file_and_the_field(fmt, proxy_root, tmp_path, field):
    root = _copy(proxy_root, tmp_path)
    path = root / "captions" / "captions.tsv"
    rows = list(csv.reader(path.open(encoding="utf-8"), delimiter="\t"))
    drop = rows[0].index(field)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t", lineterminator="\n").writerows([r[:drop] + r[drop + 1:] for r in rows])
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(str(path))}: no '{field}' column"):
        fmt.check(root, None)


def test_a_caption_row_with_an_empty_field_names_its_line(fmt, proxy_root, tmp_path):
    root = _copy(proxy_root, tmp_path)
    path = root / "captions" / "captions.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[3].split("\t")
    cells[2] = ""
    lines[3] = "\t".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=rf"{re.escape(str(path))}: line 4: no value in the 'caption' field"):
        fmt.check(root, None)


def test_a_non_integer_id_names_its_line(fmt, proxy_root, tmp_path):
    root = _copy(proxy_root, tmp_path)
    path = root / "captions" / "captions.tsv"
    text = path.read_text(encoding="utf-8").splitlines()
    text[1] = "seventy" + text[1][text[1].index("\t"):]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"line 2: id 'seventy' is not an integer"):
        fmt.check(root, None)


def test_a_missing_caption_file_names_it(fmt, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match=r"captions/captions.tsv: no such file"):
        fmt.check(tmp_path / "empty", None)


def test_a_missing_latent_names_both_names_it_may_have(fmt, proxy_root, tmp_path):
    root = _copy(proxy_root, tmp_path)
    (root / "latents" / "latents.npy").unlink()
    with pytest.raises(DatasetFormatError, match=r"no latents/latents.pt or latents/latents.npy"):
        fmt.check(root, None)


def test_a_latent_of_the_wrong_shape_names_the_file(fmt, proxy_root, tmp_path):
    root = _copy(proxy_root, tmp_path)
    np.save(root / "latents" / "latents.npy", np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(DatasetFormatError, match=r"latents.npy: a latent of shape \[1, 3, 8, 8\]; expected \[1, 4"):
        fmt.check(root, None)


def test_a_latent_for_another_picture_size_is_refused_before_staging(fmt, proxy_root, tmp_path):
    request = DatasetRequest(cache_dir=tmp_path / "cache", tokenizer_dir=PROXY, task_options={"image_size": 1024})
    with pytest.raises(DatasetFormatError, match=r"the model makes 1024x1024 pictures from \[1, 4, 128, 128\]"):
        fmt.prepare(proxy_root, request)
    assert not (tmp_path / "cache").exists()


def test_a_count_past_the_captions_is_an_error(fmt, proxy_root):
    with pytest.raises(DatasetFormatError, match="--mlperf-count 500, but it holds 128 captions"):
        fmt.check(proxy_root, 500)


def test_staging_needs_the_pipelines_tokenizers(fmt, proxy_root, tmp_path):
    with pytest.raises(DatasetFormatError, match="--mlperf-tokenizer-path"):
        fmt.prepare(proxy_root, DatasetRequest(cache_dir=tmp_path))
    (tmp_path / "no-vocab").mkdir()
    with pytest.raises(DatasetFormatError, match=r"no-vocab: no vocab.json"):
        fmt.prepare(proxy_root, DatasetRequest(cache_dir=tmp_path, tokenizer_dir=tmp_path / "no-vocab"))


# ------------------------------------------------------------------ staging
def test_a_staged_row_holds_both_tokenizations_and_the_latent(fmt, proxy_root, tmp_path):
    tokenizer = family_module("clip_tokenizer")
    request = DatasetRequest(cache_dir=tmp_path / "cache", tokenizer_dir=PROXY, count=5,
                             task_options={"image_size": 64})
    prepared = fmt.prepare(proxy_root, request)
    staged = np.load(prepared.samples_path)
    assert staged.shape == (5, 4 * 77 + 4 * 8 * 8) and prepared.total == 5
    first, second = tokenizer.pipeline_tokenizers(PROXY)
    captions = list(prepared.truth.captions)
    negative = family_module("dataset").NEGATIVE_PROMPT
    expected = [tokenizer.token_ids(first, captions), tokenizer.token_ids(second, captions),
                np.repeat(tokenizer.token_ids(first, [negative]), 5, 0),
                np.repeat(tokenizer.token_ids(second, [negative]), 5, 0)]
    for k, ids in enumerate(expected):
        assert np.array_equal(staged[:, k * 77:(k + 1) * 77].astype(np.int64), ids)
    # tokenizer_2 pads with "!" (id 0), tokenizer with the end-of-text token
    assert staged[0, 77 - 1] == first.eos_token_id and staged[0, 2 * 77 - 1] == 0
    assert np.array_equal(staged[:, 4 * 77:], np.repeat(np.load(proxy_root / "latents" / "latents.npy").reshape(1, -1), 5, 0))


def test_the_ground_truth_is_the_captions_in_row_order(fmt, proxy_root):
    truth = fmt.ground_truth(proxy_root, DatasetRequest())
    scene = family_module("scene")
    assert list(truth.captions) == [s.caption for s in scene.scenes("val")]
    assert truth.sample_ids == tuple(int(x) for x in (proxy_root / "sample_ids.txt").read_text().split())


def test_a_folder_without_sample_ids_saves_mlperfs(fmt, proxy_root, tmp_path):
    root = _copy(proxy_root, tmp_path)
    truth = fmt.ground_truth(root, DatasetRequest())
    # every round's ten, so the run's accuracy folder fits any round's tree
    assert truth.sample_ids[:10] == (4459, 4015, 2705, 1682, 4048, 4683, 3757, 1578, 3319, 95)  # v5.0's
    for ids in ((2747, 2235, 2165, 1515, 1538, 1367, 2419, 4629, 3657, 4532),  # v5.1's
                (1311, 2476, 3644, 2188, 4114, 52, 388, 1195, 3427, 2289)):  # v6.0's
        assert set(ids) <= set(truth.sample_ids)
    assert len(truth.sample_ids) == len(set(truth.sample_ids)) == 30


def test_a_torch_latent_is_read_as_coco_py_reads_it(fmt, proxy_root, tmp_path):
    torch = pytest.importorskip("torch", reason="latents.pt is a torch file")
    root = _copy(proxy_root, tmp_path)
    latent = np.load(root / "latents" / "latents.npy")
    (root / "latents" / "latents.npy").unlink()
    torch.save(torch.from_numpy(latent * 2), root / "latents" / "latents.pt")
    assert np.array_equal(family_module("captions").read_latents(root), latent * 2)


def test_the_committed_vocabulary_is_the_builders(tmp_path):
    tokenizer = family_module("clip_tokenizer")
    tokenizer.write_vocabulary(tmp_path, *tokenizer.proxy_vocabulary())
    for name in ("vocab.json", "merges.txt"):
        assert (tmp_path / name).read_bytes() == (PROXY / name).read_bytes(), name


def test_every_caption_word_is_one_token(proxy_root):
    tokenizer = family_module("clip_tokenizer")
    first, _ = tokenizer.pipeline_tokenizers(PROXY)
    for word in family_module("scene").vocabulary_words():
        assert first.tokenize(word) == [word + "</w>"], word
