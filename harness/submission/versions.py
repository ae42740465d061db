"""What changes between MLPerf Inference rounds: benchmarks, scenarios, seeds, compliance, layout.

Source: ``MODEL_CONFIG`` in ``tools/submission/submission_checker/constants.py`` of
mlcommons/inference (the package checker; the single-file ``submission_checker_old.py``
disagrees on a few v6.0 rows, and the package decides), plus ``*_PATH`` for the layout
and ``REQUIRED_ACC_BENCHMARK`` for the pictures SDXL ships. Scenario and compliance
tables list only the benchmarks ``benchmarks.BENCHMARKS`` has rules for; ``models`` is
each round's complete list, so that choosing "the newest round that still has a
benchmark" is right for every benchmark this tool knows a round of.

v3.1 is here for rnnt alone (retired after it; see ``V3_1``), from the single-file
``tools/submission/submission_checker.py`` of that round: its tables hold rnnt's rows
only, so a v3.1 tree with another benchmark is reported as one this tool has no v3.1
rules for. MLPerf ran no rnnt after v3.1, but the v4.x checker's ``MODEL_CONFIG["v4.0"]``
still lists it (models, scenarios, targets): a tool that knew v4.0 would pick v4.0.

v6.1 is provisional: the checker copy consulted ends at v6.0. Its seeds are the ones
LoadGen 6.0.17 has built in and that published v6.1 results carry (facts notes §9;
``qsl_rng_seed 2085463073848966840`` in mlperf_log_summary.txt of the public v6.1
results), and the v6.1 results use v6.0's layout; its benchmark and scenario tables are
carried over from v6.0 until checked against the v6.1 checker. ``provisional`` says so
wherever a report names the round.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.benchmarks.sdxl.captions import CHECKER_IMAGE_IDS

CATEGORIES = ("datacenter", "edge", "datacenter,edge")

SS, MS, OFF, SRV, INT = "SingleStream", "MultiStream", "Offline", "Server", "Interactive"


@dataclass(frozen=True)
class Version:
    name: str
    models: tuple[str, ...]
    required: dict  # category -> {benchmark: scenarios}
    optional: dict  # category -> {benchmark: scenarios}
    seeds: dict  # qsl_rng_seed, sample_index_rng_seed, schedule_rng_seed
    compliance: dict  # TEST01 / TEST04 / TEST06 -> benchmarks needing it
    layout: str  # "v3"/"v5": compliance/ and measurements/ trees, code/; "v6": all under results/, src/
    # the checker's model_mapping: harness or older names -> official names
    model_mapping: dict = field(default_factory=lambda: dict(_MODEL_MAPPING))
    provisional: bool = False
    # REQUIRED_ACC_BENCHMARK: benchmark -> the qsl indices whose pictures accuracy/images/ holds
    accuracy_images: dict = field(default_factory=dict)
    test05_seeds: dict = field(default_factory=dict)  # what a TEST05 run logs (v3.1's test05_seeds)
    # Rounds before v4.0 ask every Offline run for OFFLINE_MIN_SPQ = 24576 samples per
    # query, whatever the benchmark's dataset size; None: the benchmark's own minimum.
    offline_min_samples_per_query: int | None = None
    result_fields: dict = field(default_factory=dict)  # RESULT_FIELD_NEW where it differs
    network_card_field: str = "host_network_card_count"  # the system description's spelling

    def covers(self, benchmark: str) -> bool:
        """Whether this tool has the round's scenario rows for the benchmark."""
        return any(benchmark in table for table in (*self.required.values(), *self.optional.values()))

    def offline_minimum(self, benchmark_minimum: int) -> int:
        return self.offline_min_samples_per_query or benchmark_minimum

    def official_name(self, model: str) -> str | None:
        """The checker's name for a model (Config.get_mlperf_model without the guesses), or None."""
        if model in self.models:
            return model
        mapped = self.model_mapping.get(model)
        return mapped if mapped in self.models else None

    def required_scenarios(self, benchmark: str, category: str) -> tuple[str, ...] | None:
        """None: the round has no such benchmark for this category (the checker then rejects it)."""
        scenarios = self.required[category].get(benchmark)
        return None if scenarios is None else tuple(scenarios)

    def optional_scenarios(self, benchmark: str, category: str) -> tuple[str, ...]:
        return tuple(self.optional[category].get(benchmark, ()))

    def compliance_tests(self, benchmark: str) -> tuple[str, ...]:
        return tuple(test for test, benchmarks in sorted(self.compliance.items()) if benchmark in benchmarks)


_MODEL_MAPPING = {"ssd-resnet34": "retinanet", "mobilenet": "resnet", "resnet50": "resnet"}

_V50_MODELS = (
    "resnet", "retinanet", "bert-99", "bert-99.9", "dlrm-v2-99", "dlrm-v2-99.9", "3d-unet-99", "3d-unet-99.9",
    "gptj-99", "gptj-99.9", "llama2-70b-99", "llama2-70b-99.9", "llama2-70b-interactive-99",
    "llama2-70b-interactive-99.9", "stable-diffusion-xl", "mixtral-8x7b", "llama3.1-405b", "rgat", "pointpainting",
)
_V51_MODELS = (
    "resnet", "retinanet", "bert-99", "bert-99.9", "dlrm-v2-99", "dlrm-v2-99.9", "3d-unet-99", "3d-unet-99.9",
    "llama3.1-8b", "llama3.1-8b-edge", "llama2-70b-99", "llama2-70b-99.9", "stable-diffusion-xl", "mixtral-8x7b",
    "llama3.1-405b", "rgat", "pointpainting", "deepseek-r1", "whisper",
)
_V60_MODELS = (
    "resnet", "retinanet", "bert-99", "bert-99.9", "3d-unet-99", "3d-unet-99.9", "llama3.1-8b", "llama3.1-8b-edge",
    "llama2-70b-99", "llama2-70b-99.9", "stable-diffusion-xl", "mixtral-8x7b", "llama3.1-405b", "rgat",
    "pointpainting", "deepseek-r1", "whisper", "gpt-oss-120b", "wan-2.2-t2v-a14b", "qwen3-vl-235b-a22b", "dlrm-v3",
    "yolo-95", "yolo-99",
)


def _pairs(names: tuple[str, ...], scenarios: list[str]) -> dict:
    return {name: list(scenarios) for name in names}


_BERT = ("bert-99", "bert-99.9")
_DLRM = ("dlrm-v2-99", "dlrm-v2-99.9")
_UNET = ("3d-unet-99", "3d-unet-99.9")
_GPTJ = ("gptj-99", "gptj-99.9")
_LLAMA2 = ("llama2-70b-99", "llama2-70b-99.9")
SDXL = "stable-diffusion-xl"
# SDXL's scenarios are the same in every round that has it for a category (v6.0 drops
# it from datacenter): datacenter Server+Offline, edge SingleStream+Offline.
_SDXL_DC, _SDXL_EDGE, _SDXL_BOTH = {SDXL: [SRV, OFF]}, {SDXL: [SS, OFF]}, {SDXL: [SS, OFF, SRV]}
# REQUIRED_ACC_BENCHMARK["stable-diffusion-xl"][round]["images"], in the checker's order:
# the family keeps the facts, as its scorer saves those pictures
_SDXL_IMAGES = {round_: tuple(map(str, ids)) for round_, ids in CHECKER_IMAGE_IDS.items()}

# v3.1 (tools/submission/submission_checker.py of that round).
_V31_MODELS = (
    "resnet", "retinanet", "rnnt", "bert-99", "bert-99.9", "dlrm-v2-99", "dlrm-v2-99.9", "3d-unet-99",
    "3d-unet-99.9", "gptj-99", "gptj-99.9", "gpt3-99", "gpt3-99.9",
)

V3_1 = Version(
    "v3.1", _V31_MODELS,
    required={"datacenter": {"rnnt": [SRV, OFF]}, "edge": {"rnnt": [SS, OFF]},
              "datacenter,edge": {"rnnt": [SS, OFF, SRV]}},
    optional={"datacenter": {}, "edge": {}, "datacenter,edge": {}},
    seeds={"qsl_rng_seed": 148687905518835231, "sample_index_rng_seed": 520418551913322573,
           "schedule_rng_seed": 811580660758947900},
    # check_compliance_dir starts from TEST01/TEST04/TEST05 and drops TEST04 for rnnt
    compliance={"TEST01": ("rnnt",), "TEST05": ("rnnt",)},
    layout="v3",
    test05_seeds={"qsl_rng_seed": 793197339507417767, "sample_index_rng_seed": 255610748586851044,
                  "schedule_rng_seed": 352213341366340113},
    offline_min_samples_per_query=24576,  # OFFLINE_MIN_SPQ, for every benchmark
    result_fields={"Server": "result_scheduled_samples_per_sec"},  # RESULT_FIELD_NEW["v3.1"]
    network_card_field="host_networking_card_count",  # SYSTEM_DESC_REQUIRED_FIELDS_SINCE_V3_1
)

V5_0 = Version(
    "v5.0", _V50_MODELS,
    required={
        "datacenter": {"resnet": [SRV, OFF], "retinanet": [SRV, OFF], **_pairs(_DLRM, [SRV, OFF]),
                       **_pairs(_UNET, [OFF]), **_pairs(_GPTJ, [SRV, OFF]), **_pairs(_LLAMA2, [SRV, OFF]),
                       **_SDXL_DC},
        "edge": {"resnet": [SS, MS, OFF], "retinanet": [SS, MS, OFF], **_pairs(_BERT, [SS, OFF]),
                 **_pairs(_UNET, [SS, OFF]), **_pairs(_GPTJ, [SS, OFF]), **_SDXL_EDGE},
        "datacenter,edge": {"resnet": [SS, OFF, MS, SRV], "retinanet": [SS, OFF, MS, SRV], **_pairs(_BERT, [SS, OFF]),
                            **_pairs(_DLRM, [OFF, SRV]), **_pairs(_UNET, [SS, OFF]), **_pairs(_GPTJ, [SS, OFF, SRV]),
                            **_pairs(_LLAMA2, [SRV, OFF]), **_SDXL_BOTH},
    },
    optional={"datacenter": {}, "edge": {}, "datacenter,edge": {}},
    seeds={"qsl_rng_seed": 6023615788873153749, "sample_index_rng_seed": 15036839855038426416,
           "schedule_rng_seed": 9933818062894767841},
    compliance={"TEST01": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, SDXL), "TEST04": ("resnet", SDXL),
                "TEST06": (*_LLAMA2, *_GPTJ)},
    layout="v5",
    accuracy_images={SDXL: _SDXL_IMAGES["v5.0"]},
)

V5_1 = Version(
    "v5.1", _V51_MODELS,
    required={
        "datacenter": {"retinanet": [SRV, OFF], **_pairs(_DLRM, [SRV, OFF]), **_pairs(_UNET, [OFF]),
                       **_pairs(_LLAMA2, [OFF]), **_SDXL_DC},
        "edge": {"resnet": [SS, MS, OFF], "retinanet": [SS, MS, OFF], **_pairs(_BERT, [SS, OFF]),
                 **_pairs(_UNET, [SS, OFF]), **_SDXL_EDGE},
        "datacenter,edge": {"resnet": [SS, MS, OFF, SRV], "retinanet": [SS, OFF, MS, SRV], **_pairs(_BERT, [SS, OFF]),
                            **_pairs(_DLRM, [OFF, SRV]), **_pairs(_UNET, [SS, OFF]), **_pairs(_LLAMA2, [OFF]),
                            **_SDXL_BOTH},
    },
    optional={"datacenter": _pairs(_LLAMA2, [INT, SRV]), "edge": {},
              "datacenter,edge": _pairs(_LLAMA2, [INT, SRV])},
    seeds={"qsl_rng_seed": 1780908523862526354, "sample_index_rng_seed": 14771362308971278857,
           "schedule_rng_seed": 18209322760996052031},
    compliance={"TEST01": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, SDXL), "TEST04": ("resnet", SDXL),
                "TEST06": _LLAMA2},
    layout="v5",
    accuracy_images={SDXL: _SDXL_IMAGES["v5.1"]},
)

_V60_TABLES = dict(
    required={
        # v6.0 has no SDXL row for datacenter alone: a datacenter system cannot submit it
        "datacenter": {**_pairs(_UNET, [OFF]), **_pairs(_LLAMA2, [OFF])},
        "edge": {"resnet": [SS, MS, OFF], **_pairs(_BERT, [SS, OFF]), **_pairs(_UNET, [SS, OFF]), **_SDXL_EDGE},
        "datacenter,edge": {"resnet": [SS, MS, OFF, SRV], "retinanet": [SS, OFF, MS, SRV], **_pairs(_BERT, [SS, OFF]),
                            **_pairs(_UNET, [SS, OFF]), **_pairs(_LLAMA2, [OFF]), **_SDXL_BOTH},
    },
    optional={"datacenter": _pairs(_LLAMA2, [INT, SRV]), "edge": {},
              "datacenter,edge": _pairs(_LLAMA2, [INT, SRV])},
    # dlrm-v2 stays in the checker's TEST01 list although v6.0 no longer has it
    compliance={"TEST01": ("resnet", "retinanet", *_BERT, *_DLRM, *_UNET, SDXL), "TEST04": ("resnet", SDXL),
                "TEST06": _LLAMA2},
    layout="v6",
    # v6.1 (provisional) carries v6.0's list over: the checker copy has none for v6.1
    accuracy_images={SDXL: _SDXL_IMAGES["v6.0"]},
)

V6_0 = Version(
    "v6.0", _V60_MODELS,
    seeds={"qsl_rng_seed": 2465351861681999779, "sample_index_rng_seed": 14276810075590677512,
           "schedule_rng_seed": 3936089224930324775},
    model_mapping={**_MODEL_MAPPING, "llama3_1-405b": "llama3.1-405b", "llama3_1-8b": "llama3.1-8b",
                   "llama3_1-8b-edge": "llama3.1-8b-edge"},
    **_V60_TABLES,
)

V6_1 = Version(
    "v6.1", _V60_MODELS,
    seeds={"qsl_rng_seed": 2085463073848966840, "sample_index_rng_seed": 2747215439041700203,
           "schedule_rng_seed": 16159082839903944936},
    model_mapping=dict(V6_0.model_mapping),
    provisional=True,
    **_V60_TABLES,
)

VERSIONS: dict[str, Version] = {v.name: v for v in (V3_1, V5_0, V5_1, V6_0, V6_1)}
NEWEST_FIRST = sorted(VERSIONS, key=lambda name: tuple(int(p) for p in name[1:].split(".")), reverse=True)


class VersionError(ValueError):
    """No round fits, or the one asked for does not exist."""


def get_version(name: str) -> Version:
    try:
        return VERSIONS[name]
    except KeyError:
        raise VersionError(f"--version {name!r} is not a checker round this tool knows; "
                           f"expected one of {', '.join(NEWEST_FIRST)}") from None


def newest_version_for(models: set[str]) -> Version:
    """The newest round whose benchmark list holds every one of ``models`` (harness or checker names)."""
    for name in NEWEST_FIRST:
        version = VERSIONS[name]
        if all(version.official_name(model) for model in models):
            return version
    where = []
    for model in sorted(models):
        rounds = [name for name in reversed(NEWEST_FIRST) if VERSIONS[name].official_name(model)]
        where.append(f"{model}: {', '.join(rounds) if rounds else 'no round'}")
    raise VersionError("no checker round has every benchmark of these runs (" + "; ".join(where)
                       + "); pass --version, or make one submission per round")


def default_category(version: Version, benchmarks: set[str]) -> str:
    """datacenter when the round has every benchmark there, else edge when it has them there, else datacenter."""
    for category in ("datacenter", "edge"):
        if all(version.required_scenarios(b, category) is not None for b in benchmarks):
            return category
    return "datacenter"
