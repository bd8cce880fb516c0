# Two commands do all the set-up on a fresh machine:
#   make run    installs into .venv and launches the app on the bundled sample
#   make test   installs into .venv and runs the import contract and the test suite
#   make bundle builds the PyInstaller onedir bundle into dist/ (slow; optional) and smoke-tests it
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test bench bundle clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/pretext-studio --sample

test: $(STAMP)
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q

bench: $(STAMP)
	$(PYTHON) bench/pretrain_throughput.py

bundle: $(STAMP)
	$(PYTHON) -m pip install --quiet -e '.[package]'
	packaging/smoke_test_bundle.sh

clean:
	rm -rf $(VENV) build dist *.egg-info
