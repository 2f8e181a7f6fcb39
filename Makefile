# make test   – sets up everything the tests need, then runs linters, template checks and pytest
# make local  – runs the webhook on 127.0.0.1:3000 with local stand-ins (no AWS, no Docker)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# aws-sam-cli pins its own boto3; it lives in its own environment so it cannot move ours.
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam

.PHONY: setup test lint local demo events bench

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

$(SAM):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==1.170.0

setup: $(BIN)/.installed $(SAM)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml -a cfn_lint_serverless.rules
	$(SAM) validate --lint

test: lint
	$(BIN)/pytest

# The real handler on http://127.0.0.1:3000/stripe/webhook (PORT=... moves it), with moto for
# SSM and DynamoDB and an Optibase stand-in (the real Optibase only with OPTIBASE_PUBLIC_API_KEY
# and OPTIBASE_CONVERSION_ID set). Takes STRIPE_WEBHOOK_SECRET (what `stripe listen` prints).
local: $(BIN)/.installed
	$(BIN)/python -m devtools.local $(if $(PORT),--port $(PORT))

# In a second terminal: signed Stripe events to `make local`, each answer checked (exit 1 if not).
demo: $(BIN)/.installed
	$(BIN)/python -m devtools.demo $(if $(PORT),--port $(PORT))

# Figures for this machine, ours next to a straightforward baseline (devtools/bench.py); never fails on them.
bench: $(BIN)/.installed
	$(BIN)/python -m devtools.bench

# Sample API Gateway events for `sam local invoke -e`, re-signed now (Stripe signatures expire
# after 300 s) with $STRIPE_WEBHOOK_SECRET, or the local development secret when it is unset.
events: $(BIN)/.installed
	$(BIN)/python -m devtools.sign_events

.PHONY: build build-WebhookFunction print-lambda-python

# sam build: the Lambda artifact in .aws-sam/build, made by build-WebhookFunction below.
build: $(SAM)
	$(SAM) build

# The Lambda's Python (template.yaml: Runtime python3.13, Architectures arm64).
LAMBDA_PYTHON_VERSION := 3.13
# sam build may run the target below in a scratch copy of the source, so tools are found by
# absolute path: the project's venv when made, else $(PYTHON).
ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
LAMBDA_PIP ?= $(firstword $(wildcard $(ROOT)/$(BIN)/python) $(PYTHON)) -m pip
# The runtime's own Python, when this machine has one (on PATH, or installed by pyenv), to ship
# bytecode: /var/task is read-only, so without it every cold start compiles botocore, stripe and
# the rest from source again (several hundred ms; `make bench` measures it).
LAMBDA_PYTHON ?= $(firstword \
	$(shell python$(LAMBDA_PYTHON_VERSION) -c 'import sys; print(sys.executable)' 2>/dev/null) \
	$(wildcard $(HOME)/.pyenv/versions/$(LAMBDA_PYTHON_VERSION)*/bin/python$(LAMBDA_PYTHON_VERSION)))

# Run by `sam build` (template.yaml: BuildMethod makefile), with ARTIFACTS_DIR set and the source
# as working directory. Wheels for Lambda's platform, so neither Docker nor a local Python 3.13 is
# needed; then only the runtime code (no tests, devtools, events, web). Bytecode only from the
# runtime's Python (pip's would be for this machine's Python, which Lambda ignores), with hashes
# instead of timestamps, which a zip does not keep exactly.
build-WebhookFunction:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR unset: run sam build, or make $@ ARTIFACTS_DIR=dir))
	$(LAMBDA_PIP) install --quiet --disable-pip-version-check --requirement requirements.txt \
		--target "$(ARTIFACTS_DIR)" --platform manylinux2014_aarch64 --implementation cp \
		--python-version $(LAMBDA_PYTHON_VERSION) --only-binary=:all: --no-compile
	rm -rf "$(ARTIFACTS_DIR)/bin"
	cp handler.py "$(ARTIFACTS_DIR)/"
	cp -R webhook "$(ARTIFACTS_DIR)/"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -type d -prune -exec rm -rf {} +
	$(if $(LAMBDA_PYTHON),$(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash \
		"$(ARTIFACTS_DIR)",@echo "No python$(LAMBDA_PYTHON_VERSION) on this machine: the artifact \
		ships without bytecode, so each cold start compiles it (slower, still correct).")

# For `make bench`: which Python the build compiles bytecode with (empty when there is none).
print-lambda-python:
	@echo $(LAMBDA_PYTHON)
