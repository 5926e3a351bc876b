"""Composition root: picks the board, builds its hardware and hands it to the logic.

The only firmware module that knows which board it runs on. Run as a script on the unix
port it meters until interrupted (or for `seconds`), printing live readings once a
second; on a board it meters in the background and leaves the REPL to mpremote.
"""
import gc
import sys

if "lib" not in sys.path and "/lib" not in sys.path:  # the unix port lacks it; boards have /lib
    sys.path.append("lib")



def board_module(name=None):
    """The board module for this port, or the one named in /board.txt, or `name`."""
    import boards

    return boards.module(name)


app = None


def build(board_name=None, **hardware_options):
    return build_app(board_name, None, **hardware_options)


def build_app(board_name=None, post_result=None, install_at_boot=None, **hardware_options):
    """The App on this board's hardware; post_result replaces the power-on self-test
    (tests inject a failed one); install_at_boot overrides the board's INSTALL_AT_BOOT."""
    board = board_module(board_name)
    return wire(board, board.hardware(**hardware_options), post_result, install_at_boot)


def wire(board, hw, post_result=None, install_at_boot=None):
    """The meter's parts, each built once here and handed only what it uses. The only
    place that knows how the parts connect (docs/ARCHITECTURE.md draws it).
    install_at_boot: packages are verified and installed by the boot stage
    (boot_install) rather than in the running meter; default: the board's
    INSTALL_AT_BOOT."""
    # imported here, not at the top: run as a script, this file is read before boot.py
    # has put the active slot on sys.path
    import post

    # Known answers first, before the rest of the meter is imported: a broken viper kernel
    # must not meter, broken crypto must not verify (post.py). Run now, the self-test's
    # working heap (an Ed25519 verify, GCM tables) is free again before the meter's code
    # loads, instead of stacking on top of it.
    checked = post_result if post_result is not None else post.run()
    gc.collect()
    import settings
    from app import App
    from boards.common import calibration_for
    from comms.bounded_socket import bounded
    from comms.fwlink import FirmwareDownload
    from comms.invocation import InvocationCounter
    from comms.keys import OperatorKeys
    from comms.operator_link import OperatorLink
    from comms.p1 import P1Port
    from comms.switch import OperatorLinkSwitch
    from comms.uplink import Uplink, system_title
    from control import handlers
    from control.audit import AuditLog
    from control.plane import ControlPlane
    from metering import identity
    from metering.calibration_store import CalibrationStore
    from metering.meter import Meter
    from metering.pulses import PulseOutput
    from metering.tariff import TariffSchedule
    from storage.flash import FileStore, new_lock
    from update import apply, install_request
    from update.layout import FW_DIR
    from update.policy import PolicyStore
    from update.receiver import Receiver
    from update.tree import FileTree

    clock = hw.clock
    store = FileStore(hw.storage_root)
    lock = new_lock()  # flash structures shared by the metering and uplink threads
    calibration = CalibrationStore(store, calibration_for(board))
    front_end = board.FRONT_END
    v_nominal = front_end.mains_v_nominal
    pulses = None
    if hw.led is not None:
        pulses = PulseOutput(hw.led, board.TEST_LED_IMP_PER_KWH)
    meter = Meter(
        hw.adc, calibration.cal, clock, store,
        starting_power_w=front_end.starting_power_w,
        sag_v=front_end.sag_v, swell_v=front_end.swell_v, v_nominal=v_nominal,
        use_viper=checked.kernel_ok, retained=hw.retained, pulses=pulses,
    )
    calibration.applies_to(meter)
    meter_id = getattr(hw, "meter_id", board.NAME)
    p1 = P1Port(hw.p1, meter_id)
    audit = AuditLog(store)
    keys = OperatorKeys(store)
    keys.cipher()  # the uplink's AES-GCM tables (5 KB) now, not late in life
    switch = OperatorLinkSwitch(store)
    uplink = Uplink(store, keys, InvocationCounter(store), system_title(meter_id), meter.intervals,
                    audit, switch, clock, None, lock=lock)
    # umqtt reads a message at the size the broker announces: bounded, or a huge one would
    # end the uplink thread in MemoryError
    link = OperatorLink(store, uplink, bounded(board.mqtt_connector), hw.network, clock, lock)
    tariffs = settings.load(store, handlers.TARIFFS)
    if tariffs:
        meter.tariffs = TariffSchedule(tariffs)
    # The trust policy, control plane and update gate load now, not on first use. The
    # heap's peak then comes at boot, where a board too small fails at once rather than
    # late in an update; and no table of names has to grow later (loaded late, the gate's
    # code needed a 14 KB qstr pool in a fragmented heap). After boot nothing allocates
    # more than 2 KB at once: BENCHMARKS.md, hole probe.
    if install_at_boot is None:
        install_at_boot = getattr(board, "INSTALL_AT_BOOT", False)
    if not install_at_boot:
        from update import verify  # noqa: F401 - the gate's verifier, loaded with the rest
    policies = PolicyStore(store)
    control = ControlPlane(store, policies, audit, clock, meter_id,
                           handlers.build(calibration, keys, link, meter, store, audit, clock),
                           crypto_ok=checked.crypto_ok)

    def gate():
        return apply.Updater(FileStore(FW_DIR), FileTree(""), board.NAME, board.HARDWARE_ID,
                             clock, audit, lock, lambda: control.break_glass,
                             policies=policies, crypto_ok=checked.crypto_ok)

    app = App(board, hw, checked, store, lock, calibration, meter, meter_id, p1, audit, keys,
              switch, uplink, link, policies, control, gate,
              identity.check(identity.folder()), install_at_boot,
              identity.check_board(identity.folder(getattr(board, "__file__", "")), board.NAME))
    uplink.on_command = app.command_from_link
    uplink.on_clock_step = app.clock_stepped
    uplink.time_floor_s = meter.time_floor_s
    uplink.firmware = FirmwareDownload(
        lambda: Receiver(FileTree("")),
        lambda path: apply.install_from_link(app.update_gate, path, install_at_boot),
        ready=lambda: not app.trial.on, after_accept=app.restart_soon)
    fw_store = FileStore(FW_DIR)
    boot_verdict = install_request.read_result(fw_store)  # the boot stage's, if any
    if boot_verdict is not None:
        channel, app.boot_install_verdict = boot_verdict
        if channel == "link":  # the head-end hears it sealed, then the record goes
            uplink.firmware.pending_verdict(app.boot_install_verdict,
                                            lambda: install_request.clear_result(fw_store))
        else:  # the technician reads it in `firmware()` and the audit log
            install_request.clear_result(fw_store)
    return app


def start(board_name=None, **hardware_options):
    """Meter in a background thread; the REPL stays free for mpremote.

    Metering takes the first extra thread: the rp2 port has exactly one (core1; a second
    start_new_thread raises OSError, ports/rp2/mpthreadport.c). The uplink gets a thread
    of its own where the port has one; otherwise the metering loop opens the uplink
    sessions itself, losing the samples of those seconds (coverage shows them)."""
    global app
    import _thread

    app = build(board_name, **hardware_options)
    app.running = True
    _thread.start_new_thread(app.run, (0, False))
    try:
        app.start_uplink_thread(lambda loop: _thread.start_new_thread(loop, ()))
    except OSError:
        app.uplink_in_metering_loop = True
    return app


def main(argv):
    global app
    seconds = int(argv[1]) if len(argv) > 1 else 0
    app = build()
    print("meter on board %s, calibration %s, kernel %s; Ctrl-C stops" % (
        app.board.NAME, app.calibration.source, app.meter.sampler.kernel_name))
    try:
        import _thread

        app.running = True
        app.start_uplink_thread(lambda loop: _thread.start_new_thread(loop, ()))
    except ImportError:
        pass
    try:
        app.run(seconds)
    except KeyboardInterrupt:
        pass
    snap = app.meter.snapshot()
    print("stopped after %d windows, coverage %.2f %%" % (snap["windows"], 100 * snap["coverage"]))


def entry(argv):
    if sys.platform == "linux":
        main(argv)  # the unix port: `make sim` meters in the foreground
    else:
        start()  # a board: meter in the background, the REPL stays free for mpremote


def restart():
    """Hard reset: a board restarts from boot.py; the unix port exits with
    compat.HARD_RESET_EXIT, on which the virtual board starts the firmware again."""
    if sys.platform == "linux":
        from compat import HARD_RESET_EXIT

        raise SystemExit(HARD_RESET_EXIT)
    import machine

    machine.reset()


def record_trial_failure(exc):
    """Keep why the firmware on trial failed to start (fw/last-failure, update.layout's
    LAST_FAILURE): the boot stage names it when it gives up on the slot, so the audit log
    says why. Import-free and best effort: this runs on the path where the new firmware
    has just failed."""
    try:
        with open("fw/last-failure", "w") as f:
            f.write(("%s: %s" % (type(exc).__name__, exc))[:80])
    except OSError:
        pass


def on_trial_slot():
    """True when the boot stage chose an updated slot (its folder leads sys.path)."""
    return bool(sys.path) and sys.path[0].lstrip("/").startswith("fw/")


if __name__ == "__main__":
    # Run as a script (a board runs the root main.py after boot.py). The meter runs in
    # the module `main` imported from sys.path, so that it is the active slot's code and
    # the one the shell's `import main` finds.
    if sys.platform == "linux":
        import boot  # noqa: F401 - the unix port has no boot.py stage of its own
    try:
        import main as _composition_root

        _composition_root.entry(sys.argv)
    except Exception as exc:  # noqa: BLE001 - any failure of an updated firmware
        sys.print_exception(exc)
        if on_trial_slot():
            record_trial_failure(exc)
            # as a watchdog would: restart, so the boot stage counts the failed boot and
            # returns to the previous firmware after MAX_TRIAL_BOOTS
            restart()
        raise
