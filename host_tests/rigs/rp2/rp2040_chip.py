"""The RP2040 peripherals the rp2040 board drives through registers: the ADC block
(RP2040 datasheet §4.9: CS, FCS, FIFO, DIV; round robin; a 4-entry FIFO; pacing from the
48 MHz clk_adc) and its DREQ to the DMA (§2.5). Conversions happen in real time on the
host's clock, so a reader that falls behind is lapped as on the chip.

Models only what the board uses: round robin starting at AINSEL 0 over inputs 0 and 1,
START_MANY, DREQ at THRESH 1, no SHIFT, no ERR bits. Anything else raises RigError
rather than being silently ignored.
"""
import time
from array import array

from rigs import state

ADC_BASE = 0x4004C000
CS, FCS, FIFO, DIV = ADC_BASE, ADC_BASE + 8, ADC_BASE + 12, ADC_BASE + 16
CS_EN = 1 << 0
CS_START_MANY = 1 << 3
CS_READY = 1 << 8
FCS_EN = 1 << 0
FCS_SHIFT = 1 << 1
FCS_DREQ_EN = 1 << 3
FCS_UNDER = 1 << 10
FCS_OVER = 1 << 11
CLK_ADC_HZ = 48_000_000
FIFO_DEPTH = 4
DREQ_ADC = 36
INPUT_GPIO = (26, 27, 28, 29)  # §4.9.1: ADC inputs 0..3 are GPIO26..29


class RigError(Exception):
    """The firmware used the chip in a way this rig does not model."""


class ADCBlock:
    def __init__(self):
        self.cs = 0
        self.fcs = 0
        self.div = 0
        self.fifo = []
        self.dreq_sink = None  # the DMA channel paced by DREQ_ADC, while it is armed
        self._started_us = None
        self._conversions = 0  # conversions completed since START_MANY
        self._pairs = array("H", bytes(4 * 64))  # signal samples, 64 pairs at a time
        self._pair_at = 64
        self.converted = 0
        self.overflows = 0

    # register file ---------------------------------------------------------------------
    def read(self, addr):
        self.advance()
        if addr == CS:
            return self.cs | CS_READY
        if addr == FCS:
            level = len(self.fifo)
            return (self.fcs & ~(0xF << 16)) | (level << 16)
        if addr == FIFO:
            if not self.fifo:
                self.fcs |= FCS_UNDER
                return 0
            return self.fifo.pop(0)
        if addr == DIV:
            return self.div
        raise RigError("read of an ADC register the rig does not model: 0x%x" % addr)

    def write(self, addr, value):
        self.advance()
        if addr == CS:
            if value & ~(CS_EN | CS_START_MANY | (7 << 12) | (0x1F << 16)):
                raise RigError("CS bits the rig does not model: 0x%x" % value)
            starting = value & CS_START_MANY and not self.cs & CS_START_MANY
            self.cs = value
            if starting:
                self._start()
            elif not value & CS_START_MANY:
                self._started_us = None
        elif addr == FCS:
            if value & FCS_SHIFT:
                raise RigError("FCS.SHIFT is not modelled")
            flags = self.fcs & (FCS_UNDER | FCS_OVER) & ~value  # write 1 to clear
            self.fcs = (value & ~(FCS_UNDER | FCS_OVER)) | flags
        elif addr == DIV:
            self.div = value & 0xFFFFFF
        else:
            raise RigError("write to an ADC register the rig does not model: 0x%x" % addr)

    # conversions ------------------------------------------------------------------------
    def _period_cycles(self):
        # §4.9.2.2 / §4.9.6 DIV: a conversion every 1 + INT + FRAC/256 cycles
        return 1 + (self.div >> 8) + (self.div & 0xFF) / 256

    def _start(self):
        ainsel = (self.cs >> 12) & 7
        rrobin = (self.cs >> 16) & 0x1F
        if ainsel != 0 or rrobin != 0b00011:
            raise RigError("the rig models round robin over inputs 0 and 1 from input 0")
        if self.div >> 8 == 0:
            raise RigError("DIV.INT 0 (back-to-back conversions) is not modelled")
        conversions_hz = CLK_ADC_HZ / self._period_cycles()
        signal = state.signal
        signal.rate_hz = conversions_hz / 2  # pairs per second
        signal.scenario["i_delay_us"] = 1e6 / conversions_hz  # input 1 one period later
        signal.set()
        self._started_us = time.ticks_us()
        self._conversions = 0

    def advance(self):
        """Complete every conversion due by now, delivering each to the DMA (DREQ) or the
        FIFO (overflow flag when full, the result lost)."""
        if self._started_us is None:
            return
        elapsed_us = time.ticks_diff(time.ticks_us(), self._started_us)
        due = int(elapsed_us * (CLK_ADC_HZ / 1e6) / self._period_cycles())
        while self._conversions < due:
            code = self._next_code()
            self._conversions += 1
            self.converted += 1
            sink = self.dreq_sink
            if (sink is not None and self.fcs & FCS_EN and self.fcs & FCS_DREQ_EN):
                sink.transfer(code)
            elif self.fcs & FCS_EN:
                if len(self.fifo) < FIFO_DEPTH:
                    self.fifo.append(code)
                else:
                    self.fcs |= FCS_OVER
                    self.overflows += 1
            # FIFO disabled: the result only appears in the RESULT register (not modelled)

    def _next_code(self):
        k = self._conversions
        if k % 2 == 0 and self._pair_at >= 64:
            state.signal.fill(self._pairs, 64)
            self._pair_at = 0
        wired = state.wiring.get(INPUT_GPIO[k % 2])
        if wired not in ("v", "i"):
            raise RigError("ADC input %d (GPIO%d) has nothing wired to it" % (k % 2, INPUT_GPIO[k % 2]))
        code = self._pairs[2 * self._pair_at + (1 if wired == "i" else 0)]
        if k % 2:
            self._pair_at += 1
        return code


adc = ADCBlock()
