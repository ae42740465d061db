"""``python -m harness <command>``: the harness's command-line tools.

  logs PATH...                 one JSON object per LoadGen run found
  accuracy --benchmark NAME    score an accuracy log as MLPerf's script does
  submission --from RUN_DIR... --out DIR --submitter NAME --system NAME --division closed|open
                               MLPerf submission tree from runs, checked; --check DIR checks one
  serve --benchmark NAME --backend B [--host 127.0.0.1] --port P
                               a system-under-test server: the model, answering staged batches over HTTP
  ci-matrix [--shards N] [--durations results.json] [--model/--backend/--device/--precision/--scenario/--mode LIST]
                               a CI job matrix (JSON) of --mlperf-shard jobs over the selected cases
  merge RUN_DIR... [--out DIR] [--allow-mixed]
                               the shards' results.json as one run, with its report.html and summary.md
"""
from __future__ import annotations

import sys

COMMANDS = {
    "logs": "harness.logs.cli",
    "accuracy": "harness.accuracy.cli",
    "submission": "harness.submission.cli",
    "serve": "harness.serving.cli",
    "ci-matrix": "harness.ci_matrix",
    "merge": "harness.merge",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    import importlib

    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
