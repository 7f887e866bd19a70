# Two entry points on a fresh machine: `make demo` (set up + the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/reproduce

.PHONY: setup demo demo-quick test lint bench figures niah-figure clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0          # the local CPU wheel, before anything pulls a CUDA build
	$(PIP) install -q -e '.[dev,data]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)  ## the whole LongVA recipe at toy scale, then the report (resumes if killed)
	$(VENV)/bin/longva reproduce --out $(DEMO_OUT)

demo-quick: $(STAMP)
	$(VENV)/bin/longva reproduce --quick --out runs/reproduce-quick

test: $(STAMP)  ## the test suite (< 10 minutes on 2 cores)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

figures: $(STAMP)  ## regenerate the README table and side-by-side heatmap from the demo run
	$(VENV)/bin/longva reproduce --out $(DEMO_OUT) --publish docs/assets

niah-figure: $(STAMP)  ## the README's V-NIAH comparison figure from tiny random models (~1 min)
	OMP_NUM_THREADS=1 $(PY) -m longva.niah.demo --out runs/niah-demo --publish docs/assets

clean:
	rm -rf $(VENV) runs
