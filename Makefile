# One command does all set-up: every target below creates .venv and installs on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install test test-full lint unit notebooks run slides lab bench clean pretrain

help:
	@echo "make run    execute every notebook with papermill into build/notebooks/, render build/html/, print run times"
	@echo "make slides reveal.js decks that work offline in build/slides/ (executes what is missing or stale first)"
	@echo "make test   lint + unit tests + every notebook under nbval (what CI runs)"
	@echo "make unit   the fast unit tests and doctests only"
	@echo "make test-full  every notebook under profile=\"full\" (several minutes)"
	@echo "make test-browser  every notebook run in JupyterLab and every deck opened, in Chromium (needs chromium)"
	@echo "make lab    JupyterLab on notebooks/ with the course's settings (jupyter/)"
	@echo "make bench  optimizer step benchmarks (figures, not tests)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests benchmarks notebooks
	$(VENV)/bin/mypy

# The fast unit tests and doctests: no notebook, nothing slow, no browser (under two minutes here).
unit: $(STAMP)
	$(PY) -m pytest tests lib -q -m "not notebook and not slow and not browser"

notebooks: $(STAMP)
	$(PY) -m pytest notebooks -q

test: lint $(STAMP)
	$(PY) -m pytest -q

# Every notebook again under profile="full": the claims only the longer runs check (several minutes).
test-full: $(STAMP)
	OPTIMLAB_FULL=1 $(PY) -m pytest tests/test_full_profile.py -q

# run and slides fetch reveal.js and MathJax once with npm (package-lock.json) and copy them beside the pages.
run: $(STAMP)
	$(PY) -m optimlab.tools.run_notebooks notebooks build/notebooks --html build/html

slides: $(STAMP)
	$(PY) -m optimlab.tools.run_notebooks notebooks build/notebooks --reuse --slides build/slides

# jupyter/ holds the course's JupyterLab settings (no news pop-up, the preferred kernel started without asking).
lab: $(STAMP)
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	    $(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)/notebooks"

# The browser suite (tests/browser, marker "browser"); `make test` runs it too when chromium is installed.
test-browser: $(STAMP)
	OPTIMLAB_REQUIRE_BROWSER=1 $(PY) -m pytest tests/browser -q -m browser

bench: $(STAMP)
	$(PY) benchmarks/optimizer_step.py

# The transfer-learning backbone (data/letters_cnn.pt + .json): deterministic for the seed, ~1-2 min on a CPU.
pretrain: $(STAMP)
	$(PY) -m optimlab.tools.pretrain --seed 0

clean:
	rm -rf build
