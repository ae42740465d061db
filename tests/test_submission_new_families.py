"""The submission tree and its check for the families that joined the registry last:
stable-diffusion-xl (v5.0..v6.1), rnnt (v3.1, its last round) and dlrm-v2 (v5.1).

Run folders are synthetic RUN_DIRs made of genuine LoadGen logs (tests/submission_fixtures.py),
shaped as the suite writes them: an SDXL accuracy case keeps the pictures its scorer
saved in ``images/<qsl_idx>.png`` beside the log. The thresholds, image lists, seeds and
scenario rows come from harness/submission (benchmarks.py, versions.py), never from here.
"""
from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest

from harness.benchmarks.sdxl.captions import SAMPLE_IDS
from harness.settings import render_user_conf
from harness.submission import check_tree, infer_version
from harness.submission.benchmarks import BENCHMARKS
from harness.submission.check_accuracy import accuracy_values
from harness.submission.cli import main
from harness.submission.legacy_v3 import mlperf_conf_text
from harness.submission.versions import NEWEST_FIRST, VERSIONS, VersionError, default_category, newest_version_for

try:
    from . import logfixtures as lf
    from . import submission_fixtures as sf
    from .test_submission import SYSTEM, build, rules_of, tampered
except ImportError:
    import logfixtures as lf
    import submission_fixtures as sf
    from test_submission import SYSTEM, build, rules_of, tampered

SDXL, RNNT = "stable-diffusion-xl", "rnnt"
SDXL_LINE = "Accuracy Results: {{'FID_SCORE': {fid}, 'CLIP_SCORE': {clip}}}"  # accuracy_coco.py
RNNT_LINE = "Word Error Rate: {wer}%, accuracy={acc}%"  # accuracy_eval.py
DLRM_LINE = "AUC={auc}%, accuracy=96.601%, good=963, total=1000, queries=330067"  # accuracy-dlrm.py


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    # the folder test_submission.py uses: LoadGen's runs are shared when both modules run
    return sf.loadgen_templates(tmp_path_factory.getbasetemp() / "submission-loadgen")


def tiny_png() -> bytes:
    """A 1x1 grey PNG: what matters to the checker is the file's name."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(
        b"IEND", b"")


def case_dir(builder: sf.RunBuilder, model: str, scenario: str, mode: str) -> Path:
    return builder.case_dir(f"{model}-onnxruntime-cpu-fp32-{scenario}-{mode}")


def result_dir(tree: Path, benchmark: str, scenario: str) -> Path:
    return tree / "closed" / "ACME" / "results" / SYSTEM / benchmark / scenario


def compliance_dir(tree: Path, benchmark: str, scenario: str) -> Path:
    """v3.1 and v5.x keep compliance results in their own tree."""
    return tree / "closed" / "ACME" / "compliance" / SYSTEM / benchmark / scenario


# ---------------------------------------------------------------- run folders


def sdxl_run(root: Path, templates, *, version="v6.1", scenarios=("Offline", "SingleStream"), fid=23.4805,
             clip=31.7498, images: tuple | None = None) -> Path:
    """images: the qsl indices whose pictures the accuracy runs saved (default: the round's list)."""
    builder = sf.RunBuilder(root, templates, version=version)
    if images is None:
        images = VERSIONS[version].accuracy_images[SDXL]
    for scenario in scenarios:
        builder.add_result(SDXL, scenario, benchmark=SDXL, accuracy_line=SDXL_LINE.format(fid=fid, clip=clip))
        folder = case_dir(builder, SDXL, scenario, "accuracy") / "images"
        folder.mkdir()
        for index in images:
            (folder / f"{index}.png").write_bytes(tiny_png())
    return builder.write()


def rnnt_run(root: Path, templates, *, accuracy=92.548, scenarios=("Offline", "Server"),
             tests=("TEST01", "TEST05")) -> Path:
    """A run as a LoadGen of v3.1 would have logged it: v3.1's seeds (TEST05: its own),
    24576 samples per Offline query, and TEST01's accuracy.txt beside its log."""
    version = VERSIONS["v3.1"]
    builder = sf.RunBuilder(root, templates, version="v3.1")
    line = RNNT_LINE.format(wer=round(100 - accuracy, 3), acc=accuracy)
    for scenario in scenarios:
        builder.add_result(RNNT, scenario, benchmark=RNNT, accuracy_line=line, compliance=tests)
        perf_logs = {t: case_dir(builder, RNNT, scenario, t) / t / "performance" / "run_1" for t in tests}
        perf_logs["performance"] = case_dir(builder, RNNT, scenario, "performance")
        if scenario == "Offline":
            for folder in perf_logs.values():
                lf.set_detail_value(folder, "effective_samples_per_query", version.offline_min_samples_per_query)
        if "TEST05" in tests:
            for name, seed in version.test05_seeds.items():
                lf.set_detail_value(perf_logs["TEST05"], f"effective_{name}", seed)
        if "TEST01" in tests:
            # the accuracy script's output on TEST01's log, which the v3.1 checker wants there
            (case_dir(builder, RNNT, scenario, "TEST01") / "TEST01" / "accuracy" / "accuracy.txt").write_text(
                line + "\n")
    return builder.write()


def dlrm_run(root: Path, templates, model="dlrm-v2-99", *, auc=80.310) -> Path:
    builder = sf.RunBuilder(root, templates, version="v5.1")
    for scenario in ("Offline", "Server"):
        builder.add_result(model, scenario, benchmark=model, accuracy_line=DLRM_LINE.format(auc=auc),
                           compliance=("TEST01",))
    return builder.write()


@pytest.fixture(scope="module")
def sdxl_tree(tmp_path_factory, templates):
    base = tmp_path_factory.mktemp("sdxl")
    return build([sdxl_run(base / "run", templates)], base / "tree", base)


@pytest.fixture(scope="module")
def rnnt_tree(tmp_path_factory, templates):
    base = tmp_path_factory.mktemp("rnnt")
    return build([rnnt_run(base / "run", templates)], base / "tree", base)


# ---------------------------------------------------------------- which round, which category


@pytest.mark.parametrize("models, round_, category", [
    ({SDXL}, "v6.1", "edge"),  # v6.x has no datacenter row for SDXL
    ({RNNT}, "v3.1", "datacenter"),
    ({"dlrm-v2-99"}, "v5.1", "datacenter"),  # v6.0 dropped dlrm-v2
    ({"dlrm-v2-99.9"}, "v5.1", "datacenter"),
    ({SDXL, "dlrm-v2-99"}, "v5.1", "datacenter"),
])
def test_the_default_round_is_the_newest_that_has_the_benchmark(models, round_, category):
    version = newest_version_for(models)
    assert version.name == round_
    assert default_category(version, models) == category
    newer = NEWEST_FIRST[:NEWEST_FIRST.index(round_)]
    assert not any(all(VERSIONS[name].official_name(m) for m in models) for name in newer)


def test_rnnt_and_a_v6_benchmark_fit_no_single_round():
    with pytest.raises(VersionError, match=r"rnnt: v3\.1"):
        newest_version_for({RNNT, SDXL})


@pytest.mark.parametrize("round_, datacenter, edge, both", [
    ("v5.0", ("Server", "Offline"), ("SingleStream", "Offline"), ("SingleStream", "Offline", "Server")),
    ("v5.1", ("Server", "Offline"), ("SingleStream", "Offline"), ("SingleStream", "Offline", "Server")),
    ("v6.0", None, ("SingleStream", "Offline"), ("SingleStream", "Offline", "Server")),
])
def test_sdxl_scenarios_and_compliance_per_round(round_, datacenter, edge, both):
    version = VERSIONS[round_]
    assert version.required_scenarios(SDXL, "datacenter") == datacenter
    assert version.required_scenarios(SDXL, "edge") == edge
    assert version.required_scenarios(SDXL, "datacenter,edge") == both
    assert version.compliance_tests(SDXL) == ("TEST01", "TEST04")
    assert len(version.accuracy_images[SDXL]) == 10


def test_the_pictures_the_sdxl_scorer_saves_fit_every_rounds_tree():
    # a run on the real captions saves every round's ten (captions.SAMPLE_IDS)
    saved = {str(i) for i in SAMPLE_IDS}
    for round_ in ("v5.0", "v5.1", "v6.0", "v6.1"):
        assert set(VERSIONS[round_].accuracy_images[SDXL]) <= saved, round_
    assert set(VERSIONS["v5.1"].accuracy_images[SDXL]).isdisjoint(VERSIONS["v6.0"].accuracy_images[SDXL])


# ---------------------------------------------------------------- stable-diffusion-xl


def test_an_sdxl_tree_passes_the_check(sdxl_tree, capsys):
    assert sdxl_tree.report.problems == [], "\n".join(sdxl_tree.report.lines())
    assert (sdxl_tree.version.name, sdxl_tree.category) == ("v6.1", "edge")
    offline = result_dir(sdxl_tree.out, SDXL, "Offline")
    stems = sorted(p.stem for p in (offline / "accuracy" / "images").iterdir())
    assert stems == sorted(VERSIONS["v6.1"].accuracy_images[SDXL])
    for relative in ("TEST01/verify_accuracy.txt", "TEST04/verify_performance.txt", "measurements.json"):
        assert (offline / relative).is_file(), relative
    assert main(["--check", str(sdxl_tree.out)]) == 0
    assert "2 of 2 results submittable" in capsys.readouterr().out


@pytest.mark.parametrize("fid, clip, message", [
    (24.1, 31.7498, "FID_SCORE 24.1 > upper limit 23.9501"),
    (22.9, 31.7498, "FID_SCORE 22.9 < target 23.0109"),
    (23.4805, 31.9, "CLIP_SCORE 31.9 > upper limit 31.8133"),
    (23.4805, 31.6, "CLIP_SCORE 31.6 < target 31.6863"),
])
def test_sdxl_scores_outside_the_band_are_rejected(tmp_path, templates, fid, clip, message):
    result = build([sdxl_run(tmp_path / "run", templates, fid=fid, clip=clip)], tmp_path / "tree", tmp_path)
    for scenario in ("Offline", "SingleStream"):
        assert rules_of(result.report, f"{SYSTEM}/{SDXL}/{scenario}") == {"accuracy-target"}
    assert any(message in p.message for p in result.report.problems), "\n".join(result.report.lines())


def test_sdxl_band_edges_compare_as_the_checker():
    rules = BENCHMARKS[SDXL]
    # the targets are reached with >=, the upper limits broken only with >
    inside = [SDXL_LINE.format(fid=23.01085758, clip=31.81331801), "hash=ab"]
    assert accuracy_values(inside, rules)[1] == []
    outside = [SDXL_LINE.format(fid=23.95007627, clip=31.68631872), "hash=ab"]
    assert {m.split()[0] for _, m in accuracy_values(outside, rules)[1]} == {"FID_SCORE", "CLIP_SCORE"}
    # a quoted value (accuracy_coco.py's str) reads the same
    assert accuracy_values(["Accuracy Results: {'FID_SCORE': '23.5', 'CLIP_SCORE': '31.7'}"], rules)[0] == {
        "CLIP_SCORE": 31.7, "FID_SCORE": 23.5}


def test_an_sdxl_tree_missing_its_pictures_is_rejected(sdxl_tree, tmp_path):
    tree, originals = tampered(sdxl_tree, tmp_path)
    wanted = VERSIONS["v6.1"].accuracy_images[SDXL]
    (result_dir(tree, SDXL, "Offline") / "accuracy" / "images" / f"{wanted[3]}.png").unlink()
    shutil.rmtree(result_dir(tree, SDXL, "SingleStream") / "accuracy" / "images")
    report = check_tree(tree, originals=originals)
    assert rules_of(report, f"{SYSTEM}/{SDXL}/Offline") == {"accuracy-images"}
    assert rules_of(report, f"{SYSTEM}/{SDXL}/SingleStream") == {"accuracy-images"}
    offline = next(p.message for p in report.problems if p.scope.endswith("Offline"))
    assert f"lacks the pictures of qsl_idx {wanted[3]} " in offline
    assert main(["--check", str(tree), "--originals", str(originals)]) == 1


def test_the_pictures_the_scorer_saves_fit_v50_and_v61(tmp_path, templates):
    saved = (0, *SAMPLE_IDS)  # scorer.save_pictures: sample 0 and every round's ten
    v50 = build([sdxl_run(tmp_path / "r50", templates, version="v5.0", scenarios=("Offline", "Server"),
                          images=saved)], tmp_path / "t50", tmp_path, version="v5.0", category="datacenter")
    assert v50.report.problems == [], "\n".join(v50.report.lines())
    assert (tmp_path / "t50" / "closed" / "ACME" / "compliance" / SYSTEM / SDXL / "Server" / "TEST04").is_dir()
    v61 = build([sdxl_run(tmp_path / "r61", templates, images=saved)], tmp_path / "t61", tmp_path)
    assert v61.report.problems == [], "\n".join(v61.report.lines())
    # only v5.0's ten (what tools/sample_ids.txt lists) would not do for v6.1
    v50_only = build([sdxl_run(tmp_path / "r61b", templates, images=(0, *SAMPLE_IDS[:10]))], tmp_path / "t61b",
                     tmp_path)
    assert rules_of(v50_only.report, f"{SYSTEM}/{SDXL}/Offline") == {"accuracy-images"}
    assert ", ".join(VERSIONS["v6.1"].accuracy_images[SDXL]) in v50_only.report.problems[0].message


def test_sdxl_needs_test04_and_a_datacenter_row(sdxl_tree, tmp_path, templates):
    tree, originals = tampered(sdxl_tree, tmp_path)
    shutil.rmtree(result_dir(tree, SDXL, "SingleStream") / "TEST04")
    assert rules_of(check_tree(tree, originals=originals), f"{SYSTEM}/{SDXL}/SingleStream") == {"compliance-TEST04"}
    # v6.x has no datacenter row for SDXL: a datacenter system cannot submit it
    run = sdxl_run(tmp_path / "dc", templates, scenarios=("Offline", "Server"))
    result = build([run], tmp_path / "dc-tree", tmp_path, category="datacenter")
    assert "scenarios" in rules_of(result.report, f"{SYSTEM}/{SDXL}/Offline")


@pytest.mark.parametrize("baseline_fid, baseline_clip, passes", [
    (23.8, 31.75, True),    # FID 1.4% off: within its 2%
    (24.0, 31.75, False),   # FID 2.2% off
    (23.48, 32.10, False),  # CLIP 1.1% off: beyond its 1%
])
def test_sdxl_test01_fallback_allows_each_metric_its_own_delta(sdxl_tree, tmp_path, baseline_fid, baseline_clip,
                                                               passes):
    tree, originals = tampered(sdxl_tree, tmp_path)
    test01 = result_dir(tree, SDXL, "Offline") / "TEST01"
    (test01 / "verify_accuracy.txt").write_text("num_perf_log_data_mismatch = 2\nTEST FAIL\n")
    compliance = SDXL_LINE.format(fid=23.48, clip=31.75) + "\n"
    (test01 / "accuracy" / "compliance_accuracy.txt").write_text(compliance)
    (test01 / "accuracy" / "accuracy.txt").write_text(compliance)
    (test01 / "accuracy" / "baseline_accuracy.txt").write_text(
        SDXL_LINE.format(fid=baseline_fid, clip=baseline_clip) + "\n")
    found = rules_of(check_tree(tree, originals=originals), f"{SYSTEM}/{SDXL}/Offline")
    assert found == (set() if passes else {"compliance-TEST01"})


# ---------------------------------------------------------------- rnnt (v3.1)


def test_an_rnnt_tree_is_a_v31_tree_that_passes(rnnt_tree):
    assert rnnt_tree.report.problems == [], "\n".join(rnnt_tree.report.lines())
    assert (rnnt_tree.version.name, rnnt_tree.category) == ("v3.1", "datacenter")
    base = rnnt_tree.out / "closed" / "ACME"
    measurements = base / "measurements" / SYSTEM / RNNT / "Offline"
    for name in ("mlperf.conf", "user.conf", "README.md", f"{SYSTEM}_onnxruntime-cpu-fp32_Offline.json"):
        assert (measurements / name).is_file(), name
    assert (base / "code" / RNNT / "onnxruntime-cpu-fp32" / "README.md").is_file()
    for test in ("TEST01/accuracy/accuracy.txt", "TEST05/verify_performance.txt"):
        assert (compliance_dir(rnnt_tree.out, RNNT, "Server") / test).is_file(), test
    description = (base / "systems" / f"{SYSTEM}.json").read_text()
    assert '"host_networking_card_count"' in description and '"host_network_card_count"' not in description
    # the round is found again from the layout and the logged seeds
    assert infer_version(rnnt_tree.out) is VERSIONS["v3.1"]
    assert check_tree(rnnt_tree.out, originals=rnnt_tree.originals).problems == []


def test_v31_mlperf_conf_holds_the_built_in_values_user_conf_records():
    user_conf = render_user_conf(RNNT, "Offline", {}, {"min_duration": 600000,
                                                        "performance_sample_count_override": 2513})
    lines = mlperf_conf_text(user_conf, "6.0.17").splitlines()
    assert lines[-2:] == ["rnnt.Offline.min_duration = 600000", "rnnt.Offline.performance_sample_count_override = 2513"]
    assert all(line.startswith("#") for line in lines[:-2])


def test_rnnt_accuracy_below_target_is_rejected(tmp_path, templates):
    run = rnnt_run(tmp_path / "run", templates, accuracy=91.5)
    result = build([run], tmp_path / "tree", tmp_path, version="v3.1")
    for scenario in ("Offline", "Server"):
        assert rules_of(result.report, f"{SYSTEM}/{RNNT}/{scenario}") == {"accuracy-target"}
    assert any("ACCURACY 91.5 < target 91.6225" in p.message for p in result.report.problems)


@pytest.mark.parametrize("family, gone, kept", [
    (RNNT, "Server", "Offline"),
    (SDXL, "SingleStream", "Offline"),
])
def test_a_missing_required_scenario_is_rejected(rnnt_tree, sdxl_tree, tmp_path, family, gone, kept):
    built = rnnt_tree if family == RNNT else sdxl_tree
    tree, originals = tampered(built, tmp_path)
    shutil.rmtree(result_dir(tree, family, gone))
    report = check_tree(tree, originals=originals)
    assert rules_of(report, f"{SYSTEM}/{family}/{kept}") == {"required-scenarios"}
    assert any(f"missing {gone}" in p.message for p in report.problems)


def _offline_spq(tree: Path, value: int) -> None:
    lf.set_detail_value(result_dir(tree, RNNT, "Offline") / "performance" / "run_1", "effective_samples_per_query",
                        value)


def _normal_seeds_in_test05(tree: Path) -> None:
    folder = compliance_dir(tree, RNNT, "Server") / "TEST05" / "performance" / "run_1"
    for name, seed in VERSIONS["v3.1"].seeds.items():
        lf.set_detail_value(folder, f"effective_{name}", seed)


@pytest.mark.parametrize("edit, scope, rule, words", [
    # OFFLINE_MIN_SPQ_SINCE_V4's 2513 is not v3.1's rule: every Offline run needs 24576
    (lambda t: _offline_spq(t, 2513), "Offline", "samples-per-query", "2513 < 24576"),
    (_normal_seeds_in_test05, "Server", "compliance-TEST05", "[seeds]"),
    (lambda t: shutil.rmtree(compliance_dir(t, RNNT, "Server") / "TEST05"), "Server", "compliance-TEST05",
     "TEST05 result missing"),
    (lambda t: (compliance_dir(t, RNNT, "Offline") / "TEST01" / "accuracy" / "accuracy.txt").unlink(), "Offline",
     "compliance-TEST01", "accuracy.txt"),
    (lambda t: (t / "closed/ACME/measurements" / SYSTEM / RNNT / "Server" / "mlperf.conf").unlink(), "Server",
     "measurements", "mlperf.conf"),
    (lambda t: shutil.rmtree(t / "closed/ACME/code" / RNNT), "Offline", "code-dir", "code/<benchmark>/"),
], ids=["offline-2513", "test05-seeds", "test05-missing", "test01-no-accuracy-txt", "no-mlperf-conf", "no-code-dir"])
def test_v31_rules_reject_a_tampered_rnnt_tree(rnnt_tree, tmp_path, edit, scope, rule, words):
    tree, originals = tampered(rnnt_tree, tmp_path)
    edit(tree)
    report = check_tree(tree, originals=originals)
    assert rules_of(report, f"{SYSTEM}/{RNNT}/{scope}") == {rule}, "\n".join(report.lines())
    assert any(words in p.message for p in report.problems if p.rule == rule)


def test_a_v31_tree_with_an_empty_folder_is_rejected_whole(rnnt_tree, tmp_path):
    tree, originals = tampered(rnnt_tree, tmp_path)
    (tree / "closed" / "ACME" / "documentation" / "drafts").mkdir()
    report = check_tree(tree, originals=originals)
    assert {(p.scope, p.rule) for p in report.problems} == {("submission", "v3-tree")}
    assert not report.submittable(f"{SYSTEM}/{RNNT}/Offline")


def test_rnnt_is_no_benchmark_of_a_later_round(tmp_path, templates):
    run = rnnt_run(tmp_path / "run", templates)
    result = build([run], tmp_path / "tree", tmp_path, version="v5.1", category="datacenter")
    assert rules_of(result.report, f"{SYSTEM}/{RNNT}/Offline") >= {"benchmark"}
    assert not result.report.submittable(f"{SYSTEM}/{RNNT}/Offline")


# ---------------------------------------------------------------- dlrm-v2 (v5.1)


def test_a_dlrm_tree_passes_in_v51(tmp_path, templates):
    result = build([dlrm_run(tmp_path / "run", templates)], tmp_path / "tree", tmp_path)
    assert result.report.problems == [], "\n".join(result.report.lines())
    assert (result.version.name, result.category) == ("v5.1", "datacenter")
    compliance = compliance_dir(tmp_path / "tree", "dlrm-v2-99", "Server")
    assert (compliance / "TEST01" / "verify_accuracy.txt").is_file() and not (compliance / "TEST04").exists()
    assert VERSIONS["v6.0"].official_name("dlrm-v2-99") is None


def test_dlrm_99_9_needs_the_higher_auc(tmp_path, templates):
    # AUC 80.0 reaches 79.5069 (99%) but not 80.22969 (99.9%)
    run = dlrm_run(tmp_path / "run", templates, "dlrm-v2-99.9", auc=80.0)
    result = build([run], tmp_path / "tree", tmp_path)
    assert rules_of(result.report, f"{SYSTEM}/dlrm-v2-99.9/Offline") == {"accuracy-target"}
    assert any("AUC 80 < target 80.2297" in p.message for p in result.report.problems)
    passing = build([dlrm_run(tmp_path / "run99", templates, auc=80.0)], tmp_path / "tree99", tmp_path)
    assert passing.report.problems == [], "\n".join(passing.report.lines())
