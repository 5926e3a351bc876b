"""os for the rp2 port rig: the unix port's os (files stay on the host) with the rp2
port's uname (ports/rp2/mpconfigport.h MICROPY_HW_BOARD_NAME / MCU_NAME)."""
from os import *  # noqa: F401,F403


class _Uname:
    sysname = "rp2"
    nodename = "rp2"
    release = "1.29.0"
    version = "v1.29.0 on 2026-01-01 (GNU 14.2.0 MinSizeRel)"
    machine = "Raspberry Pi Pico with RP2040"


def uname():
    return _Uname()
