"""--mlperf-endpoint against a real serving engine: vLLM's CPU build serving the llama2 proxy's model folder.

The engine runs from its own virtual environment (``.venv-vllm``, built by
``make vllm-venv``; tools/vllm_serve.py starts and stops it). The same
llama2 accuracy case as in-process, and a Server case whose token counts,
time to first token and time per output token are compared with what vLLM
itself reports on /metrics (printed; run with -s to see them).
"""
from __future__ import annotations

import json

import pytest

from tools import vllm_serve

# one engine for the module's tests: on one xdist worker (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("vllm-engine")

if (missing := vllm_serve.not_installed()) is not None:
    pytest.skip(missing, allow_module_level=True)
pytest.importorskip("urllib3", reason="the network extra (urllib3) is not installed")
pytest.importorskip("torch", reason="the llama2 proxy runs on PyTorch")
pytest.importorskip("rouge_score", reason="the llama2 gate scores ROUGE")

from harness.backends.openai_endpoint import PROBE_TOKENS  # noqa: E402
from harness.case_run import execute_case  # noqa: E402
from harness.matrix import Case  # noqa: E402
from harness.options import RunOptions  # noqa: E402
from harness.provision import provision  # noqa: E402
from harness.record import CaseRecord  # noqa: E402
from harness.registry import load_registry  # noqa: E402

REGISTRY = load_registry()
LLAMA2 = "llama2-70b-99"
SERVED = vllm_serve.SERVED_NAME
# as tests/test_openai_endpoint.py: a rate this shared 2-core machine sustains
SERVER_QPS = 8.0


@pytest.fixture(scope="module")
def llama2(tmp_path_factory):
    cache = tmp_path_factory.getbasetemp().parent / "mlperf-cache"
    return provision(REGISTRY[LLAMA2], "pytorch", "fp32", cache_dir=cache)


@pytest.fixture(scope="module")
def vllm(llama2, tmp_path_factory):
    """vLLM serving the proxy's model folder; its base URL (http://127.0.0.1:PORT/v1)."""
    log = tmp_path_factory.mktemp("vllm") / "engine.log"
    # eager: torch.compile would add about a minute to the start for a model this small
    with vllm_serve.serving(llama2.model_path, port=0, enforce_eager=True, log_path=log) as base_url:
        yield base_url


def _run(llama2, tmp_path, base_url, case, **options):
    run_options = RunOptions(endpoint=base_url, endpoint_model=SERVED, timeout_s=600, **options)
    return execute_case(case, REGISTRY[LLAMA2], llama2, run_options, tmp_path / case.id), run_options


def test_llama2_accuracy_through_vllm_passes_with_the_in_process_accuracy(vllm, llama2, tmp_path):
    result, _ = _run(llama2, tmp_path, vllm, Case(LLAMA2, "pytorch", "cpu", "fp32", "Offline", "accuracy"))
    assert result.passed, result.failures
    # the committed references are what the in-process backend measures on this proxy
    for verdict in [result.accuracy, *result.accuracy_also]:
        assert verdict.value == pytest.approx(llama2.references[verdict.metric], abs=1e-4), verdict.metric
    info = result.child.result["backend_info"]
    assert (info["engine"], info["model"], info["prompt_format"]) == ("vllm", SERVED, "token ids")
    assert info["engine_version"] and info["completion_tokens_from"].startswith("the server's token ids")
    assert info["eos_added_to_stop_answers"] == 0  # vLLM's ids end with EOS as generate()'s do


def test_llama2_server_through_vllm_is_valid_and_agrees_with_vllms_metrics(vllm, llama2, tmp_path,
                                                                          machine_to_itself):
    # A performance run, so the machine to itself, as a suite case has it: sharing
    # the 2 cores with the other worker's tests, one run missed early stopping
    before = vllm_serve.engine_metrics(vllm)
    case = Case(LLAMA2, "pytorch", "cpu", "fp32", "Server", "performance")
    result, options = _run(llama2, tmp_path, vllm, case, target_qps=SERVER_QPS)
    after = vllm_serve.engine_metrics(vllm)
    assert result.passed, result.failures
    performance = result.performance
    assert performance["result_validity"] == "VALID"
    record = CaseRecord.for_case(case, options, result.log_dir)
    record.result(result, options)
    block = record.to_json()["performance"]
    client = result.child.result["backend_info"]["client_metrics"]

    engine = vllm_serve.engine_figures(before, after)
    harness = {
        "loadgen_ttft_mean_ms": block["ttft_mean_ns"] / 1e6, "loadgen_ttft_p99_ms": block["ttft_p99_ns"] / 1e6,
        "loadgen_tpot_mean_ms": block["tpot_mean_ns"] / 1e6, "loadgen_tpot_p99_ms": block["tpot_p99_ns"] / 1e6,
        "loadgen_completed_tokens_per_s": block["tokens_per_second"],
        "loadgen_ttft_p50_ms": block["ttft_p50_ns"] / 1e6,
        "client_ttft_mean_ms": client["ttft_ms"]["mean"], "client_ttft_p50_ms": client["ttft_ms"]["p50"],
        "client_tpot_mean_ms": client["tpot_ms"]["mean"],
        "client_tokens_per_busy_s": client["tokens_per_second"], "client_requests": client["requests"],
        "client_completion_tokens": client["completion_tokens"],
    }
    print("\nvLLM /metrics over the case:", json.dumps(engine, indent=1))
    print("harness (LoadGen and client):", json.dumps(harness, indent=1))
    # the same requests and tokens, counted at both ends (vLLM also counts the load-time probe)
    assert engine["requests"] == client["requests"] + 1
    assert engine["generation_tokens"] == client["completion_tokens"] + PROBE_TOKENS
    # TTFT grows outwards: the engine's from its arrival, the client's from
    # sending the request (+ HTTP and the stream), LoadGen's from issuing the
    # query (+ the client's pool). The engine's and the client's figures cover
    # the same requests (calibration's too): means; LoadGen's the run only:
    # medians, which calibration's 18 requests barely move.
    assert engine["ttft_mean_ms"] <= client["ttft_ms"]["mean"] * 1.05
    assert client["ttft_ms"]["p50"] <= block["ttft_p50_ns"] / 1e6 * 1.05
    # per output token the engine's step and LoadGen's figure are the same order
    assert 0.3 < harness["loadgen_tpot_mean_ms"] / engine["inter_token_mean_ms"] < 3
