"""Which compliance tests each benchmark needs, per round, and the per-benchmark
values the audits use.

Sources (the public ``mlcommons/inference`` repository):

* rounds v5.0, v5.1, v6.0: ``tools/submission/submission_checker/constants.py``,
  ``MODEL_CONFIG[round]["models"]`` and ``["models_TEST0x"]``;
* round v4.1: the single-file checker of that round, ``check_compliance_dir``,
  which starts from TEST01/TEST04/TEST05 and removes or adds per benchmark. Its
  lists still name rnnt (last run in v3.1); it is the newest rule for rnnt.
* TEST01 ``accuracy_log_sampling_target``: ``compliance/TEST01/<benchmark>/audit.config``
  (notes/mlperf-facts.md section 6; yolo from ``compliance/TEST01/yolo/audit.config``);
* the TEST01 fallback: ``checks/compliance_check.py`` (metric regexes
  ``ACC_PATTERN``, ``Config.get_delta_perc``).
"""
from __future__ import annotations

import re

from .verdict import ComplianceError

SUPPORTED_TESTS = ("TEST01", "TEST04", "TEST06")
SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")

# Our registry names where they differ from the checker's (constants.py model_mapping).
_ALIASES = {"resnet50": "resnet"}

_BERT = ("bert-99", "bert-99.9")
_DLRM = ("dlrm-v2-99", "dlrm-v2-99.9")
_UNET = ("3d-unet-99", "3d-unet-99.9")
_GPTJ = ("gptj-99", "gptj-99.9")
_LLAMA2 = ("llama2-70b-99", "llama2-70b-99.9")
_LLAMA2_INTERACTIVE = ("llama2-70b-interactive-99", "llama2-70b-interactive-99.9")
_V51_TEST06 = (*_LLAMA2, *_LLAMA2_INTERACTIVE, "llama3.1-405b", "llama3.1-8b", "llama3.1-8b-interactive",
               "llama3.1-405b-interactive", "mixtral-8x7b", "deepseek-r1")

# round -> the benchmarks of that round and, per test, the ones that need it.
# Oldest first: "the newest round that has a benchmark" walks it backwards.
ROUNDS: dict[str, dict[str, tuple[str, ...]]] = {
    "v4.1": {
        "models": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, *_GPTJ, *_LLAMA2, "stable-diffusion-xl",
                   "mixtral-8x7b", "rnnt"),
        # everything but the LLMs (gptj needs no test at all in v4.1)
        "TEST01": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, "stable-diffusion-xl", "rnnt"),
        "TEST04": ("resnet", "stable-diffusion-xl"),
        "TEST05": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, "rnnt"),
        "TEST06": (*_LLAMA2, "mixtral-8x7b"),
    },
    "v5.0": {
        "models": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, *_GPTJ, *_LLAMA2, *_LLAMA2_INTERACTIVE,
                   "stable-diffusion-xl", "mixtral-8x7b", "llama3.1-405b", "rgat", "pointpainting"),
        "TEST01": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, "stable-diffusion-xl", "rgat", "pointpainting"),
        "TEST04": ("resnet", "stable-diffusion-xl", "pointpainting"),
        "TEST06": (*_LLAMA2, *_LLAMA2_INTERACTIVE, *_GPTJ, "mixtral-8x7b"),
    },
    "v5.1": {
        "models": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, "llama3.1-8b", "llama3.1-8b-edge", *_LLAMA2,
                   "stable-diffusion-xl", "mixtral-8x7b", "llama3.1-405b", "rgat", "pointpainting", "deepseek-r1",
                   "whisper"),
        "TEST01": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, "stable-diffusion-xl", "rgat", "pointpainting",
                   "whisper"),
        "TEST04": ("resnet", "stable-diffusion-xl", "pointpainting"),
        "TEST06": _V51_TEST06,
    },
    "v6.0": {
        # dlrm-v2 is still in models_TEST01 but no longer a benchmark of the round.
        "models": ("resnet", "retinanet", *_BERT, *_UNET, "llama3.1-8b", "llama3.1-8b-edge", *_LLAMA2,
                   "stable-diffusion-xl", "mixtral-8x7b", "llama3.1-405b", "rgat", "pointpainting", "deepseek-r1",
                   "whisper", "gpt-oss-120b", "wan-2.2-t2v-a14b", "qwen3-vl-235b-a22b", "dlrm-v3", "yolo-95",
                   "yolo-99"),
        "TEST01": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, "stable-diffusion-xl", "rgat", "pointpainting",
                   "whisper", "yolo-99", "yolo-95"),
        "TEST04": ("resnet", "stable-diffusion-xl", "pointpainting", "wan-2.2-t2v-a14b"),
        "TEST06": _V51_TEST06,
        "TEST07": ("gpt-oss-120b",),
        "TEST08": ("dlrm-v3",),
        "TEST09": ("gpt-oss-120b",),
    },
}


def checker_name(model: str) -> str:
    """The submission checker's name for a benchmark (``resnet50`` -> ``resnet``)."""
    name = _ALIASES.get(model, model)
    if not any(name in r["models"] for r in ROUNDS.values()):
        known = sorted({*_ALIASES, *(m for r in ROUNDS.values() for m in r["models"])})
        raise ComplianceError(f"unknown benchmark {model!r}; known: {', '.join(known)}")
    return name


def compliance_round(model: str, version: str | None = None) -> str:
    """The round whose rules apply: ``version`` (``v5.0`` or ``5.0``), or by
    default the newest round that has the benchmark."""
    name = checker_name(model)
    if version is None:
        return next(v for v in reversed(ROUNDS) if name in ROUNDS[v]["models"])
    round_ = version if version.startswith("v") else f"v{version}"
    if round_ not in ROUNDS:
        raise ComplianceError(f"unknown round {version!r}; known: {', '.join(ROUNDS)}")
    if name not in ROUNDS[round_]["models"]:
        rounds = [v for v in ROUNDS if name in ROUNDS[v]["models"]]
        raise ComplianceError(f"{model!r} is not a benchmark of round {round_}; it is one of {', '.join(rounds)}")
    return round_


def required_tests(mlperf_benchmark: str, version: str | None = None) -> tuple[str, ...]:
    """The compliance tests the submission checker requires for a benchmark,
    sorted (``("TEST01", "TEST04")`` for resnet50). A round may require a test
    this package does not run (TEST05 in v4.1, TEST07-09 in v6.0): filter with
    ``SUPPORTED_TESTS``."""
    rules = ROUNDS[compliance_round(mlperf_benchmark, version)]
    name = checker_name(mlperf_benchmark)
    return tuple(sorted(t for t, models in rules.items() if t.startswith("TEST") and name in models))


def require_test(test: str) -> str:
    if test not in SUPPORTED_TESTS:
        raise ComplianceError(f"unknown compliance test {test!r}; this package runs {', '.join(SUPPORTED_TESTS)}")
    return test


def require_scenario(scenario: str) -> str:
    if scenario not in SCENARIOS:
        raise ComplianceError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    return scenario


# ------------------------------------------------------------------ TEST01

TEST01_SAMPLING_TARGET = {
    "resnet": 4096, **dict.fromkeys(_BERT, 4096), **dict.fromkeys(_DLRM, 4096), "rgat": 4096, "whisper": 4096,
    "retinanet": 256, "pointpainting": 256,
    **dict.fromkeys(_UNET, 64), "yolo-95": 64, "yolo-99": 64,
    "stable-diffusion-xl": 128,
}

# verify_accuracy.py decodes each response with --dtype (choices below, default
# "byte") and compares only the first element. MLPerf's own automation (MLC's
# app-mlperf-inference) and NVIDIA's harness pass no --dtype, i.e. "byte". One
# byte of a float32 class index is no check at all: every integer below 2**16
# has a zero low byte as float32, so resnet50 and retinanet (whose first float
# is the sample index) would match whatever the SUT answered. The defaults here
# are the payload's element type wherever it is one of the script's choices
# (notes/mlperf-facts.md section 1c); a float32 match implies the byte match,
# so these never pass what "byte" fails (a NaN first value aside).
TEST01_DTYPES = ("byte", "float32", "int32", "int64")
TEST01_DEFAULT_DTYPE = {
    "resnet": "float32",            # class index as float32
    "retinanet": "float32",         # 7-float detections, first is the sample index
    **dict.fromkeys(_BERT, "float32"),  # [384, 2] logits
    **dict.fromkeys(_DLRM, "float32"),  # scores
    **dict.fromkeys(_UNET, "byte"),     # uint8 mask: byte compares the first voxel
    "stable-diffusion-xl": "byte",      # uint8 image
}


def _chosen_dtype(test: str, script: str, model: str, dtype: str | None, accepted: tuple[str, ...],
                  defaults: dict[str, str], what: str, hint: str = "") -> str:
    """The ``--dtype`` a verification script decodes with: the one given, else the benchmark's."""
    if dtype is not None:
        if dtype not in accepted:
            raise ComplianceError(f"{test} dtype {dtype!r}: {script} accepts {', '.join(accepted)}")
        return dtype
    name = checker_name(model)
    if name not in defaults:
        raise ComplianceError(f"no {test} {what} known for {model!r}; pass dtype= one of {', '.join(accepted)}{hint}")
    return defaults[name]


def verify_accuracy_dtype(model: str, dtype: str | None = None) -> str:
    return _chosen_dtype("TEST01", "verify_accuracy.py", model, dtype, TEST01_DTYPES, TEST01_DEFAULT_DTYPE,
                         "response dtype", " (MLPerf's run_verification.py defaults to 'byte')")


# The fallback (README Part III): the accuracy script's figures on the baseline
# and compliance logs, parsed with the checker's regexes (re.match per line).
ACC_PATTERN = {
    "acc": r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d\.]+).*",
    "mAP": r".*(?:mAP=|'Total':)\s*([\d.]+)",
    "F1": r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}",
    "AUC": r"^AUC=([\d\.]+).*",
    "DICE": r"Accuracy\:\s*mean\s*=\s*([\d\.]+).*",
    "ACCURACY": r"Word Error Rate\:.*, accuracy=([0-9\.]+)%",
    "CLIP_SCORE": r".*'CLIP_SCORE':\s+'?([\d.]+).*",
    "FID_SCORE": r".*'FID_SCORE':\s+'?([\d.]+).*",
}
TEST01_METRICS = {
    "resnet": ("acc",), "rgat": ("acc",),
    "retinanet": ("mAP",), "pointpainting": ("mAP",), "yolo-95": ("mAP",), "yolo-99": ("mAP",),
    **dict.fromkeys(_BERT, ("F1",)), **dict.fromkeys(_DLRM, ("AUC",)), **dict.fromkeys(_UNET, ("DICE",)),
    "rnnt": ("ACCURACY",), "whisper": ("ACCURACY",),
    "stable-diffusion-xl": ("CLIP_SCORE", "FID_SCORE"),
}
_DELTA_OVERRIDES = {"stable-diffusion-xl": {"CLIP_SCORE": 1.0, "FID_SCORE": 2.0}}


def fallback_metrics(model: str) -> tuple[str, ...]:
    name = checker_name(model)
    if name not in TEST01_METRICS:
        raise ComplianceError(f"TEST01 does not apply to {model!r}: no accuracy metric to compare in the fallback")
    return TEST01_METRICS[name]


def delta_percent(model: str, metric: str) -> float:
    """The allowed |1 - baseline/compliance| x 100: 1, or 0.1 for a 99.9% variant."""
    name = checker_name(model)
    if metric in _DELTA_OVERRIDES.get(name, {}):
        return _DELTA_OVERRIDES[name][metric]
    return 0.1 if "99.9" in name else 1.0


def metric_value(metric: str, text: str) -> float:
    """The figure the checker reads from an accuracy script's output: the last
    line that matches, 0 when none does (the checker's own default)."""
    value = 0.0
    for line in text.splitlines(keepends=True):
        match = re.match(ACC_PATTERN[metric], line)
        if match:
            value = float(match.group(1))
    return value


# ------------------------------------------------------------------ TEST06

TEST06_DTYPES = ("int64", "int32", "int16", "float32")
# run_verification.py decodes the token ids with --dtype (default int64); MLC
# passes int32 for its llama runs. These are the reference SUTs' token types.
TEST06_DEFAULT_DTYPE = {**dict.fromkeys(_GPTJ, "int64"), **dict.fromkeys((*_LLAMA2, *_LLAMA2_INTERACTIVE), "int32")}
# The script's --eos_token_id defaults to 2, Llama's </s>. GPT-J's tokenizer
# ends with <|endoftext|> = 50256; token 2 is an ordinary token there.
TEST06_DEFAULT_EOS = {**dict.fromkeys(_GPTJ, 50256), **dict.fromkeys((*_LLAMA2, *_LLAMA2_INTERACTIVE), 2)}


def token_dtype(model: str, dtype: str | None = None) -> str:
    return _chosen_dtype("TEST06", "run_verification.py", model, dtype, TEST06_DTYPES, TEST06_DEFAULT_DTYPE,
                         "token dtype")


def eos_token(model: str, eos_token_id: int | None = None) -> int:
    if eos_token_id is not None:
        if isinstance(eos_token_id, bool) or not isinstance(eos_token_id, int):
            raise ComplianceError(f"TEST06 eos_token_id must be an integer token id, got {eos_token_id!r}")
        return eos_token_id
    name = checker_name(model)
    if name not in TEST06_DEFAULT_EOS:
        raise ComplianceError(f"no EOS token id known for {model!r}; pass eos_token_id= (the tokenizer's EOS)")
    return TEST06_DEFAULT_EOS[name]
