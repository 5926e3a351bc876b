"""A register-level emulator of the ATM90E32AS metering IC, fed by the sim's synthetic
waveforms, for boards/atm90e32.py and metering.ic_windows to run against in the tests.

Modelled (sources as in boards/atm90e32.py: ESPHome's and CircuitSetup's drivers, the
datasheet's format table; where those are silent, a model choice is marked as one):
- the SPI frame: CS low, a 16-bit address word (bit 15: read), a 16-bit data word, MSB
  first, mode 3 only (another mode reads bits shifted by one); LastSPIData (0x78) holds
  the data word of the last transfer other than its own read;
- SoftReset (0x789A at 0x70) and power-on: every register to its default, MeterEn 0,
  nothing metered until MeterEn is 1; configuration registers (0x00..0x6F) take writes
  only while CfgRegAccEn (0x7F) holds 0x55AA;
- the measurement: per phase, voltage, current and the current's 90-degree-shifted
  voltage sampled at FS (model: 4 kHz; the chip's ADC runs faster, which changes no mean
  value), gains Ugain/Igain relative to the board's design values (at the design value a
  register reads volts and amps), plus the chip's own small gain and phase errors
  (chip_errors), which the meter's calibration takes out, and the CT's ratio and phase
  error vs current when the scenario gives them (boards.front_end_errors); means over the
  whole mains cycles nearest MEAN_S, latched (model: 0.2 s, 10 cycles at 50 Hz; the
  datasheet's figure was not found);
- the energy: per phase, active and reactive power integrated every sample into one
  accumulator each, forward and reverse cancelling inside it (IDT datasheet p.13), a
  count (0.01 CF, 11.25 J at PL_constant 140625000) going to the forward or the reverse
  register as it crosses; nothing accumulates while |P| of the last mean is below
  PStartTh x 0.00032 W; the energy registers clear when read (16 bits, wrapping);
- faults for the tests: a glitch that flips a bit of the next replies on the wire (the
  chip's state, LastSPIData included, untouched), and a brown-out (power-on reset).
Not modelled: CF pulse pins, sag/peak detection registers, temperature, CRCDigest (its
algorithm is not public in what was found), phase-sequence status.
"""
import math

FS = 4000
MEAN_S = 0.2
JOULES_PER_COUNT = 11.25  # 0.01 CF at PL_constant 140625000 (3200 imp/kWh)
WATTS_PER_LSB = 0.00032
UGAIN_DESIGN = 7305
IGAIN_DESIGN = 27961
_DEFAULTS = {0x31: 0x0861, 0x32: 0xC468, 0x33: 0x0087, 0x34: 0x0015,
             0x61: UGAIN_DESIGN, 0x65: UGAIN_DESIGN, 0x69: UGAIN_DESIGN,
             0x62: IGAIN_DESIGN, 0x66: IGAIN_DESIGN, 0x6A: IGAIN_DESIGN}
_UGAIN = (0x61, 0x65, 0x69)
_IGAIN = (0x62, 0x66, 0x6A)
_BACKLOG_S = 3.0  # more unread time than this is metered at the last mean (a model)


class ChipSPI:
    """machine.SPI as the board builds it, wired to the chip: write_readinto of 4 bytes
    while the chip's CS pin is low."""

    def __init__(self, chip, baudrate=1000000, polarity=0, phase=0):
        if baudrate > 1000000:
            raise ValueError("the rig's ATM90E32 is driven at 1 MHz at most")
        self.chip = chip
        self.mode3 = polarity == 1 and phase == 1

    def write_readinto(self, out, into):
        if len(out) != 4 or len(into) != 4:
            raise ValueError("an ATM90E32 frame is 4 bytes")
        if not self.chip.selected():
            into[:] = b"\xff\xff\xff\xff"  # nobody drives MISO
            return
        reply = self.chip.frame(bytes(out), self.mode3)
        into[:] = reply


class ATM90E32Chip:
    def __init__(self, time_s, phases, cs=None, chip_errors=((1.004, 0.993, 0.15),) * 3):
        """time_s(): the time axis in seconds; phases: three scenario dicts of boards.sim
        settings (mains_v, load_a, phase_deg, freq_hz, v_harmonics, i_harmonics), one per
        phase (L2 and L3 shifted by 120 and 240 degrees), or None for a phase not wired;
        cs: the chip-select pin (value() 0 selects); chip_errors: per phase (voltage
        gain, current gain, current phase lead in degrees) of the chip itself."""
        self._time_s = time_s
        self.cs = cs
        self.phases = list(phases) + [None] * (3 - len(phases))
        self.chip_errors = chip_errors
        self.glitch_replies = 0  # the next n replies have a bit flipped on the wire
        self.transfers = 0
        self._ct_errors()
        self.power_on()

    # --- faults and inputs ---
    def power_on(self):
        self.regs = {}
        self.regs.update(_DEFAULTS)
        self.last_spi = 0
        self._n = int(self._time_s() * FS)  # the next sample to take
        self._acc_p = [0.0] * 3
        self.integrated_j = [0.0] * 3  # active energy the chip metered, for the tests
        self._acc_q = [0.0] * 3
        self._count = {}  # energy register -> count (16-bit wrapping)
        self._sums = [[0.0] * 5 for _ in range(3)]  # v2, i2, p, q, samples of the block
        self._block_end = None  # the time the block's last whole cycle ends
        self._rest = [None] * 3  # the boundary sample's share that opens the next block
        self._mean_p = [0.0] * 3

    brownout = power_on

    def set_phase(self, k, **changes):
        self.advance()
        self.phases[k] = dict(self.phases[k] or {}, **changes)
        self._ct_errors()

    def _ct_errors(self):
        from boards import front_end_errors

        self._ct = []
        for s in self.phases:
            ct = {"ct_ratio_pct": (0.0, 0.0), "ct_phase_deg": (0.0, 0.0)}
            ct.update(s or {})
            self._ct.append(front_end_errors.ct_error(ct, ct.get("load_a", 0.0)))

    def selected(self):
        return self.cs is None or self.cs.value() == 0

    # --- the wire ---
    def frame(self, out, mode3):
        self.advance()
        self.transfers += 1
        word = (out[0] << 8) | out[1]
        address = word & 0x3FF
        if word & 0x8000:
            data = self._read(address)
        else:
            data = (out[2] << 8) | out[3]
            self._write(address, data)
        if address != 0x78:
            self.last_spi = data
        reply = bytearray((0, 0, data >> 8, data & 0xFF))
        if not mode3:  # sampled on the wrong edge: every bit one place late
            value = (data >> 1) | 0x8000
            reply[2], reply[3] = value >> 8, value & 0xFF
        if self.glitch_replies:  # one bit of this reply, a different one each time
            self.glitch_replies -= 1
            bit = self.transfers % 16
            reply[2 + (bit >> 3)] ^= 1 << (bit & 7)
        return bytes(reply)

    def _read(self, address):
        if address == 0x78:
            return self.last_spi
        if 0x80 <= address <= 0x93:  # energy: read to clear
            value = self._count.get(address, 0) & 0xFFFF
            self._count[address] = 0
            return value
        return self.regs.get(address, 0)

    def _write(self, address, data):
        if address == 0x70:
            if data == 0x789A:
                self.power_on()
            return
        if address == 0x7F:
            self.regs[0x7F] = data
            return
        if address <= 0x6F and self.regs.get(0x7F) == 0x55AA:
            self.regs[address] = data

    # --- the metering ---
    def advance(self):
        """Take every sample up to now: energy, and the means latched each MEAN_S."""
        target = int(self._time_s() * FS)
        if target - self._n > _BACKLOG_S * FS:  # long unread: the last mean's energy
            gap = (target - self._n) / FS - _BACKLOG_S
            for k in range(3):
                self._integrate(k, self._mean_p[k] * gap, 0.0)
            self._n = target - int(_BACKLOG_S * FS)
        metering = self.regs.get(0x00) == 1
        f = self._frequency()
        cycles = max(1, int(MEAN_S * f + 0.5))  # the means cover whole mains cycles
        while self._n < target:
            t = self._n / FS
            self._n += 1
            # the share of this sample that falls before the block's last cycle ends: the
            # boundary sample is split between the blocks, so a mean spans whole cycles
            end = self._block_end
            if end is None:
                end = self._block_end = (int(t * f) + cycles) / f
            share = 1.0
            if t + 1.0 / FS > end:
                share = max(0.0, (end - t) * FS)
            for k in range(3):
                if self.phases[k] is None:
                    continue
                v, i, v90 = self._sample(k, t)
                p, q = v * i, v90 * i
                sums = self._sums[k]
                sums[0] += share * v * v
                sums[1] += share * i * i
                sums[2] += share * p
                sums[3] += share * q
                sums[4] += share
                if metering and abs(self._mean_p[k]) >= self.regs.get(0x35, 0) * WATTS_PER_LSB:
                    self._integrate(k, p / FS, q / FS)
                if share < 1.0:
                    self._rest[k] = (v, i, p, q, 1.0 - share)
            if share < 1.0:
                self._latch()
                self._block_end = end + cycles / f
                for k in range(3):
                    rest = self._rest[k]
                    if rest is not None:
                        v, i, p, q, w = rest
                        self._sums[k] = [w * v * v, w * i * i, w * p, w * q, w]
                        self._rest[k] = None

    def _frequency(self):
        for s in self.phases:
            if s is not None:
                return s.get("freq_hz", 50.0)
        return 50.0

    def _sample(self, k, t):
        s = self.phases[k]
        v_gain, i_gain, lead = self.chip_errors[k]
        v_gain *= self.regs.get(_UGAIN[k], 0) / UGAIN_DESIGN
        i_gain *= self.regs.get(_IGAIN[k], 0) / IGAIN_DESIGN
        # the CT in front of the chip, as the sim's (boards.front_end_errors)
        ct_ratio, ct_lead = self._ct[k]
        w = 2 * math.pi * s.get("freq_hz", 50.0)
        a = w * t - 2 * math.pi * k / 3
        b = a - math.radians(s.get("phase_deg", 0.0) - lead - ct_lead)
        root2 = math.sqrt(2)
        vp = s.get("mains_v", 230.0) * root2 * v_gain
        ip = s.get("load_a", 0.0) * root2 * i_gain * ct_ratio
        v = vp * math.sin(a)
        v90 = -vp * math.cos(a)  # lags the voltage by 90 degrees: Q > 0 for a lagging load
        for h, frac, ph in s.get("v_harmonics", ()):
            v += frac * vp * math.sin(h * a + math.radians(ph))
            v90 -= frac * vp * math.cos(h * a + math.radians(ph))
        i = ip * math.sin(b)
        for h, frac, ph in s.get("i_harmonics", ()):
            i += frac * ip * math.sin(h * b + math.radians(ph))
        return v, i, v90

    def _integrate(self, k, p_j, q_j):
        self.integrated_j[k] += p_j
        self._acc_p[k] = self._tally(self._acc_p[k] + p_j, 0x81 + k, 0x85 + k)
        self._acc_q[k] = self._tally(self._acc_q[k] + q_j, 0x89 + k, 0x8D + k)

    def _tally(self, acc, forward, reverse):
        while acc >= JOULES_PER_COUNT:
            acc -= JOULES_PER_COUNT
            self._count[forward] = self._count.get(forward, 0) + 1
        while acc <= -JOULES_PER_COUNT:
            acc += JOULES_PER_COUNT
            self._count[reverse] = self._count.get(reverse, 0) + 1
        return acc

    def _latch(self):
        regs = self.regs
        for k in range(3):
            v2, i2, p, q, n = self._sums[k]
            self._sums[k] = [0.0] * 5
            if not n:
                continue
            p /= n
            q /= n
            self._mean_p[k] = p
            urms = int(math.sqrt(v2 / n) * 25600 + 0.5)  # 0.01 V, and 1/256 of it below
            irms = int(math.sqrt(i2 / n) * 256000 + 0.5)
            regs[0xD9 + k], regs[0xE9 + k] = min(urms >> 8, 0xFFFF), (urms & 0xFF) << 8
            regs[0xDD + k], regs[0xED + k] = min(irms >> 8, 0xFFFF), (irms & 0xFF) << 8
            for base, value in ((0xB1, p), (0xB5, q)):
                raw = int(round(value / WATTS_PER_LSB)) & 0xFFFFFFFF
                regs[base + k], regs[base + 0x10 + k] = raw >> 16, raw & 0xFFFF
        regs[0xF8] = int(round(100 * self._frequency()))
