"""Fuzzing of every file parser: any input gives a result or the parser's own error.

The inputs and targets live in tools/fuzz_targets.py. Here each target gets a
short derandomized run (MLPERF_FUZZ_EXAMPLES, default 200, per target) so CI is
fast and reproducible; ``python -m tools.fuzz --examples N`` runs a long random
one. The regression cases below are inputs the fuzzing found that once escaped
with a foreign exception.
"""
from __future__ import annotations

import os
from collections import Counter

import pytest

pytest.importorskip("hypothesis", reason="fuzzing needs hypothesis (the project's test extra)")
from hypothesis import given  # noqa: E402

from tools.fuzz_targets import TARGETS, feed, fuzz_settings  # noqa: E402

EXAMPLES = int(os.environ.get("MLPERF_FUZZ_EXAMPLES", "200"))


# NaN and infinite logits make numpy warn on casts: they are inputs here, not findings.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_parser_survives_fuzzing(target, tmp_path):
    outcomes: Counter = Counter()

    @fuzz_settings(EXAMPLES, derandomize=True)
    @given(target.inputs)
    def parse_one(case):
        data, option = case
        outcomes[feed(target, data, option, tmp_path)] += 1

    parse_one()
    assert sum(outcomes.values()) >= EXAMPLES
    # The structure-aware inputs must reach past the first check: a fuzzer whose
    # every input is rejected up front tests nothing but the first check.
    assert outcomes["parsed"] > 0, f"{target.name}: no input parsed ({dict(outcomes)})"
    assert outcomes["rejected"] > 0, f"{target.name}: no input rejected ({dict(outcomes)})"


# ----------------------------------------------------------------- regressions
def _target(name):
    return next(t for t in TARGETS if t.name == name)


_MLLOG_OK = (':::MLLOG {"key": "k", "value": 1, "metadata": {"is_error": false, "is_warning": false}}\n').encode()

_HUGE = b"9" * 5000  # more digits than int() converts (sys.get_int_max_str_digits() is 4300)
_DEEP = b"[" * 5000  # JSON nesting deeper than the recursion limit
_BAD_QSL = b'[{"seq_id": 0, "qsl_idx": %s, "data": "00000000"}]'

REGRESSIONS = [
    # (target, option, file content, a phrase the error must carry)
    ("detail", True, _MLLOG_OK + b':::MLLOG {"key": "k", "value": ' + _HUGE + b"}\n", "ValueError"),
    ("detail", True, _MLLOG_OK + b":::MLLOG " + _DEEP + b"\n", "RecursionError"),
    ("detail", False, _MLLOG_OK + b"noise :::MLLOG " + _DEEP + b"\n", "RecursionError"),
    ("summary", None, _HUGE + b" ERRORS encountered. See detailed log.\n", "unreadable number"),
    ("summary", None, b"Min latency (ns) : " + _HUGE + b"\n", "unreadable number"),
    ("summary", None, b"Early Stopping Result:\n * Early stopping 90.0th percentile estimate: " + _HUGE + b"\n",
     "unreadable number"),
    ("user_conf", "resnet50", b"# caf\xe9\n*.*.min_duration = 0\n", "utf-8"),
    ("accuracy_log", None, b"[\xff]", "not UTF-8"),
    ("accuracy_log", None, b"[" + _HUGE + b"]", "ValueError"),
    ("accuracy_log", None, _DEEP, "RecursionError"),
    ("first_responses", "float32", _BAD_QSL % b'"3"', "qsl_idx '3' is not an integer"),
    ("first_responses", "float32", _BAD_QSL % b"NaN", "qsl_idx nan is not an integer"),
    ("first_responses", "float32", _BAD_QSL % b"Infinity", "qsl_idx inf is not an integer"),
    ("first_responses", "float32", _BAD_QSL % b"null", "qsl_idx None is not an integer"),
    ("first_responses", "float32", _BAD_QSL % b"[1]", "qsl_idx [1] is not an integer"),
    ("first_responses", "float32", b'[{"qsl_idx": 0, "data": 7}]', "data is not float32 hex"),
    ("squad", None, b'[{"qsl_idx": 0.5, "data": ""}]', "qsl_idx 0.5 is not an integer"),
    ("top1", "float32", b'[{"qsl_idx": 0, "data": "0000C07F"}]', "response nan is not a class index"),
    ("top1", "float32", b'[{"qsl_idx": 0, "data": "0000807F"}]', "response inf is not a class index"),
    ("llm_token_log", "int32", b"\xfe\xff", "not UTF-8"),
    ("llm_score", "int64", b"[" + _HUGE + b"]", "ValueError"),
    # a RIFF chunk size past the file's end: the standard library's chunk seek raised RuntimeError
    ("rnnt_wav", None, b"RIFF\x00\x00\x00\x01WAVE\x00\x00\x00\x00\x00\x00\x00\x01", "not a readable PCM WAV"),
]


@pytest.mark.parametrize("name, option, data, phrase", REGRESSIONS, ids=[f"{r[0]}-{r[3]}" for r in REGRESSIONS])
def test_found_inputs_are_rejected_with_the_parsers_own_error(name, option, data, phrase, tmp_path):
    target = _target(name)
    with pytest.raises(target.errors) as caught:
        target.run(_write(tmp_path, target.filename, data), option)
    assert str(tmp_path) in str(caught.value)
    assert phrase.lower() in str(caught.value).lower()


def _write(folder, name, data):
    path = folder / name
    path.write_bytes(data)
    return path
