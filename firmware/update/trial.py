"""A firmware on trial: it keeps itself once it has metered `confirm_windows` windows and
the self-test passes, and goes back to the previous firmware when the self-test fails or
no confirmation came within the board's limit. The one home of the trial's lifecycle; the
pointer record it changes is update.firmware_slots'.
"""
from update import loader
from update.errors import UpdateRejected
from update.layout import slot_dir

CONFIRM_WINDOWS = 60  # windows (about one per second) metered before a confirmation


class Trial:
    def __init__(self, gate, clock, confirm_windows, limit_s):
        """gate(): the update gate (update.apply.Updater); it may raise UpdateRejected or
        OSError (an unreadable pointer, no room for fw/): then nothing is on trial."""
        self.gate = gate
        self.clock = clock
        self.confirm_windows = confirm_windows
        self.limit_s = limit_s
        self.started_ticks = clock.ticks_ms()  # the limit counts from boot
        try:
            fields = gate().state.fields
        except (UpdateRejected, OSError):
            fields = {}
        # on trial only if this very code came from the slot on trial: a factory image
        # that the boot stage fell back to must not confirm a slot that never ran
        active = fields.get("active") or ""
        self.on = (fields.get("trial") is True and active != ""
                   and loader.running_slot() == slot_dir(active))
        if fields.get("reverted") or self.on:
            gate().report_boot()  # audits what the boot stage did (a revert, a trial boot)
        self.firmware = "%s (slot %s%s)" % (
            fields.get("active_version", "factory"), fields.get("active") or "factory",
            ", on trial" if self.on else "")

    def overdue(self):
        return self.on and self.clock.ticks_diff(
            self.clock.ticks_ms(), self.started_ticks) > self.limit_s * 1000

    def due(self, windows):
        return self.on and windows >= self.confirm_windows

    def end(self, failed, overdue=False):
        """Keep the firmware (the security counter rises) when nothing failed and it is
        not overdue, else revert. Returns True if kept; on False the caller restarts into
        the previous slot."""
        # the trial ends only once its pointer record says so: a gate that cannot be built
        # (no heap) or a record that cannot be written (a full flash) leaves it on trial,
        # and the next block ends it again
        gate = self.gate()
        if not (failed or overdue):
            gate.confirm()
            self.on = False
            self.firmware = self.firmware.replace(", on trial", "")
            return True
        gate.revert("not confirmed within %d s" % self.limit_s
                    if overdue else "self-test failed: " + ", ".join(failed))
        self.on = False
        self.firmware += ", REVERTED at next boot"
        return False
