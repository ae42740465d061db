"""When the plugin acts: only in a session that collects an MLPerf case.

Installed as an entry point, the plugin is loaded by every pytest run in the
environment. A session of plain unit tests must behave exactly as without it,
so nothing with an effect happens at configure time. Once collection shows
an MLPerf case (in this process, or, on an xdist controller, in a worker's
collection), the session is *activated*: only then is the output folder
created and claimed, the cache checked, junit.xml written into the output
folder (when no --junitxml was given), the signal handlers installed and the
run lock held around the session's other tests.
"""
from __future__ import annotations

import os
import re

import pytest

from harness.matrix import Case, build_cases
from harness.output_dir import OutputClaim, OutputDirError, check_usable_dir, check_writable_dir
from harness.runner.runlock import LOCK_ENV, hold_between_runs, hold_named_lock, release_hold, run_lock

from .collection import CONFIG_KEY, HEADER_SHOWN, is_xdist_worker, mlperf_config, setting_lines

ACTIVE = pytest.StashKey[bool]()
OUTPUT_CLAIM = pytest.StashKey[OutputClaim]()
# A worker's node id: "path::test[<case id>]", "@group" appended under --dist loadgroup.
_PARAM_ID = re.compile(r"\[([^\[\]]+)\](?:@[^@\[\]]*)?$")


def is_active(config: pytest.Config) -> bool:
    return config.stash.get(ACTIVE, False)


def is_mlperf_item(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and isinstance(callspec.params.get("mlperf_case"), Case)


def activate(config: pytest.Config) -> None:
    """Everything an MLPerf session needs beyond its options, once."""
    if is_active(config) or CONFIG_KEY not in config.stash:
        return
    config.stash[ACTIVE] = True
    settings = mlperf_config(config)
    if not is_xdist_worker(config):
        # Checked before any case runs, not when results.json is written at the
        # end: a bad folder must not cost the session's records.
        try:
            check_writable_dir(settings.cache_dir, "--mlperf-cache")
            config.stash[OUTPUT_CLAIM] = OutputClaim.acquire(settings.output_dir)
        except OutputDirError as exc:
            raise pytest.UsageError(str(exc)) from None
        _write_junit_into_output(config, settings.output_dir / "junit.xml")
    interrupts = config.pluginmanager.get_plugin("mlperf-interrupts")
    if interrupts is not None:
        interrupts.install()


def _write_junit_into_output(config: pytest.Config, path) -> None:
    """junit.xml beside results.json, unless the user chose its place.

    pytest's own junitxml plugin opens its writer at configure time, when it is
    not yet known whether the session has MLPerf cases; this registers the
    same writer, built from the same ini values, once it is known.
    """
    if getattr(config.option, "xmlpath", None):
        return
    from _pytest.junitxml import LogXML, xml_key

    config.option.xmlpath = str(path)
    writer = LogXML(str(path), config.option.junitprefix, config.getini("junit_suite_name"),
                    config.getini("junit_logging"), config.getini("junit_duration_report"),
                    config.getini("junit_family"), config.getini("junit_log_passing_tests"))
    config.stash[xml_key] = writer  # junitxml's unconfigure unregisters it
    config.pluginmanager.register(writer)
    writer.pytest_sessionstart()


def preflight(config: pytest.Config) -> None:
    """--collect-only with MLPerf cases: the folders are refused as a run would refuse them,
    but nothing is created or claimed (nothing runs)."""
    settings = mlperf_config(config)
    try:
        check_usable_dir(settings.cache_dir, "--mlperf-cache")
        OutputClaim.check(settings.output_dir)
    except OutputDirError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # After deselection (-m, -k): a session whose MLPerf cases were all deselected stays inert.
    if CONFIG_KEY not in session.config.stash or not any(is_mlperf_item(item) for item in session.items):
        return
    if session.config.option.collectonly:
        preflight(session.config)
    else:
        activate(session.config)


def pytest_report_collectionfinish(config: pytest.Config) -> list[str] | None:
    """The registry, cache and output lines, for an MLPerf session whose header did not show them."""
    if is_active(config) and not config.stash.get(HEADER_SHOWN, False):
        return setting_lines(config)
    return None


# A test that runs a pytest session of its own, whose LoadGen runs take this
# session's run lock themselves (MLPERF_RUN_LOCK, harness/runner/runlock.py):
# held shared around the test as well, its inner performance runs would wait
# for the test itself to end.
NESTED_SESSION_MARKER = "mlperf_nested_session"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    """The session's other tests hold the run lock shared while they run, so a
    performance case (which takes it exclusively) has the cores to itself.
    MLPerf cases take it themselves, around the LoadGen run only."""
    if not is_active(item.config) or is_mlperf_item(item) or item.get_closest_marker(NESTED_SESSION_MARKER):
        return (yield)
    with run_lock(mlperf_config(item.config).cache_dir, exclusive=False):
        return (yield)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    release_hold()
    claim = config.stash.get(OUTPUT_CLAIM, None)
    if claim is not None:
        claim.release()


def _holds_between_runs(config: pytest.Config) -> bool:
    """A nested session run in one process holds the outer lock shared between its runs
    (runlock.hold_between_runs). Not under xdist: a worker done with its tests would hold
    it until the session ends, and a sibling's performance run would wait for that forever."""
    if not os.environ.get(LOCK_ENV, "").strip() or CONFIG_KEY not in config.stash:
        return False
    return not is_xdist_worker(config) and not getattr(config.option, "numprocesses", None)


class XdistController:
    """Registered on an xdist controller only (its hooks exist only with xdist).

    The controller collects nothing itself: its workers' collections tell it
    whether the session has MLPerf cases, before any test is scheduled.
    """

    def __init__(self, config: pytest.Config):
        self.config = config
        self._case_ids: set[str] | None = None

    def pytest_configure_node(self, node) -> None:
        # Decided once by the controller, so every worker writes into one run folder.
        node.workerinput["mlperf_output"] = node.config.option.mlperf_output
        node.workerinput["mlperf_registry"] = list(node.config.option.mlperf_registry)

    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        if is_active(self.config) or self.config.option.collectonly:
            return
        if self._case_ids is None:
            self._case_ids = {case.id for case in build_cases()}
        for nodeid in ids:
            found = _PARAM_ID.search(nodeid)
            if found and found.group(1) in self._case_ids:
                activate(self.config)
                if not self.config.stash.get(HEADER_SHOWN, False):
                    reporter = self.config.pluginmanager.get_plugin("terminalreporter")
                    for line in setting_lines(self.config) if reporter is not None else ():
                        reporter.write_line(line)
                return


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """A nested session holds the outer lock from its first hook: its start-up is work on
    the outer session's cores too. pytest_configure keeps the hold or ends it, once it is
    known whether this process is one that holds it between runs."""
    hold_named_lock()


@pytest.hookimpl(trylast=True)  # after the options are parsed and the interrupt handler registered
def pytest_configure(config: pytest.Config) -> None:
    if _holds_between_runs(config):
        hold_between_runs(mlperf_config(config).cache_dir)
    else:
        release_hold()  # an xdist controller or worker, or not an MLPerf session: held for its start-up only
    if not is_xdist_worker(config) and config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistController(config), "mlperf-xdist")
    if CONFIG_KEY in config.stash and mlperf_config(config).gate is not None:
        activate(config)  # a gate is an MLPerf session by definition: its verdict is written even if nothing ran
