"""Composition root: picks the board, builds its hardware and hands it to the logic.

The only firmware module that knows which board it runs on. Run as a script it meters
until interrupted (or for `seconds`), printing live readings once a second.
"""
import sys

from metering.calibration import Calibration, CalibrationError
import hashlib
import json

from comms.invocation import InvocationCounter
from comms.keys import OperatorKeys
from comms.p1 import P1Port
from comms.switch import OperatorLinkSwitch
from comms.uplink import Uplink
from control.audit import AuditLog
from metering.meter import Meter
from storage.flash import FileStore

_PORT_BOARDS = {"esp32": "esp32", "rp2": "rp2040"}

if "lib" not in sys.path and "/lib" not in sys.path:  # the unix port lacks it; boards have /lib
    sys.path.append("lib")


def board_module(name=None):
    """The board module for this port, or the one named in /board.txt, or `name`."""
    if name is None:
        try:
            with open("board.txt") as f:
                name = f.read().strip()
        except OSError:
            name = None
    name = name or _PORT_BOARDS.get(sys.platform, "sim")
    return __import__("boards." + name, None, None, ("NAME",))


def load_calibration(store, board):
    data = store.read("calibration")
    if data is not None:
        try:
            return Calibration.decode(data), "stored"
        except CalibrationError as exc:
            # a torn or edited record must not be used; the board default is honest
            return Calibration(**board.default_calibration()), "default (stored: %s)" % exc.reason
    return Calibration(**board.default_calibration()), "default"


class App:
    """One running meter: the metering module plus the outputs wired to it."""

    def __init__(self, board, hw):
        self.board = board
        self.hw = hw
        self.store = FileStore(hw.storage_root)
        self.cal, self.cal_source = load_calibration(self.store, board)
        v_nominal = board.MAINS_V_NOMINAL
        self.meter = Meter(
            hw.adc, self.cal, hw.clock, self.store,
            starting_power_w=0.5 * board.STARTING_CURRENT_A * v_nominal,
            sag_v=board.SAG_V, swell_v=board.SWELL_V, v_nominal=v_nominal,
        )
        self.meter_id = getattr(hw, "meter_id", board.NAME)
        self.p1 = P1Port(hw.p1, self.meter_id)
        self.lock = _lock()  # flash structures shared by the metering and uplink threads
        now = hw.clock.time()
        self.audit = AuditLog(self.store)
        self.audit.append(now, "boot", "calibration %s" % self.cal_source)
        if self.meter.outage_s is not None:
            self.audit.append(now, "power-failure", "off for %d s" % self.meter.outage_s)
        self.keys = OperatorKeys(self.store)
        self.switch = OperatorLinkSwitch(self.store)
        # DLMS system title: 3-letter manufacturer flag + 5 bytes identifying this meter
        self.system_title = b"OSM" + hashlib.sha256(self.meter_id.encode()).digest()[:5]
        self.link = load_link_settings(self.store)
        connector = None
        if self.link.get("broker"):
            host, port = self.link["broker"].rsplit(":", 1)
            connector = board.mqtt_connector(host, int(port))
        self.uplink = Uplink(
            self.store, self.keys, InvocationCounter(self.store), self.system_title,
            self.meter.intervals, self.audit, self.switch, hw.clock, connector,
            interval_s=self.link.get("interval_s", 86400), lock=self.lock)
        self._update_p1_text()
        self.running = False
        self.stopped = False

    def comms(self, on):
        """The consumer's operator-link switch (no operator token: the consumer's right,
        exercised at the meter). Metering and P1 carry on either way; it is logged."""
        with self.lock:
            if self.switch.set(on):
                self.uplink.skip_to_now()
                self.audit.append(self.hw.clock.time(),
                                  "operator-link-on" if on else "operator-link-off", "consumer")
        self._update_p1_text()
        return self.switch.on

    def _update_p1_text(self):
        self.p1.text = "" if self.switch.on else "operator link off (consumer opt-out)"

    def uplink_loop(self):
        """The uplink's own thread: network waits never stall sampling."""
        clock = self.hw.clock
        while self.running:
            if self.uplink.connector is not None:
                self.uplink.poll(clock.time())
            clock.sleep_ms(1000)

    def step(self):
        """One block of samples; a P1 telegram whenever a new second has begun."""
        with self.lock:
            self.meter.poll()
        now = self.hw.clock.time()
        if self.p1.due(now) and self.meter.last is not None:
            self.p1.send(self.meter.snapshot(), now)

    def run(self, seconds=0, show=True):
        """Meter until stop() or for `seconds` (0: forever); prints a line per window."""
        clock = self.hw.clock
        start = clock.ticks_ms()
        shown = -1
        self.running = True
        try:
            while self.running:
                self.step()
                windows = self.meter.sampler.windows
                if windows != shown:
                    shown = windows
                    if show:
                        print(format_readings(self.meter.snapshot()))
                if seconds and clock.ticks_diff(clock.ticks_ms(), start) >= seconds * 1000:
                    break
        finally:
            self.meter.save(clean=True)
            self.running = False
            self.stopped = True

    def calibrate(self, step_name, windows=5, **reference):
        """Hardware engineer's bench step at the REPL: measure `windows` windows, apply
        the step (no-load, pf1, pf05), store the sealed record, use it at once."""
        from metering import calibrate

        measured = calibrate.collect(self.meter, windows, self.hw.clock)
        cal = calibrate.step(self.cal, step_name, measured, **reference)
        self.store.write("calibration.new", cal.encode())
        self.store.rename("calibration.new", "calibration")  # atomic replace
        self.cal, self.cal_source = cal, "stored"
        self.meter.set_calibration(cal)
        return cal

    def stop(self):
        self.running = False


def load_link_settings(store):
    """Operator-link settings (broker, schedule), set at commissioning; {} if none."""
    data = store.read("operator-link")
    if data is None:
        return {}
    try:
        settings = json.loads(data)
    except ValueError:
        return {}
    return settings if isinstance(settings, dict) else {}


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _lock():
    try:
        import _thread

        return _thread.allocate_lock()
    except ImportError:
        return _NoLock()


def format_readings(snap):
    """One 80-column line for the terminal."""
    if "vrms" not in snap:
        return "waiting for the first measurement window..."
    return "%7.2f V %7.3f A %+9.1f W %+8.1f var PF %+5.3f %6.3f Hz  in %d/%d Wh  out %d/%d Wh" % (
        snap["vrms"], snap["irms"], snap["p_w"], snap["q_var"], snap["pf"], snap["freq_hz"],
        snap["import_wh"][0], snap["import_wh"][1], snap["export_wh"][0], snap["export_wh"][1],
    )


app = None


def build(board_name=None, **hardware_options):
    board = board_module(board_name)
    return App(board, board.hardware(**hardware_options))


def start(board_name=None, **hardware_options):
    """Meter in a background thread (the virtual board: the REPL stays usable)."""
    global app
    import _thread

    app = build(board_name, **hardware_options)
    _thread.start_new_thread(app.run, (0, False))
    _thread.start_new_thread(app.uplink_loop, ())
    return app


def main(argv):
    global app
    seconds = int(argv[1]) if len(argv) > 1 else 0
    app = build()
    print("meter on board %s, calibration %s, kernel %s; Ctrl-C stops" % (
        app.board.NAME, app.cal_source, app.meter.sampler.kernel_name))
    try:
        import _thread

        app.running = True
        _thread.start_new_thread(app.uplink_loop, ())
    except ImportError:
        pass
    try:
        app.run(seconds)
    except KeyboardInterrupt:
        pass
    snap = app.meter.snapshot()
    print("stopped after %d windows, coverage %.2f %%" % (snap["windows"], 100 * snap["coverage"]))


if __name__ == "__main__":
    if sys.platform == "linux":
        main(sys.argv)  # the unix port: `make sim` meters in the foreground
    else:
        start()  # a board: meter in the background, the REPL stays free for mpremote
