# Two commands do all the set-up on a fresh machine:
#   make run    installs into .venv and launches the app on the bundled sample
#   make test   installs into .venv and runs the import contract and the test suite
#   make bundle builds the PyInstaller onedir bundle into dist/ (slow; optional) and smoke-tests it
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# pip resumes a dropped download, and each install step gets up to three attempts.
PIP    := $(PYTHON) -m pip install --quiet --retries 10 --resume-retries 20 -c packaging/install-constraints.txt
RETRY  := sh -c 'for attempt in 1 2 3; do "$$@" && exit 0; echo "install step failed (attempt $$attempt), retrying" >&2; sleep 15; done; exit 1' retry

.PHONY: install run test bench bundle clean

$(STAMP): pyproject.toml packaging/install-constraints.txt
	python3 -m venv $(VENV)
	$(RETRY) $(PYTHON) -m pip install --quiet --upgrade pip
	$(RETRY) $(PIP) torch==2.14.1 torchvision==0.29.1
	$(RETRY) $(PIP) -e '.[test]'
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
	$(RETRY) $(PIP) -e '.[package]'
	packaging/smoke_test_bundle.sh

clean:
	rm -rf $(VENV) build dist *.egg-info
