# sealpack: every target creates or reuses .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-test

RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: test demo bench fuzz lint typecheck vectors docs dist clean

# `make demo` needs only the runtime dependencies (cryptography, msgpack, numpy, blake3,
# tqdm); an environment that already has the test extra has them too.
$(RUNTIME_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -f $(STAMP) -a $(STAMP) -nt pyproject.toml || \
		$(PY) -m pip install --quiet --disable-pip-version-check -e .
	@touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict src/sealpack

test: lint typecheck docs
	$(PY) -m pytest -q -p no:cacheprovider

demo: $(RUNTIME_STAMP)
	$(PY) -m sealpack.demo

# A sealed NVFLARE FedAvg job in NVFLARE's simulator (examples/nvflare/run.py).
.PHONY: demo-nvflare
demo-nvflare: $(STAMP)
	$(PY) examples/nvflare/run.py

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@touch $(BENCH_STAMP)

# Fresh-process and warm-process tables, small messages, many recipients, peers side by
# side, MET / NOT MET per target (docs/PERFORMANCE.md). `make bench BENCH_ARGS=--quick`
# runs 64 MiB only (~2 minutes); the full run (256 MiB and 1 GiB) takes ~20 minutes.
bench: $(BENCH_STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

fuzz: $(STAMP)
	SEALPACK_FUZZ_EXAMPLES=20000 $(PY) -m pytest -q -p no:cacheprovider tests/adversarial

# The API reference from the docstrings; any pdoc warning fails the build.
docs: $(STAMP)
	PYTHONWARNINGS=error $(VENV)/bin/pdoc --output-directory build/docs sealpack

dist: $(STAMP)
	$(PY) -m build --outdir dist .

vectors: $(STAMP)
	for script in vectors/tools/gen_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
