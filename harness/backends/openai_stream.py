"""The streamed answer of an OpenAI completions server: its server-sent events,
one completion as it arrives, and what the client measures of it (TTFT, TPOT).

Kept apart from openai_endpoint.py, which decides where each request goes:
this is the part that only reads one response.
"""
from __future__ import annotations

import json
import time

import numpy as np


class ServerFailed(Exception):
    """The server did not answer the request (it is retried once on another server)."""


class Refused(Exception):
    """The server read the request and refused it (4xx, an error in the stream): the same anywhere."""


class Answer:
    """One streamed completion as it arrives."""

    def __init__(self):
        self.ids: list[int] = []
        self.text: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict | None = None
        self.first_at: float | None = None
        self.ttft_s: float | None = None
        self.duration_s = 0.0


class StreamStats:
    """What the client measured: per request TTFT and TPOT, and tokens per busy second.

    Busy time is the time at least one request was open, so that the pause
    between calibration and the run does not count.
    """

    def __init__(self):
        self.ttft_s: list[float] = []
        self.tpot_s: list[float] = []
        self.tokens = self.requests = 0
        self.busy_s = 0.0
        self._open = 0
        self._since = 0.0

    def opened(self) -> None:
        if self._open == 0:
            self._since = time.perf_counter()
        self._open += 1

    def closed(self) -> None:
        self._open -= 1
        if self._open == 0:
            self.busy_s += time.perf_counter() - self._since

    def add(self, answer: Answer, tokens: int) -> None:
        self.requests += 1
        self.tokens += tokens
        ttft = getattr(answer, "ttft_s", None)
        if ttft is not None:
            self.ttft_s.append(ttft)
            if tokens > 1:  # LoadGen's definition: (latency - TTFT) / (tokens - 1)
                self.tpot_s.append((answer.duration_s - ttft) / (tokens - 1))

    def summary(self) -> dict:
        def figures(values: list[float]) -> dict | None:
            if not values:
                return None
            ms = np.asarray(values) * 1e3
            return {"mean": round(float(ms.mean()), 3), "p50": round(float(np.percentile(ms, 50)), 3),
                    "p99": round(float(np.percentile(ms, 99)), 3)}

        return {"requests": self.requests, "completion_tokens": self.tokens, "busy_s": round(self.busy_s, 3),
                "tokens_per_second": round(self.tokens / self.busy_s, 2) if self.busy_s > 0 else None,
                "ttft_ms": figures(self.ttft_s), "tpot_ms": figures(self.tpot_s)}


def sse_events(response):
    """The JSON events of a server-sent-event stream, as they arrive, until ``data: [DONE]`` or its end."""
    pending = b""
    data: list[bytes] = []
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:  # an empty line ends an event
                if data:
                    payload = b"\n".join(data)
                    data = []
                    if payload.strip() == b"[DONE]":
                        return
                    yield event_json(payload)
                continue
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
            # other fields (event:, id:, retry:) and comments (:) carry nothing here
    if data and b"\n".join(data).strip() != b"[DONE]":
        yield event_json(b"\n".join(data))


def event_json(payload: bytes) -> dict:
    try:
        event = json.loads(payload)
    except ValueError:
        raise ServerFailed(f"a stream event that is not JSON: {payload[:120]!r}") from None
    if not isinstance(event, dict):
        raise ServerFailed(f"a stream event that is not a JSON object: {payload[:120]!r}")
    return event


def error_message(response) -> str:
    try:
        raw = response.read(65536)
    except Exception:  # noqa: BLE001 - the status line already says enough
        return "no readable body"
    try:
        error = json.loads(raw).get("error", raw.decode("utf-8", "replace"))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:500]
    except (ValueError, AttributeError):
        return raw[:300].decode("utf-8", "replace")
