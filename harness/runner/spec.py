"""What the parent tells the child process to run, as JSON on disk."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SPEC_FILE = "run_spec.json"
RESULT_FILE = "run_result.json"
CHILD_LOG = "child.log"


@dataclass
class RunSpec:
    case_id: str
    conf_model: str  # the model name mlperf.conf and user.conf use
    scenario: str
    mode: str  # "accuracy" | "performance"
    backend: str
    device: str
    precision: str
    model_path: str
    samples_path: str  # .npy of preprocessed samples, in dataset order
    output_dir: str
    task: str
    task_options: dict = field(default_factory=dict)
    layout: str = "NCHW"  # how the backend wants samples staged
    backend_options: dict = field(default_factory=dict)
    count: int | None = None
    performance_sample_count: int = 1024
    max_batchsize: int = 32
    threads: int = 0
    run_style: str = "test"
    # [key, value, origin] triples: run style, then user layers, in order
    settings: list = field(default_factory=list)

    def write(self, folder: Path) -> Path:
        path = Path(folder) / SPEC_FILE
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def read(cls, path: Path) -> "RunSpec":
        return cls(**json.loads(Path(path).read_text()))
