"""OpenOrca as the MLPerf llama2-70b benchmark reads it: a pickled pandas DataFrame.

MLPerf's ``processorca.py`` writes one row per sample with (among others) the
columns ``id``, ``system_prompt``, ``question``, ``output`` (the GPT-4 answer,
the ROUGE reference), ``input`` (the Llama-2 chat prompt text) and ``tok_input``
(its token ids, a list of ints). The QSL feeds ``tok_input`` to the model as is
and the accuracy script scores against ``output``. Query-sample index ``i`` is
the row with index label ``i``: the reference looks rows up as
``data["output"][qsl_idx]``, which is a *label* lookup, so a frame whose index
is not 0..N-1 would score against the wrong rows and is rejected here.

Security: a pickle names the functions it calls to rebuild its objects, so a
crafted one runs any code it likes (``os.system``...). The reader admits only
the pandas and numpy globals a processorca-style DataFrame needs
(``ALLOWED_GLOBALS``) and refuses any other one when the unpickler looks it up,
before anything from the file has run.

pandas is imported inside the functions: importing the harness stays cheap.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Mapping

import numpy as np

from harness.datasets.base import DatasetFormatError

# Columns this reader needs: the prompt ids, the reference text, and the sample id.
REQUIRED_COLUMNS = ("id", "tok_input", "output")
# Columns every written row must carry, as processorca.py produces them.
ROW_FIELDS = ("id", "system_prompt", "question", "input", "output", "tok_input")
TEXT_FIELDS = ("id", "system_prompt", "question", "input", "output")
# processorca.py's Llama-2 chat templates (facts, not code, of the reference).
LLAMA_PROMPT_SYSTEM = "<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{question} [/INST]"
LLAMA_PROMPT_NO_SYSTEM = "<s>[INST] {question} [/INST]"
# processorca.py appends this id to every real tok_input: Llama-2 always emits it
# first, and having it in the prompt stops a system from "answering" it instantly
# for a fast first token. It belongs to the real Llama-2 vocabulary only.
LLAMA2_RESPONSE_INIT_TOKEN = 29871
# Decoding settings and the response dtype live in the registry (llama2-70b-99.toml).


class OpenOrcaError(DatasetFormatError):
    """The OpenOrca pickle is missing, malformed, or a row is unusable."""


class UnsafePickleError(OpenOrcaError):
    """The pickle names a global outside ``ALLOWED_GLOBALS``; nothing of it was run."""


# Every global that pandas' to_pickle (protocols 4 and 5) writes for a DataFrame
# of processorca's columns (object columns, int64 length columns, a RangeIndex
# or an integer index), found by logging the lookups of the shipped proxy and of
# such frames. Names, not modules: admitting all of ``pandas`` would admit
# ``pandas.read_csv``, ``pandas.eval``... A harmless but unexpected global is
# refused too: the list is what the format needs, not what looks safe.
ALLOWED_GLOBALS = frozenset({
    ("builtins", "slice"),  # block placements
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.multiarray", "_reconstruct"),  # ndarray.__reduce__
    ("numpy._core.numeric", "_frombuffer"),  # ndarray.__reduce_ex__ under protocol 5
    ("pandas", "DataFrame"),
    ("pandas", "Index"),
    ("pandas", "RangeIndex"),
    ("pandas", "StringDtype"),  # pandas 3 stores the column labels as strings
    ("pandas.arrays", "StringArray"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.internals.managers", "BlockManager"),
    # The same objects under the module paths numpy 1 and pandas < 3 wrote.
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
})
# numpy 2 names its core ``numpy._core``; a numpy 1 pickle says ``numpy.core``.
_MODULE_ALIASES = {"numpy.core.multiarray": "numpy._core.multiarray", "numpy.core.numeric": "numpy._core.numeric"}


@dataclass(frozen=True)
class OrcaDataset:
    path: Path
    prompts: list[np.ndarray] = field(repr=False)  # 1-D int64 token ids per sample
    targets: list[str] = field(repr=False)  # reference answers (column ``output``)
    ids: list[str] = field(repr=False)  # OpenOrca sample ids, e.g. "flan.123"

    def __len__(self) -> int:
        return len(self.prompts)


def llama_prompt(system_prompt: str, question: str) -> str:
    """The prompt text processorca.py builds: with the system block only when one is given."""
    if system_prompt:
        return LLAMA_PROMPT_SYSTEM.format(system=system_prompt, question=question)
    return LLAMA_PROMPT_NO_SYSTEM.format(question=question)


def read_open_orca(path: str | Path) -> OrcaDataset:
    """Read the processed OpenOrca pickle, checking every row the benchmark uses."""
    path = Path(path)
    frame = _read_pickle(path)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise OpenOrcaError(
            f"{path}: missing column(s) {missing}; found {list(map(str, frame.columns))} "
            f"(expected at least {list(REQUIRED_COLUMNS)} as processorca.py writes them)"
        )
    if len(frame) == 0:
        raise OpenOrcaError(f"{path}: the DataFrame holds no rows")
    import pandas as pd

    if not frame.index.equals(pd.RangeIndex(len(frame))):
        raise OpenOrcaError(
            f"{path}: the DataFrame index is not 0..{len(frame) - 1}; MLPerf looks samples up by "
            "index label, so reset the index (reset_index(drop=True)) when building the file"
        )
    ids_raw = frame["id"].tolist()
    prompts_raw = frame["tok_input"].tolist()
    outputs_raw = frame["output"].tolist()
    ids: list[str] = []
    prompts: list[np.ndarray] = []
    targets: list[str] = []
    for row, (sample_id, tokens, output) in enumerate(zip(ids_raw, prompts_raw, outputs_raw)):
        if not isinstance(sample_id, (str, int, np.integer)) or isinstance(sample_id, bool):
            raise OpenOrcaError(
                f"{path}: row {row} column 'id' is {type(sample_id).__name__} {sample_id!r}, expected a string"
            )
        where = f"{path}: row {row} (id {str(sample_id)!r})"
        prompts.append(_token_array(tokens, f"{where} column 'tok_input'"))
        if not isinstance(output, str):
            raise OpenOrcaError(
                f"{where} column 'output' is {type(output).__name__} {output!r}, expected the reference text (str)"
            )
        ids.append(str(sample_id))
        targets.append(output)
    return OrcaDataset(path=path, prompts=prompts, targets=targets, ids=ids)


def write_open_orca(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write ``rows`` as a processorca-style DataFrame pickle.

    Each row needs ``id``, ``system_prompt``, ``question``, ``input``, ``output``
    (strings) and ``tok_input`` (non-empty list of ints); ``tok_output`` is kept
    when given. Derived columns follow processorca.py: ``origin`` (the id's text
    before the first dot) and the token-length columns. Columns are plain
    ``object`` dtype so older pandas versions can read the file too.
    """
    import pandas as pd

    path = Path(path)
    rows = list(rows)
    if not rows:
        raise OpenOrcaError(f"{path}: no rows to write")
    with_output_tokens = "tok_output" in rows[0]
    columns: dict[str, list[Any]] = {
        name: [] for name in ("id", "system_prompt", "question", "output", "input", "tok_input")
    }
    if with_output_tokens:
        columns["tok_output"] = []
    for index, row in enumerate(rows):
        for name in ROW_FIELDS:
            if name not in row:
                raise OpenOrcaError(f"{path}: row {index} to write lacks field {name!r}")
        for name in TEXT_FIELDS:
            if not isinstance(row[name], str):
                raise OpenOrcaError(
                    f"{path}: row {index} field {name!r} is {type(row[name]).__name__}, expected a string"
                )
        if ("tok_output" in row) != with_output_tokens:
            raise OpenOrcaError(f"{path}: row {index}: 'tok_output' must be given for every row or for none")
        for name in ("id", "system_prompt", "question", "output", "input"):
            columns[name].append(row[name])
        tokens = _token_array(row["tok_input"], f"{path}: row {index} field 'tok_input'")
        columns["tok_input"].append([int(t) for t in tokens])
        if with_output_tokens:
            out = _token_array(row["tok_output"], f"{path}: row {index} field 'tok_output'", allow_empty=True)
            columns["tok_output"].append([int(t) for t in out])
    data: dict[str, pd.Series] = {name: pd.Series(values, dtype=object) for name, values in columns.items()}
    data["origin"] = pd.Series([i.split(".")[0] for i in columns["id"]], dtype=object)
    data["tok_input_length"] = pd.Series([len(t) for t in columns["tok_input"]], dtype=np.int64)
    if with_output_tokens:
        data["tok_output_length"] = pd.Series([len(t) for t in columns["tok_output"]], dtype=np.int64)
    frame = pd.DataFrame(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a half-written pickle is never left under the real name.
    tmp = path.with_name(path.name + ".tmp")
    frame.to_pickle(tmp, protocol=4)
    tmp.replace(path)


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that looks up only ``ALLOWED_GLOBALS``.

    ``find_class`` runs when the pickle names a global (GLOBAL/STACK_GLOBAL),
    before the REDUCE that would call it, so a refused global never runs.
    """

    def __init__(self, handle: BinaryIO, path: Path):
        super().__init__(handle)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{self.path}: refusing to unpickle global {module}.{name}: the OpenOrca reader admits only the "
                "pandas/numpy types of a processorca DataFrame (a pickle can run code through any other)"
            )
        return super().find_class(_MODULE_ALIASES.get(module, module), name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.path}: refusing a persistent id in the pickle; a DataFrame pickle has none")


def _read_pickle(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise OpenOrcaError(f"{path}: no such file (expected the processed OpenOrca pickle from processorca.py)")
    try:
        with path.open("rb") as handle:
            frame = _RestrictedUnpickler(handle, path).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # unpickling can fail with almost any exception type
        raise OpenOrcaError(f"{path}: not a readable pandas pickle: {type(exc).__name__}: {exc}") from None
    if not isinstance(frame, pd.DataFrame):
        raise OpenOrcaError(f"{path}: the pickle holds a {type(frame).__name__}, expected a pandas DataFrame")
    return frame


def _token_array(value: Any, where: str, *, allow_empty: bool = False) -> np.ndarray:
    """``value`` as a 1-D int64 array of non-negative ids, or an error naming ``where``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise OpenOrcaError(f"{where} is {type(value).__name__}, expected a list of token ids (ints)")
    if len(value) == 0:
        if allow_empty:
            return np.zeros(0, dtype=np.int64)
        raise OpenOrcaError(f"{where} is empty: a prompt needs at least one token")
    try:
        array = np.asarray(value)
    except (ValueError, OverflowError) as exc:
        raise OpenOrcaError(f"{where} is not a flat list of token ids: {exc}") from None
    if array.ndim != 1:
        raise OpenOrcaError(f"{where} has shape {array.shape}, expected a flat list of token ids")
    if array.dtype.kind not in "iu":
        bad = next((t for t in value if isinstance(t, bool) or not isinstance(t, (int, np.integer))), None)
        raise OpenOrcaError(
            f"{where} holds non-integer token {bad!r} (array dtype {array.dtype}); expected ints"
        )
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise OpenOrcaError(f"{where} holds token id {array.max()} beyond int64")
    if array.min() < 0:
        raise OpenOrcaError(f"{where} holds negative token id {int(array.min())}; ids are >= 0")
    return array.astype(np.int64, copy=False)
