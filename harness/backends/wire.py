"""The SUT servers' wire format (serving/app.py answers it, remote.py sends it).

Arrays over HTTP: one JSON header describing them, the raw bytes as the body.

No pickle and no per-sample encoding: a batch of staged samples is already
one C-contiguous block, so the body is its bytes and the receiver wraps them
with ``np.frombuffer`` without a copy. The header (``X-Arrays``) lists each
array's name, dtype and shape in body order; the receiver checks the sizes add
up to the body before it touches the data.
"""
from __future__ import annotations

import json

import numpy as np

from .base import Signature

HEADER = "X-Arrays"
CONTENT_TYPE = "application/x-mlperf-arrays"
# what a sample of any benchmark is made of; anything else is refused
DTYPES = frozenset({"float32", "float16", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"})
MAX_RANK = 8
MAX_HEADER = 16384


class WireError(ValueError):
    """A request or response whose arrays do not match their description."""


def encode(arrays: list[tuple[str, np.ndarray]]) -> tuple[str, list]:
    """``(header value, body parts)``: the parts are contiguous arrays, sent one after the other."""
    spec, parts = [], []
    for name, array in arrays:
        array = np.ascontiguousarray(array)
        if array.dtype.name not in DTYPES:
            raise WireError(f"array {name!r}: dtype {array.dtype.name} cannot be sent (expected one of {sorted(DTYPES)})")
        spec.append([name, array.dtype.name, list(array.shape)])
        parts.append(array)
    return json.dumps(spec, separators=(",", ":")), parts


def body_bytes(parts: list) -> bytes:
    """The body as one bytes object (one copy; urllib3 sends bytes)."""
    if len(parts) == 1:
        return parts[0].tobytes()
    return b"".join(p.tobytes() for p in parts)


def decode(header: str | None, body: bytes) -> list[tuple[str, np.ndarray]]:
    """The arrays ``header`` describes, as read-only views of ``body``."""
    if not header:
        raise WireError(f"missing {HEADER} header: expected a JSON list of [name, dtype, shape]")
    if len(header) > MAX_HEADER:
        raise WireError(f"{HEADER} header of {len(header)} characters: at most {MAX_HEADER}")
    try:
        spec = json.loads(header)
    except ValueError as exc:
        raise WireError(f"{HEADER} header is not JSON: {exc}") from None
    if not isinstance(spec, list):
        raise WireError(f"{HEADER} header: expected a list of [name, dtype, shape]")
    out, offset = [], 0
    for entry in spec:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                and entry[1] in DTYPES and isinstance(entry[2], list) and len(entry[2]) <= MAX_RANK
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in entry[2])):
            raise WireError(f"{HEADER} entry {entry!r}: expected [name, dtype in {sorted(DTYPES)}, shape of "
                            f"non-negative ints, at most {MAX_RANK} of them]")
        name, dtype, shape = entry
        dtype = np.dtype(dtype)
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset + size > len(body):
            raise WireError(f"array {name!r} ({dtype.name} {shape}) needs {size} bytes at offset {offset}; "
                            f"the body has {len(body)}")
        out.append((name, np.frombuffer(body, dtype=dtype, count=size // dtype.itemsize, offset=offset).reshape(shape)))
        offset += size
    if offset != len(body):
        raise WireError(f"the body has {len(body)} bytes; {HEADER} describes {offset}")
    return out


def describe_signature(signature) -> dict | None:
    """A backend's Signature as JSON (None: the backend declares none)."""
    if signature is None:
        return None
    return {"inputs": {k: list(v) if v is not None else None for k, v in signature.inputs.items()},
            "outputs": {k: list(v) if v is not None else None for k, v in signature.outputs.items()},
            "batch_dependence": signature.batch_dependence}


def signature_from(described: dict | None):
    """The inverse of describe_signature, on the client."""
    if described is None:
        return None

    def entries(table):
        return {name: (value[0], value[1]) if value is not None else None for name, value in table.items()}

    return Signature(inputs=entries(described["inputs"]), outputs=entries(described["outputs"]),
                     batch_dependence=described.get("batch_dependence"))  # absent from an older server
