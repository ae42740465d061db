"""TEST06: consistency of LLM output (compliance/TEST06 of mlcommons/inference).

A performance run logs 100 sampled responses with their token data. The
script decodes each ``data`` as token ids (``--dtype``) and checks:

* first token (not in Offline, where LoadGen reports no first token): the ids
  of ``token_data`` (the first-token response) equal the start of ``data``,
  compared pairwise as ``zip`` pairs them;
* EOS: walking back from the last id, at most one trailing EOS. The walk
  stops before index 0, so [EOS, EOS] passes (the script's comment says it
  means to allow it; its ``len(data) == 2`` test can never be reached true);
* sample length: ``token_count`` equals the number of ids in ``data``.

An exception inside the first two checks makes that check False (the script
prints "Unexpected error occured while doing the ... check"); the length check
is not guarded, so a response without ``token_count`` or with undecodable data
stops the script before it writes anything: a ComplianceError here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import inputs
from .rules import eos_token, token_dtype
from .script_output import ScriptOutput
from .verdict import ComplianceError, ComplianceVerdict

_NUMPY_DTYPE = {"int64": np.dtype(np.int64), "int32": np.dtype(np.int32), "int16": np.dtype(np.int16),
                "float32": np.dtype(np.float32)}


def _where(entry: dict, position: int) -> str:
    return f"entry {position} (qsl_idx {entry['qsl_idx']})"


def eos_check(path: Path, entries: list[dict], kind: np.dtype, eos: int) -> tuple[bool, str]:
    for position, entry in enumerate(entries):
        data = inputs.decode(path, position, entry, "data", kind)
        i, trailing = data.shape[0] - 1, 0
        while i > 0:
            if data[i] == eos:
                trailing += 1
            if trailing >= 2:
                return False, f"{_where(entry, position)} ends with two or more EOS tokens ({eos})"
            if data[i] != eos:
                break
            i -= 1
    return True, f"no response ends with more than one EOS token ({eos})"


def first_token_check(path: Path, entries: list[dict], kind: np.dtype) -> tuple[bool, str]:
    for position, entry in enumerate(entries):
        data = inputs.decode(path, position, entry, "data", kind)
        first = inputs.decode(path, position, entry, "token_data", kind)
        for got, reported in zip(data, first):
            if got != reported:
                return False, (f"{_where(entry, position)}: output starts with {data[:len(first)].tolist()}, "
                               f"first-token response was {first.tolist()}")
    return True, "every first-token response matches the start of its output"


def sample_length_check(path: Path, entries: list[dict], kind: np.dtype) -> tuple[bool, str]:
    for position, entry in enumerate(entries):
        data = inputs.decode(path, position, entry, "data", kind)
        if "token_count" not in entry:
            raise ComplianceError(f"{path}: {_where(entry, position)} has no token_count (LoadGen logs it when "
                                  f"use_token_latencies is on); MLPerf's TEST06 script stops here")
        try:
            count = int(entry["token_count"])
        except (TypeError, ValueError):
            raise ComplianceError(f"{path}: {_where(entry, position)}: token_count {entry['token_count']!r} "
                                  f"is not an integer") from None
        if len(data) != count:
            return False, f"{_where(entry, position)}: token_count {count} but {len(data)} token ids in data"
    return True, "every token_count equals its output's length"


def _guarded(check, name: str, console: list[str], *args) -> tuple[bool, str]:
    # The script catches any exception in this check and counts it as a failure.
    try:
        return check(*args)
    except (ComplianceError, KeyError) as exc:
        console.append(f"Unexpected error occured while doing the {name} check")
        return False, str(exc)


def run(*, compliance_dir: Path, out_dir: Path, model: str, scenario: str, dtype: str | None,
        eos_token_id: int | None, audit_line: str) -> ComplianceVerdict:
    dtype = token_dtype(model, dtype)
    eos = eos_token(model, eos_token_id)
    kind = _NUMPY_DTYPE[dtype]
    path, entries = inputs.accuracy_entries(compliance_dir, "TEST06 compliance run")
    console: list[str] = []
    eos_pass, eos_note = _guarded(eos_check, "EOS", console, path, entries, kind, eos)
    need_first_token = scenario != "Offline"
    first_pass, first_note = True, "skipped: Offline reports no first token"
    if need_first_token:
        first_pass, first_note = _guarded(first_token_check, "first token", console, path, entries, kind)
    length_pass, length_note = sample_length_check(path, entries, kind)

    out = ScriptOutput()
    out.print(f"First token check pass: {first_pass if need_first_token else 'Skipped'}")
    out.print(f"EOS check pass: {eos_pass}")
    out.print(f"Sample length check pass: {length_pass}")
    passed = eos_pass and first_pass and length_pass
    out.print("TEST06 verification complete" if passed else "TEST06 verification failed")

    target = inputs.fresh_output(out_dir, "TEST06")
    written: list[Path] = []
    inputs.write_text(target / "verify_accuracy.txt", out.text(), written)
    inputs.copy_into(path, target / "accuracy", written)

    decoded = f"{len(entries)} responses of {path} decoded as {dtype}"
    lines = [audit_line, *console,
             f"first token: {first_note} ({decoded}) -> {'Skipped' if not need_first_token else first_pass}",
             f"EOS: {eos_note}; rule: at most one trailing EOS -> {eos_pass}",
             f"sample length: {length_note} -> {length_pass}",
             f"TEST06 {'passed' if passed else 'failed'}"]
    return ComplianceVerdict(
        test="TEST06", model=model, scenario=scenario, passed=passed,
        checks={"first_token": first_pass if need_first_token else None, "eos": eos_pass, "sample_length": length_pass},
        lines=lines, files=sorted(written), out_dir=target,
    )
