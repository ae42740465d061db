"""MLPerf's compliance audits TEST01, TEST04 and TEST06 as a library.

A compliance case is a performance-mode LoadGen run made with the test's
``audit.config`` in the working directory of the process that runs LoadGen
(``write_audit_config``); ``verify`` then checks its logs against the same
case's accuracy and performance runs as ``compliance/TEST0x/run_verification.py``
of mlcommons/inference does, and writes the ``TEST0x/`` tree that the
submission checker reads. ``required_tests`` says which tests a benchmark needs.
"""
from .audit_config import AUDIT_CONFIG_NAME, audit_config_text, audit_problems, audit_settings, write_audit_config
from .rules import (SUPPORTED_TESTS, checker_name, compliance_round, eos_token, required_tests, token_dtype,
                    verify_accuracy_dtype)
from .test01 import compare_accuracy
from .verdict import ComplianceError, ComplianceVerdict
from .verify import verify

__all__ = [
    "AUDIT_CONFIG_NAME",
    "SUPPORTED_TESTS",
    "ComplianceError",
    "ComplianceVerdict",
    "audit_config_text",
    "audit_problems",
    "audit_settings",
    "checker_name",
    "compare_accuracy",
    "compliance_round",
    "eos_token",
    "required_tests",
    "token_dtype",
    "verify",
    "verify_accuracy_dtype",
    "write_audit_config",
]
