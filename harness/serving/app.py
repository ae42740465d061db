"""The SUT server's HTTP application: a loaded backend answering staged batches.

Routes:
- ``GET /v1/info``: what this server runs (benchmark, backend, precision,
  device, the model file and its signature, the staging layout, the host), so
  that a client refuses a server running something other than its case.
- ``GET /health``: alive and answering.
- ``POST /v1/predict``: a batch of staged inputs (backends/wire.py) in, the backend's
  outputs out, in the order the client's task reads them.

The backend runs on worker threads, never on the event loop: one worker, or
two where the backend's predict() may run in several threads at once, so
that a second batch is decoded while the first runs. Bodies over the size
limit are refused by aiohttp (413) before they are read.
"""
from __future__ import annotations

import asyncio
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from aiohttp import web

from ..backends import wire

SHUTDOWN_TIMEOUT_S = 5.0
INFO_KEY = web.AppKey("info", dict)
STATS_KEY = web.AppKey("stats", dict)


def build_app(backend, info: dict, *, max_request_bytes: int, workers: int = 1) -> web.Application:
    app = web.Application(client_max_size=max_request_bytes)
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sut-predict")
    stats = {"requests": 0, "samples": 0, "errors": 0, "busy_s": 0.0}
    app[INFO_KEY] = {**info, "hostname": socket.gethostname(), "pid": os.getpid(), "workers": max(1, workers),
                     "max_request_bytes": max_request_bytes, "started": time.time()}
    app[STATS_KEY] = stats

    async def get_info(request: web.Request) -> web.Response:
        return web.json_response({**app[INFO_KEY], "stats": dict(stats)})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def run_batch(feed: dict) -> tuple[str, bytes, int]:
        started = time.perf_counter()
        outputs = backend.predict(feed)
        header, parts = wire.encode([(str(i), np.asarray(out)) for i, out in enumerate(outputs)])
        body = wire.body_bytes(parts)
        stats["busy_s"] += time.perf_counter() - started
        return header, body, len(next(iter(feed.values()))) if feed else 0

    async def predict(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            feed = dict(wire.decode(request.headers.get(wire.HEADER), body))
        except wire.WireError as exc:
            stats["errors"] += 1
            return web.json_response({"error": str(exc)}, status=400)
        try:
            header, out, samples = await asyncio.get_running_loop().run_in_executor(pool, run_batch, feed)
        except Exception as exc:  # noqa: BLE001 - reported to the client, which fails its case with it
            stats["errors"] += 1
            return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=500)
        stats["requests"] += 1
        stats["samples"] += samples
        return web.Response(body=out, headers={wire.HEADER: header}, content_type=wire.CONTENT_TYPE)

    async def close_pool(app: web.Application) -> None:
        pool.shutdown(wait=False, cancel_futures=True)

    app.router.add_get("/v1/info", get_info)
    app.router.add_get("/health", health)
    app.router.add_post("/v1/predict", predict)
    app.on_cleanup.append(close_pool)
    return app


async def serve_forever(app: web.Application, host: str, port: int, announce) -> None:
    """Listen on ``host:port`` (0: any free port), call ``announce(url)`` once bound, run until cancelled."""
    # On stop, a batch in progress gets a few seconds, not aiohttp's default minute.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port  # the port the OS chose for 0
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{bound}")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
