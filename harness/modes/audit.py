"""A compliance case (TEST01, TEST04, TEST06): its reference runs, the audited run, the verification.

The case folder holds the audited run's LoadGen logs (made with the test's
audit.config in the child's working directory, which is the case folder),
``reference/accuracy`` and ``reference/performance`` (the same case's
accuracy- and performance-mode runs the test compares against: copied from
this session's run folder when it has them complete, run here otherwise), and
``TEST0x/``, the tree MLPerf's run_verification.py writes and the submission
takes as it is.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from .. import compliance
from ..case_run import CaseResult, execute_case
from ..matrix import Case

# What each test compares the audited run with.
REFERENCE_MODES = {"TEST01": ("accuracy", "performance"), "TEST04": ("performance",), "TEST06": ()}
VERDICT_FILE = "compliance.json"
# LoadGen reports the audit.config beside user.conf as an error; the checker allows exactly this one
# in compliance runs (notes/mlperf-facts.md §5).
ALLOWED_ERROR = "Multiple conf files"


def run_audit(case: Case, bench, prov, options, log_dir: Path, session_dir: Path,
              progress=None) -> tuple[CaseResult, compliance.ComplianceVerdict]:
    test, log_dir = case.mode, Path(log_dir)
    references = {}
    for mode in REFERENCE_MODES[test]:
        references[mode] = _reference_run(case, mode, bench, prov, options, log_dir, Path(session_dir), progress)
    if progress is not None:
        progress.phase(test, "the audited run")
    log_dir.mkdir(parents=True, exist_ok=True)
    compliance.write_audit_config(test, case.model, case.scenario, log_dir)
    audited = execute_case(dataclasses.replace(case, mode="performance"), bench, prov, _audited_options(test, options),
                           log_dir, progress=progress)
    _judge_by_the_audit(audited)
    if progress is not None:
        progress.phase("verify", test)
    verdict = compliance.verify(
        test, compliance_dir=log_dir, accuracy_dir=references.get("accuracy"),
        performance_dir=references.get("performance"), out_dir=log_dir, model=case.model, scenario=case.scenario,
        score_accuracy_log=lambda log: "\n".join(prov.evaluation.score(Path(log)).lines),
        eos_token_id=_eos_token_id(prov) if test == "TEST06" else None,
    )
    (log_dir / VERDICT_FILE).write_text(json.dumps(verdict.to_json(), indent=2) + "\n")
    if not verdict.passed:
        audited.failures.append(f"{test} failed: " + "; ".join(verdict.lines))
    return audited, verdict


def _audited_options(test: str, options):
    """TEST06 reads each response's token_count, which LoadGen logs only with token
    latencies on; the SUT then reports every response's token count."""
    if test != "TEST06":
        return options
    reason = "TEST06: LoadGen logs token_count only with token latencies"
    return dataclasses.replace(
        options, extra_settings=(*options.extra_settings, ("use_token_latencies", 1, reason)),
        task_options={**options.task_options, "report_n_tokens": True})


def _reference_run(case: Case, mode: str, bench, prov, options, log_dir: Path, session_dir: Path,
                   progress) -> Path:
    """This session's complete run of the same case in ``mode``, copied in; else one run here."""
    target = log_dir / "reference" / mode
    reference = dataclasses.replace(case, mode=mode)
    found = session_dir / reference.id
    if _complete(found, mode):
        shutil.copytree(found, target)
        return target
    if progress is not None:
        progress.phase(case.mode, f"the {mode} run it compares with")
    execute_case(reference, bench, prov, options, target, progress=progress)
    return target


def _complete(folder: Path, mode: str) -> bool:
    """A finished run: its result written, and for accuracy its score."""
    needed = ["run_result.json", "mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json"]
    if mode == "accuracy":
        needed.append("accuracy.txt")
    return all((folder / name).is_file() for name in needed)


def _judge_by_the_audit(result: CaseResult) -> None:
    """The audit's rules decide, not the performance checks of a plain run.

    TEST06's audit.config sets min_duration = 0, so its run is INVALID by
    design; TEST01 and TEST04 check validity themselves. What stays a failure
    is a LoadGen error other than the one a compliance run is allowed.
    """
    record = result.performance or {}
    errors = [str(m) for m in record.get("error_messages") or []]
    unexpected = [m for m in errors if ALLOWED_ERROR not in m]
    result.failures = []
    if unexpected or (record.get("num_errors") and not errors):
        listed = "; ".join(repr(m) for m in unexpected) or "messages unknown"
        result.failures.append(f"LoadGen logged {record.get('num_errors')} error(s) in the audited run: {listed}")


def _eos_token_id(prov) -> int | None:
    """The model's own end-of-sequence token (the proxies' differ from MLPerf's models')."""
    model = Path(prov.model_path)
    for name in ("generation_config.json", "config.json"):
        path = model / name if model.is_dir() else model.parent / name
        try:
            value = json.loads(path.read_text()).get("eos_token_id")
        except (OSError, ValueError):
            continue
        if isinstance(value, int):
            return value
    return None
