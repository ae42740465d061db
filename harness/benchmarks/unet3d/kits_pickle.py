"""Reading MLPerf's preprocessed KiTS19 pickles without running code from them.

``preprocessed_files.pkl`` and ``case_XXXXX.pkl`` are pickles (the format MLPerf
chose), and a pickle names the functions that rebuild its objects: loading
one from a stranger with ``pickle.load`` runs whatever it names. These files
only ever hold dicts, lists, tuples, strings, numbers and numpy arrays, so
the unpickler here admits exactly the globals numpy needs to rebuild an array
(under numpy 2's and numpy 1's module names) and refuses any other before it
is called.
"""
from __future__ import annotations

import pickle
from pathlib import Path

from harness.datasets.base import DatasetFormatError

ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),  # ndarray.__reduce__ (protocols 2-4)
    ("numpy._core.numeric", "_frombuffer"),  # ndarray.__reduce_ex__ under protocol 5
    ("numpy._core.multiarray", "scalar"),  # numpy scalars (np.float64 in an aux dict)
    ("numpy.core.multiarray", "_reconstruct"),  # the same, as numpy 1 wrote them
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"),
})
_NUMPY1_ALIASES = {"numpy.core.multiarray": "numpy._core.multiarray", "numpy.core.numeric": "numpy._core.numeric"}


class UnsafePickleError(DatasetFormatError):
    """The pickle names a global outside ``ALLOWED_GLOBALS``; nothing of it was run."""


class _ArraysOnly(pickle.Unpickler):
    def __init__(self, file, path: Path):
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{self._path}: the pickle asks for {module}.{name}, which MLPerf's preprocessed KiTS19 "
                "files never hold (expected only dicts, lists, strings, numbers and numpy arrays); "
                "refused without running it")
        return super().find_class(_NUMPY1_ALIASES.get(module, module), name)


def load(path: Path, what: str):
    """The object pickled in ``path``; ``what`` names the file's role for the error messages."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _ArraysOnly(f, path).load()
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: missing (expected {what})") from None
    except UnsafePickleError:
        raise
    except Exception as exc:  # a damaged pickle raises many unrelated classes
        raise DatasetFormatError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc}); "
                                 f"expected {what}") from None
