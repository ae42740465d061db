"""Files from users are data, never code.

* The OpenOrca pickle goes through a restricted unpickler: the proxy and
  processorca-style frames load as before; a pickle naming any other global
  (``os.system``, ``builtins.eval``, ``subprocess.Popen``, even a harmless
  ``collections.OrderedDict``) is refused by name before any of it runs.
* Source checks over the repository's own .py files (by syntax tree, so text
  in strings and comments does not count): every ``torch.load`` passes
  ``weights_only=True``, no call passes ``shell=True``, and any archive
  extraction passes ``filter="data"`` (there is none today).
"""
from __future__ import annotations

import ast
import collections
import datetime
import os
import pickle
import re
import subprocess
from pathlib import Path

import pytest

from harness.benchmarks.llama2.open_orca import (
    ALLOWED_GLOBALS,
    OpenOrcaError,
    UnsafePickleError,
    _read_pickle,
    read_open_orca,
)

pd = pytest.importorskip("pandas", reason="the OpenOrca format is a pandas pickle")

ROOT = Path(__file__).resolve().parents[1]
PROXY_PICKLE = ROOT / "harness" / "proxies" / "llama2" / "open_orca.pkl"
SOURCE_DIRS = ("harness", "tools", "tests", "suites", "benchmarks")


# ------------------------------------------------------------ what still loads
def test_the_proxy_pickle_loads_to_the_same_frame():
    restricted = _read_pickle(PROXY_PICKLE)
    unrestricted = pd.read_pickle(PROXY_PICKLE)  # the project's own file: trusted
    assert restricted.equals(unrestricted)
    assert list(restricted.columns) == list(unrestricted.columns)
    dataset = read_open_orca(PROXY_PICKLE)
    assert len(dataset) == len(unrestricted)
    assert dataset.targets == list(unrestricted["output"])


def _orca_frame(index=None) -> "pd.DataFrame":
    columns = {
        "id": ["flan.1", "niv.2"], "system_prompt": ["", "Be brief."], "question": ["q1", "q2"],
        "output": ["a1", "a2"], "input": ["<s>[INST] q1 [/INST]", "<s>[INST] q2 [/INST]"],
        "tok_input": [[1, 29871], [2, 3, 29871]], "tok_output": [[4], [5, 6]], "origin": ["flan", "niv"],
    }
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})
    frame["tok_input_length"] = pd.Series([2, 3], dtype="int64")
    frame["tok_output_length"] = pd.Series([1, 2], dtype="int64")
    if index is not None:
        frame.index = index
    return frame


@pytest.mark.parametrize("protocol", [4, 5])
def test_a_processorca_frame_from_to_pickle_loads(tmp_path, protocol):
    frame = _orca_frame()
    frame.to_pickle(tmp_path / "orca.pkl", protocol=protocol)
    assert _read_pickle(tmp_path / "orca.pkl").equals(frame)
    assert read_open_orca(tmp_path / "orca.pkl").ids == ["flan.1", "niv.2"]


@pytest.mark.parametrize("protocol", [4, 5])
def test_an_integer_index_loads_and_is_then_rejected_for_its_order(tmp_path, protocol):
    _orca_frame(index=[1, 0]).to_pickle(tmp_path / "orca.pkl", protocol=protocol)
    with pytest.raises(OpenOrcaError, match="index is not 0..1") as caught:
        read_open_orca(tmp_path / "orca.pkl")
    assert not isinstance(caught.value, UnsafePickleError)


def test_the_numpy_1_and_old_pandas_names_are_the_same_objects():
    import importlib

    objects = set()
    for module, name in ALLOWED_GLOBALS:
        if module.startswith("numpy.core"):  # numpy 2 warns on importing numpy.core
            module = module.replace("numpy.core", "numpy._core")
        objects.add(id(getattr(importlib.import_module(module), name)))
    # 19 names, 14 objects: each of the five old names is an object already
    # admitted under its current name, so the aliases admit nothing more.
    assert (len(ALLOWED_GLOBALS), len(objects)) == (19, 14)


# --------------------------------------------------------------- what is refused
class _Reduce:
    """Pickles as a call to ``function(*args)``: what a crafted pickle does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _payloads(marker: Path):
    return {
        "os.system": _Reduce(os.system, f"touch {marker}"),
        "builtins.eval": _Reduce(eval, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": _Reduce(subprocess.Popen, ["touch", str(marker)]),
    }


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_a_pickle_that_runs_code_is_refused_before_it_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_payloads(marker)[payload], protocol=4))
    with pytest.raises(UnsafePickleError) as caught:
        read_open_orca(evil)
    message = str(caught.value)
    assert str(evil) in message
    module, name = payload.rsplit(".", 1)
    # os.system pickles under its defining module (posix on Linux).
    module = os.system.__module__ if payload == "os.system" else module
    assert f"global {module}.{name}" in message
    assert not marker.exists()


def test_the_payload_is_live_under_a_plain_unpickler(tmp_path):
    """The control: the same bytes do run code when unpickled without the filter,
    so the refusal above is what keeps the marker from being created."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_payloads(marker)["builtins.eval"], protocol=4))
    assert marker.exists()


def test_a_payload_hidden_in_a_cell_of_a_valid_frame_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    frame = _orca_frame()
    frame.at[1, "output"] = _payloads(marker)["os.system"]
    frame.to_pickle(tmp_path / "orca.pkl", protocol=5)
    with pytest.raises(UnsafePickleError, match=rf"global {os.system.__module__}\.system"):
        read_open_orca(tmp_path / "orca.pkl")
    assert not marker.exists()


@pytest.mark.parametrize("value, refused", [
    (collections.OrderedDict(a=1), "collections.OrderedDict"),
    (datetime.datetime(2024, 1, 1), "datetime.datetime"),
    (pd.eval, f"{pd.eval.__module__}.eval"),  # pandas, but no type the format needs
])
def test_an_unexpected_harmless_global_is_refused_by_name(tmp_path, value, refused):
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps(value, protocol=4))
    with pytest.raises(UnsafePickleError, match=rf"odd\.pkl: refusing to unpickle global {re.escape(refused)}:"):
        read_open_orca(path)


def test_a_pickle_without_globals_still_gets_the_format_error(tmp_path):
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(OpenOrcaError, match=r"list\.pkl: the pickle holds a list"):
        read_open_orca(tmp_path / "list.pkl")


# ------------------------------------------------------------- source checks
def _python_files() -> list[Path]:
    files = [ROOT / "conftest.py"] if (ROOT / "conftest.py").is_file() else []
    for folder in SOURCE_DIRS:
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def _calls():
    """(file, line, call node) for every call in the repository's .py files."""
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield path.relative_to(ROOT), node.lineno, node


def _keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_constant(node, value) -> bool:
    # The type too: weights_only=1 is not weights_only=True.
    return isinstance(node, ast.Constant) and type(node.value) is type(value) and node.value == value


def _dotted(node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def test_the_source_checks_see_the_repository():
    calls = list(_calls())
    assert len(_python_files()) > 50 and len(calls) > 1000
    # The known torch.load calls are found, so the check below is not vacuous.
    assert sum(_dotted(call.func) == "torch.load" for _, _, call in calls) >= 3


def test_every_torch_load_passes_weights_only_true():
    offenders = [f"{path}:{line}" for path, line, call in _calls()
                 if _dotted(call.func) == "torch.load" and not _is_constant(_keyword(call, "weights_only"), True)]
    assert not offenders, f"torch.load without weights_only=True (a checkpoint can run code): {offenders}"


def test_no_call_passes_shell_true():
    offenders = [f"{path}:{line}" for path, line, call in _calls()
                 if _keyword(call, "shell") is not None and not _is_constant(_keyword(call, "shell"), False)]
    assert not offenders, f"shell= other than False (pass an argument list instead): {offenders}"


def test_every_archive_extraction_uses_the_data_filter():
    # Today nothing is extracted; a new tarfile extraction must pass filter="data",
    # and a zip one (no filter exists) must check its members and be listed here.
    checked_zip_extractions: set[str] = set()
    offenders = [f"{path}:{line}" for path, line, call in _calls()
                 if isinstance(call.func, ast.Attribute) and call.func.attr in ("extractall", "extract")
                 and not _is_constant(_keyword(call, "filter"), "data")
                 and f"{path}:{line}" not in checked_zip_extractions]
    assert not offenders, f"archive extraction without filter='data' (path traversal): {offenders}"
