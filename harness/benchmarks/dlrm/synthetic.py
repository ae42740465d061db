"""The proxy's click data: generated rows in MLPerf's multi-hot day-23 layout.

A fixed "world" (seed ``WORLD_SEED``) says how clicks arise; rows are drawn
from it with a seed per split, so the proxy's evaluation day and the
model's training rows (build_proxy.py) come from the same world and never
share a row.

How a row is made:

- each of the 26 categorical features takes one value, Zipf-distributed
  over its table (``PROXY_TABLE_SIZES``); as MLPerf's multi-hot
  materialisation does (``materialize_synthetic_multihot_dataset.py``), a
  fixed lookup table per feature turns that value into ``multi-hot size``
  ids: the value itself, then ids drawn uniformly once for the whole table;
- a hidden intent ``z`` drives the 13 integer features (Poisson counts),
  stored as torchrec's preprocessing stores them: float32 ``log(x + 3)``;
- the click is Bernoulli(sigmoid(logit)) with the logit the sum of a bias
  (a click rate near 25%), an effect per value of each feature, dot
  products of latent factors for a few feature pairs (what DLRM's dot
  interaction models), and the intent.

The click probability itself is kept for the evaluation day, so the build
can report the best AUC any model could reach (``bayes_auc``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import layout
from .aggregation import MLPERF_QUANTILE, read_quantile

GENERATOR_VERSION = 1
WORLD_SEED = 20240823
EVAL_SEED = 23  # the proxy's day 23
# The proxy's day 23: its first half (28,000 rows) is evaluated, 1,032
# samples of 10-70 rows (the proxy's quantile).
PROXY_DAY_ROWS = 56000
ZIPF_EXPONENT = 1.1
LATENT = 4
# Feature pairs whose latent factors interact; the features whose values
# carry strong direct effects (the spread of those log-odds), the others weak.
PAIRS = ((0, 1), (2, 9), (3, 10), (4, 20), (11, 21), (13, 22), (14, 19))
STRONG = (0, 1, 2, 3, 4, 9, 10, 11, 13, 14, 19, 20, 21, 22)
STRONG_SPREAD, WEAK_SPREAD = 0.55, 0.12
LATENT_SCALE = 0.55
INTENT_WEIGHT = 0.8
BIAS = -1.6


@dataclass(frozen=True)
class World:
    popularity: tuple[np.ndarray, ...]  # per feature: probability of each value
    lookup: tuple[np.ndarray, ...]  # per feature: int32 [table, multi-hot size]
    effect: tuple[np.ndarray, ...]  # per feature: float64 [table]
    factors: dict  # feature -> float64 [table, LATENT]
    intent_rates: np.ndarray  # [13, 2]: log-rate intercept and slope per integer feature


def make_world(seed: int = WORLD_SEED) -> World:
    rng = np.random.default_rng(seed)
    popularity, lookup, effect = [], [], []
    for k, (size, hot) in enumerate(zip(layout.PROXY_TABLE_SIZES, layout.PROXY_MULTI_HOT)):
        weights = 1.0 / np.arange(1, size + 1) ** ZIPF_EXPONENT
        popularity.append(rng.permutation(weights / weights.sum()))
        table = np.empty((size, hot), np.int32)
        table[:, 0] = np.arange(size)
        table[:, 1:] = rng.integers(0, size, size=(size, hot - 1))
        lookup.append(table)
        effect.append(rng.normal(0.0, STRONG_SPREAD if k in STRONG else WEAK_SPREAD, size))
    factors = {k: rng.normal(0.0, LATENT_SCALE, (layout.PROXY_TABLE_SIZES[k], LATENT))
               for k in sorted({f for pair in PAIRS for f in pair})}
    rates = np.stack([rng.uniform(0.0, 3.0, layout.DENSE_FEATURES), rng.uniform(-0.8, 0.8, layout.DENSE_FEATURES)],
                     axis=1)
    return World(tuple(popularity), tuple(lookup), tuple(effect), factors, rates)


@dataclass(frozen=True)
class Rows:
    dense: np.ndarray  # float32 [n, 13]
    sparse: tuple[np.ndarray, ...]  # 26 x int32 [n, multi-hot size]
    labels: np.ndarray  # int32 [n, 1]
    probability: np.ndarray  # float64 [n]: the click probability the labels were drawn from


def draw_rows(world: World, n: int, seed: int) -> Rows:
    rng = np.random.default_rng(seed)
    values = [rng.choice(len(p), size=n, p=p) for p in world.popularity]
    intent = rng.normal(size=n)
    log_rate = world.intent_rates[:, 0] + intent[:, None] * world.intent_rates[:, 1]
    counts = rng.poisson(np.exp(log_rate))
    dense = np.log(counts.astype(np.float32) + np.float32(3.0), dtype=np.float32)
    logit = BIAS + INTENT_WEIGHT * intent
    for k, v in enumerate(values):
        logit += world.effect[k][v]
    for a, b in PAIRS:
        logit += np.einsum("nd,nd->n", world.factors[a][values[a]], world.factors[b][values[b]])
    probability = 1.0 / (1.0 + np.exp(-logit))
    labels = (rng.random(n) < probability).astype(np.int32).reshape(-1, 1)
    sparse = tuple(np.ascontiguousarray(world.lookup[k][v]) for k, v in enumerate(values))
    return Rows(dense, sparse, labels, probability)


def write_day(directory: Path, rows: Rows, quantile_divisor: int = layout.PROXY_QUANTILE_DIVISOR) -> Path:
    """The three day-23 files and the proxy's quantile file, in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / layout.DENSE_FILE, rows.dense)
    np.save(directory / layout.LABELS_FILE, rows.labels)
    # As materialize_synthetic_multihot_dataset.py writes it: np.savez (stored members, fixed timestamps).
    np.savez(directory / layout.SPARSE_FILE, **{str(k): a for k, a in enumerate(rows.sparse)})
    scaled = np.maximum(1, read_quantile(MLPERF_QUANTILE) // quantile_divisor)
    (directory / layout.QUANTILE_FILE).write_text(", ".join(map(str, scaled.tolist())) + "\n")
    return directory


def render_dataset(directory: Path, rows: int = PROXY_DAY_ROWS) -> Path:
    """The proxy's day 23 (deterministic: same bytes on every call)."""
    return write_day(directory, draw_rows(make_world(), rows, EVAL_SEED))


def bayes_auc(rows: Rows, count: int) -> float:
    """The AUC of the true click probability over the first ``count`` rows: no model does better on average."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(rows.labels[:count, 0], rows.probability[:count]))
