"""The model's contract, checked in the child right after the backend loads it.

The task declares what it feeds and reads (``task.model_contract()``: input
names and dtypes, output dtypes and per-sample shapes such as the class
count); the staged samples give the per-sample input shape in the backend's
layout; the backend reports what the loaded model declares
(``backend.signature()``). A mismatch is a ModelContractError naming the file,
what it has and what was expected, before calibration runs anything: without
it a wrong model fails inside the framework mid-run, or only at the accuracy
gate. A backend or task without a declaration is not checked.

A model whose batch dimension is a fixed number B rather than symbolic can
only run batches of B: the effective max batch size becomes B, and for B > 1
the backend is wrapped so that shorter batches are padded to B.

A model whose answers depend on the other samples of a batch (the backend's
``Signature.batch_dependence``, e.g. dynamic quantization) runs batches of one
unless the user chose the max batch size: otherwise its accuracy would change
with the scenario and, in Server, with the arrival times.
"""
from __future__ import annotations

from ..backends.base import ModelContractError
from ..backends.fixed_batch import FixedBatchBackend


def check_contract(backend, task, source, max_batchsize: int, *, model: str, explicit: bool = False):
    """``(backend to run, effective max batch size)``; raises ModelContractError.

    ``explicit``: the max batch size was given by the user
    (--mlperf-max-batchsize), so a fixed batch that differs from it is an
    error rather than a silent change.
    """
    declare = getattr(task, "model_contract", None)
    describe = getattr(backend, "signature", None)
    if declare is None or describe is None:
        return backend, max_batchsize
    contract, signature = declare(), describe()
    if contract is None or signature is None:
        return backend, max_batchsize

    staged = task.feed(task.probe_batch(source))  # what the harness will feed the model, one sample's worth
    problems: list[str] = []
    fixed: dict[str, int] = {}
    for want in contract.inputs:
        if want.name not in signature.inputs:
            problems.append(f"has no input {want.name!r} (inputs: {sorted(signature.inputs)})")
            continue
        dtype, shape = signature.inputs[want.name]
        sample = tuple(staged[want.name].shape[1:])
        has = _describe("input", want.name, dtype, shape)
        expected = f"expected {_shape([None, *sample])} {'/'.join(want.dtypes)} (the staged samples, {backend.layout})"
        if shape is not None and (len(shape) != 1 + len(sample)
                                  or any(d is not None and d != s for d, s in zip(shape[1:], sample))):
            problems.append(f"{has}; {expected}")
            continue
        if dtype not in want.dtypes:
            problems.append(f"{has}; {expected}")
            continue
        if shape is not None and shape[0] is not None:
            fixed[want.name] = shape[0]
    for want in contract.outputs:
        if want.name not in signature.outputs:
            continue  # a backend may report only the outputs the harness reads
        dtype, shape = signature.outputs[want.name]
        per_sample = None if shape is None else shape[1:]
        fits = per_sample is None or (len(shape) >= 1 and (not want.sample_shapes or any(
            len(per_sample) == len(s) and all(d is None or d == e for d, e in zip(per_sample, s))
            for s in want.sample_shapes)))
        if dtype not in want.dtypes or not fits:
            shapes = " or ".join(_shape([None, *s]) for s in want.sample_shapes) or "[N, ...]"
            meaning = f" ({want.meaning})" if want.meaning else ""
            problems.append(f"{_describe('output', want.name, dtype, shape)}; expected {shapes} "
                            f"{'/'.join(want.dtypes)}{meaning}")
    if len(set(fixed.values())) > 1:
        problems.append(f"fixes different batch sizes per input ({fixed}); expected one batch size for all inputs")
    if problems:
        raise ModelContractError(f"{model}: " + "; ".join(problems))
    if not fixed:
        # A batch-dependent model's explicit batch is the user's to choose (backend_info says why it may move the score).
        return backend, (1 if signature.batch_dependence and not explicit else max_batchsize)
    name, batch = next(iter(fixed.items()))
    if explicit and max_batchsize != batch:
        raise ModelContractError(
            f"--mlperf-max-batchsize {max_batchsize}, but {model} fixes its batch to {batch} (input {name!r} "
            f"has shape {_shape(signature.inputs[name][1])}): pass --mlperf-max-batchsize {batch}, or leave it out "
            "to use the model's batch"
        )
    return (backend if batch == 1 else FixedBatchBackend(backend, batch)), batch


def _describe(kind: str, name: str, dtype: str, shape) -> str:
    fixed = f" (batch fixed to {shape[0]})" if shape and shape[0] is not None else ""
    return f"{kind} {name!r} has shape {_shape(shape)}{fixed}, dtype {dtype}"


def _shape(shape) -> str:
    """[N, 3, 224, 224]: N a free batch, ? another symbolic dimension."""
    if shape is None:
        return "[unknown rank]"
    dims = ["N" if i == 0 and d is None else "?" if d is None else str(d) for i, d in enumerate(shape)]
    return "[" + ", ".join(dims) + "]"
