"""``python -m harness accuracy`` for the LLM benchmarks: the official dict on a
log written here, exit 2 with a reason on bad input."""
from __future__ import annotations

import ast
import json

import numpy as np
import pytest

pytest.importorskip("transformers", reason="decoding needs the proxy's tokenizer")

from harness.accuracy.cli import main  # noqa: E402
from harness.benchmarks.llama2.open_orca import read_open_orca  # noqa: E402
from harness.proxies import PROXY_DIR  # noqa: E402

LLAMA = PROXY_DIR / "llama2"


def _log(path, responses, dtype):
    entries = [{"seq_id": i, "qsl_idx": i, "data": np.asarray(r, dtype=dtype).tobytes().hex().upper()}
               for i, r in enumerate(responses)]
    path.write_text(json.dumps(entries))
    return path


def test_llama2_answers_equal_to_the_references_score_100(tmp_path, capsys):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA / "model"))
    targets = read_open_orca(LLAMA / "open_orca.pkl").targets[:5]
    responses = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in targets]
    log = _log(tmp_path / "mlperf_log_accuracy.json", responses, np.int32)
    assert main(["--benchmark", "llama2-70b-99", "--log", str(log), "--dataset", str(LLAMA)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    values = ast.literal_eval(line)  # the official output is a Python dict literal
    assert list(values) == ["rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "gen_num", "gen_tok_len",
                            "tokens_per_sample"]
    assert values["rouge1"] == pytest.approx(100.0) and values["gen_num"] == 5
    assert values["gen_tok_len"] == sum(len(r) for r in responses)


def test_a_dataset_without_a_tokenizer_is_exit_2(tmp_path, capsys):
    log = _log(tmp_path / "log.json", [[5, 6]], np.int32)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "open_orca.pkl").write_bytes((LLAMA / "open_orca.pkl").read_bytes())
    assert main(["--benchmark", "llama2-70b-99", "--log", str(log), "--dataset", str(folder)]) == 2
    assert "--tokenizer" in capsys.readouterr().err


def test_a_log_of_the_wrong_width_is_exit_2(tmp_path, capsys):
    log = tmp_path / "log.json"
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 0, "data": "ABCDEF"}]))  # 3 bytes: no int32
    assert main(["--benchmark", "llama2-70b-99", "--log", str(log), "--dataset", str(LLAMA)]) == 2
    assert str(log) in capsys.readouterr().err
