# Smart meter firmware: host tooling. Every target builds .venv from pinned requirements.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MPY := $(BIN)/micropython
SECONDS ?= 0
BOARD ?= esp32
PORT ?=

.PHONY: all venv test sim vboard deploy bench check-mpy typecheck clean

all: test

$(VENV)/.installed: requirements.txt requirements-stubs.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --target $(VENV)/stubs/esp32 micropython-esp32-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --target $(VENV)/stubs/rp2 micropython-rp2-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
	touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m pytest

# The sim board runs from a staged copy of the device's files, like a flashed board;
# its data/ folder (registers, logs) survives re-staging as flash survives a deploy.
sim: venv
	$(PY) -m tools.stage sim build/sim
	cd build/sim && ../../$(MPY) -X heapsize=256K main.py $(SECONDS)

clean:
	rm -rf $(VENV) build .pytest_cache
