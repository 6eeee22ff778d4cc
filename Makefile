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

# The variables people give (`make book DATA=...`): each reaches its command as one argument and
# is never run, whatever it holds (spaces, quotes, backticks, `$(...)`, `;`, newlines). So no
# recipe pastes their text: make puts them in the recipe's environment (the `export` at the end
# of this file, after their defaults) and the shell reads "$$VAR". And since make expands
# `$(shell ...)` in a value given on the command line wherever it is read, and when it exports it
# to any recipe (before this, even `make help SECRET='$(shell ...)'` ran it), each such value is
# first made literal text ($(value)). Left out: PYTHON, VENV and BIN (build settings naming this
# checkout's interpreter and venv, pasted as they are) and make's own variables (MAKEFLAGS,
# SHELL); EXPS_KEEP and EXPS_DROP are refused (exps).
# make book's NAME only from the command line: some systems (WSL) set NAME in every environment.
override BOOK_NAME := $(if $(filter command line,$(origin NAME)),$(value NAME))
USER_VARS := DATA RECIPE SEED NAME URL ENDPOINT KEY SECRET CRON DIR PORT POOL PROJECT_DIR \
	CPU_LIMIT GPU_LIMIT GPU_DEVICES WEBHOOK SLACK
$(foreach v,$(USER_VARS),$(if $(filter command line environment%,$(origin $v)),\
	$(eval override $v := $$(value $v))))
# `make -n` (or -q, -t) still runs recipe lines marked `+`: they are told to only print their plan.
MAKE_MODE = $(firstword -$(MAKEFLAGS))
DRY_RUN = $(if $(findstring n,$(MAKE_MODE))$(findstring q,$(MAKE_MODE))$(findstring t,$(MAKE_MODE)),--dry-run)

.PHONY: run test venv lock clean ui serve bench device-prep help remote s3-local gate exps book \
	pools deploy notify worker

run: $(STAMP) ## the pipeline (dvc repro), then the gate, the test scores and what shipped
	dvc repro
	python -m tasks.export --summary

test: $(STAMP) ## the test suite
	python -m pytest

venv: $(STAMP) ## create or refresh .venv from requirements.lock

# Every target with its `## ` description; `run` stays the default.
help: ## this list
	@awk -F ':.*## ' '/^[a-z0-9-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# For CI: the pipeline, then exit 1 naming the gate's reasons if it refused the model (a refused
# model is otherwise a result: `dvc repro` exits 0 and data/export/refused.json says why).
gate: $(STAMP) ## for CI: the pipeline, then exit 1 naming the reasons if the gate refused the model
	dvc repro
	python -m tasks.export --require-blessed

# The experiments, in the columns people compare: the gate's decision, test accuracy and loss and
# the recipe (--keep), then only the params that differ between the rows (--only-changed); every
# other metric and each dependency's hash are dropped (`dvc exp show` alone: over 100 columns).
# A new params section in tasks/core/config.py joins the list in EXPS_DROP.
exps: $(STAMP) ## the experiments in the columns people compare (blessed, test.*)
	dvc exp show --only-changed --keep '$(EXPS_KEEP)' --drop '$(EXPS_DROP)'
EXPS_KEEP := ^(Experiment|Created|blessed|test\.accuracy|test\.loss|train\.recipe)$$
EXPS_DROP := (?!(base|download|split|validate|train|evaluate|export|flow|recipes)\.)|train\.(accuracy|loss)$$
# Pasted into the recipe above, so fixed here: not settings.
ifneq ($(filter command line environment override,$(origin EXPS_KEEP) $(origin EXPS_DROP)),)
$(error make: EXPS_KEEP and EXPS_DROP are fixed (the columns of make exps), not settings)
endif

# A recipe (params.yaml `recipes`) on real photos, split as the book splits them, as a DVC experiment
# (flows/book.py). --temp runs it in a copy of the project, so params.yaml and the workspace stay
# as they are (`dvc exp apply <name>` brings the results in). DATA: a zip or folder, an https URL,
# or `gdrive` (the book's Kaggle archive); a path is made absolute for that copy. The gate is the
# book's test accuracy, 88.3%. SEED=n sets base.seed (the split is index order, so the seed
# changes only initialization, augmentation and shuffling). The experiment is named
# <recipe>[-seed<n>]-<date>-<time>-<random>, or NAME=..., refused if that name exists. A RECIPE
# or SEED that is not one is refused (exit 2) before anything runs; `make -n book` prints the plan.
RECIPE ?= cpu
book: $(STAMP) ## a recipe on real photos as a DVC experiment: DATA=<zip|folder|URL|gdrive> RECIPE=cpu|book|gpu [SEED=n] [NAME=...]
	+python -m flows.book $(DRY_RUN) --data="$$DATA" --recipe="$$RECIPE" --seed="$$SEED" \
	  --name="$$BOOK_NAME"
	$(MAKE) --no-print-directory exps

# The Prefect UI at http://127.0.0.1:4200 (loopback only unless PREFECT_SERVER_API_HOST says so);
# PORT=... serves it elsewhere, and the UI then talks to the API on that same port.
ui: $(STAMP) ## the Prefect server and UI on http://127.0.0.1:4200 (PORT=... for another port)
	PREFECT_SERVER_API_PORT="$${PORT:-4200}" PREFECT_UI_API_URL="http://127.0.0.1:$${PORT:-4200}/api" \
	  PREFECT_API_URL="http://127.0.0.1:$${PORT:-4200}/api" prefect server start

# Serve the flow as a deployment on flow.cron (CRON="*/30 * * * *" overrides); needs `make ui`.
serve: $(STAMP) ## serve the flow on flow.cron (CRON="..." overrides); needs make ui
	PREFECT_API_URL=$${PREFECT_API_URL:-http://127.0.0.1:4200/api} python -m flows.serve $${CRON:+--cron="$$CRON"}

# The team's DVC remote on any S3-compatible store: URL (s3://bucket/path) and ENDPOINT go in
# .dvc/config (commit it); KEY and SECRET in .dvc/config.local (never committed).
remote: $(STAMP) ## the team DVC remote: URL=s3://... ENDPOINT=... KEY=... SECRET=...
	python -m flows.remote $${ENDPOINT:+--endpoint="$$ENDPOINT"} $${KEY:+--key="$$KEY"} \
	  $${SECRET:+--secret="$$SECRET"} -- "$$URL"

# A local S3-compatible store to try the remote with (rclone, loopback only), until Ctrl-C:
#   make s3-local DIR=/srv/dvc-store PORT=9000, then make remote URL=s3://dvc/dogs-vs-cats
#   ENDPOINT=http://127.0.0.1:9000 KEY=key SECRET=secret
s3-local: $(STAMP) ## a local S3 store (rclone) on 127.0.0.1:9000 to try the remote
	mkdir -p -- "$${DIR:-.s3-local}/dvc"
	rclone serve s3 --addr="127.0.0.1:$${PORT:-9000}" --auth-key="$${KEY:-key},$${SECRET:-secret}" \
	  -- "$${DIR:-.s3-local}"

# Reinstall only when the lock changes; uninstall anything the lock no longer lists.
$(STAMP): requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock 2> >(grep -v "is ignored: it is neither" >&2)
	@$(BIN)/python -m pip freeze | grep -vixFf requirements.lock | cut -d= -f1 | \
		xargs -r $(BIN)/python -m pip uninstall --quiet -y
	$(BIN)/python -m pip check
	@touch $@

# Every CPU figure (about 15 min on 2 cores), written to bench/results/cpu-<date>.json, then
# the table in docs/performance.md. The GPU part runs on a GPU machine: see docs/performance.md.
bench: $(STAMP) ## every CPU benchmark (about 15 min), then the table in docs/performance.md
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
device-prep: $(STAMP) ## what bench/device.sh needs on the GPU machine, in .device/
	rm -rf .device/wheels
	python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp $(MANYLINUX) -d .device/wheels -r bench/device-requirements.txt \
		2> >(grep -v "is ignored: it is neither" >&2)
	python -m bench.book prepare --root .device/book
	git rev-parse --short=12 HEAD > .device/COMMIT
	@du -sh .device

# Re-resolve the direct dependencies of pyproject.toml into an exact lock, in a scratch venv.
lock: ## re-resolve pyproject.toml into requirements.lock
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet ".[test]" wheel
	echo "# Exact versions of the whole environment, Python 3.11 on Linux x86_64. Regenerate with: make lock" > requirements.lock
	.venv-lock/bin/python -m pip freeze --all --exclude pip --exclude dogs-vs-cats-pipeline >> requirements.lock
	rm -rf .venv-lock

clean: ## remove .venv
	rm -rf $(VENV)

# Prefect work pools and workers (docs/team.md). Point PREFECT_API_URL at the
# team's server first. `make deploy` creates (or updates) the cpu and gpu process pools with their
# concurrency limits and a base job template that fixes each run's working directory, PROJECT_DIR
# (the checkout on the workers' machine), and environment (gpu: CUDA_VISIBLE_DEVICES=GPU_DEVICES;
# cpu: no GPU): no run can override them. Then it applies prefect.yaml. `make worker POOL=gpu`
# runs a worker in this checkout until Ctrl-C.
POOL ?= cpu
CPU_LIMIT ?= 2
GPU_LIMIT ?= 1
GPU_DEVICES ?= 0
PROJECT_DIR ?= $(CURDIR)

pools: $(STAMP) ## create the cpu and gpu work pools, fixed to this checkout (PROJECT_DIR, GPU_DEVICES)
	python -m flows.pools --project-dir="$$PROJECT_DIR" --gpu-devices="$$GPU_DEVICES" \
	  "cpu=$$CPU_LIMIT" "gpu=$$GPU_LIMIT"

deploy: pools ## the pools, then prefect.yaml's deployments on them (PREFECT_API_URL: the team's server)
	prefect --no-prompt deploy --all

# A notification when a run of the flow fails, crashes or ends Refused (flows/notify.py): a
# Prefect automation on the server PREFECT_API_URL names, sending to WEBHOOK (JSON POST) and/or
# SLACK (an incoming webhook URL, kept as a secret in its block). Idempotent: rerun to change it.
notify: $(STAMP) ## notify on failed, crashed or refused runs: WEBHOOK=https://... and/or SLACK=https://hooks.slack.com/...
	python -m flows.notify $${WEBHOOK:+--webhook="$$WEBHOOK"} $${SLACK:+--slack="$$SLACK"}

worker: $(STAMP) ## a worker for POOL=cpu|gpu in this checkout, until Ctrl-C
	prefect worker start --pool="$$POOL" --name="$$POOL-$$(hostname)" --no-create-pool-if-not-found

# Last, after the defaults above (`export` of a variable not yet set would set it, empty).
export $(USER_VARS) BOOK_NAME
