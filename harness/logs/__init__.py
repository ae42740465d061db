"""Reading LoadGen's output: the detail and summary logs, and one record per run."""

from harness.logs.detail import DetailLog, LogFormatError, parse_detail
from harness.logs.runs import find_runs, run_record
from harness.logs.summary import SummaryLog, parse_summary

__all__ = [
    "DetailLog",
    "LogFormatError",
    "SummaryLog",
    "find_runs",
    "parse_detail",
    "parse_summary",
    "run_record",
]
