"""The operator's head-end: receives the meters' sealed uplink over MQTT, refuses replays
and forgeries, stores readings exactly once, checks the audit hash chain and answers each
accepted message with a sealed acknowledgement.

Parses and decrypts with dlms-cosem, never with the firmware's crypto, so it is an
independent check of the meter; only the plaintext codec (comms.payload) is shared.
Never acknowledges a message it did not store.
"""
import argparse
import csv
import json
import os
import signal
import sqlite3
import sys
import textwrap
import threading
import time
from datetime import datetime, timezone

from tools.shared.errors import ToolError, exit_status
from tools.shared.files import read_json
from tools.shared.paths import use_firmware

use_firmware()

from dlms_cosem import security  # noqa: E402
from dlms_cosem.exceptions import DecryptionError  # noqa: E402
from dlms_cosem.protocol.xdlms.general_global_cipher import GeneralGlobalCipher  # noqa: E402

from comms import payload  # noqa: E402
from comms.uplink import HEADEND_SYSTEM_TITLE  # noqa: E402 - the meter accepts only this
from comms.uplink import system_title  # noqa: E402
from control.audit import AuditError, verify_chain  # noqa: E402
from metering import intervals  # noqa: E402
from tools.headend.firmware_server import OFFSET_TOPIC, FirmwareServer  # noqa: E402
from tools.headend.store import (QUADRANT_COLUMNS, REPLAY, Store,  # noqa: E402
                                 StoreError, load_keys_file, parse_hex)

SC_SUITE0_AUTH_ENC = 0x30
TAKEOVER_DROPS = 4  # disconnects within TAKEOVER_WINDOW_S: the session is being taken over
TAKEOVER_WINDOW_S = 30
GCM_TAG_LEN = 12
UP_TOPIC = "meters/+/up"
STATUS_BITS = ((intervals.STATUS_SUMMER, "summer"), (intervals.STATUS_POWER_FAIL, "power-fail"),
               (intervals.STATUS_CLOCK_SET, "clock-set"), (intervals.STATUS_PARTIAL, "partial"),
               (intervals.STATUS_ESTIMATED, "estimated"),
               (intervals.STATUS_CLOCK_INVALID, "clock-invalid"))


class Reject(Exception):
    def __init__(self, reason, detail=""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _ber_length(n):
    if n < 0x80:
        return bytes((n,))
    return bytes((0x81, n)) if n < 0x100 else bytes((0x82, n >> 8, n & 0xFF))


def frame(system_title, security_control, ic, ciphered):
    body = bytes((security_control,)) + ic.to_bytes(4, "big") + ciphered
    return bytes((GeneralGlobalCipher.TAG, len(system_title))) + system_title + \
        _ber_length(len(body)) + body


def open_apdu(apdu):
    """The parsed general-global-ciphering APDU; Reject("malformed") for anything else."""
    try:
        g = GeneralGlobalCipher.from_bytes(apdu)
    except (ValueError, IndexError) as exc:
        raise Reject("malformed", "not a general-global-ciphering APDU (%s)" % exc)
    if len(g.system_title) != 8:
        raise Reject("malformed", "system title of %d bytes" % len(g.system_title))
    sc = g.security_control.to_bytes()[0]
    if sc != SC_SUITE0_AUTH_ENC:  # only suite 0, authenticated and encrypted, is accepted
        raise Reject("malformed", "security control 0x%02x" % sc)
    if len(g.ciphered_text) < GCM_TAG_LEN:
        raise Reject("malformed", "shorter than its tag")
    if frame(bytes(g.system_title), sc, g.invocation_counter, g.ciphered_text) != bytes(apdu):
        raise Reject("malformed", "length field disagrees with the APDU")
    return g


def seal_ack(ek, ak, downlink_ic, plaintext):
    sc = security.SecurityControlField(security_suite=0, authenticated=True, encrypted=True)
    ciphered = security.encrypt(sc, HEADEND_SYSTEM_TITLE, downlink_ic, ek, plaintext, ak)
    return frame(HEADEND_SYSTEM_TITLE, sc.to_bytes()[0], downlink_ic, ciphered)


def check_event(prev, seq, raw):
    """(kind, detail) if entry `seq` does not follow the stored entry before it."""
    try:
        verify_chain([(seq, raw)] if prev is None else [prev, (seq, raw)])
    except AuditError as exc:
        return exc.reason, str(exc)
    return None


class HeadEnd:
    """Turns one uplink message into stored rows and an ack; MQTT-free, so tests and
    other transports can drive it."""

    def __init__(self, store, extra_keys=None, clock=time.time):
        self.store = store
        self.extra_keys = extra_keys or {}
        self.clock = clock
        # [(topic, token)]: the commands handle() chose for the meter that just spoke; the
        # transport sends them before the ack, so they arrive while the meter waits for it
        self.commands_out = []

    def keys(self, title):
        """The database's keys (they follow rotations), else a --keys file's."""
        return self.store.keys(title) or self.extra_keys.get(title)

    @staticmethod
    def _decrypt(g, ic, keys):
        return security.decrypt(g.security_control, bytes(g.system_title), ic, keys[0],
                                g.ciphered_text, keys[1])

    def handle(self, topic, apdu):
        """(report dict, (topic, ack APDU) or None)."""
        now_s = int(self.clock())
        parts = topic.split("/")
        title = parts[1].lower()[:64] if len(parts) == 3 else "?"
        ic = None
        try:
            g = open_apdu(apdu)
            if bytes(g.system_title).hex() != title:
                raise Reject("topic-mismatch", "APDU from %s on topic %s"
                             % (bytes(g.system_title).hex(), topic))
            ic = g.invocation_counter
            keys = self.keys(title)
            if keys is None:
                raise Reject("unknown-meter", "no keys for this system title")
            rotated = False
            try:
                plain = self._decrypt(g, ic, keys)
            except DecryptionError:
                # an install-keys command applied: the meter seals under the staged keys
                staged = self.store.next_keys(title)
                try:
                    if staged is None:
                        raise DecryptionError()
                    plain = self._decrypt(g, ic, staged)
                except DecryptionError:
                    raise Reject("bad-tag", "authentication failed")
                keys, rotated = staged, True
            last = self.store.last_ic(title)
            if ic <= last:  # authentic but not fresh
                raise Reject(REPLAY, "counter %d, last accepted %d" % (ic, last))
            try:
                items = payload.decode(plain)
            except (payload.PayloadError, ValueError) as exc:
                raise Reject("bad-payload", str(exc))
        except Reject as r:
            self.store.reject(title, r.reason, r.detail, ic, now_s)
            return {"event": "rejected", "meter": title, "counter": ic, "reason": r.reason,
                    "detail": r.detail}, None
        # the chain is checked entry after entry in sequence order
        items = [i for i in items if i["type"] != "event"] + sorted(
            (i for i in items if i["type"] == "event"), key=lambda i: i["seq"])
        if rotated:  # the meter confirms its new keys by using them
            self.store.promote_keys(title, now_s)
        counts, downlink_ic = self.store.accept(title, ic, items, now_s, check_event)
        ack = seal_ack(keys[0], keys[1], downlink_ic, payload.ack(ic, now_s))
        report = {"event": "accepted", "meter": title, "counter": ic,
                  "downlink_counter": downlink_ic}
        report.update(counts)
        if rotated:
            report["keys_rotated"] = True
        commands = self.store.unanswered_commands(title, now_s)
        self.commands_out = [("meters/%s/cmd" % title, token) for _id, token in commands]
        if commands:
            self.store.mark_sent([i for i, _t in commands], now_s)
            report["commands_sent"] = len(commands)
        verdicts = [i["text"] for i in items if i["type"] == "fw_result"]
        if verdicts:  # authenticated: the firmware sender may retire the package
            report["firmware_results"] = verdicts
        return report, ("meters/%s/down" % title, ack)


# --- command line helpers ------------------------------------------------------------
def _open_store(path, must_exist=True):
    if must_exist and not os.path.exists(path):
        raise ToolError("no head-end database at %s (serve or keys add creates it)" % path)
    return Store(path)


def _broker(text):
    host, _, port = text.rpartition(":")
    if not host:
        host, port = text, "1883"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ToolError("--broker must be HOST:PORT, got %r" % text)
    return host.strip("[]"), int(port)


def _iso(s):
    return "-" if s is None else datetime.fromtimestamp(s, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _kwh(wh):  # integer Wh to kWh text, no float on the way
    return "%s%d.%03d" % ("-" if wh < 0 else "", abs(wh) // 1000, abs(wh) % 1000)


def _describe(r):
    kind = r["event"]
    if kind == "rejected":
        return "meter %s counter %s: REJECTED %s (%s)" % (
            r["meter"], "-" if r["counter"] is None else r["counter"], r["reason"], r["detail"])
    if kind == "accepted":
        return ("meter %s counter %d: %d readings, %d events, %d lost notices, %d duplicates, "
                "%d chain problems%s%s%s -> acked (downlink counter %d)"
                % (r["meter"], r["counter"], r["readings"], r["events"], r["lost"],
                   r["duplicates"], r["problems"],
                   ", new keys in use" if r.get("keys_rotated") else "",
                   ", %d command answers" % r["answers"] if r.get("answers") else "",
                   ", %d commands sent" % r["commands_sent"] if r.get("commands_sent") else "",
                   r["downlink_counter"]))
    if kind == "connected":
        return "connected to %s (%s)" % (r["broker"], "messages kept while away are coming"
                                         if r["session_present"] else "new session")
    if kind == "subscribed":
        return "listening on %s" % r["topic"]
    if kind == "firmware-sending":
        return "meter %s: sending firmware package (%d bytes)" % (r["meter"], r["bytes"])
    if kind == "firmware":
        return "meter %s: firmware %s" % (r["meter"], r["result"])
    if kind == "stopped":
        return "stopped: %d messages accepted, %d rejected" % (r["accepted"], r["rejected"])
    return "%s: %s" % (kind, r.get("detail", ""))


# --- serve ---------------------------------------------------------------------------
def serve(args):
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise ToolError("serve needs paho-mqtt (pip install -r requirements.txt)")
    host, port = _broker(args.broker)
    head = HeadEnd(_open_store(args.db, must_exist=False), load_keys_file(args.keys))
    firmware = FirmwareServer(args.firmware) if args.firmware else None
    topics = [UP_TOPIC] + ([OFFSET_TOPIC] if firmware else [])
    state = {"last_s": time.monotonic(), "connected": False, "error": None, "stop": False,
             "accepted": 0, "rejected": 0, "drops": []}
    pending = []

    def emit(report):
        print(json.dumps(report, sort_keys=True) if args.json else _describe(report),
              flush=True)

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            emit({"event": "refused", "detail": "broker refused: %s" % reason_code})
            return
        state["connected"] = state["online"] = True
        state["last_s"] = time.monotonic()
        for topic in topics:  # again after every reconnect
            client.subscribe(topic, qos=1)
        emit({"event": "connected", "broker": "%s:%d" % (host, port),
              "session_present": bool(flags.session_present)})

    def on_connect_fail(client, userdata):
        emit({"event": "unreachable", "detail": "no broker at %s:%d; retrying" % (host, port)})

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            state["error"] = "the broker refused a subscription to %s" % ", ".join(topics)
            return
        emit({"event": "subscribed", "topic": UP_TOPIC})

    def on_disconnect(client, userdata, flags, reason_code, properties):
        was_online, state["online"] = state.get("online", False), False
        if state["stop"] or not was_online:
            return
        # a broker that drops a fresh session again and again is handing it to another
        # client with the same id: two head-ends would take turns, each missing messages
        now = time.monotonic()
        state["drops"] = [t for t in state["drops"] if now - t < TAKEOVER_WINDOW_S] + [now]
        if len(state["drops"]) >= TAKEOVER_DROPS:
            state["error"] = ("the broker dropped this head-end %d times in %d s: another "
                              "head-end is probably using client id %r (give each its own "
                              "--client-id)" % (len(state["drops"]), TAKEOVER_WINDOW_S,
                                                args.client_id))
            return
        emit({"event": "disconnected", "detail": "%s; reconnecting" % reason_code})

    def on_message(client, userdata, msg):
        if firmware is not None and "/fw/" in msg.topic:
            report, out = firmware.handle(msg.topic, msg.payload)
            for topic, data in out:
                pending.append(client.publish(topic, data, qos=1))
            client.ack(msg.mid, msg.qos)
            state["last_s"] = time.monotonic()
            if report:
                emit(report)
            return
        try:
            report, ack = head.handle(msg.topic, msg.payload)
        except (StoreError, sqlite3.Error) as exc:  # not acked: the broker keeps it
            state["error"] = "database: %s" % exc
            return
        except Exception as exc:  # a bug: stop, unacked, rather than lose what follows
            state["error"] = "internal error on a message from %s: %r" % (msg.topic, exc)
            raise
        if ack is not None:
            pending[:] = [info for info in pending if not info.is_published()]
            for topic, token in head.commands_out:  # before the ack: the meter is listening
                pending.append(client.publish(topic, token, qos=1))
            pending.append(client.publish(ack[0], ack[1], qos=1))
        client.ack(msg.mid, msg.qos)  # PUBACK only once the message is stored
        state["accepted" if ack else "rejected"] += 1
        state["last_s"] = time.monotonic()
        emit(report)
        for verdict in report.get("firmware_results", ()):
            if firmware is not None:
                emit(firmware.retire(report["meter"], verdict))

    # Persistent session (clean_session=False, fixed client id): QoS 1 uplinks that arrive
    # while the head-end is away wait at the broker and are delivered when it is back.
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id,
                         clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_disconnect, client.on_message = on_disconnect, on_message
    client.on_connect_fail = on_connect_fail
    client.reconnect_delay_set(1, 30)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: state.update(stop=True))
    client.connect_async(host, port, keepalive=30)
    client.loop_start()  # paho's thread connects, reconnects with back-off, delivers
    try:
        while not state["stop"] and state["error"] is None:
            time.sleep(0.05)
            if args.once_idle and time.monotonic() - state["last_s"] >= args.once_idle:
                break
    except KeyboardInterrupt:
        pass
    state["stop"] = True
    deadline = time.monotonic() + 5
    while state["connected"] and time.monotonic() < deadline and not all(
            info.is_published() for info in pending):
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
    if state["error"]:
        raise ToolError(state["error"])
    if not state["connected"]:
        raise ToolError("could not reach the MQTT broker at %s:%d" % (host, port))
    emit({"event": "stopped", "accepted": state["accepted"], "rejected": state["rejected"]})


# --- commissioning kit, commands, key rotation ---------------------------------------
def _title_of(meter_id):
    return system_title(meter_id).hex()


def _write_private(path, data):
    """A file only its owner can read (keys): refused if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ToolError("%s exists: refusing to overwrite keys" % path)
    with os.fdopen(fd, "w") as f:
        f.write(data)


def commission_cmd(args):
    """The commissioning kit: new keys for one meter, registered here in the same step and
    written only into the technician's bundle; prints what the technician reads back."""
    from update.policy import verify_initial

    try:
        with open(args.policy, "rb") as f:
            policy_raw = f.read()
    except OSError as exc:
        raise ToolError("cannot read policy %s: %s" % (args.policy, exc.strerror or exc))
    try:
        policy = verify_initial(policy_raw)  # the meter's own check: signed by its root
    except ValueError as exc:
        raise ToolError("policy %s would be refused by the meter: %s" % (args.policy, exc))
    if args.broker:
        _broker(args.broker)
    if not 900 <= args.interval_s <= 7 * 86400:
        raise ToolError("--interval-s must be 900..604800 (the meter's own limits)")
    title = _title_of(args.meter_id)
    store = _open_store(args.db, must_exist=False)
    if store.keys(title) is not None:
        raise ToolError("meter %s (system title %s) has keys in %s already: rotate them with "
                        "rotate-keys" % (args.meter_id, title, args.db))
    os.makedirs(args.out, exist_ok=True)
    keys_path = os.path.join(args.out, "keys.json")
    if os.path.exists(keys_path):
        raise ToolError("%s exists: refusing to overwrite keys" % keys_path)
    kek, ek, ak = os.urandom(16), os.urandom(16), os.urandom(16)
    bundle = {"meter_id": args.meter_id, "system_title": title, "kek": kek.hex(),
              "ek": ek.hex(), "ak": ak.hex()}
    _write_private(keys_path, json.dumps(bundle, sort_keys=True, indent=1) + "\n")
    try:
        store.add_keys(title, ek, ak, int(time.time()), kek=kek, meter_id=args.meter_id)
    except StoreError:
        os.remove(keys_path)
        raise
    with open(os.path.join(args.out, "policy.json"), "wb") as f:
        f.write(policy_raw)
    words = ["commission", "policy.json", "keys.json"]
    if args.broker:
        words += [args.broker, str(args.interval_s)]
    if args.ca:
        with open(args.ca, "rb") as src, open(os.path.join(args.out, "ca.pem"), "wb") as dst:
            dst.write(src.read())
        words.append("ca_path=ca.pem")
    steps = ("Commissioning meter %s (system title %s)\n\n"
             "At the meter, from this folder:\n"
             "  python -m tools.field --port PORT %s\n\n"
             "The meter prints its policy fingerprint: it must read %s.\n"
             "keys.json holds the meter's keys: the meter deletes its copy once installed;\n"
             "delete this one after commissioning (the head-end holds them).\n"
             % (args.meter_id, title, " ".join(words), policy.fingerprint()))
    with open(os.path.join(args.out, "COMMISSION.txt"), "w") as f:
        f.write(steps)
    data = {"meter_id": args.meter_id, "system_title": title, "bundle": args.out,
            "policy_version": policy.version, "policy_fingerprint": policy.fingerprint(),
            "field_command": "python -m tools.field --port PORT " + " ".join(words)}
    if args.json:
        print(json.dumps(data, sort_keys=True))
        return
    print("meter %s: system title %s, keys registered in %s (not shown)" % (
        args.meter_id, title, args.db))
    print("bundle for the technician: %s (keys.json, policy.json%s, COMMISSION.txt)" % (
        args.out, ", ca.pem" if args.ca else ""))
    print("policy v%d fingerprint %s: the meter must print the same" % (
        policy.version, policy.fingerprint()))


def send_cmd(args):
    """Queue an operator-signed token for its meter: sent in the meter's next session, and
    again in each session until the meter's audit log answers it."""
    from tools.command import token as tok

    doc = tok.read(args.token)
    body = doc.body
    title = _title_of(body["meter"])
    store = _open_store(args.db)
    if store.keys(title) is None:
        raise ToolError("no keys for meter %s (system title %s): the head-end cannot reach it"
                        % (body["meter"], title))
    if not doc.env["signatures"]:
        raise ToolError("%s is not signed: sign it with python -m tools.command sign"
                        % args.token)
    store.queue_command(title, body["command"], body["counter"], doc.env_raw, int(time.time()))
    data = {"queued": True, "meter": body["meter"], "system_title": title,
            "command": body["command"], "counter": body["counter"]}
    print(json.dumps(data, sort_keys=True) if args.json else
          "queued %s #%d for meter %s (system title %s): sent in its next session" % (
              body["command"], body["counter"], body["meter"], title))


def commands_cmd(args):
    rows = _open_store(args.db).command_list()
    if args.json:
        print(json.dumps(rows, sort_keys=True))
        return
    if not rows:
        print("no commands queued")
    for r in rows:
        state = r["result"] or ("sent %d time(s), last %s" % (r["sends"], _iso(r["sent_s"]))
                                if r["sent_s"] else "queued")
        print("%s  %-18s #%-6d %s" % (r["meter"], r["command"], r["counter"], state))
        for line in textwrap.wrap(r["detail"] or "", 74):
            print("    " + line)


def rotate_cmd(args):
    """New uplink keys for a meter, wrapped under its KEK into an unsigned install-keys
    token; the head-end keeps using the current keys until the meter seals with the new."""
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    from tools.command import token as tok

    title = _title_of(args.meter_id)
    store = _open_store(args.db)
    held = store.meter_keys(title)
    if held is None:
        raise ToolError("no keys for meter %s (system title %s)" % (args.meter_id, title))
    if held["kek"] is None:
        raise ToolError("the head-end does not hold meter %s's KEK (keys added by hand, not "
                        "by the commissioning kit): it cannot wrap new keys" % args.meter_id)
    waiting = store.waiting_install_keys(title)
    if any(sent for _i, _c, sent in waiting):
        raise ToolError("an install-keys token for meter %s went out and has no answer yet "
                        "(#%s): its keys may be the meter's now; wait for the answer "
                        "(headend commands)" % (args.meter_id, ", #".join(
                            str(c) for _i, c, sent in waiting if sent)))
    if (held["next_ek"] is not None or waiting) and not args.restage:
        raise ToolError("a key rotation for meter %s waits for the meter already (--restage "
                        "replaces it while its token has not gone out)" % args.meter_id)
    ek, ak = os.urandom(16), os.urandom(16)
    kek = os.urandom(16) if args.new_kek else None
    old_kek = held["kek"]
    params = {"wrapped_ek": aes_key_wrap(old_kek, ek).hex(),
              "wrapped_ak": aes_key_wrap(old_kek, ak).hex(),
              "wrapped_kek": aes_key_wrap(old_kek, kek).hex() if kek else None}
    expires = int(time.time()) + args.expires_days * 86400
    body = tok.body("install-keys", params, args.meter_id, args.counter, expires)
    # staged before the token exists: no token may carry keys the head-end does not hold
    store.stage_keys(title, ek, ak, kek)
    store.supersede([i for i, _c, _sent in waiting], int(time.time()))
    tok.write(args.out, body)
    data = {"out": args.out, "meter_id": args.meter_id, "system_title": title,
            "counter": args.counter, "new_kek": bool(kek)}
    print(json.dumps(data, sort_keys=True) if args.json else
          "wrote %s: install-keys #%d for meter %s (new EK, AK%s, wrapped under its KEK), "
          "unsigned: sign it, then send it; the head-end switches keys when the meter uses "
          "them" % (args.out, args.counter, args.meter_id, ", KEK" if kek else ""))


def fleet_cmd(args):
    """The fleet sovereignty report (tools/headend/fleet.py) as text, JSON, CSV or HTML."""
    from tools.headend import fleet, fleet_page

    store = _open_store(args.db)
    rep = fleet.report(store, int(time.time()))
    if args.json or args.format == "json":
        out = json.dumps(rep, sort_keys=True)
    elif args.format == "csv":
        out = fleet_page.csv_text(rep)
    elif args.format == "html":
        out = fleet_page.html_page(rep, {t: store.readings(t) for t in store.titles()})
    else:
        out = fleet_page.text(rep)
    if args.out:
        with open(args.out, "w") as f:
            f.write(out)
        print("wrote the fleet report (%s, %d meters) to %s" % (
            "json" if args.json else args.format, len(rep["meters"]), args.out))
    else:
        print(out, end="" if out.endswith("\n") else "\n")


# --- keys, export, status ------------------------------------------------------------
def keys_cmd(args):
    if args.keys_command == "add":
        kek = meter_id = None
        if args.file:  # the commissioning kit's keys.json, the file the meter installs
            data = read_json(args.file, "keys file ", refusal=StoreError)
            if not isinstance(data, dict) or not {"system_title", "ek", "ak"} <= set(data):
                raise ToolError("%s is not a meter's keys file (system_title, ek, ak, kek)"
                                % args.file)
            title = parse_hex(data["system_title"], 8, "system_title").hex()
            ek, ak = parse_hex(data["ek"], 16, "ek"), parse_hex(data["ak"], 16, "ak")
            kek = parse_hex(data["kek"], 16, "kek") if data.get("kek") else None
            meter_id = data.get("meter_id")
        elif args.system_title and args.ek and args.ak:
            title = parse_hex(args.system_title, 8, "--system-title").hex()
            ek, ak = parse_hex(args.ek, 16, "--ek"), parse_hex(args.ak, 16, "--ak")
        else:
            raise ToolError("keys add needs --file KEYS.json, or --system-title, --ek and --ak")
        store = _open_store(args.db, must_exist=False)
        store.add_keys(title, ek, ak, int(time.time()), args.replace, kek=kek,
                       meter_id=meter_id)
        rows = [k for k in store.key_list() if k["meter"] == title]
    else:
        rows = _open_store(args.db).key_list()
    if args.json:
        print(json.dumps(rows, sort_keys=True))
        return
    for k in rows:
        print("%s  EK %s  AK %s  added %s" % (k["meter"], k["ek_fingerprint"],
                                            k["ak_fingerprint"], _iso(k["added_s"])))
    if not rows:
        print("no keys stored")


def export(args):
    title = parse_hex(args.meter, 8, "--meter").hex()
    store = _open_store(args.db)
    rows = store.readings(title)
    if not rows:
        raise ToolError("no readings stored for meter %s" % title)
    quadrants = {row[0]: row[1:] for row in store.quadrant_readings(title)}
    out = sys.stdout if args.csv == "-" else open(args.csv, "w", newline="")
    try:
        w = csv.writer(out)
        regs = ("import_t1", "import_t2", "export_t1", "export_t2")
        # cumulative four-quadrant registers: empty for readings from firmware before them
        units = ("_kvarh",) * 4 + ("_kvah",) * 2
        four_names = [name.rsplit("_", 1)[0] + unit for name, unit in zip(QUADRANT_COLUMNS, units)]
        w.writerow(["meter", "seq", "interval_end_utc"] + [r + "_kwh" for r in regs]
                   + ["delta_" + r + "_kwh" for r in regs] + ["status"] + four_names)
        prev = None
        for seq, end_s, *values, status in rows:
            # a delta only between consecutive quarter-hours; empty after a gap
            deltas = ([_kwh(v - p) for v, p in zip(values, prev[1])]
                      if prev is not None and prev[0] == seq - 1 else [""] * 4)
            flags = "|".join(name for bit, name in STATUS_BITS if status & bit)
            four = ["" if v is None else _kwh(v) for v in quadrants[seq]]
            w.writerow([title, seq, _iso(end_s)] + [_kwh(v) for v in values] + deltas + [flags]
                       + four)
            prev = (seq, values)
    finally:
        if out is not sys.stdout:
            out.close()
    if args.csv != "-":
        summary = {"meter": title, "readings": len(rows), "csv": args.csv}
        print(json.dumps(summary) if args.json else
              "wrote %d readings of meter %s to %s" % (len(rows), title, args.csv))


def status(args):
    s = _open_store(args.db).status()
    if args.json:
        print(json.dumps(s, sort_keys=True))
        return
    # two lines a meter: 80 columns, nothing cut
    for m in s["meters"]:
        print("%-16s  keys %-3s  readings %-6d  last %-16s  counter %d" % (
            m["meter"], "yes" if m["known"] else "NO", m["readings"],
            _iso(m["last_reading_s"])[:16], m["last_counter"]))
        print("    replays %d  forgeries %d  duplicates %d  lost %d  chain problems %d" % (
            m["replays"], m["forgeries"], m["duplicates"], m["readings_lost"],
            m["chain_problems"]))
    if not s["meters"]:
        print("no meter heard from yet")
    if s["chain_problems"]:
        print("chain problems:")
        for p in s["chain_problems"]:
            print("  %s entry %d: %s" % (p["meter"], p["seq"], p["kind"]))
            for line in textwrap.wrap(p["detail"], 72):
                print("      " + line)
    print("downlink counter: %d" % s["downlink_counter"])


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m tools.headend",
        description="The operator's head-end: receives meter readings and audit entries over "
        "MQTT, checks they are authentic and fresh, stores them and acknowledges them.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default="headend.sqlite",
                        help="the head-end database (default: headend.sqlite)")
    common.add_argument("--json", action="store_true", help="print JSON for machines")
    s = sub.add_parser("serve", parents=[common], help="receive, check, store and acknowledge")
    s.add_argument("--broker", required=True, metavar="HOST:PORT", help="the MQTT broker")
    s.add_argument("--keys", metavar="KEYS.json",
                   help='extra meter keys {"<system title hex>": {"ek": hex, "ak": hex}}')
    s.add_argument("--once-idle", type=float, metavar="SECONDS",
                   help="stop after SECONDS without a message (default: run until Ctrl-C)")
    s.add_argument("--firmware", metavar="DIR",
                   help="send DIR/<system title>.pkg to that meter over the link")
    s.add_argument("--client-id", default="headend-OPHE0001",
                   help="MQTT client id; keep it fixed so the broker holds messages while the "
                   "head-end is away (only one head-end may use it at a time)")
    k = sub.add_parser("keys", help="the operator's meter keys (fingerprints only are shown)")
    ksub = k.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    ka = ksub.add_parser("add", parents=[common], help="store a meter's EK and AK",
                         description="Store a meter's keys in the head-end database. Keys "
                         "typed here stay in the shell history; in production an HSM holds "
                         "them and the head-end only asks it to decrypt and seal.")
    ka.add_argument("--file", metavar="KEYS.json",
                    help="a meter's keys file (the commissioning kit's keys.json)")
    ka.add_argument("--system-title", metavar="HEX", help="8 bytes, 16 hex digits")
    ka.add_argument("--ek", metavar="HEX", help="encryption key, 16 bytes")
    ka.add_argument("--ak", metavar="HEX", help="authentication key, 16 bytes")
    ka.add_argument("--replace", action="store_true", help="replace the meter's keys (rotation)")
    ksub.add_parser("list", parents=[common], help="meters with keys, with key fingerprints")
    e = sub.add_parser("export", parents=[common], help="a meter's readings as CSV (kWh, UTC)")
    e.add_argument("--meter", required=True, metavar="HEX", help="the meter's system title")
    e.add_argument("--csv", required=True, metavar="OUT.csv", help="output file, - for stdout")
    sub.add_parser("status", parents=[common],
                   help="per meter: readings, counters, replays, forgeries, chain problems")
    fl = sub.add_parser("fleet", parents=[common],
                        help="the fleet sovereignty report: who controls each meter")
    fl.add_argument("--format", choices=("text", "json", "csv", "html"), default="text")
    fl.add_argument("--out", metavar="FILE", help="write it here (default: print it)")
    c = sub.add_parser("commission", parents=[common],
                       help="commissioning kit: new keys for a meter, registered here, and the "
                       "technician's bundle")
    c.add_argument("--meter-id", required=True, help="the meter's id (its P1 equipment id)")
    c.add_argument("--policy", required=True, help="the operator's trust policy, root-signed")
    c.add_argument("--broker", metavar="HOST:PORT", help="the broker the meter connects to")
    c.add_argument("--interval-s", type=int, default=86400,
                   help="seconds between uplink sessions (900..604800, default 86400)")
    c.add_argument("--ca", metavar="CA.pem", help="the CA the broker's certificate chains to")
    c.add_argument("--out", required=True, metavar="DIR", help="folder for the bundle")
    s2 = sub.add_parser("send", parents=[common],
                        help="queue a signed command token for its meter (sent in its sessions)")
    s2.add_argument("token", help="a token from python -m tools.command, signed")
    sub.add_parser("commands", parents=[common],
                   help="queued commands and what the meters answered")
    r = sub.add_parser("rotate-keys", parents=[common],
                       help="new uplink keys for a meter as an unsigned install-keys token")
    r.add_argument("--meter-id", required=True, help="the meter's id")
    r.add_argument("--counter", type=int, required=True,
                   help="the token's counter, above the last the meter applied")
    r.add_argument("--new-kek", action="store_true", help="replace the KEK as well")
    r.add_argument("--expires-days", type=int, default=7, help="token validity (default 7)")
    r.add_argument("--restage", action="store_true",
                   help="replace a rotation that still waits for the meter")
    r.add_argument("--out", required=True, help="token file to write")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    run = {"serve": serve, "keys": keys_cmd, "export": export, "status": status,
           "commission": commission_cmd, "send": send_cmd, "commands": commands_cmd,
           "rotate-keys": rotate_cmd, "fleet": fleet_cmd}[args.command]
    return exit_status("headend", lambda: run(args), refusals=(ToolError, StoreError))


if __name__ == "__main__":
    sys.exit(main())
