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
