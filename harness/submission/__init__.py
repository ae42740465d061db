"""MLPerf submission trees from the suite's runs: build one, check one.

``build_submission(run_dirs, out, submitter=, system=, division=, ...)`` writes the tree
MLPerf's submission checker expects for a round and checks it; ``check_tree(root)``
checks an existing tree with the same rules. ``python -m harness submission`` is the
command line (harness/submission/cli.py).
"""
from harness.submission.build import BuildResult, build_submission, default_originals
from harness.submission.checker import check_tree, infer_version
from harness.submission.inputs import SubmissionInputError
from harness.submission.problems import Problem, Report
from harness.submission.truncate import truncated_bytes
from harness.submission.versions import VERSIONS, Version, VersionError

__all__ = [
    "BuildResult", "Problem", "Report", "SubmissionInputError", "VERSIONS", "Version", "VersionError",
    "build_submission", "check_tree", "default_originals", "infer_version", "truncated_bytes",
]
