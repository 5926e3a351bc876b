"""The hand-over between the running meter and the boot stage on boards that install
updates at boot (boot_install): a request record the meter writes after staging a
package, and the verdict record the boot stage leaves for the meter to report.

Both are small records in the fw/ store (update.layout), written whole with an atomic
replace. The request names only the channel the package came by and the meter's clock:
what is installed, and under which policy, the boot stage reads from the flash itself.
"""
import json

import canonical
from update.layout import INSTALL_REQUEST, INSTALL_RESULT

CHANNELS = ("shell", "link")
_MAX_RECORD = 256


def write_request(store, channel, utc):
    """Ask the boot stage to install the staged package. utc: the meter's clock now (the
    boot stage has no clock of its own yet; a package's expiry is checked against it)."""
    if channel not in CHANNELS:
        raise ValueError("channel must be one of %s" % (CHANNELS,))
    store.replace(INSTALL_REQUEST, canonical.dumps({"channel": channel, "utc": int(utc)}).encode())


def pending(store):
    """True if an install request waits (cheap: one stat, no parsing)."""
    return store.size(INSTALL_REQUEST) is not None


def take_request(store):
    """The request, removed from the flash first: an install that crashes or runs out of
    memory is not tried again at every boot. {"channel", "utc"}, None if there is none,
    or {"channel": "shell", "utc": 0, "malformed": why} for a record that does not parse."""
    raw = store.read(INSTALL_REQUEST, 0, _MAX_RECORD + 1)
    if raw is None:
        return None
    store.remove(INSTALL_REQUEST)
    try:
        if len(raw) > _MAX_RECORD:
            raise ValueError("longer than %d bytes" % _MAX_RECORD)
        fields = json.loads(raw)
        channel, utc = fields["channel"], fields["utc"]
        if channel not in CHANNELS or type(utc) is not int or utc < 0:
            raise ValueError("bad channel or time")
    except (ValueError, KeyError, TypeError) as exc:
        return {"channel": "shell", "utc": 0, "malformed": str(exc)[:60]}
    return {"channel": channel, "utc": utc}


def write_result(store, channel, verdict):
    """The boot stage's verdict ("accepted <version>" / "rejected <reason>")."""
    store.replace(INSTALL_RESULT, canonical.dumps({"channel": channel,
                                                   "verdict": verdict[:120]}).encode())


def read_result(store):
    """(channel, verdict) the boot stage left, or None; kept until clear_result()."""
    raw = store.read(INSTALL_RESULT, 0, _MAX_RECORD + 1)
    if raw is None:
        return None
    try:
        fields = json.loads(raw)
        return fields["channel"], fields["verdict"]
    except (ValueError, KeyError, TypeError):
        return "shell", "rejected internal-error: unreadable verdict record"


def clear_result(store):
    store.remove(INSTALL_RESULT)
