import pytest

from harness.settings import (
    Setting,
    UserConfError,
    check_valid_style,
    merge,
    parse_user_conf,
    render_user_conf,
    style_settings,
)


def test_test_style_meets_the_early_stopping_minimums():
    by_scenario = {s: {x.key: x.value for x in style_settings("test", s)} for s in
                   ("Offline", "Server", "SingleStream", "MultiStream")}
    assert by_scenario["SingleStream"]["min_query_count"] >= 64
    assert by_scenario["MultiStream"]["min_query_count"] >= 662
    assert all(values["min_duration"] == 0 for values in by_scenario.values())


def test_valid_style_changes_nothing():
    for scenario in ("Offline", "Server", "SingleStream", "MultiStream"):
        assert style_settings("valid", scenario) == []


def test_valid_style_refuses_reductions_but_allows_targets():
    check_valid_style("valid", {"target_qps": Setting("target_qps", 10, "cli")})
    with pytest.raises(UserConfError, match="min_query_count.*cli"):
        check_valid_style("valid", {"min_query_count": Setting("min_query_count", 10, "cli")})


def test_later_layers_win():
    merged = merge([Setting("a", 1, "style")], [Setting("a", 2, "cli"), Setting("b", 3, "cli")])
    assert merged["a"] == Setting("a", 2, "cli") and merged["b"].value == 3


def test_user_conf_precedence_follows_loadgen(tmp_path):
    path = tmp_path / "user.conf"
    path.write_text(
        "# comment\n"
        "*.*.min_duration = 100\n"
        "resnet50.*.min_duration = 200\n"
        "*.Offline.min_duration = 300\n"
        "resnet50.Offline.target_qps = 1234.5\n"
        "bert.Offline.min_query_count = 7\n"
    )
    settings = {s.key: s for s in parse_user_conf(path, "resnet50", "Offline")}
    assert settings["min_duration"].value == 200  # model.* outranks *.scenario
    assert settings["target_qps"].value == 1234.5
    assert "min_query_count" not in settings
    assert settings["min_duration"].origin == f"{path}:3"


@pytest.mark.parametrize(
    "line, message",
    [
        ("resnet50.Offline.min_duration 5", "line 1|:1:"),
        ("resnet50.Offline.min_duration = fast", "not a number"),
        ("resnet50.Offline.min_durration = 5", "unknown key 'min_durration'"),
        ("resnet50.Offline.min_duration = 5 # inline", ":1:"),
    ],
)
def test_malformed_user_conf_lines_name_the_line(tmp_path, line, message):
    path = tmp_path / "user.conf"
    path.write_text(line + "\n")
    with pytest.raises(UserConfError, match=message) as info:
        parse_user_conf(path, "resnet50", "Offline")
    assert str(path) in str(info.value)


def test_rendered_user_conf_names_every_origin_and_reads_back(tmp_path):
    merged = merge([Setting("min_duration", 0, "run style 'test'"), Setting("target_qps", 250.5, "calibrated")])
    text = render_user_conf("resnet50", "Offline", merged, {"min_duration": 600000, "max_query_count": 0})
    assert "# origin: run style 'test'\nresnet50.Offline.min_duration = 0" in text
    assert "# resnet50.Offline.max_query_count = 0  (origin: mlperf.conf, built into LoadGen)" in text
    path = tmp_path / "user.conf"
    path.write_text(text)
    assert {s.key: s.value for s in parse_user_conf(path, "resnet50", "Offline")} == {
        "min_duration": 0, "target_qps": 250.5,
    }
