"""What every port's fake `machine` shares: a pin's level, a UART that records what
the firmware sent (rigs.state.uart_tx), the watchdog and the reset. Port modules subclass
and add their own checks."""
import time

from rigs import state


class PinLevel:
    """value(), on(), off() as machine.Pin has them on every port."""

    def _init_level(self, value):
        self._value = 1 if value else 0

    def value(self, v=None):
        if v is None:
            return self._value
        if v and not self._value:
            self._rose()
        self._value = 1 if v else 0

    def on(self):
        if not self._value:
            self._rose()
        self._value = 1

    def _rose(self):
        state.pin_rises.setdefault(getattr(self, "id", None), []).append(state.elapsed_s())

    def off(self):
        self._value = 0


class RecordingUART:
    """write() as machine.UART has it; keeps the newest 32-64 KB the firmware sent."""

    def _init_recording(self, uart_id, baudrate, invert):
        self.id = uart_id
        self.baudrate = baudrate
        self.invert = invert
        state.uart_tx[uart_id] = bytearray()

    def write(self, data):
        out = state.uart_tx[self.id]
        out.extend(data)
        if len(out) > 65536:
            del out[:len(out) - 32768]
        return len(data)


def reset():
    state.resets += 1
    raise state.BoardReset("machine.reset()")


class Watchdog:
    """machine.WDT(id=0, timeout=5000) as docs/library/machine.WDT.rst has it: started when
    built, never stopped or reconfigured; feed() restarts the count. The rig does not
    reset anything when it expires (the test's thread is the board): it records feeds
    and the longest gap between them, and state.watchdog_overdue() says when the board
    would have reset. Ports subclass with their own limits and feed rules."""

    def __init__(self, id=0, timeout=5000):
        if id != 0:
            raise ValueError("WDT(%d) doesn't exist" % id)
        self._check_timeout(timeout)
        self.timeout_ms = timeout
        self.feeds = 0
        self.longest_gap_ms = 0
        self.late_feeds = 0  # feeds that came after the board would have reset
        self._last_us = time.ticks_us()
        state.watchdog = self

    def _check_timeout(self, timeout):
        pass

    def _feed_counts(self):
        return True

    def feed(self):
        if not self._feed_counts():
            return
        now = time.ticks_us()
        gap_ms = time.ticks_diff(now, self._last_us) // 1000
        self.longest_gap_ms = max(self.longest_gap_ms, gap_ms)
        if gap_ms > self.timeout_ms:
            self.late_feeds += 1
        self._last_us = now
        self.feeds += 1

    def overdue(self):
        return time.ticks_diff(time.ticks_us(), self._last_us) // 1000 > self.timeout_ms


def reset_cause_of(machine_module):
    """machine.reset_cause(): the port's constant named by state.reset_cause."""
    return getattr(machine_module, state.reset_cause)


class RigRTC:
    """machine.RTC().datetime(tuple) as docs/library/machine.RTC.rst has it: (year, month,
    day, weekday, hours, minutes, seconds, subseconds), weekday 0 = Monday. The rig
    records what the firmware set (state.rtc_set); the host's time.time() does not move."""

    def datetime(self, value=None):
        if value is None:
            return state.rtc_set
        year, month, day, weekday, hour, minute, second, _sub = value
        if not (2000 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31
                and 0 <= weekday <= 6 and 0 <= hour < 24 and 0 <= minute < 60
                and 0 <= second < 60):
            raise ValueError("RTC datetime out of range: %r" % (value,))
        state.rtc_set = tuple(value)
