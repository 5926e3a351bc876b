"""Symmetric crypto for the meter: AES-128 facade, AES-GCM, key wrap, constant-time compare."""
