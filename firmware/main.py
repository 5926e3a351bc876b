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

# Code the running meter loads for a use and releases after it (ondemand.py): the control
# plane and its tokens, the trust policy, the update gate, and the crypto only they use.
# No module that stays loaded may import one of these at its top (test_ondemand.py).
# Staying loaded: crypto.ed25519_table, whose 3 KB table is one bytes object, in flash
# when the code is frozen or in ROMFS, but loaded again from .mpy a 3 KB allocation late
# in a fragmented heap (BOARDS.md: nothing after boot allocates more than 1 KB at once);
# update.receiver and update.tree, which a download over the link keeps across sessions.
ON_DEMAND = ("control.plane", "control.tokens", "control.handlers", "control.statement",
             "update.apply", "update.policy", "update.signed", "update.firmware_slots",
             "update.verify", "update.manifest",
             "crypto.ed25519", "crypto.sha512", "crypto.sha512_viper")
# What each kind of use loads together, as the boot loads it once (wire): a command token,
# and the control-plane statement (service.controlplane), which builds the control plane
# for its break-glass state; the update gate with the verifier (the verifier only where
# the meter installs packages itself, not on a board that installs at boot)
USES = (("control.plane", "control.tokens", "control.handlers", "control.statement"),
        ("update.apply", "update.policy", "update.verify", "update.manifest"))
# Code only the boot needs (the self-test, the metering module's identity check, the boot
# stage): released once the meter is built. The App keeps their results, not their code.
BOOT_ONLY = ("post", "metering.identity", "boot", "boot_install")


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
    from ondemand import OnDemand

    rare = OnDemand(ON_DEMAND)
    rare.release()  # the crypto the checks loaded that only the rare uses need (SHA-512, Ed25519)
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
    from control.audit import AuditLog
    from metering import identity
    from metering.calibration_store import CalibrationStore
    from metering.meter import Meter
    from metering.pulses import PulseOutput
    from metering.tariff import TariffSchedule
    from storage.flash import FileStore, new_lock
    from update import install_request
    from update.layout import FW_DIR

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
    keys.cipher()  # the uplink's AES-GCM table and buffers (1.7 KB) now, not late in life
    switch = OperatorLinkSwitch(store)
    uplink = Uplink(store, keys, InvocationCounter(store), system_title(meter_id), meter.intervals,
                    audit, switch, clock, None, lock=lock)
    # umqtt reads a message at the size the broker announces: bounded, or a huge one would
    # end the uplink thread in MemoryError
    link = OperatorLink(store, uplink, bounded(board.mqtt_connector), hw.network, clock, lock)
    tariffs = settings.load(store, settings.TARIFFS)
    if tariffs:
        meter.tariffs = TariffSchedule(tariffs)
    if install_at_boot is None:
        install_at_boot = getattr(board, "INSTALL_AT_BOOT", False)
    # The trust policy, the control plane and the update gate are built for each use and
    # their code is then released (ondemand.py): between uses none of it is on the heap.
    # Each part imports its code inside: a name held here would keep it loaded.
    installing = new_lock()  # one install at a time, whichever gate a use builds

    def policies():
        from update.policy import PolicyStore

        return PolicyStore(store)

    def break_glass():
        from control.plane import saved_state

        return saved_state(store)["break_glass"]

    def control():
        from control import handlers
        from control.plane import ControlPlane

        return ControlPlane(store, policies(), audit, clock, meter_id,
                            handlers.build(calibration, keys, link, meter, store, audit, clock),
                            crypto_ok=checked.crypto_ok)

    def gate():
        from update.apply import Updater
        from update.tree import FileTree

        return Updater(FileStore(FW_DIR), FileTree(""), board.NAME, board.HARDWARE_ID, clock,
                       audit, lock, break_glass, policies=policies,
                       crypto_ok=checked.crypto_ok, installing=installing)

    def receiver():
        from update.receiver import Receiver
        from update.tree import FileTree

        return Receiver(FileTree(""))

    def install_from_link(path):
        with rare:
            from update import apply

            return apply.install_from_link(app.update_gate, path, install_at_boot)

    app = App(board, hw, checked, store, lock, calibration, meter, meter_id, p1, audit, keys,
              switch, uplink, link, policies, control, gate, rare,
              identity.check(identity.folder()), install_at_boot,
              identity.check_board(identity.folder(getattr(board, "__file__", "")), board.NAME))
    uplink.on_command = app.command_from_link
    uplink.on_clock_step = app.clock_stepped
    uplink.time_floor_s = meter.time_floor_s
    uplink.firmware = FirmwareDownload(receiver, install_from_link,
                                       ready=lambda: not app.trial.on,
                                       after_accept=app.restart_soon)
    fw_store = FileStore(FW_DIR)
    boot_verdict = install_request.read_result(fw_store)  # the boot stage's, if any
    if boot_verdict is not None:
        channel, app.boot_install_verdict = boot_verdict
        if channel == "link":  # the head-end hears it sealed, then the record goes
            uplink.firmware.pending_verdict(app.boot_install_verdict,
                                            lambda: install_request.clear_result(fw_store))
        else:  # the technician reads it in `firmware()` and the audit log
            install_request.clear_result(fw_store)
    # Each use's code loads once now, and goes again: the heap holds the meter and the
    # largest use's code at boot, where a board too small fails at once (a use's working
    # buffers come on top: BOARDS.md), and the table of interned names is full-grown
    # before metering starts (loaded late for the first time, the gate's code once needed
    # a 14 KB name pool in a fragmented heap)
    for use in USES:
        with rare:
            for name in use:
                if not (install_at_boot and name in ("update.verify", "update.manifest")):
                    __import__(name)
    OnDemand(BOOT_ONLY).release()
    gc.collect()
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
        __import__("boot")  # the unix port has no boot.py stage of its own; unnamed, it
        # is released with the rest of the boot's code (BOOT_ONLY)
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
