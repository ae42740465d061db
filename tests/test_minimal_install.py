"""`make bench` installs the core and the onnxruntime extra only: its default
selection must run with nothing else, and every other case must say which
extra it lacks. Simulated here by making the other distributions' modules
unimportable, in this session's children and in their LoadGen children."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Every module `make bench` does not install: the other frameworks, the families' extras, the test tools
# (onnx is in: the onnxruntime extra reads int8 models' operators with it).
ABSENT = ("torch", "tensorflow", "ai_edge_litert", "tflite_runtime", "openvino", "tvm", "ray", "transformers",
          "tokenizers", "safetensors", "pandas", "rouge_score", "nltk", "pycocotools", "nibabel", "xdist",
          "pytest_benchmark", "hypothesis", "onnxscript", "onnxconverter_common", "jiwer", "rapidfuzz",
          "diffusers", "PIL")
BLOCKER = f'''
import sys

ABSENT = {ABSENT!r}


class _NotInstalled:
    """As if these distributions were never installed."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled)
'''


def test_the_default_bench_selection_runs_on_the_core_and_onnxruntime_alone(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "suites" / "test_mlperf.py", project / "test_mlperf.py")
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(blocker), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "MLPERF_CACHE": str(tmp_path / "cache")}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr  # the blocker is in force
    # The bench selection (one scenario, to stay short) and one case of every other family and framework.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "harness.pytest_plugin.plugin", "test_mlperf.py", "-q", "-rs",
         "--mlperf-device", "cpu", "--mlperf-precision", "fp32", "--mlperf-scenario", "Offline",
         "--mlperf-backend", "onnxruntime,pytorch", "--mlperf-output", str(out)],
        cwd=project, env=env, capture_output=True, text=True, timeout=900)
    document = json.loads((out / "results.json").read_text())
    outcomes = {case["id"]: (case["outcome"], case["message"]) for case in document["cases"]}
    for mode in ("accuracy", "performance"):
        assert outcomes[f"resnet50-onnxruntime-cpu-fp32-Offline-{mode}"][0] == "passed", proc.stdout[-4000:]
    assert "torch" in outcomes["resnet50-pytorch-cpu-fp32-Offline-accuracy"][1]
    # (the LLMs run on PyTorch only: their family's extra is named before the framework)
    for case_id, extra in (("bert-99-onnxruntime", "language"), ("gptj-99-pytorch", "language"),
                           ("llama2-70b-99-pytorch", "language"), ("retinanet-onnxruntime", "retinanet"),
                           ("3d-unet-99-onnxruntime", "unet3d"), ("rnnt-onnxruntime", "rnnt"),
                           ("stable-diffusion-xl-onnxruntime", "sdxl")):
        outcome, message = outcomes[f"{case_id}-cpu-fp32-Offline-accuracy"]
        assert outcome == "skipped" and f"mlperf-pytest[{extra}]" in message, (case_id, message)
    # dlrm-v2 needs nothing beyond the core (numpy, scikit-learn's AUC): it runs on ONNX Runtime alone
    for mode in ("accuracy", "performance"):
        assert outcomes[f"dlrm-v2-99-onnxruntime-cpu-fp32-Offline-{mode}"][0] == "passed", proc.stdout[-4000:]
    assert "torch" in outcomes["dlrm-v2-99-pytorch-cpu-fp32-Offline-accuracy"][1]
    assert proc.returncode == 0, proc.stdout[-4000:]
