"""The stable-diffusion-xl metrics on hand-computed cases, and the official output line.

- CLIP score: 100 x cosine (clip_encoder.py), mean over pictures;
- FID: the Frechet distance of pool-feature Gaussians (fid_score.py), on
  Gaussians whose distance is known in closed form;
- the printed line is accuracy_coco.py's, as the published v4.1 accuracy.txt holds it,
  and the submission checker's patterns read both figures from it;
- the log is read as the script reads it (first entry of a qsl_idx, square
  RGB pictures), and pictures 0 and the sample ids are saved.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy", reason="FID takes the covariances' square root with scipy.linalg.sqrtm")

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "sdxl"
SHARED = ROOT.parent / "shared"
PUBLISHED = (SHARED / "mlperf-logs-v4.1" / "open" / "CTuning" / "results"
             / "cm-demo-gfursin-scaleway-L4-1-24G-reference-gpu-pytorch-v2.3.1-default_config"
             / "stable-diffusion-xl" / "offline" / "accuracy" / "accuracy.txt")
# The submission checker's patterns (constants.py ACC_PATTERN), notes/mlperf-facts.md §5.
CHECKER_PATTERNS = {"CLIP_SCORE": r".*'CLIP_SCORE':\s+'?([\d.]+).*", "FID_SCORE": r".*'FID_SCORE':\s+'?([\d.]+).*"}


def family_module(name: str):
    """A module of the family, imported as the harness imports the family's parts."""
    import importlib

    from harness.registry.parts import resolve

    return importlib.import_module(resolve(f"{name}:__name__", FAMILY_DIR, "module"))


@pytest.fixture(scope="module")
def family():
    return {name: family_module(name) for name in ("metrics", "scorer", "dataset")}


# ------------------------------------------------------------------ CLIP score
def test_the_clip_score_is_100_times_the_cosine(family):
    metrics = family["metrics"]
    images = np.array([[3.0, 4.0], [1.0, 0.0], [2.0, 0.0]])
    texts = np.array([[4.0, 3.0], [0.0, 5.0], [-1.0, 0.0]])
    # (3*4 + 4*3) / (5 * 5) = 0.96; orthogonal; opposite
    np.testing.assert_allclose(metrics.clip_scores(images, texts), [96.0, 0.0, -100.0], atol=1e-4)


def test_the_clip_score_ignores_the_features_length(family):
    metrics = family["metrics"]
    rng = np.random.default_rng(0)
    images, texts = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    np.testing.assert_allclose(metrics.clip_scores(7.5 * images, 0.01 * texts), metrics.clip_scores(images, texts),
                               atol=1e-4)


def test_clip_features_of_different_shapes_are_refused(family):
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        family["metrics"].clip_scores(np.ones((2, 3)), np.ones((2, 4)))


# ------------------------------------------------------------------ FID
def test_the_distance_of_two_one_dimensional_gaussians(family):
    # (0 - 1)^2 + 1 + 4 - 2 sqrt(1 * 4) = 2
    assert family["metrics"].frechet_distance([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(2.0)


def test_the_distance_of_two_diagonal_gaussians(family):
    # |(1, 2)|^2 + (1 + 4) + (4 + 9) - 2 (sqrt(4) + sqrt(36)) = 5 + 18 - 16 = 7
    value = family["metrics"].frechet_distance([0.0, 0.0], np.diag([1.0, 4.0]), [1.0, 2.0], np.diag([4.0, 9.0]))
    assert value == pytest.approx(7.0)


def test_a_gaussian_is_at_distance_zero_from_itself(family):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 3))
    mu, sigma = family["metrics"].activation_statistics(a)
    assert family["metrics"].frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_the_statistics_are_the_mean_and_the_n_minus_1_covariance(family):
    mu, sigma = family["metrics"].activation_statistics(np.array([[0.0, 0.0], [2.0, 2.0]]))
    np.testing.assert_allclose(mu, [1.0, 1.0])
    np.testing.assert_allclose(sigma, [[2.0, 2.0], [2.0, 2.0]])  # divided by N - 1 = 1


def test_a_square_root_with_an_imaginary_diagonal_is_an_error(family):
    # diag(1, -1) has the square root diag(1, i): fid_score.py raises "Imaginary component"
    with pytest.raises(ValueError, match="imaginary part"):
        family["metrics"].frechet_distance([0.0, 0.0], np.eye(2), [0.0, 0.0], np.diag([1.0, -1.0]))


def test_features_of_different_lengths_are_refused(family):
    with pytest.raises(ValueError, match="same feature count"):
        family["metrics"].frechet_distance([0.0], [[1.0]], [0.0, 0.0], np.eye(2))


# ------------------------------------------------------------------ the official line
def test_the_line_is_the_published_one(family):
    line = family["metrics"].official_line(23.46804710968439, 31.750536930561065)
    assert line == "Accuracy Results: {'FID_SCORE': 23.46804710968439, 'CLIP_SCORE': 31.750536930561065}"
    for metric, pattern in CHECKER_PATTERNS.items():
        assert re.match(pattern, line), metric
    assert float(re.match(CHECKER_PATTERNS["CLIP_SCORE"], line).group(1)) == 31.750536930561065
    assert float(re.match(CHECKER_PATTERNS["FID_SCORE"], line).group(1)) == 23.46804710968439


def test_numpy_figures_print_as_python_floats(family):
    # np.mean returns np.float64, whose repr under numpy 2 is "np.float64(...)": the checker's pattern would miss it
    line = family["metrics"].official_line(np.float64(1.5), np.float32(2.25))
    assert line == "Accuracy Results: {'FID_SCORE': 1.5, 'CLIP_SCORE': 2.25}"


def test_the_published_accuracy_file_has_the_same_form(family):
    if not PUBLISHED.is_file():
        pytest.skip(f"the published v4.1 logs are not at {PUBLISHED.parent}")
    first = PUBLISHED.read_text().splitlines()[0]
    fid = float(re.match(CHECKER_PATTERNS["FID_SCORE"], first).group(1))
    clip = float(re.match(CHECKER_PATTERNS["CLIP_SCORE"], first).group(1))
    assert family["metrics"].official_line(fid, clip) == first


# ------------------------------------------------------------------ reading the log
def _truth(family, count=12, sample_ids=(3, 5, 40)):
    return family["dataset"].CaptionTruth(Path("captions.tsv"), tuple(f"caption {i}" for i in range(count)),
                                          tuple(sample_ids))


def _log(path: Path, pictures: dict, extra=()):
    entries = [{"seq_id": n, "qsl_idx": i, "data": p.tobytes().hex().upper()} for n, (i, p) in enumerate(pictures.items())]
    entries += list(extra)
    path.write_text(json.dumps(entries))
    return path


def _picture(value, side=4):
    return np.full((side, side, 3), value, np.uint8)


def test_the_first_entry_of_a_sample_counts(family, tmp_path):
    scorer = family["scorer"].ClipFidScorer(_truth(family, 2))
    again = {"seq_id": 9, "qsl_idx": 1, "data": _picture(200).tobytes().hex()}
    log = _log(tmp_path / "log.json", {0: _picture(10), 1: _picture(20)}, [again])
    pictures = scorer.pictures(log)
    assert sorted(pictures) == [0, 1] and int(pictures[1][0, 0, 0]) == 20


def test_a_picture_that_is_not_square_rgb_is_an_error(family, tmp_path):
    scorer = family["scorer"].ClipFidScorer(_truth(family, 1))
    log = tmp_path / "log.json"
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 0, "data": "00" * 50}]))
    with pytest.raises(ValueError, match=rf"{re.escape(str(log))}: entry 0 \(qsl_idx 0\): 50 bytes; expected a square"):
        scorer.pictures(log)


def test_pictures_of_different_sizes_are_an_error(family, tmp_path):
    scorer = family["scorer"].ClipFidScorer(_truth(family, 2))
    log = _log(tmp_path / "log.json", {0: _picture(1, 4), 1: _picture(1, 8)})
    with pytest.raises(ValueError, match="entry 1 .*8x8 picture; the first was 4x4"):
        scorer.pictures(log)


def test_an_unanswered_caption_is_an_error_unless_a_subset_ran(family, tmp_path):
    log = _log(tmp_path / "log.json", {0: _picture(1), 2: _picture(2)})
    with pytest.raises(ValueError, match="answers 2 of the 3 captions; missing qsl_idx 1"):
        family["scorer"].ClipFidScorer(_truth(family, 3)).pictures(log)
    assert sorted(family["scorer"].ClipFidScorer(_truth(family, 3), subset=True).pictures(log)) == [0, 2]


def test_an_index_outside_the_captions_is_an_error(family, tmp_path):
    log = _log(tmp_path / "log.json", {5: _picture(1)})
    with pytest.raises(ValueError, match="qsl_idx 5 is outside the 2 captions"):
        family["scorer"].ClipFidScorer(_truth(family, 2), subset=True).pictures(log)


def test_picture_zero_and_the_sample_ids_are_saved(family, tmp_path):
    pytest.importorskip("PIL", reason="the pictures are written with PIL as accuracy_coco.py writes them")
    from PIL import Image

    scorer = family["scorer"].ClipFidScorer(_truth(family, 12, sample_ids=(3, 5, 40)))
    pictures = {i: _picture(i * 10) for i in range(12)}
    saved = scorer.save_pictures(pictures, tmp_path / "images")
    assert saved == (0, 3, 5)  # 40 is not among the answered captions
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["0.png", "3.png", "5.png"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "images" / "5.png")), pictures[5])


def test_only_uint8_pictures_are_scored(family):
    with pytest.raises(ValueError, match="uint8"):
        family["scorer"].ClipFidScorer(_truth(family), dtype="float32")
