"""Where a case's inference runs: in the child process, on SUT servers, or at an endpoint.

The case keeps its id and its backend axis (what the model runs on); only the
backend the child loads changes: with --mlperf-sut-url the remote backend
(harness/backends/remote.py) sends each batch to the servers, or for a
language model the OpenAI client sends each prompt to them (``harness serve``
speaks that protocol for the language models); with --mlperf-endpoint the
OpenAI client sends the prompts to any compatible server.
"""
from __future__ import annotations

import json
import urllib.request
from functools import lru_cache

from .backends import backend_class
from .options import RunOptions

REMOTE = "harness.backends.remote:RemoteBackend"
ENDPOINT = "harness.backends.openai_endpoint:EndpointGenerator"


def is_generative(backend_spec: str) -> bool:
    return bool(getattr(backend_class(backend_spec), "generative", False))


def client_spec(backend_spec: str, options: RunOptions) -> str:
    """The backend the child loads for this case."""
    if options.endpoint or (options.sut_urls and is_generative(backend_spec)):
        return ENDPOINT
    if options.sut_urls:
        return REMOTE
    return backend_spec


def placement_reason(case, bench, backend_spec: str, options: RunOptions) -> str | None:
    """Why this case cannot run where the options send its inference (a skip reason), or None.

    A case the SUT servers do not serve (another benchmark, backend, precision
    or device: a full matrix against servers of one system) is skipped with
    what they serve. A server that does not answer is not a skip: the run
    fails, naming it (backends/remote.py).
    """
    if options.endpoint and not is_generative(backend_spec):
        return (f"--mlperf-endpoint serves the language models (gptj, llama2) only; {bench.name} runs in-process "
                f"or on SUT servers (--mlperf-sut-url)")
    if client_spec(backend_spec, options) == ENDPOINT:
        from .backends.openai_endpoint import decoding_reason

        beams = decoding_reason(bench.task_options)
        if beams:
            where = "--mlperf-endpoint" if options.endpoint else "--mlperf-sut-url (language models use its OpenAI API)"
            return f"{bench.name} through {where}: {beams}"
    if options.sut_urls and client_spec(backend_spec, options) == REMOTE:
        served = served_systems(tuple(options.sut_urls), min(options.sut_timeout_s, 10.0))
        want = (bench.name, case.backend, case.precision, case.device)
        if served and want not in served:
            listed = "; ".join(" ".join(system) for system in sorted(set(served)))
            return f"the SUT servers (--mlperf-sut-url) serve {listed}; this case runs {' '.join(want)}"
    return None


@lru_cache(maxsize=None)
def served_systems(urls: tuple, timeout_s: float) -> tuple | None:
    """(benchmark, backend, precision, device) of each server, asked once per session; None if one is silent."""
    found = []
    for url in urls:
        try:
            with urllib.request.urlopen(f"{url}/v1/info", timeout=timeout_s) as response:
                info = json.loads(response.read())
        except (OSError, ValueError):
            return None
        found.append(tuple(str(info.get(key)) for key in ("benchmark", "backend", "precision", "device")))
    return tuple(found)


def client_options(case, bench, backend_spec: str, backend_options: dict, tokenizer_dir, options: RunOptions) -> dict:
    """The client backend's options: the servers, what they must serve, the limits."""
    spec = client_spec(backend_spec, options)
    if spec == REMOTE:
        return {"urls": list(options.sut_urls), "timeout_s": options.sut_timeout_s,
                "expect": {"benchmark": bench.name, "backend": case.backend, "precision": case.precision,
                           "device": case.device}}
    if spec == ENDPOINT:
        return {"urls": [options.endpoint] if options.endpoint else list(options.sut_urls),
                "model": options.endpoint_model if options.endpoint else bench.name,
                "tokenizer": str(tokenizer_dir) if tokenizer_dir else None,
                "concurrency": options.endpoint_concurrency, "timeout_s": options.sut_timeout_s,
                "served_backend": case.backend}
    return dict(backend_options)
