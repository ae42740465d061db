"""``python -m harness serve``: a system-under-test server for one benchmark's model.

  python -m harness serve --benchmark resnet50 --backend onnxruntime --port 8601
  python -m harness serve --benchmark llama2-70b-99 --backend pytorch --port 8602   # OpenAI completions

The server loads the model the suite would load for that benchmark, backend
and precision (the embedded proxy, or --model-path), and answers batches of
staged samples (app.py); a language model answers the OpenAI completions
protocol as well (openai_app.py). The suite runs its cases against it with
``--mlperf-sut-url http://HOST:PORT``. It listens on 127.0.0.1 unless --host
says otherwise: anything that can reach the port can run the model.
It prints ``serving URL`` once it listens, and stops on SIGTERM or SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

DEFAULT_MAX_REQUEST_MB = 256


class ServeError(ValueError):
    """An argument that names nothing this server can load (exit status 2)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", required=True, help="the registry's benchmark name, e.g. resnet50")
    parser.add_argument("--backend", required=True, help="the backend that runs the model, e.g. onnxruntime")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: any free port, printed)")
    parser.add_argument("--model-path", type=Path, default=None, help="the model file (default: the benchmark's proxy)")
    parser.add_argument("--tokenizer-path", type=Path, default=None, help="a language model's tokenizer folder")
    parser.add_argument("--cache", type=Path, default=None, help="artifact cache (default: $MLPERF_CACHE)")
    parser.add_argument("--threads", type=int, default=0, help="backend threads (default: the backend's choice)")
    parser.add_argument("--max-request-mb", type=float, default=DEFAULT_MAX_REQUEST_MB,
                        help=f"largest request body accepted, MiB (default {DEFAULT_MAX_REQUEST_MB})")
    parser.add_argument("--served-model-name", default=None,
                        help="the model name a language model answers to in the OpenAI API (default: the benchmark)")
    parser.add_argument("--registry", type=Path, action="append", default=[], help="more benchmark families (DIR)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}: expected 0-65535")
    if args.threads < 0:
        parser.error(f"--threads {args.threads}: expected 0 (the backend's choice) or more")
    if not 0 < args.max_request_mb <= 65536:
        parser.error(f"--max-request-mb {args.max_request_mb}: expected more than 0 and at most 65536")
    return args


def load(args: argparse.Namespace):
    """(backend, task, info, tokenizer folder): the model loaded as a case's child would load it."""
    from ..artifacts.cache import default_cache_dir
    from ..backends import BackendConfig, backend_class
    from ..provision import model_file, model_options, tokenizer_folder
    from ..registry import load_registry
    from ..registry.parts import make_task
    from ..registry.parts import task_options as family_task_options
    from ..backends.wire import describe_signature

    registry = load_registry(tuple(args.registry) or None)
    if args.benchmark not in registry:
        raise ServeError(f"--benchmark {args.benchmark!r}: not in the registry; known: {', '.join(registry)}")
    bench = registry[args.benchmark]
    if args.backend not in bench.backends:
        raise ServeError(f"--backend {args.backend!r}: {bench.name} runs on {', '.join(bench.backends)}")
    cache = args.cache or default_cache_dir()
    path, source = model_file(bench, args.backend, args.precision, source="proxy", cache_dir=cache,
                              model_path=args.model_path)
    backend_options, task_options = model_options(bench, args.backend, args.precision, source)
    task = make_task(bench.task, bench.home, **family_task_options(bench, task_options))
    spec = bench.backend_spec(args.backend)
    cls = backend_class(spec)
    reason = cls.probe(args.device)
    if reason:
        raise ServeError(f"--backend {args.backend} --device {args.device}: cannot run here: {reason}")
    backend = cls()
    backend.load(BackendConfig(
        model_path=path, device=args.device, precision=args.precision,
        threads=args.threads or backend_options.get("intra_op_threads", 0) or 0,
        inputs=task.inputs, outputs=task.outputs, contract_outputs=task.contract_outputs,
        # the server's only work is the model: its pool may spin between batches
        options={"spin": False, **backend_options},
    ))
    tokenizer = tokenizer_folder(bench, source="proxy", cache_dir=cache, model_path=args.model_path,
                                 tokenizer_path=args.tokenizer_path) if bench.proxy.tokenizer else None
    describe = getattr(backend, "signature", None)
    info = {
        "benchmark": bench.name, "backend": args.backend, "backend_spec": spec, "device": args.device,
        "precision": args.precision, "model_file": str(path), "model_source": source,
        "layout": cls.layout, "generative": bool(getattr(cls, "generative", False)),
        "signature": describe_signature(describe()) if describe is not None else None,
        "backend_info": backend.info(),
    }
    return backend, task, info, tokenizer


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from ..backends import BackendError
    from ..provision import ProvisionError

    try:
        backend, task, info, tokenizer = load(args)
    except (ServeError, BackendError, ProvisionError) as exc:
        print(f"harness serve: {exc}", file=sys.stderr)
        return 2
    from .app import build_app, serve_forever

    concurrent = bool(getattr(backend, "concurrent_predict", False))
    app = build_app(backend, info, max_request_bytes=int(args.max_request_mb * 1024 * 1024),
                    workers=2 if concurrent else 1)
    if info["generative"]:
        from .openai_app import add_routes

        add_routes(app, backend, task, served_model=args.served_model_name or args.benchmark, tokenizer_dir=tokenizer)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"harness serve: listening on {args.host}: anything that reaches this port can run the model",
              file=sys.stderr)

    def announce(url: str) -> None:
        print(f"serving {url}", flush=True)

    async def run() -> None:
        task_ = asyncio.ensure_future(serve_forever(app, args.host, args.port, announce))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task_.cancel)
        try:
            await task_
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(run())
    except OSError as exc:  # the port is taken, the address is not this machine's
        print(f"harness serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0
