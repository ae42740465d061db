"""What the parent tells the child process to run, as JSON on disk."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SPEC_FILE = "run_spec.json"
RESULT_FILE = "run_result.json"
CHILD_LOG = "child.log"
# one line the child writes on failure, naming what went wrong first
ERROR_FILE = "error.txt"
# how long the child expects LoadGen to run, written once settings are resolved
WATCHDOG_FILE = "watchdog.json"


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
    task: str  # the registry's "module:Class" of the family's task
    family_home: str = ""  # the family folder the task's module is looked up in
    task_options: dict = field(default_factory=dict)
    layout: str = "NCHW"  # how the backend wants samples staged
    backend_options: dict = field(default_factory=dict)
    count: int | None = None
    performance_sample_count: int = 1024
    max_batchsize: int = 32
    # --mlperf-max-batchsize was given: a model with another fixed batch is an error
    max_batchsize_given: bool = False
    threads: int = 0
    server_workers: int = 0  # Server inference threads; 0: server_workers() decides
    run_style: str = "test"
    memory_limit_mb: int | None = None  # address-space limit the child sets on itself
    # [key, value, origin] triples: run style, then user layers, in order
    settings: list = field(default_factory=list)

    def write(self, folder: Path) -> Path:
        path = Path(folder) / SPEC_FILE
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def read(cls, path: Path) -> "RunSpec":
        return cls(**json.loads(Path(path).read_text()))
