"""The operator's head-end (`python -m tools.headend`): cli (the commands), store (the
SQLite store of keys, counters and readings), firmware_server (packages sent over the link)."""
