"""The `rp2040` board: Raspberry Pi Pico (RP2040) with the shared single-phase front-end.

The ADC converts voltage and current alternately (round robin) at a divider-paced rate and
DMA streams its FIFO into a RAM ring, so no pair is lost while the metering code runs.
Registers are the RP2040's (datasheet §4.9.6): never use this module on an RP2350.
Verified: compiles (mpy-cross -march=armv6m), type-checks (micropython-rp2-stubs 1.29).
Not verified: on hardware.
"""
from compat import const

from boards import common
from boards.common import TRIAL_LIMIT_S, WATCHDOG_MS, mqtt_connector  # noqa: F401 - shared

NAME = "rp2040"
TEST_LED_IMP_PER_KWH = 1000  # the meter constant on the nameplate (metering.pulses)
HARDWARE_ID = "pico-rp2040-v1"
# Packages are verified and installed by the boot stage before the meter is built
# (boot_install): the running meter and the verifier do not fit one heap together
# (BENCHMARKS.md, "Memory"). A staged package costs the seconds of one restart.
INSTALL_AT_BOOT = True

_V_ADC_PIN = const(26)  # GP26 = ADC0: voltage divider
_I_ADC_PIN = const(27)  # GP27 = ADC1: CT burden
_P1_UART_ID = const(0)
_P1_TX_PIN = const(0)  # GP0 = UART0 TX
P1_BAUD = const(115200)  # DSMR 5.0.2 P1: 115200 8N1, inverted logic on the line
LED_PIN = "LED"  # by name: GP25 on the Pico, the Wi-Fi chip's GPIO on the Pico W
STORAGE_ROOT = "/data"
BLOCK_PAIRS = const(128)  # DMA ring block: 32 ms at 4000 pairs/s

# The shared front-end, sampling rate and current delay hold exactly: round robin converts
# the current one ADC period, 1 / (2 * rate), after the voltage of the same pair.
FRONT_END = common.SHARED

# RP2040 datasheet §4.9.6: ADC registers at 0x4004c000 (addresses above 2**30 are big ints
# on MicroPython, so each register gets its own constant: no arithmetic at run time)
_ADC_CS = const(0x4004C000)
_ADC_FCS = const(0x4004C008)
_ADC_FIFO = const(0x4004C00C)
_ADC_DIV = const(0x4004C010)
_CS_EN = const(1 << 0)
_CS_START_MANY = const(1 << 3)
_CS_READY = const(1 << 8)
_CS_AINSEL_LSB = const(12)
_CS_RROBIN_LSB = const(16)
_FCS_EN = const(1 << 0)
_FCS_DREQ_EN = const(1 << 3)
_FCS_UNDER = const(1 << 10)  # write 1 to clear
_FCS_OVER = const(1 << 11)  # write 1 to clear
_FCS_LEVEL_MASK = const(0xF << 16)
_FCS_THRESH_LSB = const(24)
_ADC_CLOCK_HZ = const(48_000_000)  # clk_adc, from the USB PLL
_ADC_CONVERSION_CYCLES = const(96)  # §4.9.2: one conversion takes 96 clk_adc cycles
_DREQ_ADC = const(36)  # §2.5.3.1: DREQ number of the ADC FIFO
_DMA_AL2_WRITE_ADDR_TRIG = const(11)  # §2.5.7: CHx_AL2_WRITE_ADDR_TRIG at 0x2c, word 11


def adc_div(rate_hz):
    """ADC DIV register value for `rate_hz` pairs/s: two conversions per pair.

    §4.9.6 DIV: a conversion starts every 1 + INT + FRAC/256 cycles of clk_adc.
    """
    conversions_hz = 2 * rate_hz
    cycles = _ADC_CLOCK_HZ // conversions_hz
    frac = (_ADC_CLOCK_HZ % conversions_hz) * 256 // conversions_hz
    if cycles < _ADC_CONVERSION_CYCLES or cycles - 1 > 0xFFFF:
        raise ValueError("rate_hz out of the ADC's range")
    return ((cycles - 1) << 8) | frac


class RP2040ADCPair:
    """ADC-pair object (contract of boards.sim.SimADC): ADC0/ADC1 round robin -> FIFO ->
    DMA into a ring of `ring_blocks` blocks; readinto copies the oldest complete block.

    A second DMA channel re-arms the first at the ring start each pass, so acquisition
    never stops; a hard IRQ per pass counts passes, which tells a lapped reader how many
    pairs it lost. Owns the ADC: nothing else may read an ADC input while it runs.
    """

    def __init__(self, rate_hz=FRONT_END.sample_pairs_per_s, block_pairs=BLOCK_PAIRS,
                 ring_blocks=16):
        import machine
        import rp2
        import uctypes
        from array import array

        if ring_blocks < 3:  # one block being written, one being read, one of slack
            raise ValueError("ring_blocks must be at least 3")
        self.rate_hz = rate_hz
        self.block_pairs = block_pairs
        # round robin: the current is converted one ADC period after its voltage
        self.i_delay_us = 1e6 / (2 * rate_hz)
        self.lost_pairs = 0
        self._mem32 = machine.mem32
        self._div = adc_div(rate_hz)
        # open the inputs by pin: this sets the pads to analogue with no pulls (by channel
        # number, ADC(0), the pad keeps its pull-down)
        self._pins = (machine.ADC(_V_ADC_PIN), machine.ADC(_I_ADC_PIN))
        self._block_pairs = block_pairs
        self._ring_pairs = ring_pairs = block_pairs * ring_blocks
        self._ring = array("H", bytes(4 * ring_pairs))
        self._ring_addr = uctypes.addressof(self._ring)
        ring = memoryview(self._ring)
        block = 2 * block_pairs
        self._blocks = [ring[block * k:block * (k + 1)] for k in range(ring_blocks)]
        self._ring_start = array("I", [self._ring_addr])  # what the control channel writes
        self._passes = 0  # completed ring passes (hard IRQ)
        self._read_pass = 0
        self._read_pair = 0  # index in the ring of the next pair to read, block-aligned
        self._dma_data = rp2.DMA()
        self._dma_ctrl = rp2.DMA()
        self._start()

    def _start(self):
        mem32 = self._mem32
        mem32[_ADC_CS] = _CS_EN  # stop free-running conversions, keep the ADC powered
        while not mem32[_ADC_CS] & _CS_READY:
            pass
        mem32[_ADC_FCS] = _FCS_OVER | _FCS_UNDER  # FIFO off, stale flags cleared
        while mem32[_ADC_FCS] & _FCS_LEVEL_MASK:  # drain, so the first word is a voltage
            mem32[_ADC_FIFO]
        mem32[_ADC_DIV] = self._div
        data, ctrl = self._dma_data, self._dma_ctrl
        # `channel` and `registers` are documented in rp2.DMA.rst but missing from the stubs
        ctrl_channel = ctrl.channel  # type: ignore[attr-defined]
        registers = data.registers  # type: ignore[attr-defined]
        rearm = registers[_DMA_AL2_WRITE_ADDR_TRIG:_DMA_AL2_WRITE_ADDR_TRIG + 1]
        # the control channel writes the ring start to the data channel's write address
        # (a trigger alias), restarting it; its IRQ therefore comes after the re-arm
        ctrl.config(
            read=self._ring_start,
            write=rearm,
            count=1,
            ctrl=ctrl.pack_ctrl(size=2, inc_read=False, inc_write=False, irq_quiet=False),
        )
        ctrl.irq(handler=self._on_pass, hard=True)
        data.config(
            read=_ADC_FIFO,
            write=self._ring,
            count=2 * self._ring_pairs,  # half-words; TRANS_COUNT reloads on each re-arm
            ctrl=data.pack_ctrl(
                size=1,  # 16-bit FIFO words
                inc_read=False,
                inc_write=True,
                treq_sel=_DREQ_ADC,  # one transfer per FIFO entry
                chain_to=ctrl_channel,  # at the ring end, hand over to the control channel
            ),
            trigger=True,
        )
        # FIFO on, DREQ while it holds at least one result (THRESH=1)
        mem32[_ADC_FCS] = _FCS_EN | _FCS_DREQ_EN | (1 << _FCS_THRESH_LSB)
        # voltage first (AINSEL=0), then alternate ADC0/ADC1, paced by DIV
        rrobin = 0b00011 << _CS_RROBIN_LSB
        mem32[_ADC_CS] = _CS_EN | (0 << _CS_AINSEL_LSB) | rrobin | _CS_START_MANY

    def _on_pass(self, dma):  # hard IRQ: no allocation
        self._passes += 1

    def _lag_pairs(self):
        """Pairs written by the DMA and not yet read; low by one ring (never high) in the
        microseconds between a re-arm and its IRQ."""
        while True:  # pass count and write address must come from the same pass
            passes = self._passes
            written = (self._dma_data.write - self._ring_addr) >> 2  # type: ignore[attr-defined]
            if passes == self._passes:
                break
        return (passes - self._read_pass) * self._ring_pairs + written - self._read_pair

    def _advance(self, pairs):
        passes, self._read_pair = divmod(self._read_pair + pairs, self._ring_pairs)
        self._read_pass += passes

    def readinto(self, buf):
        """Copy the next complete block into buf (array('H'), 2 * block_pairs codes)."""
        import time

        n = len(buf) // 2
        if n != self._block_pairs:
            raise ValueError("buffer must hold block_pairs pairs")
        while True:
            lag = self._lag_pairs()
            if lag < n:  # the block is still being acquired
                time.sleep_ms(1 + (n - max(lag, 0)) * 1000 // self.rate_hz)
                continue
            if lag > self._ring_pairs - n:  # lapped: keep only the newest complete block
                skip = (lag - n) // n * n
                self._advance(skip)
                self.lost_pairs += skip
                continue
            buf[:] = self._blocks[self._read_pair // n]
            if self._lag_pairs() >= self._ring_pairs:  # (maybe) overwritten while copying
                self._advance(n)
                self.lost_pairs += n
                continue
            self._advance(n)
            return

    def deinit(self):
        self._mem32[_ADC_CS] = _CS_EN
        self._mem32[_ADC_FCS] = 0
        for dma in (self._dma_data, self._dma_ctrl):
            dma.active(0)
            dma.close()


# Watchdog scratch registers 0-3 (RP2040 datasheet 4.7, WATCHDOG_BASE 0x40058000 +
# 0x0c): they persist through machine.reset() and watchdog resets, not a power cut.
# Scratch 4-7 are the bootrom's and the SDK's (watchdog_reboot, watchdog_caused_reboot).
_SCRATCH0 = const(0x4005800C)


class ScratchRetained:
    """metering.retained's four words in watchdog scratch registers 0-3."""

    def __init__(self):
        import machine

        self._mem32 = machine.mem32

    def load(self):
        mem32 = self._mem32
        return [mem32[_SCRATCH0], mem32[_SCRATCH0 + 4], mem32[_SCRATCH0 + 8],
                mem32[_SCRATCH0 + 12]]

    def store(self, words):
        mem32 = self._mem32
        mem32[_SCRATCH0] = words[0]
        mem32[_SCRATCH0 + 4] = words[1]
        mem32[_SCRATCH0 + 8] = words[2]
        mem32[_SCRATCH0 + 12] = words[3]


def hardware():
    """Build the Pico's hardware objects; call once, from the wiring module."""
    import machine
    import os

    chip = os.uname().machine
    if "RP2040" not in chip:
        raise RuntimeError("boards.rp2040 needs an RP2040, found: " + chip)
    adc = RP2040ADCPair(FRONT_END.sample_pairs_per_s)
    p1 = machine.UART(
        _P1_UART_ID, P1_BAUD, tx=machine.Pin(_P1_TX_PIN), invert=machine.UART.INV_TX
    )
    led = machine.Pin(LED_PIN, machine.Pin.OUT, value=0)
    # the port restarts time at 2021-01-01 on every boot (ports/rp2/main.c): after a reset
    # the meter sets it to the last window's time (metering.clock_trust)
    clock = common.SystemClock(False, machine.RTC(), kept_across_reset=False)
    return common.Hardware(adc, p1, clock, STORAGE_ROOT, led,
                           common.chip_meter_id(NAME), machine.reset,
                           common.machine_watchdog, common.machine_reset_cause,
                           ScratchRetained())
