"""The meter's small settings records on flash (`operator-link`, `tariffs`, `wifi`,
`calibration.proposed`): canonical JSON, each replaced atomically (FileStore.replace), read
back as {} when absent or unreadable. Who may write which record is decided by the caller
(commissioning, a signed command, the technician at the meter), never here.
"""
import json

import canonical

TARIFFS = "tariffs"  # the tariff schedule's record (a signed set-tariffs command writes it)


def load(store, name):
    """A settings record as a dict, or {} if absent or unreadable."""
    data = store.read(name)
    if data is None:
        return {}
    try:
        settings = json.loads(data)
    except ValueError:
        return {}
    return settings if isinstance(settings, dict) else {}


def encode(obj):
    return canonical.dumps(obj).encode()


def replace(store, name, obj):
    """Write a record atomically: a cut leaves the old settings or the new."""
    store.replace(name, encode(obj))
