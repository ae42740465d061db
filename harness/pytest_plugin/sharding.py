"""--mlperf-shard I/N: this CI job runs its part of the selected matrix.

The split (harness/sharding.py) is made after every other narrowing: the
--mlperf-* axis options decide what is collected, then -m/-k deselect
(this hook runs last), and what is left is shared out. Every pytest-xdist
worker collects the same sorted items and so computes the same split.
Items that are not MLPerf cases (the suite's own tests, a conftest's checks)
all run in shard 1 only: they run once per sharded matrix, not N times.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.matrix import Case
from harness.sharding import ShardError, parse_shard, read_durations, shard_cases

SHARD_KEY = pytest.StashKey["ShardSpec | None"]()
# "shard 2/3: 5 of 14 MLPerf cases ..." once this process has made its split
SHARD_LINE = pytest.StashKey[str]()


@dataclass(frozen=True)
class ShardSpec:
    index: int
    count: int
    durations: dict | None
    durations_path: Path | None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlperf", "MLPerf Inference benchmarks (harness)")
    group.addoption("--mlperf-shard", default=None, metavar="I/N",
                    help="run shard I of N (1 <= I <= N) of the selected cases, after the --mlperf-* options "
                         "and -m/-k; the other shards' cases are deselected; other tests run in shard 1 only")
    group.addoption("--mlperf-shard-durations", default=None, metavar="FILE",
                    help="balance --mlperf-shard by the case durations in an earlier run's results.json "
                         "(cases it lacks get its median); default: balance by case count")


def _spec(config: pytest.Config) -> ShardSpec | None:
    shard, durations_file = config.getoption("--mlperf-shard"), config.getoption("--mlperf-shard-durations")
    if shard is None:
        if durations_file is not None:
            raise pytest.UsageError("--mlperf-shard-durations balances the shards of --mlperf-shard I/N: "
                                    "give --mlperf-shard too")
        return None
    try:
        index, count = parse_shard(shard)
    except ShardError as exc:
        raise pytest.UsageError(f"--mlperf-shard {exc}") from None
    if config.getoption("--mlperf-gate", None) is not None and count > 1:
        # A gate fails on each of its cases that did not run here, so every shard would fail it.
        raise pytest.UsageError("--mlperf-shard with --mlperf-gate: a gate judges all its cases in one session, "
                                "and each shard would fail the cases the others run; run the gate unsharded")
    if durations_file is None:
        return ShardSpec(index, count, None, None)
    if not str(durations_file).strip():
        raise pytest.UsageError("--mlperf-shard-durations: empty path; expected an earlier run's results.json")
    path = Path(durations_file).expanduser().resolve()
    try:
        durations = read_durations(path)
    except ShardError as exc:
        raise pytest.UsageError(f"--mlperf-shard-durations {exc}") from None
    return ShardSpec(index, count, durations, path)


def pytest_configure(config: pytest.Config) -> None:
    # Checked here, on the controller and every worker, before anything is collected or run.
    config.stash[SHARD_KEY] = _spec(config)


def _case(item: pytest.Item) -> Case | None:
    case = getattr(getattr(item, "callspec", None), "params", {}).get("mlperf_case")
    return case if isinstance(case, Case) else None


@pytest.hookimpl(trylast=True)  # after -m/-k (and any other plugin) deselected theirs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    spec = config.stash.get(SHARD_KEY, None)
    if spec is None:
        return
    cases = [case for case in map(_case, items) if case is not None]
    mine = set(shard_cases(cases, spec.count, spec.durations)[spec.index - 1])
    kept, deselected = [], []
    for item in items:
        case = _case(item)
        keep = case.id in mine if case is not None else spec.index == 1
        (kept if keep else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept  # the order stays as collection made it (audits last)
    how = f"by the durations in {spec.durations_path}" if spec.durations_path else "by case count"
    config.stash[SHARD_LINE] = (f"mlperf: shard {spec.index}/{spec.count}: {len(mine)} of "
                                f"{len({case.id for case in cases})} MLPerf cases, balanced {how}")


def pytest_report_collectionfinish(config: pytest.Config) -> list[str] | None:
    line = config.stash.get(SHARD_LINE, None)
    return [line] if line else None
