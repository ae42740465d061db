"""MLPerf's multi-hot Criteo day-23 layout, and the proxy's scaled-down version of it.

Sources (the public ``mlcommons/inference`` repository, ``recommendation/dlrm_v2/pytorch/``):

- ``python/multihot_criteo.py``: the dataset ``multihot-criteo`` is three files
  in one folder, ``day_23_dense.npy``, ``day_23_sparse_multi_hot.npz`` and
  ``day_23_labels.npy``; the evaluation rows are the first half of day 23
  (``len // 2 + len % 2`` rows); the npz holds one member per categorical
  feature, ``"0.npy"`` .. ``"25.npy"``, each int32 ``[rows, multi-hot size]``,
  stored uncompressed (the reader memory-maps the members and asserts it);
- torchrec's ``BinaryCriteoUtils.tsv_to_npys`` (which writes the dense and
  label files): dense float32 ``[rows, 13]`` holding ``log(x + 3)`` of the
  integer features, labels int32 ``[rows, 1]``;
- ``tools/materialize_synthetic_multihot_dataset.py``: the multi-hot sizes and
  table sizes of the 26 features;
- ``python/main.py``: ``--numpy-rand-seed`` 123 seeds the aggregation of rows
  into samples (aggregation.py).
"""
from __future__ import annotations

import math

DAY = 23
DENSE_FILE = f"day_{DAY}_dense.npy"
SPARSE_FILE = f"day_{DAY}_sparse_multi_hot.npz"
LABELS_FILE = f"day_{DAY}_labels.npy"
DAY_FILES = (DENSE_FILE, SPARSE_FILE, LABELS_FILE)
# The quantile of the rows-per-sample distribution (main.py's
# --samples-to-aggregate-quantile-file): a dataset folder may hold its own,
# else MLPerf's (the copy beside this module) applies.
QUANTILE_FILE = "dist_quantile.txt"

DENSE_FEATURES = 13
SPARSE_FEATURES = 26
SPARSE_MEMBERS = tuple(f"{k}.npy" for k in range(SPARSE_FEATURES))

# materialize_synthetic_multihot_dataset.py's --multi_hot_sizes and
# --num_embeddings_per_feature: what MLPerf's real model reads.
MLPERF_MULTI_HOT = (3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1)
MLPERF_TABLE_SIZES = (40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10,
                      2209, 11938, 155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36)
# day 23 has 178,274,637 rows: 89,137,319 evaluation rows, aggregated into the
# checker's 330,067 samples (aggregation.py reproduces that count).
MLPERF_DAY_ROWS = 178274637
AGGREGATION_SEED = 123  # main.py --numpy-rand-seed

# The proxy keeps the 13 dense and 26 multi-hot features, with a quarter of
# each multi-hot size (rounded up: 68 ids a row, not 214) and tables of at
# most 400 rows, so the model is a few hundred kilobytes and the staged rows
# of a sample stay small.
PROXY_MAX_TABLE = 400
PROXY_MULTI_HOT = tuple(math.ceil(h / 4) for h in MLPERF_MULTI_HOT)
PROXY_TABLE_SIZES = tuple(min(n, PROXY_MAX_TABLE) for n in MLPERF_TABLE_SIZES)
# MLPerf's samples hold 100-700 rows (mean 270); the proxy's a tenth of that
# (its dist_quantile.txt holds the quantile divided by this).
PROXY_QUANTILE_DIVISOR = 10


def evaluation_rows(day_rows: int) -> int:
    """How many rows of day 23 are evaluated: its first half, rounded up (multihot_criteo.py)."""
    return day_rows // 2 + day_rows % 2
