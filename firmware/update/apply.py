"""Device-side entry points: install a package or a policy, confirm or revert a trial,
report what the boot stage did. The service shell and the operator link both end here, so
both go through the same verification, and every accept and reject is audited.

Never activates anything the verifier has not accepted; never imports main (it is handed
the app's parts).
"""
from storage.flash import NoLock, new_lock
from update import errors, install_request
from update.firmware_slots import UpdateState
from update.layout import LAST_FAILURE, STAGED_PATH, slot_dir
from update.errors import UpdateRejected
from update.receiver import PART_PATH, Receiver  # noqa: F401 - the link's receiver
from update.tree import FileTree

PACKAGE_PATH = "update.pkg"  # where a technician copies a package (`mpremote fs cp`)
# flash a package may never take: the registers, logs and audit log must keep growing room
FLASH_RESERVE_BYTES = 64 * 1024


class Updater:
    """The update gate of one meter. state_store: the flash store with the pointer and
    policy records (fw/); tree: the flash file tree; audit: control.audit.AuditLog or
    None; clock: has time() (UTC s); lock: shared with the other threads that use audit;
    break_glass: vendor keys count for nothing (issue 6), a bool or a function read at
    every install (the control plane can switch it at any time); policies: the meter's one
    PolicyStore, or a function that builds it (default: kept in state_store), shared with
    the control plane, built on first use: staging, the trial and the boot report need
    neither the policy nor its crypto (main.ON_DEMAND loads only what a use needs); installing:
    the lock that lets one install run at a time, shared by every gate a meter builds
    (default: this gate's own)."""

    def __init__(self, state_store, tree, board, hardware_id, clock, audit=None, lock=None,
                 break_glass=False, buf=None, policies=None, crypto_ok=True, installing=None):
        self.state_store = state_store
        self.tree = tree
        self.board = board
        self.hardware_id = hardware_id
        self.clock = clock
        self.audit = audit
        self.lock = lock or NoLock()
        self.break_glass = break_glass
        self.buf = buf  # chunk buffer for the verifier (None: its default size)
        self._policies = policies
        self.state = UpdateState(state_store)
        # one install at a time: the shell and the operator link share this gate, and two
        # stagings into the same free slot would mix their files
        self._installing = installing if installing is not None else new_lock()
        # False when the power-on known-answer tests failed: a verifier that may compute
        # wrong results must not be asked (fail closed)
        self.crypto_ok = crypto_ok

    @property
    def policies(self):
        """The trust policy store (update.policy.PolicyStore)."""
        if self._policies is None:
            from update.policy import PolicyStore

            self._policies = PolicyStore(self.state_store)
        elif callable(self._policies):
            self._policies = self._policies()
        return self._policies

    def _require_crypto(self):
        if not self.crypto_ok:
            raise UpdateRejected("self-test-failed", "power-on known-answer tests failed")

    def _break_glass(self):
        glass = self.break_glass
        return glass() if callable(glass) else glass

    def _log(self, event, text):
        if self.audit is not None:
            try:
                with self.lock:
                    self.audit.append(self.clock.time(), event, text)
            except Exception:  # noqa: BLE001 - a full flash: the refusal still reaches the caller
                pass

    def install(self, stream, activate=True):
        """Verify a package from `stream`, stage it and (activate=True) point the meter at
        it on trial; reboot to run it. Returns a summary dict; raises UpdateRejected."""
        if not self._installing.acquire(0):
            busy = UpdateRejected("busy", "another package is being installed")
            self._log("update-rejected", str(busy))
            raise busy
        try:
            return self._install(stream, activate)
        finally:
            self._installing.release()

    def _install(self, stream, activate):
        try:
            self._require_crypto()
            self.state.reload()  # another Updater (shell helper, boot) may have written it
            if self.state.trial:
                raise UpdateRejected("busy", "%s is on trial" % self.state.fields["active_version"])
            slot = self.state.target()
            # imported on use: a board that installs at boot (boot_install) never
            # loads the verifier into the running meter (main.USES)
            from update.verify import Verifier

            verifier = Verifier(self.policies.current(), self.board, self.hardware_id,
                                self.state.floor, self.clock.time(), self._break_glass(),
                                self._capacity(slot), self.buf)
            manifest = verifier.install(stream, self.tree, slot)
            if activate:
                self.state.activate(slot, manifest)  # one atomic write, or nothing changed
        except UpdateRejected as exc:
            self._log("update-rejected", str(exc))
            raise
        except Exception as exc:  # noqa: BLE001 - out of memory, a flash error: refused too
            rejected = errors.internal(exc)
            self._log("update-rejected", str(rejected))
            raise rejected from None
        self._log("update-accepted", "%s into slot %s%s; signed by %s" % (
            manifest.summary(), slot, " on trial" if activate else "",
            _signers(self.policies.current(), manifest.signatures)))
        return {"accepted": True, "slot": slot, "version": manifest.version,
                "security_counter": manifest.security_counter, "files": len(manifest.files),
                "bytes": manifest.total_bytes, "trial": activate}

    def install_file(self, path=PACKAGE_PATH, activate=True, remove=True):
        """install() from a file on the flash; the file is removed once accepted."""
        try:
            f = self.tree.open_read(path)
        except OSError:
            exc = UpdateRejected("missing-file", "no package at " + path)
            self._log("update-rejected", str(exc))
            raise exc
        with f:
            result = self.install(f, activate)
        if remove:
            self.tree.remove(path)
        return result

    def stage_file(self, path=PACKAGE_PATH, channel="shell"):
        """Boards that install at boot (boot_install): move the package at `path`
        to where the boot stage looks and ask it to install at the next boot. Only cheap
        checks here (nothing on trial, a package is there); the boot stage verifies, and
        audits and records its verdict. Restart the meter afterwards."""
        try:
            self.state.reload()
            if self.state.trial:
                raise UpdateRejected("busy", "%s is on trial" % self.state.fields["active_version"])
            size = self.tree.size(path)
            if size is None:
                raise UpdateRejected("missing-file", "no package at " + path)
            with self.lock:
                self.tree.rename(path, STAGED_PATH)
                install_request.write_request(self.state_store, channel, self.clock.time())
        except UpdateRejected as exc:
            self._log("update-rejected", str(exc))
            raise
        except Exception as exc:  # noqa: BLE001 - a flash error: refused, nothing staged
            rejected = errors.internal(exc)
            self._log("update-rejected", str(rejected))
            raise rejected from None
        self._log("update-staged", "%d bytes via %s; verified and installed at the next boot"
                  % (size, channel))
        return {"staged": True, "bytes": size, "channel": channel}

    def _capacity(self, slot):
        free = self.tree.free_bytes()
        if free is None:
            return None
        free -= FLASH_RESERVE_BYTES
        top = slot_dir(slot)
        return free + sum(self.tree.size(p) or 0 for p in _files(self.tree, top))

    def install_policy(self, raws):
        """Commission the first policy (none stored) or rotate through versions N+1, N+2..
        raws: one policy's bytes or a list of them, in order."""
        if not isinstance(raws, (list, tuple)):
            raws = [raws]
        try:
            self._require_crypto()
            if self.policies.current() is None:
                if len(raws) != 1:
                    raise UpdateRejected("malformed", "commission one policy, then rotate")
                policy = self.policies.commission(raws[0])
            else:
                policy = self.policies.rotate(raws)
        except UpdateRejected as exc:
            self._log("update-rejected", "policy: " + str(exc))
            raise
        except Exception as exc:  # noqa: BLE001
            rejected = errors.internal(exc)
            self._log("update-rejected", "policy: " + str(rejected))
            raise rejected from None
        self._log("policy-changed", "version %d fingerprint %s" % (
            policy.version, policy.fingerprint()))
        return {"version": policy.version, "fingerprint": policy.fingerprint(),
                "keys": len(policy.keys)}

    def confirm(self):
        """The trial firmware is healthy: keep it, raise the security counter."""
        self.state.reload()
        if not self.state.confirm():
            return False
        try:
            self.state_store.remove(LAST_FAILURE)  # a start that failed before is history
        except OSError:
            pass  # confirmed all the same; the boot stage forgets it when no trial is on
        self._log("update-confirmed", "%s counter %d" % (
            self.state.fields["active_version"], self.state.floor))
        return True

    def revert(self, reason="self-test failed"):
        """Leave a trial firmware now (reboot afterwards); False if nothing is on trial."""
        self.state.reload()
        if not self.state.trial:
            return False
        self.state.revert(reason)
        self.report_boot()
        return True

    def report_boot(self):
        """Audit a revert the boot stage (or revert()) made; call once after boot."""
        reason = self.state.fields["reverted"]
        if reason:
            self._log("update-reverted", reason)
            self.state.clear_reverted()
        return reason

    def status(self):
        self.state.reload()
        policy = self.policies.current()
        status = dict(self.state.fields)
        status["policy_version"] = policy.version if policy else None
        status["policy_fingerprint"] = policy.fingerprint() if policy else None
        return status


def _signers(policy, signatures):
    """Who signed a package, as the audit log keeps it: role/first 8 hex of the key id."""
    keys = policy.keys if policy is not None else {}
    return " ".join("%s/%s" % (keys.get(keyid, ("unknown",))[0], keyid[:8])
                    for keyid, _sig in signatures)


def _files(tree, top):
    from update.tree import walk_files

    return list(walk_files(tree, top))


def install_from_link(gate, path, at_boot=False):
    """A package that arrived over the operator link: the same gate as the shell (gate():
    the Updater). The verdict's text for the head-end, or "staged" on a board that
    installs at boot (at_boot): the verdict then follows the restart (boot_install)."""
    try:
        if at_boot:
            gate().stage_file(path, "link")
            return "staged"
        result = gate().install_file(path)
    except UpdateRejected as exc:
        return "rejected %s" % exc.reason
    return "accepted %s" % result["version"]


# --- the service shell (`from update import apply`); `app` is main.app -------------------

def from_file(app, path=PACKAGE_PATH):
    """Verify and stage the package at `path`, activate it on trial; reboot to run it."""
    with app.rare:
        return app.update_gate().install_file(path)


def policy_from_file(app, *paths):
    """Commission (first time) or rotate (versions N+1.. in order) the trust policy."""
    from storage.flash import read_path

    with app.rare:
        from update.policy import MAX_BYTES

        return app.update_gate().install_policy([read_path(path, MAX_BYTES) for path in paths])


def confirm(app):
    with app.rare:
        return app.update_gate().confirm()


def revert(app, reason="technician"):
    with app.rare:
        return app.update_gate().revert(reason)


def after_boot(app):
    with app.rare:
        return app.update_gate().report_boot()


def status(app):
    with app.rare:
        return app.update_gate().status()
