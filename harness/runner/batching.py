"""Planning the Offline query's batches so that most of them need no copy.

An Offline query draws its samples, with repeats, from the loaded set. The
model can only read a batch that is contiguous in memory, so a batch of
arbitrary samples costs a gather (a copy of every input), which on a
memory-bound model costs as much as the inference. But the order in which the
samples of one query are answered is free. Sorting them by staged slot and
dealing them into "rounds" (every slot's first occurrence, then every slot's
second, ...) leaves each round strictly increasing, and most of it made of
runs of consecutive slots: each such run is a view of the staged array.
Every sample is still inferred on its own input, once; nothing is cached.
"""
from __future__ import annotations

import numpy as np


def plan_batches(slots: np.ndarray, max_batch: int, min_view: int | None = None) -> list[np.ndarray]:
    """Positions into ``slots``, grouped into batches of at most ``max_batch``.

    Runs of at least ``min_view`` consecutive slots become view batches; the
    remaining samples are grouped, in slot order, into gathered batches.
    """
    n = len(slots)
    if n == 0:
        return []
    min_view = max(2, max_batch // 4) if min_view is None else min_view
    by_slot = np.argsort(slots, kind="stable")
    sorted_slots = slots[by_slot]
    # rank = how many earlier samples of the query share this slot
    rank = np.arange(n) - np.searchsorted(sorted_slots, sorted_slots, side="left")
    in_rounds = np.lexsort((sorted_slots, rank))
    positions = by_slot[in_rounds]
    round_slots, round_rank = sorted_slots[in_rounds], rank[in_rounds]
    breaks = np.flatnonzero((np.diff(round_slots) != 1) | (np.diff(round_rank) != 0)) + 1

    batches: list[np.ndarray] = []
    leftovers: list[np.ndarray] = []
    for run in np.split(positions, breaks):
        full = len(run) - len(run) % max_batch if len(run) >= max_batch else 0
        for start in range(0, full, max_batch):
            batches.append(run[start:start + max_batch])
        tail = run[full:]
        (batches if len(tail) >= min_view else leftovers).append(tail)
    if leftovers:
        rest = np.concatenate(leftovers)
        rest = rest[np.argsort(slots[rest], kind="stable")]  # gathers walk memory forwards
        batches.extend(rest[start:start + max_batch] for start in range(0, len(rest), max_batch))
    return [batch for batch in batches if len(batch)]
