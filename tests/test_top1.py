import json

import numpy as np
import pytest

from harness.accuracy import cli
from harness.metrics.accuracy_log import AccuracyLogError
from harness.benchmarks.resnet50.top1 import top1


def _log(path, entries):
    rows = [
        {"seq_id": i, "qsl_idx": idx, "data": np.asarray([value], dtype=np.float32).tobytes().hex().upper()}
        for i, (idx, value) in enumerate(entries)
    ]
    path.write_text(json.dumps(rows))
    return path


def test_hand_computed_top1_and_official_line(tmp_path):
    log = _log(tmp_path / "acc.json", [(0, 3), (1, 1), (2, 2), (3, 9)])
    score = top1(log, labels=[3, 1, 0, 9])
    assert (score.good, score.total) == (3, 4)
    assert score.official_line() == "accuracy=75.000%, good=3, total=4"


def test_duplicates_keep_the_first_entry_like_mlperf(tmp_path):
    log = _log(tmp_path / "acc.json", [(0, 5), (0, 3), (1, 1)])
    score = top1(log, labels=[3, 1])
    assert (score.good, score.total) == (1, 2)


def test_index_outside_the_dataset_is_an_error(tmp_path):
    log = _log(tmp_path / "acc.json", [(7, 1)])
    with pytest.raises(AccuracyLogError, match="qsl_idx 7"):
        top1(log, labels=[1, 2])


def test_malformed_log_names_the_file(tmp_path):
    path = tmp_path / "acc.json"
    path.write_text("[{")
    with pytest.raises(AccuracyLogError, match="acc.json.*not valid JSON"):
        top1(path, labels=[1])


def test_cli_prints_the_official_line(tmp_path, capsys):
    (tmp_path / "val_map.txt").write_text("a.JPEG 3\nb.JPEG 1\n")  # labels only, as MLPerf's script
    log = _log(tmp_path / "acc.json", [(1, 1), (0, 2)])
    assert cli.main(["--benchmark", "resnet50", "--log", str(log), "--dataset", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "accuracy=50.000%, good=1, total=2\n"


def test_cli_missing_val_map_exits_2_naming_the_path(tmp_path, capsys):
    log = _log(tmp_path / "acc.json", [(0, 1)])
    assert cli.main(["--benchmark", "resnet50", "--log", str(log), "--dataset", str(tmp_path)]) == 2
    assert str(tmp_path / "val_map.txt") in capsys.readouterr().err


def test_cli_missing_log_exits_2_naming_the_path(tmp_path, capsys):
    (tmp_path / "val_map.txt").write_text("a.JPEG 3\n")
    missing = tmp_path / "none.json"
    assert cli.main(["--benchmark", "resnet50", "--log", str(missing), "--dataset", str(tmp_path)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_cli_unknown_benchmark_is_a_usage_error(tmp_path):
    assert cli.main(["--benchmark", "nope", "--log", "x", "--dataset", "y"]) == 2
