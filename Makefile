# Two commands do everything: `make run` (the pipeline) and `make test` (the suite). Both first
# create or refresh .venv from requirements.lock, so a fresh clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-from-lock
# dvc.yaml runs `python -m tasks.<stage>`: put the venv first so that `python` is ours.
export PATH := $(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test venv lock clean ui serve bench device-prep

run: $(STAMP)
	dvc repro
	dvc metrics show

test: $(STAMP)
	python -m pytest

venv: $(STAMP)

# The Prefect UI at http://127.0.0.1:4200 (loopback only unless PREFECT_SERVER_API_HOST says so).
ui: $(STAMP)
	prefect server start

# Serve the flow as a deployment on flow.cron (CRON="*/30 * * * *" overrides); needs `make ui`.
serve: $(STAMP)
	PREFECT_API_URL=$${PREFECT_API_URL:-http://127.0.0.1:4200/api} python -m flows.serve $(if $(CRON),--cron "$(CRON)")

# Reinstall only when the lock changes; uninstall anything the lock no longer lists.
$(STAMP): requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock 2> >(grep -v "is ignored: it is neither" >&2)
	@$(BIN)/python -m pip freeze | grep -vixFf requirements.lock | cut -d= -f1 | \
		xargs -r $(BIN)/python -m pip uninstall --quiet -y
	$(BIN)/python -m pip check
	@touch $@

# Every CPU figure (about 15 min on 2 cores), written to bench/results/cpu-<date>.json, then
# the README's table. The GPU part runs on a GPU machine: see "Performance" in README.md.
bench: $(STAMP)
	python -m bench.orchestration --repeats 3
	python -m bench.data
	python -m bench.seed
	python -m bench.train --backends tensorflow
	python -m bench.train --backends tensorflow --models residual --precisions bf16
	python -m bench.train --backends jax --models residual --precisions fp32 bf16
	python -m bench.train --backends jax --models xception_mini --batch 8 --steps 2 --repeats 2  # 1.6 img/s
	python -m bench.pipeline
	python -m bench.table --write

# What bench/device.sh needs on the GPU machine, in .device/ (git-ignored; carry it with the
# call): Python 3.12 wheels of what that machine lacks, the book run's validated photos, and
# the commit measured.
MANYLINUX := $(foreach n,2_28 2_27 2_17,--platform manylinux_$(n)_x86_64) --platform manylinux2014_x86_64
device-prep: $(STAMP)
	rm -rf .device/wheels
	python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp $(MANYLINUX) -d .device/wheels -r bench/device-requirements.txt \
		2> >(grep -v "is ignored: it is neither" >&2)
	python -m bench.book prepare --root .device/book
	git rev-parse --short=12 HEAD > .device/COMMIT
	@du -sh .device

# Re-resolve the direct dependencies of pyproject.toml into an exact lock, in a scratch venv.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet ".[test]" wheel
	echo "# Exact versions of the whole environment, Python 3.11 on Linux x86_64. Regenerate with: make lock" > requirements.lock
	.venv-lock/bin/python -m pip freeze --all --exclude pip --exclude dogs-vs-cats-pipeline >> requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV)

# Prefect work pools and workers (README "Working as a team"). Point PREFECT_API_URL at the
# team's server first. `make deploy` creates the cpu and gpu process pools with their
# concurrency limits and applies prefect.yaml; `make worker POOL=gpu` runs a worker in this
# checkout until Ctrl-C. PROJECT_DIR is where the runs work on the worker's machine.
POOL ?= cpu
CPU_LIMIT ?= 2
GPU_LIMIT ?= 1
GPU_DEVICES ?= 0
PROJECT_DIR ?= $(CURDIR)
.PHONY: pools deploy worker

pools: $(STAMP)
	python -m flows.pools cpu=$(CPU_LIMIT) gpu=$(GPU_LIMIT)

deploy: pools
	PROJECT_DIR=$(PROJECT_DIR) GPU_DEVICES=$(GPU_DEVICES) prefect --no-prompt deploy --all

worker: $(STAMP)
	prefect worker start --pool $(POOL) --name $(POOL)-$$(hostname) --no-create-pool-if-not-found
