"""Store-and-forward operator uplink: quarter-hour readings and audit entries, sealed as
DLMS general-global-ciphering APDUs, published over MQTT, dropped only once the
head-end's authenticated acknowledgement for that very APDU has arrived.

The readings wait in the interval log on flash (12 days); the uplink only remembers
how far the head-end has acknowledged. Each attempt seals with a fresh invocation
counter, so a retry never reuses an IV. With the consumer's switch off, or without
keys, nothing leaves for the operator, and what was measured meanwhile is never sent.
"""
import json

import canonical
from comms import dlms, fwlink, payload
from storage.flash import NoLock
from storage.slots import SlotStore

MAX_READINGS_PER_MESSAGE = 96  # a day of quarter-hours
MAX_EVENTS_PER_MESSAGE = 16
# A message's plaintext, ciphertext and APDU are each one allocation: kept under 2 KB so
# that a board's heap late in life (largest free block ~1-2 KB) can still send. A day of
# quarter-hours (27 bytes each) then takes two messages.
MAX_PLAINTEXT_BYTES = 1536
ACK_TIMEOUT_MS = 10000
MAX_CLOCK_STEP_S = 3600  # a larger correction is refused as absurd (and logged)
HEADEND_SYSTEM_TITLE = b"OPHE0001"
# readings leave the meter at most once a day without the consumer's consent (comms.switch);
# a session may start up to a quarter-hour early (schedule jitter) and still count as a day
READINGS_EVERY_S = 86400
READINGS_EARLY_S = 900


def system_title(meter_id):
    """The meter's DLMS system title: the 3-letter manufacturer flag "OSM" and 5 bytes of
    SHA-256 over its meter id. The one place it is computed: the meter seals under it, the
    head-end files keys and readings under it, the commissioning kit prints it."""
    import hashlib

    return b"OSM" + hashlib.sha256(meter_id.encode()).digest()[:5]


class LinkError(Exception):
    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason


class Uplink:
    def __init__(self, store, keys, counter, system_title, intervals, audit, switch, clock,
                 mqtt_factory, interval_s=86400, first_offset_s=7200, lock=None):
        self._slots = SlotStore(store, "uplink")
        self.keys = keys
        self.counter = counter
        self.system_title = system_title
        self.meter_topic = "meters/" + "".join("%02x" % b for b in system_title)
        self.intervals = intervals
        self.audit = audit
        self.switch = switch
        self.clock = clock
        self.connector = mqtt_factory
        self.on_command = None  # fn(token bytes): signed operator commands over the link
        # fn(delta_s, first_set) -> audit text or None: the meter hears of a clock step
        self.on_clock_step = None
        self.time_floor_s = 0  # a first setting earlier than this (the last save) is refused
        self.firmware = None  # comms.fwlink.FirmwareDownload: packages over the link
        self.ack_timeout_ms = ACK_TIMEOUT_MS
        self._lock = lock or NoLock()
        self.interval_s = interval_s
        self.state = {"qh": 0, "ev": 0, "down_ic": 0, "contact_s": 0, "lost": 0, "sent": 0,
                      "readings_s": 0}
        saved = self._slots.load()
        if saved is not None:
            self.state.update(json.loads(saved))
        now = clock.time()
        # default: once a day, at night (02:00 UTC + offset), as the operator reads
        self.next_s = now - now % interval_s + first_offset_s % interval_s
        if self.next_s <= now:
            self.next_s += interval_s
        self.last_result = "not yet"
        self.failures = 0
        self._acked = None
        self._session_keys = None
        self._clock_logged = False

    def set_interval(self, interval_s, now):
        """A new schedule takes effect now: the next send is at the next boundary of the
        new interval if that comes before the one already planned (after commissioning
        with 900 s the first send is within 15 minutes, not at the next 02:00)."""
        self.interval_s = interval_s
        self.next_s = min(self.next_s, now - now % interval_s + interval_s)

    def send_soon(self, now):
        """A technician's link test: the uplink thread sends at its next round."""
        self.next_s = now

    def _save(self):
        self._slots.save(canonical.dumps(self.state).encode())

    # --- what is pending ------------------------------------------------------------
    def pending_readings(self):
        last = self.intervals.log.last_seq
        return 0 if last is None else max(0, last - self.state["qh"])

    def skip_to_now(self):
        """Consumer switch changed: nothing measured before this moment is ever sent.
        (The caller holds the lock.)"""
        self.state["qh"] = self.intervals.log.last_seq or 0
        self.state["ev"] = self.audit.log.last_seq or 0
        self._save()

    def _collect(self, qh_limit=None, ev_limit=None):
        """Items after what was acknowledged, up to the limits (the pending state when
        the session began: entries the session itself logs wait for the next one)."""
        items = []
        first = self.intervals.log.first_seq
        if first is not None and first > self.state["qh"] + 1 and self.state["qh"]:
            count = first - self.state["qh"] - 1  # dropped from a full log before sending
            items.append(payload.lost(self.state["qh"] + 1, count))
            self.state["lost"] += count
            self.state["qh"] = first - 1
            self.audit.append(self.clock.time(), "readings-lost", "%d readings" % count)
        size = 1 + sum(len(item) for item in items)  # the version byte, a lost item
        qh_through = self.state["qh"]
        for seq, rec in self.intervals.records(self.state["qh"]):
            if len(items) >= MAX_READINGS_PER_MESSAGE or (qh_limit is not None and seq > qh_limit):
                break
            item = payload.reading(seq, rec)
            if items and size + len(item) > MAX_PLAINTEXT_BYTES:
                break
            items.append(item)
            size += len(item)
            qh_through = seq
        ev_through = self.state["ev"]
        n_events = 0
        for seq, raw in self.audit.raw(self.state["ev"]):
            if n_events >= MAX_EVENTS_PER_MESSAGE or (ev_limit is not None and seq > ev_limit):
                break
            item = payload.event(seq, raw)
            if items and size + len(item) > MAX_PLAINTEXT_BYTES:
                break
            items.append(item)
            size += len(item)
            ev_through = seq
            n_events += 1
        return items, qh_through, ev_through

    # --- sending ----------------------------------------------------------------------
    def due(self, now):
        return now >= self.next_s

    def poll(self, now):
        """Send if due; never raises for network trouble (retries with back-off)."""
        if not self.due(now):
            return self.last_result
        try:
            self.last_result = self.send_now()
            self.failures = 0
            self.next_s = now - now % self.interval_s + self.interval_s
        except (LinkError, OSError) as exc:
            self._back_off(now, exc)
        except Exception as exc:  # a library's own error (umqtt's MQTTException): back off
            self._back_off(now, exc)  # too, then let the loop count and log it
            raise
        return self.last_result

    def _back_off(self, now, exc):
        self.failures += 1
        self.last_result = "failed: %s" % exc
        self.next_s = now + min(3600, 60 * (1 << min(self.failures, 6)))

    def send_now(self):
        """Send everything pending; returns a short result string."""
        if not self.switch.on:
            with self._lock:
                self.skip_to_now()
            return "off (consumer opt-out)"
        keys = self.keys.uplink_keys()
        if keys is None:
            return "no operator keys: nothing sent"
        # a session is sealed and acknowledged under the keys it began with. An install-keys
        # command applied inside it ends it (_wait_ack): the head-end still acknowledges
        # under the old keys, and what was not acknowledged goes again in the next session,
        # under the new keys, which the head-end tries when the old ones fail
        self._session_keys = keys
        now = self.clock.time()
        last = self.state.get("readings_s", 0)
        # a clock behind the last sending (not set since boot, or stepped back) cannot say a
        # day has not passed: readings go
        readings_due = (self.switch.frequent_readings or now < last
                        or now >= last + READINGS_EVERY_S - READINGS_EARLY_S)
        with self._lock:
            # not due: qh_limit is what was sent already, so only events go in this session
            qh_limit = self.intervals.log.last_seq if readings_due else self.state["qh"]
            ev_limit = self.audit.log.last_seq
            items, qh_through, ev_through = self._collect(qh_limit, ev_limit)
        # with nothing to report the session still opens, with one empty sealed message: it
        # is the meter's only way to hear what waits for it (commands are sent in answer to
        # its messages) and the operator's proof of contact; it carries no data
        self._clock_logged = False
        client = self.connector(self.meter_topic.replace("/", "-"))
        client.set_callback(self._on_message)
        try:
            client.subscribe((self.meter_topic + "/down").encode(), 1)
            client.subscribe((self.meter_topic + "/cmd").encode(), 1)
            if self.firmware is not None:
                client.subscribe((self.meter_topic + "/" + fwlink.CHUNK_TOPIC).encode(), 1)
            sent = 0
            while items or not sent:
                self._send_sealed(client, keys, items)
                with self._lock:
                    if readings_due and qh_through == qh_limit and qh_limit != self.state["qh"] \
                            and getattr(self.clock, "trusted", True):
                        # the day's readings are all delivered, on a clock that is set (the
                        # ack may just have set it: its time, not the session's start)
                        self.state["readings_s"] = self.clock.time()
                    self.state["qh"] = qh_through
                    self.state["ev"] = ev_through
                    self.state["contact_s"] = self.clock.time()
                    self.state["sent"] += 1
                    self._save()
                    sent += 1
                    if items:
                        items, qh_through, ev_through = self._collect(qh_limit, ev_limit)
            if self.firmware is not None:
                if self.firmware.result() is None:  # no verdict still to deliver first
                    self.firmware.session(client, self.meter_topic, self.clock)
                verdict = self.firmware.result()
                if verdict is not None:  # sealed and acknowledged like the readings
                    self._send_sealed(client, keys, [payload.fw_result(verdict)])
                    self.firmware.delivered()
                    sent += 1
        finally:
            try:
                client.disconnect()
            except OSError:
                pass
            if self.firmware is not None:
                self.firmware.session_over()
        return "sent %d message(s)" % sent

    def _send_sealed(self, client, keys, items):
        """One message under a fresh invocation counter; returns once the head-end has
        acknowledged it (LinkError otherwise)."""
        if self.keys.uplink_keys() != keys:  # install-keys applied inside this session:
            raise LinkError("keys-changed", "new uplink keys from the next session on")
        ic = self.counter.next()
        apdu = dlms.seal(self.system_title, ic, keys[0], keys[1], payload.message(items),
                         self.keys.cipher())
        self._acked = None
        client.publish((self.meter_topic + "/up").encode(), apdu, False, 1)
        self._wait_ack(client, ic)

    def _wait_ack(self, client, ic):
        start = self.clock.ticks_ms()
        while self._acked != ic:
            if self.keys.uplink_keys() != self._session_keys:
                raise LinkError("keys-changed", "new uplink keys from the next session on")
            if self.clock.ticks_diff(self.clock.ticks_ms(), start) > self.ack_timeout_ms:
                raise LinkError("no-ack", "head-end did not acknowledge counter %d" % ic)
            client.check_msg()
            if self._acked != ic:
                self.clock.sleep_ms(10)

    def _on_message(self, topic, msg):
        """Only an authenticated, fresh acknowledgement from the head-end is acted on;
        commands go to the control plane, which obeys only operator-signed tokens."""
        if bytes(topic).endswith(b"/cmd"):
            if self.on_command is not None:
                self.on_command(bytes(msg))
            return
        if bytes(topic).endswith(("/" + fwlink.CHUNK_TOPIC).encode()):
            if self.firmware is not None:
                self.firmware.on_chunk(msg)
            return
        keys = self.keys.uplink_keys()
        if keys != self._session_keys:
            return  # sealed under the keys this session began with: _wait_ack ends it
        try:
            title, ic, plain = dlms.unseal(msg, keys[0], keys[1], self.keys.cipher())
            acked, time_s = payload.decode_ack(plain)
        except (dlms.APDUError, payload.PayloadError, ValueError):
            return  # forged or malformed: ignored (counted by nobody we can trust)
        if title != HEADEND_SYSTEM_TITLE or ic <= self.state["down_ic"]:
            return  # replayed downlink
        self.state["down_ic"] = ic
        self._acked = acked
        self.take_time(time_s)

    def take_time(self, utc_s, source="set: not set since boot"):
        """A trusted time: the head-end's, authenticated (each acknowledgement), or the
        technician's at commissioning. A clock not set since boot takes it whatever the
        step (a board without a battery-backed RTC restarts at an estimate), but never
        earlier than the meter's last save; a set clock takes steps of at most
        MAX_CLOCK_STEP_S. Both are audit-logged; a refusal once per session."""
        # an estimate carried across a reset (metering.clock_trust) is set like a clock
        # not set since boot: whatever the step, never before the last save
        estimated = getattr(self.clock, "estimated", False)
        first_set = not self.clock.trusted or estimated
        delta = utc_s - self.clock.time()
        if -2 <= delta <= 2 and not first_set:
            return
        with self._lock:
            if first_set and utc_s < self.time_floor_s:
                refused = "%+d s: before the meter's last save" % delta
            elif first_set or -MAX_CLOCK_STEP_S <= delta <= MAX_CLOCK_STEP_S:
                if estimated and source.startswith("set: not set"):
                    source = "set: estimated across a reset"
                self.clock.adjust(delta)
                self.clock.trusted = True
                self.clock.estimated = False
                more = self.on_clock_step(delta, first_set) if self.on_clock_step else None
                self.audit.append(self.clock.time(), "clock-corrected", "%+d s%s%s" % (
                    delta, " (%s)" % source if first_set else "",
                    "; " + more if more else ""))
                return
            else:
                refused = "%+d s" % delta
            if not self._clock_logged:  # once per session, not once per acknowledgement
                self._clock_logged = True
                self.audit.append(self.clock.time(), "clock-correction-refused", refused)
