"""Four-quadrant energy: reactive energy per quadrant and apparent energy, from the
window's P, Q and S into integer registers, through the quarter-hour record and the
uplink payload, power-cut safe, and never below a quarter-hour already taken."""
import struct

from boards import common, sim
from comms import payload
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from metering.quadrants import APPARENT, QuadrantRegisters
from metering.registers import MJ_PER_WH, RegisterError
from metering.sampling import Sampler
from mptest import raises
from host_tests.firmware import accuracy
from host_tests.firmware.meter_kit import run_windows, sim_meter

STARTING = 0.5 * common.SHARED.starting_current_a * common.SHARED.mains_v_nominal
HOUR_MS = 3600000.0


def test_each_sign_of_p_and_q_goes_to_its_quadrant_and_apparent_to_its_direction():
    cases = (  # p, q -> quadrant index (Q1..Q4 = 0..3), apparent import (4) or export (5)
        (100.0, 50.0, 0, APPARENT),
        (-100.0, 50.0, 1, APPARENT + 1),
        (-100.0, -50.0, 2, APPARENT + 1),
        (100.0, -50.0, 3, APPARENT))
    for p, q, quadrant, apparent in cases:
        reg = QuadrantRegisters(starting_power_w=2.0)
        reg.add(p, q, 120.0, HOUR_MS)  # held for an hour: whole units
        expected = [0] * 6
        expected[quadrant] = 50
        expected[apparent] = 120
        assert reg.values == expected, (p, q, reg.values)
        assert reg.rest == [0] * 6


def test_nothing_registers_below_the_starting_threshold():
    reg = QuadrantRegisters(starting_power_w=2.0)
    for _ in range(10000):
        reg.add(1.9, 1.9, 1.9, 1000.0)
        reg.add(-1.9, -1.9, 1.9, 1000.0)
    assert reg.values == [0] * 6 and reg.rest == [0] * 6


def test_a_purely_reactive_load_stays_on_the_import_side():
    # P within the starting power either way: no flip between Q1 and Q2 on noise
    reg = QuadrantRegisters(starting_power_w=2.0)
    for p in (1.5, -1.5, 0.0, -1.9):
        reg.add(p, 400.0, 400.0, HOUR_MS)
    assert reg.values == [1600, 0, 0, 0, 1600, 0]


def test_small_steps_are_carried_in_integers_without_loss():
    reg = QuadrantRegisters(starting_power_w=1.0)
    reg.values[0] = 10000000  # a large register still takes 0.3 varh steps
    for _ in range(12):
        reg.add(5.0, 1080.0, 1080.0, 1000.0)  # 0.3 varh and 0.3 VAh each
    assert reg.values[0] == 10000003 and reg.values[APPARENT] == 3
    assert reg.rest[0] == reg.rest[APPARENT] == 12 * 1080000 - 3 * MJ_PER_WH


def test_load_refuses_a_rewind_and_anything_out_of_range():
    reg = QuadrantRegisters(starting_power_w=1.0)
    reg.load([5, 0, 0, 0, 7, 0], [0] * 6)
    assert raises(RegisterError, reg.load, [4, 0, 0, 0, 7, 0], [0] * 6).reason == "rewind"
    for values, rest in (([5, 0, 0, 0, 7], [0] * 6), ([5, 0, 0, -1, 7, 0], [0] * 6),
                         ([5, 0, 0, 0, 7, 0], [MJ_PER_WH, 0, 0, 0, 0, 0])):
        assert raises(RegisterError, reg.load, values, rest).reason == "malformed"
    assert reg.values == [5, 0, 0, 0, 7, 0]


def _four_quadrant(cal, seconds, **scenario):
    fe = sim.SimFrontEnd(**scenario)
    reg = QuadrantRegisters(STARTING)

    def on_window(w):
        reg.add(w.p_w, w.q_var, w.s_va, w.duration_s * 1000.0)

    sampler = Sampler(sim.SimADC(fe), cal, on_window)
    while sampler.pairs_processed < seconds * fe.rate_hz:
        sampler.poll()
    exact = [v + r / MJ_PER_WH for v, r in zip(reg.values, reg.rest)]
    return exact, fe.truth(), sampler.pairs_processed / fe.rate_hz


def test_the_sim_load_in_each_quadrant_registers_within_class_limits():
    # IEC 62053-23 class 2 for reactive energy (2 %), class 1 apparent (1 %), at 10 A
    cal = accuracy.calibrated()
    for phase_deg, quadrant, apparent in ((30.0, 0, APPARENT), (150.0, 1, APPARENT + 1),
                                          (-150.0, 2, APPARENT + 1), (-30.0, 3, APPARENT)):
        exact, truth, seconds = _four_quadrant(cal, 20, load_a=10.0, phase_deg=phase_deg,
                                               seed=3)
        hours = seconds / 3600
        varh = abs(truth["q_var"]) * hours
        vah = truth["vrms"] * truth["irms"] * hours
        assert abs(exact[quadrant] / varh - 1) < 0.02, (phase_deg, exact, varh)
        assert abs(exact[apparent] / vah - 1) < 0.01, (phase_deg, exact, vah)
        others = [exact[k] for k in range(6) if k not in (quadrant, apparent)]
        assert others == [0] * 4, (phase_deg, exact)


def test_a_resistive_load_registers_apparent_energy_and_almost_no_reactive():
    cal = accuracy.calibrated()
    exact, truth, seconds = _four_quadrant(cal, 20, load_a=10.0, phase_deg=0.0, seed=4)
    vah = truth["vrms"] * truth["irms"] * seconds / 3600
    assert abs(exact[APPARENT] / vah - 1) < 0.01
    assert sum(exact[:APPARENT]) < 0.005 * vah, exact  # sin(0.3 deg) of the apparent


def _meter(flash, clock, **scenario):
    return sim_meter(flash, clock, **scenario)


def test_the_quarter_hour_log_keeps_the_format_older_firmware_reads():
    # a revert (a trial that fails, the factory image) runs firmware that unpacks every
    # record of the log as ">IIIIIB": a record of any other size would stop its meter
    flash = FakeFlash()
    clock = FakeClock()
    meter = _meter(flash, clock)
    run_windows(meter, 20)  # 20 windows, 100 minutes on the sped-up clock
    raw = [bytes(r) for _s, r in meter.intervals.log.records()]
    assert len(raw) >= 5
    assert all(len(r) == 21 for r in raw)
    assert sum(struct.unpack(">IIIIIB", raw[-1])[1:5]) > 0
    snap = meter.snapshot()
    assert snap["reactive_varh"] == meter.quadrants.values[:4]
    assert snap["apparent_vah"] == meter.quadrants.values[4:]
    assert snap["reactive_varh"][0] > 0 and snap["apparent_vah"][0] > 0  # 20 A, 10 deg: Q1
    assert snap["reactive_varh"][1:] == [0, 0, 0] and snap["apparent_vah"][1] == 0


def test_the_registers_come_back_after_a_restart_and_a_cut_loses_no_saved_energy():
    flash = FakeFlash()
    clock = FakeClock()
    meter = _meter(flash, clock)
    run_windows(meter, 6)
    meter.save()
    saved = list(meter.quadrants.values), list(meter.quadrants.rest)
    flash.reboot()  # power gone after the save: what it wrote is what comes back
    clock.advance_s(60)
    again = _meter(flash, clock)
    assert (again.quadrants.values, again.quadrants.rest) == saved
    assert "quadrant_error" not in again.snapshot()


def test_an_unreadable_record_keeps_metering_and_says_why():
    flash = FakeFlash()
    clock = FakeClock()
    meter = _meter(flash, clock)
    run_windows(meter, 8)
    from storage.slots import SlotStore

    SlotStore(flash, "quad").save(struct.pack("<B12I", 9, *([1] * 12)))  # a later format
    clock.advance_s(60)
    again = _meter(flash, clock)
    assert "version 9" in again.snapshot()["quadrant_error"]
    before = again.quadrants.values[0] * MJ_PER_WH + again.quadrants.rest[0]
    run_windows(again, 2)
    assert again.quadrants.values[0] * MJ_PER_WH + again.quadrants.rest[0] > before
    assert sum(again.registers.values()) > 0  # the active registers are not touched


def test_a_reading_goes_as_type_1_without_quadrants_and_type_5_with_them():
    plain = {"end_s": 1795450500, "import_wh": [10, 0], "export_wh": [2, 0], "status": 8}
    four = dict(plain, end_s=1795451400, quadrants=[4, 0, 0, 1, 25, 0])
    message = payload.message([payload.reading(1, plain), payload.reading(2, four)])
    items = payload.decode(message)
    assert "reactive_varh" not in items[0] and items[0]["import_wh"] == [10, 0]
    assert items[1]["reactive_varh"] == [4, 0, 0, 1] and items[1]["apparent_vah"] == [25, 0]
    assert items[1]["import_wh"] == [10, 0] and items[1]["status"] == 8


def test_the_payload_is_versioned_and_the_ack_is_not():
    rec = {"end_s": 1795450500, "import_wh": [1, 2], "export_wh": [3, 4],
           "quadrants": [5, 6, 7, 8, 9, 10], "status": 0}
    message = payload.message([payload.reading(7, rec)])
    assert message[0] == 2 and message[1] == payload.ITEM_READING_4Q
    # a version 1 message (older firmware) is still read; type 5 inside one is refused
    old = bytes((1,)) + payload.reading(7, {"end_s": 1, "import_wh": [1, 2],
                                            "export_wh": [3, 4], "status": 0})
    assert payload.decode(old)[0]["import_wh"] == [1, 2]
    assert raises(payload.PayloadError, payload.decode, bytes((1,)) + message[1:]).reason \
        == "bad-item"
    assert raises(payload.PayloadError, payload.decode, bytes((3,)) + message[1:]).reason \
        == "bad-version"
    assert raises(payload.PayloadError, payload.decode, message[:-1]).reason == "truncated"
    # meters of every firmware read the acknowledgement: its version stays 1
    assert payload.ack(5, 1795450500)[0] == 1
    assert payload.decode_ack(payload.ack(5, 1795450500)) == (5, 1795450500)


def test_each_quarter_hour_carries_its_four_quadrant_registers_from_a_log_of_their_own():
    flash = FakeFlash()
    clock = FakeClock()
    meter = _meter(flash, clock)
    run_windows(meter, 20)
    records = [r for _s, r in meter.intervals.records()]
    assert len(records) >= 5 and all("quadrants" in r for r in records)
    from metering.intervals import QUADRANT_BATCH

    # written an hour at a time: the rest of the hour waits in RAM, where the uplink reads it
    on_flash = [bytes(r) for _s, r in meter.intervals.quadrant_log.records()]
    waiting = [bytes(r) for r in meter.intervals._quadrant_spool.waiting]
    assert len(on_flash) >= 4 and len(on_flash) % QUADRANT_BATCH == 0
    assert len(waiting) < QUADRANT_BATCH
    companions = on_flash + waiting
    assert [struct.unpack(">7I", c)[0] for c in companions] == [r["end_s"] for r in records]
    q1 = [r["quadrants"][0] for r in records]
    assert q1 == sorted(q1) and q1[-1] > q1[0]  # cumulative, like the active registers
    last_on_flash = list(struct.unpack(">7I", on_flash[-1])[1:])
    assert last_on_flash == meter.intervals.last_quadrants()
    meter.save(clean=True)  # a clean stop writes the hour's rest
    assert meter.intervals._quadrant_spool.waiting == []
    assert records[-1]["quadrants"] == meter.intervals.last_quadrants()
    assert all(q <= now for q, now in zip(records[-1]["quadrants"], meter.quadrants.values))


def test_readings_without_a_companion_stay_plain_and_the_rest_are_matched_by_their_end():
    """Quarter-hours written while older firmware ran (a revert) have no four-quadrant
    record: they go as type 1, those before and after them as type 5."""
    from metering.intervals import IntervalRegister

    flash = FakeFlash()
    start = 1795450500
    reg = IntervalRegister(flash, start)
    values = [0, 0, 0, 0]
    for k in range(12):
        now = start + 900 * (k + 1)
        values = [values[0] + 10, 0, values[2] + 1, 0]
        older_firmware = 4 <= k < 8
        reg.close(now, values, None if older_firmware else [k, 0, 0, 0, 2 * k, 0])
    again = IntervalRegister(flash, start + 900 * 13)
    got = [(seq, r.get("quadrants")) for seq, r in again.records()]
    assert [q is None for _s, q in got] == [False] * 4 + [True] * 4 + [False] * 4
    assert [q[0] for _s, q in got if q] == [0, 1, 2, 3, 8, 9, 10, 11]
    for after in range(12):  # from wherever the uplink's acknowledgement stands
        tail = [(seq, r.get("quadrants")) for seq, r in again.records(got[after][0])]
        assert tail == got[after + 1:]
    items = payload.decode(payload.message([payload.reading(s, r) for s, r in again.records()]))
    assert ["reactive_varh" in item for item in items] == [True] * 4 + [False] * 4 + [True] * 4


def test_the_registers_never_fall_behind_the_last_quarter_hour_written():
    """A four-quadrant record that could not be saved (or a cut before the next save):
    at boot the registers take the last quarter-hour's values, never less."""
    flash = FakeFlash()
    clock = FakeClock()
    meter = _meter(flash, clock)
    run_windows(meter, 20)
    written = meter.intervals.last_quadrants()
    assert written[0] > 0
    assert "quad.a" in flash.names() or "quad.b" in flash.names()
    flash.remove("quad.a")
    flash.remove("quad.b")
    clock.advance_s(60)
    again = _meter(flash, clock)
    assert all(a >= w for a, w in zip(again.quadrants.values, written))
    assert again.quadrants.values[0] == written[0]


class _LandsThenFails(FakeFlash):
    """A write that lands whole but reports an error (the flush after it failed)."""

    fail_next_append = False

    def append(self, name, data):
        FakeFlash.append(self, name, data)
        if self.fail_next_append and name.startswith("qhq."):
            self.fail_next_append = False
            raise OSError(5, "EIO")


def _companion_ends(reg):
    return [struct.unpack(">7I", bytes(r))[0] for _s, r in reg.quadrant_log.records()]


def test_an_hours_companions_that_landed_despite_an_error_are_not_stored_twice():
    from metering.intervals import IntervalRegister

    flash = _LandsThenFails()
    start = 1795450500
    reg = IntervalRegister(flash, start)
    for k in range(3):
        reg.close(start + 900 * (k + 1), [k, 0, 0, 0], [k, 0, 0, 0, k, 0])
    flash.fail_next_append = True
    reg.close(start + 3600, [3, 0, 0, 0], [3, 0, 0, 0, 3, 0])  # the hour's one write
    assert len(reg._quadrant_spool.waiting) == 4  # not sure they landed: kept
    reg.close(start + 4500, [4, 0, 0, 0], [4, 0, 0, 0, 4, 0])
    reg.flush(companions=True)
    assert _companion_ends(reg) == [start + 900 * (k + 1) for k in range(5)]


def test_a_power_cut_during_the_hours_write_keeps_whole_companions_once_each():
    from fakes.flash import PowerLoss
    from metering.intervals import IntervalRegister

    start = 1795450500
    for tear in (0, 0.5, 1):
        flash = FakeFlash()
        reg = IntervalRegister(flash, start)
        for k in range(3):
            reg.close(start + 900 * (k + 1), [k, 0, 0, 0], [k, 0, 0, 0, k, 0])
        flash.arm(2, tear=tear)  # the reading's append, then the companions' one write
        raises(PowerLoss, reg.close, start + 3600, [3, 0, 0, 0], [3, 0, 0, 0, 3, 0])
        flash.reboot()
        reg = IntervalRegister(flash, start + 3700)  # the meter boots again
        kept = _companion_ends(reg)
        assert kept == [start + 900 * (k + 1) for k in range(len(kept))], (tear, kept)
        for k in range(4, 9):
            reg.close(start + 900 * (k + 1), [k, 0, 0, 0], [k, 0, 0, 0, k, 0])
        ends = _companion_ends(reg)
        # the hour after the reboot in one write; the ninth waits in RAM for its hour
        assert ends == sorted(set(ends)) and ends[-4:] == [start + 900 * (k + 1)
                                                          for k in range(4, 8)], (tear, ends)
        matched = [r["end_s"] for _s, r in reg.records() if "quadrants" in r]
        assert matched == kept + [start + 900 * (k + 1) for k in range(4, 9)]  # RAM's too
