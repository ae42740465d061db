"""SUT servers for the network tests: real `python -m harness serve` processes, and
an in-process server around a backend a test controls (a slow one)."""
from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

START_TIMEOUT_S = 120


def start(benchmark: str, backend: str, *, host: str = "127.0.0.1", prefix: tuple = (), extra: tuple = (),
          env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start `harness serve` (in its own process group) and return it with the URL it printed."""
    command = [*prefix, sys.executable, "-m", "harness", "serve", "--benchmark", benchmark, "--backend", backend,
               "--host", host, "--port", "0", *extra]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, **(env or {})})
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"harness serve exited with status {proc.returncode}: {proc.stderr.read()[-2000:]}")
        if selector.select(timeout=0.5):
            line = proc.stdout.readline()
            if line.startswith("serving "):
                return proc, line.split()[1]
    stop(proc)
    raise RuntimeError(f"harness serve printed no URL within {START_TIMEOUT_S} s")


def stop(proc: subprocess.Popen) -> None:
    """End the server and anything it started, whatever state it is in (stopped included)."""
    if proc.poll() is None:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
        proc.wait(timeout=30)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


@contextmanager
def servers(count: int, benchmark: str = "resnet50", backend: str = "onnxruntime", **kwargs):
    started = []
    try:
        for _ in range(count):
            started.append(start(benchmark, backend, **kwargs))
        yield started
    finally:
        for proc, _ in started:
            stop(proc)


@contextmanager
def in_process(backend, info: dict):
    """A real aiohttp SUT server on 127.0.0.1 around ``backend``, on a thread with its own event loop."""
    from harness.serving.app import build_app, serve_forever

    app = build_app(backend, info, max_request_bytes=256 * 1024 * 1024, workers=1)
    loop = asyncio.new_event_loop()
    bound: list[str] = []
    ready = threading.Event()

    def announce(url):
        bound.append(url)
        ready.set()

    task = {}

    def run():
        asyncio.set_event_loop(loop)
        task["t"] = loop.create_task(serve_forever(app, "127.0.0.1", 0, announce))
        try:
            loop.run_until_complete(task["t"])
        except asyncio.CancelledError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30), "the in-process SUT server did not start"
    try:
        yield bound[0]
    finally:
        loop.call_soon_threadsafe(task["t"].cancel)
        thread.join(30)
        loop.close()
