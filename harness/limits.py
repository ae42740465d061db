"""The values each setting may take, checked before any case runs.

LoadGen stores most settings as unsigned 64-bit integers and trusts them: a
negative ``min_query_count`` wraps to 2^64-5 and hangs query generation, a
target QPS of 0 schedules nothing and reports VALID, a huge one allocates
queries until memory runs out. So every numeric command-line option and every
user.conf key has a range here: what LoadGen accepts, narrowed to what cannot
make it hang or wrap. Upper bounds are generous (far beyond any machine MLPerf
has published) so they only catch typos and units mistaken by 10^6.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

UINT64_MAX = 2**64 - 1
# Query and sample counts: LoadGen builds one record per query up front, so
# 10^8 is already tens of GB; the largest official minimum is 270,336.
MAX_COUNT = 10**8
# A day of minimum duration is already 144 times MLPerf's 600 s.
MAX_DURATION_MS = 86_400_000
MAX_QPS = 1e7
MAX_LATENCY_MS = 3_600_000.0
SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")


class SettingRangeError(ValueError):
    """A value outside what the setting accepts."""


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    integer: bool = False
    low_inclusive: bool = True
    high_inclusive: bool = True
    unit: str = ""

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        low = f">= {_show(self.low)}" if self.low_inclusive else f"> {_show(self.low)}"
        high = f"<= {_show(self.high)}" if self.high_inclusive else f"< {_show(self.high)}"
        if self.integer and (self.low, self.high) == (0, 1):
            return "0 or 1"
        unit = f" ({self.unit})" if self.unit else ""
        return f"{kind} {low} and {high}{unit}"

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.integer and not float(value).is_integer():
            return False
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below

    def check(self, value, where: str) -> None:
        if not self.accepts(value):
            raise SettingRangeError(f"{where} = {value!r}: expected {self.describe()}")


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


_FLAG = Range(0, 1, integer=True)
_COUNT = Range(0, MAX_COUNT, integer=True)
_POSITIVE_MS = Range(0, MAX_LATENCY_MS, low_inclusive=False, unit="ms")

# Every key a user.conf may set (mlperf-facts §3), with its range.
USER_CONF_RANGES: dict[str, Range] = {
    "target_qps": Range(0, MAX_QPS, low_inclusive=False, unit="queries per second"),
    "target_latency": _POSITIVE_MS,
    # percent, as in mlperf.conf (90 for SingleStream); 100 would index past the end
    "target_latency_percentile": Range(0, 100, low_inclusive=False, high_inclusive=False, unit="percent"),
    "samples_per_query": Range(1, MAX_COUNT, integer=True),
    "min_duration": Range(0, MAX_DURATION_MS, integer=True, unit="ms"),
    "max_duration": Range(0, MAX_DURATION_MS, integer=True, unit="ms; 0: no limit"),
    "min_query_count": _COUNT,
    "max_query_count": Range(0, MAX_COUNT, integer=True, unit="0: no limit"),
    "performance_sample_count_override": Range(0, MAX_COUNT, integer=True, unit="0: the QSL's own"),
    "accuracy_sample_count_override": _COUNT,
    "max_async_queries": Range(0, MAX_COUNT, integer=True, unit="0: no limit"),
    "coalesce_queries": _FLAG,
    "sample_concatenate_permutation": _FLAG,
    "performance_issue_unique": _FLAG,
    "performance_issue_same": _FLAG,
    "performance_issue_same_index": _COUNT,
    "use_token_latencies": _FLAG,
    "ttft_latency": _POSITIVE_MS,
    "tpot_latency": _POSITIVE_MS,
    "print_timestamps": _FLAG,
    "accuracy_log_rng_seed": Range(0, UINT64_MAX, integer=True),
    "accuracy_log_sampling_target": _COUNT,
}
# LoadGen knows `mode` too, but the harness sets the mode of every case (its
# id says which); a user.conf line would be silently overridden.
REFUSED_USER_CONF_KEYS = {"mode": "the test mode is chosen per case (--mlperf-mode, the case id); remove the line"}

# Command-line options of the plugin: option -> range.
OPTION_RANGES: dict[str, Range] = {
    "--mlperf-count": Range(1, MAX_COUNT, integer=True, unit="samples"),
    "--mlperf-target-qps": USER_CONF_RANGES["target_qps"],
    "--mlperf-target-latency": _POSITIVE_MS,
    "--mlperf-max-batchsize": Range(1, 65536, integer=True, unit="samples"),
    "--mlperf-threads": Range(0, 1024, integer=True, unit="0: one per core"),
    "--mlperf-server-workers": Range(0, 256, integer=True, unit="0: one per core where the backend allows"),
    "--mlperf-timeout": Range(0, 7 * 86400, low_inclusive=False, unit="seconds"),
    "--mlperf-sut-timeout": Range(0, 86400, low_inclusive=False, unit="seconds"),
    "--mlperf-endpoint-concurrency": Range(1, 4096, integer=True, unit="requests"),
    "--mlperf-memory-limit": Range(64, 2**40, integer=True, unit="MiB"),
    "--mlperf-find-peak-runs": Range(2, 100, integer=True, unit="LoadGen runs"),
    "--mlperf-progress": Range(0, 86400, unit="seconds between progress lines; 0: none"),
    "--mlperf-reference-accuracy": Range(0, 1e9, low_inclusive=False),
}


def check_option(option: str, value) -> None:
    """Raise SettingRangeError naming ``option`` when ``value`` is out of range (None: not given)."""
    if value is not None:
        OPTION_RANGES[option].check(value, option)


def check_counts(values: dict, where: str) -> None:
    """Minimums must not exceed maximums (a maximum of 0 means no limit)."""
    for low_key, high_key in (("min_duration", "max_duration"), ("min_query_count", "max_query_count")):
        low, high = values.get(low_key), values.get(high_key)
        if low is not None and high and low > high:
            raise SettingRangeError(f"{where}: {low_key} = {low} exceeds {high_key} = {high}")
