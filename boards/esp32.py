"""The `esp32` board: ESP32 DevKitC (WROOM-32) with the single-phase front-end on ADC1.

Mainline MicroPython has no DMA ADC on the ESP32: a viper loop reads each pair on a
time.ticks_us grid, so readinto blocks while it samples and the grid slots that pass while
the metering code runs are lost (counted in lost_pairs). Only ADC1 works with Wi-Fi on.
Verified: compiles (mpy-cross -march=xtensawin), type-checks (micropython-esp32-stubs 1.29).
Not verified: on hardware.
"""
import struct
import time

from compat import const

from boards import common
from boards.esp32_acquire import VIPER_ACQUIRE, acquire as _plain_acquire
from boards.common import TRIAL_LIMIT_S, WATCHDOG_MS, mqtt_connector  # noqa: F401 - shared

NAME = "esp32"
TEST_LED_IMP_PER_KWH = 1000  # the meter constant on the nameplate (metering.pulses)
HARDWARE_ID = "esp32-devkitc-v1"
# Packages are verified and installed by the boot stage before the meter is built
# (boot_install): the running meter and the verifier do not fit one heap together
# (BENCHMARKS.md, "Memory"). A staged package costs the seconds of one restart.
INSTALL_AT_BOOT = True

_V_ADC_PIN = const(36)  # GPIO36 = ADC1_CH0 (SENSOR_VP): voltage divider
_I_ADC_PIN = const(39)  # GPIO39 = ADC1_CH3 (SENSOR_VN): CT burden
_P1_UART_ID = const(2)
_P1_TX_PIN = const(17)  # UART2's usual pins; on a WROVER 16/17 drive the PSRAM: move them
_P1_RX_PIN = const(16)  # unused (P1 only sends) but claimed by the UART
P1_BAUD = const(115200)  # DSMR 5.0.2 P1: 115200 8N1, inverted logic on the line
_LED_PIN = const(2)  # external LED + resistor: the DevKitC has no user LED
STORAGE_ROOT = "/data"

# Front-end: at ATTN_11DB the ESP32 reads linearly only from about 150 mV to 2450 mV
# (ESP-IDF v4.4 ADC guide, "ADC Attenuation"); above that it compresses, so the signals
# are centred on 1.32 V and kept within +/-1.0 V, and codes are scaled with that guide's
# Vout = Dout * Vmax / Dmax (Vmax 2450 mV). The unit's own gain comes from calibration.
FRONT_END = common.FrontEnd(
    v_ref=2.45,  # volts at code 4095 on the linear fit
    adc_mid_code=2206,  # 1.32 V bias (3V3 through 15 kOhm / 10 kOhm)
    burden_ohm=33.0,  # Imax peak (28.3 mA secondary) -> 0.93 V
    counts_at_full_scale=1660,  # 400 V peak via 1 MOhm : 2.49 kOhm -> 0.99 V
    # Sampling: each readinto blocks for the whole block, and the blocks' processing time
    # is lost; the lower rate keeps that share small and still resolves the 19th harmonic.
    sample_pairs_per_s=2000,
    # the current is read right after the voltage: one ADC1 read in the viper loop, about
    # 1 / 30 kS/s; ESP32ADCPair.i_delay_us measures the unit's value at start-up
    i_delay_us=33.0,
)
BLOCK_PAIRS = const(256)  # one readinto: 128 ms of blocking acquisition

_PROBE_PAIRS = const(64)


_acquire = _plain_acquire if VIPER_ACQUIRE is None else VIPER_ACQUIRE


class ESP32ADCPair:
    """ADC-pair object (contract of boards.sim.SimADC) on ADC1, 12-bit raw codes.

    Raw ADC.read() rather than read_u16() (which scales the same reading up to 16 bits)
    or read_uv() (eFuse-corrected microvolts, but slower and still compressed above
    2450 mV): the calibration record turns codes into volts and amps.
    A grid slot missed by more than half a period (an interrupt) is skipped and counted
    in lost_pairs, never read late. i_delay_us is this unit's measured v->i spacing.
    """

    def __init__(self, rate_hz=FRONT_END.sample_pairs_per_s, block_pairs=BLOCK_PAIRS):
        from array import array

        import machine

        if rate_hz <= 0 or 1_000_000 % rate_hz:
            raise ValueError("rate_hz must divide 1000000 (a whole-microsecond period)")
        self.rate_hz = rate_hz
        self.block_pairs = block_pairs
        self.lost_pairs = 0
        self._period_us = 1_000_000 // rate_hz
        ADC = machine.ADC
        readers = []
        for pin in (_V_ADC_PIN, _I_ADC_PIN):
            adc = ADC(machine.Pin(pin), atten=ADC.ATTN_11DB)
            adc.width(ADC.WIDTH_12BIT)
            readers.append(adc.read)
        self._read_v, self._read_i = readers
        # v->i spacing: half a back-to-back pair, timed with the real loop
        probe = array("H", bytes(4 * _PROBE_PAIRS))
        start = time.ticks_us()
        _acquire(probe, _PROBE_PAIRS, self._read_v, self._read_i, time.ticks_us, start, 0)
        self.i_delay_us = time.ticks_diff(time.ticks_us(), start) / (2 * _PROBE_PAIRS)
        self._due_us = start  # time of the next grid slot
        self._started = False

    def readinto(self, buf):
        """Sample len(buf) // 2 pairs into buf (array('H')), continuing the time grid."""
        pairs = len(buf) // 2
        if pairs != self.block_pairs:
            raise ValueError("buffer must hold block_pairs pairs")
        period = self._period_us
        now = time.ticks_us()
        if not self._started:
            self._due_us = now
            self._started = True
        else:
            # slots more than half a period past were never sampled: skip them, so every
            # pair stays on the grid (a gap over 2**29 us, about 9 min, is miscounted)
            late = time.ticks_diff(now, self._due_us)
            if late > 0:
                missed = (late + period // 2) // period
                self.lost_pairs += missed
                self._due_us = time.ticks_add(self._due_us, missed * period)
        skipped = _acquire(buf, pairs, self._read_v, self._read_i, time.ticks_us,
                           self._due_us, period)
        self.lost_pairs += skipped
        self._due_us = time.ticks_add(self._due_us, (pairs + skipped) * period)


class RTCRetained:
    """metering.retained's four words in RTC slow memory (machine.RTC().memory(), at
    most 2 KB on this port): kept across machine.reset(), a watchdog or panic reset,
    and deep sleep; lost when the power goes (ports/esp32/machine_rtc.c keeps it in
    RTC_NOINIT memory)."""

    def __init__(self):
        import machine

        self._rtc = machine.RTC()
        self._buf = bytearray(16)

    def load(self):
        data = self._rtc.memory()
        if len(data) != 16:
            return None
        return list(struct.unpack("<4I", data))

    def store(self, words):
        struct.pack_into("<4I", self._buf, 0, words[0], words[1], words[2], words[3])
        self._rtc.memory(self._buf)


def hardware():
    """Build the DevKitC's hardware objects; call once, from the wiring module."""
    return hardware_with(ESP32ADCPair(FRONT_END.sample_pairs_per_s), NAME)


def hardware_with(front_end, name):
    """The DevKitC's hardware around a front-end (this board's ADC pair, or a metering
    IC's driver: boards/esp32_atm90e32.py): P1, test LED, clock, watchdog, RTC memory,
    Wi-Fi; `name` is the board's, for its meter id."""
    import machine

    p1 = machine.UART(
        _P1_UART_ID, P1_BAUD, tx=_P1_TX_PIN, rx=_P1_RX_PIN, invert=machine.UART.INV_TX
    )
    led = machine.Pin(_LED_PIN, machine.Pin.OUT, value=0)
    # the RTC timer runs through every reset but power-on (ESP-IDF, System Time)
    clock = common.SystemClock(False, machine.RTC(), kept_across_reset=True)
    return common.Hardware(front_end, p1, clock, STORAGE_ROOT, led,
                           common.chip_meter_id(name), machine.reset,
                           common.machine_watchdog, common.machine_reset_cause,
                           RTCRetained(), common.WifiLink(clock))
