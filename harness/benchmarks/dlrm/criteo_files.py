"""The three day-23 files, opened as memory maps after their headers are checked.

What MLPerf's reader (``MultihotCriteoPipe``) needs, checked from the
``.npy`` headers alone, so a wrong folder fails in milliseconds, before any
row is read or staged:

- ``day_23_dense.npy``: float32 ``[rows, 13]``;
- ``day_23_labels.npy``: an integer ``[rows, 1]`` (torchrec writes int32;
  the reader slices ``[:n, :]``, so the column axis must be there);
- ``day_23_sparse_multi_hot.npz``: members ``0.npy`` .. ``25.npy``, each
  stored uncompressed (the reader memory-maps them and asserts it), int32
  ``[rows, multi-hot size]``;
- the same row count in all of them.

Every error is a ``DatasetFormatError`` naming the file (and the member) and
what was expected. Label values (0 or 1) are checked where they are read,
for the evaluated rows only (``DayFiles.labels_of``).
"""
from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.datasets.base import DatasetFormatError

from .layout import DENSE_FEATURES, DENSE_FILE, LABELS_FILE, SPARSE_FILE, SPARSE_MEMBERS, evaluation_rows

# A zip local file header: signature, then fixed fields; the name and extra
# lengths sit at bytes 26-29 (APPNOTE 4.3.7).
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int  # of the first array byte in its file


def _read_npy_header(fh, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fh)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(fh)
        raise ValueError(f"npy format version {version} (expected 1.0 or 2.0)")
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetFormatError(f"{where}: not a NumPy .npy array ({exc})") from None


def npy_header(path: Path) -> NpyHeader:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            shape, fortran, dtype = _read_npy_header(fh, str(path))
            return NpyHeader(tuple(shape), np.dtype(dtype), fortran, fh.tell())
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: no such file (MLPerf's multihot-criteo folder holds "
                                 f"{DENSE_FILE}, {SPARSE_FILE} and {LABELS_FILE})") from None
    except OSError as exc:
        raise DatasetFormatError(f"{path}: cannot read it ({exc})") from None


def npz_members(path: Path) -> dict[str, NpyHeader]:
    """Each member's header, with its offset in the npz itself (members must be stored, not deflated)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: no such file (the multi-hot sparse features: one int32 member per "
                                 f"categorical feature, {SPARSE_MEMBERS[0]} .. {SPARSE_MEMBERS[-1]})")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetFormatError(f"{path}: not an .npz (zip) archive ({exc})") from None
    members = {}
    with archive, open(path, "rb") as raw:
        infos = {info.filename: info for info in archive.infolist()}
        missing = [name for name in SPARSE_MEMBERS if name not in infos]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise DatasetFormatError(f"{path}: lacks member(s) {shown}; expected {SPARSE_MEMBERS[0]} .. "
                                     f"{SPARSE_MEMBERS[-1]}, one per categorical feature (np.savez of a dict "
                                     "keyed '0' .. '25')")
        for name in SPARSE_MEMBERS:
            info, where = infos[name], f"{path} member {name}"
            if info.compress_type != zipfile.ZIP_STORED:
                raise DatasetFormatError(f"{where}: is compressed; MLPerf's reader memory-maps the members, which "
                                         "needs them stored (np.savez, not np.savez_compressed)")
            raw.seek(info.header_offset)
            signature, name_length, extra_length = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
            if signature != _LOCAL_SIGNATURE:
                raise DatasetFormatError(f"{where}: its zip entry header is damaged")
            start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
            raw.seek(start)
            shape, fortran, dtype = _read_npy_header(raw, where)
            members[name] = NpyHeader(tuple(shape), np.dtype(dtype), fortran, raw.tell())
    return members


def _memmap(path: Path, header: NpyHeader) -> np.ndarray:
    return np.memmap(path, dtype=header.dtype, mode="r", shape=header.shape, offset=header.offset,
                     order="F" if header.fortran_order else "C")


@dataclass
class DayFiles:
    """The checked files of one folder: memory maps, nothing read yet."""
    directory: Path
    rows: int  # of day 23
    dense: np.ndarray  # float32 [rows, 13]
    sparse: tuple[np.ndarray, ...]  # 26 x int32 [rows, multi-hot size]
    labels: np.ndarray  # integer [rows, 1]

    @property
    def evaluated(self) -> int:
        return evaluation_rows(self.rows)

    @property
    def multi_hot(self) -> tuple[int, ...]:
        return tuple(int(a.shape[1]) for a in self.sparse)

    @property
    def paths(self) -> list[Path]:
        return [self.directory / name for name in (DENSE_FILE, SPARSE_FILE, LABELS_FILE)]

    def labels_of(self, rows: int) -> np.ndarray:
        """The first ``rows`` labels as int8, checked to be 0 or 1."""
        values = np.asarray(self.labels[:rows, 0])
        bad = np.flatnonzero((values != 0) & (values != 1))
        if len(bad):
            raise DatasetFormatError(f"{self.directory / LABELS_FILE}: row {int(bad[0])} holds label "
                                     f"{values[bad[0]].item()!r}; expected 0 (no click) or 1 (click)")
        return values.astype(np.int8)

    def packed_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as one int32 array ``[n, 13 + sum(multi-hot)]``: the dense bits, then the ids."""
        n = stop - start
        out = np.empty((n, DENSE_FEATURES + sum(self.multi_hot)), np.int32)
        out[:, :DENSE_FEATURES] = np.asarray(self.dense[start:stop]).view(np.int32)
        column = DENSE_FEATURES
        for member in self.sparse:
            width = member.shape[1]
            out[:, column: column + width] = member[start:stop]
            column += width
        return out


def open_day(directory: Path) -> DayFiles:
    """The three files of ``directory``, their headers checked against each other (module doc)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetFormatError(f"{directory}: no such folder (expected MLPerf's multihot-criteo folder with "
                                 f"{DENSE_FILE}, {SPARSE_FILE} and {LABELS_FILE})")
    dense_path, sparse_path, labels_path = (directory / n for n in (DENSE_FILE, SPARSE_FILE, LABELS_FILE))
    dense = npy_header(dense_path)
    if dense.dtype != np.float32 or len(dense.shape) != 2 or dense.shape[1] != DENSE_FEATURES:
        raise DatasetFormatError(f"{dense_path}: {dense.dtype} {list(dense.shape)}; expected float32 "
                                 f"[rows, {DENSE_FEATURES}] (log(x + 3) of the integer features)")
    rows = dense.shape[0]
    if rows < 1:
        raise DatasetFormatError(f"{dense_path}: holds no rows")
    labels = npy_header(labels_path)
    if labels.dtype.kind not in "iub" or len(labels.shape) != 2 or labels.shape[1] != 1:
        raise DatasetFormatError(f"{labels_path}: {labels.dtype} {list(labels.shape)}; expected int32 "
                                 "[rows, 1] (one 0/1 click label per row)")
    if labels.shape[0] != rows:
        raise DatasetFormatError(f"{labels_path}: {labels.shape[0]} rows, but {dense_path.name} has {rows}; "
                                 "expected one label per row of the dense features")
    members = npz_members(sparse_path)
    for name, header in members.items():
        where = f"{sparse_path} member {name}"
        if header.dtype != np.int32 or len(header.shape) != 2 or header.shape[1] < 1:
            raise DatasetFormatError(f"{where}: {header.dtype} {list(header.shape)}; expected int32 "
                                     "[rows, multi-hot size] (MLPerf's reader asserts int32)")
        if header.shape[0] != rows:
            raise DatasetFormatError(f"{where}: {header.shape[0]} rows, but {dense_path.name} has {rows}; "
                                     "expected one row of ids per row of the dense features")
    return DayFiles(directory, rows, _memmap(dense_path, dense),
                    tuple(_memmap(sparse_path, members[name]) for name in SPARSE_MEMBERS),
                    _memmap(labels_path, labels))
