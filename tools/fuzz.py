"""Long fuzzing run over every file parser: ``python -m tools.fuzz --examples N``.

Runs at least N inputs in total, split evenly across the targets of
tools/fuzz_targets.py, with a random seed (``--seed`` repeats a run), and
prints how many inputs each parser was fed. Exits 1 if any parser let a foreign
exception out; hypothesis prints the (shrunk) input that did it.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

from hypothesis import given, seed as hypothesis_seed

from tools.fuzz_targets import TARGETS, Target, feed, fuzz_settings


def fuzz_target(target: Target, examples: int, run_seed: int, workdir: Path, counts: Counter,
                outcomes: Counter) -> None:
    """Feed ``target`` at least ``examples`` inputs (hypothesis may stop a batch
    early, e.g. after exhausting a small search space, so batches repeat with new
    seeds until the count is reached or a batch adds nothing)."""
    rng = random.Random(run_seed)
    while counts[target.name] < examples:
        before = counts[target.name]

        @hypothesis_seed(rng.getrandbits(64))
        @fuzz_settings(examples - before, derandomize=False)
        @given(target.inputs)
        def parse_one(case):
            data, option = case
            outcomes[feed(target, data, option, workdir, counts)] += 1

        parse_one()
        if counts[target.name] == before:
            break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000, help="inputs in total across all parsers (default 100000)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the run (default: random, printed)")
    parser.add_argument("--only", action="append", choices=[t.name for t in TARGETS], help="fuzz only this parser (repeatable)")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    targets = [t for t in TARGETS if not args.only or t.name in args.only]
    run_seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
    per_target = math.ceil(args.examples / len(targets))
    print(f"fuzzing {len(targets)} parsers, {per_target} inputs each, seed {run_seed}", flush=True)

    # NaN and infinite logits make numpy warn on casts; they are inputs, not findings.
    warnings.simplefilter("ignore", RuntimeWarning)
    counts: Counter = Counter()
    failed: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlperf-fuzz-") as tmp:
        for index, target in enumerate(targets):
            workdir = Path(tmp) / target.name
            workdir.mkdir()
            target_start = time.monotonic()
            outcomes: Counter = Counter()
            try:
                fuzz_target(target, per_target, run_seed + index, workdir, counts, outcomes)
                verdict = "ok"
            except Exception:  # report every parser's failure, then exit non-zero
                traceback.print_exc()
                failed.append(target.name)
                verdict = "FAILED"
            print(f"{target.name:<16} {counts[target.name]:>8} inputs  {time.monotonic() - target_start:7.1f} s  "
                  f"({outcomes['parsed']} parsed, {outcomes['rejected']} rejected)  {verdict}", flush=True)
    total = sum(counts.values())
    print(f"{'total':<16} {total:>8} inputs  {time.monotonic() - started:7.1f} s", flush=True)
    if failed:
        print(f"parsers that let a foreign exception out: {', '.join(failed)} (rerun with --seed {run_seed})")
        return 1
    if total < args.examples:
        print(f"only {total} of {args.examples} inputs could be generated")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
