# Freezing manifest for the esp32 board, in MicroPython's manifest format
# (docs/reference/manifest.rst; tools/manifestfile.py). It freezes the firmware, the
# board module and umqtt.simple into the image: their bytecode runs from flash and their
# names are interned at build time, which is what makes the meter fit a 64 KB-class heap
# (docs/BOARDS.md, "Frozen images"). Relative paths are relative to this file.
#
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=<repo>/boards/freeze/esp32/manifest.py
include("$(PORT_DIR)/boards/manifest.py")  # the port's own frozen modules
include("../firmware.py", board="esp32")
