# VVTV Ops Lab. `make drill` and `make test` bootstrap .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
READY  := $(VENV)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: drill test bench lint lab clean-lab help soak preflight deploy-change

help:
	@echo "make drill   provision a lab station in ./lab and run every drill into reports/"
	@echo "make test    unit, integration and BDD acceptance tests"
	@echo "make bench   benchmarks side by side with the seed's commands and peers"
	@echo "make lint    ruff + mypy on vvtvlib/, lint-imports (the layer contract)"
	@echo "make lab     JupyterLab on notebooks/"
	@echo "make soak    2 h of 8 rps on the public API with the game-day monitoring (not in CI)"
	@echo "make preflight CR=CR-...      change preflight (SAMPLES=, PROMETHEUS=, AT=, ROOT=)"
	@echo "make deploy-change CR=CR-...  change apply: preflight, flags, smoke, auto rollback"

$(READY): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(READY)

drill: $(READY)
	$(VENV)/bin/vvtvctl drill all --lab lab --out reports

test: $(READY)
	$(PY) -m pytest $(PYTEST_ARGS)

soak: $(READY)
	$(VENV)/bin/vvtvctl gameday soak --root lab/soak --duration $${SOAK_S:-7200} --rps $${SOAK_RPS:-8} --out reports

bench: $(READY)
	$(PY) benchmarks/run_all.py --out reports/bench

lint: $(READY)
	$(VENV)/bin/ruff check vvtvlib
	$(VENV)/bin/mypy vvtvlib
	$(VENV)/bin/lint-imports

lab: $(READY)
	$(VENV)/bin/jupyter lab notebooks/

clean-lab: $(READY)
	$(VENV)/bin/vvtvctl drill clean --lab lab

# Change management: `make preflight CR=CR-20261206-hedge-sooner SAMPLES=rec.jsonl ROOT=lab/station`
CHANGE_ARGS = $(if $(ROOT),--root $(ROOT)) $(if $(SAMPLES),--samples $(SAMPLES)) \
	$(if $(PROMETHEUS),--prometheus $(PROMETHEUS)) $(if $(AT),--at $(AT))

preflight: $(READY)
	@test -n "$(CR)" || (echo "usage: make preflight CR=CR-YYYYMMDD-slug" >&2; exit 2)
	$(VENV)/bin/vvtvctl change preflight $(CR) $(CHANGE_ARGS)

deploy-change: $(READY)
	@test -n "$(CR)" || (echo "usage: make deploy-change CR=CR-YYYYMMDD-slug" >&2; exit 2)
	$(VENV)/bin/vvtvctl change apply $(CR) $(CHANGE_ARGS)
