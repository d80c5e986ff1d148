# Two set-up commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: run test test-fast browser lint data bench-setup bench bench-engine bench-nas bench-nas2 bench-neat bench-optim bench-tabular clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/evoforge demo

# Two pytest-xdist workers, one per core (tests that start Ray share one worker: tests/conftest.py).
# -rs prints why a test was skipped (the dashboard's browser tests, where no chromium could be installed).
test: $(STAMP) browser
	$(PY) -m pytest -q -x -n 2 --dist loadgroup --durations=10 -rs

# Debian's chromium for the dashboard's browser tests (Playwright drives it; its own browser download
# does not work offline). Without root or a package mirror, the browser tests are skipped, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
		echo "chromium could not be installed: the dashboard's browser tests will be skipped"

# The suite without the tests marked slow (kill-and-resume loops, Ray, examples at full budget).
test-fast: $(STAMP)
	$(PY) -m pytest -q -x -n 2 --dist loadgroup -m "not slow" --durations=10

# Data for examples and benchmarks (never needed by the tests): Fashion-MNIST for
# examples/nas-fashion.yaml, the UCI tables of r-cran-mlbench for the tabular benchmark. Debian's
# packages (installed as root) unless their files are there.
data:
	@test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)
	@test -f /usr/lib/R/site-library/mlbench/data/Sonar.rda || \
		(apt-get update -qq && apt-get install -y -qq r-cran-mlbench)

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

# Pipelines on tables against TPOT, FLAML and the untuned defaults (`make data` first).
bench-tabular: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/harness.py tabular

# Every benchmark runs through benchmarks/harness.py (settings: benchmarks/configs/SUITE.yaml,
# results: benchmarks/results/SUITE[-NAME].json, the table printed for BENCHMARKS.md).
HARNESS := benchmarks/harness.py

# Reinforcement learning against EvoTorch, evosax, pycma and neat-python.
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python $(HARNESS) rl_throughput
	$(BENCH_VENV)/bin/python $(HARNESS) rl_time_to_threshold --set task=Acrobot-v1
	$(BENCH_VENV)/bin/python $(HARNESS) rl_time_to_threshold --set task=LunarLander-v3
	$(BENCH_VENV)/bin/python $(HARNESS) scaling --set repeats=5 --set generations=8

# Architecture search: the digits example against its goal, and the strategies at equal budget.
bench-nas: $(STAMP)
	$(PY) $(HARNESS) nas_goal --set task=nas-digits
	$(PY) $(HARNESS) nas_strategies --set task=nas-digits --set final=true \
		--set 'strategies=[regularized_evolution, tournament_ga, random_search]'

# Architecture search, part 2 (Fashion-MNIST: `make data` first): strategies against Optuna's TPE on
# reduced proxies, early stopping's saving, the accuracy-against-size Pareto front (the settings of
# the runs in BENCHMARKS.md).
bench-nas2: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python $(HARNESS) nas_strategies --set task=nas-fashion --set evaluations=100 \
		--set 'overrides=[problem.proxy_epochs=1, problem.proxy_fraction=0.05, problem.validation_fraction=0.05, problem.space.max_flops=20000000]'
	$(PY) $(HARNESS) nas_early_stop --set task=nas-digits --set evaluations=150
	$(PY) $(HARNESS) nas_early_stop --set task=nas-fashion --set seeds=2 --set evaluations=80 \
		--set 'overrides=[problem.proxy_fraction=0.05, problem.space.max_flops=10000000]'
	$(PY) $(HARNESS) nas_pareto

# NEAT: XOR against the paper, neat-python side by side, double pole balancing.
bench-neat: $(BENCH_STAMP)
	$(PY) $(HARNESS) neat_xor
	$(BENCH_VENV)/bin/python $(HARNESS) neat_vs_neatpython --set task=xor
	$(BENCH_VENV)/bin/python $(HARNESS) neat_vs_neatpython --set task=cartpole
	$(PY) $(HARNESS) neat_double_pole --set task=dpnv
	$(PY) $(HARNESS) neat_double_pole --set task=dpv

# The engine's own cost against the libraries it wraps, and the examples' recorded results.
bench-engine: $(STAMP)
	$(PY) $(HARNESS) engine
	$(PY) $(HARNESS) neat_xor
	$(PY) $(HARNESS) examples

# Optimizer discovery: per-step cost against torch's Adam, then three searches and the held-out table.
bench-optim: $(STAMP)
	$(PY) $(HARNESS) optim_overhead
	$(PY) $(HARNESS) optimizer_search

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info
