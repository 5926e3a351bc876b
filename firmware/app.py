"""One running meter: the metering module plus everything wired to it (P1, uplink,
audit log, keys, the consumer's switch, the control plane). Built by main.py from the
board's hardware objects; imports no hardware itself.
"""
import hashlib
from binascii import unhexlify
import json
import sys

from comms.invocation import InvocationCounter
from comms.keys import OperatorKeys
from comms.fwlink import FirmwareDownload
from comms.p1 import P1Port
from comms.switch import OperatorLinkSwitch
from comms.uplink import Uplink
from control.audit import AuditLog
from metering.tariff import TariffSchedule
from metering.calibration import Calibration, CalibrationError
from metering.meter import COVERAGE_MIN, Meter
import post
from storage.flash import FileStore, new_lock

# windows (about one per second) a firmware on trial meters before it confirms itself
TRIAL_CONFIRM_WINDOWS = 60


def _design(board):
    """The board's design calibration, from its own front-end constants."""
    from boards import common

    return common.calibration_for(board)


def load_calibration(store, board):
    data = store.read("calibration")
    if data is not None:
        try:
            return Calibration.decode(data), "stored"
        except CalibrationError as exc:
            # a torn or edited record must not be used; the board default is honest
            return Calibration(**_design(board)), "default (stored: %s)" % exc.reason
    return Calibration(**_design(board)), "default"


class App:
    """One running meter: the metering module plus the outputs wired to it."""

    def __init__(self, board, hw, post_result=None):
        """post_result: a post.PostResult to use instead of running the power-on
        self-test (tests inject faults this way)."""
        self.board = board
        self.hw = hw
        # known answers first: a broken viper kernel must not meter, broken crypto must
        # not verify (post.py)
        self.post = post_result if post_result is not None else post.run()
        self.store = FileStore(hw.storage_root)
        self.cal, self.cal_source = load_calibration(self.store, board)
        v_nominal = board.MAINS_V_NOMINAL
        self.meter = Meter(
            hw.adc, self.cal, hw.clock, self.store,
            starting_power_w=0.5 * board.STARTING_CURRENT_A * v_nominal,
            sag_v=board.SAG_V, swell_v=board.SWELL_V, v_nominal=v_nominal,
            use_viper=self.post.kernel_ok, retained=hw.retained,
        )
        self.meter_id = getattr(hw, "meter_id", board.NAME)
        self.p1 = P1Port(hw.p1, self.meter_id)
        self.lock = new_lock()  # flash structures shared by the metering and uplink threads
        self.audit = AuditLog(self.store)
        cause = hw.reset_cause() if hw.reset_cause is not None else None
        gap = self.meter.restart_gap_s
        kept = ""
        if self.meter.kept_across_reset:
            kept = "; registers kept, not metered for %s" % (
                "%d s" % gap if gap is not None else "a time measured once the clock is set")
        self._audit_best_effort("boot", "calibration %s%s%s" % (
            self.cal_source, "; reset: %s" % cause if cause else "", kept))
        if not (self.post.crypto_ok and self.post.kernel_ok):
            self._audit_best_effort("self-test-failed", self.post.summary()
                              + ("" if self.post.crypto_ok else "; updates and tokens refused")
                              + ("" if self.post.kernel_ok else "; metering on the plain kernel"))
        if self.meter.outage_s is not None:
            self._audit_best_effort("power-failure", "off for %d s" % self.meter.outage_s)
        elif self.meter.down_unmeasured == "power":
            self._audit_best_effort("power-failure",
                                    "off for a time measured once the clock is set")
        self.keys = OperatorKeys(self.store)
        self.keys.cipher()  # the uplink's AES-GCM tables (5 KB) now, not late in life
        self.switch = OperatorLinkSwitch(self.store)
        # DLMS system title: 3-letter manufacturer flag + 5 bytes identifying this meter
        self.system_title = b"OSM" + hashlib.sha256(self.meter_id.encode()).digest()[:5]
        self.uplink = Uplink(
            self.store, self.keys, InvocationCounter(self.store), self.system_title,
            self.meter.intervals, self.audit, self.switch, hw.clock, None, lock=self.lock)
        if hw.network is not None:
            hw.network.credentials = load_json(self.store, "wifi") or None
        self.apply_link_settings(load_json(self.store, "operator-link"))
        tariffs = load_json(self.store, "tariffs")
        if tariffs:
            self.meter.tariffs = TariffSchedule(tariffs)
        self._policies = None  # the trust policy and control plane: built at the end
        self._control = None
        self.uplink.on_command = self.command_from_link
        self.uplink.on_clock_step = self._clock_stepped
        self.uplink.time_floor_s = self.meter.time_floor_s
        self.uplink.firmware = FirmwareDownload(
            self._link_receiver, self.update_from_link, ready=lambda: not self.trial,
            after_accept=self._restart_soon)
        self._update_p1_text()
        self.running = False
        self.stopped = False
        self.trial_windows = getattr(board, "TRIAL_CONFIRM_WINDOWS", TRIAL_CONFIRM_WINDOWS)
        self.booted_ticks = hw.clock.ticks_ms()  # the trial limit counts from here
        self.watchdog = None  # started by the metering loop (run)
        self.watchdog_feeds = 0
        self.uplink_alive = False  # the uplink thread runs (start_uplink_thread)
        self._flash_full = False  # quarter-hours wait in RAM (_watch_flash)
        self._flash_peak = 0
        self.uplink_restarts = 0
        self._spawn_uplink = None
        self._uplink_logged = -1
        self._fed_at_pairs = 0  # pairs metered when the watchdog was last fed
        self.restart_pending = False  # a package from the link waits for a restart
        self.uplink_in_metering_loop = False  # a port with no thread for the uplink
        self.loop_errors = {}  # loop name -> exceptions survived (status shows them)
        self._loop_error_logged = {}  # loop name -> when the audit log last heard of one
        # The update gate (built by _watch_update) and the control plane load now, not on
        # first use. The heap's peak then comes at boot, where a board too small fails at
        # once rather than late in an update; and no table of names has to grow later
        # (loaded late, the gate's code needed a 14 KB qstr pool in a fragmented heap).
        # After boot nothing allocates more than 2 KB at once: BENCHMARKS.md, hole probe.
        self._watch_update()
        self.control  # noqa: B018 - a property that builds the control plane

    def _watch_update(self):
        """Audit what the boot stage did (a revert) and note whether this firmware is on
        trial: then it confirms itself once metering has run and the self-test passes.
        The pointer record is read through the update gate (update.slots, with its checks)."""
        from update import loader, slots
        from update.errors import UpdateRejected

        self.updater = None
        try:
            fields = self.update_gate().state.fields
        except (UpdateRejected, OSError):
            # a pointer record the boot stage could not read either (it started the factory
            # image), or no room for fw/ on the flash: the meter meters on, and the gate is
            # built again (and refuses, with a reason) when an update is tried
            self.updater = None
            fields = {}
        # on trial only if this very code came from the slot on trial: a factory image
        # that the boot stage fell back to must not confirm a slot that never ran
        active = fields.get("active") or ""
        self.trial = (fields.get("trial") is True and active != ""
                      and loader.running_slot() == slots.slot_dir(active))
        if fields.get("reverted") or self.trial:
            self.update_gate().report_boot()
        self.firmware = "%s (slot %s%s)" % (
            fields.get("active_version", "factory"), fields.get("active") or "factory",
            ", on trial" if self.trial else "")

    def _clock_stepped(self, delta_s, first_set):
        """Called with the lock held when the uplink moved the clock: the meter re-anchors
        its quarter-hours and, on the first setting, measures the outage before this boot.
        Returns what the clock-corrected audit entry adds."""
        down = self.meter.clock_stepped(delta_s, first_set)
        self._update_p1_text()
        if down is None:
            return None
        kind, seconds = down
        return "%s before this boot: %d s" % (
            "power failure" if kind == "power" else "reset", seconds)

    def _link_receiver(self):
        from update.receiver import Receiver
        from update.tree import FileTree

        return Receiver(FileTree(""))

    def _restart_soon(self):
        self.restart_pending = True  # the metering loop restarts at its next block

    def update_from_link(self, path):
        """A package that arrived over the operator link: the same gate as the shell."""
        from update.errors import UpdateRejected

        try:
            result = self.update_gate().install_file(path)
        except UpdateRejected as exc:
            return "rejected %s" % exc.reason
        return "accepted %s" % result["version"]

    def update_gate(self):
        """The update gate (update.apply.Updater) of this meter, built on first use."""
        if self.updater is None:
            from update import apply

            self.updater = apply.for_app(self)
        return self.updater

    @property
    def policies(self):
        """The meter's trust policy store (update.policy.PolicyStore)."""
        if self._policies is None:
            from update.policy import PolicyStore

            self._policies = PolicyStore(self.store)
        return self._policies

    @property
    def control(self):
        """The control plane (operator-signed commands, break-glass)."""
        if self._control is None:
            from control import handlers
            from control.plane import ControlPlane

            self._control = ControlPlane(self.store, self.policies, self.audit, self.hw.clock,
                                         self.meter_id, handlers.for_app(self),
                                         crypto_ok=self.post.crypto_ok)
        return self._control

    def apply_link_settings(self, settings):
        """Broker and schedule of the operator link (set at commissioning or by a signed
        set-operator-link command)."""
        self.link = settings or {}
        connector = None
        if self.link.get("broker"):
            host, port = self.link["broker"].rsplit(":", 1)
            ca = self.link.get("tls_ca")
            connector = self.board.mqtt_connector(host, int(port),
                                                  ca_der=unhexlify(ca) if ca else None,
                                                  network=self.hw.network)
        self.uplink.connector = connector
        self.uplink.set_interval(self.link.get("interval_s", 86400), self.hw.clock.time())

    def set_wifi(self, ssid, password):
        """The network the operator link leaves by (the technician, at the meter: the
        home's or the operator's Wi-Fi). Stored atomically; used from the next session."""
        if self.hw.network is None:
            raise ValueError("this board has no Wi-Fi")
        if type(ssid) is not str or not 1 <= len(ssid) <= 32 or type(password) is not str \
                or len(password) > 64:
            raise ValueError("ssid must be 1..32 characters, password at most 64")
        with self.lock:
            self.store.write("wifi.new", _dumps({"ssid": ssid, "password": password}))
            self.store.rename("wifi.new", "wifi")
        self.hw.network.credentials = {"ssid": ssid, "password": password}

    def apply_token(self, raw, channel="shell"):
        """An operator-signed command; TokenRefused (logged) if it does not check out."""
        with self.lock:
            return self.control.apply(raw, channel)

    def command_from_link(self, raw):
        """Commands arriving over the operator link: the same gate as the shell."""
        from control.tokens import TokenRefused

        try:
            return self.apply_token(raw, "operator-link")
        except TokenRefused:
            return None  # refused and audit-logged; nothing changed

    def commission(self, policy_raw, kek, ek, ak, link=None, utc=None):
        """First installation by the operator's technician at the meter (physical
        presence, no keys yet): the trust policy, the uplink keys, the link settings.
        Refused once done; afterwards only signed commands change these. utc: the
        technician's time, which sets a clock not set since boot (a board's RTC reads
        2000 until then, and TLS would refuse every broker certificate as not yet valid)."""
        if not self.post.crypto_ok:
            from update.errors import UpdateRejected

            raise UpdateRejected("self-test-failed", "power-on known-answer tests failed")
        with self.lock:
            policy = self.policies.commission(policy_raw)
            self.keys.commission(kek, ek, ak)
            if link:
                self.store.write("operator-link", _dumps(link))
                self.apply_link_settings(link)
            self.audit.append(self.hw.clock.time(), "policy-changed",
                              "commissioned v%d %s" % (policy.version, policy.fingerprint()))
            self.audit.append(self.hw.clock.time(), "keys-installed", "commissioning")
        if utc is not None and not self.hw.clock.trusted:
            self.uplink.take_time(int(utc), "set at commissioning")  # the lock it takes itself
        return policy.fingerprint()

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
        """P1's text message (0-0:96.13.0): what the consumer must know about the data."""
        texts = []
        if not self.switch.on:
            texts.append("operator link off (consumer opt-out)")
        if not self.hw.clock.trusted:
            texts.append("clock not set: times estimated")
        self.p1.text = "; ".join(texts)

    def uplink_loop(self):
        """The uplink's own thread: network waits never stall sampling."""
        clock = self.hw.clock
        self.uplink_alive = True
        try:
            while self.running:
                try:
                    if self.uplink.connector is not None:
                        self.uplink.poll(clock.time())
                except Exception as exc:  # noqa: BLE001 - the link must not end its thread
                    self._survive("uplink", exc)
                clock.sleep_ms(1000)
        finally:
            self.uplink_alive = False

    def start_uplink_thread(self, spawn):
        """Run uplink_loop in a thread of its own; spawn(fn) starts one (OSError where
        the port has none left). The metering loop, the supervisor, restarts it through
        the same spawn if it ever ends while the meter runs."""
        self.uplink_alive = True  # before the thread runs: never two at once
        try:
            spawn(self.uplink_loop)
        except BaseException:
            self.uplink_alive = False
            raise
        self._spawn_uplink = spawn

    def _watch_flash(self):
        """Quarter-hours waiting in RAM mean the flash refused them (full): say so in the
        audit log when it starts and when they are written again. The first entry may
        not land either (the same full flash); the recovery entry says how many waited."""
        intervals = self.meter.intervals
        waiting = len(intervals.waiting)
        if waiting and not self._flash_full:
            self._flash_full = True
            self._flash_peak = waiting
            self._audit_best_effort("flash-full", "quarter-hour readings wait in RAM")
        elif self._flash_full:
            self._flash_peak = max(self._flash_peak, waiting)
            if not waiting:
                self._flash_full = False
                self._audit_best_effort("flash-full", "recovered: %d readings had waited in RAM,"
                                        " %d lost" % (self._flash_peak, intervals.lost_in_ram))

    def _audit_best_effort(self, event, text):
        try:
            with self.lock:
                self.audit.append(self.hw.clock.time(), event, text)
        except Exception:  # noqa: BLE001 - a full flash: status says it instead
            pass

    def _supervise_uplink(self):
        """An uplink thread that ended anyway (an exception no loop catches, such as a
        BaseException from a library) is restarted, counted and audit-logged."""
        if self._spawn_uplink is None or self.uplink_alive or not self.running:
            return
        if self._uplink_logged != self.uplink_restarts:
            # once per death, not once per failed restart: the audit log is bounded
            self._uplink_logged = self.uplink_restarts
            self._audit_best_effort("loop-error", "uplink thread ended; restarting (%d)"
                                    % (self.uplink_restarts + 1))
        try:
            self.start_uplink_thread(self._spawn_uplink)
            self.uplink_restarts += 1
        except Exception:  # noqa: BLE001 - no thread (or heap) now: the next second tries
            pass

    def step(self):
        """One block of samples; a P1 telegram whenever a new second has begun."""
        with self.lock:
            self.meter.poll()
        clock = self.hw.clock
        if self.trial and clock.ticks_diff(clock.ticks_ms(), self.booted_ticks) \
                > self.board.TRIAL_LIMIT_S * 1000:
            self.end_trial(overdue=True)
        now = clock.time()
        if self.p1.due(now) and self.meter.last is not None:
            self.p1.send(self.meter.snapshot(), now)
            if self.trial and self.meter.sampler.windows >= self.trial_windows:
                self.end_trial()
            if self.restart_pending:
                self._restart()
            if self.uplink_in_metering_loop and self.uplink.connector is not None:
                self.uplink.poll(now)
            self._supervise_uplink()
            self._watch_flash()

    def selftest(self):
        """[(check, passed)]: what the technician's self-test and a trial firmware's
        confirmation both require."""
        snap = self.meter.snapshot()
        checks = [("metering running", self.meter.sampler.windows > 0),
                  ("sample coverage >= %d %%" % (100 * COVERAGE_MIN),
                   snap["coverage"] >= COVERAGE_MIN),
                  ("registers non-negative", min(snap["import_wh"] + snap["export_wh"]) >= 0)]
        try:
            with self.lock:
                self.store.write("selftest.tmp", b"ok")
                ok = self.store.read("selftest.tmp") == b"ok"
                self.store.remove("selftest.tmp")
        except OSError:
            ok = False
        checks.append(("flash writable", ok))
        checks.append(("calibration record", self.cal_source in ("stored", "default")))
        checks.append(("crypto known answers", self.post.crypto_ok))
        checks.append(("metering kernel known answer", self.post.kernel_ok))
        return checks

    def end_trial(self, overdue=False):
        """The trial firmware has metered trial_windows windows: keep it if the self-test
        passes (the security counter rises), else revert and restart into the previous
        slot. overdue: board.TRIAL_LIMIT_S has passed without a confirmation (a firmware
        that meters but never gets as far): revert. Returns True if confirmed."""
        failed = [] if overdue else [name for name, ok in self.selftest() if not ok]
        self.trial = False
        if not (failed or overdue):
            self.update_gate().confirm()
            self.firmware = self.firmware.replace(", on trial", "")
            return True
        self.update_gate().revert("not confirmed within %d s" % self.board.TRIAL_LIMIT_S
                                  if overdue else "self-test failed: " + ", ".join(failed))
        self.firmware += ", REVERTED at next boot"
        self._restart()
        return False

    def _restart(self):
        """Save the registers and reset the board, from the metering thread. The sim has
        no reset: the new pointer takes effect when it is next started."""
        self.restart_pending = False
        reset = getattr(self.hw, "reset", None)
        if reset is not None:
            with self.lock:
                self.meter.intervals.flush()  # readings waiting in RAM, if the flash takes them
                self.meter.save(clean=True)
            reset()

    def run(self, seconds=0, show=True):
        """Meter until stop() or for `seconds` (0: forever); prints a line per window."""
        clock = self.hw.clock
        start = clock.ticks_ms()
        shown = -1
        self.running = True
        watchdog = self._start_watchdog()
        try:
            while self.running:
                try:
                    self.step()
                except Exception as exc:  # noqa: BLE001 - nothing may stop metering
                    self._survive("metering", exc)
                    clock.sleep_ms(10)  # a failure that repeats at once does not spin
                # fed only on progress: a loop that survives every exception but meters
                # nothing (a dead ADC, a failure every block) is reset by the watchdog
                done = self.meter.sampler.pairs_processed
                if watchdog is not None and done != self._fed_at_pairs:
                    self._fed_at_pairs = done
                    watchdog.feed()
                    self.watchdog_feeds += 1
                windows = self.meter.sampler.windows
                if windows != shown:
                    shown = windows
                    if show:
                        print(format_readings(self.meter.snapshot()))
                if seconds and clock.ticks_diff(clock.ticks_ms(), start) >= seconds * 1000:
                    break
        finally:
            self.meter.intervals.flush()
            self.meter.save(clean=True)
            self.running = False
            self.stopped = True

    def _start_watchdog(self):
        """The board's watchdog, started by the metering thread itself (on the ESP32 the
        task watchdog watches the task that starts it); None where the board has none.
        It cannot be stopped: a metering loop that ends (stop(), a soft reset at the
        REPL) is followed by a hard reset within board.WATCHDOG_MS."""
        if self.watchdog is None and self.hw.watchdog is not None:
            self.watchdog = self.hw.watchdog(self.board.WATCHDOG_MS)
            self._fed_at_pairs = self.meter.sampler.pairs_processed
        return self.watchdog

    LOOP_ERROR_LOG_S = 3600  # the audit log hears of a repeating failure once an hour

    def _survive(self, loop, exc):
        """An exception inside a loop the meter must keep running (a full flash; on a port
        without a GIL, a spurious MemoryError): counted for `status`, printed, audit-logged
        the first time and then at most once an hour per loop; the loop goes on. What was
        registered stays registered: the registers live in RAM and are saved again later."""
        count = self.loop_errors.get(loop, 0) + 1
        self.loop_errors[loop] = count
        # rate-limited by ticks (a clock set backwards must not silence it) and printed
        # only with the audit entry (a failure every block must not flood the console)
        clock = self.hw.clock
        ticks = clock.ticks_ms()
        last = self._loop_error_logged.get(loop)
        if last is not None and 0 <= clock.ticks_diff(ticks, last) < self.LOOP_ERROR_LOG_S * 1000:
            return
        self._loop_error_logged[loop] = ticks
        if hasattr(sys, "print_exception"):  # MicroPython: on the technician's console
            sys.print_exception(exc)
        # the audit log may be what failed (a full flash): best effort
        self._audit_best_effort("loop-error", "%s: %s: %s (%d so far)" % (
            loop, type(exc).__name__, exc, count))

    def calibrate(self, step_name, windows=5, **reference):
        """A calibration step (no-load, pf1, pf05) measured on `windows` windows.

        On a bench meter (no trust policy yet) the new record is stored and used at once.
        On a commissioned meter it is only proposed (calibration.proposed): it takes
        effect when the operator signs a set-calibration token carrying it."""
        from metering import calibrate

        measured = calibrate.collect(self.meter, windows, self.hw.clock)
        cal = calibrate.step(self.cal, step_name, measured, **reference)
        now = self.hw.clock.time()
        if self.policies.current() is not None:
            self.store.write("calibration.proposed", _dumps(cal.to_dict()))
            self.audit.append(now, "calibration-changed", "proposed %s (needs a token)" % step_name)
            return cal, False
        self.store.write("calibration.new", cal.encode())
        self.store.rename("calibration.new", "calibration")  # atomic replace
        self.cal, self.cal_source = cal, "stored"
        self.meter.set_calibration(cal)
        self.audit.append(now, "calibration-changed", "bench step %s" % step_name)
        return cal, True

    def stop(self):
        self.running = False


def load_json(store, name):
    """A small JSON settings record, or {} if absent or unreadable."""
    data = store.read(name)
    if data is None:
        return {}
    try:
        settings = json.loads(data)
    except ValueError:
        return {}
    return settings if isinstance(settings, dict) else {}


def _dumps(obj):
    import canonical

    return canonical.dumps(obj).encode()


def format_readings(snap):
    """One 80-column line for the terminal."""
    if "vrms" not in snap:
        return "waiting for the first measurement window..."
    return "%7.2f V %7.3f A %+9.1f W %+8.1f var PF %+5.3f %6.3f Hz  in %d/%d Wh  out %d/%d Wh" % (
        snap["vrms"], snap["irms"], snap["p_w"], snap["q_var"], snap["pf"], snap["freq_hz"],
        snap["import_wh"][0], snap["import_wh"][1], snap["export_wh"][0], snap["export_wh"][1],
    )
