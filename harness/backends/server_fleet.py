"""What the two network clients share: the HTTP library, the timeouts, and a fleet of servers
that fail one by one (remote.py for `harness serve`, openai_endpoint.py for OpenAI APIs).

A server that fails is recorded once, with why and when, and skipped from then
on; the case fails afterwards naming it (case_run.server_failures).
"""
from __future__ import annotations

import importlib.util
import time

from .base import BackendError, FrameworkMissing

DEFAULT_TIMEOUT_S = 30.0
# how long a connection may take to open, at most (the read timeout is the user's)
CONNECT_TIMEOUT_S = 5.0
URLLIB3_MISSING = "urllib3 is not installed (pip install 'mlperf-pytest[network]')"


def urllib3_missing() -> str | None:
    """A probe's skip reason when the HTTP client library is absent."""
    return URLLIB3_MISSING if importlib.util.find_spec("urllib3") is None else None


def import_urllib3():
    try:
        import urllib3
    except ImportError as exc:
        raise FrameworkMissing(URLLIB3_MISSING) from exc
    return urllib3


class ServerFleet:
    """Mixin: ``self._urllib3``, ``self._timeout_s``, ``self._lock``, ``self._servers`` (each with
    ``url`` and ``failure``) and ``self.failures`` are set by the client's load()."""

    # what "every ... failed" names
    fleet_name = "server"

    def _timeout(self):
        return self._urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, self._timeout_s), read=self._timeout_s)

    def _mark_failed(self, server, reason: str) -> None:
        with self._lock:
            if server.failure is None:
                server.failure = reason
                self.failures.append({"url": server.url, "reason": reason, "at": time.time()})

    def _all_failed(self) -> BackendError:
        return BackendError(f"every {self.fleet_name} failed: "
                            + "; ".join(f"{s.url}: {s.failure}" for s in self._servers))
