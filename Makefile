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

.PHONY: run test venv lock clean ui serve bench device-prep help remote s3-local gate exps book

run: $(STAMP) ## the pipeline (dvc repro), then its metrics
	dvc repro
	dvc metrics show

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

# The experiments, in the columns people compare: the gate's decision and test accuracy and
# loss, then only the params and metrics that differ between the rows (`dvc exp show` alone
# lists every param and every code file it depends on: over 100 columns).
exps: $(STAMP) ## the experiments in the columns people compare (blessed, test.*)
	dvc exp show --only-changed --keep '$(EXPS_KEEP)'
EXPS_KEEP := ^(blessed|test\.accuracy|test\.loss|train\.recipe)$$

# A recipe (params.yaml `recipes`) on real photos, split as the book splits them, as a DVC experiment
# named after the recipe. --temp runs it in a copy of the project, so params.yaml and the
# workspace stay as they are (`dvc exp apply <name>` brings the results in). DATA: a zip or folder,
# an https URL, or `gdrive` (the book's Kaggle archive); a path is made absolute for that copy.
# The gate is the book's test accuracy, 88.3%. SEED=n sets base.seed (the split is index order,
# so the seed changes only initialization, augmentation and shuffling).
RECIPE ?= cpu
book: $(STAMP) ## a recipe on real photos as a DVC experiment: DATA=<zip|folder|URL|gdrive> RECIPE=cpu|book|gpu [SEED=n]
	@test -n "$(DATA)" || { echo "make book: give DATA=<zip, folder, https URL or gdrive>" >&2; exit 2; }
	dvc exp run --temp -n $(RECIPE)$(if $(SEED),-seed$(SEED))-$$(date +%Y%m%d-%H%M%S) -S train.recipe=$(RECIPE) \
	  $(if $(SEED),-S base.seed=$(SEED)) \
	  $(BOOK_SOURCE) -S split.train=1000 -S split.validation=500 -S split.test=1000 \
	  -S split.strategy=index -S evaluate.min_accuracy=0.883
	$(MAKE) --no-print-directory exps
BOOK_SOURCE = $(if $(filter gdrive,$(DATA)),-S download.source=gdown,$(if $(filter http://% https://%,$(DATA)),-S download.source=url -S download.url=$(DATA),-S download.source=local -S download.path=$(abspath $(DATA))))

# The Prefect UI at http://127.0.0.1:4200 (loopback only unless PREFECT_SERVER_API_HOST says so).
ui: $(STAMP) ## the Prefect server and UI on http://127.0.0.1:4200
	prefect server start

# Serve the flow as a deployment on flow.cron (CRON="*/30 * * * *" overrides); needs `make ui`.
serve: $(STAMP) ## serve the flow on flow.cron (CRON="..." overrides); needs make ui
	PREFECT_API_URL=$${PREFECT_API_URL:-http://127.0.0.1:4200/api} python -m flows.serve $(if $(CRON),--cron "$(CRON)")

# The team's DVC remote on any S3-compatible store: URL (s3://bucket/path) and ENDPOINT go in
# .dvc/config (commit it); KEY and SECRET in .dvc/config.local (never committed).
remote: $(STAMP) ## the team DVC remote: URL=s3://... ENDPOINT=... KEY=... SECRET=...
	python -m flows.remote "$(URL)" $(if $(ENDPOINT),--endpoint "$(ENDPOINT)") $(if $(KEY),--key "$(KEY)") $(if $(SECRET),--secret "$(SECRET)")

# A local S3-compatible store to try the remote with (rclone, loopback only), until Ctrl-C:
#   make s3-local DIR=/srv/dvc-store PORT=9000, then make remote URL=s3://dvc/dogs-vs-cats
#   ENDPOINT=http://127.0.0.1:9000 KEY=key SECRET=secret
s3-local: $(STAMP) ## a local S3 store (rclone) on 127.0.0.1:9000 to try the remote
	mkdir -p "$(or $(DIR),.s3-local)/dvc"
	rclone serve s3 "$(or $(DIR),.s3-local)" --addr 127.0.0.1:$(or $(PORT),9000) --auth-key "$(or $(KEY),key),$(or $(SECRET),secret)"

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
bench: $(STAMP) ## every CPU benchmark (about 15 min), then the README table
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
