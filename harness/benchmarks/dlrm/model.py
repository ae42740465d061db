"""TinyDLRM: a small DLRM (embedding bags, bottom and top MLPs, dot interaction).

Inputs, as the task feeds them (one row per user-item pair):

- ``dense`` float32 ``[N, 13]``: the integer features as stored (log(x + 3));
- ``sparse`` int32 ``[N, sum(multi_hot)]``: the 26 features' multi-hot ids,
  feature after feature, each ``multi_hot[k]`` ids wide (the day-23 npz
  members side by side).

Output ``probability`` float32 ``[N]``: sigmoid of the top MLP's logit, the
click probability MLPerf's reference answers per row.

The 26 bags are sum-pooled embedding lookups. They are computed as one
lookup in one table holding every feature's rows (each id shifted by its
feature's first row) and one matrix product with a fixed 0/1 pooling matrix
[26, ids]: the same sums as 26 ``EmbeddingBag(mode="sum")`` lookups, but
two ONNX operators instead of 52, so ONNX Runtime runs the graph at the
speed PyTorch does. The dot interaction takes the bottom MLP's output and
the 26 bag vectors, their pairwise dot products below the diagonal
(27 x 26 / 2 = 351), and the bottom output itself into the top MLP.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .layout import DENSE_FEATURES, PROXY_MULTI_HOT, PROXY_TABLE_SIZES

EMBEDDING_DIM = 16
BOTTOM = (64, EMBEDDING_DIM)
TOP = (128, 64)


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class TinyDLRM(nn.Module):
    def __init__(self, table_sizes=PROXY_TABLE_SIZES, multi_hot=PROXY_MULTI_HOT, dim: int = EMBEDDING_DIM):
        super().__init__()
        if len(table_sizes) != len(multi_hot):
            raise ValueError(f"{len(table_sizes)} tables but {len(multi_hot)} multi-hot sizes")
        self.table_sizes, self.multi_hot = tuple(table_sizes), tuple(multi_hot)
        features = len(table_sizes)
        self.bottom = _mlp([DENSE_FEATURES, *BOTTOM])
        self.table = nn.Embedding(int(sum(table_sizes)), dim)
        # Where each feature's rows start in the one table, repeated per id column.
        first_row = np.concatenate(([0], np.cumsum(table_sizes)[:-1]))
        shift = np.repeat(first_row, multi_hot).astype(np.int64)
        pool = np.zeros((features, int(sum(multi_hot))), np.float32)
        pool[np.repeat(np.arange(features), multi_hot), np.arange(pool.shape[1])] = 1.0
        # Derived from the sizes, not learnt: kept out of the state dict.
        self.register_buffer("shift", torch.from_numpy(shift), persistent=False)
        self.register_buffer("pool", torch.from_numpy(pool), persistent=False)
        vectors = features + 1
        lower = np.tril_indices(vectors, k=-1)
        self.register_buffer("pairs", torch.from_numpy((lower[0] * vectors + lower[1]).astype(np.int64)),
                             persistent=False)
        top_in = dim + len(lower[0])
        self.top = nn.Sequential(_mlp([top_in, *TOP]), nn.Linear(TOP[-1], 1))

    def forward(self, dense, sparse):
        x = self.bottom(dense)  # [N, d]
        ids = sparse.to(torch.int64) + self.shift  # [N, ids]
        bags = torch.matmul(self.pool, self.table(ids))  # [26, ids] @ [N, ids, d] -> [N, 26, d]
        vectors = torch.cat([x.unsqueeze(1), bags], dim=1)  # [N, 27, d]
        dots = torch.bmm(vectors, vectors.transpose(1, 2)).flatten(1)  # [N, 27 * 27]
        features = torch.cat([x, dots.index_select(1, self.pairs)], dim=1)
        probability = torch.sigmoid(self.top(features)).squeeze(1)
        return (probability,)
