"""What every port's fake `machine` shares: a pin's level and a UART that records what
the firmware sent (rigs.state.uart_tx). Port modules subclass and add their own checks."""
from rigs import state


class PinLevel:
    """value(), on(), off() as machine.Pin has them on every port."""

    def _init_level(self, value):
        self._value = 1 if value else 0

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0

    def on(self):
        self._value = 1

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
