"""Eight processes provisioning the same artifacts at once, and builders killed halfway.

Plain processes (multiprocessing, spawn), so the test runs inside one pytest
worker. A pool of EIGHT workers is started once; each round gives every
worker the same job against a new, empty cache, released together by a
barrier: a folder entry whose builder writes several files slowly, a file
entry, the real preprocessed ImageNet cache (load_or_build) on a small
rendered dataset, and a model download from a local HTTP server. Kill rounds
first SIGKILL a builder, a preprocessing run and a download in the middle of
their work, then run the eight workers on what they left.

Afterwards: every process got identical content (equal to what a single
fresh build gives), each artifact was built or downloaded once, every
published entry passes the full manifest check, and no temporary remains.

MLPERF_STRESS_ROUNDS=20 runs 20 rounds (and 4 kill rounds) instead of 3 (and 1).
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import secrets
import signal
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from harness.artifacts import ensure_artifact, fetch, full_check, verify
from harness.benchmarks.resnet50 import imagenet, preprocessed
from harness.proxies import digits_imagenet

WORKERS = 8
ROUNDS = int(os.environ.get("MLPERF_STRESS_ROUNDS", "3"))
KILL_ROUNDS = max(1, ROUNDS // 5)
PARTS = 4  # files the slow builder writes, PART_DELAY_S apart
PART_DELAY_S = 0.02
PAYLOAD = bytes(range(256)) * 5000  # 1.28 MB: several blocks and several read chunks
SHA = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
WAIT_S = 120  # bounds only a failure (a hung worker); the passing path never waits this long


def part_bytes(i: int) -> bytes:
    return hashlib.sha256(f"part {i}".encode()).digest() * (20_000 + 1000 * i)


def single_bytes() -> bytes:
    return b"single\n" * 50_000


def _mark(calls: Path) -> None:
    calls.mkdir(parents=True, exist_ok=True)
    (calls / f"{os.getpid()}-{secrets.token_hex(4)}").touch()


def slow_folder(calls: Path):
    def build(tmp: Path) -> None:
        _mark(calls)
        tmp.mkdir()
        for i in range(PARTS):
            (tmp / f"part{i}.bin").write_bytes(part_bytes(i))
            time.sleep(PART_DELAY_S)  # widen the window for a second, unlocked builder
    return build


def slow_file(calls: Path):
    def build(tmp: Path) -> None:
        _mark(calls)
        with open(tmp, "wb") as f:
            data = single_bytes()
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(PART_DELAY_S)
            f.write(data[len(data) // 2:])
    return build


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def provision_all(cache: Path, calls: Path, dataset: Path, url: str) -> dict[str, str]:
    """One worker's job: every artifact, then the digests of what it was handed."""
    real = imagenet.preprocess_dataset

    def counted(*args, **kwargs):
        _mark(calls / "preprocess")
        return real(*args, **kwargs)

    imagenet.preprocess_dataset = counted  # this process only
    try:
        folder = ensure_artifact(cache, "built/multi", build=slow_folder(calls / "multi"))
        single = ensure_artifact(cache, "built/single.bin", build=slow_file(calls / "single"))
        samples, labels, _ = preprocessed.load_or_build(dataset, cache)
        model = fetch(url, cache / "models" / "m.onnx", SHA, progress=False)
    finally:
        imagenet.preprocess_dataset = real
    got = {f"multi/part{i}": sha(folder / f"part{i}.bin") for i in range(PARTS)}
    got.update(single=sha(single), samples=sha(samples), labels=sha(labels), model=sha(model))
    return got


def _worker(inbox, outbox, barrier) -> None:
    # Module level so a spawn child can import it; reports instead of raising.
    while (job := inbox.get()) is not None:
        try:
            barrier.wait(timeout=WAIT_S)
            outbox.put(("ok", os.getpid(), provision_all(**job)))
        except BaseException as e:
            outbox.put(("error", os.getpid(), f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


# --- victims: killed in the middle of their work --------------------------------

def _victim_builder(cache: Path, ready) -> None:
    def build(tmp: Path) -> None:
        tmp.mkdir()
        for i in range(PARTS // 2):
            (tmp / f"part{i}.bin").write_bytes(part_bytes(i))
        ready.set()
        time.sleep(WAIT_S)

    ensure_artifact(cache, "built/multi", build=build)


def _victim_preprocess(dataset: Path, cache: Path, ready) -> None:
    real = np.save

    def save_then_hang(*args, **kwargs):
        real(*args, **kwargs)  # samples.npy written, labels.npy not yet
        ready.set()
        time.sleep(WAIT_S)

    np.save = save_then_hang
    preprocessed.load_or_build(dataset, cache)


def _victim_fetch(url: str, dest: Path) -> None:
    fetch(url, dest, SHA, progress=False, chunk=1 << 16)  # small reads: bytes reach the .part file


# --- the parent's side ----------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.requests += 1
            hold = srv.hold_first and srv.requests == 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        try:
            if hold:  # half the body, then stall until the client is killed
                self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
                self.wfile.flush()
                srv.release.wait(timeout=WAIT_S)
                return
            self.wfile.write(PAYLOAD)
        except OSError:
            pass  # the killed client's connection


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.lock, httpd.requests, httpd.hold_first, httpd.release = threading.Lock(), 0, False, threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def ctx():
    return multiprocessing.get_context("spawn")


@pytest.fixture(scope="module")
def pool(ctx):
    barrier = ctx.Barrier(WORKERS)
    outbox = ctx.Queue()
    inboxes = [ctx.Queue() for _ in range(WORKERS)]
    procs = [ctx.Process(target=_worker, args=(q, outbox, barrier), daemon=True) for q in inboxes]
    for p in procs:
        p.start()
    yield inboxes, outbox
    for q in inboxes:
        q.put(None)
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return digits_imagenet.render_dataset(tmp_path_factory.mktemp("digits"), "val", count=4)


@pytest.fixture(scope="module")
def expected(dataset):
    """What one fresh build in one process gives."""
    samples, labels = imagenet.preprocess_dataset(dataset)

    def npy(array) -> str:
        buf = io.BytesIO()
        np.save(buf, array)
        return hashlib.sha256(buf.getvalue()).hexdigest()

    got = {f"multi/part{i}": hashlib.sha256(part_bytes(i)).hexdigest() for i in range(PARTS)}
    got.update(single=hashlib.sha256(single_bytes()).hexdigest(), samples=npy(samples), labels=npy(labels),
               model=SHA.split(":")[1])
    return got


def run_round(pool, cache: Path, calls: Path, dataset: Path, url: str) -> list[dict]:
    inboxes, outbox = pool
    job = {"cache": cache, "calls": calls, "dataset": dataset, "url": url}
    for q in inboxes:
        q.put(job)
    results = [outbox.get(timeout=WAIT_S) for _ in inboxes]
    errors = [r for r in results if r[0] != "ok"]
    assert not errors, f"{len(errors)} worker(s) failed:\n" + "\n".join(e[2] for e in errors)
    assert len({pid for _, pid, _ in results}) == WORKERS
    return [got for _, _, got in results]


def temporaries(cache: Path) -> list[str]:
    """Every path under a temporary name, and everything inside one."""
    rels = (p.relative_to(cache).as_posix() for p in cache.rglob("*"))
    return sorted(r for r in rels if ".tmp-" in r or ".part-" in r)


def published(cache: Path) -> list[Path]:
    pre = cache / "preprocessed"
    return [cache / "built" / "multi", cache / "built" / "single.bin", cache / "models" / "m.onnx",
            *[p for p in pre.iterdir() if p.is_dir() and ".tmp-" not in p.name]]


def check_after(cache: Path, calls: Path, results: list[dict], expected: dict, requests: int, server) -> None:
    assert all(r == expected for r in results), "a process got content other than a fresh build's"
    for artifact in ("multi", "single", "preprocess"):
        built = sorted((calls / artifact).iterdir())
        assert len(built) == 1, f"{artifact} was built {len(built)} times: {[p.name for p in built]}"
    assert server.requests == requests, f"{server.requests} requests for the model, expected {requests}"
    entries = published(cache)
    assert len(entries) == 4
    for entry in entries:
        assert full_check(entry) == [], entry
    verify(cache / "models" / "m.onnx", SHA)
    assert temporaries(cache) == []


def test_eight_processes_provision_each_artifact_once(pool, dataset, expected, server, tmp_path):
    url = f"http://127.0.0.1:{server.server_address[1]}/m.onnx"
    for n in range(ROUNDS):
        server.requests = 0
        cache, calls = tmp_path / f"round{n}" / "cache", tmp_path / f"round{n}" / "calls"
        results = run_round(pool, cache, calls, dataset, url)
        check_after(cache, calls, results, expected, 1, server)


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_builders_killed_halfway_leave_no_partial_entry(pool, ctx, dataset, expected, server, tmp_path):
    url = f"http://127.0.0.1:{server.server_address[1]}/m.onnx"
    for n in range(KILL_ROUNDS):
        server.requests, server.hold_first = 0, True
        server.release.clear()
        cache, calls = tmp_path / f"kill{n}" / "cache", tmp_path / f"kill{n}" / "calls"
        built_ready, pre_ready = ctx.Event(), ctx.Event()
        victims = [ctx.Process(target=_victim_builder, args=(cache, built_ready)),
                   ctx.Process(target=_victim_preprocess, args=(dataset, cache, pre_ready)),
                   ctx.Process(target=_victim_fetch, args=(url, cache / "models" / "m.onnx"))]
        try:
            for v in victims:
                v.start()
            assert built_ready.wait(WAIT_S) and pre_ready.wait(WAIT_S), "a victim never reached its midpoint"
            _wait_for(lambda: any(p.stat().st_size > 0 for p in (cache / "models").glob("m.onnx.part-*")),
                      "the download to write its first bytes")
            for v in victims:
                os.kill(v.pid, signal.SIGKILL)
            for v in victims:
                v.join(timeout=WAIT_S)
                assert v.exitcode == -signal.SIGKILL
        finally:
            server.release.set()
            for v in victims:
                if v.is_alive():
                    v.kill()
        # Killed halfway: temporaries of all three, and nothing under a final name.
        left = temporaries(cache)
        assert any(t.startswith("built/multi.tmp-") for t in left)
        assert any(t.startswith("preprocessed/imagenet-") and t.endswith("samples.npy") for t in left)
        assert any(t.startswith("models/m.onnx.part-") for t in left), left
        assert not (cache / "built" / "multi").exists() and not (cache / "models" / "m.onnx").exists()
        assert not [p for p in (cache / "preprocessed").iterdir() if p.is_dir() and ".tmp-" not in p.name]

        results = run_round(pool, cache, calls, dataset, url)
        check_after(cache, calls, results, expected, 2, server)  # the victim's request, then one more
