"""Board modules: one per board, data first, hardware built only in `hardware()`."""
