"""``python -m harness accuracy --benchmark NAME --log FILE --dataset DIR [--tokenizer DIR] [--registry DIR]``.

Prints what MLPerf's accuracy script for that benchmark prints: for resnet50
``accuracy=76.456%, good=38228, total=50000``; for bert
``{"exact_match": ..., "f1": ...}``; for gptj and llama2-70b the result dict
(``{'rouge1': ..., ...}``), then a note on the sentence splitter.
Query-sample indices follow the dataset's own order (ImageNet: the line
order of val_map.txt; SQuAD: features in question order; CNN-DailyMail and
OpenOrca: record order). ``--registry DIR`` adds the benchmark families DIR
defines (as --mlperf-registry does for the suite). The benchmark's family
says how to read the dataset (its format), what it needs besides (its
accuracy-command hook: a tokenizer) and how to score (its scorer).
Exit status: 0 a value was computed; 2 bad input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from harness.datasets.base import DatasetFormatError, DatasetRequest
from harness.metrics.accuracy_log import DTYPES
from harness.registry import RegistryError, load_registry
from harness.registry.parts import PartError, accuracy_command, dataset_format, missing_requirement, scorer

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _registry_dirs(argv: Sequence[str] | None) -> list[Path]:
    """--registry values, read before the parser is built: they add --benchmark choices."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--registry", action="append", default=[])
    known, _ = pre.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    return [Path(d) for d in known.registry]


def build_parser(registry: dict | None = None) -> argparse.ArgumentParser:
    names = sorted(load_registry() if registry is None else registry)
    parser = argparse.ArgumentParser(
        prog="python -m harness accuracy",
        description="Score a LoadGen accuracy log (mlperf_log_accuracy.json) as MLPerf's accuracy script does.",
        epilog="exit status: 0 a value was computed; 2 bad input (missing or malformed log, dataset or tokenizer).",
    )
    parser.add_argument("--benchmark", required=True, choices=names, help="registry benchmark name")
    parser.add_argument("--log", required=True, help="mlperf_log_accuracy.json")
    parser.add_argument("--dataset", required=True,
                        help="dataset folder or file (ImageNet: holds val_map.txt; SQuAD: dev-v1.1.json; "
                             "gptj: cnn_eval.json; llama2-70b: the processed OpenOrca .pkl; retinanet: the folder "
                             "with annotations/openimages-mlperf.json; 3d-unet: the preprocessed KiTS19 folder)")
    parser.add_argument("--tokenizer", default=None,
                        help="language benchmarks: the model's tokenizer folder (default: the dataset folder when it "
                             "holds one, or the proxy's tokenizer for the proxy dataset)")
    parser.add_argument("--dtype", default=None, choices=sorted(DTYPES),
                        help="response dtype (default: the registry's for the benchmark)")
    parser.add_argument("--registry", action="append", default=[], metavar="DIR",
                        help="a folder of more benchmark families (same schema as harness/benchmarks/); repeatable")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from harness.datasets.tokenizers import TokenizerError
    from harness.metrics.accuracy_log import AccuracyLogError

    try:
        registry = load_registry(tuple(d.resolve() for d in _registry_dirs(argv)))
    except RegistryError as exc:
        print(f"error: --registry: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    parser = build_parser(registry)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already; keep its code
        return int(exc.code or 0)
    bench = registry[args.benchmark]
    missing = missing_requirement(bench)
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    dtype = args.dtype or bench.response_dtype
    try:
        hook = accuracy_command(bench)
        extra = hook(bench, Path(args.dataset), {"tokenizer": args.tokenizer}) if hook else {}
        request = DatasetRequest(dtype=dtype, **extra)
        truth = dataset_format(bench).ground_truth(Path(args.dataset), request)
        evaluation = scorer(bench, truth, dtype=dtype, tokenizer_dir=request.tokenizer_dir)
        scored = evaluation.score(Path(args.log))
    except (AccuracyLogError, DatasetFormatError, TokenizerError, PartError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join(scored.lines))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
