"""Metering: turns ADC sample pairs into billing registers. Imports nothing from comms,
update or service code; others only read its snapshots."""
