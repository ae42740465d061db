"""The OpenAI completions protocol for a served language model (``harness serve`` of gptj, llama2).

Routes added to the SUT server's application (app.py):
- ``GET /v1/models``: the one model served, with its context length
  (``max_model_len``, as vLLM lists it).
- ``POST /v1/completions``: one prompt (token ids, or a string the model's
  tokenizer encodes), greedy decoding only (``temperature`` absent or 0),
  ``max_tokens`` (default: the benchmark's max new tokens), ``min_tokens``;
  streamed as server-sent events (``stream: true``) or answered whole. With
  ``return_token_ids`` each chunk carries its new token ids (``token_ids``)
  and the first one the prompt's (``prompt_token_ids``), as vLLM does, so a
  client reads both alike; with ``stream_options.include_usage`` a last chunk
  carries ``usage``. Anything this server cannot honour (sampling, several
  prompts, stop strings, beam search, unknown fields) is refused with HTTP
  400 and a JSON ``error`` naming the field, never silently ignored.

Requests that wait are decoded together, up to ``max_batch`` with the same
decoding settings, on ``workers`` threads (TorchGenerator.stream), as the
suite's own Server SUT batches the queries that have arrived; each request's
tokens are pushed to the event loop as each step makes them. A batch whose
clients all went away ends at the next step. Bodies over
MAX_COMPLETION_BYTES are refused (413) before they are read, prompts that do
not fit the model's positions with their max_tokens with 400.
"""
from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import uuid
from pathlib import Path

from aiohttp import web

MAX_COMPLETION_BYTES = 4 * 1024 * 1024
# the request fields this server reads; any other is refused by name
FIELDS = {"model", "prompt", "max_tokens", "min_tokens", "temperature", "stream", "stream_options",
          "return_token_ids", "n", "best_of", "top_p", "echo", "stop", "logprobs", "user", "seed"}
OPENAI_STATS_KEY = web.AppKey("openai_stats", dict)


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def add_routes(app: web.Application, generator, task, served_model: str, tokenizer_dir, *, workers: int = 2,
               max_batch: int = 16) -> None:
    """Serve ``generator`` (a loaded TorchGenerator) as ``served_model`` under /v1/models and /v1/completions.

    ``task`` gives the default ``max_tokens`` (the benchmark's max new
    tokens); ``tokenizer_dir`` the tokenizer for string prompts and the text
    of the answers. ``workers`` batches decode at once, of up to
    ``max_batch`` requests each; more requests wait.
    """
    tokenizer = _tokenizer(tokenizer_dir)
    batcher = _Batcher(generator, workers, max_batch)
    stats = {"requests": 0, "refused": 0, "completion_tokens": 0, "prompt_tokens": 0, "open": 0}
    app[OPENAI_STATS_KEY] = stats
    created = int(time.time())
    positions = int(getattr(generator, "max_positions", 0) or 0)
    default_max = int(getattr(task, "max_new_tokens", 16) or 16)
    eos = generator.eos_token_id
    try:  # GET /v1/info shows the protocol's counters too
        from .app import INFO_KEY

        if INFO_KEY in app:
            app[INFO_KEY]["openai"] = {"served_model": served_model, "stats": stats}
    except ImportError:  # pragma: no cover - app.py is this package's
        pass

    async def models(request: web.Request) -> web.Response:
        entry = {"id": served_model, "object": "model", "created": created, "owned_by": "mlperf-pytest",
                 "root": served_model, "parent": None, "max_model_len": positions or None}
        return web.json_response({"object": "list", "data": [entry]})

    async def completions(request: web.Request) -> web.StreamResponse:
        try:
            params = await _parse(request, served_model, tokenizer, positions, default_max, generator.vocab_size)
        except _BadRequest as exc:
            stats["refused"] += 1
            return _error(str(exc), exc.status)
        prompt, decoding, stream, with_ids, with_usage = params
        stats["requests"] += 1
        stats["prompt_tokens"] += len(prompt)
        loop = asyncio.get_running_loop()
        tokens: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        done = object()

        def put(item) -> None:
            try:
                loop.call_soon_threadsafe(tokens.put_nowait, item)
            except RuntimeError:  # the loop is closed: the server is stopping
                pass

        stats["open"] += 1
        batcher.submit(_Job(prompt, decoding, put, lambda result, error: put((done, result, error)), stop))
        answer = _Answer(tokenizer, eos, decoding)
        response = None
        try:
            if stream:
                response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})
                await response.prepare(request)
            chunk_id, first = f"cmpl-{uuid.uuid4().hex}", True
            while True:
                item = await tokens.get()
                if isinstance(item, tuple) and item and item[0] is done:
                    _, result, error = item
                    break
                text = answer.add(int(item))
                if stream:
                    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": answer.finish,
                              "stop_reason": None}
                    if with_ids:
                        choice["token_ids"] = [int(item)]
                        if first:
                            choice["prompt_token_ids"] = list(prompt)
                    first = False
                    await response.write(_sse(_chunk(chunk_id, served_model, [choice])))
            if error is not None:
                message = f"{type(error).__name__}: {error}"
                if stream:  # the status is sent: the error goes in the stream, as vLLM sends it
                    await response.write(_sse({"error": {"message": message, "type": "InternalServerError",
                                                         "code": 500}}))
                    return response
                return _error(message, 500)
            finish = answer.close(result)
            stats["completion_tokens"] += len(result)
            usage = {"prompt_tokens": len(prompt), "completion_tokens": len(result),
                     "total_tokens": len(prompt) + len(result)}
            if not stream:
                choice = {"index": 0, "text": answer.text, "logprobs": None, "finish_reason": finish,
                          "stop_reason": None}
                if with_ids:
                    choice["token_ids"] = [int(t) for t in result]
                    choice["prompt_token_ids"] = list(prompt)
                return web.json_response({**_chunk(chunk_id, served_model, [choice]), "usage": usage})
            if answer.finish is None:  # no token came (cannot happen with max_tokens >= 1): finish on its own
                await response.write(_sse(_chunk(chunk_id, served_model, [
                    {"index": 0, "text": answer.pending(), "logprobs": None, "finish_reason": finish,
                     "stop_reason": None, **({"token_ids": []} if with_ids else {})}])))
            if with_usage:
                await response.write(_sse({**_chunk(chunk_id, served_model, []), "usage": usage}))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        except ConnectionResetError:  # the client went away: its decode stops (finally)
            return response
        finally:
            stop.set()
            stats["open"] -= 1

    async def close_batcher(app: web.Application) -> None:
        batcher.close()

    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/completions", completions)
    app.on_cleanup.append(close_batcher)


class _Job:
    """One request: its prompt and decoding, where its tokens go, how it ends, whether its client left."""

    def __init__(self, prompt: list[int], decoding: dict, push, finish, stop: threading.Event):
        self.prompt, self.decoding, self.push, self.finish, self.stop = prompt, decoding, push, finish, stop


class _Batcher:
    """Worker threads, each decoding the requests that wait as one batch (same decoding settings)."""

    def __init__(self, generator, workers: int, max_batch: int):
        self._generator = generator
        self._max_batch = max(1, int(max_batch))
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._serve, name=f"openai-decode-{i}", daemon=True)
                         for i in range(max(1, int(workers)))]
        for thread in self._threads:
            thread.start()

    def submit(self, job: _Job) -> None:
        self._queue.put(job)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None:
            batch, other = [job], []
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: this worker finishes its batch, then stops
                    self._queue.put(None)
                    break
                (batch if item.decoding == job.decoding else other).append(item)
            for item in other:  # another decoding: a later batch
                self._queue.put(item)
            self._decode([j for j in batch if not j.stop.is_set()])

    def _decode(self, batch: list[_Job]) -> None:
        if not batch:
            return
        eos = self._generator.eos_token_id
        most = int(batch[0].decoding["max_new_tokens"])
        counts = [0] * len(batch)

        def on_step(tokens) -> None:
            for row, job in enumerate(batch):
                if counts[row] < 0:  # finished: what follows is padding
                    continue
                token = int(tokens[row])
                job.push(token)
                counts[row] += 1
                if token == eos or counts[row] >= most:
                    counts[row] = -1

        try:
            results = self._generator.stream([j.prompt for j in batch], batch[0].decoding, on_step,
                                             cancelled=lambda: all(j.stop.is_set() for j in batch))
        except BaseException as exc:  # noqa: BLE001 - each request answers it
            for job in batch:
                job.finish(None, exc)
            return
        for job, result in zip(batch, results):
            job.finish(result, None)


class _Answer:
    """The completion's text as its tokens come, and its finish reason."""

    def __init__(self, tokenizer, eos: int, decoding: dict):
        self._tokenizer, self._eos = tokenizer, eos
        self._max = int(decoding["max_new_tokens"])
        self.ids: list[int] = []
        self._sent = 0  # characters of the decoded text already sent
        self.finish: str | None = None

    def add(self, token: int) -> str:
        """The text this token adds (held back while it ends in half a character)."""
        self.ids.append(token)
        if token == self._eos:  # generate() holds EOS back until min_tokens are out
            self.finish = "stop"
        elif len(self.ids) >= self._max:
            self.finish = "length"
        return self.pending(final=self.finish is not None)

    def pending(self, final: bool = True) -> str:
        text = self._tokenizer.decode(self.ids, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):  # a multi-byte character split over tokens
            return ""
        new, self._sent = text[self._sent:], len(text)
        return new

    @property
    def text(self) -> str:
        return self._tokenizer.decode(self.ids, skip_special_tokens=True)

    def close(self, result) -> str:
        if self.finish is None:  # the decode ended without a token saying so (e.g. cancelled)
            self.finish = "stop" if len(result) and int(result[-1]) == self._eos else "length"
        return self.finish


async def _parse(request: web.Request, served_model: str, tokenizer, positions: int, default_max: int,
                 vocab_size: int):
    length = request.content_length
    if length is not None and length > MAX_COMPLETION_BYTES:
        raise _BadRequest(f"request body of {length} bytes: this server takes at most {MAX_COMPLETION_BYTES}", 413)
    raw = await request.content.read(MAX_COMPLETION_BYTES + 1)
    if len(raw) > MAX_COMPLETION_BYTES:
        raise _BadRequest(f"request body over {MAX_COMPLETION_BYTES} bytes: this server takes at most "
                          f"{MAX_COMPLETION_BYTES}", 413)
    try:
        body = json.loads(raw)
    except ValueError:
        raise _BadRequest("the request body is not JSON; expected an OpenAI completions request object") from None
    if not isinstance(body, dict):
        raise _BadRequest("the request body is not a JSON object; expected an OpenAI completions request")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise _BadRequest(f"unsupported field(s) {', '.join(unknown)}: this server reads {', '.join(sorted(FIELDS))}")
    if body.get("model") != served_model:
        raise _BadRequest(f"model {body.get('model')!r}: this server serves {served_model!r}", 404)
    temperature = body.get("temperature", 0)
    if not _number(temperature) or temperature != 0:
        raise _BadRequest(f"temperature {temperature!r}: this server decodes greedily only (temperature 0)")
    for field, neutral in (("n", 1), ("best_of", 1), ("top_p", 1)):
        if field in body and body[field] is not None and body[field] != neutral:
            raise _BadRequest(f"{field} {body[field]!r}: this server answers one greedy sequence ({field} {neutral})")
    if body.get("echo"):
        raise _BadRequest("echo: this server does not repeat the prompt in the answer")
    if body.get("stop"):
        raise _BadRequest("stop: this server ends a completion at EOS or max_tokens only, not at stop strings")
    if body.get("logprobs") is not None:
        raise _BadRequest("logprobs: this server does not return log probabilities (use return_token_ids for ids)")
    prompt = _prompt(body.get("prompt"), tokenizer, vocab_size)
    max_tokens = body.get("max_tokens", default_max)
    if max_tokens is None:
        max_tokens = default_max
    if not _whole(max_tokens) or max_tokens < 1:
        raise _BadRequest(f"max_tokens {max_tokens!r}: expected a whole number of at least 1")
    min_tokens = body.get("min_tokens") or 0
    if not _whole(min_tokens) or not 0 <= min_tokens <= max_tokens:
        raise _BadRequest(f"min_tokens {min_tokens!r}: expected a whole number from 0 to max_tokens ({max_tokens})")
    if positions and len(prompt) + max_tokens > positions:
        raise _BadRequest(f"the prompt's {len(prompt)} tokens and max_tokens {max_tokens} exceed the model's "
                          f"{positions} positions")
    stream = body.get("stream", False)
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise _BadRequest("stream must be true or false, stream_options an object")
    with_ids = body.get("return_token_ids") is True
    return (prompt, {"num_beams": 1, "min_new_tokens": int(min_tokens), "max_new_tokens": int(max_tokens)},
            stream, with_ids, bool(options.get("include_usage")))


def _prompt(value, tokenizer, vocab_size: int) -> list[int]:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (str, list)):
        value = value[0]  # a batch of one
    if isinstance(value, str):
        if not value:
            raise _BadRequest("prompt: empty")
        return tokenizer.encode(value).ids
    if isinstance(value, list) and value and all(_whole(t) for t in value):
        bad = [t for t in value if not 0 <= t < vocab_size]
        if bad:
            raise _BadRequest(f"prompt: token id(s) {bad[:5]} outside the model's vocabulary (0-{vocab_size - 1})")
        return [int(t) for t in value]
    if isinstance(value, list) and value and all(isinstance(p, (str, list)) for p in value):
        raise _BadRequest(f"prompt: {len(value)} prompts; this server answers one prompt per request")
    raise _BadRequest("prompt: expected a string or a non-empty list of token ids")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tokenizer(folder):
    if folder is None:
        raise ValueError("the OpenAI completions routes need the model's tokenizer folder (tokenizer.json)")
    from tokenizers import Tokenizer

    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise ValueError(f"{folder}: expected a tokenizer folder with tokenizer.json")
    return Tokenizer.from_file(str(path))


def _chunk(chunk_id: str, model: str, choices: list) -> dict:
    return {"id": chunk_id, "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": choices, "usage": None}


def _sse(event: dict) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def _error(message: str, status: int) -> web.Response:
    kind = {400: "BadRequestError", 404: "NotFoundError", 413: "RequestTooLarge"}.get(status, "InternalServerError")
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)
