# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: install run test bench bench-peak bench-pages lint screenshots pacs

install: $(VENV)/.installed node_modules/.installed

# Development installs both lists; a production host installs requirements.txt alone (docs/deployment.md).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install
	$(PY) -m flask db upgrade
	$(PY) -m flask seed --demo
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/gunicorn --config gunicorn.conf.py wsgi:app

# Two processes (pytest-xdist): every test that drives Chromium runs on one of them, one after
# the other (tests/conftest.py puts them in one xdist group), the other takes everything else.
# Serial (`$(PY) -m pytest`) it took 24 minutes on 2 cores; like this about 14.
test: install
	$(PY) -m pytest -n 2 --dist loadgroup

# Benchmarks (see bench/README.md): 100,000 orders on SQLite, and on PostgreSQL
# when BENCH_DATABASE_URL / TEST_DATABASE_URL (default postgres@127.0.0.1:5432) answers.
# BENCH_ORDERS, BENCH_BACKENDS, BENCH_REUSE=1 and BENCH_ARGS tune it.
bench: install
	$(PY) -m bench.run $(BENCH_ARGS)

# A department at peak (see bench/README.md): every role at once against gunicorn on PostgreSQL,
# two instances, the capacity steps and the worklist at scale; < 10 min on 2 cores.
# BENCH_PEAK_SECONDS, BENCH_PEAK_STEPS, BENCH_PEAK_ORDERS, BENCH_REUSE=1 ... tune it.
bench-peak: install
	$(PY) -m bench.peak

# CPU per page request for every live page, full and as the live re-fetch, SQLite and PostgreSQL
# (see bench/README.md, the cost of a page). BENCH_PAGES_ARGS: e.g. "--pages worklist --profile".
bench-pages: install
	$(PY) -m bench.page_cpu $(BENCH_PAGES_ARGS)

lint: install
	$(VENV)/bin/ruff check .

# Screenshots of the main pages for docs/web-pages.md (real server, headless Chromium).
screenshots: install
	$(PY) scripts/screenshots.py

# A local Orthanc for development (docs/pacs.md): HTTP on 127.0.0.1:8042, DICOM on 4242 (AE ORTHANC),
# data under instance/orthanc. Then: ORTHANC_URL=http://127.0.0.1:8042 make run
ORTHANC ?= Orthanc
pacs:
	@command -v $(ORTHANC) >/dev/null || { echo "Orthanc is not installed (Debian: apt-get install orthanc)"; exit 1; }
	mkdir -p instance/orthanc
	$(ORTHANC) pacs/orthanc.json
