"""A language model behind an OpenAI-compatible completions server (vLLM, ``harness serve``, ...).

Options (``config.options``, set by the suite from --mlperf-endpoint or, for a
language model, --mlperf-sut-url; harness/placement.py):
- ``urls``: the servers' base URLs (``http://HOST:PORT``, a trailing ``/v1``
  is dropped); each must list ``model`` in ``GET /v1/models``.
- ``model``: the served model's name (None: the one model a server lists).
- ``tokenizer``: the tokenizer folder (``tokenizer.json``) the prompts' token
  ids belong to: it turns text back into ids where a server gives no ids,
  and names EOS, the vocabulary and the positions.
- ``concurrency`` (default 8): how many requests are open at once, over all
  callers and servers together.
- ``timeout_s`` (default 30): a server that sends nothing for this long is
  given up on, as is one that refuses or drops the connection.

Each prompt is its own streaming ``POST /v1/completions`` request, greedy
(``temperature`` 0), at most ``max_new_tokens`` and, where the server takes
it, at least ``min_new_tokens`` new tokens, ending at EOS. What a server
accepts is found once per server at load with one two-token request: the
prompt as token ids (as MLPerf's datasets give them) or else as text, and
the new tokens as ids in the stream (vLLM's ``return_token_ids``, or
``logprobs`` with ``return_tokens_as_token_ids``) or else as text that the
tokenizer turns back into ids (close, not exact: a text can tokenize other
than the ids that produced it). A request goes to the live server with the
fewest open requests. A server that refuses, drops the stream, answers 5xx or
sends nothing for ``timeout_s`` is marked failed (``info()["sut_failures"]``,
which fails the case naming it: case_run.py) and its request is sent once
more to another live server; with none left, the request fails with a
BackendError naming the servers and what each did.

Beam search (gptj's ``num_beams=4``) has no counterpart in the completions
API: ``n``/``best_of`` sample independent sequences, they do not search
beams, so a gptj case is refused (decoding_reason) rather than run greedy
against accuracy targets that MLPerf set for beam search.

The generation SUT (runner/generation_sut.py) uses ``submit``: the requests
are queued on the shared pool and each sample's first token and completion
reach LoadGen when its own answer does (``streams_each_prompt``), so the
time to first token LoadGen measures is the server's, not a batch's.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from .base import BackendConfig, BackendError, ModelLoadError
from .openai_stream import Answer, Refused, ServerFailed, StreamStats, error_message, sse_events
from .server_fleet import CONNECT_TIMEOUT_S, DEFAULT_TIMEOUT_S, ServerFleet, import_urllib3, urllib3_missing

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 4096
# the probe at load: two new tokens, at least two (is min_tokens honoured?)
PROBE_TOKENS = 2
PROBE_TEXT = "The"


def decoding_reason(decoding: dict) -> str | None:
    """Why a task's decoding cannot run through an OpenAI completions server (a skip reason), or None."""
    beams = int(decoding.get("num_beams", 1) or 1)
    if beams > 1:
        return (f"beam search (num_beams={beams}, MLPerf's decoding for this benchmark) cannot be expressed in the "
                f"OpenAI completions API (n/best_of sample independent sequences, they do not search beams); "
                f"an endpoint runs greedy decoding only, so this benchmark runs in-process")
    return None


class _Server:
    def __init__(self, url: str):
        self.url = url
        self.model: str | None = None
        self.engine: str | None = None
        self.engine_version: str | None = None
        self.http_server: str | None = None
        self.max_model_len: int | None = None
        self.prompt_format = "token ids"
        self.token_source = "token_ids"  # or "logprobs" or "text"
        self.extras = True  # min_tokens, stream_options and the token-id fields are accepted
        self.min_tokens_honoured: bool | None = None
        self.failure: str | None = None
        self.open = self.requests = self.tokens = 0

    @property
    def alive(self) -> bool:
        return self.failure is None

    def describe(self) -> dict:
        return {"url": self.url, "host": urlsplit(self.url).hostname, "model": self.model, "engine": self.engine,
                "engine_version": self.engine_version, "http_server": self.http_server,
                "max_model_len": self.max_model_len, "prompt_format": self.prompt_format,
                "completion_tokens_from": {"token_ids": "the server's token ids (return_token_ids)",
                                           "logprobs": "the server's token ids (logprobs, return_tokens_as_token_ids)",
                                           "text": "the completion text, tokenized here"}[self.token_source],
                "min_tokens_honoured": self.min_tokens_honoured, "alive": self.alive, "failure": self.failure,
                "requests": self.requests, "completion_tokens": self.tokens}


class EndpointGenerator(ServerFleet):
    name = "endpoint"
    fleet_name = "endpoint"
    layout = "NCHW"  # token ids are staged as they are
    generative = True
    concurrent_predict = True
    # each prompt is answered on its own: the SUT hands the samples over with
    # submit() and completes each when its answer arrives (generation_sut.py)
    streams_each_prompt = True
    # the servers own their threads: reloading with fewer changes nothing here (runner/child.py)
    threads_set_per_load = False

    @classmethod
    def probe(cls, device: str) -> str | None:
        missing = urllib3_missing()
        if missing:
            return missing
        if importlib.util.find_spec("tokenizers") is None:
            return "tokenizers is not installed (pip install 'mlperf-pytest[language]')"
        return None

    # -- load -----------------------------------------------------------------------------------

    def load(self, config: BackendConfig) -> None:
        urllib3 = import_urllib3()
        options = config.options
        urls = [_base_url(url) for url in (options.get("urls") or ())]
        if not urls:
            raise ModelLoadError("the endpoint backend needs the server's URL (--mlperf-endpoint URL)")
        self._timeout_s = _positive(options.get("timeout_s", DEFAULT_TIMEOUT_S), "--mlperf-sut-timeout", float)
        self._concurrency = int(_positive(options.get("concurrency", DEFAULT_CONCURRENCY),
                                          "--mlperf-endpoint-concurrency", int))
        if self._concurrency > MAX_CONCURRENCY:
            raise ModelLoadError(f"--mlperf-endpoint-concurrency {self._concurrency}: expected at most "
                                 f"{MAX_CONCURRENCY}")
        self._served_backend = options.get("served_backend")
        self._load_tokenizer(options.get("tokenizer"))
        self._urllib3 = urllib3
        self._http = urllib3.PoolManager(num_pools=max(4, len(urls)), maxsize=self._concurrency, block=False,
                                         retries=False)
        wanted = options.get("model")
        self._servers = []
        for url in urls:
            server = _Server(url)
            self._find_model(server, wanted)
            self._servers.append(server)
        names = {s.model for s in self._servers}
        if len(names) > 1:
            raise ModelLoadError("the endpoints serve different models: "
                                 + "; ".join(f"{s.url}: {s.model}" for s in self._servers)
                                 + " (name one with --mlperf-endpoint-model)")
        self.model = names.pop()
        limits = [s.max_model_len for s in self._servers if s.max_model_len]
        if limits:  # what the servers accept wins over the folder's config
            self.max_positions = min(limits)
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self.failures: list[dict] = []
        self._stats = StreamStats()
        self._capped = 0  # requests whose max_tokens was cut to fit the server's context
        self._eos_added = 0  # "stop" answers whose ids did not end in EOS: EOS added, as generate() returns it
        for server in self._servers:
            self._find_formats(server)
        # the probes are not the run's
        self._stats, self._capped, self._eos_added = StreamStats(), 0, 0
        self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="endpoint")

    def _load_tokenizer(self, folder) -> None:
        if not folder:
            raise ModelLoadError("the endpoint backend needs the tokenizer folder its prompts' token ids belong to "
                                 "(--mlperf-tokenizer-path, or the benchmark's proxy tokenizer)")
        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise ModelLoadError(f"{folder}: expected a tokenizer folder with tokenizer.json (save_pretrained's "
                                 f"fast tokenizer)")
        from tokenizers import Tokenizer

        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # noqa: BLE001 - the library raises its own exception type for a bad file
            raise ModelLoadError(f"{path}: not a tokenizers file ({type(exc).__name__}: {exc})") from None
        self._tokenizer_dir = folder
        configs = {name: _json_file(folder / name) for name in
                   ("generation_config.json", "config.json", "tokenizer_config.json")}
        generation, model_config, tokenizer_config = configs.values()

        def token_id(value):
            if isinstance(value, dict):  # {"content": "</s>", ...} in older tokenizer_config files
                value = value.get("content")
            return self._tokenizer.token_to_id(value) if isinstance(value, str) else None

        eos = _first(generation.get("eos_token_id"), model_config.get("eos_token_id"),
                     token_id(tokenizer_config.get("eos_token")))
        if eos is None:
            raise ModelLoadError(f"{folder}: no EOS token id in generation_config.json, config.json or "
                                 f"tokenizer_config.json; the completions cannot be ended as the model ends them")
        self.eos_token_id = int(eos)
        pad = _first(generation.get("pad_token_id"), model_config.get("pad_token_id"),
                     token_id(tokenizer_config.get("pad_token")))
        self.pad_token_id = self.eos_token_id if pad is None else int(pad)
        self.vocab_size = int(model_config.get("vocab_size") or self._tokenizer.get_vocab_size(with_added_tokens=True))
        positions = model_config.get("max_position_embeddings") or model_config.get("n_positions")
        length = tokenizer_config.get("model_max_length")
        if not positions and isinstance(length, int) and length < 10**7:  # 1e30: "no limit" in HF files
            positions = length
        self.max_positions = int(positions or 0)

    def _find_model(self, server: _Server, wanted: str | None) -> None:
        """GET /v1/models: the server answers and serves the model."""
        url = server.url
        try:
            response = self._http.request("GET", f"{url}/v1/models", timeout=self._timeout())
        except self._urllib3.exceptions.HTTPError as exc:
            raise ModelLoadError(f"endpoint {url}: no answer to GET /v1/models within {self._timeout_s:g} s "
                                 f"({self._why(exc)}); expected an OpenAI-compatible completions server "
                                 f"(vLLM, python -m harness serve)") from None
        if response.status != 200:
            raise ModelLoadError(f"endpoint {url}: GET /v1/models answered HTTP {response.status}; expected an "
                                 f"OpenAI-compatible server listing its models")
        try:
            listed = json.loads(response.data)["data"]
            models = {entry["id"]: entry for entry in listed}
        except (ValueError, KeyError, TypeError):
            raise ModelLoadError(f"endpoint {url}: GET /v1/models did not answer an OpenAI model list "
                                 f"({{\"data\": [{{\"id\": ...}}]}})") from None
        if wanted is None:
            if len(models) != 1:
                raise ModelLoadError(f"endpoint {url} serves {len(models)} models ({', '.join(models) or 'none'}); "
                                     f"name the one to run with --mlperf-endpoint-model")
            wanted = next(iter(models))
        if wanted not in models:
            raise ModelLoadError(f"endpoint {url} does not serve model {wanted!r}; it serves: "
                                 f"{', '.join(models) or 'none'} (--mlperf-endpoint-model)")
        entry = models[wanted]
        server.model = wanted
        server.engine = entry.get("owned_by")
        server.http_server = response.headers.get("server")
        length = entry.get("max_model_len")
        server.max_model_len = int(length) if isinstance(length, int) and length > 0 else None
        try:  # vLLM names its version here; other servers need not
            version = self._http.request("GET", f"{url}/version", timeout=self._timeout())
            if version.status == 200:
                server.engine_version = json.loads(version.data).get("version")
        except (self._urllib3.exceptions.HTTPError, ValueError, AttributeError):
            pass

    def _find_formats(self, server: _Server) -> None:
        """One two-token request per way of asking, most exact first, until the server takes one."""
        ids = self._tokenizer.encode(PROBE_TEXT).ids
        refusals = []
        for prompt_format, extras in (("token ids", True), ("token ids", False), ("text", True), ("text", False)):
            server.prompt_format, server.extras, server.token_source = prompt_format, extras, "token_ids"
            for token_source in (("token_ids", "logprobs") if extras else ("text",)):
                server.token_source = token_source
                body = self._body(server, ids, {"max_new_tokens": PROBE_TOKENS, "min_new_tokens": PROBE_TOKENS})
                self._reserve(server)
                try:
                    answer = self._stream(server, body)
                except ServerFailed as exc:
                    raise ModelLoadError(f"endpoint {server.url}: a two-token completion of model {server.model!r} "
                                         f"failed: {exc}") from None
                except Refused as exc:
                    refusals.append(f"{prompt_format}{'' if extras else ' without extensions'}: {exc}")
                    break
                if token_source == "text" or answer.ids:
                    server.min_tokens_honoured = (len(self._completion_ids(server, answer)) >= PROBE_TOKENS
                                                  if extras else None)
                    return
        raise ModelLoadError(f"endpoint {server.url} refused every form of a streamed completion request for model "
                             f"{server.model!r}: " + "; ".join(refusals))

    # -- requests -------------------------------------------------------------------------------

    def _body(self, server: _Server, prompt: list[int], decoding: dict) -> dict:
        max_tokens = int(decoding["max_new_tokens"])
        if server.max_model_len and len(prompt) + max_tokens > server.max_model_len:
            # the server refuses prompt + max_tokens over its context; the
            # decode could not go further anyway
            max_tokens = max(1, server.max_model_len - len(prompt))
            with self._lock:
                self._capped += 1
        body = {"model": server.model, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                "prompt": (list(prompt) if server.prompt_format == "token ids"
                           else self._tokenizer.decode(list(prompt), skip_special_tokens=False))}
        if server.extras:
            body["stream_options"] = {"include_usage": True}
            minimum = min(int(decoding.get("min_new_tokens", 0) or 0), max_tokens)
            if minimum:
                body["min_tokens"] = minimum
            if server.token_source == "token_ids":
                body["return_token_ids"] = True
            elif server.token_source == "logprobs":
                body["logprobs"] = 1
                body["return_tokens_as_token_ids"] = True
        return body

    def _reserve(self, server: _Server) -> None:
        """Count a request open on ``server`` (released by _stream)."""
        with self._lock:
            server.open += 1
            self._stats.opened()

    def _stream(self, server: _Server, body: dict, on_first=None) -> Answer:
        """One streamed completion from ``server`` (reserved); ``on_first(token)`` at its first token."""
        answer = Answer()
        response = None
        clean = False
        started = time.perf_counter()
        try:
            try:
                response = self._http.request("POST", f"{server.url}/v1/completions", body=json.dumps(body).encode(),
                                              headers={"Content-Type": "application/json",
                                                       "Accept": "text/event-stream"},
                                              timeout=self._timeout(), preload_content=False)
            except self._urllib3.exceptions.HTTPError as exc:
                raise ServerFailed(self._why(exc)) from None
            if response.status != 200:
                message = error_message(response)
                if response.status >= 500:
                    raise ServerFailed(f"HTTP {response.status} ({message})")
                raise Refused(f"HTTP {response.status}: {message}")
            try:
                for event in sse_events(response):
                    self._take(server, event, answer, on_first)
            except self._urllib3.exceptions.HTTPError as exc:
                raise ServerFailed(self._why(exc)) from None
            except OSError as exc:
                raise ServerFailed(f"dropped the stream ({type(exc).__name__}: {exc})") from None
            if answer.finish_reason is None:
                raise ServerFailed(f"the stream ended after {len(answer.ids) or len(answer.text)} token(s) without "
                                    f"a finish_reason (the server stopped mid-answer)")
            clean = True
        finally:
            ended = time.perf_counter()
            if response is not None:
                if clean:  # what follows [DONE] (the chunked body's end) is read before the connection is reused
                    response.drain_conn()
                    response.release_conn()
                else:
                    response.close()
            with self._lock:
                server.open -= 1
                self._stats.closed()
        if answer.first_at is not None:
            answer.ttft_s = answer.first_at - started
        answer.duration_s = ended - started
        return answer

    def _take(self, server: _Server, event: dict, answer: Answer, on_first) -> None:
        if "error" in event and not event.get("choices"):
            error = event["error"]
            message = f"the stream carried an error: {error.get('message') if isinstance(error, dict) else error}"
            code = error.get("code") if isinstance(error, dict) else None
            if isinstance(code, int) and code >= 500:  # the engine failed, not the request
                raise ServerFailed(message)
            raise Refused(message)
        if event.get("usage"):
            answer.usage = event["usage"]
        for choice in event.get("choices") or ():
            new_ids = []
            if server.token_source == "token_ids":
                new_ids = [int(t) for t in choice.get("token_ids") or ()]
            elif server.token_source == "logprobs":
                tokens = (choice.get("logprobs") or {}).get("tokens") or ()
                new_ids = [int(str(t).removeprefix("token_id:")) for t in tokens]
            text = choice.get("text") or ""
            answer.ids += new_ids
            if text:
                answer.text.append(text)
            if answer.first_at is None and (new_ids or (server.token_source == "text" and text)):
                answer.first_at = time.perf_counter()
                if on_first is not None:
                    first = new_ids[0] if new_ids else self._first_of_text(text)
                    on_first(first)
            if choice.get("finish_reason"):
                answer.finish_reason = choice["finish_reason"]

    def _first_of_text(self, text: str) -> int:
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        return ids[0] if ids else self.eos_token_id

    def _completion_ids(self, server: _Server, answer: Answer) -> list[int]:
        if server.token_source == "text":
            ids = self._tokenizer.encode("".join(answer.text), add_special_tokens=False).ids
        else:
            ids = list(answer.ids)
        if self.eos_token_id in ids:
            ids = ids[: ids.index(self.eos_token_id) + 1]
        elif answer.finish_reason == "stop":
            # no stop strings are asked for: "stop" is the model's EOS, which
            # some servers leave out of the ids; generate() returns it
            ids.append(self.eos_token_id)
            with self._lock:
                self._eos_added += 1
        return ids

    def _pick(self, avoid: _Server | None = None) -> _Server:
        """The live server with the fewest open requests, reserved (one lock: no two pick blind)."""
        with self._lock:
            live = [s for s in self._servers if s.alive and s is not avoid]
            if not live:
                raise self._all_failed()
            start = next(self._turn) % len(live)  # ties take turns
            ordered = live[start:] + live[:start]
            server = min(ordered, key=lambda s: s.open)
            server.open += 1
            self._stats.opened()
            return server

    def _one(self, prompt: list[int], decoding: dict, on_first=None) -> np.ndarray:
        """One prompt's new token ids (up to and including EOS), retried once on another server."""
        if on_first is not None:
            on_first = _once(on_first)  # a retry after a first token must not report a second one
        server = self._pick()
        try:
            answer = self._stream(server, self._body(server, prompt, decoding), on_first)
        except ServerFailed as exc:
            self._mark_failed(server, str(exc))
            if len(self._servers) < 2:
                raise BackendError(f"endpoint {server.url}: {exc}") from None
            retry = self._pick(avoid=server)
            try:
                answer = self._stream(retry, self._body(retry, prompt, decoding), on_first)
            except ServerFailed as again:
                self._mark_failed(retry, str(again))
                raise BackendError(f"endpoint {server.url}: {exc}; retried on {retry.url}: {again}") from None
            except Refused as again:
                raise BackendError(f"endpoint {retry.url} refused the request: {again}") from None
            server = retry
        except Refused as exc:
            raise BackendError(f"endpoint {server.url} refused the request: {exc}") from None
        ids = self._completion_ids(server, answer)
        with self._lock:
            server.requests += 1
            server.tokens += len(ids)
            self._stats.add(answer, len(ids))
        return np.asarray(ids, dtype=np.int64)

    def _why(self, exc) -> str:
        exceptions = self._urllib3.exceptions
        if isinstance(exc, exceptions.ReadTimeoutError):
            return f"sent nothing for {self._timeout_s:g} s (--mlperf-sut-timeout)"
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: asked first
        if isinstance(exc, exceptions.NewConnectionError) or "Connection refused" in str(exc):
            return "refused the connection (not listening)"
        if isinstance(exc, exceptions.ConnectTimeoutError):
            return f"no connection within {min(CONNECT_TIMEOUT_S, self._timeout_s):g} s"
        if isinstance(exc, exceptions.ProtocolError):
            return f"dropped the connection mid-answer ({exc})"
        return f"{type(exc).__name__}: {exc}"

    # -- the generator interface ----------------------------------------------------------------

    def submit(self, prompts: list[np.ndarray], decoding: dict, on_first=None, on_done=None) -> list[Future]:
        """Queue one request per prompt on the shared pool; returns at once, one Future per prompt.

        The prompts are copied before this returns (the caller's buffer may
        be reused). ``on_first(row, token)`` runs when a prompt's first new
        token arrives, ``on_done(row, tokens, error)`` when its request ends
        (tokens: generate()'s array, or None with the exception), both on the
        pool's threads.
        """
        reason = decoding_reason(decoding)
        if reason:
            raise BackendError(reason)
        futures = []
        for row, prompt in enumerate(prompts):
            first = None if on_first is None else (lambda token, row=row: on_first(row, token))
            future = self._pool.submit(self._one, [int(t) for t in prompt], decoding, first)
            if on_done is not None:
                future.add_done_callback(lambda f, row=row: on_done(row, *_outcome(f)))
            futures.append(future)
        return futures

    def generate(self, prompts: list[np.ndarray], decoding: dict, on_first_tokens=None) -> list[np.ndarray]:
        """New token ids per prompt, up to and including the first EOS (as TorchGenerator's).

        ``on_first_tokens(row, token)`` is called per prompt as its first new
        token arrives (this backend streams each prompt: streams_each_prompt).
        """
        return [future.result() for future in self.submit(prompts, decoding, on_first_tokens)]

    def info(self) -> dict:
        first = self._servers[0]
        return {
            "backend": self.name, "implementation": "OpenAI completions API, streamed (urllib3)",
            "served_backend": self._served_backend, "model": self.model,
            "engine": first.engine, "engine_version": first.engine_version,
            "framework_version": first.engine_version,
            "prompt_format": first.prompt_format,
            "completion_tokens_from": first.describe()["completion_tokens_from"],
            "servers": [s.describe() for s in self._servers],
            "sut_failures": list(self.failures),
            "concurrency": self._concurrency, "timeout_s": self._timeout_s,
            "tokenizer": str(self._tokenizer_dir), "eos_token_id": self.eos_token_id,
            "max_positions": self.max_positions,
            "requests_max_tokens_capped": self._capped, "eos_added_to_stop_answers": self._eos_added,
            "client_metrics": self._stats.summary(),
        }


def _once(callback):
    called = []

    def call(token):
        if not called:
            called.append(True)
            callback(token)
    return call


def _outcome(future: Future) -> tuple:
    error = future.exception()
    return (None, error) if error is not None else (future.result(), None)


def _base_url(url) -> str:
    value = str(url or "").strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelLoadError(f"--mlperf-endpoint {url!r}: expected http://HOST:PORT (an http or https URL with a host)")
    return value.removesuffix("/v1")


def _positive(value, option: str, kind):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ModelLoadError(f"{option} {value!r}: expected a number above 0") from None
    if isinstance(value, bool) or not number > 0 or (kind is int and number != value):
        raise ModelLoadError(f"{option} {value!r}: expected {'a whole number' if kind is int else 'a number'} above 0")
    return number


def _json_file(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not readable JSON ({exc})") from None
    return data if isinstance(data, dict) else {}


def _first(*values):
    for value in values:
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            return value
    return None
