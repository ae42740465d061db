"""rnnt's feature extraction is MLPerf's FilterbankFeatures: its constants, librosa's Slaney mel
filters, torch.stft's framing, frame splicing and per-feature normalisation over the valid frames."""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest

from harness.registry.parts import _package_for

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "rnnt"


def family(module: str):
    return importlib.import_module(f"{_package_for(FAMILY_DIR)}.{module}")


features = family("features")
synth = family("synth")


def test_the_constants_are_rnnt_tomls_input_eval():
    config = features.FilterbankConfig()
    assert (config.sample_rate, config.win_length, config.hop_length, config.n_fft) == (16000, 320, 160, 512)
    assert (config.n_mels, config.frame_splicing, config.features) == (80, 3, 240)
    assert (config.preemphasis, config.dither) == (0.97, 0.00001)


def test_the_mel_scale_is_slaneys():
    assert features.hz_to_mel(500.0) == pytest.approx(7.5)  # linear below 1 kHz: 200/3 Hz per mel
    assert features.hz_to_mel(1000.0) == pytest.approx(15.0)
    assert features.hz_to_mel(2000.0) == pytest.approx(15.0 + 27.0 * math.log(2.0) / math.log(6.4))
    hz = np.array([0.0, 123.0, 999.0, 1000.0, 4321.0, 8000.0])
    assert np.allclose(features.mel_to_hz(features.hz_to_mel(hz)), hz)


def test_the_filters_are_unit_area_triangles_on_mel_spaced_points():
    bank = features.mel_filterbank()
    assert bank.shape == (80, 257) and bank.dtype == np.float32 and (bank >= 0).all()
    edges = features.mel_to_hz(np.linspace(0.0, features.hz_to_mel(8000.0), 82))
    bins = np.linspace(0.0, 8000.0, 257)
    for i in (5, 40, 79):
        inside = np.flatnonzero(bank[i])
        assert bins[inside[0]] > edges[i] and bins[inside[-1]] < edges[i + 2]  # zero at and outside the edges
        assert abs(bins[np.argmax(bank[i])] - edges[i + 1]) <= 31.25  # peaks at the centre point
    # Slaney normalisation: 2 / (upper - lower) Hz, so wide filters sum to ~1 over 31.25 Hz bins
    assert bank[60:].sum(axis=1) * 31.25 == pytest.approx(np.ones(20), rel=0.02)
    assert (np.count_nonzero(bank, axis=1) >= 1).all()  # no empty filter at this resolution


def test_the_window_is_torchs_symmetric_hann_centred_in_the_fft():
    window = features.hann_window(320)
    assert window[0] == 0.0 and window[-1] == 0.0 and np.allclose(window, window[::-1])
    padded = features.Filterbank().window
    assert len(padded) == 512 and not padded[:96].any() and not padded[416:].any()
    assert np.array_equal(padded[96:416], window)


@pytest.mark.parametrize("samples, frames", [(16000, 34), (16159, 34), (16320, 34), (16321, 35), (160, 1)])
def test_valid_frames_round_up_twice_as_get_seq_len(samples, frames):
    assert features.valid_frames(samples) == frames


def _mlperf_features(waveform: np.ndarray, bank: np.ndarray, hop: int = 160) -> np.ndarray:
    """FilterbankFeatures.forward for one utterance, written with torch as the reference runs it."""
    torch = pytest.importorskip("torch", reason="the comparison runs torch.stft as MLPerf's featurizer does")
    x = torch.from_numpy(waveform)[None]
    seq_len = math.ceil(math.ceil(len(waveform) / hop) / 3)
    x = torch.cat((x[:, :1], x[:, 1:] - 0.97 * x[:, :-1]), dim=1)
    x = torch.stft(x, n_fft=512, hop_length=hop, win_length=320, center=True,
                   window=torch.hann_window(320, periodic=False), return_complex=True)
    x = torch.view_as_real(x).pow(2).sum(-1) + 0.00001 ** 2
    x = torch.log(torch.matmul(torch.from_numpy(bank)[None], x) + 1e-20)
    seq = [x]
    for n in (1, 2):
        shifted = torch.zeros_like(x)
        shifted[:, :, :-n] = x[:, :, n:]
        seq.append(shifted)
    x = torch.cat(seq, dim=1)[:, :, ::3]
    mean = x[:, :, :seq_len].mean(dim=2, keepdim=True)
    std = x[:, :, :seq_len].std(dim=2, keepdim=True) + 1e-5
    return ((x - mean) / std)[0, :, :seq_len].T.numpy()


@pytest.mark.parametrize("index", [0, 7])
def test_the_features_match_mlperfs_torch_pipeline(index):
    _, samples = synth.utterance("validation", index)
    waveform = samples.astype(np.float32) / 32768.0
    ours = features.Filterbank()(waveform)
    reference = _mlperf_features(waveform, features.mel_filterbank())
    assert ours.shape == reference.shape == (features.valid_frames(len(waveform)), 240)
    assert np.abs(ours - reference).max() < 5e-4  # float32 rounding: about 7e-5 seen


def test_each_feature_is_normalised_over_the_utterance():
    _, samples = synth.utterance("validation", 3)
    out = features.Filterbank()(samples.astype(np.float32) / 32768.0)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert np.abs(out.mean(axis=0)).max() < 1e-4
    assert np.allclose(out.std(axis=0, ddof=1), 1.0, atol=1e-3)


def test_a_spliced_frame_holds_three_consecutive_frames():
    # A click every 30 ms, on the first of each three frames: splicing puts it in the first 80 features.
    waveform = np.zeros(16000, np.float32)
    waveform[::480] = 1.0
    out = features.Filterbank()(waveform)
    first, second, third = out[5:25, :80], out[5:25, 80:160], out[5:25, 160:]
    assert first.mean() > second.mean() and first.mean() > third.mean()


def test_a_wrong_stride_changes_the_frame_rate():
    _, samples = synth.utterance("validation", 1)
    waveform = samples.astype(np.float32) / 32768.0
    slow = features.Filterbank(features.FilterbankConfig(window_stride=0.02))(waveform)
    assert len(slow) == features.valid_frames(len(waveform), features.FilterbankConfig(window_stride=0.02))
    assert len(slow) < 0.6 * len(features.Filterbank()(waveform))


def test_a_waveform_too_short_for_the_centred_stft_is_refused():
    with pytest.raises(ValueError, match="256"):
        features.Filterbank()(np.zeros(200, np.float32))
