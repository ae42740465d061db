"""Small named checks over run records, each returning structured failures."""

from harness.checks.performance import CheckFailure, check_performance, format_failures

__all__ = ["CheckFailure", "check_performance", "format_failures"]
