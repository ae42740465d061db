"""Installed as an entry point, the plugin is loaded by every pytest run in the
environment: a session that collects no MLPerf case must behave exactly as
without it, and the installed distribution must fit a shared environment."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What a plain project's session can observe of its surroundings: written by
# its own conftest, on the controlling process, once the session is over.
OBSERVER = '''
import json, signal, os
from pathlib import Path

def pytest_sessionfinish(session):
    config = session.config
    if hasattr(config, "workerinput"):
        return
    Path(os.environ["OBSERVED"]).write_text(json.dumps({
        "dist": getattr(config.option, "dist", None),
        "xmlpath": getattr(config.option, "xmlpath", None),
        "sigterm": repr(signal.getsignal(signal.SIGTERM)),
        "sigint": getattr(signal.getsignal(signal.SIGINT), "__qualname__", repr(signal.getsignal(signal.SIGINT))),
        "exitstatus": int(session.exitstatus),
        "testscollected": session.testscollected,
    }))
'''

UNIT_TESTS = '''
import os
from pathlib import Path

import pytest

def test_adds():
    assert 1 + 1 == 2

def test_fixtures_it_sees(request, tmp_path):
    observed = Path(os.environ["OBSERVED"])
    (observed.parent / f"{observed.stem}-fixturenames.txt").write_text(" ".join(sorted(request.fixturenames)))

@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n > 0

def test_fails_on_purpose():
    assert 0, "a plain failure"
'''


def _session(project: Path, tmp_path: Path, name: str, *args: str) -> tuple[dict, str, set[str]]:
    observed = tmp_path / f"{name}.json"
    cache = tmp_path / f"{name}-cache"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / f"{name}-home"), "MLPERF_CACHE": str(cache),
           "OBSERVED": str(observed), "PYTHONDONTWRITEBYTECODE": "1"}
    before = {p.relative_to(project).as_posix() for p in project.rglob("*")}
    # pytest-benchmark (a test extra here) makes .benchmarks/ by itself, with or without this plugin
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "-p", "no:benchmark", "--basetemp", str(tmp_path / f"{name}-basetemp"), *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    after = {p.relative_to(project).as_posix() for p in project.rglob("*")}
    assert not cache.exists(), f"{name}: the MLPerf cache was created by a session without MLPerf cases"
    assert not (tmp_path / f"{name}-home").exists(), f"{name}: something was written under HOME"
    return json.loads(observed.read_text()), _outcome_lines(proc.stdout), after - before


def _outcome_lines(stdout: str) -> str:
    """The session's results, without timings and the header (which names the plugins loaded)."""
    keep = [line for line in stdout.splitlines()
            if line.startswith(("PASSED", "FAILED", "ERROR", "SKIPPED")) or "passed" in line or "failed" in line]
    return "\n".join(sorted(line.split(" in ")[0] for line in keep))  # xdist reports in any order


def _fixturenames(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}-fixturenames.txt").read_text()


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_a_plain_unit_test_session_behaves_exactly_as_without_the_plugin(tmp_path, workers):
    if workers and not _has("xdist"):
        pytest.skip("pytest-xdist is not installed: the distributed variant needs it")
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(OBSERVER)
    (project / "test_units.py").write_text(UNIT_TESTS)
    extra = ("-n", workers) if workers else ()
    with_plugin = _session(project, tmp_path, "with", "-rA", *extra)
    without = _session(project, tmp_path, "without", "-rA", "-p", "no:mlperf", *extra)

    observed, outcome, created = with_plugin
    assert observed == without[0]  # no forced JUnit path, --dist untouched, pytest's own signal handling
    assert observed["xmlpath"] is None and observed["testscollected"] == 6
    assert outcome == without[1] and "1 failed, 5 passed" in outcome
    assert created == without[2] == set(), f"files left in the project: {sorted(created)}"  # no reports/run-* folder
    assert _fixturenames(tmp_path, "with") == _fixturenames(tmp_path, "without") == "request tmp_path tmp_path_factory"  # no autouse lock


def test_the_plugin_is_loaded_in_that_session(tmp_path):
    """The comparison above means something only if the entry point is really loaded there."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_units.py").write_text("def test_one():\n    pass\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert "--mlperf-output" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:mlperf", "--help"],
                          cwd=project, capture_output=True, text=True, timeout=120)
    assert "--mlperf-output" not in proc.stdout


def test_a_session_whose_mlperf_cases_are_all_deselected_stays_inert(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(OBSERVER)
    (project / "test_mlperf.py").write_text((ROOT / "suites" / "test_mlperf.py").read_text())
    observed, outcome, created = _session(project, tmp_path, "deselected", "-m", "not mlperf")
    assert observed["xmlpath"] is None and observed["testscollected"] == 0
    assert created == set(), f"files left in the project: {sorted(created)}"


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_distribution_installs_no_generic_top_level_package():
    """`fixtures` (a well-used PyPI package) would collide; the plugin lives in the project's namespace."""
    from setuptools import find_packages

    project = _pyproject()
    packages = find_packages(str(ROOT), include=project["tool"]["setuptools"]["packages"]["find"]["include"])
    assert packages, "no package would be installed"
    assert {name.split(".")[0] for name in packages} == {"harness"}
    assert project["project"]["entry-points"]["pytest11"] == {"mlperf": "harness.pytest_plugin.plugin"}


def test_what_the_plugin_imports_at_load_is_a_core_dependency():
    """pytest and every distribution the plugin's modules import at load time are
    core dependencies, not an extra: the plugin loads in any environment the project is installed in."""
    probe = (
        "import sys, json, importlib\n"
        "before = set(sys.modules)\n"
        "plugin = importlib.import_module('harness.pytest_plugin.plugin')\n"
        "for name in plugin.pytest_plugins: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                       cwd=ROOT, timeout=120).stdout)
    import importlib.metadata as metadata
    import re

    providers = metadata.packages_distributions()
    core = {re.split(r"[=<>!~\[ ;]", dep, maxsplit=1)[0].lower().replace("_", "-")
            for dep in _pyproject()["project"]["dependencies"]}
    assert "pytest" in core
    needed = {dist.lower().replace("_", "-") for module in loaded if module not in sys.stdlib_module_names
              for dist in providers.get(module, ())} - {"mlperf-pytest"}
    assert needed, f"the probe found no third-party import: {loaded}"
    installed_with_core = _with_requirements(core)
    assert needed <= installed_with_core, \
        f"imported at load but not core dependencies: {sorted(needed - installed_with_core)}"


def _with_requirements(names: set[str]) -> set[str]:
    """The distributions and everything they require (pytest brings pluggy, iniconfig, ...)."""
    import importlib.metadata as metadata
    import re

    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(re.split(r"[=<>!~\[ ;(]", requirement, maxsplit=1)[0].lower().replace("_", "-"))
    return seen
