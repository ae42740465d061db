"""What a task declares about its inputs and responses, and the shared default behaviour.

The declaration, never a benchmark or task name, chooses how samples are
staged (harness.staging), how the backend is measured before the run
(harness/runner/calibrate.py) and which family of systems under test answers
LoadGen (harness/runner/sut.py, generation_sut.py):

input kinds
- ``stacked``: fixed-shape arrays, one ``[N, ...]`` array; a batch is a view or a gather;
- ``tokens``: token ids padded into ``[N, longest]`` rows (the task strips the padding);
- ``volumes``: each sample its own shape (3-D volumes), run one at a time.
response kinds
- ``fixed``: one fixed-size array per sample, completed in bulk from one result array;
- ``ragged``: each sample its own array (a list of detections), completed one pointer each;
- ``tokens``: generated token ids, the first streamed where the task asks, with counts.
"""
from __future__ import annotations

import numpy as np

INPUT_KINDS = ("stacked", "tokens", "volumes")
RESPONSE_KINDS = ("fixed", "ragged", "tokens")


class TaskKindError(ValueError):
    """A task declares a kind the harness does not know."""


def check_kinds(task) -> None:
    where = f"{type(task).__module__}.{type(task).__qualname__}"
    if getattr(task, "input_kind", None) not in INPUT_KINDS:
        raise TaskKindError(f"{where}.input_kind is {getattr(task, 'input_kind', None)!r}; "
                            f"expected one of {', '.join(INPUT_KINDS)}")
    if getattr(task, "response_kind", None) not in RESPONSE_KINDS:
        raise TaskKindError(f"{where}.response_kind is {getattr(task, 'response_kind', None)!r}; "
                            f"expected one of {', '.join(RESPONSE_KINDS)}")


class Task:
    """The surface a system under test uses; a family's task subclasses it.

    ``inputs`` / ``outputs``: the tensor names fed and read, in order;
    ``contract_outputs``: every output of the real model, in its order
    (backends without output names return outputs by position).
    """
    input_kind = "stacked"
    response_kind = "fixed"
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    contract_outputs: tuple[str, ...] = ()

    def model_contract(self):
        """A harness.tasks.contract.ModelContract, or None: nothing to check."""
        return None

    def probe_batch(self, source):
        """What the model is fed for one sample, to check its contract: the first staged sample.

        A task that feeds the model something else than whole samples (windows
        of a volume) returns one of those instead.
        """
        return source[:1]

    def feed(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {self.inputs[0]: batch}

    def responses(self, outputs: list[np.ndarray], indices) -> np.ndarray | list[np.ndarray]:
        """``fixed``: one contiguous array, a row per sample; ``ragged``: one array per sample.

        ``indices``: the batch's query-sample indices, for responses that carry them.
        """
        raise NotImplementedError

    def run(self, backend, batch, indices):
        """Answer one batch. A task that runs its model several times per sample
        (sliding windows over a volume) overrides this."""
        return self.responses(backend.predict(self.feed(batch)), indices)
