"""Parser for LoadGen's ``mlperf_log_summary.txt``.

Every ``Label : value`` line becomes one field named by ``snake_case(label)``:

* lower-case; ``w/o`` becomes ``without`` and ``w/`` becomes ``with``
  (``QPS w/o loadgen overhead`` -> ``qps_without_loadgen_overhead``, which is
  also the detail log's name minus ``result_``);
* parentheses are dropped but their content kept
  (``90.0th percentile latency (ns)`` -> ``90.0th_percentile_latency_ns``,
  ``Tokens per second (inferred)`` -> ``tokens_per_second_inferred``);
* runs of spaces and hyphens become one ``_``; dots stay (they are part of
  percentiles); any other character is dropped.

Values: an integral number is an ``int``, any other number a ``float``, and
everything else (``Yes``, ``NO``, ``VALID``, names) stays a string. The printed
text of every value is kept in ``SummaryLog.texts`` because consistency with the
detail log is judged to the precision the summary printed.

Other line shapes:

* a label with nothing after the colon opens a block (``Early Stopping
  Result:``, ``TTFT Early Stopping Result:``, ``Recommendations:``,
  ``Per-query latency:``); its `` * `` bullets form a list under the block's
  name, and lines indented by one space continue the previous bullet;
* an early-stopping bullet ``* Early stopping 90.0th percentile estimate: N``
  is also a field, ``early_stopping_90.0th_percentile_estimate``;
* ``No errors encountered during test.`` / ``N ERRORS encountered. See detailed
  log.`` give ``num_errors``, and the warning lines give ``num_warnings``;
* ``====`` banners and section titles (``Additional Stats``, ...) are skipped.

Any other line is a ``LogFormatError``: the labels are byte-exact LoadGen
output, so an unknown line means an unknown format, not noise to ignore.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.logs.detail import LogFormatError

SUMMARY_LOG_NAME = "mlperf_log_summary.txt"

SECTION_TITLES = {"MLPerf Results Summary", "Additional Stats", "Test Parameters Used"}
_COUNT_LINE = re.compile(
    r"^(?:(?P<none>No) (?P<kind1>warnings|errors) encountered during test\."
    r"|(?P<n>\d+) (?P<kind2>warnings?|errors?) encountered\. See detailed log\.)$",
    re.IGNORECASE,
)
_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:nan|inf)$", re.IGNORECASE)
_ESTIMATE_BULLET = re.compile(r"^(Early stopping [\d.]+(?:th)? percentile estimate)\s*:\s*(\S+)$")


def snake_case(label: str) -> str:
    text = label.strip().lower()
    text = text.replace("w/o", "without").replace("w/", "with")
    text = text.replace("(", " ").replace(")", " ")
    text = re.sub(r"[\s\-]+", "_", text.strip())
    return re.sub(r"[^a-z0-9._]", "", text).strip("_")


def parse_value(text: str) -> Any:
    text = text.strip()
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


@dataclass
class SummaryEntry:
    key: str
    value: Any
    text: str  # as printed; "" for blocks
    line_no: int


@dataclass
class SummaryLog:
    path: Path
    fields: dict[str, Any] = field(default_factory=dict)  # last value under each name
    texts: dict[str, str] = field(default_factory=dict)  # printed text of each field
    entries: list[SummaryEntry] = field(default_factory=list)  # every field, in order (labels repeat)


def parse_summary(path: str | Path) -> SummaryLog:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise LogFormatError(path, None, f"not UTF-8 text ({exc.reason})") from None
    summary = SummaryLog(path)
    block: list[str] | None = None  # bullets of the open block, if any
    notice: SummaryEntry | None = None  # an open free-text warning paragraph
    for line_no, line in enumerate(lines, start=1):
        stripped = line.strip()
        if notice is not None:
            if stripped:
                notice.text = f"{notice.text} {stripped}"
                notice.value = notice.text
                summary.fields["notice"] = summary.texts["notice"] = notice.text
                continue
            notice = None
        if stripped.startswith(NOTICE_PREFIX):
            # LoadGen 6 prints a free-text paragraph when equal-issue
            # (sample_concatenate_permutation) is on, ending at a blank line.
            _add(summary, "notice", stripped, stripped, line_no)
            notice = summary.entries[-1]
            continue
        if block is not None and line.startswith(" ") and stripped:
            if stripped.startswith("* "):
                bullet = stripped[2:].strip()
                block.append(bullet)
                _add_estimate(summary, bullet, line_no)
                continue
            if not line.startswith("  ") and block:
                block[-1] = f"{block[-1]} {stripped}"  # a bullet wrapped onto the next line
                continue
        block = None
        if not stripped or set(stripped) == {"="} or stripped in SECTION_TITLES:
            continue
        count = _COUNT_LINE.match(stripped)
        if count:
            _add_count(summary, count, stripped, line_no)
            continue
        if ":" not in stripped:
            raise LogFormatError(path, line_no, f"expected 'label : value', a banner or an error/warning count, got {stripped!r}")
        label, _, text = stripped.partition(":")
        key = snake_case(label)
        if not key:
            raise LogFormatError(path, line_no, f"empty label in {stripped!r}")
        if text.strip():
            _add(summary, key, _parsed(summary, line_no, text), text.strip(), line_no)
        else:
            block = []
            _add(summary, key, block, "", line_no)
    return summary


NOTICE_PREFIX = "WARNING:"


def _parsed(summary: SummaryLog, line_no: int, text: str) -> Any:
    """``parse_value``; a number ``int()`` refuses (more digits than
    ``sys.get_int_max_str_digits()``) is a LogFormatError naming the line."""
    try:
        return parse_value(text)
    except ValueError as exc:
        raise LogFormatError(summary.path, line_no, f"unreadable number {text.strip()[:20]!r}...: {exc}") from None


def _add(summary: SummaryLog, key: str, value: Any, text: str, line_no: int) -> None:
    summary.fields[key] = value
    summary.texts[key] = text
    summary.entries.append(SummaryEntry(key, value, text, line_no))


def _add_estimate(summary: SummaryLog, bullet: str, line_no: int) -> None:
    match = _ESTIMATE_BULLET.match(bullet)
    if match:
        _add(summary, snake_case(match.group(1)), _parsed(summary, line_no, match.group(2)), match.group(2), line_no)


def _add_count(summary: SummaryLog, match: re.Match, text: str, line_no: int) -> None:
    kind = (match.group("kind1") or match.group("kind2")).lower()
    key = "num_errors" if kind.startswith("error") else "num_warnings"
    _add(summary, key, 0 if match.group("none") else _parsed(summary, line_no, match.group("n")), text, line_no)
