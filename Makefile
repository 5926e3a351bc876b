# Smart meter firmware: host tooling. Every target builds .venv from pinned requirements.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MPY := $(BIN)/micropython
SECONDS ?= 0
BOARD ?= esp32
PORT ?=
HEAP_KB ?=

.PHONY: all venv test sim vboard stage deploy bench check clean

all: test

$(VENV)/.installed: requirements.txt requirements-stubs.txt requirements-board.txt pyproject.toml tools/mp32/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --target $(VENV)/stubs/esp32 micropython-esp32-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --target $(VENV)/stubs/rp2 micropython-rp2-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
	$(PY) -m tools.deploy.board_libs
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# the 32-bit MicroPython (webassembly port); without npm its tests skip (CI installs it)
	if command -v npm >/dev/null 2>&1; then cd tools/mp32 && npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the 32-bit MicroPython is not installed (apt-get install nodejs npm, then: cd tools/mp32 && npm ci)"; fi
	touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m pytest

# The sim board runs from a staged copy of the device's files, like a flashed board;
# its data/ folder (registers, logs) survives re-staging as flash survives a deploy.
sim: venv
	$(PY) -m tools.deploy.stage sim build/sim
	cd build/sim && ../../$(MPY) -X heapsize=512K main.py $(SECONDS)

# The virtual board: firmware behind a pseudo-terminal, for mpremote (`make vboard`).
vboard: venv
	$(PY) -m tools.vboard --seconds $(SECONDS)

stage: venv
	$(PY) -m tools.deploy.stage $(BOARD) build/stage/$(BOARD)

# Compile for the board with mpy-cross, check the heap budget (HEAP_KB states the board's
# real heap), and copy with mpremote (data/ on the board is kept).
deploy: venv
	@test -n "$(PORT)" || { echo "usage: make deploy BOARD=esp32|rp2040 PORT=/dev/ttyUSB0"; exit 2; }
	$(PY) -m tools.deploy --board $(BOARD) --port $(PORT) $(if $(HEAP_KB),--heap-kb $(HEAP_KB))

# mpy-cross for both targets and the stub type-check of the board modules.
check: venv
	$(PY) -m tools.deploy.check_build

bench: venv
	$(PY) -m tools.bench

clean:
	rm -rf $(VENV) build .pytest_cache tools/mp32/node_modules
