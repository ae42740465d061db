"""What the parser fuzzing feeds and to whom: one ``Target`` per file parser.

Every parser of a file a user or LoadGen hands us must answer any input with a
result or with its own error class (whose message names the file), never with
an ``IndexError``, ``KeyError``, ``UnicodeDecodeError``, bare ``ValueError``...
Each target's strategy mixes three kinds of input, because pure garbage dies
at the first check and never reaches the deeper code:

* raw bytes and raw text;
* structure-aware files: well-formed lines/records whose fields get wrong
  types, missing keys, odd-length or non-hex data, huge or negative indices,
  NaN and infinities;
* those files mutated byte-wise (truncated, spliced with non-UTF-8 bytes,
  digit runs past Python's int-conversion limit, deep JSON nesting...).

Used by tests/test_fuzz_parsers.py (a short, derandomized run) and by
``python -m tools.fuzz`` (a long one).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from harness.benchmarks.bert.squad import SquadError, SquadExample, SquadFeatures
from harness.benchmarks.dlrm.aggregation import read_quantile
from harness.benchmarks.rnnt import wav as rnnt_wav
from harness.benchmarks.rnnt.manifest import read_manifest
from harness.benchmarks.bert.squad_metric import score_accuracy_log
from harness.benchmarks.llama2.scorer import llama2_accuracy
from harness.benchmarks.resnet50.top1 import top1
from harness.datasets.base import DatasetFormatError
from harness.logs.detail import LogFormatError, parse_detail
from harness.logs.summary import parse_summary
from harness.metrics.accuracy_log import DTYPES, AccuracyLogError, first_responses, read_accuracy_log
from harness.metrics.llm_accuracy import LlmAccuracyError, read_token_log
from harness.settings import USER_CONF_KEYS, UserConfError, parse_user_conf


def fuzz_settings(examples: int, *, derandomize: bool) -> settings:
    """Hypothesis settings for one target: no deadline (two shared CPUs make timing
    meaningless), no example database (it would leave .hypothesis/ in the checkout)."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=False,
    )


# ------------------------------------------------------------ byte mutations
# Tokens that break parsers in ways random bytes rarely find.
_TOKENS = [
    b"9" * 5000,  # past sys.get_int_max_str_digits(): int() raises ValueError
    b"[" * 5000,  # JSON nesting past the recursion limit
    b"{\"a\":" * 3000,
    b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\r", b"\n", b"\r\n", b"\x0b", "\u2028".encode(),
    b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"1e999", b"-1", b"-0", b"1.5", b"0x1F", b"1_000",
    b"\"", b"{", b"}", b"[", b"]", b":", b",", b"null", b"true", b"\"\\ud800\"",
    b":::MLLOG", b":::MLLOG {}", b" : ", b"=", b"*.*.", b"#", b" * ", b"WARNING:",
    b"\"qsl_idx\"", b"\"data\"", b"\"key\"", b"\"value\"", b"\"metadata\"", b"\"is_error\"",
    "\u0663".encode(),  # an Arabic-Indic digit: \d matches it
]


@st.composite
def mutated(draw, seeds: st.SearchStrategy[bytes]) -> bytes:
    """A seed file with up to five byte-level edits (zero edits keeps it valid)."""
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(("truncate", "delete", "insert", "replace", "duplicate")))
        at = draw(st.integers(0, len(data)))
        if op == "truncate":
            del data[at:]
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(_TOKENS) | st.binary(min_size=1, max_size=8))
        elif op == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "duplicate":
            end = draw(st.integers(at, len(data)))
            data[at:at] = data[at:end]
    return bytes(data)


@st.composite
def _mostly(draw, good: st.SearchStrategy, bad: st.SearchStrategy) -> Any:
    """``good`` fifteen times in sixteen: a file with several fields wrong at once
    fails its first check and tests nothing behind it."""
    return draw(good) if draw(st.integers(0, 15)) else draw(bad)


def _garbage() -> st.SearchStrategy[bytes]:
    return st.binary(max_size=512) | st.text(max_size=256).map(lambda t: t.encode("utf-8", "surrogatepass"))


def _files(structured: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    # Two of three inputs are structured (as is, or byte-mutated): they are the
    # ones that reach past the first check.
    return st.one_of(_garbage(), structured, mutated(structured))


_JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from([10 ** 30, -(2 ** 63), 2 ** 64, -1, 0.5, float("nan"), float("inf")])
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _dumps(value: Any) -> str:
    """JSON as Python writes it, NaN/Infinity included (the parsers must cope with them)."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


@st.composite
def _record(draw, fields: dict[str, st.SearchStrategy]) -> dict:
    """A JSON object with the given fields, some of them dropped."""
    dropped = draw(_mostly(st.just(frozenset()), st.sets(st.sampled_from(sorted(fields)), max_size=2)))
    return {name: draw(strategy) for name, strategy in fields.items() if name not in dropped}


def _lines(strategy: st.SearchStrategy[str], max_size: int = 8) -> st.SearchStrategy[bytes]:
    @st.composite
    def joined(draw) -> bytes:
        lines = draw(st.lists(strategy, max_size=max_size))
        newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        return newline.join(lines).encode("utf-8", "surrogatepass") + draw(st.sampled_from([b"", b"\n"]))
    return joined()


# --------------------------------------------------------------- detail log
_DETAIL_KEYS = ["loadgen_version", "effective_scenario", "effective_test_mode", "result_validity",
                "result_samples_per_second", "result_90.00_percentile_latency_ns", "error_invalid_config"]
_DETAIL_VALUE = st.one_of(st.text(max_size=16), st.integers(), st.floats(), _JSON)
_METADATA = _record({
    "is_error": _mostly(st.booleans(), _JSON_SCALARS),
    "is_warning": _mostly(st.booleans(), _JSON_SCALARS),
    "file": st.just("version.cc"), "line_no": st.integers(0, 999), "pid": st.integers(0, 99),
})
_DETAIL_ENTRY = _record({
    "key": _mostly(st.sampled_from(_DETAIL_KEYS) | st.text(max_size=10), _JSON_SCALARS),
    "value": _DETAIL_VALUE,
    "time_ms": st.floats(0, 1e6),
    "namespace": st.just("mlperf::logging"),
    "event_type": st.sampled_from(["POINT_IN_TIME", "INTERVAL_START"]),
    "metadata": _mostly(_METADATA, _JSON),
})
_DETAIL_LINE = _mostly(_DETAIL_ENTRY.map(lambda e: ":::MLLOG " + _dumps(e)), st.one_of(
    _JSON.map(lambda v: ":::MLLOG " + _dumps(v)),  # valid JSON, not an object of the right shape
    st.tuples(st.text(max_size=8), _DETAIL_ENTRY).map(lambda p: f"{p[0]}:::MLLOG {_dumps(p[1])}"),
    st.sampled_from(["", "   ", "console noise", ":::MLLOG", ":::MLLOG {"]),
))


@st.composite
def _detail_files(draw) -> bytes:
    first = ":::MLLOG " + _dumps({"key": "loadgen_version", "value": "6.0.17", "time_ms": 0.1,
                                  "metadata": {"is_error": False, "is_warning": False}})
    rest = draw(_lines(_DETAIL_LINE))
    return first.encode() + b"\n" + rest if draw(_mostly(st.just(True), st.just(False))) else rest


# -------------------------------------------------------------- summary log
_SUMMARY_SEED = """================================================
MLPerf Results Summary
================================================
SUT name : PySUT
Scenario : Offline
Mode     : PerformanceOnly
Samples per second: 381.124
Result is : VALID
  Min duration satisfied : Yes
  Early stopping satisfied: Yes
Early Stopping Result:
 * Processed at least 64 queries (1024).
 * Would discard 9 highest latency queries.
 * Early stopping 90.0th percentile estimate: 1233911
 * Early stopping 99.0th percentile estimate: 1362191

================================================
Additional Stats
================================================
90.00 percentile latency (ns)   : 723028553535
QPS w/o loadgen overhead        : 821.53
WARNING: sample_concatenate_permutation is on
  so the samples are issued in an equal-issue order.

No warnings encountered during test.

1 ERROR encountered. See detailed log.
"""
_NUMBER_TEXT = st.one_of(
    st.integers().map(str), st.floats().map(repr),
    st.sampled_from(["9" * 5000, "-0", "1e999", "nan", "inf", "-inf", ".5", "1.", "+3", "\u0663", "0x10", "1_000"]),
)
_SUMMARY_LINE = st.one_of(
    st.sampled_from(_SUMMARY_SEED.splitlines()),
    st.tuples(st.text(max_size=12), st.sampled_from([" : ", ":", ": "]), _NUMBER_TEXT | st.text(max_size=8))
      .map("".join),
    st.tuples(st.sampled_from([" * ", "  * ", " "]),
              st.sampled_from(["Early stopping 90.0th percentile estimate: ", "Early stopping 9.9 percentile estimate:"])
              | st.text(max_size=10), _NUMBER_TEXT).map("".join),
    _NUMBER_TEXT.map(lambda n: f"{n} ERRORS encountered. See detailed log."),
    _NUMBER_TEXT.map(lambda n: f"{n} warning encountered. See detailed log."),
)


@st.composite
def _summary_files(draw) -> bytes:
    lines = _SUMMARY_SEED.splitlines()
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(_SUMMARY_LINE))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- user.conf
_CONF_VALUE = _mostly(st.integers(0, 2000).map(str) | st.sampled_from(["0.5", "1e3", "1", "0"]),
                      _NUMBER_TEXT | st.text(max_size=6) | st.sampled_from(["-5", "NaN", "1e400"]))
_CONF_LINE = _mostly(
    st.tuples(_mostly(st.sampled_from(["*", "resnet50", "bert-99"]), st.text(max_size=5)), st.just("."),
              _mostly(st.sampled_from(["*", "Offline", "Server", "SingleStream"]), st.text(max_size=5)), st.just("."),
              _mostly(st.sampled_from(sorted(USER_CONF_KEYS)), st.text(max_size=8)),
              st.sampled_from([" = ", "=", " =", "\t=\t"]), _CONF_VALUE).map("".join),
    st.sampled_from(["", "# a comment", "resnet50.Offline.target_qps = 10 # inline", "*.*.min_duration = 0"]),
)


# ------------------------------------------------------------- accuracy logs
def _hex_data(itemsize: int, count: int | None = None) -> st.SearchStrategy:
    """``data`` fields: mostly whole items of upper-case hex, and every way to get it wrong."""
    whole = (st.binary(min_size=count * itemsize, max_size=count * itemsize) if count is not None
             else st.lists(st.binary(min_size=itemsize, max_size=itemsize), max_size=6).map(b"".join))
    return _mostly(whole.map(lambda b: b.hex().upper()), st.one_of(
        whole.map(lambda b: b.hex()),  # lower case
        st.binary(max_size=9).map(lambda b: b.hex().upper()),  # not whole items
        st.text("0123456789ABCDEF", max_size=9),  # odd lengths
        st.text(max_size=8),  # not hex at all
        whole.map(lambda b: " ".join(f"{x:02X}" for x in b)),  # fromhex accepts spaces
        _JSON_SCALARS,
    ))


def _float_logits(count: int) -> st.SearchStrategy[str]:
    """``count`` float32 values (NaN and infinities included) as upper-case hex."""
    values = st.lists(st.floats(width=32), min_size=count, max_size=count)
    return values.map(lambda v: np.asarray(v, dtype=np.float32).tobytes().hex().upper())


def _qsl_idx(samples: int) -> st.SearchStrategy:
    return _mostly(st.integers(0, samples - 1), st.one_of(
        st.sampled_from([samples, -1]), st.integers(), _JSON_SCALARS, st.lists(st.integers(), max_size=2)))


def _accuracy_logs(data: st.SearchStrategy, samples: int) -> st.SearchStrategy[bytes]:
    entry = _record({"seq_id": st.integers(0, 99) | _JSON_SCALARS, "qsl_idx": _qsl_idx(samples), "data": data})
    document = _mostly(st.lists(_mostly(entry, _JSON_SCALARS), max_size=6), _JSON)
    return document.map(lambda d: _dumps(d).encode("utf-8", "surrogatepass"))


# The SQuAD target's tiny dataset: three features of eight tokens over two questions.
_SQUAD_SEQ = 8


def _squad_dataset() -> tuple[list[SquadExample], SquadFeatures]:
    examples = [SquadExample("q0", "?", "aa bb cc dd", ("bb",)), SquadExample("q1", "?", "ee ff", ("ff",))]
    starts = np.array([[-1, -1, 0, 3, 6, 9, -1, -1], [-1, -1, 6, 9, -1, -1, -1, -1], [-1, -1, 0, 3, -1, -1, -1, -1]])
    ends = np.where(starts >= 0, starts + 2, -1)
    zeros = np.zeros((3, _SQUAD_SEQ), dtype=np.int64)
    features = SquadFeatures(
        input_ids=zeros, input_mask=zeros, segment_ids=zeros,
        example_index=np.array([0, 0, 1]), doc_span_index=np.array([0, 1, 0]),
        token_start=starts, token_end=ends, max_context=starts >= 0,
    )
    return examples, features


class _WordTokenizer:
    """A stand-in tokenizer: id i decodes to the word ``w<i>``; 50 ids."""

    def __len__(self) -> int:
        return 50

    def batch_decode(self, batch, skip_special_tokens: bool = True) -> list[str]:
        return [" ".join(f"w{i}" for i in ids) for ids in batch]


_LLM_TARGETS = [f"w{i} w{i + 1}. w{i + 2}" for i in range(6)]
_TOP1_LABELS = [i % 4 for i in range(10)]


@st.composite
def _typed_log_case(draw, samples: int, ids: st.SearchStrategy[int], dtypes: list[str]) -> tuple[bytes, str]:
    """(accuracy log, dtype): ``data`` mostly holds ``ids`` (class or token ids) in
    that dtype, any float32 for a float dtype (NaN included), else any hex or none."""
    dtype = draw(st.sampled_from(dtypes))
    values = ids | st.floats(width=32) if np.dtype(dtype).kind == "f" else ids
    typed = st.lists(values, min_size=1, max_size=6).map(lambda v: np.asarray(v, dtype=dtype).tobytes().hex().upper())
    data = _mostly(typed, _hex_data(4) | _hex_data(8))
    return draw(_files(_accuracy_logs(data, samples))), dtype


# ------------------------------------------------------------------ targets
@dataclass(frozen=True)
class Target:
    """One parser under fuzzing: ``run(path, option)`` parses the file at ``path``."""

    name: str
    filename: str
    inputs: st.SearchStrategy[tuple[bytes, Any]]  # (file content, option for run)
    run: Callable[[Path, Any], object]
    errors: tuple[type[Exception], ...]  # the only exceptions the parser may raise


def _no_option(files: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple[bytes, Any]]:
    return st.tuples(files, st.none())


# ------------------------------------------------ the families' own dataset files
@st.composite
def _wav_files(draw) -> bytes:
    """A PCM WAV header and frames; mostly what rnnt takes (16 kHz mono 16-bit), else another format."""
    import io
    import wave

    rate = draw(_mostly(st.just(16000), st.sampled_from([8000, 22050, 44100, 1])))
    channels = draw(_mostly(st.just(1), st.sampled_from([2, 3])))
    width = draw(_mostly(st.just(2), st.sampled_from([1, 3, 4])))
    frames = draw(st.integers(0, 600))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(draw(st.binary(min_size=frames * channels * width, max_size=frames * channels * width)))
    return buffer.getvalue()


_MANIFEST_FILE = _record({
    "files": _mostly(st.lists(_record({"fname": _mostly(st.sampled_from(["dev-clean-wav/1/2/1-2-0000.wav", "a.wav"]),
                                                         _JSON_SCALARS | st.just("/abs.wav") | st.just("../up.wav")),
                                       "speed": _mostly(st.just(1), _JSON_SCALARS)}), min_size=1, max_size=2),
                      _JSON),
    "original_duration": _mostly(st.floats(0, 20), _JSON_SCALARS),
    "transcript": _mostly(st.text(alphabet="abc '", max_size=20), _JSON_SCALARS | st.text(max_size=8)),
})
_QUANTILE_FIELD = _mostly(st.integers(1, 700).map(str), st.sampled_from(["0", "-3", "x", "", "1.5", " 7 "]))


def _targets() -> list[Target]:
    squad_examples, squad_features = _squad_dataset()
    token_log = _typed_log_case(len(_LLM_TARGETS), st.integers(-1, 55), ["int32", "int64"])
    return [
        Target("detail", "mlperf_log_detail.txt", st.tuples(_files(_detail_files()), st.booleans()),
               lambda path, strict: parse_detail(path, strict=strict), (LogFormatError,)),
        Target("summary", "mlperf_log_summary.txt", _no_option(_files(_summary_files())),
               lambda path, _: parse_summary(path), (LogFormatError,)),
        Target("user_conf", "user.conf", st.tuples(_files(_lines(_CONF_LINE)), st.sampled_from(["resnet50", "bert-99"])),
               lambda path, model: parse_user_conf(path, model, "Offline"), (UserConfError,)),
        Target("accuracy_log", "mlperf_log_accuracy.json", _no_option(_files(_accuracy_logs(_hex_data(4), 10))),
               lambda path, _: read_accuracy_log(path), (AccuracyLogError,)),
        Target("first_responses", "mlperf_log_accuracy.json",
               st.tuples(_files(_accuracy_logs(_hex_data(4), 10)), st.sampled_from(sorted(DTYPES))),
               lambda path, dtype: first_responses(path, dtype), (AccuracyLogError,)),
        Target("top1", "mlperf_log_accuracy.json",
               _typed_log_case(len(_TOP1_LABELS), st.integers(0, 5), sorted(DTYPES)),
               lambda path, dtype: top1(path, _TOP1_LABELS, dtype), (AccuracyLogError,)),
        # The SQuAD scorer reads the log through first_responses, whose AccuracyLogError it lets through.
        Target("squad", "mlperf_log_accuracy.json",
               _no_option(_files(_accuracy_logs(_mostly(_float_logits(2 * _SQUAD_SEQ), _hex_data(4, 2 * _SQUAD_SEQ)),
                                                len(squad_features)))),
               lambda path, _: score_accuracy_log(path, squad_examples, squad_features),
               (SquadError, AccuracyLogError)),
        Target("llm_token_log", "mlperf_log_accuracy.json", token_log,
               lambda path, dtype: read_token_log(path, dtype), (LlmAccuracyError,)),
        Target("llm_score", "mlperf_log_accuracy.json", token_log,
               lambda path, dtype: llama2_accuracy(path, _LLM_TARGETS, _WordTokenizer(), dtype), (LlmAccuracyError,)),
        Target("rnnt_wav", "utterance.wav", _no_option(_files(_wav_files())),
               lambda path, _: rnnt_wav.read(path), (DatasetFormatError,)),
        Target("rnnt_manifest", "dev-clean-wav.json",
               _no_option(_files(st.lists(_mostly(_MANIFEST_FILE, _JSON), max_size=4).map(lambda v: _dumps(v).encode()))),
               lambda path, _: read_manifest(path.parent), (DatasetFormatError,)),
        Target("dlrm_quantile", "dist_quantile.txt",
               _no_option(_files(st.lists(_QUANTILE_FIELD, min_size=1, max_size=12).map(lambda f: ", ".join(f).encode()))),
               lambda path, _: read_quantile(path), (DatasetFormatError,)),
    ]


TARGETS: list[Target] = _targets()


def feed(target: Target, data: bytes, option: Any, workdir: Path, counts: Counter | None = None) -> str:
    """Parse ``data`` with ``target``; return "parsed" or "rejected".

    A rejection must be one of the target's own error classes and name the file;
    any other exception propagates, which is what the fuzzing looks for.
    """
    path = workdir / target.filename
    path.write_bytes(data)
    if counts is not None:
        counts[target.name] += 1
    try:
        target.run(path, option)
    except target.errors as exc:
        if str(path) not in str(exc):
            raise AssertionError(f"{target.name}: {type(exc).__name__} does not name the file: {exc}") from exc
        return "rejected"
    return "parsed"
