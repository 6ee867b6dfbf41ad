# Ferry developer entry points. `make demo` and `make test` are the two that matter.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
FERRY_CACHE ?= $(HOME)/.cache/ferry
export FERRY_CACHE
export PATH := $(CURDIR)/$(VENV)/bin:$(FERRY_CACHE)/bin:$(PATH)

.PHONY: help venv constraints binaries images cluster cluster-down lint test test-unit \
        test-cluster test-torchserve test-pods test-e2e demo bench clean

help:
	@echo "make demo        a real rollout on a local Kubernetes control plane"
	@echo "make test        lint + every test tier (unit, cluster, torchserve, pods, e2e)"
	@echo "make cluster     start the local cluster (idempotent); cluster-down stops it"
	@echo "make images      build the pause, operator and serving images and seed containerd"
	@echo "make bench       run the benchmarks in benchmarks/"

# constraints.txt pins every dependency (regenerate with `make constraints`): without it pip
# backtracks for a long time through boto3/botocore releases on a fresh machine.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[runtime,test,dev,kubectl]'
	touch $@

venv: $(VENV)/.installed

constraints: venv
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra runtime --extra test --extra dev --extra kubectl \
	  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --upgrade \
	  --no-header --no-annotate -o constraints.txt

binaries:
	bash e2e/localcluster/build.sh
	bash e2e/gitops/build.sh
	bash e2e/metrics-server/build.sh

# Built with buildah from the Dockerfiles, without Docker or a registry, only when their
# inputs changed; archives and the containerd seed live in $(FERRY_CACHE) (docs/images.md).
images: venv
	$(PY) -m e2e.images build

cluster: venv binaries images
	@$(PY) -m e2e.localcluster up

cluster-down: venv
	@$(PY) -m e2e.localcluster down

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test-unit: venv
	$(PY) -m pytest -m unit

test-cluster: venv binaries
	$(PY) -m pytest -m cluster

test-torchserve: venv
	$(PY) -m pytest -m torchserve

test-pods: venv binaries images
	$(PY) -m pytest -m pods

test-e2e: venv binaries images
	$(PY) -m pytest -m e2e

# Every tier, in one pytest run so the cluster is started once. A tier whose prerequisites
# are missing fails; nothing is skipped.
test: lint binaries images
	$(PY) -m pytest -m "unit or cluster or torchserve or pods or e2e"

# Ferry installed with Helm on the local cluster; on real pods a packaged model served, a
# tampered artifact refused, a canary promoted under load, a bad version rolled back.
demo: venv binaries images
	$(PY) -m e2e.demo

bench: venv binaries images
	$(PY) -m benchmarks

clean: cluster-down
	rm -rf .run
