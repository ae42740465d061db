"""Check a submission tree with the checker's rules: ``check_tree(root)``.

Walks ``<division>/<submitter>/results/<system>/<benchmark>/<scenario>`` like the
checker's loader and applies, per result: the scenario rules (closed and network
divisions), the performance rules, the accuracy rules, the compliance rules, and the
measurements files; per system: the system description (with the network-mode rules of
network.py: when it says ``is_network``, every performance log must carry the network
SUT name) and the code folder; for a v3.1 tree also
that checker's folder rules (legacy_v3.py). The round is the one given, or the newest
whose benchmark list and layout fit the tree.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.logs.detail import LogFormatError, parse_detail
from harness.submission.benchmarks import BENCHMARKS
from harness.submission.check_accuracy import check_accuracy
from harness.submission.check_compliance import check_compliance
from harness.submission.check_performance import check_performance
from harness.submission.layout import (
    DIVISIONS, OPTIONAL_PERF_FILES, REQUIRED_PERF_FILES, SubmissionLayout, files_diff, list_dirs, list_files,
)
from harness.submission.legacy_v3 import folder_rules
from harness.submission.network import check_network, flag_state
from harness.submission.problems import Report
from harness.submission.system_desc import check_description, is_placeholder
from harness.submission.versions import NEWEST_FIRST, VERSIONS, Version, VersionError

# MeasurementsCheck: SYSTEM_IMP_REQUIRED_FILES, each needing a value
MEASUREMENTS_FIELDS = ("input_data_types", "retraining", "starting_weights_filename", "weight_data_types",
                       "weight_transformations")


def _layouts(root: Path) -> list[tuple[SubmissionLayout, list[str]]]:
    """(layout without style, systems) per division/submitter found; style is set later."""
    found = []
    for division in list_dirs(root):
        if division not in DIVISIONS:
            continue
        for submitter in list_dirs(root / division):
            layout = SubmissionLayout(root, division, submitter, "v6")
            found.append((layout, list_dirs(layout.results_root())))
    return found


def infer_version(root: Path) -> Version:
    """The round of a tree: among the rounds that have every benchmark folder of the tree
    in its layout (compliance/ or measurements/ folders mean a v3.1 or v5.x tree), the
    newest whose seeds the performance logs carry (each round has its own), else the newest."""
    benchmarks, v5_style, seeds = set(), False, set()
    for layout, systems in _layouts(root):
        v5_style |= (layout.base / "compliance").is_dir() or (layout.base / "measurements").is_dir()
        for system in systems:
            for benchmark in list_dirs(layout.results_root() / system):
                benchmarks.add(benchmark)
                for scenario in list_dirs(layout.results_root() / system / benchmark):
                    seeds.add(_logged_qsl_seed(layout.performance_dir(system, benchmark, scenario)))
    fitting = [VERSIONS[name] for name in NEWEST_FIRST
               if (VERSIONS[name].layout != "v6") == v5_style
               and all(VERSIONS[name].official_name(b) for b in benchmarks)]
    if not fitting:
        raise VersionError(f"{root}: no checker round has all of {', '.join(sorted(benchmarks)) or 'no benchmarks'} "
                           f"in the {'v5' if v5_style else 'v6'} layout; pass --version")
    for version in fitting:
        if version.seeds["qsl_rng_seed"] in seeds:
            return version
    return fitting[0]


def _logged_qsl_seed(run_dir: Path):
    try:
        return parse_detail(run_dir / "mlperf_log_detail.txt").values.get("effective_qsl_rng_seed")
    except (OSError, LogFormatError):
        return None


def check_tree(root: Path, *, version: Version | None = None, originals: Path | None = None) -> Report:
    """Every rule on every result under ``root``. ``originals``: the untruncated accuracy
    logs, mirrored under the same relative paths (see writer.write_tree)."""
    root = Path(root)
    report = Report()
    version = version or infer_version(root)
    if version.provisional:
        report.notes.append(f"{version.name}: seeds from LoadGen 6.0.17 / published {version.name} results; "
                            "benchmark and scenario tables carried over from v6.0 (provisional)")
    extra = sorted(p.name for p in root.iterdir() if p.name not in DIVISIONS)
    if extra:
        report.add("submission", "tree", f"{root} holds {', '.join(extra)} besides the division folders")
    layouts = _layouts(root)
    if not any(systems for _, systems in layouts):
        report.add("submission", "tree", f"{root} has no <division>/<submitter>/results/<system> folder")
    for bare, systems in layouts:
        layout = SubmissionLayout(root, bare.division, bare.submitter, version.layout)
        if version.layout == "v3":
            for rule, message in folder_rules(layout.base):
                report.add("submission", rule, message)
        for system in systems:
            _check_system(layout, system, version, report, originals)
    return report


def _check_system(layout: SubmissionLayout, system: str, version: Version, report: Report,
                  originals: Path | None) -> None:
    description = _system_description(layout, system, report, version)
    category = str(description.get("system_type", "")) if description else ""
    network = flag_state(description)[0] if description else False
    if not layout.code_dir().is_dir():
        report.add(system, "code-dir", f"{layout.code_dir()} does not exist (the checker needs the code folder)")
    for benchmark in list_dirs(layout.results_root() / system):
        official = version.official_name(benchmark)
        scenarios = list_dirs(layout.results_root() / system / benchmark)
        scopes = [f"{system}/{benchmark}/{s}" for s in scenarios]
        report.results.extend(scopes)
        if official is None:
            for scope in scopes:
                report.add(scope, "benchmark", f"{benchmark} is not a benchmark of {version.name}")
            continue
        rules = BENCHMARKS.get(official)
        if rules is None or not version.covers(official):
            where = "benchmarks.py" if rules is None else f"versions.py, round {version.name}"
            for scope in scopes:
                report.add(scope, "benchmark", f"this tool has no rules for {official} (harness/submission/{where})")
            continue
        if layout.division in ("closed", "network") and category:  # the loader's is_closed_or_network
            for scope, rule, message in _scenario_rules(version, official, category, scenarios, system, benchmark):
                report.add(scope, rule, message)
        for scenario in scenarios:
            _check_result(layout, system, benchmark, scenario, rules, version, category, report, originals,
                          network)


def _check_result(layout: SubmissionLayout, system: str, benchmark: str, scenario: str, rules, version: Version,
                  category: str, report: Report, originals: Path | None, network: bool = False) -> None:
    """Performance, accuracy, compliance and measurements rules of one result folder."""
    scope = f"{system}/{benchmark}/{scenario}"
    where = (system, benchmark, scenario)
    found = list(_check_performance_dir(layout, *where, rules, version, category, report, scope, network))
    original = None
    if originals is not None:
        original = originals / layout.accuracy_dir(*where).relative_to(layout.root) / "mlperf_log_accuracy.json"
    problems, notes = check_accuracy(layout.accuracy_dir(*where), rules, division=layout.division,
                                     original_log=original, required_images=version.accuracy_images.get(rules.name, ()))
    found += problems
    report.notes.extend(notes)
    found += check_compliance(layout.compliance_dir(*where), rules, version, scenario=scenario,
                              division=layout.division, category=category, network=network)
    found += _measurements(layout, *where)
    for rule, message in found:
        report.add(scope, rule, message)


def _system_description(layout: SubmissionLayout, system: str, report: Report, version: Version) -> dict | None:
    path = layout.system_json(system)
    if not path.is_file():
        report.add(system, "system-description", f"{path} is missing")
        return None
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.add(system, "system-description", f"{path} is not readable JSON ({exc})")
        return None
    if not isinstance(description, dict):
        report.add(system, "system-description", f"{path} is not a JSON object")
        return None
    for rule, message in check_description(description, division=layout.division, submitter=layout.submitter,
                                           network_card_field=version.network_card_field):
        report.add(system, rule, f"{path.name}: {message}")
    # the package checker (v5.0 on) wants the network fields for any non-empty is_network
    for rule, message in check_network(description, division=layout.division,
                                       truthy_flag_requires_fields=version.layout != "v3"):
        report.add(system, rule, f"{path.name}: {message}")
    return description


def _scenario_rules(version: Version, benchmark: str, category: str, present: list[str], system: str,
                    folder: str):
    """Loader.check_scenarios: every required scenario present, none unknown, and one of
    Interactive/Server when both are optional."""
    scopes = [f"{system}/{folder}/{s}" for s in present]
    if category not in ("datacenter", "edge", "datacenter,edge", "edge,datacenter"):
        return []  # the system description check already names a bad system_type
    category = "datacenter,edge" if category == "edge,datacenter" else category
    required = version.required_scenarios(benchmark, category)
    if required is None:
        return [(scope, "scenarios", f"{benchmark} is not a {category} benchmark in {version.name}")
                for scope in scopes]
    optional = version.optional_scenarios(benchmark, category)
    have = {s.lower() for s in present}
    found = []
    missing = [s for s in required if s.lower() not in have]
    if {"interactive", "server"} <= {s.lower() for s in optional} and not have & {"interactive", "server"}:
        missing.append("(one of) Interactive or Server")
    unknown = [s for s in present if s.lower() not in {x.lower() for x in required + optional}]
    for scope in scopes:
        if missing:
            found.append((scope, "required-scenarios", f"{benchmark} ({category}, {version.name}) needs "
                                                       f"{', '.join(required)}; missing {', '.join(missing)}"))
        if unknown:
            found.append((scope, "required-scenarios", f"scenario folder(s) {', '.join(unknown)} are not "
                                                       f"{benchmark} scenarios in {version.name} ({category})"))
    return found


def _check_performance_dir(layout, system, benchmark, scenario, rules, version, category, report, scope,
                           network=False):
    run_dir = layout.performance_dir(system, benchmark, scenario)
    if not run_dir.is_dir():
        return [("performance-files", f"no performance run folder {run_dir}")]
    problems = []
    diff = files_diff(list_files(run_dir), REQUIRED_PERF_FILES, OPTIONAL_PERF_FILES)
    if diff:
        problems.append(("performance-files", f"{run_dir} must hold {', '.join(REQUIRED_PERF_FILES)}; missing or "
                                              f"extra: {', '.join(sorted(diff))}"))
    detail = run_dir / "mlperf_log_detail.txt"
    if not detail.is_file():
        return problems
    try:
        log = parse_detail(detail)
    except LogFormatError as exc:
        return problems + [("performance-log", str(exc))]
    found, metric = check_performance(log, rules, version, scenario_folder=scenario, division=layout.division,
                                      category=category or "datacenter", network=network)
    if metric is not None:
        unit = "ms" if scenario in ("SingleStream", "MultiStream") else (
            "tokens/s" if "token" in (rules.result_field(scenario, version.result_fields) or "") else "samples/s")
        report.metrics[scope] = f"{metric:.6g} {unit}"
    return problems + found


def _measurements(layout: SubmissionLayout, system: str, benchmark: str, scenario: str):
    folder = layout.measurements_dir(system, benchmark, scenario)
    problems = []
    path = layout.find_measurements_json(system, benchmark, scenario)
    if path is None:
        expected = layout.measurements_json_name(system, "<implementation>", scenario)
        problems.append(("measurements", f"no measurements JSON ({expected}) in {folder}"))
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            data = None
            problems.append(("measurements", f"{path} is not readable JSON ({exc})"))
        if isinstance(data, dict):
            for key in MEASUREMENTS_FIELDS:
                if not data.get(key) or is_placeholder(data.get(key)):
                    problems.append(("measurements", f"{path.name}: field {key} is missing, empty or a placeholder"))
        elif data is not None:
            problems.append(("measurements", f"{path} is not a JSON object"))
    files = list_files(folder)
    code = layout.benchmark_code_dir(benchmark)
    if code is not None and not code.is_dir():
        problems.append(("code-dir", f"{code} does not exist (the v3.1 checker wants code/<benchmark>/)"))
    for name in layout.measure_files:
        if name not in files:
            problems.append(("measurements", f"{folder} lacks {name}"))
        elif (folder / name).stat().st_size == 0:
            problems.append(("measurements", f"{folder / name} is empty"))
    return problems
