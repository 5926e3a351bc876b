# The sim board's module list (MicroPython's manifest format, as esp32/manifest.py): what
# `make sim`, the virtual board and the tests stage. It can also freeze them into a unix
# port build:  make -C micropython/ports/unix FROZEN_MANIFEST=<repo>/boards/freeze/sim/manifest.py
include("../firmware.py", board="sim")
