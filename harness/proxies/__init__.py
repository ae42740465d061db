"""Embedded proxy models and datasets: the default `make bench` path.

Each proxy keeps the real MLPerf model's I/O contract but is small enough to
run in seconds on two CPU cores.  Model files are committed together with the
script that made them (``tools/build_*_proxy.py``) and a JSON file holding the
measured reference accuracy and the model file's sha256.
"""

from __future__ import annotations

import json
from pathlib import Path

PROXY_DIR = Path(__file__).resolve().parent
RESNET50_PROXY_ONNX = PROXY_DIR / "resnet50_proxy.onnx"
RESNET50_PROXY_JSON = PROXY_DIR / "resnet50_proxy.json"


def resnet50_proxy_metadata() -> dict:
    """The metadata written by tools/build_resnet50_proxy.py (reference top-1, sha256, ...)."""
    return json.loads(RESNET50_PROXY_JSON.read_text())
