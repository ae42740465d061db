"""What a compliance audit returns, and the error it raises on bad input."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def figure(value: float) -> str:
    """A number for a human-readable line: ten significant digits, no float noise."""
    return f"{value:.10g}"


class ComplianceError(ValueError):
    """An input folder, log or option the audit cannot use; the message names it."""


@dataclass
class ComplianceVerdict:
    """The outcome of one audit (TEST01, TEST04 or TEST06) of one case.

    ``checks`` holds each of MLPerf's sub-checks under its own name
    (``accuracy``, ``accuracy_fallback``, ``performance``, ``first_token``,
    ``eos``, ``sample_length``): True or False, or None where the check did not
    apply (TEST06's first-token check in Offline, the TEST01 fallback when the
    exact comparison passed or no scorer was given). ``lines`` says, one
    sentence each, what was compared, the figures and the rule. ``files`` are
    the files written under ``out_dir/<test>/``, the tree MLPerf's
    ``run_verification.py`` leaves for the submission.
    """

    test: str
    model: str
    scenario: str
    passed: bool
    checks: dict[str, bool | None] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    out_dir: Path | None = None

    def to_json(self) -> dict:
        return {
            "test": self.test,
            "model": self.model,
            "scenario": self.scenario,
            "passed": self.passed,
            "checks": dict(self.checks),
            "lines": list(self.lines),
            "files": [str(p) for p in self.files],
            "out_dir": None if self.out_dir is None else str(self.out_dir),
        }
