"""Submissions from runs whose inference ran on SUT servers over the network.

The runs are the synthetic RUN_DIRs of tests/submission_fixtures.py (genuine LoadGen
logs), with what a run through backends/remote.py records: each case's
``settings.sut_servers`` and a remote backend block. MLPerf's rules for such a system
(network mode: ``is_network``, its 13 fields, the "Network SUT" name, the network
division) are summarised in harness/submission/network.py.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.submission import build_submission, check_tree
from harness.submission.cli import main
from harness.submission.inputs import SubmissionInputError
from harness.submission.network import FIELDS, SUT_NAME_SUBSTRING, check_network
from harness.submission.system_desc import is_placeholder

try:
    from . import logfixtures as lf
    from . import submission_fixtures as sf
except ImportError:
    import logfixtures as lf
    import submission_fixtures as sf

SYSTEM = "lan1"
SCENARIOS = ("Offline", "Server")  # resnet, datacenter: the network division's only suite
VERSION = "v5.0"  # a round with resnet in the datacenter suite (v6.x dropped it)
# two servers on two machines, as backends/remote.py describes them
SERVERS = [
    {"url": "http://10.0.0.7:8500", "host": "10.0.0.7", "hostname": "sut-a", "backend": "onnxruntime",
     "device": "cpu", "precision": "fp32", "alive": True, "failure": None},
    {"url": "http://10.0.0.8:8500", "host": "10.0.0.8", "hostname": "sut-b", "backend": "onnxruntime",
     "device": "cpu", "precision": "fp32", "alive": True, "failure": None},
]
NETWORK_NAME = f"mlperf-pytest resnet50 onnxruntime ({SUT_NAME_SUBSTRING})"
# what the submitter writes for the fields a run cannot know (--system-json)
NETWORK_ANSWERS = {
    "network_type": "Ethernet", "network_media": "Copper", "network_rate": "10Gb",
    "nic_loadgen": "Intel X710", "number_nic_loadgen": "1", "net_software_stack_loadgen": "Linux TCP/IP, urllib3",
    "number_connections": "8", "nic_sut": "Intel X710", "number_nic_sut": "1",
    "net_software_stack_sut": "Linux TCP/IP, aiohttp", "network_topology": "LoadGen <-> [switch] <-> 2 SUT nodes",
    "host_networking": "1x 10GbE", "host_network_card_count": "1", "host_networking_topology": "switched Ethernet",
    "operating_system": "Ubuntu 24.04", "other_software_stack": "Python 3.11, onnxruntime 1.32.0",
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    return sf.loadgen_templates(tmp_path_factory.getbasetemp() / "network-loadgen")


def network_run(root: Path, templates, *, sut_name: str | None = NETWORK_NAME, servers=SERVERS) -> Path:
    """A valid run whose every case ran on ``servers``; every detail log (performance,
    accuracy, the compliance tests' runs) logs ``sut_name`` (None: LoadGen's PySUT)."""
    builder = sf.RunBuilder(root, templates, version=VERSION)
    for scenario in SCENARIOS:
        builder.add_result("resnet50", scenario)
    for record in builder.cases:
        record["settings"]["backend"] = {"backend": "remote", "served_backend": "onnxruntime",
                                         "framework_version": "1.32.0"}
        record["settings"]["sut_servers"] = [dict(s) for s in servers]
    if sut_name is not None:
        for detail in root.rglob("mlperf_log_detail.txt"):
            lf.set_detail_value(detail.parent, "sut_name", sut_name)
    return builder.write()


def answers(tmp_path: Path, **extra) -> Path:
    path = tmp_path / "system-fields.json"
    path.write_text(json.dumps({**sf.FILLED_SYSTEM_FIELDS, **NETWORK_ANSWERS, **extra}))
    return path


def build(runs, out: Path, system_json: Path | None, division="network", **kwargs):
    kwargs.setdefault("version", VERSION)
    return build_submission(list(runs), out, submitter="ACME", system=SYSTEM, division=division,
                            system_json=system_json, **kwargs)


def description_of(tree: Path, division="network") -> dict:
    return json.loads((tree / division / "ACME" / "systems" / f"{SYSTEM}.json").read_text())


@pytest.fixture(scope="module")
def network_tree(tmp_path_factory, templates):
    base = tmp_path_factory.mktemp("network")
    return build([network_run(base / "run", templates)], base / "tree", answers(base))


def copied(result, tmp_path: Path) -> tuple[Path, Path]:
    tree, originals = tmp_path / "tree", tmp_path / "tree.originals"
    shutil.copytree(result.out, tree)
    shutil.copytree(result.originals, originals)
    return tree, originals


# ---------------------------------------------------------------- a network-mode tree


def test_runs_on_sut_servers_make_a_network_mode_tree_that_passes(network_tree, capsys):
    report = network_tree.report
    assert report.problems == [], "\n".join(report.lines())
    assert sorted(report.results) == [f"{SYSTEM}/resnet/{s}" for s in SCENARIOS]
    assert network_tree.category == "datacenter" and network_tree.placeholders == []
    description = description_of(network_tree.out)
    assert set(FIELDS) <= set(description)
    assert description["is_network"] == "True"  # a string: the checker lowercases it
    assert description["network_protocol"] == "HTTP/1.1 over TCP/IPv4"
    assert description["number_of_nodes"] == 2  # sut-a and sut-b, not the LoadGen host
    assert description["division"] == "network" and description["framework"] == "onnxruntime 1.32.0"
    readme = network_tree.out / "network" / "ACME" / "measurements" / SYSTEM / "resnet" / "Server" / "README.md"
    assert "--mlperf-sut-url http://10.0.0.7:8500,http://10.0.0.8:8500" in readme.read_text()
    # the same tree checked on its own, as --check does
    assert check_tree(network_tree.out, originals=network_tree.originals).problems == []
    assert main(["--check", str(network_tree.out)]) == 0
    assert "2 of 2 results submittable" in capsys.readouterr().out


def test_what_a_run_cannot_know_is_a_placeholder_naming_the_hosts(tmp_path, templates):
    run = network_run(tmp_path / "run", templates)
    result = build([run], tmp_path / "tree", sf.filled_system_json(tmp_path / "fields.json"))
    description = description_of(result.out)
    unknown = set(FIELDS) - {"is_network", "network_protocol"}
    assert unknown <= set(result.placeholders)
    assert "sut-a" in description["nic_sut"] and "10.0.0.8:8500" in description["network_topology"]
    # the runs ran on this host, but it was only the LoadGen host: no /proc facts as the SUT's
    bare = build([run], tmp_path / "bare", None)
    hardware = description_of(bare.out)
    for key in ("host_processor_model_name", "host_memory_capacity", "operating_system", "other_software_stack",
                "host_networking"):
        assert is_placeholder(hardware[key]), key
    messages = [p.message for p in result.report.problems if p.scope == SYSTEM]
    for key in unknown:
        assert any(m.startswith(f"{SYSTEM}.json: field {key} is still a placeholder") for m in messages), key


@pytest.mark.parametrize("field", FIELDS)
def test_a_network_description_missing_a_field_fails_naming_it(network_tree, tmp_path, field):
    tree, originals = copied(network_tree, tmp_path)
    path = tree / "network" / "ACME" / "systems" / f"{SYSTEM}.json"
    data = json.loads(path.read_text())
    del data[field]
    path.write_text(json.dumps(data))
    report = check_tree(tree, originals=originals)
    messages = [p.message for p in report.problems if p.scope == SYSTEM]
    if field == "is_network":  # without the flag the system is not network mode, which the division needs
        assert messages == [f"{SYSTEM}.json: is_network reads as False, but the network division needs True (the "
                            "runs' inference must have gone over the network to SUT servers)"]
    else:
        assert messages == [f"{SYSTEM}.json: field {field} is missing (network mode needs it)"]
    assert not report.submittable(f"{SYSTEM}/resnet/Offline")


def test_performance_logs_without_the_network_sut_name_fail(tmp_path, templates):
    run = network_run(tmp_path / "run", templates, sut_name=None)  # LoadGen's ConstructSUT logs "PySUT"
    result = build([run], tmp_path / "tree", answers(tmp_path))
    problems = [p for p in result.report.problems if p.rule == "sut-name"]
    assert {p.scope for p in problems} == {f"{SYSTEM}/resnet/{s}" for s in SCENARIOS}
    assert all("'PySUT'" in p.message and "Network SUT" in p.message for p in problems)
    # the compliance tests' performance runs are held to it too
    compliance = [p.message for p in result.report.problems if p.rule == "compliance-TEST01"]
    assert any("[sut-name]" in m for m in compliance)


def test_the_flag_is_read_as_the_checker_reads_it():
    base = {"system_type": "datacenter"}
    filled = {key: "x" for key in FIELDS}
    assert check_network({**base, **filled, "is_network": "true"}, division="network") == []
    # a JSON boolean: the checker's .lower() fails on it
    rules = check_network({**base, **filled, "is_network": True}, division="network")
    assert ("system-description", "is_network is True (bool); the checker calls .lower() on it and needs a "
                                  "string, \"True\" or \"False\"") in rules
    assert any(rule == "network-mode" for rule, _ in rules)  # and it does not read as network mode
    # closed must not be network mode; network must be; open may be either
    assert [r for r, _ in check_network({**base, **filled, "is_network": "True"}, division="closed")] == [
        "network-mode"]
    assert [r for r, _ in check_network(base, division="network")] == ["network-mode"]
    assert check_network({**base, **filled, "is_network": "True"}, division="open") == []
    assert check_network(base, division="open") == []
    # the package checker asks for the fields for any non-empty value, even "False"; v3.1's only for "true"
    assert len(check_network({**base, "is_network": "False"}, division="open")) == len(FIELDS) - 1
    assert check_network({**base, "is_network": "False"}, division="open", truthy_flag_requires_fields=False) == []
    assert [r for r, _ in check_network({**filled, "is_network": "True", "system_type": "edge"},
                                        division="network")] == ["network-division"]


# ---------------------------------------------------------------- divisions the runs cannot be in


def test_network_runs_are_refused_for_the_closed_division(tmp_path, templates):
    run = network_run(tmp_path / "run", templates)
    with pytest.raises(SubmissionInputError, match="closed division forbids network mode.*--division network"):
        build([run], tmp_path / "tree", answers(tmp_path), division="closed")
    assert not (tmp_path / "tree").exists()
    code = main(["--from", str(run), "--out", str(tmp_path / "cli"), "--submitter", "ACME", "--system", SYSTEM,
                 "--division", "closed"])
    assert code == 2 and not (tmp_path / "cli").exists()
    with pytest.raises(SubmissionInputError, match="datacenter suite only"):
        build([run], tmp_path / "tree", answers(tmp_path), category="edge")


def test_local_runs_are_refused_for_the_network_division_and_mixed_runs_always(tmp_path, templates):
    local = tmp_path / "local"
    builder = sf.RunBuilder(local, templates, version=VERSION)
    for scenario in SCENARIOS:
        builder.add_result("resnet50", scenario)
    builder.write()
    with pytest.raises(SubmissionInputError, match="--division network: the runs' inference ran where LoadGen"):
        build([local], tmp_path / "tree", answers(tmp_path))
    remote = network_run(tmp_path / "remote", templates)
    # Offline ran on the SUT servers, Server here (log_dir paths are absolute: each log stays put)
    mixed = tmp_path / "mixed"
    document = json.loads((remote / "results.json").read_text())
    document["cases"] = [c for c in document["cases"] if c["scenario"] == "Offline"] + [
        c for c in json.loads((local / "results.json").read_text())["cases"] if c["scenario"] == "Server"]
    mixed.mkdir()
    (mixed / "results.json").write_text(json.dumps(document))
    with pytest.raises(SubmissionInputError, match="one system is either in network mode or not"):
        build([mixed], tmp_path / "tree", answers(tmp_path), division="open")


def test_network_runs_in_the_open_division_are_network_mode(tmp_path, templates):
    run = network_run(tmp_path / "run", templates)
    result = build([run], tmp_path / "tree", answers(tmp_path), division="open", category="datacenter")
    assert result.report.problems == [], "\n".join(result.report.lines())
    assert description_of(result.out, "open")["is_network"] == "True"


# ---------------------------------------------------------------- runs without SUT servers


def test_runs_without_sut_servers_have_no_network_fields(tmp_path, templates):
    run = tmp_path / "run"
    builder = sf.RunBuilder(run, templates, version=VERSION)
    for scenario in SCENARIOS:
        builder.add_result("resnet50", scenario)
    builder.write()
    result = build([run], tmp_path / "tree", sf.filled_system_json(tmp_path / "fields.json"), division="closed",
                   category="datacenter")
    assert result.report.problems == [], "\n".join(result.report.lines())
    description = description_of(result.out, "closed")
    assert not set(FIELDS) & set(description)
    assert description["number_of_nodes"] == 1 and description["host_networking"] == "N/A"
    readme = result.out / "closed" / "ACME" / "measurements" / SYSTEM / "resnet" / "Offline" / "README.md"
    assert "--mlperf-sut-url" not in readme.read_text() and "SUT server" not in readme.read_text()
