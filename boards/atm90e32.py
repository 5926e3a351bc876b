"""Driver for the ATM90E32AS three-phase metering IC over SPI: the second front-end
(metering.ic_windows turns its readings into windows). Handed the SPI bus and the chip
select pin by the board; imports nothing of machine itself.

Facts it rests on (public drivers: ESPHome components/atm90e32, CircuitSetup's ATM90E32
library; the datasheet's format table): a transfer is a 16-bit address word (bit 15 set
for a read), then a 16-bit data word, MSB first, SPI mode 3, chip select low around both;
LastSPIData (0x78) holds the data word of the last transfer; configuration registers
take writes only while CfgRegAccEn holds 0x55AA; the energy registers clear when read;
Urms 0.01 V, Irms 0.001 A, mean powers 32 bits (high word, then the LSB register) of
0.00032 W, frequency 0.01 Hz; one energy count is 0.01 CF at the default PL_constant
(3200 imp/kWh): 11.25 J.

Every read is checked against LastSPIData, the chip's own copy of what it sent: a value
garbled on the wire is read again, and for a register that cleared when read (energy)
the chip's copy is taken, so no energy is lost to a glitch. Every write is read back
through LastSPIData. A chip that lost its configuration (a brown-out resets it to
MeterEn 0) is configured again and counted (resets_seen): what it had accumulated since
the last read is gone with it, as on the bench.
"""

# registers (ESPHome atm90e32_reg.h)
METER_EN = 0x00
SAG_PEAK_DET_CFG = 0x05
ZX_CONFIG = 0x07
SAG_TH = 0x08
FREQ_LO_TH = 0x0C
FREQ_HI_TH = 0x0D
PL_CONST_H = 0x31
PL_CONST_L = 0x32
MMODE0 = 0x33
MMODE1 = 0x34
P_START_TH = 0x35
Q_START_TH = 0x36
S_START_TH = 0x37
P_PHASE_TH = 0x38
Q_PHASE_TH = 0x39
UGAIN = (0x61, 0x65, 0x69)  # per phase A, B, C
IGAIN = (0x62, 0x66, 0x6A)
SOFT_RESET = 0x70
LAST_SPI_DATA = 0x78
CFG_REG_ACC_EN = 0x7F
AP_ENERGY = 0x81  # + phase: forward active; 0x85 reverse, 0x89 / 0x8D reactive
AN_ENERGY = 0x85
RP_ENERGY = 0x89
RN_ENERGY = 0x8D
P_MEAN = 0xB1  # + phase; the LSB word at + 0x10
Q_MEAN = 0xB5
MEAN_LSB = 0x10
URMS = 0xD9  # + phase; the LSB word at + 0x10
IRMS = 0xDD
RMS_LSB = 0x10
FREQ = 0xF8

SOFT_RESET_KEY = 0x789A
CFG_OPEN = 0x55AA
CFG_CLOSE = 0x0000
PL_CONSTANT = 140625000  # the power-on value: 3200 imp/kWh
JOULES_PER_COUNT = 11.25  # 0.01 CF at 3200 imp/kWh: 3.6e6 J / 3200 / 100
WATTS_PER_LSB = 0.00032
MMODE0_50HZ_3P4W = 0x0087
MMODE0_60HZ = 1 << 12
PGA_2X = 0x0015  # MMode1: every current channel at 2x (the power-on value)
# the Ugain and Igain values that make the chip's registers read volts and amps for the
# front-end the board states (its divider and CT): ESPHome's defaults, which are for
# CircuitSetup's design; a board with another divider or CT states its own
UGAIN_DESIGN = 7305
IGAIN_DESIGN = 27961
_RETRIES = 3


class ChipError(ValueError):
    """A transfer the chip's LastSPIData does not confirm, after retries."""


class ATM90E32:
    measures_windows = True  # metering.meter builds ICWindows over it, not a Sampler
    lost_pairs = 0  # as an ADC pair reports it: the chip samples on its own, loses none

    def __init__(self, spi, cs, sleep_ms, phases=3, line_hz=50, start_w=2.3,
                 ugain=UGAIN_DESIGN, igain=IGAIN_DESIGN):
        """spi: machine.SPI in mode 3 (polarity 1, phase 1); cs: its chip-select Pin
        (output, idle high); phases: 1 (L1 only) or 3; start_w: the meter's starting
        power, below which the chip accumulates nothing either."""
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        self._spi = spi
        self._cs = cs
        self._sleep_ms = sleep_ms
        self.phases = phases
        self._out = bytearray(4)
        self._in = bytearray(4)
        # the chip accumulates nothing below the meter's starting power (per phase): a
        # count of 11.25 J in a 1 s window would otherwise read as 11.25 W and pass it
        threshold = min(0xFFFF, int(start_w / WATTS_PER_LSB))
        self.config = [
            (METER_EN, 0x0001),
            (SAG_PEAK_DET_CFG, 0xFF3F),
            (PL_CONST_H, PL_CONSTANT >> 16),
            (PL_CONST_L, PL_CONSTANT & 0xFFFF),
            (ZX_CONFIG, 0xD654),
            (MMODE0, MMODE0_50HZ_3P4W | (MMODE0_60HZ if line_hz == 60 else 0)),
            (MMODE1, PGA_2X),
            (FREQ_HI_TH, line_hz * 100 + 300),
            (FREQ_LO_TH, line_hz * 100 - 300),
            (P_START_TH, threshold),
            (Q_START_TH, threshold),
            (S_START_TH, threshold),
            (P_PHASE_TH, threshold // 10),
            (Q_PHASE_TH, threshold // 10),
        ]
        for k in range(3):
            self.config += [(UGAIN[k], ugain), (IGAIN[k], igain)]
        self._carry = [0] * 12  # energy counts read (and so cleared) but not yet returned
        self.resets_seen = 0  # times the chip was found unconfigured after configure()
        self.glitches = 0  # transfers the chip's copy corrected or a retry repaired
        self.configured = False

    # --- the wire ---
    def _transfer(self, address, data):
        out = self._out
        word = address & 0x3FF
        if data is None:
            word |= 0x8000
            data = 0
        out[0], out[1], out[2], out[3] = word >> 8, word & 0xFF, data >> 8, data & 0xFF
        self._cs.value(0)
        try:
            self._spi.write_readinto(out, self._in)
        finally:
            self._cs.value(1)
        return (self._in[2] << 8) | self._in[3]

    def _last(self):
        """LastSPIData, read until two reads agree (it does not change when read)."""
        first = self._transfer(LAST_SPI_DATA, None)
        for _ in range(_RETRIES):
            again = self._transfer(LAST_SPI_DATA, None)
            if again == first:
                return first
            self.glitches += 1
            first = again
        raise ChipError("LastSPIData unstable")

    def read16(self, address, clears=False):
        """A register, confirmed by LastSPIData. clears: a read-to-clear register, whose
        value only the chip's copy still has if the wire garbled it."""
        for _ in range(_RETRIES):
            value = self._transfer(address, None)
            last = self._last()
            if last == value:
                return value
            self.glitches += 1
            if clears:
                return last  # the register is cleared: the chip's copy is the reading
        raise ChipError("read of 0x%02x not confirmed" % address)

    def write16(self, address, value):
        for _ in range(_RETRIES):
            self._transfer(address, value)
            if self._last() == value:
                return
            self.glitches += 1
        raise ChipError("write of 0x%02x not confirmed" % address)

    # --- configuration ---
    def configure(self):
        """Soft reset, then the configuration with access opened, read back, closed."""
        self._transfer(SOFT_RESET, SOFT_RESET_KEY)  # the chip resets: nothing to confirm
        self._sleep_ms(6)
        self.write16(CFG_REG_ACC_EN, CFG_OPEN)
        for address, value in self.config:
            self.write16(address, value)
        for address, value in self.config:
            if self.read16(address) != value:
                raise ChipError("configuration register 0x%02x did not take" % address)
        self.write16(CFG_REG_ACC_EN, CFG_CLOSE)
        self.configured = True

    # --- one reading ---
    def read(self):
        """(phases [(V, A, W, var)], frequency Hz, energy [(active J, reactive J)]) since
        the last read, net of reverse, per phase."""
        if not self.configured:
            self.configure()
        if self._was_reset():  # a brown-out put it back to power-on: set it up again
            self.resets_seen += 1
            self.configure()
        phases = []
        carry = self._carry
        for k in range(self.phases):
            v = self._rms(URMS + k) / 25600.0
            i = self._rms(IRMS + k) / 256000.0
            p = self._mean(P_MEAN + k) * WATTS_PER_LSB
            q = self._mean(Q_MEAN + k) * WATTS_PER_LSB
            # each count into the carry as soon as its register has cleared: a read that
            # fails further on loses none of them, the next read returns them
            for j, address in ((0, AP_ENERGY + k), (1, AN_ENERGY + k),
                               (2, RP_ENERGY + k), (3, RN_ENERGY + k)):
                carry[4 * k + j] += self.read16(address, True)
            phases.append((v, i, p, q))
        freq_hz = self.read16(FREQ) / 100.0
        energy = []
        for k in range(self.phases):
            c = carry[4 * k:4 * k + 4]
            energy.append(((c[0] - c[1]) * JOULES_PER_COUNT, (c[2] - c[3]) * JOULES_PER_COUNT))
        self._carry = [0] * 12
        return phases, freq_hz, energy

    def voltage_l1(self):
        """L1's RMS voltage alone (one register): the meter's supply check between
        readings."""
        return self.read16(URMS) / 100.0

    def _was_reset(self):
        """MeterEn off and a threshold back at its power-on 0: a chip that reset, not a
        read garbled twice alike (a soft reset would lose its accumulated energy)."""
        return self.read16(METER_EN) != 1 and self.read16(P_START_TH) == 0

    def _rms(self, address):
        """The RMS register with its LSB word's top byte: 1/256 of the register's unit."""
        return (self.read16(address) << 8) | (self.read16(address + RMS_LSB) >> 8)

    def _mean(self, address):
        """A mean power: the signed 32-bit value of the register and its LSB word."""
        value = (self.read16(address) << 16) | self.read16(address + MEAN_LSB)
        return value - (1 << 32) if value & 0x80000000 else value
