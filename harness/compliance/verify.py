"""``verify``: run one compliance audit on a case's run folders, the way MLPerf's
``run_verification.py`` does, and write its output tree."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import inputs, test01, test04, test06
from .audit_config import AUDIT_CONFIG_NAME, audit_problems, audit_settings
from .rules import checker_name, require_scenario, require_test
from .verdict import ComplianceError, ComplianceVerdict


def verify(test: str, *, compliance_dir: Path, accuracy_dir: Path | None = None,
           performance_dir: Path | None = None, out_dir: Path, model: str, scenario: str,
           dtype: str | None = None, score_accuracy_log: Callable[[Path], str] | None = None,
           eos_token_id: int | None = None, check_audit: bool = True) -> ComplianceVerdict:
    """Audit ``compliance_dir`` (the LoadGen logs of a run made with ``test``'s
    audit.config in its working directory) and write ``out_dir/<test>/``.

    * TEST01 needs ``accuracy_dir`` (the same case's accuracy-mode run) and
      ``performance_dir`` (its performance-mode run); ``dtype`` is the
      verify_accuracy.py ``--dtype`` (default per benchmark, rules.TEST01_DEFAULT_DTYPE);
      ``score_accuracy_log(log) -> accuracy.txt text`` enables the fallback.
    * TEST04 needs ``performance_dir``.
    * TEST06 needs neither; ``dtype`` is the token dtype, ``eos_token_id`` the
      tokenizer's EOS (defaults per benchmark, rules.TEST06_*).

    With ``check_audit`` (the default) the compliance run's detail log must
    show every audit.config setting in effect (a run without the file would
    otherwise pass TEST04 trivially). Raises ComplianceError on missing or
    malformed input, naming the file.
    """
    require_test(test)
    require_scenario(scenario)
    checker_name(model)
    compliance_dir = inputs.run_folder(compliance_dir, f"{test} compliance run")
    _refuse_overlap(Path(out_dir) / test, compliance_dir, accuracy_dir, performance_dir)
    detail = inputs.detail_log(compliance_dir, f"{test} compliance run")
    logged = inputs.first_value(detail, "effective_scenario")
    if logged != scenario:
        raise ComplianceError(f"{detail.path}: effective_scenario is {logged!r}, but scenario {scenario!r} was given")
    audit_line = _audit_line(detail, test, model, scenario, check_audit)
    if test == "TEST01":
        return test01.run(compliance_dir=compliance_dir, accuracy_dir=accuracy_dir, performance_dir=performance_dir,
                          out_dir=out_dir, model=model, scenario=scenario, dtype=dtype,
                          score_accuracy_log=score_accuracy_log, compliance_detail=detail, audit_line=audit_line)
    if test == "TEST04":
        return test04.run(compliance_dir=compliance_dir, performance_dir=performance_dir, out_dir=out_dir,
                          model=model, scenario=scenario, audit_line=audit_line)
    return test06.run(compliance_dir=compliance_dir, out_dir=out_dir, model=model, scenario=scenario, dtype=dtype,
                      eos_token_id=eos_token_id, audit_line=audit_line)


def _refuse_overlap(target: Path, *folders: Path | None) -> None:
    # out_dir/<test>/ is emptied before it is written: it must not hold an input.
    target = target.resolve()
    for folder in folders:
        if folder is not None and (Path(folder).resolve() == target or target in Path(folder).resolve().parents):
            raise ComplianceError(f"{folder}: an input run folder lies in the output folder {target}, which "
                                  f"verify() empties; choose another out_dir")


def _audit_line(detail, test: str, model: str, scenario: str, check_audit: bool) -> str:
    if not check_audit:
        return f"{AUDIT_CONFIG_NAME}: not checked against {detail.path} (check_audit=False)"
    problems = audit_problems(detail, test, model, scenario)
    if problems:
        raise ComplianceError(f"{detail.path}: the run did not apply {test}'s {AUDIT_CONFIG_NAME} (it must sit in "
                              f"the working directory of the process running LoadGen): " + "; ".join(problems))
    applied = ", ".join(f"{key} = {value}" for key, value in audit_settings(test, model, scenario).items())
    return f"{AUDIT_CONFIG_NAME} in effect in {detail.path}: {applied}"
