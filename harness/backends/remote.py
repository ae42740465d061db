"""Remote backend: the model runs on SUT servers (``python -m harness serve``), LoadGen here.

Options (``config.options``, set by the suite from --mlperf-sut-url):
- ``urls``: the servers' base URLs; every one must serve the case's
  benchmark, backend, precision and device (checked at load: ``/v1/info``).
- ``expect``: those four, as the case names them.
- ``timeout_s`` (default 30): a server that has not answered a request in
  this long is given up on, as is one that refuses or drops the connection.
- ``min_chunk`` (default 4): the fewest samples sent to one server; a batch
  goes to min(live servers, batch // min_chunk) servers at once.

A batch is split over the live servers and sent to them at once, so two
servers answer an Offline batch in about half the time and a Server batch
keeps both busy. When a server fails, its part of the batch is sent again to
another live server, the run goes on, and the failure is recorded
(``info()["sut_failures"]``): the case then fails naming the server
(case_run.py), with every answer the other servers gave in its logs. With
no live server left, predict() raises, naming each server and what it did.
Samples travel as their staged bytes (backends/wire.py), no pickle.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .base import BackendConfig, BackendError, ModelLoadError
from .server_fleet import DEFAULT_TIMEOUT_S, ServerFleet, import_urllib3, urllib3_missing

DEFAULT_MIN_CHUNK = 4
# what a server must agree with the case on
EXPECTED_FIELDS = ("benchmark", "backend", "precision", "device")


class _Server:
    def __init__(self, url: str, info: dict):
        self.url, self.info = url, info
        self.failure: str | None = None
        self.requests = self.samples = 0
        self.busy_s = 0.0

    @property
    def alive(self) -> bool:
        return self.failure is None

    def describe(self) -> dict:
        from urllib.parse import urlsplit

        return {"url": self.url, "host": urlsplit(self.url).hostname, "hostname": self.info.get("hostname"),
                "pid": self.info.get("pid"),
                "benchmark": self.info.get("benchmark"), "backend": self.info.get("backend"),
                "precision": self.info.get("precision"), "device": self.info.get("device"),
                "model_file": self.info.get("model_file"), "alive": self.alive, "failure": self.failure,
                "requests": self.requests, "samples": self.samples, "busy_s": round(self.busy_s, 3)}


class _ServerFailed(Exception):
    """A server did not answer a request (the next live one gets it)."""


class RemoteBackend(ServerFleet):
    name = "remote"
    layout = "NCHW"  # the served backend's layout is what the suite stages in (case_run.py)
    concurrent_predict = True
    # the servers own their threads: reloading with fewer changes nothing here (runner/child.py)
    threads_set_per_load = False

    fleet_name = "SUT server"

    @classmethod
    def probe(cls, device: str) -> str | None:
        return urllib3_missing()

    def load(self, config: BackendConfig) -> None:
        urllib3 = import_urllib3()
        options = config.options
        urls = list(options.get("urls") or ())
        if not urls:
            raise ModelLoadError("the remote backend needs the SUT servers' URLs (--mlperf-sut-url)")
        self._timeout_s = float(options.get("timeout_s") or DEFAULT_TIMEOUT_S)
        self._min_chunk = max(1, int(options.get("min_chunk") or DEFAULT_MIN_CHUNK))
        self._urllib3 = urllib3
        self._http = urllib3.PoolManager(num_pools=len(urls), maxsize=4, retries=False)
        expect = dict(options.get("expect") or {})
        self._servers = [_Server(url, self._info(url, expect)) for url in urls]
        signatures = {json.dumps(s.info.get("signature"), sort_keys=True) for s in self._servers}
        if len(signatures) > 1:
            raise ModelLoadError("the SUT servers serve models with different inputs or outputs: "
                                 + "; ".join(f"{s.url}: {s.info.get('model_file')}" for s in self._servers))
        self._pool = ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="sut-client")
        self._lock = threading.Lock()
        self._next = 0
        self.failures: list[dict] = []

    def _info(self, url: str, expect: dict) -> dict:
        try:
            response = self._http.request("GET", f"{url}/v1/info", timeout=self._timeout())
        except self._urllib3.exceptions.HTTPError as exc:
            raise ModelLoadError(f"SUT server {url}: no answer to GET /v1/info within {self._timeout_s:g} s "
                                 f"({type(exc).__name__}: {exc}); is `python -m harness serve` running there?") from None
        if response.status != 200:
            raise ModelLoadError(f"SUT server {url}: GET /v1/info answered HTTP {response.status}; "
                                 f"expected a `python -m harness serve` server")
        try:
            info = json.loads(response.data)
        except ValueError:
            raise ModelLoadError(f"SUT server {url}: GET /v1/info did not answer JSON; "
                                 f"expected a `python -m harness serve` server") from None
        wrong = [f"{key} {info.get(key)!r} (the case runs {want!r})" for key, want in expect.items()
                 if key in EXPECTED_FIELDS and info.get(key) != want]
        if wrong:
            raise ModelLoadError(f"SUT server {url} serves another system: " + ", ".join(wrong))
        return info

    def network_sut_name(self) -> str:
        """LoadGen's SUT name in network mode, asked of a live server (MLPerf: the name comes from
        the SUT over the network and contains "Network SUT")."""
        live = next((s for s in self._servers if s.alive), self._servers[0])
        try:
            info = json.loads(self._http.request("GET", f"{live.url}/v1/info", timeout=self._timeout()).data)
        except (self._urllib3.exceptions.HTTPError, ValueError):
            info = live.info  # the name only labels the logs: the one read at load will do
        return (f"mlperf-pytest {info.get('benchmark')} {info.get('backend')} {info.get('precision')} "
                f"on {info.get('hostname')} x{len(self._servers)} (Network SUT)")

    def signature(self):
        from .wire import signature_from

        return signature_from(self._servers[0].info.get("signature"))

    # -- inference ------------------------------------------------------------------------------

    def predict(self, feed: dict) -> list:
        rows = len(next(iter(feed.values())))
        live = [s for s in self._servers if s.alive]
        if not live:
            raise self._all_failed()
        parts = max(1, min(len(live), rows // self._min_chunk))
        with self._lock:  # round robin: consecutive batches start on different servers
            first = self._next
            self._next += 1
        if parts == 1:
            return self._send_anywhere(feed, first)
        bounds = np.linspace(0, rows, parts + 1).astype(int)
        futures = [self._pool.submit(self._send_anywhere, {k: v[lo:hi] for k, v in feed.items()}, first + i)
                   for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))]
        answers = [f.result() for f in futures]
        return [np.concatenate([a[i] for a in answers]) for i in range(len(answers[0]))]

    def _send_anywhere(self, feed: dict, start: int) -> list:
        """Send to the live servers in turn from ``start`` until one answers."""
        count = len(self._servers)
        for step in range(count):
            server = self._servers[(start + step) % count]
            if not server.alive:
                continue
            try:
                return self._send(server, feed)
            except _ServerFailed as exc:
                self._mark_failed(server, str(exc))
        raise self._all_failed()

    def _send(self, server: _Server, feed: dict) -> list:
        from . import wire

        header, parts = wire.encode(list(feed.items()))
        # one staged input: its buffer as it is; several: one joined copy
        body = memoryview(parts[0]).cast("B") if len(parts) == 1 else wire.body_bytes(parts)
        started = time.perf_counter()
        try:
            response = self._http.request("POST", f"{server.url}/v1/predict", body=body,
                                          headers={wire.HEADER: header, "Content-Type": wire.CONTENT_TYPE},
                                          timeout=self._timeout())
        except self._urllib3.exceptions.HTTPError as exc:
            raise _ServerFailed(self._why(exc)) from None
        if response.status >= 500 and response.status != 500:
            raise _ServerFailed(f"HTTP {response.status}")
        if response.status != 200:
            # the server read the batch and refused it or its model failed: the same batch fails anywhere
            try:
                message = json.loads(response.data).get("error")
            except ValueError:
                message = response.data[:200].decode("utf-8", "replace")
            raise BackendError(f"SUT server {server.url}: POST /v1/predict answered HTTP {response.status}: {message}")
        try:
            outputs = [array for _, array in wire.decode(response.headers.get(wire.HEADER), response.data)]
        except wire.WireError as exc:
            raise _ServerFailed(f"an answer that does not decode: {exc}") from None
        with self._lock:
            server.requests += 1
            server.samples += len(next(iter(feed.values())))
            server.busy_s += time.perf_counter() - started
        return outputs

    def _why(self, exc) -> str:
        exceptions = self._urllib3.exceptions
        if isinstance(exc, exceptions.ReadTimeoutError) or "timed out" in str(exc):
            # a stopped server stops reading too: the send times out before the read would
            return f"no answer within {self._timeout_s:g} s (--mlperf-sut-timeout)"
        if isinstance(exc, exceptions.NewConnectionError) or "Connection refused" in str(exc):
            return "refused the connection (not listening)"
        if isinstance(exc, exceptions.ProtocolError):
            return f"dropped the connection mid-request ({exc})"
        return f"{type(exc).__name__}: {exc}"

    def info(self) -> dict:
        first = self._servers[0].info
        return {
            "backend": self.name, "served_backend": first.get("backend"),
            "servers": [s.describe() for s in self._servers],
            "sut_failures": list(self.failures),
            "timeout_s": self._timeout_s, "min_chunk": self._min_chunk,
            "served_backend_info": first.get("backend_info"),
            "framework_version": (first.get("backend_info") or {}).get("framework_version"),
        }
