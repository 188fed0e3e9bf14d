# The README's two commands are `make run` and `make test`. Everything they need is installed by `setup`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Apache Spark provider (SparkSubmitOperator), installed without its dependencies: its hard requirement
# `pyspark-client` writes into pyspark's own folder (requirements.in says more). Its other requirements
# that SparkSubmitOperator uses (common-compat, requests, tenacity) are in the lock; tests/test_spark_provider.py
# checks pyspark's files and the provider's import.
SPARK_PROVIDER := apache-airflow-providers-apache-spark==6.3.4

# Installed by the lock for jupyter-events (jsonschema[format-nongpl]) and removed again: rfc3987-syntax builds the
# Lark grammar of jsonschema's optional "iri" format checker when it is imported, and every Airflow process imports
# jsonschema (its providers manager validates each provider's metadata): 1.5 of the 3.3 CPU-seconds of an `airflow`
# command on this 2-core machine, in every CLI call, daemon and dag.test() process. No schema of the lab or of
# Jupyter's events checks an IRI, and jsonschema skips a format whose checker it cannot import.
# tests/test_spark_provider.py checks it is gone.
SLOW_IMPORTS := rfc3987-syntax lark

.PHONY: setup system jars emr-env aws-cli run test lab bench images screenshots up down status doctor lock

setup: system $(STAMP) jars emr-env aws-cli

# Debian/Ubuntu packages (Java, PostgreSQL, MariaDB, npm) and the service account, where missing.
system:
	@bash scripts/install-system-packages.sh

# The venv's Python: PYTHON=... when you give one, else the first Python of the lock's version that the lab's
# unprivileged account can run (pyenv's under /root cannot be); scripts/venv_python.py says which and why.
VENV_PYTHON := $(PYTHON) scripts/venv_python.py $(if $(filter file default,$(origin PYTHON)),,--given '$(PYTHON)')

$(STAMP): requirements.txt pyproject.toml Makefile
	@test -x $(BIN)/python || { py=$$($(VENV_PYTHON)) && $$py -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps $(SPARK_PROVIDER)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip uninstall --quiet --yes $(SLOW_IMPORTS)
	@touch $@

# The JDBC drivers both profiles use, pinned by version and sha256 (labkit.jdbc): fetched once with npm into .jdbc/.
jars: $(STAMP)
	@$(BIN)/python -c 'import sys; from labkit import jdbc; sys.exit(jdbc.main())'

# .venv-emr: Python 3.9 + pyspark 3.5, EMR 7's versions, for tests/test_emr_versions.py (labkit.emr_versions).
emr-env: $(STAMP)
	@$(BIN)/python -c 'import sys; from labkit import emr_versions; sys.exit(emr_versions.main())'

# An AWS CLI for the Spark jobs' Secrets Manager login in tests, where the machine has none (labkit.aws_cli).
aws-cli: $(STAMP)
	@$(BIN)/python -c 'import sys; from labkit import aws_cli; sys.exit(aws_cli.main())'

# 1. The whole tutorial series, headless, on the local profile (LAB_SCALE=full unless you say otherwise).
# Notebook 09 stops the lab (a headless run leaves nothing running); the run's last line says what next: `make lab`.
run: setup
	$(BIN)/labkit up
	$(BIN)/labkit run

# 2. The tests: pytest, with nbval over the notebooks, at smoke scale: three pytest sessions at once on three test
# slots (scripts/test.sh says which files the second and third run); `$(BIN)/pytest` alone runs everything in one.
test: setup
	LAB_SCALE=smoke bash scripts/test.sh

lab: setup
	$(BIN)/labkit up
	$(BIN)/labkit jupyter   # JupyterLab on 127.0.0.1 (as root too), labkit & co. on its terminals' PATH

bench: setup
	@for b in bench/*.py; do [ -e "$$b" ] && [ "$$b" != bench/reference.py ] || continue; echo "== $$b"; $(BIN)/python $$b --scale $${LAB_SCALE:-smoke} || exit 1; done

images: setup
	$(BIN)/python -m labkit.architecture images

# The Airflow UI pictures in images/ (a real headless Chromium): needs the lab up and both DAGs run once.
screenshots: setup
	$(BIN)/python -m labkit.screenshots images

up down status doctor: setup
	$(BIN)/labkit $@

# Re-resolve requirements.in into the pinned lock requirements.txt (in a throwaway venv of the Python setup chooses,
# so that the lock installs on it: Debian 12's python3.11 is 3.11.2).
lock:
	rm -rf /tmp/labkit-lock && py=$$($(VENV_PYTHON)) && $$py -m venv /tmp/labkit-lock
	/tmp/labkit-lock/bin/pip install --quiet -r requirements.in
	(echo "# The resolved, fully pinned lock of requirements.in (Python 3.11, Linux). Regenerate with \`make lock\`."; \
	 /tmp/labkit-lock/bin/pip freeze) > requirements.txt
