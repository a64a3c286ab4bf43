# Flux: `make run` starts everything, `make test` runs the whole suite. Both set up what they need.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONUNBUFFERED := 1

.PHONY: run test bench models samples migrate setup system clean

setup: $(STAMP) models

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	# torch first and pinned: the local CPU wheel, never the CUDA build.
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	@touch $(STAMP)

models: $(STAMP)
	@$(PY) -m reconstruction.core.fetch models

# The Debian packages the tests drive for real (Chromium, nginx, openssl, Node.js): installed when
# missing (as root), else the command that installs them is printed.
system:
	@tools/system-packages

# An independent C2PA reader (pure TypeScript, not the library that signs) for the tests.
tools/c2pa-verify/node_modules/.installed: tools/c2pa-verify/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 18 or newer (apt-get install -y nodejs npm)"; exit 1; }
	npm ci --prefix tools/c2pa-verify --no-audit --no-fund --loglevel=error
	@touch $@

migrate: setup
	@$(PY) manage.py migrate --noinput -v 0

run: migrate
	$(PY) manage.py serve

test: system setup tools/c2pa-verify/node_modules/.installed
	# Lint and format first (ruff, configured in pyproject.toml): `ruff format .` fixes the layout.
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

samples: $(STAMP)
	@$(PY) -m reconstruction.core.fetch samples

bench: migrate samples
	@mkdir -p test-artifacts/bench && touch test-artifacts/bench/.started
	$(PY) bench/bench.py
	$(PY) bench/models_bench.py
	$(PY) bench/fidelity_bench.py
	$(PY) bench/shutter_bench.py
	$(PY) bench/group_bench.py
	$(PY) bench/table.py

clean:
	rm -rf $(VENV)
