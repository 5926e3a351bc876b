"""What a port rig's fake modules share with the test driving them: the simulated
analogue world, what the firmware wrote, and the faults to inject (the control API)."""
import time

port = None
signal = None  # boards.sim.SimFrontEnd: the voltage and current at the board's inputs
wiring = {}  # ADC input pin -> "v" (divider) or "i" (CT burden)
uart_tx = {}  # UART id -> bytearray: what the firmware sent
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


class BoardReset(SystemExit):
    """machine.reset() on a rig: the calling thread ends, as the board would restart."""


def reset(new_port, new_signal, new_wiring):
    global port, signal, wiring, uart_tx, resets, t0_us, threads_started, watchdog
    global reset_cause, wifi_aps, wifi_attempts
    port = new_port
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


def elapsed_s():
    """Seconds since the rig was installed: the time axis of the signal."""
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
