"""``python -m harness submission``: the tree MLPerf's checker expects, checked with its rules.

The runs are synthetic RUN_DIRs (tests/submission_fixtures.py) made of genuine LoadGen
logs from an instant SUT; "valid" runs have the settings of a ten-minute official run
written into their detail logs.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.submission import build_submission, check_tree, infer_version, truncated_bytes
from harness.logs import parse_detail
from harness.submission.benchmarks import BENCHMARKS
from harness.submission.check_compliance import check_compliance
from harness.submission.check_performance import check_performance
from harness.submission.cli import main
from harness.submission.inputs import SubmissionInputError
from harness.submission.system_desc import REQUIRED_FIELDS, check_description, cpu_facts, describe_system
from harness.submission.truncate import ELLIPSIS, MAX_ACCURACY_LOG_SIZE, VIEWABLE_SIZE, hash_lines, truncate_into
from harness.submission.versions import VERSIONS

try:
    from . import logfixtures as lf
    from . import submission_fixtures as sf
except ImportError:
    import logfixtures as lf
    import submission_fixtures as sf

EDGE_SCENARIOS = ("Offline", "SingleStream", "MultiStream")  # resnet, edge, v6.x
SYSTEM = "box1"


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    return sf.loadgen_templates(tmp_path_factory.getbasetemp() / "submission-loadgen")


def valid_run(root: Path, templates, scenarios=EDGE_SCENARIOS, version="v6.1", **kwargs) -> Path:
    builder = sf.RunBuilder(root, templates, version=version)
    for scenario in scenarios:
        builder.add_result("resnet50", scenario, **kwargs)
    return builder.write()


def build(run_dirs, out: Path, tmp_path: Path, **kwargs):
    kwargs.setdefault("system_json", sf.filled_system_json(tmp_path / "system-fields.json"))
    return build_submission(list(run_dirs), out, submitter="ACME", system=SYSTEM, division="closed", **kwargs)


def rules_of(report, scope: str) -> set[str]:
    return {p.rule for p in report.problems if p.scope == scope}


@pytest.fixture(scope="module")
def valid_tree(tmp_path_factory, templates):
    """A v6.1 edge tree built from valid runs (read-only: tests copy it before editing)."""
    base = tmp_path_factory.mktemp("valid")
    run = valid_run(base / "run", templates)
    result = build([run], base / "tree", base)
    return result


def tampered(valid_tree, tmp_path: Path) -> tuple[Path, Path]:
    tree, originals = tmp_path / "tree", tmp_path / "tree.originals"
    shutil.copytree(valid_tree.out, tree)
    shutil.copytree(valid_tree.originals, originals)
    return tree, originals


def result_dir(tree: Path, scenario: str) -> Path:
    return tree / "closed" / "ACME" / "results" / SYSTEM / "resnet" / scenario


# ---------------------------------------------------------------- valid trees


def test_valid_tree_passes_the_check(valid_tree, capsys):
    report = valid_tree.report
    assert report.problems == [], "\n".join(report.lines())
    assert sorted(report.results) == sorted(f"{SYSTEM}/resnet/{s}" for s in EDGE_SCENARIOS)
    assert (valid_tree.version.name, valid_tree.category) == ("v6.1", "edge")
    offline = result_dir(valid_tree.out, "Offline")
    # v6.x: compliance tests and measurements beside accuracy/ and performance/
    for relative in ("performance/run_1/mlperf_log_detail.txt", "performance/run_1/mlperf_log_summary.txt",
                     "accuracy/accuracy.txt", "accuracy/mlperf_log_accuracy.json", "TEST01/verify_accuracy.txt",
                     "TEST04/verify_performance.txt", "measurements.json", "user.conf", "README.md"):
        assert (offline / relative).is_file(), relative
    assert (valid_tree.out / "closed" / "ACME" / "systems" / f"{SYSTEM}.json").is_file()
    assert (valid_tree.out / "closed" / "ACME" / "src").is_dir()
    assert main(["--check", str(valid_tree.out)]) == 0
    assert "3 of 3 results submittable" in capsys.readouterr().out


def test_v5_layout_puts_compliance_and_measurements_in_their_own_trees(tmp_path, templates):
    run = valid_run(tmp_path / "run", templates, scenarios=("Offline", "Server"), version="v5.0")
    result = build([run], tmp_path / "tree", tmp_path, version="v5.0", category="datacenter")
    assert result.report.problems == [], "\n".join(result.report.lines())
    base = tmp_path / "tree" / "closed" / "ACME"
    assert (base / "compliance" / SYSTEM / "resnet" / "Server" / "TEST04" / "verify_performance.txt").is_file()
    measurements = base / "measurements" / SYSTEM / "resnet" / "Offline"
    assert (measurements / f"{SYSTEM}_onnxruntime-cpu-fp32_Offline.json").is_file()
    assert (measurements / "user.conf").is_file() and (base / "code").is_dir()
    assert not (base / "results" / SYSTEM / "resnet" / "Offline" / "TEST01").exists()
    # --check without --version finds the round from the layout and the logged seeds
    assert infer_version(tmp_path / "tree") is VERSIONS["v5.0"]
    assert check_tree(tmp_path / "tree", originals=result.originals).problems == []


def test_the_cli_writes_and_exits_zero_for_a_valid_run(tmp_path, templates, capsys):
    run = valid_run(tmp_path / "run", templates)
    fields = sf.filled_system_json(tmp_path / "fields.json")
    code = main(["--from", str(run), "--out", str(tmp_path / "tree"), "--submitter", "ACME", "--system", SYSTEM,
                 "--division", "closed", "--system-json", str(fields)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "submittable box1/resnet/Offline: " in out and "samples/s" in out


# ---------------------------------------------------------------- runs that are not submissions


def test_a_test_style_run_is_written_but_not_submittable(tmp_path, templates, capsys):
    builder = sf.RunBuilder(tmp_path / "run", templates, run_style="test")
    builder.add_result("resnet50", "Offline", compliance=())
    run = builder.write()
    code = main(["--from", str(run), "--out", str(tmp_path / "tree"), "--submitter", "ACME", "--system", SYSTEM,
                 "--division", "closed", "--category", "edge"])
    out = capsys.readouterr().out
    assert code == 1
    assert (f"NOT SUBMITTABLE {SYSTEM}/resnet/Offline: [run-style] run style test: not a submission run; "
            "rerun with --mlperf-run-style valid") in out
    # the genuine LoadGen settings of a short run break the checker's own rules too
    assert f"{SYSTEM}/resnet/Offline: [min-duration]" in out
    assert f"{SYSTEM}/resnet/Offline: [dataset-size]" in out
    assert f"{SYSTEM}/resnet/Offline: [compliance-TEST01] TEST01 result missing" in out
    assert (result_dir(tmp_path / "tree", "Offline") / "performance" / "run_1" / "mlperf_log_detail.txt").is_file()


def test_proxy_models_and_missing_accuracy_runs_are_named(tmp_path, templates):
    builder = sf.RunBuilder(tmp_path / "run", templates)
    for scenario in EDGE_SCENARIOS:
        builder.add_result("resnet50", scenario, model_source="proxy")
    builder.cases = [c for c in builder.cases if not (c["scenario"] == "MultiStream" and c["mode"] == "accuracy")]
    result = build([builder.write()], tmp_path / "tree", tmp_path)
    assert "model" in rules_of(result.report, f"{SYSTEM}/resnet/Offline")
    assert {"accuracy-run", "accuracy-files"} <= rules_of(result.report, f"{SYSTEM}/resnet/MultiStream")


# ---------------------------------------------------------------- tampered trees


def test_an_accuracy_log_edited_after_hashing_is_rejected(valid_tree, tmp_path):
    tree, originals = tampered(valid_tree, tmp_path)
    log = result_dir(tree, "Offline") / "accuracy" / "mlperf_log_accuracy.json"
    data = bytearray(log.read_bytes())
    at = data.index(b'"data" : "') + len(b'"data" : "')
    data[at:at + 8] = b"00000000"  # another answer for the first sample
    log.write_bytes(bytes(data))
    report = check_tree(tree, originals=originals)
    assert rules_of(report, f"{SYSTEM}/resnet/Offline") == {"accuracy-hash"}
    assert report.submittable(f"{SYSTEM}/resnet/SingleStream")


def test_a_hash_line_that_is_not_the_logs_is_rejected(valid_tree, tmp_path):
    tree, originals = tampered(valid_tree, tmp_path)
    text = result_dir(tree, "Offline") / "accuracy" / "accuracy.txt"
    text.write_text(text.read_text().replace(hash_lines(text.read_text())[0], "ab" * 32))
    assert "accuracy-hash" in rules_of(check_tree(tree, originals=originals), f"{SYSTEM}/resnet/Offline")


def test_without_the_originals_a_small_log_is_still_verified(valid_tree, tmp_path):
    tree, _ = tampered(valid_tree, tmp_path)
    acc = result_dir(tree, "Offline") / "accuracy"
    small = b'[\n{ "seq_id" : 0, "qsl_idx" : 1, "data" : "0000803F" }\n]\n'
    (acc / "mlperf_log_accuracy.json").write_bytes(small)  # never truncated: its hash is checkable
    report = check_tree(tree)
    assert "accuracy-hash" in rules_of(report, f"{SYSTEM}/resnet/Offline")
    # a truncated log without its original cannot be verified: said, not passed silently
    assert any("can be verified only against the original" in note for note in report.notes)


def test_a_missing_required_scenario_is_rejected(valid_tree, tmp_path):
    tree, originals = tampered(valid_tree, tmp_path)
    shutil.rmtree(result_dir(tree, "MultiStream"))
    report = check_tree(tree, originals=originals)
    for scenario in ("Offline", "SingleStream"):
        assert rules_of(report, f"{SYSTEM}/resnet/{scenario}") == {"required-scenarios"}
    assert any("missing MultiStream" in p.message for p in report.problems)


@pytest.mark.parametrize("edit, rule", [
    (lambda d: shutil.rmtree(d / "TEST04"), "compliance-TEST04"),
    (lambda d: (d / "TEST01" / "verify_accuracy.txt").write_text("num_perf_log_data_mismatch = 3\nTEST FAIL\n"),
     "compliance-TEST01"),
    (lambda d: (d / "TEST04" / "verify_performance.txt").write_text("TEST FAIL\n"), "compliance-TEST04"),
    (lambda d: lf.set_detail_value(d / "TEST01" / "performance" / "run_1", "effective_min_duration_ms", 0),
     "compliance-TEST01"),
], ids=["TEST04-missing", "TEST01-accuracy-failed", "TEST04-performance-failed", "TEST01-short-run"])
def test_a_missing_or_failed_compliance_result_is_rejected(valid_tree, tmp_path, edit, rule):
    tree, originals = tampered(valid_tree, tmp_path)
    edit(result_dir(tree, "SingleStream"))
    report = check_tree(tree, originals=originals)
    assert rules_of(report, f"{SYSTEM}/resnet/SingleStream") == {rule}
    assert main(["--check", str(tree), "--originals", str(originals)]) == 1


@pytest.mark.parametrize("key, value, rule", [
    ("effective_min_duration_ms", 60000, "min-duration"),
    ("effective_qsl_rng_seed", 1, "seeds"),
    ("early_stopping_met", False, "early-stopping"),
    ("effective_performance_sample_count", 64, "performance-sample-count"),
])
def test_performance_rules_reject_edited_logs(valid_tree, tmp_path, key, value, rule):
    tree, originals = tampered(valid_tree, tmp_path)
    lf.set_detail_value(result_dir(tree, "SingleStream") / "performance" / "run_1", key, value)
    assert rules_of(check_tree(tree, originals=originals), f"{SYSTEM}/resnet/SingleStream") == {rule}


def test_loadgen_errors_and_short_accuracy_runs_are_rejected(valid_tree, tmp_path):
    tree, originals = tampered(valid_tree, tmp_path)
    lf.append_detail_line(result_dir(tree, "Offline") / "performance" / "run_1", "error_runtime",
                          "SUT crashed", is_error=True)
    lf.set_detail_value(result_dir(tree, "MultiStream") / "accuracy", "effective_accuracy_sample_count", 500)
    report = check_tree(tree, originals=originals)
    assert rules_of(report, f"{SYSTEM}/resnet/Offline") == {"loadgen-errors"}
    assert rules_of(report, f"{SYSTEM}/resnet/MultiStream") == {"dataset-size"}


def test_accuracy_below_target_is_rejected_in_closed_only(tmp_path, templates):
    run = valid_run(tmp_path / "run", templates, accuracy_line="accuracy=70.000%, good=35000, total=50000")
    closed = build([run], tmp_path / "closed", tmp_path)
    assert "accuracy-target" in rules_of(closed.report, f"{SYSTEM}/resnet/Offline")
    opened = build_submission([run], tmp_path / "open", submitter="ACME", system=SYSTEM, division="open",
                              system_json=tmp_path / "system-fields.json")
    assert "accuracy-target" not in rules_of(opened.report, f"{SYSTEM}/resnet/Offline")


def test_llm_rules_need_token_latencies_and_test06(tmp_path, templates):
    rules, version = BENCHMARKS["llama2-70b-99"], VERSIONS["v6.1"]
    server = parse_detail(templates[("Server", "PerformanceOnly")] / "mlperf_log_detail.txt")
    found, _ = check_performance(server, rules, version, scenario_folder="Server", division="closed",
                                 category="datacenter")
    assert "token-latencies" in {rule for rule, _ in found}
    test06 = tmp_path / "TEST06"
    test06.mkdir()
    lines = ["First token check pass: True", "EOS check pass: False", "Sample length check pass: True"]
    (test06 / "verify_accuracy.txt").write_text("\n".join(lines) + "\n")
    failed = check_compliance(tmp_path, rules, version, scenario="Offline", division="closed", category="datacenter")
    verify = test06 / "verify_accuracy.txt"
    assert failed == [("compliance-TEST06", f"TEST06 failed: EOS check pass not passed in {verify}")]
    (test06 / "verify_accuracy.txt").write_text("\n".join(lines).replace("False", "True") + "\n")
    assert check_compliance(tmp_path, rules, version, scenario="Offline", division="closed",
                            category="datacenter") == []


# ---------------------------------------------------------------- truncation


def test_truncation_round_trip(valid_tree, templates):
    original = (templates[("Offline", "AccuracyOnly")] / "mlperf_log_accuracy.json").read_bytes()
    assert len(original) > MAX_ACCURACY_LOG_SIZE  # the genuine log needs truncating
    acc = result_dir(valid_tree.out, "Offline") / "accuracy"
    tree_log = (acc / "mlperf_log_accuracy.json").read_bytes()
    assert hash_lines((acc / "accuracy.txt").read_text()) == [hashlib.sha256(original).hexdigest()]
    assert len(tree_log) <= MAX_ACCURACY_LOG_SIZE
    assert tree_log.startswith(original[:VIEWABLE_SIZE]) and tree_log.endswith(original[-VIEWABLE_SIZE:])
    assert tree_log[VIEWABLE_SIZE:-VIEWABLE_SIZE] == ELLIPSIS
    kept = valid_tree.originals / acc.relative_to(valid_tree.out) / "mlperf_log_accuracy.json"
    assert kept.read_bytes() == original


def test_truncation_edges_follow_the_tool(tmp_path):
    small = b"[\n" + b"x" * 100 + b"\n]\n"
    assert truncated_bytes(small) == small  # under 4 KiB the tool cannot seek; kept whole
    mid = bytes(range(256)) * 24  # 6144 bytes: head and tail overlap, written twice as the tool does
    assert truncated_bytes(mid) == mid[:4096] + ELLIPSIS + mid[-4096:]
    source = tmp_path / "log.json"
    source.write_bytes(mid)
    text, digest = truncate_into(source, "accuracy=76.5%", tmp_path / "out.json")
    assert text == f"accuracy=76.5%\nhash={hashlib.sha256(mid).hexdigest()}\n"  # newline first, then the hash
    # already hashed and small: the tool leaves accuracy.txt and the log alone
    again, same = truncate_into(tmp_path / "out.json", text, tmp_path / "again.json")
    assert (again, same) == (text, digest)
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "out.json").read_bytes()


# ---------------------------------------------------------------- system description


def test_the_system_description_has_every_required_field(tmp_path):
    description, _ = describe_system(division="closed", submitter="ACME", system=SYSTEM, category="edge",
                                     machines=[{"node": "elsewhere", "system": "Linux", "release": "6.1"}],
                                     versions={"loadgen": "6.0.17"}, cases=[{"device": "cpu", "backend": "tvm"}],
                                     run_dirs=[tmp_path])
    assert set(REQUIRED_FIELDS) <= set(description)
    problems = check_description(description, division="closed", submitter="ACME")
    # another host's runs: nothing is missing, and what the runs cannot tell is a named placeholder
    assert problems and all("placeholder" in message for _, message in problems)
    assert any("host_processor_model_name" in message for _, message in problems)
    assert description["accelerators_per_node"] == 0 and description["accelerator_model_name"] == "N/A"


def test_cpu_facts_come_from_proc_cpuinfo_text():
    text = ("processor\t: 0\nmodel name\t: Example CPU 9000\nphysical id\t: 0\ncpu cores\t: 8\n"
            "cache size\t: 512 KB\n\nprocessor\t: 1\nmodel name\t: Example CPU 9000\nphysical id\t: 1\n"
            "cpu cores\t: 8\n")
    assert cpu_facts(text) == {"model": "Example CPU 9000", "sockets": 2, "cores_per_socket": 8, "cache": "512 KB"}


def test_a_tree_whose_description_lost_a_field_is_rejected(valid_tree, tmp_path):
    tree, originals = tampered(valid_tree, tmp_path)
    path = tree / "closed" / "ACME" / "systems" / f"{SYSTEM}.json"
    data = json.loads(path.read_text())
    del data["host_processor_core_count"]
    path.write_text(json.dumps(data))
    report = check_tree(tree, originals=originals)
    assert [p.message for p in report.problems if p.scope == SYSTEM] == [
        f"{SYSTEM}.json: field host_processor_core_count is missing"]
    assert not report.submittable(f"{SYSTEM}/resnet/Offline")


def test_unfilled_placeholders_are_listed_and_block(tmp_path, templates, capsys):
    run = valid_run(tmp_path / "run", templates)
    code = main(["--from", str(run), "--out", str(tmp_path / "tree"), "--submitter", "ACME", "--system", SYSTEM,
                 "--division", "closed"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"NOT SUBMITTABLE {SYSTEM}: [system-description] {SYSTEM}.json: field status is still a placeholder" in out
    assert "system description fields to fill" in out and "cooling" in out.splitlines()[-2]


# ---------------------------------------------------------------- bad input


def _cli(*args) -> int:
    return main([str(a) for a in args])


def test_a_run_dir_without_results_json_is_refused(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert _cli("--from", tmp_path / "run", "--out", tmp_path / "tree", "--submitter", "ACME", "--system", SYSTEM,
                "--division", "closed") == 2
    assert f"--from {tmp_path / 'run'}: no results.json there" in capsys.readouterr().err
    assert not (tmp_path / "tree").exists() and not (tmp_path / "tree.originals").exists()


def test_an_output_folder_with_content_is_never_touched(tmp_path, templates, capsys):
    run = valid_run(tmp_path / "run", templates, scenarios=("Offline",))
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "mine.txt").write_text("keep me")
    assert _cli("--from", run, "--out", tmp_path / "tree", "--submitter", "ACME", "--system", SYSTEM,
                "--division", "closed") == 2
    assert "--out" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "tree").iterdir()] == ["mine.txt"]
    assert (tmp_path / "tree" / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize("args, named", [
    (["--version", "v9.9"], "--version 'v9.9'"),
    (["--division", "half-open"], "--division"),
    (["--category", "cloud"], "--category"),
    (["--select", "colour=red"], "--select"),
])
def test_bad_options_are_refused_before_writing(tmp_path, templates, capsys, args, named):
    run = valid_run(tmp_path / "run", templates, scenarios=("Offline",))
    base = ["--from", run, "--out", tmp_path / "tree", "--submitter", "ACME", "--system", SYSTEM]
    if "--division" not in args:
        base += ["--division", "closed"]
    assert _cli(*base, *args) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "tree").exists()


def test_originals_inside_the_tree_are_refused(tmp_path, templates):
    run = valid_run(tmp_path / "run", templates, scenarios=("Offline",))
    with pytest.raises(SubmissionInputError, match="--originals .* must lie outside --out"):
        build([run], tmp_path / "tree", tmp_path, originals=tmp_path / "tree" / "originals")
    assert not (tmp_path / "tree").exists()


def test_a_moved_run_folder_is_still_read(tmp_path, templates):
    run = valid_run(tmp_path / "run", templates)
    moved = run.rename(tmp_path / "moved")  # results.json keeps the old absolute log_dir paths
    result = build([moved], tmp_path / "tree", tmp_path)
    assert result.report.problems == [], "\n".join(result.report.lines())


def test_a_case_without_a_required_field_is_named(tmp_path, templates):
    run = valid_run(tmp_path / "run", templates, scenarios=("Offline",))
    document = json.loads((run / "results.json").read_text())
    del document["cases"][1]["log_dir"]
    (run / "results.json").write_text(json.dumps(document))
    with pytest.raises(SubmissionInputError, match=r"results.json: cases\[1\] .* lacks the string field 'log_dir'"):
        build([run], tmp_path / "tree", tmp_path)
    assert not (tmp_path / "tree").exists()


def test_two_implementations_of_one_result_need_a_selection(tmp_path, templates):
    builder = sf.RunBuilder(tmp_path / "run", templates)
    builder.add_result("resnet50", "Offline")
    builder.add_result("resnet50", "Offline", precision="int8")
    run = builder.write()
    with pytest.raises(SubmissionInputError, match="--select"):
        build([run], tmp_path / "tree", tmp_path)
    chosen = build([run], tmp_path / "tree", tmp_path, select={"precision": "fp32"}, category="edge")
    measurements = json.loads((result_dir(tmp_path / "tree", "Offline") / "measurements.json").read_text())
    assert measurements["weight_data_types"] == "fp32" and chosen.version.name == "v6.1"


def test_the_round_defaults_to_the_newest_that_has_every_benchmark(tmp_path, templates):
    builder = sf.RunBuilder(tmp_path / "run", templates, version="v5.0")
    builder.add_result("resnet50", "Offline")
    builder.add_result("gptj-99", "Offline", benchmark="gptj-99", compliance=())
    result = build([builder.write()], tmp_path / "tree", tmp_path)
    assert result.version is VERSIONS["v5.0"]  # gptj's last round
    assert (tmp_path / "tree" / "closed" / "ACME" / "results" / SYSTEM / "gptj-99" / "Offline").is_dir()


def test_a_benchmark_no_round_knows_is_named_not_fatal(tmp_path, templates):
    builder = sf.RunBuilder(tmp_path / "run", templates)
    for scenario in EDGE_SCENARIOS:
        builder.add_result("resnet50", scenario)
    builder.add_result("example-classifier", "Offline", compliance=())
    result = build([builder.write()], tmp_path / "tree", tmp_path)
    assert rules_of(result.report, f"{SYSTEM}/example-classifier/Offline") == {"benchmark"}
    assert result.report.submittable(f"{SYSTEM}/resnet/Offline")


def test_python_m_harness_lists_and_runs_the_command(tmp_path):
    env = lf.subprocess_env()
    listed = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True, text=True, env=env,
                            cwd=lf.PROJECT_ROOT, timeout=60)
    assert "submission --from RUN_DIR" in listed.stdout
    done = subprocess.run([sys.executable, "-m", "harness", "submission", "--check", str(tmp_path / "absent")],
                          capture_output=True, text=True, env=env, cwd=lf.PROJECT_ROOT, timeout=60)
    assert done.returncode == 2 and "--check" in done.stderr
