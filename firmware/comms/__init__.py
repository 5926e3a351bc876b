"""Comms: the consumer's P1 port and the operator uplink. Reads metering snapshots only;
nothing here can change a register."""
