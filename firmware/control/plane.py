"""Who may change this meter, enforced: applies operator-signed command tokens, keeps the
break-glass state and the last applied counter (power-cut safe), and logs every applied
and refused token in the audit log.

Handlers (what a command does) are handed in by the composition root; this module knows
only the rules.
"""
import json

import canonical
from control import tokens
from storage.slots import SlotStore


def saved_state(store):
    """The plane's state as last saved: {"last_counter", "break_glass"} (the boot stage
    reads break-glass here when it installs a package, boot_install)."""
    state = {"last_counter": 0, "break_glass": False}
    saved = SlotStore(store, "control").load()
    if saved is not None:
        state.update(json.loads(saved))
    return state


class ControlPlane:
    def __init__(self, store, policies, audit, clock, meter_id, handlers, crypto_ok=True):
        self._slots = SlotStore(store, "control")
        self.policies = policies  # update.policy.PolicyStore
        self.audit = audit
        self.clock = clock
        self.meter_id = meter_id
        self.handlers = handlers  # command name -> fn(params) -> short text
        self.crypto_ok = crypto_ok  # False: the power-on known answers failed, verify nothing
        self.state = saved_state(store)

    @property
    def break_glass(self):
        return self.state["break_glass"]

    def apply(self, raw, channel="shell"):
        """Verify and execute one token; returns a result text, raises TokenRefused."""
        now = self.clock.time()
        try:
            if not self.crypto_ok:
                raise tokens.TokenRefused("self-test-failed", "power-on known-answer tests failed")
            command, params, counter = tokens.verify(
                raw, self.policies.current(), self.meter_id, now,
                self.state["last_counter"], self.state["break_glass"])
        except tokens.TokenRefused as exc:
            self._log(now, "token-refused", "%s%s via %s: %s" % (
                exc.reason, _number(exc.counter), channel, exc.detail))
            raise
        except Exception as exc:  # noqa: BLE001 - out of memory while parsing, a flash error
            refused = _internal(exc)
            self._log(now, "token-refused", "%s via %s: %s" % (
                refused.reason, channel, refused.detail))
            raise refused from None
        # spend the counter first: a cut after this can never make the token apply twice.
        # The new state takes effect only once it is on flash: a full flash changes nothing
        state = dict(self.state)
        state["last_counter"] = counter
        if command == "break-glass-on":
            state["break_glass"] = True
        elif command == "break-glass-off":
            state["break_glass"] = False
        try:
            self._slots.save(canonical.dumps(state).encode())
        except Exception as exc:  # noqa: BLE001
            refused = _internal(exc)
            self._log(now, "token-refused", "%s via %s: %s" % (
                refused.reason, channel, refused.detail))
            raise refused from None
        self.state = state
        tag = _number(counter)  # "#N": the head-end matches the answer to the token it sent
        if command in ("break-glass-on", "break-glass-off"):
            self._log(now, command, "%s via %s: %s" % (tag[1:], channel, params["reason"][:60]))
            return "break-glass %s" % ("on" if self.state["break_glass"] else "off")
        try:
            result = self.handlers[command](params)
        except (ValueError, KeyError, TypeError) as exc:
            self._log(now, "token-refused", "%s%s via %s: bad parameters: %s" % (
                command, tag, channel, exc))
            raise tokens.TokenRefused("malformed", "bad parameters: %s" % exc)
        except Exception as exc:  # noqa: BLE001 - the counter is spent: it never applies twice
            refused = _internal(exc)
            self._log(now, "token-refused", "%s%s via %s: %s: %s" % (
                command, tag, channel, refused.reason, refused.detail))
            raise refused from None
        self._log(now, "command-applied", "%s%s via %s: %s" % (command, tag, channel, result))
        return result

    def _save(self):
        self._slots.save(canonical.dumps(self.state).encode())

    def _log(self, now, event, text):
        """Audit a refusal; if the audit log itself cannot be written (the same full flash),
        the refusal still reaches the caller."""
        try:
            self.audit.append(now, event, text)
        except Exception:  # noqa: BLE001
            pass


def _number(counter):
    return " #%d" % counter if counter is not None else ""


def _internal(exc):
    """An unexpected exception while handling a token, as a refusal the link and the shell
    report and the audit log keeps: a remote input never ends a thread."""
    return tokens.TokenRefused("internal-error", "%s: %s" % (type(exc).__name__, exc))
