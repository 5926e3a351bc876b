"""What every board shares: the front-end as data (FrontEnd, and the shared design
SHARED), the watchdog and trial limits, the clock, the MQTT connector and Wi-Fi link, and
the Hardware record a board's hardware() returns. A board module states its FRONT_END
and names what it takes from here; it imports nothing from here by `*`.
"""
import sys


class FrontEnd:
    """A board's analogue front-end and mains, as data. What follows from it (the design
    calibration, the sag and swell thresholds, the starting current, the current's sampling
    delay) is computed here from the board's own values, so a board that changes one value
    gets every consequence of it. A board restates only what differs:

      FRONT_END = common.FrontEnd(adc_mid_code=2206, burden_ohm=33.0, ...)

    The defaults are the shared design: a direct-connected single-phase 230 V meter, Ib 5 A,
    Imax 40 A; the voltage divider maps 400 V peak and the CT + burden map Imax peak to
    about 1900 counts from mid-rail of a 12-bit ADC, leaving headroom for swells and crest
    factor."""

    def __init__(self, adc_bits=12, adc_mid_code=2048, v_ref=3.3, mains_v_nominal=230.0,
                 mains_f_nominal_hz=50.0, i_base_a=5.0, i_max_a=40.0,
                 v_peak_full_scale=400.0, ct_ratio=2000, burden_ohm=54.0,
                 counts_at_full_scale=1900, sample_pairs_per_s=4000, i_delay_us=None,
                 ct_phase_lead_deg=0.0):
        self.adc_bits = adc_bits
        self.adc_mid_code = adc_mid_code  # both channels biased to mid-rail
        self.v_ref = v_ref
        self.mains_v_nominal = mains_v_nominal
        self.mains_f_nominal_hz = mains_f_nominal_hz
        self.i_base_a = i_base_a  # Ib
        self.i_max_a = i_max_a  # Imax
        self.starting_current_a = 0.004 * i_base_a  # IEC 62053-21 starting current
        # the meter registers no power below half of that current's at nominal voltage:
        # it starts at the starting current and never creeps at no load
        self.starting_power_w = 0.5 * self.starting_current_a * mains_v_nominal
        # voltage: resistive divider 1 MOhm : 3.83 kOhm, 400 V peak -> 1.53 V -> 1900 counts
        self.v_peak_full_scale = v_peak_full_scale
        # current: CT 2000:1 (100 A : 50 mA), burden 54 Ohm: Imax peak -> 1900 counts
        self.ct_ratio = ct_ratio
        self.burden_ohm = burden_ohm
        self.counts_at_full_scale = counts_at_full_scale
        self.sample_pairs_per_s = sample_pairs_per_s
        # sequential sampling: by default the current is converted one ADC slot after the
        # voltage (round robin); a board that reads otherwise states its own delay
        self.i_delay_us = 1e6 / (2 * sample_pairs_per_s) if i_delay_us is None else i_delay_us
        self.ct_phase_lead_deg = ct_phase_lead_deg  # per unit: measured by calibration
        # voltage quality thresholds (EN 50160: +/-10 %)
        self.sag_v = 0.9 * mains_v_nominal
        self.swell_v = 1.1 * mains_v_nominal

    def calibration(self):
        """The calibration this front-end starts from before a calibration run trims it."""
        return {
            "v_per_count": self.v_peak_full_scale / self.counts_at_full_scale,
            "a_per_count": (self.v_ref / (1 << self.adc_bits)) / self.burden_ohm * self.ct_ratio,
            "v_gain": 1.0,
            "i_gain": 1.0,
            "v_offset": self.adc_mid_code,
            "i_offset": self.adc_mid_code,
            "adc_bits": self.adc_bits,
            "i_delay_us": self.i_delay_us,
            "phase_deg": self.ct_phase_lead_deg,
            "i_crosstalk": 0.0,
            "v_noise_counts": 0.0,
            "i_noise_counts": 0.0,
            "f_nominal_hz": self.mains_f_nominal_hz,
        }


class ICFrontEnd(FrontEnd):
    """A front-end whose metering IC measures in volts and amps itself (its gain
    registers set for the board's divider and CT): the design calibration is unity, and
    the calibration run trims it on the host as for an ADC (metering.ic_windows)."""

    def calibration(self):
        values = FrontEnd.calibration(self)
        values.update(v_per_count=1.0, a_per_count=1.0, v_offset=0, i_offset=0,
                      i_delay_us=0.0)
        return values


SHARED = FrontEnd()  # the shared design (the sim board's, and the tests')

# Watchdog (machine.WDT): fed by the metering loop only while it meters. 8 s is below the
# RP2040's 8388 ms hardware limit (ports/rp2/machine_wdt.c raises ValueError above it) and a
# whole number of seconds, which older ESP32 builds round the timeout down to.
WATCHDOG_MS = 8000
# A firmware on trial that has not confirmed itself within this time reverts: one that
# meters (so the watchdog is fed) but never reaches its confirmation.
TRIAL_LIMIT_S = 600


def calibration_for(board):
    """The design calibration of `board` (its FRONT_END)."""
    return board.FRONT_END.calibration()


def shared_calibration():
    """The design calibration of the shared front-end (SHARED)."""
    return SHARED.calibration()


class SystemClock:
    """The clock the logic is handed: monotonic ticks plus UTC epoch seconds."""

    def __init__(self, trusted=True, rtc=None, kept_across_reset=False):
        """trusted: time() is the true time from the start (the host's clock). A board
        without a battery-backed RTC starts untrusted at the port's epoch; the first
        authenticated time from the operator sets it (comms.uplink), or, after a reset
        on a set clock, the meter at boot (metering.clock_trust).
        rtc: the board's machine.RTC, set on every adjustment, because mbedTLS checks
        certificate dates against it (a TLS link after a power cut needs it past 2000).
        kept_across_reset: time() runs on through a reset (not a power cut)."""
        import time

        self._time = time
        self.trusted = trusted
        self.kept_across_reset = kept_across_reset
        self.estimated = False  # set across a reset to the last window's time (metering)
        self._rtc = rtc
        # MicroPython's time.time() counts from 1970 on the unix port and the boards
        # since v1.22; the RTC is set from the operator link or NTP.
        self.ticks_ms = time.ticks_ms if hasattr(time, "ticks_ms") else self._ticks_ms
        self.ticks_diff = time.ticks_diff if hasattr(time, "ticks_diff") else self._ticks_diff

    def _ticks_ms(self):
        return int(self._time.monotonic() * 1000) & 0x3FFFFFFF

    @staticmethod
    def _ticks_diff(end, start):
        return ((end - start + 0x20000000) & 0x3FFFFFFF) - 0x20000000

    def sleep_ms(self, ms):
        self._time.sleep(ms / 1000)

    offset_s = 0  # set from the operator's authenticated time (comms.uplink)

    def time(self):
        return int(self._time.time()) + self.offset_s

    def adjust(self, delta_s):
        target = self.time() + delta_s
        if self._rtc is not None:
            t = self._time.gmtime(target)  # (year, month, day, h, m, s, weekday, ...)
            self._rtc.datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))
        # whatever the RTC did, time() is now the target (on a board the RTC moved and
        # the offset returns to 0; where time() cannot move, the offset carries it)
        self.offset_s = target - int(self._time.time())


def mqtt_connector(server, port, keepalive=0, ca_der=None, network=None):
    """The network link the uplink is handed: client_id -> a connected umqtt.simple
    client (micropython-lib). Only wiring code calls this; logic never opens sockets.

    ca_der: the operator's CA certificate, pinned at commissioning. Then the link is
    MQTT over TLS with CERT_REQUIRED: the broker's certificate must chain to that CA and
    name `server` (mbedTLS checks the name; MicroPython verifies nothing by default).
    A refused certificate is an OSError("tls: ...") to the uplink (mbedTLS raises
    ValueError), so the uplink backs off and retries as for any network failure.
    network: the board's WifiLink (or None: the host's network), brought up first."""

    def connect(client_id):
        if network is not None:
            network.up()  # OSError("wifi: ..."): the uplink backs off as for any failure
        from umqtt.simple import MQTTClient

        params = {}
        if ca_der is not None:
            import ssl

            # umqtt.simple 1.3.4 (the pinned micropython-lib release) imports the
            # pre-1.21 name; MicroPython 1.29 has ssl only
            sys.modules["ussl"] = ssl
            params = {"cert_reqs": ssl.CERT_REQUIRED, "cadata": ca_der,
                      "server_hostname": server}
        client = MQTTClient(client_id, server, port, keepalive=keepalive,
                            ssl=ca_der is not None, ssl_params=params)
        try:
            client.connect()
        except ValueError as exc:  # mbedTLS: certificate not trusted, wrong name, expired
            try:
                client.sock.close()
            except (OSError, AttributeError):
                pass
            raise OSError("tls: %s" % (str(exc).strip() or "certificate refused"))
        try:  # IPPROTO_TCP=6, TCP_NODELAY=1: umqtt writes a publish in pieces
            client.sock.setsockopt(6, 1, 1)
        except (OSError, AttributeError):
            pass
        return client

    return connect


class WifiLink:
    """Station-mode Wi-Fi for the operator link (network.WLAN), brought up by the uplink's
    connector when a session starts, not at boot: with no broker set, or the consumer's
    switch off, the radio stays off. A failure is an OSError("wifi: ...") that the uplink
    backs off from (60 s doubling to an hour), like any network failure.

    credentials: {"ssid", "password"} from the flash record `wifi`, which the technician
    writes at the meter (service.wifi); None: no network set."""

    CONNECT_TIMEOUT_MS = 10000
    # network.STAT_* names that end an attempt (the esp32 port's; rp2's Pico W has fewer)
    _FAILED = (("STAT_WRONG_PASSWORD", "wrong password"), ("STAT_NO_AP_FOUND", "network not found"),
               ("STAT_CONNECT_FAIL", "connection failed"), ("STAT_ASSOC_FAIL", "association failed"),
               ("STAT_HANDSHAKE_TIMEOUT", "handshake timeout"),
               ("STAT_BEACON_TIMEOUT", "beacon timeout"))

    def __init__(self, clock):
        self._clock = clock
        self._wlan = None
        self.credentials = None
        self.connects = 0
        self.failures = 0
        self.last_error = None

    def _station(self):
        import network

        if self._wlan is None:
            self._wlan = network.WLAN(network.STA_IF)
        return network, self._wlan

    def up(self):
        network, wlan = self._station()
        if wlan.active() and wlan.isconnected():
            return
        try:
            self._connect(network, wlan)
        except OSError as exc:
            self.failures += 1
            self.last_error = str(exc)
            raise
        self.connects += 1
        self.last_error = None

    def _connect(self, network, wlan):
        if not self.credentials:
            raise OSError("wifi: no network set (service.wifi at the meter)")
        wlan.active(True)
        wlan.connect(self.credentials["ssid"], self.credentials["password"])
        clock = self._clock
        start = clock.ticks_ms()
        while not wlan.isconnected():
            status = wlan.status()
            for name, words in self._FAILED:
                if status == getattr(network, name, None):
                    wlan.disconnect()
                    raise OSError("wifi: %s (%s)" % (words, self.credentials["ssid"]))
            if clock.ticks_diff(clock.ticks_ms(), start) > self.CONNECT_TIMEOUT_MS:
                wlan.disconnect()
                raise OSError("wifi: no connection within %d s" % (self.CONNECT_TIMEOUT_MS // 1000))
            clock.sleep_ms(100)

    def state(self):
        """For `status`: never the password."""
        connected = self._wlan is not None and self._wlan.isconnected()
        return {"ssid": self.credentials["ssid"] if self.credentials else None,
                "connected": connected, "connects": self.connects, "failures": self.failures,
                "last_error": self.last_error}


class Hardware:
    """What a board's hardware() returns to the composition root."""

    def __init__(self, adc, p1, clock, storage_root, led, meter_id, reset=None, watchdog=None,
                 reset_cause=None, retained=None, network=None):
        self.adc = adc
        self.p1 = p1
        self.clock = clock
        self.storage_root = storage_root
        self.led = led
        self.meter_id = meter_id
        self.reset = reset  # restarts the board (a trial firmware that fails reverts)
        # watchdog(timeout_ms) starts the board's watchdog and returns it (feed()); None:
        # the board has none. Called by the metering thread: the ESP32's task watchdog
        # watches the task that starts it, and only that task's feeds count.
        self.watchdog = watchdog
        self.reset_cause = reset_cause  # () -> why the board last started ("watchdog", ...)
        # words that survive a reset but not a power cut: load() -> 4 ints, store(words);
        # the meter keeps the energy since its last save there (metering.retained)
        self.retained = retained
        self.network = network  # a WifiLink, or None where the host's network serves


_RESET_CAUSES = (("PWRON_RESET", "power-on"), ("HARD_RESET", "hard reset"),
                 ("WDT_RESET", "watchdog"), ("DEEPSLEEP_RESET", "deep sleep"),
                 ("SOFT_RESET", "soft reset"))


def machine_reset_cause():
    """machine.reset_cause() in words, for the boot entry of the audit log. Each port has
    its own subset of the constants (rp2: power-on and watchdog only)."""
    import machine

    cause = machine.reset_cause()
    for name, words in _RESET_CAUSES:
        if getattr(machine, name, None) == cause:
            return words
    return "cause %d" % cause


def machine_watchdog(timeout_ms):
    """machine.WDT, started: once running it cannot be stopped or reconfigured."""
    import machine

    return machine.WDT(timeout=timeout_ms)


def chip_meter_id(board_name):
    """The equipment identifier on P1 and in the uplink: board name + the chip's unique id."""
    import machine

    return "%s-%s" % (board_name, "".join("%02x" % b for b in machine.unique_id()))
