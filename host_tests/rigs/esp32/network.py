"""network for the esp32 port rig: WLAN(STA_IF) as boards.common.WifiLink uses it,
following docs/library/network.WLAN.rst and the esp32 port (ports/esp32/network_wlan.c):
active(), connect(ssid, key), isconnected(), status(), disconnect(). connect() needs the
interface active (the port raises OSError "Wifi Not Started") and returns at once; the
outcome shows in status() a moment later. The access points in range, and their
passwords, are the test's: rigs.state.wifi_aps. Status values here are arbitrary: the
firmware matches the names."""
import time

from rigs import state

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
_SETTLE_US = 50000  # the association takes a moment


class WLAN:
    def __init__(self, interface=STA_IF):
        if interface != STA_IF:
            raise ValueError("the rig models the station interface only")
        self._active = False
        self._target = None
        self._since = 0

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self._target = None

    def connect(self, ssid, key):
        if not self._active:
            raise OSError("Wifi Not Started")
        state.wifi_attempts.append(ssid)
        self._target = (ssid, key)
        self._since = time.ticks_us()

    def disconnect(self):
        self._target = None

    def status(self):
        if self._target is None:
            return STAT_IDLE
        if time.ticks_diff(time.ticks_us(), self._since) < _SETTLE_US:
            return STAT_CONNECTING
        ssid, key = self._target
        if ssid not in state.wifi_aps:
            return STAT_NO_AP_FOUND
        if state.wifi_aps[ssid] != key:
            return STAT_WRONG_PASSWORD
        return STAT_GOT_IP

    def isconnected(self):
        return self.status() == STAT_GOT_IP
