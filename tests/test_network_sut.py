"""Systems under test behind a network: `python -m harness serve` and --mlperf-sut-url.

Real servers (subprocesses on 127.0.0.1, and in network namespaces where they
can be made), real LoadGen runs against them, and the faults a network brings:
a server killed mid-run, one that stops answering, one too slow.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.registry import load_registry
from harness.runner import RunFailed
from harness.backends import wire
from harness.serving.addresses import AddressError, parse_url, parse_urls

try:  # tests/ may or may not be a package; the helper imports either way
    from . import sut_servers
except ImportError:
    import sut_servers

pytest.importorskip("aiohttp", reason="the network extra (aiohttp) is not installed")


def _case(scenario="Offline", mode="accuracy", precision="fp32"):
    return Case("resnet50", "onnxruntime", "cpu", precision, scenario, mode)


def _run(prov, tmp_path, urls, name="run", case=None, **options):
    return execute_case(case or _case(), load_registry()["resnet50"], prov,
                        RunOptions(sut_urls=tuple(urls), timeout_s=300, **options), tmp_path / name)


def _stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/v1/info", timeout=10) as response:
        return json.loads(response.read())["stats"]


@pytest.fixture(scope="module")
def two_servers():
    # one thread each: two servers and LoadGen share this machine's 2 cores
    with sut_servers.servers(2, extra=("--threads", "1")) as started:
        yield started


def test_two_servers_answer_an_accuracy_run_as_the_process_itself_does(two_servers, proxy_resnet50, tmp_path):
    urls = [url for _, url in two_servers]
    before = [_stats(url)["samples"] for url in urls]
    remote = _run(proxy_resnet50, tmp_path, urls)
    assert remote.passed, remote.failures
    local = execute_case(_case(), load_registry()["resnet50"], proxy_resnet50, RunOptions(timeout_s=300),
                         tmp_path / "local")
    assert remote.accuracy.value == local.accuracy.value  # the same model, the same answers
    served = [_stats(url)["samples"] - b for url, b in zip(urls, before)]
    assert all(n > 0 for n in served), served  # each batch was spread over both
    recorded = json.loads((tmp_path / "run" / "run_result.json").read_text())["sut_servers"]
    assert [s["url"] for s in recorded] == urls and all(s["alive"] for s in recorded)
    assert {s["backend"] for s in recorded} == {"onnxruntime"}
    # LoadGen's network mode, named by the SUT as MLPerf's checker requires
    detail = (tmp_path / "run" / "mlperf_log_detail.txt").read_text()
    assert '"key": "sut_name", "value": "mlperf-pytest resnet50 onnxruntime fp32 on ' in detail
    assert "x2 (Network SUT)" in detail


def test_a_server_performance_run_over_two_servers_is_valid(two_servers, proxy_resnet50, tmp_path, machine_to_itself):
    # Each resnet50 sample is 602 KB of float32 over an HTTP hop, with the two
    # servers, LoadGen's issue thread and the client on the same 2 cores: p99
    # went from 18 to 50 ms between runs at 100 QPS here, and a 100 ms bound
    # failed on the CI machine, where a VM stall of 100-150 ms leaves more
    # late queries than early stopping tolerates in 1500. The bound is 300 ms:
    # what this test checks is a VALID run over the network path (on separate
    # machines the servers have cores of their own; the measurements are in
    # the README, make bench-network).
    conf = tmp_path / "user.conf"
    conf.write_text("resnet50.Server.target_qps = 100\nresnet50.Server.min_query_count = 1500\n"
                    "resnet50.Server.min_duration = 1000\n")
    result = _run(proxy_resnet50, tmp_path, [url for _, url in two_servers], case=_case("Server", "performance"),
                  target_latency_ms=300, user_conf=conf)
    assert result.passed, result.failures
    assert result.performance["result_validity"] == "VALID"


def test_a_server_that_serves_another_system_is_refused_by_name(two_servers, proxy_resnet50, tmp_path):
    url = two_servers[0][1]
    with pytest.raises(RunFailed, match=rf"{url} serves another system: precision 'fp32' \(the case runs 'int8'\)"):
        _run(proxy_resnet50, tmp_path, [url], case=_case(precision="int8"))


def test_nothing_listening_fails_the_case_naming_the_address(proxy_resnet50, tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(RunFailed, match=rf"SUT server {url}: no answer to GET /v1/info"):
        _run(proxy_resnet50, tmp_path, [url], sut_timeout_s=2)


def _when_loadgen_starts(log_dir, action):
    """Call ``action`` once LoadGen has opened its logs (the calibration is over: the run proper began)."""
    def watch():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (log_dir / "mlperf_log_detail.txt").exists():
            time.sleep(0.01)
        action()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("fault", ["killed", "stopped"])
def test_a_server_lost_mid_run_fails_the_case_by_name_and_the_other_keeps_its_work(fault, proxy_resnet50, tmp_path):
    with sut_servers.servers(2) as started:
        (_, good), (victim, lost) = started
        sig = signal.SIGKILL if fault == "killed" else signal.SIGSTOP
        watcher = _when_loadgen_starts(tmp_path / "run", lambda: os.killpg(victim.pid, sig))
        result = _run(proxy_resnet50, tmp_path, [good, lost], sut_timeout_s=3)
        watcher.join(10)
    reason = "no answer within 3 s" if fault == "stopped" else "(refused|dropped) the connection"
    assert any(re_search(rf"SUT server {lost} failed mid-run: {reason}", f) for f in result.failures), result.failures
    # every sample was answered, by the server that stayed: the accuracy log is whole and passes
    assert len(result.failures) == 1, result.failures
    assert result.accuracy.passed
    recorded = json.loads((tmp_path / "run" / "run_result.json").read_text())["sut_servers"]
    assert [(s["url"], s["alive"]) for s in recorded] == [(good, True), (lost, False)]


def re_search(pattern, text):
    import re

    return re.search(pattern, text) is not None


class _SlowBackend:
    """Answers correctly shaped zeros, once released (a minute at most)."""
    concurrent_predict = False

    def __init__(self):
        self.release = threading.Event()

    def predict(self, feed):
        self.release.wait(60)
        return [np.zeros(len(next(iter(feed.values()))), dtype=np.int64)]


def test_a_slow_server_is_given_up_on_and_named(two_servers, proxy_resnet50, tmp_path):
    url = two_servers[0][1]
    with urllib.request.urlopen(f"{url}/v1/info", timeout=10) as response:
        info = json.loads(response.read())  # the slow one says it serves the same system
    backend = _SlowBackend()
    with sut_servers.in_process(backend, info) as slow:
        try:
            result = _run(proxy_resnet50, tmp_path, [slow, url], sut_timeout_s=2)
        finally:
            backend.release.set()
    assert result.failures == [f"SUT server {slow} failed mid-run: no answer within 2 s (--mlperf-sut-timeout); "
                               f"the other servers answered its queries and their work is in the logs"]
    assert result.accuracy.passed


def test_a_lone_server_that_stops_answering_fails_the_run_within_the_timeout(proxy_resnet50, tmp_path):
    with sut_servers.servers(1) as [(proc, url)]:
        os.killpg(proc.pid, signal.SIGSTOP)
        with pytest.raises(RunFailed, match=rf"SUT server {url}: no answer to GET /v1/info within 2 s"):
            _run(proxy_resnet50, tmp_path, [url], sut_timeout_s=2)


# -- the protocol's limits -------------------------------------------------------------------------

def _post(url, body, header):
    request = urllib.request.Request(f"{url}/v1/predict", data=body, method="POST",
                                     headers={wire.HEADER: header} if header is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_server_refuses_arrays_that_do_not_match_their_description(two_servers):
    url = two_servers[0][1]
    status, body = _post(url, b"\0" * 10, json.dumps([["input_tensor:0", "float32", [1, 3, 224, 224]]]))
    assert status == 400 and b"needs 602112 bytes" in body
    status, body = _post(url, b"", None)
    assert status == 400 and b"missing X-Arrays header" in body
    status, body = _post(url, b"\0" * 4, json.dumps([["x", "object", [1]]]))
    assert status == 400 and b"expected [name, dtype in" in body


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    with sut_servers.servers(1, extra=("--max-request-mb", "1")) as [(_, url)]:
        status, _ = _post(url, b"\0" * (2 * 1024 * 1024), json.dumps([["x", "uint8", [2 * 1024 * 1024]]]))
    assert status == 413


def test_wire_round_trip_keeps_names_dtypes_and_shapes():
    arrays = [("a", np.arange(12, dtype=np.float32).reshape(3, 4)), ("b", np.array([[1], [2]], dtype=np.int64))]
    header, parts = wire.encode(arrays)
    back = wire.decode(header, wire.body_bytes(parts))
    assert [(n, a.dtype.name, a.shape) for n, a in back] == [("a", "float32", (3, 4)), ("b", "int64", (2, 1))]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(arrays, back))
    with pytest.raises(wire.WireError, match="the body has 160 bytes; X-Arrays describes 64"):
        wire.decode(header, wire.body_bytes(parts) + b"\0" * 96)


@pytest.mark.parametrize("text, message", [
    ("ftp://host:1", "expected http://HOST:PORT"),
    ("http://:80", "expected http://HOST:PORT"),
    ("http://host:99999", "the port is not a number"),
    ("http://host:1?x=1", "without a query"),
    ("http://a:1,http://a:1/", "is given twice"),
    (" , ", "empty"),
])
def test_bad_server_addresses_are_refused_by_option(text, message):
    with pytest.raises(AddressError, match=message) as caught:
        parse_urls(text, "--mlperf-sut-url")
    assert str(caught.value).startswith("--mlperf-sut-url")


def test_addresses_are_normalised():
    assert parse_url(" http://10.0.0.2:8601/ ", "--mlperf-endpoint") == "http://10.0.0.2:8601"
    assert parse_urls("http://a:1,http://b:2", "--mlperf-sut-url") == ("http://a:1", "http://b:2")


def test_the_plugin_refuses_a_bad_sut_url_before_collecting(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
                           "--mlperf-sut-url", "http://host:notaport", "--mlperf-model", "resnet50",
                           "--mlperf-backend", "onnxruntime", "suites"],
                          capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)), timeout=120)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--mlperf-sut-url 'http://host:notaport': the port is not a number" in done.stderr


# -- servers on other hosts: network namespaces -----------------------------------------------------

def _netns_hosts(count):
    """Make ``count`` namespaces, each joined to this one by a veth pair: (name, host address) each."""
    ip = shutil.which("ip")
    if ip is None:
        pytest.skip("iproute2's ip is not installed (make test installs it with apt-get)")
    made = []
    tag = f"{os.getpid() % 10000}"
    try:
        for i in range(count):
            name, here, there = f"mlperf{tag}h{i}", f"mlp{tag}a{i}", f"mlp{tag}b{i}"
            subnet = f"10.{200 + i}.{os.getpid() % 250}"
            steps = [
                [ip, "netns", "add", name],
                [ip, "link", "add", here, "type", "veth", "peer", "name", there],
                [ip, "link", "set", there, "netns", name],
                [ip, "addr", "add", f"{subnet}.1/30", "dev", here],
                [ip, "link", "set", here, "up"],
                [ip, "-n", name, "addr", "add", f"{subnet}.2/30", "dev", there],
                [ip, "-n", name, "link", "set", there, "up"],
                [ip, "-n", name, "link", "set", "lo", "up"],
            ]
            made.append((name, here, f"{subnet}.2"))
            for step in steps:
                done = subprocess.run(step, capture_output=True, text=True)
                if done.returncode != 0:
                    raise PermissionError(f"{' '.join(step)}: {done.stderr.strip()}")
    except PermissionError as exc:
        _remove_netns(made)
        pytest.skip(f"network namespaces cannot be made here: {exc}")
    return made


def _remove_netns(made):
    for name, here, _ in made:
        subprocess.run(["ip", "link", "del", here], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_two_servers_on_other_hosts_answer_a_run(proxy_resnet50, tmp_path):
    hosts = _netns_hosts(2)
    started = []
    try:
        for name, _, address in hosts:
            started.append(sut_servers.start("resnet50", "onnxruntime", host=address,
                                             prefix=("ip", "netns", "exec", name)))
        urls = [url for _, url in started]
        result = _run(proxy_resnet50, tmp_path, urls)
        assert result.passed, result.failures
        recorded = json.loads((tmp_path / "run" / "run_result.json").read_text())["sut_servers"]
        assert [s["host"] for s in recorded] == [address for _, _, address in hosts]
        assert all(s["samples"] > 0 for s in recorded)
    finally:
        for proc, _ in started:
            sut_servers.stop(proc)
        _remove_netns(hosts)


def _suite(args, cwd_out, timeout=600):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                           "suites", "--mlperf-output", str(cwd_out), *args],
                          capture_output=True, text=True, cwd=root, timeout=timeout)
    return done, json.loads((cwd_out / "results.json").read_text()) if (cwd_out / "results.json").exists() else None


def test_the_suite_runs_its_cases_on_the_servers_and_records_them(two_servers, tmp_path):
    urls = ",".join(url for _, url in two_servers)
    done, results = _suite(["--mlperf-sut-url", urls, "--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime",
                            "--mlperf-precision", "fp32", "--mlperf-scenario", "Offline,SingleStream",
                            "--mlperf-mode", "accuracy", "-rs"], tmp_path / "out")
    assert done.returncode == 0, done.stdout[-3000:]
    ran = [c for c in results["cases"] if c["device"] == "cpu"]
    assert [(c["scenario"], c["outcome"]) for c in ran] == [("Offline", "passed"), ("SingleStream", "passed")]
    for case in ran:
        assert [s["url"] for s in case["settings"]["sut_servers"]] == urls.split(",")
    # the devices the servers do not serve are skipped, saying what they serve
    others = [c for c in results["cases"] if c["device"] != "cpu"]
    assert others and {c["outcome"] for c in others} == {"skipped"}
    assert "the SUT servers (--mlperf-sut-url) serve resnet50 onnxruntime fp32 cpu; this case runs" in done.stdout


def test_an_endpoint_run_skips_the_families_it_cannot_serve(tmp_path):
    done, results = _suite(["--mlperf-endpoint", "http://127.0.0.1:9", "--mlperf-model", "resnet50",
                            "--mlperf-backend", "onnxruntime", "--mlperf-precision", "fp32",
                            "--mlperf-scenario", "Offline", "--mlperf-mode", "accuracy", "-rs"], tmp_path / "out")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "--mlperf-endpoint serves the language models (gptj, llama2) only" in done.stdout
    assert {c["outcome"] for c in results["cases"]} == {"skipped"}  # one per device


@pytest.mark.parametrize("args, message", [
    (["--benchmark", "resnet-50", "--backend", "onnxruntime", "--port", "0"], "--benchmark 'resnet-50': not in the registry"),
    (["--benchmark", "resnet50", "--backend", "onnx", "--port", "0"], "--backend 'onnx': resnet50 runs on onnxruntime"),
    (["--benchmark", "resnet50", "--backend", "onnxruntime", "--port", "70000"], "--port 70000: expected 0-65535"),
    (["--benchmark", "resnet50", "--backend", "onnxruntime", "--port", "0", "--max-request-mb", "0"],
     "--max-request-mb 0.0: expected more than 0"),
])
def test_serve_refuses_bad_arguments_before_loading_anything(args, message):
    done = subprocess.run([sys.executable, "-m", "harness", "serve", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_serve_says_why_it_cannot_listen(two_servers):
    port = two_servers[0][1].rsplit(":", 1)[1]  # taken by a running server
    done = subprocess.run([sys.executable, "-m", "harness", "serve", "--benchmark", "resnet50", "--backend",
                           "onnxruntime", "--port", port], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


@pytest.mark.parametrize("options", [RunOptions(endpoint="http://127.0.0.1:9"), RunOptions(sut_urls=("http://127.0.0.1:9",))])
def test_beam_search_benchmarks_skip_an_openai_api_saying_why(options):
    from harness.placement import placement_reason

    bench = load_registry()["gptj-99"]
    case = Case("gptj-99", "pytorch", "cpu", "fp32", "Offline", "accuracy")
    reason = placement_reason(case, bench, bench.backend_spec("pytorch"), options)
    assert reason.startswith("gptj-99 through --mlperf-")
    assert "beam search (num_beams=4" in reason and "cannot be expressed in the OpenAI completions API" in reason
    llama = load_registry()["llama2-70b-99"]
    assert placement_reason(Case("llama2-70b-99", "pytorch", "cpu", "fp32", "Offline", "accuracy"), llama,
                            llama.backend_spec("pytorch"), options) is None
