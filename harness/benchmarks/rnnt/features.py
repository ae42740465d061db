"""MLPerf rnnt's feature extraction (``parts/features.py`` ``FilterbankFeatures``), in NumPy.

``rnnt.toml``'s ``[input_eval]``: 16 kHz audio; pre-emphasis 0.97; an STFT of
n_fft 512 over a symmetric Hann window of 20 ms (320 samples, centred in the
512 points) every 10 ms (160 samples), ``center=True`` with reflect padding
of n_fft / 2 (``torch.stft``'s defaults); the power spectrum; 80 mel filters
(librosa's ``filters.mel``: Slaney's mel scale and area normalisation, 0 Hz
to 8 kHz); the natural log (plus 1e-20); three consecutive frames stacked
into one of 240 features, keeping every third ("frame splicing": 30 ms per
frame); each feature normalised over the utterance (mean and unbiased
standard deviation of its valid frames, 1e-5 added to the deviation); the
frames past the valid length dropped.

Dither: the config's 1e-5 runs "deterministic dithering" (the reference
never draws random noise at inference): 1e-5 squared is added to the power
spectrum. MLPerf runs this inside the system under test, on each query's
waveform (``pytorch_SUT.py``), so the task does too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
WINDOW_SIZE = 0.02  # s
WINDOW_STRIDE = 0.01  # s
N_FFT = 512
N_MELS = 80
FRAME_SPLICING = 3
PREEMPHASIS = 0.97
DITHER = 0.00001
LOG_GUARD = 1e-20
STD_GUARD = 1e-5


@dataclass(frozen=True)
class FilterbankConfig:
    sample_rate: int = SAMPLE_RATE
    window_size: float = WINDOW_SIZE
    window_stride: float = WINDOW_STRIDE
    n_fft: int = N_FFT
    n_mels: int = N_MELS
    frame_splicing: int = FRAME_SPLICING
    preemphasis: float = PREEMPHASIS
    dither: float = DITHER

    @property
    def win_length(self) -> int:
        return int(self.sample_rate * self.window_size)  # the reference's int(), not round()

    @property
    def hop_length(self) -> int:
        return int(self.sample_rate * self.window_stride)

    @property
    def features(self) -> int:
        return self.n_mels * self.frame_splicing

    def check(self) -> None:
        if self.hop_length < 1 or not 1 <= self.win_length <= self.n_fft or self.frame_splicing < 1:
            raise ValueError(f"{self}: expected a hop of at least one sample, a window of 1..n_fft samples "
                             "and a splicing factor of at least 1")


# --- librosa.filters.mel(sr, n_fft, n_mels, fmin=0, fmax=sr/2): htk=False, norm="slaney"
_F_SP = 200.0 / 3  # Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz):
    """Slaney's mel scale: linear to 1 kHz (15 mel), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    linear = _F_SP * mel
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, linear)


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """float32 [n_mels, 1 + n_fft // 2]: triangles between neighbouring mel points, each of unit area in Hz."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    fft_hz = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    weights = np.zeros((n_mels, len(fft_hz)), dtype=np.float32)  # librosa fills a float32 array
    for i in range(n_mels):
        rising = -ramps[i] / widths[i]
        falling = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2: n_mels + 2] - edges[:n_mels]))[:, None]  # Slaney: unit area per filter
    return weights


def hann_window(length: int) -> np.ndarray:
    """``torch.hann_window(length, periodic=False)``: symmetric."""
    if length == 1:
        return np.ones(1, np.float32)
    n = np.arange(length, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / (length - 1))).astype(np.float32)


def valid_frames(samples: int, config: FilterbankConfig = FilterbankConfig()) -> int:
    """``get_seq_len``: frames after splicing that belong to the utterance (ceil, then ceil)."""
    frames = (samples + config.hop_length - 1) // config.hop_length
    return (frames + config.frame_splicing - 1) // config.frame_splicing


class Filterbank:
    """``Filterbank(config)(waveform) -> float32 [frames, n_mels * frame_splicing]`` for one utterance."""

    def __init__(self, config: FilterbankConfig = FilterbankConfig()):
        config.check()
        self.config = config
        self.mel = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels)
        # The projection onto the filters, as sums over each filter's non-zero
        # bins: NumPy's own loops, where a matrix product would hand a few
        # thousand multiplications to a BLAS thread pool, which on a busy
        # machine cost several times the whole feature extraction.
        rows, self._columns = np.nonzero(self.mel)
        self._weights = self.mel[rows, self._columns]
        self._filled = np.unique(rows)
        self._starts = np.searchsorted(rows, self._filled)
        window = hann_window(config.win_length)
        left = (config.n_fft - config.win_length) // 2  # torch.stft centres a shorter window
        self.window = np.zeros(config.n_fft, np.float32)
        self.window[left: left + config.win_length] = window

    def power_spectrum(self, waveform: np.ndarray) -> np.ndarray:
        """Pre-emphasis, then ``torch.stft(center=True, pad_mode="reflect")`` power: [frames, 1 + n_fft // 2]."""
        c = self.config
        x = np.asarray(waveform, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"expected one mono waveform [samples], got shape {x.shape}")
        if len(x) <= c.n_fft // 2:
            raise ValueError(f"a waveform of {len(x)} samples is too short: the centred STFT's reflect padding "
                             f"needs more than {c.n_fft // 2}")
        x = np.concatenate([x[:1], x[1:] - np.float32(c.preemphasis) * x[:-1]])
        padded = np.pad(x, c.n_fft // 2, mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(padded, c.n_fft)[:: c.hop_length]
        spectrum = np.fft.rfft(frames * self.window, axis=-1)
        return (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)

    def project(self, power: np.ndarray) -> np.ndarray:
        """``power @ mel.T`` ([frames, bins] -> [frames, n_mels]); a filter over no bin gives 0."""
        energies = np.zeros((len(power), self.config.n_mels), np.float32)
        if len(self._columns):
            energies[:, self._filled] = np.add.reduceat(power[:, self._columns] * self._weights, self._starts, axis=1)
        return energies

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        c = self.config
        power = self.power_spectrum(waveform)
        if c.dither > 0:
            power = power + np.float32(c.dither ** 2)  # deterministic dithering: no noise is drawn
        logmel = np.log(self.project(power) + np.float32(LOG_GUARD))  # [frames, n_mels]
        # Frame splicing: frame t holds frames t, t+1, ... (zeros past the end), then every k-th is kept.
        k = c.frame_splicing
        spliced = np.zeros((len(logmel), c.n_mels * k), np.float32)
        for n in range(k):
            spliced[: len(logmel) - n, n * c.n_mels: (n + 1) * c.n_mels] = logmel[n:]
        spliced = spliced[::k]
        valid = valid_frames(len(waveform), c)
        head = spliced[:valid]
        mean = head.mean(axis=0)
        std = head.std(axis=0, ddof=1) + np.float32(STD_GUARD)  # torch's std is the unbiased one
        return np.ascontiguousarray(((spliced - mean) / std)[:valid], dtype=np.float32)
