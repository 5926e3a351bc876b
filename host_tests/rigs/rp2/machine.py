"""machine for the rp2 port rig: what boards/rp2040.py uses, as MicroPython's rp2 port
provides it (ports/rp2/machine_adc.c, machine_pin.c, machine_uart.c, modmachine.c;
docs/rp2/quickref.rst): ADC by GPIO 26..29 or channel 0..4, Pin (including "LED"),
UART with INV_TX, mem32 over the ADC registers (rp2040_chip), unique_id (8 bytes of
flash id), reset, reset_cause (ports/rp2/modmachine.c: power-on or watchdog only), WDT
(ports/rp2/machine_wdt.c: id 0 only, at most 8388 ms, "timeout exceeds 8388" above).
"""
import sys

import rp2040_chip
from rigs import gpio, state
from rigs.gpio import PinLevel, RecordingUART, reset  # noqa: F401 - machine.reset

PWRON_RESET = 1
WDT_RESET = 3
_WDT_TIMEOUT_MAX = 8388  # the 24-bit counter at 2 ticks per microsecond


RTC = gpio.RigRTC


class WDT(gpio.Watchdog):
    def _check_timeout(self, timeout):
        if timeout > _WDT_TIMEOUT_MAX:
            raise ValueError("timeout exceeds 8388")


def reset_cause():
    return gpio.reset_cause_of(sys.modules[__name__])

_UART_TX_PINS = {0: (0, 12, 16, 28), 1: (4, 8, 20, 24)}  # RP2040 datasheet §1.4.3 (F2)


class Pin(PinLevel):
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        if isinstance(id, str):
            if id != "LED":
                raise ValueError("unknown named pin \"%s\"" % id)
        elif not 0 <= id <= 29:
            raise ValueError("invalid pin")
        self.id = id
        self.mode = mode
        self._init_level(value)


class ADC:
    """ports/rp2/machine_adc.c: an int below 4 is a channel number (the pad keeps its
    pull-down: CONTEXT.md), 26..29 a GPIO (pad set to analogue, no pulls), 4 the sensor."""

    def __init__(self, pin):
        if isinstance(pin, Pin):
            pin = pin.id
        if 26 <= pin <= 29:
            self.channel = pin - 26
            self.pulled_down = False
        elif 0 <= pin <= 4:
            self.channel = pin
            self.pulled_down = pin < 4
        else:
            raise ValueError("invalid pin")
        opened.append(self)

    def read_u16(self):
        raise rp2040_chip.RigError("read_u16 while the DMA owns the ADC is not modelled")


opened = []  # ADC objects the firmware created (a test checks the pads)


class UART(RecordingUART):
    INV_TX = 1
    INV_RX = 2

    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, *, tx=None, rx=None,
                 invert=0, txbuf=256, rxbuf=256):
        if id not in _UART_TX_PINS:
            raise ValueError("UART(%d) doesn't exist" % id)
        if tx is not None:
            tx_id = tx.id if isinstance(tx, Pin) else tx
            if tx_id not in _UART_TX_PINS[id]:
                raise ValueError("bad TX pin")
        self._init_recording(id, baudrate, invert)


_SCRATCH0 = 0x4005800C  # RP2040 datasheet 4.7.6: WATCHDOG_BASE + 0x0c, eight words
_SCRATCH_FREE = 4  # scratch 4-7: the bootrom's watchdog boot and the SDK's reboot checks


class _Mem32:
    def __getitem__(self, addr):
        if _SCRATCH0 <= addr < _SCRATCH0 + 32:
            return state.scratch[(addr - _SCRATCH0) // 4]
        return rp2040_chip.adc.read(addr)

    def __setitem__(self, addr, value):
        if _SCRATCH0 <= addr < _SCRATCH0 + 32:
            k = (addr - _SCRATCH0) // 4
            if k >= _SCRATCH_FREE:
                raise rp2040_chip.RigError("watchdog scratch %d belongs to the bootrom" % k)
            state.scratch[k] = value & 0xFFFFFFFF
            return
        rp2040_chip.adc.write(addr, value)


mem32 = _Mem32()


def unique_id():
    return b"\xe6\x61\x41\x04\x03\x2a\x5c\x28"


def freq():
    return 125_000_000
