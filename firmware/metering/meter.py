"""The metering module's face: sampling, registers, tariffs, quarter-hours, voltage
quality and power failures, all persisted power-cut-safely.

Everything outside metering reads `snapshot()` (a fresh dict each call) and can change
nothing here. State is one two-slot record, so a power cut loses at most the energy
since the last save and never rewinds a register.
"""
import json
import struct
from array import array

import canonical
from metering import retained as retained_record
from metering.clock_trust import carry as carry_clock
from metering.harmonics import THD_INTERVAL_S, Harmonics, TenMinuteTHD
from metering.intervals import (IntervalRegister, STATUS_CLOCK_INVALID, STATUS_ESTIMATED,
                                STATUS_POWER_FAIL)
from metering.quadrants import QuadrantRegisters
from metering.registers import Registers, RegisterError
from metering.sampling import Sampler
from metering.tariff import TariffSchedule
from storage.slots import SlotStore

# The state record: version, save number, registers (import T1, T2, export T1, T2 Wh,
# remainders mJ, tariff), sags, swells, power failures, long ones, last alive UTC s, clean
_STATE = "<BIIIIIIIBIIIIIB"
_STATE_VERSION = 2
# The four-quadrant registers (metering.quadrants): values, then remainders. A record of
# their own, which firmware before them never writes: after a revert to it and back they
# carry on from where they were, never from zero.
_QUADRANTS = "<B12I"
_QUADRANTS_VERSION = 1
# L2's and L3's sag and swell counters (three-phase front-ends): version, then L2 sags,
# L3 sags, L2 swells, L3 swells. L1's are in the state record, as on a single-phase meter
_PHASE_EVENTS = "<B4I"
_PHASE_EVENTS_VERSION = 1
LONG_POWER_FAIL_S = 180  # DSMR: a long power failure lasts more than 3 minutes
# Pairs the driver lost are registered at their window's measured power. If the power in
# a gap is within 15 % of its window's mean (a load step inside that second), 2 % lost
# errs by at most 0.02 * 0.15 = 0.3 %, inside a third of class 1 (1.0 % / 3). Below this
# share the self-test fails and the quarter-hour is flagged STATUS_ESTIMATED.
COVERAGE_MIN = 0.98
POWER_FAIL_LOG_LEN = 10
VOLTAGE_LOG_LEN = 10
HYSTERESIS_SHARE = 0.02  # EN 61000-4-30: a sag ends 2 % of nominal above its threshold
# what a record of the wrong size raises: CPython's struct.error; MicroPython's struct has
# no `error` and raises ValueError (naming struct.error there fails in the except clause)
_UNPACK_ERRORS = (ValueError, getattr(struct, "error", ValueError))


ENERGY_SAVE_MIN_S = 30  # between saves on energy alone: at most 2,880 a day


class Meter:
    def __init__(self, adc, cal, clock, store, starting_power_w, sag_v, swell_v,
                 v_nominal=230.0, save_interval_s=300, use_viper=True, tariffs=None,
                 retained=None, pulses=None, voltage_event_min_cycles=1, save_energy_wh=100):
        """retained: the board's words that survive a reset (load() -> 4 ints or None,
        store(words)), where the energy since the last save is kept (metering.retained);
        None where the board has none. pulses: the test LED (metering.pulses.PulseOutput),
        fed the energy the registers take; None where the board has no LED."""
        self._clock = clock
        self._retained = retained
        self._words = [0] * retained_record.WORDS
        self._seq = 0  # number of the last state save; the retained record continues it
        self._slots = SlotStore(store, "state")  # the binary record, every save
        self._legacy_slots = SlotStore(store, "meter")  # JSON, as older firmware reads it
        self._log_slots = SlotStore(store, "pflog")  # written only by a long failure
        self._log_dirty = False
        self._quadrant_slots = SlotStore(store, "quad")
        self._phase_slots = SlotStore(store, "phases")
        self.phase_events = self._load_phase_events()  # [L2 sags, L3 sags, L2 swells, L3]
        self.registers = Registers(starting_power_w)
        self.quadrants = QuadrantRegisters(starting_power_w)
        self.quadrant_error = None  # why the saved four-quadrant record was not taken
        self.pulses = pulses
        self.tariffs = tariffs or TariffSchedule()
        self.power_fail_v = 0.5 * v_nominal
        self.sags = 0
        self.swells = 0
        self.power_failures = 0
        self.long_power_failures = 0
        self.power_fail_log = []  # [end of failure (UTC s), duration s], newest last
        self.outage_s = None  # set when this boot follows a power failure
        self.restart_gap_s = None  # set when it follows a reset: the seconds not metered
        self._down = None  # (kind, stopped at) until a clock set since boot can measure it
        self._landed(clock.time())  # nothing saved yet: the retained words count from 0
        self.kept_across_reset = False  # the retained words carried energy over a reset
        saved = self._newest(self._slots.load(), self._legacy_slots.load())
        state = self._parse(saved) if saved is not None else None
        self.clock_carried = None  # "kept" | "estimated": set at boot, across a reset
        if state is not None and not clock.trusted:
            self.clock_carried = carry_clock(clock, state)
            if clock.time() < state["stopped_s"]:
                # a board clock not set since boot (no battery-backed RTC) restarts at
                # the port's epoch: it never runs behind the time the meter last saw
                clock.adjust(state["stopped_s"] - clock.time())
        now = clock.time()
        self.boot_s = now
        self.intervals = IntervalRegister(store, now)
        if state is not None:
            self._restore(state, now)
        self._load_quadrants()
        self._catch_up_with_intervals()
        if getattr(adc, "measures_windows", False):  # a metering IC: its own DSP
            from metering.ic_windows import ICWindows

            self.sampler = ICWindows(adc, cal, self._on_window, clock,
                                     on_no_voltage=self._on_no_crossing,
                                     interruption_v=self.power_fail_v)
        else:
            self.sampler = Sampler(adc, cal, self._on_window, use_viper=use_viper,
                                   on_no_crossing=self._on_no_crossing)
        self.sampler.set_voltage_limits(sag_v, swell_v, HYSTERESIS_SHARE * v_nominal,
                                        voltage_event_min_cycles)
        self.last = None
        # sags and swells that ended since boot, newest last: [end UTC s, "sag" | "swell",
        # duration ms, lowest or highest cycle RMS V]; and since the App last logged them
        self.voltage_log = []
        self.voltage_unlogged = 0
        self.voltage_longest = None  # the longest of those, as a voltage_log entry
        self._summarised = self.sags + self.swells  # events counted in earlier summaries
        # harmonic distortion of one whole cycle every THD_INTERVAL_S (metering.harmonics)
        cycle_pairs = int(self.sampler.rate_hz / cal.f_nominal_hz + 0.5)
        self._harmonics = Harmonics(cycle_pairs)
        self._cycle = array("H", bytes(4 * cycle_pairs))
        self._thd_due_s = 0
        self.thd_v = None  # fractions, or None (not yet, or a current too small)
        self.thd_i = None
        self.thd_10min = TenMinuteTHD()
        self._failing = False
        self._silent = False  # a block without a zero crossing since the last window
        self.save_interval_s = save_interval_s
        # a save also once this much energy is unsaved: what a power cut whose save does
        # not land can lose (300 s at Imax is 767 Wh); None: by time only
        self.save_energy_wh = save_energy_wh
        self.saves = 0
        self.saves_refused = 0  # by a full flash (_try_save)
        self.save_error = None
        self._retry_save_s = 0
        self._interval_pairs = 0  # sampled and lost pairs since the last quarter-hour
        self._interval_lost = 0
        # from here on, an unclean stop counts as a power failure (a full flash refusing
        # it leaves the last record, whose save number the retained words continue)
        self._try_save(now)

    @staticmethod
    def _newest(binary, legacy):
        """The later of the two records by last-alive time: after a downgrade an older
        firmware wrote only the JSON one."""
        if binary is None or legacy is None:
            return binary if legacy is None else legacy
        try:
            binary_s = struct.unpack(_STATE, binary)[13]
        except _UNPACK_ERRORS:
            return legacy
        try:
            legacy_s = int(json.loads(legacy)["last_alive_s"])
        except (ValueError, KeyError, TypeError):
            return binary
        return legacy if legacy_s > binary_s else binary

    def _parse(self, saved):
        """The saved state, with the retained words (a reset) applied: a dict, the time
        metering stopped in "stopped_s", or RegisterError. Reads the binary record and
        the JSON one that firmware before it wrote."""
        try:
            if saved[:1] == b"{":
                stopped_s, clean = self._parse_json(saved)
            else:
                stopped_s, clean = self._parse_binary(saved)
        except _UNPACK_ERRORS + (KeyError, TypeError, IndexError, AttributeError):
            raise RegisterError("malformed", "saved meter state unreadable")
        self._landed(stopped_s)
        kept = None
        if self._retained is not None:
            kept = retained_record.decode(self._retained.load(), self._seq)
        clock_set = False
        if kept is not None:
            # a reset, not a power cut: the energy metered since the save is not lost,
            # and metering stopped when the record was last written
            import_j, export_j, alive_s, clock_set = kept
            self.registers.add_joules(import_j, export_j)
            stopped_s += alive_s
        return {"clean": clean, "reset": kept is not None, "stopped_s": stopped_s,
                "clock_set": clock_set}

    def _parse_json(self, saved):
        state = json.loads(saved)
        self.registers.restore(canonical.dumps(state["registers"]))
        self.sags, self.swells = int(state["quality"][0]), int(state["quality"][1])
        self.power_failures, self.long_power_failures = state["power_failures"]
        self.power_fail_log = [[int(a), int(b)] for a, b in state["power_fail_log"]]
        if self.power_fail_log:  # the binary record leaves the log to a record of its own
            self._log_slots.save(canonical.dumps(self.power_fail_log).encode())
        self._seq = int(state.get("seq", 0))
        return int(state["last_alive_s"]), state["clean"] is True

    def _parse_binary(self, saved):
        (version, seq, i1, i2, e1, e2, imp_mj, exp_mj, tariff, sags, swells, failures,
         long_failures, alive_s, clean) = struct.unpack(_STATE, saved)
        if version != _STATE_VERSION or clean not in (0, 1):
            raise ValueError("meter state version %d" % version)
        self.registers.load([i1, i2], [e1, e2], imp_mj, exp_mj, tariff)
        self.sags, self.swells = sags, swells
        self.power_failures, self.long_power_failures = failures, long_failures
        log = self._log_slots.load()
        self.power_fail_log = [[int(a), int(b)] for a, b in json.loads(log)] if log else []
        self._seq = seq
        return alive_s, clean == 1

    def _load_phase_events(self):
        saved = self._phase_slots.load()
        if saved is not None:
            try:
                fields = struct.unpack(_PHASE_EVENTS, saved)
                if fields[0] == _PHASE_EVENTS_VERSION:
                    return list(fields[1:])
            except _UNPACK_ERRORS:
                pass  # unreadable: the counters start again, as after a meter exchange
        return [0, 0, 0, 0]

    def _load_quadrants(self):
        """The saved four-quadrant record. One that cannot be read does not stop metering:
        the registers then start from the last quarter-hour's four-quadrant record
        (_catch_up_with_intervals), and `status` says why."""
        saved = self._quadrant_slots.load()
        if saved is None:
            return
        try:
            fields = struct.unpack(_QUADRANTS, saved)
            if fields[0] != _QUADRANTS_VERSION:
                raise ValueError("version %d" % fields[0])
            self.quadrants.load(fields[1:7], fields[7:13])
        except _UNPACK_ERRORS + (RegisterError,) as exc:
            self.quadrant_error = "saved four-quadrant record refused: %s" % exc

    def _restore(self, state, now):
        self.kept_across_reset = state["reset"]
        if state["clean"]:
            return
        self.intervals.flag(STATUS_POWER_FAIL)  # not metered for a while
        if not state["reset"]:
            self.power_failures += 1
        kind = "reset" if state["reset"] else "power"
        if self.clock_carried == "estimated":
            return  # the gap is what the clock was set back by: not known
        if self._clock.trusted:
            self._measure_down(kind, max(0, now - state["stopped_s"]), now)
        else:
            self._down = (kind, state["stopped_s"])  # how long: once the clock is set

    def _measure_down(self, kind, seconds, now):
        if kind == "reset":
            self.restart_gap_s = seconds
            return
        self.outage_s = seconds
        if seconds > LONG_POWER_FAIL_S:
            self.long_power_failures += 1
            self.power_fail_log = (self.power_fail_log + [[now, seconds]])[-POWER_FAIL_LOG_LEN:]
            self._log_dirty = True  # written after the state that counts it (save)

    @property
    def down_unmeasured(self):
        """"power" or "reset" while the stop before this boot waits for a set clock."""
        return self._down[0] if self._down is not None else None

    def clock_stepped(self, delta_s, first_set):
        """The clock was moved by delta_s; first_set: from not set since boot to the
        operator's time. Then the boot's true time is known: the outage (or reset gap)
        before it is measured now. Returns ("power" | "reset", seconds) if it was, else
        None."""
        self.intervals.clock_stepped(self._clock.time(), first_set)
        self.clock_carried = None  # the operator's time now, not the reset's
        if not first_set:
            return None  # a step back: the next window saves (its gap to the save is < 0)
        self.boot_s += delta_s
        self._last_save_s += delta_s  # the save interval runs on from the true time
        if self._down is None:
            # the state's last-alive stamp must be the true time too, or the next outage
            # would be measured with this correction in it
            self._try_save(self._clock.time())
            return None
        kind, stopped_s = self._down
        self._down = None
        seconds = max(0, self.boot_s - stopped_s)
        self._measure_down(kind, seconds, self.boot_s)
        self._try_save(self._clock.time())  # the set time and the counters, on flash now
        return kind, seconds

    def _catch_up_with_intervals(self):
        """A cut between a quarter-hour record and the next state save must not let the
        registers fall behind the record already written. Also notes the earliest time a
        first clock setting may give (time_floor_s): not before the last save, nor before
        a quarter-hour already closed."""
        last = self.intervals.last()
        self.time_floor_s = max(self.boot_s, last["end_s"] if last else 0)
        if last is None:
            return
        reg = self.registers
        for t in (1, 2):
            reg.import_wh[t] = max(reg.import_wh[t], last["import_wh"][t - 1])
            reg.export_wh[t] = max(reg.export_wh[t], last["export_wh"][t - 1])
        quadrants = self.intervals.last_quadrants()
        if quadrants is not None:  # the same for the four-quadrant registers
            q = self.quadrants
            for k in range(len(q.values)):
                if quadrants[k] > q.values[k]:
                    q.values[k], q.rest[k] = quadrants[k], 0

    def poll(self):
        """One ADC block; returns the pairs of mains time it covered."""
        pairs = self.sampler.poll()
        if self.pulses is not None:
            self.pulses.tick(pairs)
        return pairs

    def _on_window(self, result):
        self.last = result
        now = self._clock.time()
        self.registers.set_tariff(self.tariffs.tariff_at(now))
        mj = 0
        if result.whole_cycles or self.sampler.windows > 1:
            # elapsed time, gaps included. Not the first window: it runs from wherever
            # sampling began to the first zero crossing, a part cycle whose power is no
            # measurement (at no load it would creep at every boot)
            ms = result.duration_s * 1000.0
            if result.energy_mj is None:
                mj = self.registers.add(result.p_w, ms)
            else:  # the IC's own accumulation; the starting threshold on the window's
                # mean (mJ / ms = W), not the chip's last 0.2 s (a load switched off late
                # in a window would lose the window's energy)
                mj = self.registers.add_mj(result.energy_mj, result.energy_mj / ms)
            self.quadrants.add(result.p_w, result.q_var, result.s_va, ms)
        if self.pulses is not None:
            self.pulses.add(mj, result.n_pairs + result.lost_pairs)
        self._interval_pairs += result.n_pairs + result.lost_pairs
        self._interval_lost += result.lost_pairs
        # counted per whole mains cycle by the kernel (voltage_quality), not from the
        # window's RMS: a 100 ms dip counts, a voltage hovering at the limit counts once
        self.sags += result.sags
        self.swells += result.swells
        if result.phase_sags is not None and len(result.phase_sags) == 3:
            self._count_phase_events(result)
        event = result.voltage_event
        if event is not None:
            self._voltage_event_ended(now, event)
        failing = result.vrms < self.power_fail_v
        if failing and not self._failing:
            # supply collapsing: save while the hold-up capacitor lasts, the registers first
            if self._try_save(now):
                self._flush_companions()
        self._failing = failing or self._silent
        self._silent = False
        if self.intervals.due(now):
            if self._interval_lost > (1 - COVERAGE_MIN) * self._interval_pairs:
                self.intervals.flag(STATUS_ESTIMATED)
            self._interval_pairs = self._interval_lost = 0
            if not self._clock.trusted:
                self.intervals.flag(STATUS_CLOCK_INVALID)
            # registers first: the record may never be ahead of the state. On a full flash
            # the quarter-hour is still taken (it waits in RAM if refused too); a record
            # ahead of the saved state is caught up with at boot, so nothing goes back
            # hourly, the JSON record too (for a revert to older firmware, which then
            # catches its registers up with the quarter-hour log itself)
            self._try_save(now, legacy=now // 900 % 4 == 0)
            self.intervals.close(now, self.registers.values(), self.quadrants.values)
        elif now >= self._retry_save_s and (not 0 <= now - self._last_save_s
                                            < self.save_interval_s
                                            or self.registers.tariff != self._saved_tariff
                                            or self._unsaved_wh_due(now)):
            self._try_save(now)  # a new tariff: the retained record holds one tariff's energy
        if self._retained is not None:
            self._retain(now)

    def power_quality_tick(self, now):
        """Once a second, outside the sampling path: THD of the cycle the sampler copied
        since the last call, and the next cycle asked for every THD_INTERVAL_S (about
        1 ms of plain Python on the host per analysis, 15 orders x 2 channels)."""
        sampler = self.sampler
        taken = sampler.cycle_taken
        if taken is not None:
            sampler.cycle_taken = None
            self.thd_v = self._harmonics.thd(self._cycle, 0, 0, taken[0])
            self.thd_i = self._harmonics.thd(self._cycle, 0, 1, taken[1])
            self.thd_10min.add(now, self.thd_v, self.thd_i)
        if now >= self._thd_due_s:
            self._thd_due_s = now + THD_INTERVAL_S
            sampler.want_cycle(self._cycle)

    def _count_phase_events(self, result):
        """L2's and L3's sags and swells (L1's are sags and swells): DSMR's per-phase
        counters, saved in a record of their own when they change."""
        counts = self.phase_events
        before = list(counts)
        counts[0] += result.phase_sags[1]
        counts[1] += result.phase_sags[2]
        counts[2] += result.phase_swells[1]
        counts[3] += result.phase_swells[2]
        if counts != before:
            try:
                self._phase_slots.save(struct.pack(_PHASE_EVENTS, _PHASE_EVENTS_VERSION, *counts))
            except OSError:  # a full flash: counted on, saved with the next change
                pass

    def _voltage_event_ended(self, now, event):
        kind, duration_ms, extreme_v = event
        entry = [now, kind, duration_ms, round(extreme_v, 1)]
        self.voltage_log = (self.voltage_log + [entry])[-VOLTAGE_LOG_LEN:]
        self.voltage_unlogged += 1  # windows with an event ended: the trigger to log
        if self.voltage_longest is None or duration_ms > self.voltage_longest[2]:
            self.voltage_longest = entry

    def take_voltage_summary(self):
        """(events ended since the last call, the longest of them) or None: the App logs
        it at most once a quarter-hour, so a bad grid cannot flood the audit log."""
        if not self.voltage_unlogged:
            return None
        # counted from the DSMR counters: a window keeps only its longest ended event
        started = self.sags + self.swells
        summary = (started - self._summarised, self.voltage_longest)
        self._summarised = started
        self.voltage_unlogged = 0
        self.voltage_longest = None
        return summary

    def _flush_companions(self):
        try:
            self.intervals.flush(companions=True)
        except OSError:  # a full flash: they wait in RAM, and status says so
            pass

    def _try_save(self, now, legacy=False):
        """save(), but a flash that refuses (full) is counted, not raised: a window must
        never end half-way through a block, and the retained words go on being written
        against the last save that did land. A refused periodic save waits an interval."""
        try:
            self.save(legacy=legacy)
            return True
        except OSError as exc:
            self.saves_refused += 1
            self.save_error = str(exc)
            self._retry_save_s = now + self.save_interval_s
            return False

    def _unsaved_wh_due(self, now):
        """True once save_energy_wh or more is metered since the last save (whole Wh of
        import and export: small ints), and ENERGY_SAVE_MIN_S has passed since it: a
        three-phase board at Imax (27.6 kW) would otherwise save every 13 s."""
        if self.save_energy_wh is None or 0 <= now - self._last_save_s < ENERGY_SAVE_MIN_S:
            return False
        reg = self.registers
        unsaved = (reg.import_wh[1] + reg.import_wh[2] - self._base[0]
                   + reg.export_wh[1] + reg.export_wh[2] - self._base[2])
        return unsaved >= self.save_energy_wh

    def _retain(self, now):
        """The energy since the last save into the board's retained words: what a reset
        would otherwise lose. In joules rounded up, so the registers after a reset are
        never below what P1 showed (a reset may add up to 1 J, 0.3 mWh, never metered).
        Small ints only (32-bit ports)."""
        reg = self.registers
        base = self._base
        import_j = ((reg.import_wh[1] + reg.import_wh[2] - base[0]) * 3600
                    - (base[1] - reg.import_mj) // 1000)
        export_j = ((reg.export_wh[1] + reg.export_wh[2] - base[2]) * 3600
                    - (base[3] - reg.export_mj) // 1000)
        clock = self._clock
        retained_record.encode(self._seq, import_j, export_j, now - self._last_save_s,
                               self._words, clock.trusted and not getattr(clock, "estimated",
                                                                           False))
        self._retained.store(self._words)

    def _on_no_crossing(self):
        """A block without a zero crossing: the supply is gone. Save now, one or two blocks
        after the voltage vanished, while the hold-up capacitor lasts; the window would
        close only at twice its length. The save's time is the outage's start next boot."""
        self._silent = True
        if not self._failing:
            self._failing = True
            if self._try_save(self._clock.time()):
                self._flush_companions()

    def save(self, clean=False, legacy=False):
        """One state record, small enough for littlefs to keep inline in its directory
        (71 bytes with the slot's frame, under MicroPython's 128-byte cache): a save
        appends to a metadata block instead of erasing a block of its own. The
        four-quadrant record (69 bytes, inline too) follows it. legacy (hourly)
        and clean saves also write the JSON record that firmware before
        the binary one reads: a trial that reverts, or a fall back to an older factory
        image, must find a state it can read (at worst an hour old; its registers then
        catch up with the quarter-hour log)."""
        now = self._clock.time()
        seq = self._seq + 1
        self._save_record(seq, now, clean)
        quadrants = self.quadrants
        try:  # after the state: the active energy first, while the hold-up lasts
            self._quadrant_slots.save(struct.pack(_QUADRANTS, _QUADRANTS_VERSION,
                                                  *(quadrants.values + quadrants.rest)))
        except OSError as exc:  # the state landed: a full flash refuses only this one
            self.quadrant_error = "four-quadrant record not saved: %s" % exc
        if legacy or clean:
            self._save_legacy(seq, now, clean)
        if clean:  # the hour's four-quadrant companions, which otherwise wait in RAM
            self._flush_companions()
        if self._log_dirty:
            self._log_slots.save(canonical.dumps(self.power_fail_log).encode())
            self._log_dirty = False

    def _save_record(self, seq, now, clean):
        reg = self.registers
        self._slots.save(struct.pack(
            _STATE, _STATE_VERSION, seq, reg.import_wh[1], reg.import_wh[2], reg.export_wh[1],
            reg.export_wh[2], reg.import_mj, reg.export_mj, reg.tariff, self.sags, self.swells,
            self.power_failures, self.long_power_failures, now, 1 if clean else 0))
        self._seq = seq
        self.saves += 1
        self._landed(now)
        if self._retained is not None:
            self._retain(now)  # nothing unsaved now; an older record must not be added

    def _landed(self, saved_s):
        """The registers as they are now are what the flash holds (a save landed, or the
        state was just read): the retained words count from here."""
        reg = self.registers
        self._base = (reg.import_wh[1] + reg.import_wh[2], reg.import_mj,
                      reg.export_wh[1] + reg.export_wh[2], reg.export_mj)
        self._saved_tariff = reg.tariff
        self._last_save_s = saved_s

    def _save_legacy(self, seq, now, clean):
        state = {"seq": seq, "registers": json.loads(self.registers.encode()),
                 "quality": [self.sags, self.swells],
                 "power_failures": [self.power_failures, self.long_power_failures],
                 "power_fail_log": self.power_fail_log, "last_alive_s": now, "clean": clean}
        self._legacy_slots.save(canonical.dumps(state).encode())

    def set_calibration(self, cal):
        self.sampler.set_calibration(cal)

    def snapshot(self):
        r = self.last
        reg = self.registers
        snap = {
            "import_wh": [reg.import_wh[1], reg.import_wh[2]],
            "export_wh": [reg.export_wh[1], reg.export_wh[2]],
            "tariff": reg.tariff,
            "reactive_varh": self.quadrants.reactive_varh(),
            "apparent_vah": self.quadrants.apparent_vah(),
            "sags": self.sags,
            "swells": self.swells,
            "power_failures": self.power_failures,
            "long_power_failures": self.long_power_failures,
            "power_fail_log": [list(e) for e in self.power_fail_log],
            "voltage_events": [list(e) for e in self.voltage_log],
            "thd_v_pct": None if self.thd_v is None else round(100 * self.thd_v, 2),
            "thd_i_pct": None if self.thd_i is None else round(100 * self.thd_i, 2),
            "thd_10min": _thd_block(self.thd_10min.last),
            "coverage": self.sampler.coverage(),
            "lost_pairs_total": self.sampler.lost_pairs(),
            "windows": self.sampler.windows,
            "kernel": self.sampler.kernel_name,
        }
        if self.pulses is not None:
            snap["test_led"] = self.pulses.status()
        health = getattr(self.sampler, "health", None)
        if health is not None:  # a metering IC: how its wire and its chip are doing
            snap["front_end"] = health()
        if self.quadrant_error is not None:
            snap["quadrant_error"] = self.quadrant_error
        if r is not None:
            snap.update(r.to_dict())
            if r.phases is not None and len(r.phases) == 3:
                snap["phases"] = [{"vrms": v, "irms": i, "p_w": p, "q_var": q,
                                   "pf": p / (v * i) if v * i > 0 else 1.0}
                                  for v, i, p, q in r.phases]
                e = self.phase_events
                snap["phase_sags"] = [self.sags, e[0], e[1]]
                snap["phase_swells"] = [self.swells, e[2], e[3]]
        return snap


def _thd_block(block):
    """A 10-minute THD block for status: end, voltage and current THD in percent."""
    if block is None:
        return None
    end_s, v, i = block
    return {"end_s": end_s, "v_pct": round(100 * v, 2),
            "i_pct": None if i is None else round(100 * i, 2)}
