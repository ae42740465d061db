"""Typed, immutable view of one benchmark entry of the registry.

The TOML files are the source of truth; these classes only give them names
and types so that no threshold is ever a literal outside the registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field

AXIS_DEVICES = ("cpu", "cuda", "rocm", "tpu")
AXIS_PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# find-peak: the highest Server QPS / lowest SingleStream, MultiStream target latency a
# VALID run sustains; TEST0x: MLPerf's compliance audits (a family's `compliance` list).
AXIS_MODES = ("accuracy", "performance", "find-peak", "TEST01", "TEST04", "TEST06")
COMPLIANCE_TESTS = ("TEST01", "TEST04", "TEST06")
# collected when no mode is named: MLPerf's two run modes
DEFAULT_MODES = ("accuracy", "performance")
FIND_PEAK_SCENARIOS = ("Server", "SingleStream", "MultiStream")
ALL_SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")


@dataclass(frozen=True)
class AccuracySpec:
    metric: str
    unit: str
    reference: float
    ratio: float
    # MLPerf's upper limits (LLM tokens per sample): value <= reference * upper_ratio
    upper_ratio: float | None = None
    # a total over the dataset (gptj GEN_LEN): a subset run scales the reference
    # by its share of the dataset's samples
    dataset_total: bool = False

    def threshold(self, reference: float | None = None) -> float:
        """MLPerf's checker compares ``value >= reference * ratio``."""
        return (self.reference if reference is None else reference) * self.ratio


@dataclass(frozen=True)
class ProxySpec:
    dataset: str
    reference: float
    # the proxy's measured reference for each further metric (accuracy_also)
    also: dict = field(default_factory=dict)
    # tokenizer folder under harness/proxies (language benchmarks)
    tokenizer: str | None = None
    # how the proxy's task differs from MLPerf's (a shorter decode limit)
    task_options: dict = field(default_factory=dict)
    # backend options for the proxy model only (a tiny model's thread count)
    backend_options: dict = field(default_factory=dict)
    # where proxy_models and the tokenizer lie, relative to the family folder
    root: str = "proxy"
    # the script that makes the proxy's files (a path or a module), for people
    build: str | None = None


@dataclass(frozen=True)
class BackendSupport:
    devices: tuple[str, ...]
    precisions: tuple[str, ...]
    # precision -> proxy model file under harness/proxies (file or folder)
    proxy_models: dict = field(default_factory=dict)
    # passed to the backend as BackendConfig.options (e.g. an architecture)
    options: dict = field(default_factory=dict)
    # why combinations outside devices x precisions are not offered
    reason: str | None = None
    # "module:Class" when this benchmark needs another implementation than the
    # backend's default one (e.g. a generation loop for LLMs)
    implementation: str | None = None


@dataclass(frozen=True)
class Requirement:
    """What a family imports beyond the core install, and the extra that installs it.

    A case of a family whose modules are missing skips, naming the extra
    (`make bench` installs only what its default selection needs).
    """
    extra: str
    modules: tuple[str, ...]


@dataclass(frozen=True)
class UnsupportedRule:
    reason: str
    backend: str | None = None
    device: str | None = None
    precision: str | None = None
    scenario: str | None = None

    def matches(self, backend: str, device: str, precision: str, scenario: str) -> bool:
        wanted = {"backend": backend, "device": device, "precision": precision, "scenario": scenario}
        return all(getattr(self, axis) in (None, value) for axis, value in wanted.items())


@dataclass(frozen=True)
class Artifact:
    kind: str
    backend: str
    precision: str
    filename: str
    url: str
    checksum: str
    # how this file differs from the proxy: backend options, task options
    options: dict = field(default_factory=dict)
    task_options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    name: str
    checker_name: str
    conf_model: str
    # The family's parts, "module:Class" (a module of the family folder, or
    # an importable one): harness.registry.parts resolves them.
    task: str
    dataset_format: str
    scorer: str
    dataset_size: int
    scenarios: tuple[str, ...]
    server_latency_ms: float
    performance_sample_count: int
    offline_min_samples_per_query: int
    max_batchsize: int
    response_dtype: str
    accuracy: AccuracySpec
    proxy: ProxySpec
    backends: dict[str, BackendSupport]
    unsupported: tuple[UnsupportedRule, ...] = ()
    artifacts: tuple[Artifact, ...] = field(default=())
    # further metrics the checker requires (ROUGE-2/L, GEN_LEN, tokens per sample)
    accuracy_also: tuple[AccuracySpec, ...] = ()
    # options of the task adapter (decoding settings, sequence lengths)
    task_options: dict = field(default_factory=dict)
    # "module:function" that fills the accuracy command's dataset request
    # (a tokenizer folder, ...): harness.accuracy.cli calls it
    accuracy_command: str | None = None
    # scenario -> user.conf keys of the `test` run style, over the defaults
    test_style: dict = field(default_factory=dict)
    # the compliance audits MLPerf requires of this benchmark (notes/mlperf-facts.md §6)
    compliance: tuple[str, ...] = ()
    # [requires]: modules the family needs beyond the core install, and their extra
    requires: Requirement | None = None
    # the backend its own end-to-end cases run on in `make test`
    # (--mlperf-backend default): the key, or the first [backends.*] table
    default_backend: str = ""
    # the family folder: set by the loader, never written in a registry file
    home: str = ""

    @property
    def home_dir(self):
        from pathlib import Path

        return Path(self.home)

    @property
    def proxy_dir(self):
        """Where this benchmark's proxy files lie."""
        return (self.home_dir / self.proxy.root).resolve()

    @property
    def accuracy_specs(self) -> tuple[AccuracySpec, ...]:
        return (self.accuracy,) + tuple(self.accuracy_also)

    def proxy_reference(self, metric: str) -> float:
        if metric == self.accuracy.metric:
            return self.proxy.reference
        try:
            return float(self.proxy.also[metric])
        except KeyError:
            raise KeyError(f"{self.name}: the registry's [proxy.also] has no reference for {metric!r}") from None

    def backend_spec(self, backend: str) -> str:
        """What harness.backends.backend_class resolves for this benchmark."""
        support = self.backends.get(backend)
        return (support.implementation if support and support.implementation else backend)

    def modes(self, scenario: str) -> tuple[str, ...]:
        """The modes a case of ``scenario`` has: MLPerf defines find-peak and each audit only where they apply."""
        found = ["accuracy", "performance"]
        if scenario in FIND_PEAK_SCENARIOS:
            found.append("find-peak")
        found += [test for test in COMPLIANCE_TESTS if test in self.compliance]
        return tuple(found)

    def mode_unsupported(self, mode: str, scenario: str) -> str | None:
        """Why this benchmark cannot run ``mode`` in ``scenario`` whatever the backend, or None."""
        beams = int(self.task_options.get("num_beams", 1) or 1)
        if mode == "TEST06" and scenario != "Offline" and beams > 1:
            return (f"TEST06 needs each response's token_count, which LoadGen logs only with token latencies on; "
                    f"outside Offline those need the first token streamed, and {self.name} decodes with beam "
                    f"search (num_beams={beams}), whose first token is known only at the end")
        return None

    def unsupported_reason(self, backend: str, device: str, precision: str, scenario: str) -> str | None:
        """Why this combination cannot run, or None when the registry offers it."""
        for rule in self.unsupported:
            if rule.matches(backend, device, precision, scenario):
                return rule.reason
        if scenario not in self.scenarios:
            return f"MLPerf defines no {scenario} scenario for {self.name}"
        support = self.backends.get(backend)
        if support is None:
            return f"{backend} is not offered for {self.name}"
        if device not in support.devices:
            return support.reason or f"{backend} is not offered on {device} for {self.name}"
        if precision not in support.precisions:
            return support.reason or f"{backend} offers no {precision} model for {self.name}"
        return None

    def artifact(self, backend: str, precision: str, kind: str = "model") -> Artifact | None:
        for artifact in self.artifacts:
            if (artifact.backend, artifact.precision, artifact.kind) == (backend, precision, kind):
                return artifact
        return None
