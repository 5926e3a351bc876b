# Freezing manifest for the rp2040 board, in MicroPython's manifest format
# (docs/reference/manifest.rst; tools/manifestfile.py). See esp32/manifest.py.
#
#   cd micropython/ports/rp2
#   make BOARD=RPI_PICO FROZEN_MANIFEST=<repo>/boards/freeze/rp2040/manifest.py
#
# ARMv6-M: mpy-tool.py aligns frozen native code to 2 bytes where the emitter needs 4, so a
# frozen viper function can compute wrong results (CONTEXT.md). The power-on self-test
# (firmware/post.py) checks every viper kernel against its known answers at boot and
# fails closed; an image whose self-test fails must not be shipped.
include("$(PORT_DIR)/boards/manifest.py")
include("../firmware.py", board="rp2040")
