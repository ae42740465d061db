"""``python -m harness accuracy --benchmark NAME --log FILE --dataset DIR``.

Prints what MLPerf's accuracy script for that benchmark prints (for resnet50:
``accuracy=76.456%, good=38228, total=50000``). Query-sample indices follow
the dataset's own order (for ImageNet, the line order of val_map.txt).
Exit status: 0 a value was computed; 2 bad input.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from harness.datasets.imagenet import DatasetError, read_val_map
from harness.metrics.accuracy_log import DTYPES, AccuracyLogError
from harness.metrics.top1 import top1
from harness.registry import load_registry

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _imagenet(args) -> str:
    labels = [label for _, label in read_val_map(args.dataset, check_images=False)]
    return top1(args.log, labels, dtype=args.dtype).official_line()


# dataset format -> scorer; a benchmark's registry entry names its format
SCORERS = {"imagenet": _imagenet}


def build_parser() -> argparse.ArgumentParser:
    names = sorted(load_registry())
    parser = argparse.ArgumentParser(
        prog="python -m harness accuracy",
        description="Score a LoadGen accuracy log (mlperf_log_accuracy.json) as MLPerf's accuracy script does.",
        epilog="exit status: 0 a value was computed; 2 bad input (missing or malformed log or dataset).",
    )
    parser.add_argument("--benchmark", required=True, choices=names, help="registry benchmark name")
    parser.add_argument("--log", required=True, help="mlperf_log_accuracy.json")
    parser.add_argument("--dataset", required=True, help="dataset folder (ImageNet: holds val_map.txt)")
    parser.add_argument("--dtype", default=None, choices=sorted(DTYPES),
                        help="response dtype (default: the registry's for the benchmark)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already; keep its code
        return int(exc.code or 0)
    bench = load_registry()[args.benchmark]
    args.dtype = args.dtype or bench.response_dtype
    scorer = SCORERS.get(bench.dataset_format)
    if scorer is None:
        print(f"error: no accuracy script for dataset format {bench.dataset_format!r} yet", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        print(scorer(args))
    except (AccuracyLogError, DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
