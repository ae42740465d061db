"""``python -m harness accuracy --benchmark NAME --log FILE --dataset DIR [--tokenizer DIR]``.

Prints what MLPerf's accuracy script for that benchmark prints: for resnet50
``accuracy=76.456%, good=38228, total=50000``; for bert
``{"exact_match": ..., "f1": ...}``; for gptj and llama2-70b the result dict
(``{'rouge1': ..., ...}``), then a note on the sentence splitter.
Query-sample indices follow the dataset's own order (ImageNet: the line
order of val_map.txt; SQuAD: features in question order; CNN-DailyMail and
OpenOrca: record order). Exit status: 0 a value was computed; 2 bad input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from harness.datasets.formats import DatasetFormatError, dataset_format
from harness.datasets.vocabulary import TOKENIZER_FILES
from harness.metrics.accuracy_log import DTYPES
from harness.proxies import PROXY_DIR
from harness.registry import load_registry

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def build_parser() -> argparse.ArgumentParser:
    names = sorted(load_registry())
    parser = argparse.ArgumentParser(
        prog="python -m harness accuracy",
        description="Score a LoadGen accuracy log (mlperf_log_accuracy.json) as MLPerf's accuracy script does.",
        epilog="exit status: 0 a value was computed; 2 bad input (missing or malformed log, dataset or tokenizer).",
    )
    parser.add_argument("--benchmark", required=True, choices=names, help="registry benchmark name")
    parser.add_argument("--log", required=True, help="mlperf_log_accuracy.json")
    parser.add_argument("--dataset", required=True,
                        help="dataset folder or file (ImageNet: holds val_map.txt; SQuAD: dev-v1.1.json; "
                             "gptj: cnn_eval.json; llama2-70b: the processed OpenOrca .pkl)")
    parser.add_argument("--tokenizer", default=None,
                        help="language benchmarks: the model's tokenizer folder (default: the dataset folder when it "
                             "holds one, or the proxy's tokenizer for the proxy dataset)")
    parser.add_argument("--dtype", default=None, choices=sorted(DTYPES),
                        help="response dtype (default: the registry's for the benchmark)")
    return parser


def _tokenizer(args, bench) -> Path | None:
    if args.tokenizer:
        return Path(args.tokenizer)
    if bench.proxy.tokenizer is None:
        return None
    dataset = Path(args.dataset).resolve()
    folder = dataset if dataset.is_dir() else dataset.parent
    if any((folder / name).is_file() for name in TOKENIZER_FILES):
        return folder
    proxy_dataset = (PROXY_DIR / bench.proxy.dataset).resolve()
    if folder == proxy_dataset:
        return (PROXY_DIR / bench.proxy.tokenizer).resolve()
    raise DatasetFormatError(f"{bench.name} decodes with the model's tokenizer: pass --tokenizer DIR")


def main(argv: Sequence[str] | None = None) -> int:
    from harness.datasets.tokenizers import TokenizerError
    from harness.metrics.accuracy_log import AccuracyLogError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already; keep its code
        return int(exc.code or 0)
    bench = load_registry()[args.benchmark]
    dtype = args.dtype or bench.response_dtype
    try:
        fmt = dataset_format(bench.dataset_format)
        evaluation = fmt.evaluation(Path(args.dataset), tokenizer_dir=_tokenizer(args, bench), dtype=dtype)
        scored = evaluation.score(Path(args.log))
    except (AccuracyLogError, DatasetFormatError, TokenizerError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join(scored.lines))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
