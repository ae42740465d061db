"""Which FP32 reference gates a case, and why.

An accuracy gate compares against ``reference x ratio``, and the reference must
belong to the pairing being measured: the proxy's own measured accuracy holds
for the proxy model on the proxy dataset only, MLPerf's published FP32
accuracy for a real model on the real dataset only. Each side is recognised
by content (harness.identity), so a byte-identical copy of the proxy dataset
is still the proxy dataset. A mixed pairing (the proxy model on a user's
dataset, a user's model on the proxy dataset) has no reference at all: the
case fails saying so unless ``--mlperf-reference-accuracy`` gives one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


class ReferenceError(ValueError):
    """No reference applies, or the one given cannot be read."""


OPTION = "--mlperf-reference-accuracy"


def parse_reference_option(text: str | None) -> dict:
    """``"76.1"`` -> ``{None: 76.1}`` (the primary metric); ``"rouge1=44,rouge2=22"`` -> by metric."""
    if text is None:
        return {}
    given: dict = {}
    for part in text.split(","):
        part = part.strip()
        metric, sep, value = part.rpartition("=")
        metric = metric.strip() if sep else None
        if sep and not metric:
            raise ReferenceError(f"{OPTION} {text!r}: {part!r} names no metric; expected METRIC=VALUE")
        try:
            number = float(value)
        except ValueError:
            raise ReferenceError(f"{OPTION} {text!r}: {value.strip()!r} is not a number; "
                                 "expected VALUE or METRIC=VALUE,...") from None
        if not math.isfinite(number) or number <= 0:
            raise ReferenceError(f"{OPTION} {text!r}: {number!r} must be a positive finite number")
        if metric in given:
            raise ReferenceError(f"{OPTION} {text!r}: {metric or 'the primary metric'} is given twice")
        given[metric] = number
    return given


@dataclass(frozen=True)
class ReferenceChoice:
    references: dict  # every gated metric -> the reference the gate uses
    source: str  # "proxy" | "mlperf" | "user"
    reason: str

    @property
    def description(self) -> str:
        return {"proxy": "proxy's measured FP32 reference (registry)",
                "mlperf": "MLPerf FP32 reference (registry)",
                "user": f"given by {OPTION}"}[self.source]


def choose_reference(bench, *, model_is_proxy: bool, dataset_is_proxy: bool, given: dict,
                     model: str, dataset: str) -> ReferenceChoice:
    """The references for ``bench``'s gated metrics, from what the model and dataset are."""
    metrics = [spec.metric for spec in bench.accuracy_specs]
    if given:
        return ReferenceChoice(_given(bench, metrics, given), "user", f"{OPTION} was given")
    if model_is_proxy and dataset_is_proxy:
        return ReferenceChoice({m: bench.proxy_reference(m) for m in metrics}, "proxy",
                               "the proxy model on the proxy dataset (both recognised by content)")
    if not model_is_proxy and not dataset_is_proxy:
        return ReferenceChoice({spec.metric: spec.reference for spec in bench.accuracy_specs}, "mlperf",
                               "a model other than the proxy on a dataset other than the proxy's")
    pairing = (f"the proxy model on the dataset {dataset}" if model_is_proxy
               else f"the model {model} on the proxy dataset")
    raise ReferenceError(
        f"{bench.name}: no FP32 reference exists for {pairing}: the proxy's measured reference holds only "
        f"for the proxy model on the proxy dataset, MLPerf's only for a real model on a real dataset; "
        f"pass {OPTION} {_example(metrics)} with the FP32 accuracy of this pairing"
    )


def _given(bench, metrics: list[str], given: dict) -> dict:
    primary = metrics[0]
    chosen = dict(given)
    if None in chosen:
        if primary in chosen:
            raise ReferenceError(f"{OPTION}: {primary} is given twice (as VALUE and as {primary}=VALUE)")
        chosen[primary] = chosen.pop(None)
    unknown = sorted(set(chosen) - set(metrics))
    if unknown:
        raise ReferenceError(f"{OPTION}: {bench.name} gates no metric {', '.join(unknown)}; "
                             f"its metrics: {', '.join(metrics)}")
    missing = [m for m in metrics if m not in chosen]
    if missing:
        raise ReferenceError(f"{OPTION}: {bench.name} gates {', '.join(metrics)}; also give "
                             f"{', '.join(missing)} (e.g. {_example(metrics)})")
    return {m: chosen[m] for m in metrics}


def _example(metrics: list[str]) -> str:
    return "VALUE" if len(metrics) == 1 else ",".join(f"{m}=VALUE" for m in metrics)
