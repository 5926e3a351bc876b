"""The energy metered since the last save survives a reset in the board's retained words
(metering.retained): the registers never go back across a crash, a watchdog reset or
machine.reset(), the gap is measured from the last window, and a reset is no power
failure. After a power cut the words are gone and the loss is bounded by the save."""
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from metering import retained
from host_tests.firmware.meter_kit import run_windows


class Words:
    """A board's retained words: survive a reset (the same object), not a power cut."""

    def __init__(self):
        self.words = [0, 0, 0, 0]
        self.stores = 0

    def load(self):
        return list(self.words)

    def store(self, words):
        self.words[:] = words
        self.stores += 1

    def power_cut(self):
        self.words[:] = [0, 0, 0, 0]




def _retained_meter(flash, clock, words, seed=1, speedup=None, save_energy_wh=None):
    from boards import common, sim
    from fakes.clock import ClockedADC
    from metering.calibration import Calibration
    from metering.meter import Meter
    from host_tests.firmware.meter_kit import SPEEDUP

    fe = sim.SimFrontEnd(load_a=40.0, phase_deg=10.0, seed=seed)
    adc = ClockedADC(sim.SimADC(fe), clock, speedup or SPEEDUP)
    cal = Calibration(**common.shared_calibration())
    # saves only where a test asks for one: what the words carry is what is tested
    return Meter(adc, cal, clock, flash, starting_power_w=2.3, sag_v=207.0, swell_v=253.0,
                 save_interval_s=10 ** 6, retained=words, save_energy_wh=save_energy_wh)


def test_the_record_round_trips_and_refuses_zeros_noise_and_another_save():
    out = [0] * retained.WORDS
    retained.encode(7, 123456, 0, 42, out)
    assert retained.decode(out, 7) == (123456, 0, 42, False)
    on_set_clock = [0] * retained.WORDS
    retained.encode(7, 123456, 0, 42, on_set_clock, clock_set=True)
    assert retained.decode(on_set_clock, 7) == (123456, 0, 42, True)
    assert on_set_clock[1:] == out[1:] and on_set_clock[0] != out[0]  # only the check
    assert retained.decode(out, 8) is None  # a later save: already in the flash state
    assert retained.decode([0, 0, 0, 0], 0) is None  # power-on zeros
    for k in range(4):
        for bit in (0, 5, 13, 29):
            bad = list(out)
            bad[k] ^= 1 << bit
            assert retained.decode(bad, 7) is None, (k, bit)
    assert retained.decode([0xFFFFFFFF] * 4, 7) is None  # noise beyond 30 bits
    assert retained.decode(None, 7) is None and retained.decode([1, 2], 7) is None
    retained.encode(2 ** 14 + 3, 2 ** 40, 5, -9, out)  # clamped, sequence modulo 2**14
    assert retained.decode(out, 3) == (2 ** 30 - 1, 5, 0, False)


def test_a_reset_keeps_every_joule_and_is_not_a_power_failure():
    flash, clock, words = FakeFlash(), FakeClock(), Words()
    meter = _retained_meter(flash, clock, words)
    run_windows(meter, 6)  # no save after boot: all of it lives only in RAM and words
    reg = meter.registers
    live = reg.values()
    live_mj = (reg.import_wh[reg.tariff]) * 3600000 + reg.import_mj
    assert sum(live) > 0 and words.stores >= 6
    clock.advance_s(3)  # the reset and the boot take three seconds
    again = _retained_meter(flash, clock, words, seed=2)
    kept = again.registers
    assert kept.tariff == reg.tariff
    kept_mj = kept.import_wh[kept.tariff] * 3600000 + kept.import_mj
    assert 0 <= kept_mj - live_mj < 1000, (kept_mj, live_mj)  # rounded up to a joule
    assert all(a >= b for a, b in zip(kept.values(), live))  # P1 never steps back
    assert again.power_failures == 0 and again.outage_s is None
    assert 3 <= again.restart_gap_s <= 4  # from the last window, not the last save


def test_after_a_power_cut_the_words_are_refused_and_the_last_save_counts():
    flash, clock, words = FakeFlash(), FakeClock(), Words()
    meter = _retained_meter(flash, clock, words)
    saved, saves = meter.registers.values(), meter.saves
    for _ in range(6):  # the clock runs fast: quarter-hours close and save
        run_windows(meter, 1)
        if meter.saves != saves:
            saved, saves = meter.registers.values(), meter.saves
    meter.registers.add(9000.0, 1000)  # and then energy that no save holds
    assert sum(meter.registers.values()) > sum(saved)
    words.power_cut()
    flash.reboot()
    clock.advance_s(60)
    again = _retained_meter(flash, clock, words, seed=2)
    assert again.registers.values() == saved
    assert again.power_failures == 1 and again.restart_gap_s is None


def test_words_from_before_a_save_are_not_added_twice():
    flash, clock, words = FakeFlash(), FakeClock(), Words()
    meter = _retained_meter(flash, clock, words)
    run_windows(meter, 4)
    stale = words.load()
    meter.save()  # the energy is in the flash state now; the words restart from zero
    live = meter.registers.values()
    words.store(stale)  # as if the reset came between the save and the words' update
    again = _retained_meter(flash, clock, words, seed=2)
    assert again.registers.values() == live


def test_a_tariff_change_saves_so_the_words_hold_one_tariffs_energy():
    flash, clock, words = FakeFlash(), FakeClock(), Words()
    meter = _retained_meter(flash, clock, words)
    run_windows(meter, 2)
    saves = meter.saves
    tariff = meter.registers.tariff
    meter.tariffs.tariff_at = lambda now: 3 - tariff  # the schedule switches now
    run_windows(meter, 1)
    assert meter.saves == saves + 1 and meter.registers.tariff == 3 - tariff


def test_a_full_flash_never_ends_a_window_half_way_and_the_words_go_on():
    from host_tests.firmware.meter_kit import FillingFlash

    flash, clock, words = FillingFlash(), FakeClock(), Words()
    meter = _retained_meter(flash, clock, words)
    run_windows(meter, 2)
    flash.full = True
    stores = words.stores
    run_windows(meter, 8)  # quarter-hours pass: every save is refused, nothing raises
    assert meter.saves_refused >= 2 and "28" in meter.save_error
    assert words.stores >= stores + 8  # the retained words still follow every window
    live = meter.registers.values()
    again = _retained_meter(flash, clock, words, seed=2)  # a reset on the full flash
    assert all(k >= v for k, v in zip(again.registers.values(), live))


def test_a_revert_to_older_firmware_finds_a_json_state_it_can_read():
    import json

    from storage.slots import SlotStore

    flash, clock, words = FakeFlash(), FakeClock(), Words()
    meter = _retained_meter(flash, clock, words)
    run_windows(meter, 16)  # the sped-up clock passes a whole hour
    legacy = SlotStore(flash, "meter").load()  # where and how older firmware reads it
    state = json.loads(legacy)
    for key in ("registers", "quality", "power_failures", "power_fail_log", "last_alive_s",
                "clean"):
        assert key in state
    old = state["registers"]["import_wh"]
    assert 0 < sum(old) <= sum(meter.registers.values()[:2])


def test_after_a_downgrade_the_older_firmwares_json_state_is_taken_and_its_log_kept():
    import json

    from storage.slots import SlotStore

    flash, clock, words = FakeFlash(), FakeClock(), Words()
    meter = _retained_meter(flash, clock, words)
    run_windows(meter, 2)
    meter.save(clean=True)  # binary record (and the JSON one, on a clean stop)
    # an older firmware ran after the revert: it wrote only the JSON record, later
    older = {"registers": {"import_wh": [7000, 9000], "export_wh": [0, 0], "import_mj": 0,
                           "export_mj": 0, "tariff": 1},
             "quality": [1, 2], "power_failures": [3, 1], "power_fail_log": [[100, 400]],
             "last_alive_s": clock.time() + 60, "clean": True}
    SlotStore(flash, "meter").save(json.dumps(older).encode())
    clock.advance_s(120)
    again = _retained_meter(flash, clock, Words(), seed=2)
    assert again.registers.values()[:2] == (7000, 9000) and again.power_fail_log == [[100, 400]]
    again.save(clean=True)  # binary again, newest now; the log moved to its own record
    third = _retained_meter(flash, clock, Words(), seed=3)
    assert third.registers.values()[:2] == (7000, 9000) and third.power_fail_log == [[100, 400]]


def test_a_power_cut_whose_save_does_not_land_loses_at_most_the_energy_bound():
    """The supply-collapse save may not land (the hold-up ran out): then the last save
    counts. Saves come every save_energy_wh (100 Wh on a board; 10 here, so that a few
    one-second windows at Imax reach it) as well as every save interval."""
    from metering import meter as meter_module
    import struct

    flash, clock, words = FakeFlash(), FakeClock(), Words()
    meter = _retained_meter(flash, clock, words, speedup=10, save_energy_wh=10)
    window_wh = 40 * 230 / 3600  # one window at Imax: a second of 9.2 kW
    saves = meter.saves
    worst = 0.0
    for _ in range(14):
        run_windows(meter, 1)
        saved = struct.unpack(meter_module._STATE, meter._slots.load())[2:4]  # import T1, T2
        live = meter.registers.values()
        worst = max(worst, sum(live[:2]) - sum(saved))
    assert meter.saves >= saves + 2  # by energy: the save interval is 10**6 s here
    assert 10 - window_wh - 1 <= worst < 10, worst  # saved the window it reaches 10 Wh
    words.power_cut()  # and the supply-collapse save did not land
    flash.reboot()
    again = _retained_meter(flash, clock, words, seed=2)
    lost = sum(live[:2]) - sum(again.registers.values()[:2])
    assert 0 <= lost <= 10 + window_wh, lost


def test_a_clock_set_back_does_not_stall_the_saves():
    """The operator's time may move a set clock back (up to an hour): the gap to the last
    save is then negative, which must count as due, not as "not yet"."""
    flash, clock, words = FakeFlash(), FakeClock(), Words()
    meter = _retained_meter(flash, clock, words, speedup=10, save_energy_wh=10)
    run_windows(meter, 2)
    clock.adjust(-1200)
    meter.clock_stepped(-1200, False)
    saves = meter.saves
    run_windows(meter, 1)
    assert meter.saves == saves + 1  # at once: the state's stamp in the corrected time
    run_windows(meter, 12)  # and the energy bound holds on
    assert meter.saves >= saves + 3
