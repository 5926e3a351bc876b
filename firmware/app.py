"""The running meter's loops: metering (with P1 and the trial's end), the uplink in a
thread of its own with a supervisor, the watchdog, and the shell's operations that need
the meter's lock. main.py builds every part and hands it in; this module imports no
hardware and builds none of the parts but the trial, which starts after the boot entry.
"""
import sys

from metering.harmonics import THD_V_LIMIT
from metering.meter import COVERAGE_MIN
from refusal import TokenRefused
from update.trial import CONFIRM_WINDOWS, Trial

VOLTAGE_LOG_INTERVAL_S = 900  # at most one voltage-quality audit entry a quarter-hour


class App:
    """One running meter. Its parts are public and declared here; the shell (service.py)
    reads them, nothing else reaches into the App:

      board, hw        the board module and its hardware (boards.common.Hardware)
      post             the power-on self-test's result (post.PostResult)
      store, lock      the data/ flash store and the lock of the flash structures the
                       metering and uplink threads share
      calibration      the calibration in use (metering.calibration_store)
      meter, meter_id  the metering module and the meter's id
      p1, audit, keys  the P1 port, the audit log, the operator's uplink keys
      switch           the consumer's operator-link switch
      uplink, link     the uplink and its settings in force (comms.operator_link)
      policies         the trust policy store (update.policy.PolicyStore), built at
                       each read from its record on flash
      control          the control plane (operator-signed commands, break-glass), built
                       at each read from its state on flash
      rare             the code those two and the update gate load (ondemand.OnDemand):
                       a use runs inside `with app.rare:`, and the code goes after it
      trial            the trial of an updated firmware (update.trial)
      metering_identity  (software id, how it stands) of the metering module
                       (metering.identity: verified against the code on flash, or not)
      driver_identity  (driver id, how it stands) of the board's drivers, the same way
      install_at_boot  packages are verified and installed by the boot stage, not here
                       (boot_install); install_update() then only stages them
      boot_install_verdict  what the boot stage did with the last staged package, or None
    """

    def __init__(self, board, hw, post, store, lock, calibration, meter, meter_id, p1, audit,
                 keys, switch, uplink, link, policies, control, gate, rare,
                 metering_identity=("unknown", "not computed"), install_at_boot=False,
                 driver_identity=("unknown", "not computed")):
        """policies(), control(), gate(): build the trust policy store, the control plane
        and the update gate (update.apply.Updater) for one use, from what is on flash;
        their code loads with them and is released after the use (rare)."""
        self.board = board
        self.hw = hw
        self.post = post
        self.store = store
        self.lock = lock
        self.calibration = calibration
        self.meter = meter
        self.meter_id = meter_id
        self.p1 = p1
        self.audit = audit
        self.keys = keys
        self.switch = switch
        self.uplink = uplink
        self.link = link
        self._policies = policies
        self._control = control
        self._build_gate = gate
        self.rare = rare
        self.metering_identity = metering_identity
        self.driver_identity = driver_identity
        self.install_at_boot = install_at_boot
        self.boot_install_verdict = None
        self._audit_boot()
        with rare:
            self.trial = Trial(self.update_gate, hw.clock,
                               getattr(board, "TRIAL_CONFIRM_WINDOWS", CONFIRM_WINDOWS),
                               board.TRIAL_LIMIT_S)
        self.update_p1_text()
        self.running = False
        self.stopped = False
        self.watchdog = None  # started by the metering loop (run)
        self.watchdog_feeds = 0
        self.uplink_alive = False  # the uplink thread runs (start_uplink_thread)
        self.flash_full = False  # quarter-hours wait in RAM (_watch_flash)
        self._voltage_log_due_s = 0  # the next voltage-quality entry, not before (UTC s)
        self._flash_peak = 0
        self.uplink_restarts = 0
        self._spawn_uplink = None
        self._uplink_logged = -1
        self._fed_at_block = 0  # the sampler's block count when the watchdog was last fed
        self.restart_pending = False  # a package from the link waits for a restart
        self.uplink_in_metering_loop = False  # a port with no thread for the uplink
        self.loop_errors = {}  # loop name -> exceptions survived (status shows them)
        self._loop_error_logged = {}  # loop name -> when the audit log last heard of one

    def _audit_boot(self):
        """The boot entry (calibration, reset cause, registers kept across a reset), a
        failed self-test and a power failure, before anything else is logged."""
        hw, meter = self.hw, self.meter
        cause = hw.reset_cause() if hw.reset_cause is not None else None
        gap = meter.restart_gap_s
        kept = ""
        if meter.kept_across_reset:
            kept = "; registers kept, not metered for %s" % (
                "%d s" % gap if gap is not None else
                "seconds (clock set to the last window)" if meter.clock_carried == "estimated"
                else "a time measured once the clock is set" if not self.hw.clock.trusted
                else "the restart after a clean stop")
        if meter.clock_carried == "kept":
            kept += "; clock kept by the RTC"
        software_id, standing = self.metering_identity
        driver_id, driver_standing = self.driver_identity
        curve = self.calibration.curve_source
        # the identities first: an entry is cut at 200 characters, and a MISMATCH must
        # never be what is cut
        self._audit_best_effort("boot", "metering %s%s; drivers %s%s; calibration %s%s%s%s" % (
            software_id, " MISMATCH" if standing.startswith("MISMATCH") else "", driver_id,
            " MISMATCH" if driver_standing.startswith("MISMATCH") else "",
            self.calibration.source, "" if curve == "none" else ", curve " + curve,
            "; reset: %s" % cause if cause else "", kept))
        if not (self.post.crypto_ok and self.post.kernel_ok):
            self._audit_best_effort("self-test-failed", self.post.summary()
                                    + ("" if self.post.crypto_ok
                                       else "; updates and tokens refused")
                                    + ("" if self.post.kernel_ok
                                       else "; metering on the plain kernel"))
        if meter.outage_s is not None:
            self._audit_best_effort("power-failure", "off for %d s" % meter.outage_s)
        elif meter.down_unmeasured == "power":
            self._audit_best_effort("power-failure",
                                    "off for a time measured once the clock is set")

    @property
    def policies(self):
        return self._policies()

    @property
    def control(self):
        return self._control()

    def update_gate(self):
        """The update gate (update.apply.Updater) of this meter, built for this use."""
        return self._build_gate()

    def install_update(self, path, channel="shell"):
        """A package copied onto the flash at `path`: verified and installed on trial now
        (the gate's summary), or, with install_at_boot, staged for the boot stage
        ({"staged": True, ..}: restart to install). Raises update.errors.UpdateRejected."""
        with self.rare:
            gate = self.update_gate()
            if self.install_at_boot:
                return gate.stage_file(path, channel)
            return gate.install_file(path)

    def clock_stepped(self, delta_s, first_set):
        """Called with the lock held when the uplink moved the clock: the meter re-anchors
        its quarter-hours and, on the first setting, measures the outage before this boot.
        Returns what the clock-corrected audit entry adds."""
        down = self.meter.clock_stepped(delta_s, first_set)
        self.update_p1_text()
        if down is None:
            return None
        kind, seconds = down
        return "%s before this boot: %d s" % (
            "power failure" if kind == "power" else "reset", seconds)

    def restart_soon(self):
        """A package from the link was accepted: restart into it at the next block."""
        self.restart_pending = True  # the metering loop restarts at its next block

    def apply_token(self, raw, channel="shell"):
        """An operator-signed command; TokenRefused (logged) if it does not check out."""
        with self.rare, self.lock:
            return self.control.apply(raw, channel)

    def command_from_link(self, raw):
        """Commands arriving over the operator link: the same gate as the shell."""
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
        with self.rare, self.lock:
            policy = self.policies.commission(policy_raw)
            self.keys.commission(kek, ek, ak)
            if link:
                self.link.replace(link)
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
        self.update_p1_text()
        return self.switch.on

    def consent(self, frequent):
        """The consumer's consent to readings at every session (True) or once a day
        (False, the default): no operator token, the consumer's right; logged."""
        with self.lock:
            if self.switch.consent(frequent):
                self.audit.append(self.hw.clock.time(), "readings-consent",
                                  "consumer: %s" % ("readings at every session" if frequent
                                                    else "readings once a day"))
        return self.switch.frequent_readings

    def update_p1_text(self):
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
        if self.audit.waiting:  # entries the full flash refused: written once it takes them
            try:
                with self.lock:
                    self.audit.flush()
            except Exception:  # noqa: BLE001 - still full: they wait, status says so
                pass
        waiting = len(intervals.waiting)
        if waiting and not self.flash_full:
            self.flash_full = True
            self._flash_peak = waiting
            self._audit_best_effort("flash-full", "quarter-hour readings wait in RAM")
        elif self.flash_full:
            self._flash_peak = max(self._flash_peak, waiting)
            if not waiting:
                self.flash_full = False
                self._audit_best_effort("flash-full", "recovered: %d readings had waited in RAM,"
                                        " %d lost; %d audit entries lost" % (
                                            self._flash_peak, intervals.lost_in_ram,
                                            self.audit.lost_in_ram))

    def _log_voltage_events(self, now):
        """Sags and swells into the audit log (and so to the operator), at most one entry
        a quarter-hour: how many ended since the last entry and the longest of them. A
        bad grid cannot flood the log or wear the flash; each event stays in `status`."""
        if now < self._voltage_log_due_s:
            return
        summary = self.meter.take_voltage_summary()
        if summary is None:
            return
        count, (end_s, kind, duration_ms, extreme_v) = summary
        self._voltage_log_due_s = now + VOLTAGE_LOG_INTERVAL_S
        self._audit_best_effort("voltage-quality", "%d sag/swell(s); longest: %s %s %.1f V "
                                "for %d ms, ended at %d" % (
                                    count, kind, "to" if kind == "sag" else "at", extreme_v,
                                    duration_ms, end_s))

    def _log_harmonics(self):
        """A 10-minute block whose voltage THD passed EN 50160's 8 % into the audit log
        (and so to the operator): at most one entry per block, six an hour."""
        block = self.meter.thd_10min.take_over_limit()
        if block is None:
            return
        end_s, v, i = block
        self._audit_best_effort("harmonics", "THD V %.1f %% (EN 50160 limit %d %%), I %s "
                                "over the 10 minutes to %d" % (
                                    100 * v, round(100 * THD_V_LIMIT),
                                    "-" if i is None else "%.1f %%" % (100 * i), end_s))

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
        if self.trial.overdue():
            self.end_trial(overdue=True)
        now = clock.time()
        if self.p1.due(now) and self.meter.last is not None:
            self.p1.send(self.meter.snapshot(), now)
            with self.lock:
                self.meter.power_quality_tick(now)
            if self.trial.due(self.meter.sampler.windows):
                self.end_trial()
            if self.restart_pending:
                self._restart()
            if self.uplink_in_metering_loop and self.uplink.connector is not None:
                self.uplink.poll(now)
            self._supervise_uplink()
            self._watch_flash()
            if self.meter.thd_10min.over_limit is not None:
                self._log_harmonics()
        if self.meter.voltage_unlogged:
            self._log_voltage_events(now)

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
        checks.append(("calibration record", self.calibration.source in ("stored", "default")
                       and self.calibration.curve_source in ("none", "stored")))
        checks.append(("crypto known answers", self.post.crypto_ok))
        checks.append(("metering kernel known answer", self.post.kernel_ok))
        return checks

    def end_trial(self, overdue=False):
        """The trial firmware has metered its windows (or overdue: board.TRIAL_LIMIT_S has
        passed without a confirmation): keep it if the self-test passes, else revert and
        restart into the previous slot (update.trial). Returns True if confirmed."""
        failed = [] if overdue else [name for name, ok in self.selftest() if not ok]
        with self.rare:
            kept = self.trial.end(failed, overdue)
        if kept:
            return True
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
                done = self.meter.sampler.blocks
                if watchdog is not None and done != self._fed_at_block:
                    self._fed_at_block = done
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
            self._fed_at_block = self.meter.sampler.blocks
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
        """A calibration step (no-load, pf1, pf05, point) measured on `windows` windows.

        On a bench meter (no trust policy yet) the new record is stored and used at once.
        On a commissioned meter it is only proposed (calibration.proposed): it takes
        effect when the operator signs a set-calibration token carrying it."""
        from metering import bench_calibration

        measured = bench_calibration.collect(self.meter, windows, self.hw.clock)
        with self.rare:
            commissioned = self.policies.current() is not None
        active = self.calibration.cal
        cal = bench_calibration.step(active, step_name, measured, **reference)
        # on a commissioned meter the meter meters on with the signed record, so each
        # step is measured under it and carried onto what was proposed: a curve's points
        # add up to one proposal, and a step repeated is not applied twice
        proposal = self.calibration.proposed() if commissioned else None
        if proposal is not None:
            cal = bench_calibration.onto(proposal, active, cal)
        now = self.hw.clock.time()
        if commissioned:
            self.calibration.propose(cal)
            self.audit.append(now, "calibration-changed", "proposed %s (needs a token)" % step_name)
            return cal, False
        self.calibration.replace(cal)
        self.audit.append(now, "calibration-changed", "bench step %s" % step_name)
        return cal, True

    def stop(self):
        self.running = False


def format_readings(snap):
    """One 80-column line for the terminal."""
    if "vrms" not in snap:
        return "waiting for the first measurement window..."
    return "%7.2f V %7.3f A %+9.1f W %+8.1f var PF %+5.3f %6.3f Hz  in %d/%d Wh  out %d/%d Wh" % (
        snap["vrms"], snap["irms"], snap["p_w"], snap["q_var"], snap["pf"], snap["freq_hz"],
        snap["import_wh"][0], snap["import_wh"][1], snap["export_wh"][0], snap["export_wh"][1],
    )
