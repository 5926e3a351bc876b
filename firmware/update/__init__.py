"""Operator-signed firmware updates: trust policy, package verification, two firmware slots
with trial boots, and the boot-time slot selection. See docs/UPDATE.md.

Nothing here ever makes a package active before every check has passed.
"""
