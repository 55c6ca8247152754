# Two entry points on a fresh machine: `make demo` and `make test`. Each makes .venv and installs
# what it needs (stamp files keep repeat runs fast).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# editable installs are not byte-compiled by pip: do it, so a new process (a compile-time
# benchmark, a CLI call) does not compile our sources again when bytecode writing is off
BYTECODE := $(PY) -m compileall -q xla_runtime jit kernels async_values benchmarks

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	$(BYTECODE)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[test]"
	$(BYTECODE)
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[bench]"
	$(BYTECODE)
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed-bench
	$(PY) -m xla_runtime run xla_runtime/examples/mlp.hlo --inputs xla_runtime/examples/mlp_inputs.npz
	$(PY) -m benchmarks --quick

test: $(VENV)/.installed-test
	$(PY) -m pytest tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# The whole GPU validation on a machine with an NVIDIA GPU: every GPU test (conformance on
# Client("cuda") included; nothing is skipped for want of a GPU there), then the GPU benchmark.
# Results: gpu_out/tests.xml, gpu_out/tests.txt, gpu_out/gpu_results.{json,md}.
.PHONY: gpu-check
$(VENV)/.installed-gpu: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[test,bench,cuda]"
	$(BYTECODE)
	touch $@ $(VENV)/.installed $(VENV)/.installed-test $(VENV)/.installed-bench

gpu-check: $(VENV)/.installed-gpu
	mkdir -p gpu_out
	$(PY) -c 'from xla_runtime.gpu import cuda; import sys; sys.exit(0 if cuda.available() else "no CUDA GPU found: gpu-check needs one")'
	$(PY) -m pytest tests/test_gpu_backend.py tests/test_gpu_graphs.py tests/test_gpu_resident.py \
		tests/test_gpu_scheduling.py tests/test_gpu_ptx.py tests/test_gpu_bench.py -rs \
		--junitxml=gpu_out/tests.xml > gpu_out/tests.txt 2>&1; status=$$?; tail -n 30 gpu_out/tests.txt; \
	$(PY) -m benchmarks --device cuda --out gpu_out; exit $$status
