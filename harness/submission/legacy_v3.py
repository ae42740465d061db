"""What the v3.1 checker (the single-file ``tools/submission/submission_checker.py`` of
that round) asks of a tree beyond the v5 layout, for rnnt's last round.

* ``check_results_dir`` rejects a whole ``<division>/<submitter>`` folder holding a
  broken link, a file over 50 MB, a file or folder whose name starts with a dot or has
  a space, a ``__pycache__`` folder, or an empty folder: ``folder_rules``.
* ``check_measurement_dir`` wants ``mlperf.conf`` beside user.conf and README.md, and a
  ``code/<benchmark>/`` folder: the writer adds ``mlperf_conf_text`` and
  ``code_readme_text``. LoadGen compiles its mlperf.conf in and the suite keeps no copy
  of it, so the file holds the built-in values the run's user.conf records (as comments)
  for its model and scenario, and says so.
"""
from __future__ import annotations

import re
from pathlib import Path

FILE_SIZE_LIMIT = 50 * 1024 * 1024  # FILE_SIZE_LIMIT_MB * MB_TO_BYTES
# harness/settings.py render_user_conf: "# <model>.<scenario>.<key> = <value>  (origin: mlperf.conf, ...)"
_BUILTIN_LINE = re.compile(r"^# (\S+\.\S+\.\S+ = \S+)\s+\(origin: mlperf\.conf, built into LoadGen\)$")


def folder_rules(base: Path) -> list[tuple[str, str]]:
    """(rule, message) for what check_results_dir refuses under ``base``."""
    if not base.is_dir():
        return []
    found: dict[str, list[str]] = {}
    for path in sorted(base.rglob("*")):
        relative = str(path.relative_to(base))
        if path.is_symlink() and not path.exists():
            found.setdefault("broken links", []).append(relative)
        if path.name.startswith("."):
            found.setdefault("names starting with a dot", []).append(relative)
        if " " in path.name:
            found.setdefault("names with spaces", []).append(relative)
        if path.is_dir() and path.name == "__pycache__":
            found.setdefault("__pycache__ folders", []).append(relative)
        if path.is_dir() and not any(path.iterdir()):
            found.setdefault("empty folders", []).append(relative)
        if path.is_file() and path.stat().st_size > FILE_SIZE_LIMIT:
            found.setdefault("files over 50 MB", []).append(relative)
    return [("v3-tree", f"{base} holds {what}: {', '.join(paths[:5])}" + (" ..." if len(paths) > 5 else "")
             + " (the v3.1 checker rejects the whole submitter folder)") for what, paths in found.items()]


def mlperf_conf_text(user_conf: str, loadgen: str | None) -> str:
    values = [m.group(1) for m in map(_BUILTIN_LINE.match, user_conf.splitlines()) if m]
    lines = [f"# The mlperf.conf values LoadGen {loadgen or '(version unknown)'} has built in, as the run's "
             "user.conf records them",
             "# for this model and scenario; the seeds it used are in mlperf_log_detail.txt."]
    return "\n".join(lines + (values or ["# (the run's user.conf records no built-in value)"])) + "\n"


def code_readme_text(benchmark: str, implementation: str, commits: list[str]) -> str:
    return (f"# {benchmark}, implementation {implementation}\n\n"
            f"Run with the mlperf-pytest suite at commit(s) {', '.join(commits)}; its source is described in "
            "../../README.md.\n")
