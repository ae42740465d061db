"""retinanet and 3d-unet through the whole harness (LoadGen child, accuracy log, gate).

The unbroken pipeline passes; each deliberately broken one (boxes in x/y
order, labels off by one, kidney and tumour swapped, the window weighting
dropped) fails the accuracy gate with the figure and the log in the message,
and the official line in accuracy.txt.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="the proxies run on ONNX Runtime here")
pytest.importorskip("pycocotools", reason="retinanet's mAP is computed with pycocotools")
pytest.importorskip("nibabel", reason="3d-unet's ground truth is NIfTI")

from harness.case_run import execute_case  # noqa: E402
from harness.matrix import Case  # noqa: E402
from harness.options import RunOptions  # noqa: E402
from harness.provision import provision  # noqa: E402
from harness.registry import load_registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = load_registry()
OFFICIAL = {"retinanet": r"^mAP=\d+\.\d{3}%$", "3d-unet-99.9": r"^Accuracy: mean = \d\.\d{5}, kidney = \d\.\d{4}, tumor = \d\.\d{4}$"}


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory):
    cache = tmp_path_factory.getbasetemp().parent / "mlperf-cache"
    return {name: provision(REGISTRY[name], "onnxruntime", "fp32", cache_dir=cache) for name in OFFICIAL}


def _run(provisioned, name, tmp_path, **task_options):
    case = Case(name, "onnxruntime", "cpu", "fp32", "Offline", "accuracy")
    return execute_case(case, REGISTRY[name], provisioned[name], RunOptions(task_options=task_options),
                        tmp_path / name)


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_the_unbroken_pipeline_passes_and_prints_the_official_line(provisioned, name, tmp_path):
    import re

    result = _run(provisioned, name, tmp_path)
    assert result.passed, result.failures
    assert result.accuracy.value == pytest.approx(REGISTRY[name].proxy.reference, abs=2e-3 * max(1, result.accuracy.value))
    line = (tmp_path / name / "accuracy.txt").read_text().splitlines()[0]
    assert re.match(OFFICIAL[name], line), line
    printed = subprocess.run(
        [sys.executable, "-m", "harness", "accuracy", "--benchmark", name,
         "--log", str(tmp_path / name / "mlperf_log_accuracy.json"), "--dataset", str(provisioned[name].dataset_dir)],
        cwd=ROOT, capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[0] == line


@pytest.mark.parametrize("name, options", [
    ("retinanet", {"swap_xy": True}),
    ("retinanet", {"label_offset": 1}),
    ("3d-unet-99.9", {"swap_classes": True}),
    ("3d-unet-99.9", {"gaussian": False}),
], ids=["boxes-x-y-swapped", "labels-off-by-one", "kidney-tumour-swapped", "no-window-weighting"])
def test_a_broken_pipeline_fails_the_gate(provisioned, name, options, tmp_path):
    result = _run(provisioned, name, tmp_path, **options)
    assert not result.passed
    assert result.accuracy.value < result.accuracy.threshold
    message = "\n".join(result.failures)
    assert "accuracy gate failed" in message and str(tmp_path / name / "mlperf_log_accuracy.json") in message
