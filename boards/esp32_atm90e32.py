"""The `esp32_atm90e32` board: an ESP32 DevKitC with an ATM90E32AS metering IC on SPI as
its front-end (the second supplier behind the same seam: boards/atm90e32.py, then
metering.ic_windows), three-phase 4-wire or single-phase on L1. Everything else (P1,
test LED, Wi-Fi, watchdog, RTC memory for the energy a reset would lose) is the esp32
board's. The ADC front-end and this one share no part: either can be sourced alone.

Wiring: VSPI (SCK 18, MOSI 23, MISO 19), CS on GPIO 5; the IC's voltage and current
inputs through its reference design's dividers and CTs (Ugain/Igain design values in
boards/atm90e32.py). Verified: compiles, type-checks; runs through the esp32 port rig
against the register-level emulator (host_tests/rigs/atm90e32_chip.py). Not verified:
on hardware.
"""
from compat import const

from boards import common
from boards.atm90e32 import ATM90E32
from boards.common import TRIAL_LIMIT_S, WATCHDOG_MS, mqtt_connector  # noqa: F401 - shared
from boards import esp32
from boards.esp32 import INSTALL_AT_BOOT, P1_BAUD, STORAGE_ROOT  # noqa: F401 - shared

NAME = "esp32_atm90e32"
TEST_LED_IMP_PER_KWH = 1000
HARDWARE_ID = "esp32-devkitc-atm90e32-v1"
PHASES = 3  # 1: single-phase on L1
FRONT_END = common.ICFrontEnd()

_SPI_ID = const(2)  # VSPI
_SCK, _MOSI, _MISO, _CS = const(18), const(23), const(19), const(5)
SPI_BAUD = const(1000000)  # ESPHome drives it at 1 MHz; the datasheet's limit not found


def hardware():
    """Build the board's hardware objects; call once, from the wiring module."""
    import machine
    import time

    spi = machine.SPI(_SPI_ID, baudrate=SPI_BAUD, polarity=1, phase=1,
                      sck=machine.Pin(_SCK), mosi=machine.Pin(_MOSI), miso=machine.Pin(_MISO))
    cs = machine.Pin(_CS, machine.Pin.OUT, value=1)
    chip = ATM90E32(spi, cs, time.sleep_ms, phases=PHASES,
                    line_hz=int(FRONT_END.mains_f_nominal_hz),
                    start_w=FRONT_END.starting_power_w)
    return esp32.hardware_with(chip, NAME)
