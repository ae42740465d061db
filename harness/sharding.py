"""Splitting a selected matrix into N shards, one per CI job (``--mlperf-shard I/N``).

A plain library (no pytest): the pytest plugin (harness/pytest_plugin/sharding.py)
and ``python -m harness ci-matrix`` must arrive at exactly the same split, and
every pytest-xdist worker computes it on its own, so the split depends only on
the case ids, the shard count and the durations file, never on the order the
ids come in, the machine or the clock.

Balancing is greedy longest-first bin packing: the units, heaviest first (ties
by id), each go to the shard with the least expected time so far (ties: the
one with fewer cases, then the lower number); units that cost nothing (cases
the registry skips) go last, to the shard with the fewest cases. A unit's weight is its recorded
``duration_s`` in an earlier run's results.json, or that file's median
duration when it has none; without a durations file every case weighs the
same, which balances by count.
"""
from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .matrix import Case
from .registry.schema import COMPLIANCE_TESTS

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


class ShardError(ValueError):
    """A shard specification or durations file that cannot be used."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``: shard 2 of 3, numbered from 1."""
    found = _SHARD.fullmatch(text or "")
    if found is None:
        raise ShardError(f"{text!r}: expected I/N, shard I of N, with whole numbers 1 <= I <= N (e.g. 1/3)")
    index, count = int(found.group(1)), int(found.group(2))
    if count < 1:
        raise ShardError(f"{text!r}: the shard count N must be at least 1")
    if not 1 <= index <= count:
        raise ShardError(f"{text!r}: the shard number I must be between 1 and N={count} (shards are numbered from 1)")
    return index, count


def read_durations(path: str | Path) -> dict[str, float]:
    """Case id -> ``duration_s`` from an earlier run's results.json.

    Cases recorded without a duration (skipped, or an error before the run)
    are left out: they get the median like a case the file does not name.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ShardError(f"{path}: cannot read the durations file ({exc.strerror or exc}); "
                         "expected an earlier run's results.json") from None
    except UnicodeDecodeError as exc:
        raise ShardError(f"{path}: not a results.json (not UTF-8 text: {exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ShardError(f"{path}: not a results.json (invalid JSON at line {exc.lineno} "
                         f"column {exc.colno}: {exc.msg})") from None
    cases = document.get("cases") if isinstance(document, dict) else None
    if not isinstance(cases, list):
        raise ShardError(f"{path}: field 'cases': expected a list of case records, as results.json has")
    durations: dict[str, float] = {}
    for index, case in enumerate(cases):
        case_id = case.get("id") if isinstance(case, dict) else None
        if not isinstance(case_id, str) or not case_id:
            raise ShardError(f"{path}: cases[{index}].id: expected the case's id string, got {case_id!r}")
        value = case.get("duration_s")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ShardError(f"{path}: cases[{index}] (id {case_id!r}).duration_s: "
                             f"expected a number of seconds >= 0 or null, got {value!r}")
        durations[case_id] = float(value)
    return durations


def weights(case_ids: Iterable[str], durations: Mapping[str, float] | None = None,
            zero: Iterable[str] = ()) -> dict[str, float]:
    """Each case's expected seconds (1 each without durations); ids in ``zero`` weigh nothing."""
    zero = set(zero)
    if durations is None:
        return {case_id: 0.0 if case_id in zero else 1.0 for case_id in case_ids}
    # A file without a single duration says nothing about relative cost: every case weighs the same.
    median = statistics.median(durations.values()) if durations else 1.0
    return {case_id: 0.0 if case_id in zero else float(durations.get(case_id, median)) for case_id in case_ids}


def assign(case_ids: Iterable[str], count: int, durations: Mapping[str, float] | None = None, *,
           groups: Mapping[str, str] | None = None, zero: Iterable[str] = ()) -> list[list[str]]:
    """The ids split into ``count`` shards (a list per shard, ids sorted within each).

    ``groups`` (id -> group name) keeps ids of one group in one shard; an id
    without a group is its own unit. ``zero``: ids known to cost nothing (the
    registry skips them), spread by count only.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ShardError(f"shard count {count!r}: expected a whole number >= 1")
    ids = sorted(set(case_ids))
    cost = weights(ids, durations, zero)
    groups = groups or {}
    units: dict[str, list[str]] = {}
    for case_id in ids:
        units.setdefault(groups.get(case_id, case_id), []).append(case_id)
    ordered = sorted(units.values(), key=lambda members: (-sum(cost[m] for m in members), members[0]))
    shards: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for members in ordered:
        weight = sum(cost[m] for m in members)
        # What costs nothing (the heaviest-first order puts it last) evens out the case counts instead.
        rank = (lambda i: (loads[i], len(shards[i]), i)) if weight > 0 else (lambda i: (len(shards[i]), loads[i], i))
        target = min(range(count), key=rank)
        shards[target].extend(members)
        loads[target] += weight
    return [sorted(shard) for shard in shards]


def audit_groups(cases: Iterable[Case]) -> dict[str, str]:
    """A compliance audit and the accuracy/performance runs of its case share a shard.

    An audit compares with its case's runs and, collected in the same session,
    reuses them (collection.py sorts the audits last) instead of making its own.
    """
    cases = list(cases)
    base = {case.id: case.id.removesuffix("-" + case.mode) for case in cases}
    audited = {base[case.id] for case in cases if case.mode in COMPLIANCE_TESTS}
    return {case.id: base[case.id] for case in cases
            if base[case.id] in audited and (case.mode in COMPLIANCE_TESTS or case.mode in ("accuracy", "performance"))}


def shard_cases(cases: Sequence[Case], count: int, durations: Mapping[str, float] | None = None) -> list[list[str]]:
    """The split the plugin and ci-matrix use: unsupported cases weigh nothing, audits stay with their runs."""
    return assign((case.id for case in cases), count, durations, groups=audit_groups(cases),
                  zero=(case.id for case in cases if case.unsupported))


def expected_seconds(case_ids: Iterable[str], durations: Mapping[str, float],
                     zero: Iterable[str] = ()) -> float:
    """What a shard's cases took in the durations file's run (the median for the ones it lacks)."""
    return sum(weights(list(case_ids), durations, zero).values())
