"""Canonical JSON: sorted keys, no spaces, so the same data always gives the same bytes.

MicroPython's json.dumps has no sort_keys; CRCs and signatures need byte-for-byte
reproducible encodings. Floats are written with repr (avoid them in signed data).
"""
import json


def dumps(obj):
    """Return the canonical encoding of obj (dict, list, str, int, float, bool, None) as str."""
    if isinstance(obj, dict):
        parts = []
        for key in sorted(obj):
            if not isinstance(key, str):
                raise TypeError("canonical JSON keys must be strings")
            parts.append(json.dumps(key) + ":" + dumps(obj[key]))
        return "{" + ",".join(parts) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(item) for item in obj) + "]"
    return json.dumps(obj)
