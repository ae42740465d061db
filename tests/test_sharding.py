"""--mlperf-shard and ci-matrix: every selected case in exactly one shard, balanced, the same everywhere."""
from __future__ import annotations

import json
import random
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import ci_matrix
from harness.matrix import Case, build_cases
from harness.sharding import ShardError, assign, audit_groups, parse_shard, read_durations, shard_cases, weights

ROOT = Path(__file__).resolve().parents[1]

case_ids = st.lists(st.text(alphabet="abcdefgh-0123", min_size=1, max_size=12), unique=True, max_size=60)
seconds = st.floats(min_value=0.0, max_value=3600.0, allow_nan=False, allow_infinity=False)


def _loads(shards: list[list[str]], cost: dict[str, float]) -> list[float]:
    return [sum(cost[i] for i in shard) for shard in shards]


# ---------------------------------------------------------------- the split itself

@settings(max_examples=200, deadline=None)
@given(ids=case_ids, count=st.integers(1, 5), data=st.data())
def test_every_case_is_in_exactly_one_shard_by_count_and_by_durations(ids, count, data):
    known = data.draw(st.lists(st.sampled_from(ids), unique=True) if ids else st.just([]))
    durations = data.draw(st.one_of(st.none(), st.fixed_dictionaries({i: seconds for i in known})))
    shards = assign(ids, count, durations)
    assert len(shards) == count
    flat = [case_id for shard in shards for case_id in shard]
    assert sorted(flat) == sorted(ids)  # union is the selection, and no id twice (empty intersections)
    assert all(shard == sorted(shard) for shard in shards)
    # the order the ids arrive in (each xdist worker's collection) changes nothing
    shuffled = list(ids)
    random.Random(count).shuffle(shuffled)
    assert assign(shuffled, count, durations) == shards


@settings(max_examples=200, deadline=None)
@given(ids=case_ids.filter(bool), count=st.integers(1, 5), data=st.data())
def test_by_durations_the_longest_shard_is_within_one_case_of_the_ideal(ids, count, data):
    durations = data.draw(st.fixed_dictionaries({i: seconds for i in ids}))
    loads = _loads(assign(ids, count, durations), durations)
    ideal = sum(durations.values()) / count
    # greedy packing onto the least-loaded shard: over the ideal by at most the longest case
    assert max(loads) <= ideal + max(durations.values()) + 1e-6


@settings(max_examples=100, deadline=None)
@given(ids=case_ids, count=st.integers(1, 5))
def test_by_count_the_shards_differ_by_at_most_one_case(ids, count):
    sizes = [len(shard) for shard in assign(ids, count)]
    assert max(sizes) - min(sizes) <= 1


def test_by_durations_a_long_case_gets_a_shard_to_itself():
    durations = {"long": 10.0, **{f"short{i}": 1.0 for i in range(9)}}
    shards = assign(durations, 2, durations)
    # nothing can beat the longest case's 10 s: the packing reaches it
    assert sorted(_loads(shards, durations)) == [9.0, 10.0] and ["long"] in shards
    # by count the same ids split 5/5, one shard taking 14 s
    assert max(_loads(assign(durations, 2), durations)) == 14.0


def test_ties_are_broken_by_case_id():
    assert assign(["c", "a", "b", "d"], 2) == [["a", "c"], ["b", "d"]]
    assert assign(["x", "y"], 2, {"x": 5.0, "y": 5.0}) == [["x"], ["y"]]


def test_a_case_the_durations_file_lacks_gets_its_median():
    durations = {"a": 10.0, "b": 1.0, "c": 3.0}
    assert weights(["a", "b", "c", "new"], durations) == {"a": 10.0, "b": 1.0, "c": 3.0, "new": 3.0}
    # the new case weighs 3 s: with "a" (10 s) alone in one shard it joins b and c
    assert assign(["a", "b", "c", "new"], 2, durations) == [["a"], ["b", "c", "new"]]
    # a file without any duration balances by count
    assert weights(["a", "b"], {}) == {"a": 1.0, "b": 1.0}


def test_free_cases_even_out_the_counts_and_groups_stay_together():
    shards = assign(["a", "b", "c", "s1", "s2", "s3", "s4", "s5"], 2, zero=["s1", "s2", "s3", "s4", "s5"])
    assert sorted(len(shard) for shard in shards) == [4, 4]
    grouped = assign(["a", "b", "c", "d"], 2, groups={"a": "g", "d": "g"})
    assert any({"a", "d"} <= set(shard) for shard in grouped)


def test_an_audit_shares_its_shard_with_its_case_s_runs():
    cases = build_cases({"model": ["resnet50"], "backend": ["onnxruntime"], "device": ["cpu"],
                         "precision": ["fp32", "fp16"], "scenario": ["Offline", "SingleStream"],
                         "mode": ["accuracy", "performance", "TEST01"]})
    groups = audit_groups(cases)
    base = "resnet50-onnxruntime-cpu-fp32-Offline"
    assert {i for i, g in groups.items() if g == base} == {f"{base}-accuracy", f"{base}-performance", f"{base}-TEST01"}
    for count in (2, 3, 4):
        shards = shard_cases(cases, count)
        for shard in shards:
            audits = [i for i in shard if i.endswith("-TEST01")]
            assert all(a.replace("-TEST01", "-accuracy") in shard and a.replace("-TEST01", "-performance") in shard
                       for a in audits)
        assert sorted(i for s in shards for i in s) == sorted(c.id for c in cases)


def test_unsupported_cases_cost_nothing():
    supported = [Case("m", "b", "cpu", "fp32", "Offline", mode) for mode in ("accuracy", "performance")]
    skipped = [Case("m", "b", "tpu", "fp32", "Offline", mode, unsupported="no TPU")
               for mode in ("accuracy", "performance")]
    shards = shard_cases(supported + skipped, 2, {c.id: 10.0 for c in supported})
    # each shard runs one real case and skips one: by durations neither skip counts as 10 s
    assert sorted(sum(i.startswith("m-b-cpu") for i in shard) for shard in shards) == [1, 1]


# ---------------------------------------------------------------- bad values

@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "", "1/0", "-1/3", "1.5/3", "1/3/4", "/3"])
def test_a_bad_shard_is_refused_saying_what_is_expected(text):
    with pytest.raises(ShardError, match=r"shard|I/N"):
        parse_shard(text)


def test_good_shards_parse():
    assert parse_shard("1/1") == (1, 1)
    assert parse_shard(" 2 / 3 ") == (2, 3)
    with pytest.raises(ShardError, match="shard count"):
        assign(["a"], 0)


@pytest.mark.parametrize("content, message", [
    ("{", "invalid JSON at line 1"),
    ("[]", "field 'cases': expected a list"),
    ('{"cases": [{"duration_s": 1}]}', r"cases\[0\]\.id: expected the case's id string"),
    ('{"cases": [{"id": "x", "duration_s": "1"}]}', r"cases\[0\] \(id 'x'\)\.duration_s: expected a number"),
    ('{"cases": [{"id": "x", "duration_s": -1}]}', "expected a number of seconds >= 0"),
    ('{"cases": [{"id": "x", "duration_s": true}]}', "expected a number of seconds >= 0"),
])
def test_a_malformed_durations_file_is_refused_naming_file_and_field(tmp_path, content, message):
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(ShardError, match=message) as raised:
        read_durations(path)
    assert str(path) in str(raised.value)


def test_durations_of_skipped_cases_are_left_to_the_median(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"cases": [{"id": "a", "duration_s": 2.5, "outcome": "passed"},
                                          {"id": "b", "duration_s": None, "outcome": "skipped"}]}))
    assert read_durations(path) == {"a": 2.5}
    with pytest.raises(ShardError, match="cannot read the durations file"):
        read_durations(tmp_path / "missing.json")


# ---------------------------------------------------------------- ci-matrix

SELECTION = ["--model", "resnet50", "--backend", "onnxruntime", "--scenario", "Offline,SingleStream",
             "--mode", "accuracy"]


def _ci_matrix(capsys, *argv) -> tuple[int, dict | None, str]:
    capsys.readouterr()  # what was printed before (pytester's "running: ..." lines) is not the matrix
    try:
        code = ci_matrix.main(list(argv))
    except SystemExit as exc:  # argparse's own refusals (a --shards that is no number)
        code = exc.code
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_ci_matrix_lists_each_shard_with_its_cases_and_pytest_arguments(capsys):
    code, document, _ = _ci_matrix(capsys, "--shards", "3", *SELECTION)
    assert code == 0
    entries = document["include"]
    assert [e["shard"] for e in entries] == ["1/3", "2/3", "3/3"]
    selected = build_cases({"model": ["resnet50"], "backend": ["onnxruntime"], "scenario": ["Offline", "SingleStream"],
                            "mode": ["accuracy"]})
    assert sum(e["cases"] for e in entries) == len(selected) == 32
    assert all(e["expected_s"] is None for e in entries)  # by count: no time to expect
    for number, entry in enumerate(entries, start=1):
        assert shlex.split(entry["pytest_args"]) == [
            "--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-scenario",
            "Offline,SingleStream", "--mlperf-mode", "accuracy", "--mlperf-shard", f"{number}/3"]


def test_ci_matrix_prints_one_line_for_github_output():
    result = subprocess.run([sys.executable, "-m", "harness", "ci-matrix", "--shards", "2", *SELECTION],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and len(json.loads(result.stdout)["include"]) == 2


def test_ci_matrix_expects_the_durations_file_s_seconds(capsys, tmp_path):
    selected = build_cases({"model": ["resnet50"], "backend": ["onnxruntime"], "device": ["cpu"],
                            "precision": ["fp32", "fp16"], "scenario": ["Offline"], "mode": ["accuracy"]})
    durations = {selected[0].id: 30.0, selected[1].id: 10.0}
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"cases": [{"id": i, "duration_s": s} for i, s in durations.items()]}))
    code, document, _ = _ci_matrix(capsys, "--shards", "2", "--model", "resnet50", "--backend", "onnxruntime",
                                   "--device", "cpu", "--precision", "fp32,fp16", "--scenario", "Offline",
                                   "--mode", "accuracy", "--durations", str(path))
    assert code == 0
    assert sorted(e["expected_s"] for e in document["include"]) == [10.0, 30.0]
    assert all(f"--mlperf-shard-durations {path}" in e["pytest_args"] for e in document["include"])


@pytest.mark.parametrize("argv, message", [
    (["--shards", "0"], "--shards 0: expected a whole number >= 1"),
    (["--shards", "two"], "invalid int value"),
    (["--model", "nope"], "unknown model 'nope'; valid model values"),
    (["--scenario", "Offline,"], "--scenario 'Offline,': empty value"),
    (["--durations", "missing.json"], "missing.json: cannot read the durations file"),
    (["--shards", "2", "--model", "resnet50", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32",
      "--scenario", "Offline", "--mode", "accuracy"], "1 of 2 shards have no case"),
])
def test_ci_matrix_refuses_bad_input_with_exit_2(capsys, argv, message):
    code, _, err = _ci_matrix(capsys, *argv)
    assert code == 2
    assert message in err


# ---------------------------------------------------------------- a real pytest session

PLAIN_TEST = "def test_plain():\n    assert True\n"


def _collected(result) -> list[str]:
    return [line.split("[", 1)[1].rstrip("]") for line in result.outlines if "test_mlperf[" in line]


def _collect(suite, *args):
    return suite.runpytest_subprocess("--collect-only", "-q", "--mlperf-cache", str(suite.path / "cache"), *args)


def test_each_shard_collects_its_part_and_together_the_unsharded_set(suite, capsys):
    suite.makepyfile(test_plain=PLAIN_TEST)
    whole = _collect(suite, *(f"--mlperf-{w[2:]}" if w.startswith("--") else w for w in SELECTION))
    assert whole.ret == 0
    unsharded = _collected(whole)
    assert len(unsharded) == 32 and any("test_plain" in line for line in whole.outlines)
    code, document, _ = _ci_matrix(capsys, "--shards", "3", *SELECTION)
    assert code == 0
    seen: list[str] = []
    for entry in document["include"]:
        result = _collect(suite, *shlex.split(entry["pytest_args"]))
        assert result.ret == 0
        mine = _collected(result)
        assert len(mine) == entry["cases"] > 0  # what ci-matrix promised is what the job collects
        # the suite's other tests run once, in shard 1
        assert any("test_plain" in line for line in result.outlines) == (entry["shard"] == "1/3")
        result.stdout.fnmatch_lines([f"mlperf: shard {entry['shard']}: {len(mine)} of 32 MLPerf cases, "
                                     "balanced by case count",
                                     f"{len(mine) + (entry['shard'] == '1/3')}/33 tests collected "
                                     f"({33 - len(mine) - (entry['shard'] == '1/3')} deselected)*"])
        seen += mine
    assert sorted(seen) == sorted(unsharded) and len(seen) == len(set(seen))


def test_shards_split_what_minus_k_left_and_balance_by_durations(suite, tmp_path):
    base = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-scenario", "Offline",
            "--mlperf-mode", "accuracy,performance")
    unsharded = _collected(_collect(suite, *base, "-k", "cpu or cuda"))
    assert len(unsharded) == 16
    durations = tmp_path / "results.json"
    # one case took far longer than the rest: no other case that runs shares its shard
    slow = "resnet50-onnxruntime-cpu-fp32-Offline-performance"
    durations.write_text(json.dumps({"cases": [{"id": i, "duration_s": 100.0 if i == slow else 1.0}
                                               for i in unsharded]}))
    shards = []
    for index in (1, 2):
        result = _collect(suite, *base, "-k", "cpu or cuda", "--mlperf-shard", f"{index}/2",
                          "--mlperf-shard-durations", str(durations))
        assert result.ret == 0
        shards.append(_collected(result))
    assert sorted(shards[0] + shards[1]) == sorted(unsharded) and not set(shards[0]) & set(shards[1])
    # the slow case's shard holds nothing else that runs, only cases the registry skips (ONNX Runtime has no bf16)
    skips = {c.id for c in build_cases({"model": ["resnet50"], "backend": ["onnxruntime"]}) if c.unsupported}
    slow_shard = next(shard for shard in shards if slow in shard)
    assert set(slow_shard) - {slow} <= skips and len(slow_shard) > 1


# every refusal's wording is checked above (parse_shard, read_durations); here, that the session refuses first
@pytest.mark.parametrize("args, message", [
    (("--mlperf-shard", "4/3"), "--mlperf-shard '4/3': the shard number I must be between 1 and N=3*"),
    (("--mlperf-shard", "1/2", "--mlperf-shard-durations", "bad.json"),
     "--mlperf-shard-durations */bad.json: not a results.json (invalid JSON*"),
    (("--mlperf-shard-durations", "bad.json"), "--mlperf-shard-durations balances the shards of --mlperf-shard*"),
    (("--mlperf-shard", "1/2", "--mlperf-gate", "gate.toml"),
     "--mlperf-shard with --mlperf-gate: *run the gate unsharded"),
])
def test_bad_shard_options_are_usage_errors_before_collection(suite, args, message):
    (suite.path / "bad.json").write_text("{not json")
    (suite.path / "gate.toml").write_text('[[case]]\nid = "resnet50-onnxruntime-cpu-fp32-Offline-accuracy"\n'
                                          'metric = "accuracy"\nmin = 90\n')
    selection = () if "--mlperf-gate" in args else ("--mlperf-model", "resnet50")  # a gate names its own cases
    result = _collect(suite, *selection, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert not _collected(result)


def test_xdist_workers_agree_on_the_shard(suite):
    # The workers collect on their own; xdist stops the session if their collections differ.
    pytest.importorskip("xdist", reason="the xdist check needs pytest-xdist")
    out = suite.path / "out"
    args = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-device", "tpu",
            "--mlperf-scenario", "Offline,SingleStream", "--mlperf-precision", "fp32,int8", "--mlperf-mode", "accuracy")
    expected = shard_cases(build_cases({"model": ["resnet50"], "backend": ["onnxruntime"], "device": ["tpu"],
                                        "scenario": ["Offline", "SingleStream"], "precision": ["fp32", "int8"],
                                        "mode": ["accuracy"]}), 2)[0]
    result = suite.runpytest_subprocess("-n", "2", "--mlperf-cache", str(suite.path / "cache"),
                                        "--mlperf-output", str(out), *args, "--mlperf-shard", "1/2")
    assert result.ret == 0
    result.assert_outcomes(skipped=len(expected))  # TPU cases: skipped, with the registry's reason
    assert len(expected) == 2
    assert sorted(c["id"] for c in json.loads((out / "results.json").read_text())["cases"]) == sorted(expected)
