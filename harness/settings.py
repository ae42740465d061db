"""LoadGen settings in three layers: built-in mlperf.conf → run style → user.

Every value carries its origin, and the effective layers are written to the
case folder as ``user.conf`` so a run can be reproduced and audited. The
built-in layer is read from LoadGen itself (``FromConfig(conf_type=0)``), never
from a copy of mlperf.conf that could drift from the compiled-in one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .limits import REFUSED_USER_CONF_KEYS, SCENARIOS, USER_CONF_RANGES, SettingRangeError, check_counts

RUN_STYLES = ("test", "fast", "valid")

# user.conf key -> (TestSettings attribute per scenario, scale from attribute to user.conf units)
_NS_PER_MS = 1e6
_ATTRIBUTES = {
    "min_duration": ({"*": "min_duration_ms"}, 1),
    "max_duration": ({"*": "max_duration_ms"}, 1),
    "min_query_count": ({"*": "min_query_count"}, 1),
    "max_query_count": ({"*": "max_query_count"}, 1),
    "performance_sample_count_override": ({"*": "performance_sample_count_override"}, 1),
    "target_qps": ({"Server": "server_target_qps", "Offline": "offline_expected_qps"}, 1),
    "target_latency": (
        {
            "Server": "server_target_latency_ns",
            "SingleStream": "single_stream_expected_latency_ns",
            "MultiStream": "multi_stream_expected_latency_ns",
        },
        1 / _NS_PER_MS,
    ),
    "samples_per_query": ({"MultiStream": "multi_stream_samples_per_query"}, 1),
}

# Keys a user.conf may set (mlperf-facts §3) and their ranges; anything else is a typo.
USER_CONF_KEYS = frozenset(USER_CONF_RANGES) | frozenset(REFUSED_USER_CONF_KEYS)

# The `test` style: sized so a proxy run takes seconds while LoadGen still
# reports VALID (early stopping needs >= 64 SingleStream and >= 662
# MultiStream queries; Server needs a few hundred). A family sizes its own
# (its registry's [test_style.<Scenario>] tables, over these): a decode of
# tens of tokens or a whole volume per sample needs far fewer samples.
_TEST_STYLE = {
    "Offline": {"min_duration": 0, "min_query_count": 1024},
    # Server's query count follows the measured QPS (calibrate.targets).
    "Server": {"min_duration": 0},
    "SingleStream": {"min_duration": 0, "min_query_count": 256},
    "MultiStream": {"min_duration": 0, "min_query_count": 662},
}
# The `fast` style: one minute per performance run, query counts official.
_FAST_STYLE = {scenario: {"min_duration": 60000} for scenario in _TEST_STYLE}

# Only the system's own performance targets may be set in a `valid` run.
VALID_STYLE_KEYS = frozenset({"target_qps", "target_latency"})


class UserConfError(ValueError):
    """A user.conf line cannot be used."""


@dataclass(frozen=True)
class Setting:
    key: str
    value: float | int
    origin: str


def style_settings(run_style: str, scenario: str, family_style: dict | None = None) -> list[Setting]:
    """The run style's layer; ``family_style``: the family's test-style sizes (its registry's)."""
    if run_style not in RUN_STYLES:
        raise ValueError(f"unknown run style {run_style!r}; valid: {', '.join(RUN_STYLES)}")
    test = {name: {**keys, **(family_style or {}).get(name, {})} for name, keys in _TEST_STYLE.items()}
    table = {"test": test, "fast": _FAST_STYLE, "valid": {}}[run_style]
    origin = f"run style '{run_style}'"
    return [Setting(k, v, origin) for k, v in table.get(scenario, {}).items()]


_LINE = re.compile(r"^\s*([^.\s=]+)\.([^.\s=]+)\.([A-Za-z0-9_]+)\s*=\s*(\S+)\s*$")


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


@dataclass(frozen=True)
class UserConfLine:
    line_no: int
    model: str
    scenario: str
    key: str
    value: int | float


def read_user_conf(path: Path) -> list[UserConfLine]:
    """Every line of a user.conf, each checked: syntax, known scenario and key, range.

    Lines for other models are checked too: the file is refused as a whole,
    before any case runs, rather than failing the one case it would reach.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserConfError(f"{path}: cannot read this user.conf ({exc})") from None
    lines = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        # LoadGen rejects the whole file (-22) on an inline comment, so only
        # whole-line comments are accepted here too.
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}:{line_no}"
        match = _LINE.match(stripped)
        if not match:
            raise UserConfError(f"{where}: cannot read {stripped!r}; expected 'model.scenario.key = number'")
        model, scenario, key, value = match.groups()
        if scenario != "*" and scenario not in SCENARIOS:
            raise UserConfError(f"{where}: unknown scenario {scenario!r}; valid: *, {', '.join(SCENARIOS)}")
        if key in REFUSED_USER_CONF_KEYS:
            raise UserConfError(f"{where}: {key} cannot be set here: {REFUSED_USER_CONF_KEYS[key]}")
        if key not in USER_CONF_RANGES:
            raise UserConfError(f"{where}: unknown key {key!r}; valid keys: {', '.join(sorted(USER_CONF_RANGES))}")
        try:
            number = _number(value)
        except ValueError:
            raise UserConfError(f"{where}: value {value!r} of {key} is not a number") from None
        try:
            USER_CONF_RANGES[key].check(number, f"{where}: {model}.{scenario}.{key}")
        except SettingRangeError as exc:
            raise UserConfError(str(exc)) from None
        lines.append(UserConfLine(line_no, model, scenario, key, number))
    _check_pairs(path, lines)
    return lines


def _check_pairs(path: Path, lines: list[UserConfLine]) -> None:
    """min <= max for every model and scenario the file names, as LoadGen resolves them."""
    models = {line.model for line in lines} | {"*"}
    for model in models:
        for scenario in SCENARIOS:
            resolved = {s.key: s.value for s in _resolve(lines, model, scenario, path)}
            try:
                check_counts(resolved, f"{path} ({model}.{scenario})")
            except SettingRangeError as exc:
                raise UserConfError(str(exc)) from None


def _resolve(lines: list[UserConfLine], model: str, scenario: str, path: Path) -> list[Setting]:
    """LoadGen's precedence: exact, ``*.scenario``, ``model.*``, ``*.*``; later lines of one rank win."""
    ranked: dict[str, tuple[int, Setting]] = {}
    for line in lines:
        if line.model not in ("*", model) or line.scenario not in ("*", scenario):
            continue
        rank = (line.model != "*") * 2 + (line.scenario != "*")
        if line.key not in ranked or rank >= ranked[line.key][0]:
            ranked[line.key] = (rank, Setting(line.key, line.value, f"{path}:{line.line_no}"))
    return [setting for _, setting in ranked.values()]


def parse_user_conf(path: Path, model: str, scenario: str) -> list[Setting]:
    """The settings of a user-supplied user.conf that apply to model/scenario.

    Applies LoadGen's precedence (exact, ``*.scenario``, ``model.*``, ``*.*``)
    so the recorded origin matches what LoadGen would do with the file.
    """
    return _resolve(read_user_conf(path), model, scenario, path)


def builtin_value(loadgen_settings, key: str, scenario: str):
    """What LoadGen's built-in mlperf.conf gives ``key`` (in user.conf units)."""
    spec = _ATTRIBUTES.get(key)
    if spec is None:
        return None
    attributes, scale = spec
    attribute = attributes.get(scenario, attributes.get("*"))
    if attribute is None:
        return None
    value = getattr(loadgen_settings, attribute) * scale
    return int(value) if float(value).is_integer() else value


def merge(*layers: list[Setting]) -> dict[str, Setting]:
    """Later layers win, key by key."""
    merged: dict[str, Setting] = {}
    for layer in layers:
        for setting in layer:
            merged[setting.key] = setting
    return merged


def check_valid_style(run_style: str, settings: dict[str, Setting]) -> None:
    """A `valid` run may only carry the system's own performance targets."""
    if run_style != "valid":
        return
    offending = sorted(k for k, s in settings.items() if k not in VALID_STYLE_KEYS)
    if offending:
        origins = ", ".join(f"{k} ({settings[k].origin})" for k in offending)
        raise UserConfError(
            f"run style 'valid' keeps the official mlperf.conf values; refusing to override {origins}"
        )


def render_user_conf(model: str, scenario: str, settings: dict[str, Setting], builtin: dict[str, object]) -> str:
    """user.conf text: built-in values as comments, overrides as lines, each with its origin."""
    lines = [
        f"# user.conf for {model} {scenario}, written by the harness.",
        "# Values LoadGen takes from its built-in mlperf.conf are listed as comments;",
        "# every active line says which layer set it.",
    ]
    for key in sorted(builtin):
        if key not in settings and builtin[key] is not None:
            lines.append(f"# {model}.{scenario}.{key} = {builtin[key]}  (origin: mlperf.conf, built into LoadGen)")
    for key in sorted(settings):
        setting = settings[key]
        # LoadGen cannot parse a comment after a value: the origin goes above.
        lines.append(f"# origin: {setting.origin}")
        lines.append(f"{model}.{scenario}.{key} = {_format(setting.value)}")
    return "\n".join(lines) + "\n"


def _format(value) -> str:
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else f"{value:.6g}" if abs(value) >= 1e-3 else repr(value)
    return str(value)
