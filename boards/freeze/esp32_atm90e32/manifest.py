# Freezing manifest for the esp32_atm90e32 board (an ESP32 with the ATM90E32AS metering
# IC as its front-end), in MicroPython's manifest format; as boards/freeze/esp32.
#
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=<repo>/boards/freeze/esp32_atm90e32/manifest.py
include("$(PORT_DIR)/boards/manifest.py")  # the port's own frozen modules
include("../firmware.py", board="esp32_atm90e32")
