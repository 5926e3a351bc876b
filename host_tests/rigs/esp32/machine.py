"""machine for the esp32 port rig: what boards/esp32.py uses, as MicroPython's esp32
port provides it (ports/esp32/machine_adc.c, machine_pin.c, machine_uart.c;
docs/esp32/quickref.rst "ADC (analog to digital conversion)"): ADC(Pin, atten=) on the
ADC1 pins 32..39 (ADC2 refuses while Wi-Fi is on: CONTEXT.md), the legacy width() and
raw read(), UART with INV_TX, Pin, SPI (to a metering IC), unique_id (the 6-byte MAC), reset, reset_cause
(ports/esp32/modmachine.c constants), WDT (ports/esp32/machine_wdt.c: the ESP-IDF task
watchdog, esp_task_wdt_add(NULL): it watches the task that built it, and a feed from
any other task is not that task's and does not count; the timeout in whole seconds,
under one second refused).

read() samples the simulated signal at the instant it is called (the host's ticks_us):
a loop that is late reads late, as on the chip.
"""
import sys

import _thread

from rigs import gpio, state
from rigs.gpio import PinLevel, RecordingUART, reset  # noqa: F401 - machine.reset

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


class WDT(gpio.Watchdog):
    def _check_timeout(self, timeout):
        if timeout // 1000 <= 0:
            raise ValueError("WDT timeout too short")
        self._task = _thread.get_ident()

    def _feed_counts(self):
        return _thread.get_ident() == self._task


class RTC(gpio.RigRTC):
    """machine.RTC() as far as the firmware uses it: datetime() (gpio.RigRTC); memory()
    reads the user memory, memory(buf) replaces it (at most 2048 bytes,
    ports/esp32/machine_rtc.c)."""

    def memory(self, data=None):
        if data is None:
            return state.rtc_memory
        if len(data) > 2048:
            raise ValueError("buffer too long")
        state.rtc_memory = bytes(data)


def reset_cause():
    return gpio.reset_cause_of(sys.modules[__name__])

_ADC1_PINS = (32, 33, 34, 35, 36, 37, 38, 39)
_ADC2_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27)
_INPUT_ONLY = (34, 35, 36, 37, 38, 39)
wifi_on = True  # a meter with an operator link has Wi-Fi on: ADC2 unusable


class Pin(PinLevel):
    IN = 1
    OUT = 3
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        if not 0 <= id <= 39 or id in (20, 24, 28, 29, 30, 31):
            raise ValueError("invalid pin")
        if mode == Pin.OUT and id in _INPUT_ONLY:
            raise ValueError("pin can only be input")
        self.id = id
        self.mode = mode
        self._init_level(value)
        state.pins[id] = self


class SPI:
    """machine.SPI(id, baudrate, polarity, phase, sck=, mosi=, miso=) on the esp32 port
    (ports/esp32/machine_hw_spi.c: hardware SPI 1 and 2); the bus reaches the metering IC
    of rigs.state.chip, if the board has one, selected by its CS pin's level."""

    MSB = 0

    def __init__(self, id, baudrate=500000, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        if id not in (1, 2):
            raise ValueError("SPI(%d) doesn't exist" % id)
        if bits != 8:
            raise ValueError("bits must be 8")
        self.baudrate, self.polarity, self.phase = baudrate, polarity, phase

    def write_readinto(self, out, into):
        if len(out) != len(into):
            raise ValueError("buffers must be the same length")
        if state.chip is None:
            into[:] = b"\xff" * len(into)  # nothing on the bus: MISO floats high
            return
        from rigs.atm90e32_chip import ChipSPI

        ChipSPI(state.chip, self.baudrate, self.polarity, self.phase).write_readinto(out, into)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 9
    WIDTH_10BIT = 10
    WIDTH_11BIT = 11
    WIDTH_12BIT = 12

    def __init__(self, pin, *, atten=ATTN_0DB):
        if not isinstance(pin, Pin):
            raise TypeError("expecting a Pin")
        if pin.id in _ADC2_PINS and wifi_on:
            raise OSError("ADC2 is in use by Wi-Fi")
        if pin.id not in _ADC1_PINS and pin.id not in _ADC2_PINS:
            raise ValueError("invalid Pin for ADC")
        self.pin = pin.id
        self.atten = atten
        self.bits = 12
        wired = state.wiring.get(pin.id)
        self._current = wired == "i"
        self._wired = wired in ("v", "i")

    def width(self, bits):
        if bits not in (9, 10, 11, 12):
            raise ValueError("invalid bit width")
        self.bits = bits

    def read(self):
        if not self._wired:
            return 0  # nothing wired: the input sits near ground
        if self.atten != ADC.ATTN_11DB:
            return 4095  # the front-end's ~1.3 V bias saturates any lower range
        code = state.signal.code_at(state.elapsed_s(), self._current)
        if state.clock_us is not None:
            state.advance_us(state.ADC_READ_US)  # the conversion takes its time
        return code >> (12 - self.bits)


class UART(RecordingUART):
    INV_TX = 1 << 5  # ports/esp32/machine_uart.c: UART_SIGNAL_TXD_INV
    INV_RX = 1 << 2

    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, *, tx=None, rx=None,
                 invert=0, txbuf=256, rxbuf=256):
        if id not in (0, 1, 2):
            raise ValueError("UART(%d) does not exist" % id)
        for pin in (tx, rx):
            if pin is not None and isinstance(pin, int) and not 0 <= pin <= 39:
                raise ValueError("invalid pin")
        if isinstance(tx, int) and tx in _INPUT_ONLY:
            raise ValueError("TX on an input-only pin")
        self._init_recording(id, baudrate, invert)


def unique_id():
    return b"\x24\x0a\xc4\x12\x34\x56"


def freq():
    return 240_000_000
