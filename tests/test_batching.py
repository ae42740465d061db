import numpy as np
import pytest

from harness.runner.batching import plan_batches


def _is_view(slots):
    return len(slots) == 1 or bool((np.diff(slots) == 1).all())


@pytest.mark.parametrize("n, loaded, batch", [(1024, 500, 32), (4096, 500, 32), (37, 1000, 8), (500, 500, 32)])
def test_every_sample_is_planned_exactly_once_within_the_batch_limit(n, loaded, batch):
    slots = np.random.default_rng(n).integers(0, loaded, n)
    batches = plan_batches(slots, batch)
    planned = np.concatenate(batches)
    assert sorted(planned.tolist()) == list(range(n))
    assert all(1 <= len(b) <= batch for b in batches)


def test_an_accuracy_query_is_all_views():
    slots = np.random.default_rng(0).permutation(500)  # every loaded sample once, in any order
    batches = plan_batches(slots, 32)
    assert all(_is_view(slots[b]) for b in batches)
    assert len(batches) == 16  # 15 full batches and one of 20


def test_a_dense_offline_query_is_mostly_views():
    slots = np.random.default_rng(1).integers(0, 500, 8192)
    batches = plan_batches(slots, 32)
    in_views = sum(len(b) for b in batches if _is_view(slots[b]))
    assert in_views / len(slots) > 0.7


def test_repeated_samples_are_inferred_separately():
    slots = np.array([3, 3, 3, 4, 4, 5])
    batches = plan_batches(slots, 4, min_view=2)
    assert sorted(np.concatenate(batches).tolist()) == [0, 1, 2, 3, 4, 5]
    assert [slots[b].tolist() for b in batches][0] == [3, 4, 5]
