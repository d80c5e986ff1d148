# Two set-up commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: run test test-fast lint data bench-setup bench bench-engine bench-nas bench-nas2 bench-optim clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/evoforge demo

test: $(STAMP)
	$(PY) -m pytest -q -x --durations=10

# The suite without the tests marked slow (kill-and-resume loops, Ray, examples at full budget).
test-fast: $(STAMP)
	$(PY) -m pytest -q -x -m "not slow" --durations=10

# Fashion-MNIST for examples/nas-fashion.yaml: Debian's package (as root), unless its files are there.
data:
	@test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)

lint: $(STAMP)
	$(VENV)/bin/ruff check evoforge tests benchmarks
	$(VENV)/bin/ruff format --check evoforge tests benchmarks
	$(VENV)/bin/mypy

# The anchor libraries live in their own venv, never in evoforge's dependencies.
$(BENCH_STAMP): benchmarks/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(BENCH_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet -e .
	touch $(BENCH_STAMP)

bench-setup: $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/rl_throughput.py
	$(BENCH_VENV)/bin/python benchmarks/rl_time_to_threshold.py

# Architecture search: the digits example against its goal, and the strategies at equal budget.
bench-nas: $(STAMP)
	$(PY) benchmarks/nas_search.py --example examples/nas-digits.yaml --seeds 3

# Architecture search, part 2 (Fashion-MNIST: `make data` first): strategies against Optuna's TPE on
# reduced proxies, early stopping's saving, the accuracy-against-size Pareto front (the settings of
# the runs in BENCHMARKS.md).
bench-nas2: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/nas_strategies.py --example examples/nas-fashion.yaml --seeds 3 \
		--evaluations 100 --strategies regularized_evolution,tournament_ga,cma_es,random_search,tpe \
		--set problem.proxy_epochs=1 --set problem.proxy_fraction=0.05 \
		--set problem.validation_fraction=0.05 --set problem.space.max_flops=20000000
	$(PY) benchmarks/nas_early_stop.py --example examples/nas-digits.yaml --seeds 3 --evaluations 150
	$(PY) benchmarks/nas_early_stop.py --example examples/nas-fashion.yaml --seeds 2 --evaluations 80 \
		--set problem.proxy_fraction=0.05 --set problem.space.max_flops=10000000
	$(PY) benchmarks/nas_pareto.py --target 0.92

# Optimizer discovery: per-step cost against torch's Adam, then three searches and the held-out table.
bench-engine: $(STAMP)
	$(PY) benchmarks/harness.py engine
	$(PY) benchmarks/harness.py neat_xor
	$(PY) benchmarks/harness.py examples

bench-optim: $(STAMP)
	$(PY) benchmarks/harness.py optim_overhead
	$(PY) benchmarks/optimizer_search.py --searches 3

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info
