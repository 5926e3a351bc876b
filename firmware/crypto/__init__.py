"""Symmetric crypto for the meter: AES-128 block facade, AES-GCM, key wrap, constant-time compare."""
