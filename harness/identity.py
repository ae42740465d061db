"""Recognising a file or folder by its content, cheaply.

Used to tell whether a user's model or dataset is the proxy's (a copy counts
as the proxy): sizes are compared first, so a multi-gigabyte real model is
never hashed just to learn that it is not a few-megabyte proxy.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def content_files(path: Path) -> list[Path]:
    """A file itself, or every file under a folder, in a stable order."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.relative_to(path).as_posix())


def _names(files: list[Path], root: Path) -> list[str]:
    """Names relative to a folder root; a lone file's own name does not matter (a renamed copy is a copy)."""
    root = Path(root)
    if not root.is_dir():
        return ["" for _ in files]
    return [f.relative_to(root).as_posix() for f in files]


def shape(files: list[Path], root: Path) -> tuple:
    """(name, size) of every file: equal content implies an equal shape."""
    return tuple(zip(_names(files, root), (f.stat().st_size for f in files)))


def digest(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for name, file in zip(_names(files, root), files):
        h.update(f"{name}\0{file.stat().st_size}\0".encode())
        with open(file, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def same_content(a_files: list[Path], a_root: Path, b_files: list[Path], b_root: Path) -> bool:
    """Whether two sets of files hold the same names and bytes (sizes checked before any hashing)."""
    if shape(a_files, a_root) != shape(b_files, b_root):
        return False
    return digest(a_files, a_root) == digest(b_files, b_root)
