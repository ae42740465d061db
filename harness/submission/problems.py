"""Why a result is not submittable: one named rule per line."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One broken rule. ``scope`` is ``<system>/<benchmark>/<scenario>`` for a result,
    ``<system>`` for what every result of a system shares (its description), and
    ``submission`` for the tree as a whole."""

    scope: str
    rule: str
    message: str

    def line(self) -> str:
        return f"NOT SUBMITTABLE {self.scope}: [{self.rule}] {self.message}"


@dataclass
class Report:
    """Results found in a tree (``system/benchmark/scenario``), the problems, and notes
    (things to know that do not block a result, e.g. a placeholder in documentation)."""

    results: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)  # result -> "value unit"

    def add(self, scope: str, rule: str, message: str) -> None:
        problem = Problem(scope, rule, message)
        if problem not in self.problems:
            self.problems.append(problem)

    def submittable(self, result: str) -> bool:
        system = result.split("/", 1)[0]
        return not any(p.scope in (result, system, "submission") for p in self.problems)

    @property
    def all_submittable(self) -> bool:
        return bool(self.results) and not self.problems

    def lines(self) -> list[str]:
        ordered = sorted(self.problems, key=lambda p: (p.scope, p.rule, p.message))
        out = [p.line() for p in ordered]
        for result in sorted(self.results):
            if self.submittable(result):
                metric = self.metrics.get(result)
                out.append(f"submittable {result}" + (f": {metric}" if metric else ""))
        out.extend(f"note: {note}" for note in self.notes)
        good = sum(self.submittable(r) for r in self.results)
        out.append(f"{good} of {len(self.results)} results submittable")
        return out
