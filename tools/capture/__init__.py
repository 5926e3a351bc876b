"""ADC captures (`python -m tools.capture`): cli (synth, record, plot), files (the capture
WAV and calibration JSON formats, read by tools.replay and tools.calibrate too), plot."""
