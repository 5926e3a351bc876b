"""What a port rig's fake modules share with the test driving them: the simulated
analogue world, what the firmware wrote, and the faults to inject (the control API)."""
import time

port = None
signal = None  # boards.sim.SimFrontEnd: the voltage and current at the board's inputs
wiring = {}  # ADC input pin -> "v" (divider) or "i" (CT burden)
uart_tx = {}  # UART id -> bytearray: what the firmware sent
# pin id -> rig time (elapsed_s) of each rising edge the firmware drove: the test LED's
# pulses as a bench's photo head would time them
pin_rises = {}
pins = {}  # pin id -> the newest machine.Pin the firmware built on it
chip = None  # a metering IC on the SPI bus (rigs.atm90e32_chip), where the board has one
resets = 0  # machine.reset() calls
reset_cause = "PWRON_RESET"  # the machine constant reset_cause() answers with
watchdog = None  # once the firmware starts machine.WDT: what the rig saw (gpio.Watchdog)
# memory that survives a reset but not a power cut: RP2040 watchdog scratch registers,
# ESP32 RTC slow memory (machine.RTC().memory())
scratch = [0] * 8
rtc_memory = b""
rtc_set = None  # the last machine.RTC().datetime() the firmware set
wifi_aps = {}  # ssid -> password of the access points in range (esp32 rig's network)
wifi_attempts = []  # ssids the firmware tried to join
t0_us = 0
threads_started = 0
# The esp32 rig's own microsecond clock (None: the rig runs on the host's, as rp2's
# does). The ESP32 driver paces its reads by time.ticks_us() in a busy loop, so on the
# host's clock a loaded machine made it lose slots and read late at random; on this
# clock each ticks_us() call costs TICK_CALL_US and each ADC read ADC_READ_US, nothing
# else moves it, and every run samples the same instants.
clock_us = None
TICK_CALL_US = 2  # a viper loop calling time.ticks_us at 240 MHz
ADC_READ_US = 33  # ESP32 ADC1 one-shot read, about 30 kS/s (boards/esp32.py I_DELAY_US)


class BoardReset(SystemExit):
    """machine.reset() on a rig: the calling thread ends, as the board would restart."""


def reset(new_port, new_signal, new_wiring):
    global port, signal, wiring, uart_tx, resets, t0_us, threads_started, watchdog
    global reset_cause, wifi_aps, wifi_attempts, clock_us, pin_rises, pins, chip
    port = new_port
    pin_rises = {}
    pins = {}
    chip = None
    clock_us = None
    power_cut()
    wifi_aps = {}
    wifi_attempts = []
    watchdog = None
    reset_cause = "PWRON_RESET"
    signal = new_signal
    wiring = dict(new_wiring)
    uart_tx = {}
    resets = 0
    threads_started = 0
    t0_us = time.ticks_us()


def use_rig_clock():
    """From now on the signal's time axis is the rig's own clock (see clock_us)."""
    global clock_us
    clock_us = 0


def advance_us(us):
    global clock_us
    clock_us += us


def stall_ms(ms):
    """The firmware's loop stalls for ms (a flash write, a network wait): the rig's clock
    moves on while nothing reads; on the host's clock, a real sleep."""
    if clock_us is None:
        time.sleep_ms(ms)
    else:
        advance_us(1000 * ms)


def _ticks_us():
    advance_us(TICK_CALL_US)
    return clock_us & 0x3FFFFFFF


class _RigTime:
    """What boards/esp32.py takes from `time`, on the rig's clock."""


rig_time = _RigTime()
rig_time.ticks_us = _ticks_us
# MicroPython's tick arithmetic (the rigs run there; CPython imports this file for the
# 32-bit word rig only, which needs none of it)
rig_time.ticks_diff = getattr(time, "ticks_diff", None)
rig_time.ticks_add = getattr(time, "ticks_add", None)


def elapsed_s():
    """Seconds since the rig was installed: the time axis of the signal."""
    if clock_us is not None:
        return clock_us / 1e6
    return time.ticks_diff(time.ticks_us(), t0_us) / 1e6


def p1_bytes(uart_id):
    return bytes(uart_tx.get(uart_id, b""))


def watchdog_overdue():
    """True once the running watchdog has gone unfed for longer than its timeout: the
    board would have reset by now."""
    return watchdog is not None and watchdog.overdue()


def power_cut():
    """The supply went: what only a reset survives is gone (the chips' power-on values:
    scratch registers zero, RTC user memory empty)."""
    global rtc_memory, rtc_set
    scratch[:] = [0] * 8
    rtc_memory = b""
    rtc_set = None
