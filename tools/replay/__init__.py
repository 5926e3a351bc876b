"""The capture replay (`python -m tools.replay`): cli (the command), runner (the replay on
the unix port or a board, also used by tools.calibrate)."""
