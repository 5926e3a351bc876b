"""The uplink identity of the end-to-end test meters (test keys, never a real meter's)."""
KEK = bytes(range(16))
EK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
AK = bytes.fromhex("d0d1d2d3d4d5d6d7d8d9dadbdcdddedf")
TITLE = b"OSM\x00\x00\x00\xe2\xe2"  # meter_e2e.py
FW_TITLE = b"OSM\x00\x00\x00\xe2\xe3"  # firmware_e2e.py
NOW_S = 1795449600
TLS_TITLE = b"OSM\x00\x00\x00\xe2\xe4"  # tls_e2e.py
