# Two entry points on a fresh machine: `make demo` (set up + the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.serve-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_OUT ?= runs/reproduce
DEMO_SEEDS ?= 3
# lmms-eval lives in its own venv so the main one stays light (see pyproject.toml's `eval` extra)
LMMS_VENV ?= .venv-lmms
LMMS_PY := $(LMMS_VENV)/bin/python
LMMS_STAMP := $(LMMS_VENV)/.installed
LMMS_EVAL_VERSION ?= 0.7.3

.PHONY: setup demo demo-quick test test-serve serve-screenshot test-lmms-eval lint bench figures niah-figure clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0          # the local CPU wheel, before anything pulls a CUDA build
	$(PIP) install -q -e '.[dev,data,serve]'
	$(PY) -c "import torch; v = torch.__version__; assert v.startswith('2.13.0') and 'cpu' in v, v"
	touch $(STAMP)

$(SERVE_STAMP): $(STAMP)  # Debian's Chromium (never a downloaded browser) and playwright to drive it
	[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || \
		( $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium chromium-driver )
	$(PIP) install -q -e '.[dev,data,serve,browser]'
	$(PY) -c "import torch; v = torch.__version__; assert v.startswith('2.13.0') and 'cpu' in v, v"
	touch $(SERVE_STAMP)

setup: $(STAMP)

demo: $(STAMP)  ## the whole LongVA recipe at toy scale over 3 seeds, then the reports (resumes if killed)
	$(VENV)/bin/longva reproduce --seeds $(DEMO_SEEDS) --out $(DEMO_OUT)

demo-quick: $(STAMP)
	$(VENV)/bin/longva reproduce --quick --out runs/reproduce-quick

test: $(STAMP)  ## the test suite (< 10 minutes on 2 cores); the browser test runs in test-serve
	$(PY) -m pytest -m "not browser"

test-serve: $(SERVE_STAMP)  ## `longva serve`: API, load and the page in headless Chromium (screenshot in runs/test-serve)
	OMP_NUM_THREADS=1 SERVE_SCREENSHOT=runs/test-serve/serve_page.png $(PY) -m pytest tests/serve

serve-screenshot: $(SERVE_STAMP)  ## refresh docs/assets/serve_page.png (the README's picture of the page)
	OMP_NUM_THREADS=1 SERVE_SCREENSHOT=docs/assets/serve_page.png $(PY) -m pytest tests/serve -m browser

$(LMMS_STAMP): pyproject.toml constraints/cpu.txt
	$(PYTHON) -m venv $(LMMS_VENV)
	$(LMMS_VENV)/bin/pip install -q --upgrade pip
	$(LMMS_VENV)/bin/pip install -q torch==2.13.0          # the CPU wheel first, as in setup
	$(LMMS_VENV)/bin/pip install -q -c constraints/cpu.txt -e '.[dev,data,eval]'
	$(LMMS_VENV)/bin/pip install -q -c constraints/cpu.txt --no-deps lmms-eval==$(LMMS_EVAL_VERSION)
	touch $(LMMS_STAMP)

test-lmms-eval: $(LMMS_STAMP)  ## lmms-eval's real CLI on this package, in its own venv; our reader on av<16
	$(LMMS_PY) -c "import torch; v = torch.__version__; print('torch', v); assert v.endswith('+cpu'), 'the eval install replaced the CPU torch: ' + v"
	OMP_NUM_THREADS=1 $(LMMS_PY) -m pytest tests/integrations tests/data/test_video.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

figures: $(STAMP)  ## regenerate the README table and side-by-side heatmap from the demo run
	$(VENV)/bin/longva reproduce --seeds $(DEMO_SEEDS) --out $(DEMO_OUT) --publish docs/assets

niah-figure: $(STAMP)  ## the README's V-NIAH comparison figure from tiny random models (~1 min)
	OMP_NUM_THREADS=1 $(PY) -m longva.niah.demo --out runs/niah-demo --publish docs/assets

clean:
	rm -rf $(VENV) $(LMMS_VENV) runs
