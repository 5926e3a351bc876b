"""tools.headend end to end: a real mosquitto, the head-end `serve` as the operator runs it,
and test "meters" that seal with the FIRMWARE's codec (comms.dlms, comms.payload) and
publish with paho. The head-end decrypts with dlms-cosem, so each side checks the other.

One scenario runs once per module (the broker, then the head-end, then the meters); each
test states one behaviour of its outcome.
"""
import csv
import hashlib
import io
import json
import os
import queue
import signal
import socket
import threading
import time
from decimal import Decimal

import pytest

import civiltime
from comms import dlms, payload
from comms.uplink import HEADEND_SYSTEM_TITLE
from control import audit
from host_tests.system.support.broker import TIMEOUT_S, Broker, Serve, ok, tool
from tools.headend import cli as headend

mqtt = pytest.importorskip("paho.mqtt.client")

IDLE_S = "3"
T0 = civiltime.utc_seconds(2026, 11, 23)
METER_A = (b"OSM\x00\x00\x00\x00\x0a", bytes(range(16)), bytes(range(16, 32)))
METER_B = (b"OSM\x00\x00\x00\x00\x0b", bytes(range(32, 48)), bytes(range(48, 64)))  # no keys
METER_C = (b"OSM\x00\x00\x00\x00\x0c", bytes(range(64, 80)), bytes(range(80, 96)))
IMPORT_T1_WH = {1: 1000, 2: 1250, 3: 1600, 4: 1600, 5: 2001, 6: 2500, 7: 3000, 8: 3333}


def reading(seq):
    """Readings 1-4 as firmware before the four-quadrant registers sent them (type 1),
    5-8 with them (type 5)."""
    rec = {"end_s": T0 + 900 * seq, "import_wh": [IMPORT_T1_WH[seq], 50 * seq],
           "export_wh": [0, 10 * seq], "status": 1 if seq == 1 else 0}
    if seq >= 5:
        rec["quadrants"] = [7 * seq, 0, 0, 2 * seq, 1100 * seq, 0]
    return payload.reading(seq, rec)


def chain(n, edit=None):
    """n raw audit entries, hash-chained as the meter builds them; edit: the seq whose text
    gets one changed byte AFTER the chain was built (what a compromised meter would send)."""
    entries, prev = [], audit.ZERO_HASH
    for seq in range(1, n + 1):
        entry = audit.encode(prev, T0 + seq, audit.CODE_BY_NAME["boot"], "entry %d" % seq)
        prev = audit.entry_hash(seq, entry)
        entries.append(entry)
    if edit is not None:
        entries[edit - 1] = entries[edit - 1][:-1] + b"X"
    return entries


class Meter:
    """Seals with the firmware's codec, publishes QoS 1, collects what comes back down."""

    def __init__(self, broker, ident):
        self.title, self.ek, self.ak = ident
        self.topic = "meters/%s" % self.title.hex()
        self.acks = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id="meter-" + self.title.hex(),
                                  protocol=mqtt.MQTTv311)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = lambda c, u, m: self.acks.put(m.payload)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.client.subscribe(self.topic + "/down", qos=1)
        assert subscribed.wait(TIMEOUT_S)

    def seal(self, ic, items):
        return dlms.seal(self.title, ic, self.ek, self.ak, payload.message(items))

    def publish(self, apdu):
        self.client.publish(self.topic + "/up", apdu, qos=1).wait_for_publish(TIMEOUT_S)
        return apdu

    def next_ack(self):
        """(head-end title, downlink counter, acked counter, head-end time) of the next ack."""
        title, down_ic, plain = dlms.unseal(self.acks.get(timeout=TIMEOUT_S), self.ek, self.ak)
        return (title, down_ic) + payload.decode_ack(bytes(plain))

    def pending(self):
        return self.acks.qsize()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("headend"))
    broker = Broker(folder)
    db = os.path.join(folder, "headend.sqlite")
    for title, ek, ak in (METER_A, METER_C):
        ok("keys", "add", "--db", db, "--system-title", title.hex(), "--ek", ek.hex(),
           "--ak", ak.hex())
    meters = {}
    try:
        serve = Serve(broker, db, "--once-idle", IDLE_S)
        a, b, c = (Meter(broker, m) for m in (METER_A, METER_B, METER_C))
        meters = {"a": a, "b": b, "c": c}
        events = chain(4)
        first = a.publish(a.seal(10, [reading(k) for k in (1, 2, 3, 4)]
                                 + [payload.event(1, events[0]), payload.event(2, events[1])]))
        acks_a = [a.next_ack()]
        a.publish(a.seal(11, [reading(k) for k in (3, 4, 5, 6)]
                         + [payload.event(3, events[2]), payload.lost(20, 3)]))
        acks_a.append(a.next_ack())
        a.publish(first)  # replayed
        forged = bytearray(a.seal(12, [reading(7)]))
        forged[30] ^= 0x04  # one flipped bit in the ciphertext
        a.publish(bytes(forged))
        b.publish(b.seal(1, [reading(1)]))  # a meter the operator has no keys for
        edited = chain(3, edit=2)  # entry 2 changed after the chain was built
        c.publish(c.seal(1, [payload.event(k + 1, e) for k, e in enumerate(edited)]))
        acks_c = [c.next_ack()]
        c.publish(c.seal(2, [payload.event(1, chain(1)[0][:-1] + b"Z")]))  # entry 1 rewritten
        acks_c.append(c.next_ack())
        a.publish(a.seal(13, [reading(7), payload.event(4, events[3])]))
        acks_a.append(a.next_ack())
        first_run = serve.wait() + (serve.lines,)
        # the head-end is away: the broker keeps this QoS 1 message for its session
        a.publish(a.seal(14, [reading(8)]))
        second = Serve(broker, db, "--once-idle", IDLE_S)
        acks_a.append(a.next_ack())
        second_run = second.wait() + (second.lines,)
        time.sleep(0.3)  # anything wrongly acked would have arrived by now
        yield {"db": db, "folder": folder, "acks_a": acks_a, "acks_c": acks_c,
               "pending": {k: m.pending() for k, m in meters.items()},
               "first_run": first_run, "second_run": second_run,
               "status": json.loads(ok("status", "--db", db, "--json"))}
    finally:
        for m in meters.values():
            m.close()
        broker.stop()


def _meter(scenario, ident):
    return next(m for m in scenario["status"]["meters"] if m["meter"] == ident[0].hex())


def _problems(scenario, ident):
    return [(p["seq"], p["kind"]) for p in scenario["status"]["chain_problems"]
            if p["meter"] == ident[0].hex()]


def _readings(db, title):
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT seq, import_t1_wh, COUNT(*) FROM readings WHERE title=? "
                            "GROUP BY seq ORDER BY seq", (title.hex(),)).fetchall()


def test_serve_stops_cleanly_when_idle(scenario):
    for code, stderr, lines in (scenario["first_run"], scenario["second_run"]):
        assert code == 0, stderr
        assert lines[-1]["event"] == "stopped"


def test_readings_are_stored_exactly_once(scenario):
    rows = _readings(scenario["db"], METER_A[0])
    assert [(seq, wh) for seq, wh, _n in rows] == sorted(IMPORT_T1_WH.items())
    assert all(n == 1 for _s, _wh, n in rows)
    assert _meter(scenario, METER_A)["duplicates"] == 2  # readings 3 and 4, sent twice


def test_each_accepted_message_is_acked_with_its_counter(scenario):
    acks = scenario["acks_a"]
    assert [ack[2] for ack in acks] == [10, 11, 13, 14]
    assert all(ack[0] == HEADEND_SYSTEM_TITLE == headend.HEADEND_SYSTEM_TITLE for ack in acks)
    assert all(abs(ack[3] - time.time()) < 120 for ack in acks)  # head-end UTC time


def test_the_head_ends_own_counter_strictly_increases(scenario):
    down = [ack[1] for ack in scenario["acks_a"] + scenario["acks_c"]]
    assert sorted(down) == sorted(set(down)) and min(down) >= 1
    assert scenario["status"]["downlink_counter"] == max(down)


def test_a_replayed_message_is_counted_and_not_acked(scenario):
    assert _meter(scenario, METER_A)["replays"] == 1
    assert scenario["pending"]["a"] == 0  # no ack beyond the four accepted messages
    rejected = [e for e in scenario["first_run"][2] if e["event"] == "rejected"]
    assert {"reason": "replay", "counter": 10} in [
        {"reason": e["reason"], "counter": e["counter"]} for e in rejected]


def test_a_flipped_bit_is_counted_as_a_forgery(scenario):
    assert _meter(scenario, METER_A)["forgeries"] == 1
    reasons = [r["reason"] for r in scenario["status"]["recent_rejects"]
               if r["meter"] == METER_A[0].hex()]
    assert sorted(reasons) == ["bad-tag", "replay"]


def test_an_unknown_meter_is_counted_and_never_acked(scenario):
    b = _meter(scenario, METER_B)
    assert (b["known"], b["forgeries"], b["readings"]) == (False, 1, 0)
    assert scenario["pending"]["b"] == 0


def test_a_clean_audit_chain_across_messages_has_no_problem(scenario):
    assert _meter(scenario, METER_A)["events"] == 4
    assert _problems(scenario, METER_A) == []


def test_an_edited_audit_entry_breaks_the_chain_and_is_flagged(scenario):
    assert (3, "broken-chain") in _problems(scenario, METER_C)  # 3 no longer follows 2


def test_an_entry_resent_with_other_content_is_flagged_and_the_original_kept(scenario):
    assert (1, "edited") in _problems(scenario, METER_C)
    assert _problems(scenario, METER_C) == [(3, "broken-chain"), (1, "edited")]


def test_lost_readings_notices_are_stored(scenario):
    assert _meter(scenario, METER_A)["readings_lost"] == 3


def test_queued_uplink_is_delivered_when_the_head_end_comes_back(scenario):
    accepted = [e for e in scenario["second_run"][2] if e["event"] == "accepted"]
    assert [e["counter"] for e in accepted] == [14]


def test_export_gives_kwh_and_per_interval_deltas(scenario):
    text = ok("export", "--db", scenario["db"], "--meter", METER_A[0].hex(), "--csv", "-")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["seq"]) for r in rows] == list(range(1, 9))
    assert rows[0]["interval_end_utc"] == "2026-11-23T00:15:00Z"
    assert rows[0]["status"] == "summer" and rows[1]["status"] == ""
    for r in rows:
        seq = int(r["seq"])
        assert Decimal(r["import_t1_kwh"]) == Decimal(IMPORT_T1_WH[seq]) / 1000
        assert Decimal(r["export_t2_kwh"]) == Decimal(10 * seq) / 1000
    assert rows[0]["delta_import_t1_kwh"] == ""  # nothing before the first reading
    deltas = [Decimal(r["delta_import_t1_kwh"]) for r in rows[1:]]
    assert deltas == [Decimal(IMPORT_T1_WH[s] - IMPORT_T1_WH[s - 1]) / 1000
                      for s in range(2, 9)]
    assert deltas[2] == 0  # an interval without consumption
    # the four-quadrant registers, cumulative: empty where the reading has none (type 1)
    for r in rows:
        seq = int(r["seq"])
        if seq < 5:
            assert r["reactive_q1_kvarh"] == r["apparent_import_kvah"] == ""
        else:
            assert Decimal(r["reactive_q1_kvarh"]) == Decimal(7 * seq) / 1000
            assert Decimal(r["reactive_q4_kvarh"]) == Decimal(2 * seq) / 1000
            assert Decimal(r["apparent_import_kvah"]) == Decimal(1100 * seq) / 1000
            assert Decimal(r["reactive_q2_kvarh"]) == Decimal(r["apparent_export_kvah"]) == 0


def test_export_to_a_file_reports_what_it_wrote(scenario):
    out = os.path.join(scenario["folder"], "a.csv")
    summary = json.loads(ok("export", "--db", scenario["db"], "--meter", METER_A[0].hex(),
                            "--csv", out, "--json"))
    assert summary["readings"] == 8
    with open(out) as f:
        assert len(f.read().splitlines()) == 9


def test_keys_list_shows_fingerprints_and_never_the_keys(scenario):
    shown = ok("keys", "list", "--db", scenario["db"]) + ok("keys", "list", "--db",
                                                            scenario["db"], "--json")
    for _title, ek, ak in (METER_A, METER_C):
        for key in (ek, ak):
            assert key.hex() not in shown.lower()
            assert hashlib.sha256(key).hexdigest()[:16] in shown
    assert [k["meter"] for k in json.loads(shown.splitlines()[-1])] == [
        METER_A[0].hex(), METER_C[0].hex()]


def test_status_text_names_each_meter_and_the_chain_problems(scenario):
    text = ok("status", "--db", scenario["db"])
    assert METER_B[0].hex() in text and "broken-chain" in text
    assert max(len(line) for line in text.splitlines()) <= 80  # an 80-column terminal


def test_bad_input_is_one_clear_line_without_traceback(tmp_path):
    db = str(tmp_path / "h.sqlite")
    for args in (("keys", "add", "--db", db, "--system-title", "zz", "--ek", "00", "--ak", "00"),
                 ("status", "--db", str(tmp_path / "missing.sqlite")),
                 ("serve", "--db", db, "--broker", "nonsense:port")):
        proc = tool(*args)
        assert proc.returncode == 1
        assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("headend: ")


def test_an_unreachable_broker_fails_instead_of_idling_to_success(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = tool("serve", "--db", str(tmp_path / "h.sqlite"), "--broker", "127.0.0.1:%d" % port,
                "--once-idle", "1")
    assert proc.returncode == 1 and "could not reach the MQTT broker" in proc.stderr


def test_serve_reconnects_after_a_broker_restart(tmp_path):
    broker = Broker(str(tmp_path))
    db = str(tmp_path / "h.sqlite")
    title, ek, ak = METER_A
    ok("keys", "add", "--db", db, "--system-title", title.hex(), "--ek", ek.hex(),
       "--ak", ak.hex())
    serve = Serve(broker, db)
    try:
        broker.stop()
        broker.start()
        deadline = time.monotonic() + TIMEOUT_S
        while sum(e["event"] == "subscribed" for e in serve.lines) < 2:
            assert time.monotonic() < deadline, serve.lines
            time.sleep(0.05)
        meter = Meter(broker, METER_A)
        meter.publish(meter.seal(1, [reading(1)]))
        assert meter.next_ack()[2] == 1
        meter.close()
    finally:
        serve.proc.send_signal(signal.SIGTERM)
        code, stderr = serve.wait()
        broker.stop()
    assert code == 0, stderr
    assert any(e["event"] == "disconnected" for e in serve.lines)


def test_two_head_ends_with_one_client_id_are_found_out(tmp_path):
    """Two head-ends with the same client id take the broker session from each other in
    turn, each missing what arrives meanwhile: the head-end notices and stops, naming the
    client id, instead of carrying on half deaf."""
    broker = Broker(str(tmp_path))
    first = Serve(broker, str(tmp_path / "a.sqlite"))
    second = Serve(broker, str(tmp_path / "b.sqlite"))
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while first.proc.poll() is None and second.proc.poll() is None:
            assert time.monotonic() < deadline, "both head-ends ran on with one client id"
            time.sleep(0.2)
    finally:
        for serve in (first, second):
            if serve.proc.poll() is None:
                serve.proc.send_signal(signal.SIGTERM)
        results = [serve.wait() for serve in (first, second)]
        broker.stop()
    stopped = [(code, err) for code, err in results if code == 1]
    assert stopped, results
    assert "another head-end is probably using client id 'headend-OPHE0001'" in stopped[0][1]


def test_the_kits_keys_file_is_the_one_key_file_format(tmp_path):
    """The commissioning kit's keys.json (what the meter installs) is what `keys add
    --file` and `serve --keys` read: one format on both sides."""
    from tools.headend.store import load_keys_file

    title, ek, ak = METER_A
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"meter_id": "m-a", "system_title": title.hex(),
                                "kek": "11" * 16, "ek": ek.hex(), "ak": ak.hex()}))
    assert load_keys_file(str(path)) == {title.hex(): (ek, ak)}
    db = str(tmp_path / "h.sqlite")
    ok("keys", "add", "--db", db, "--file", str(path))
    rows = json.loads(ok("keys", "list", "--db", db, "--json"))
    assert [(r["meter"], r["meter_id"], r["kek_held"]) for r in rows] == [
        (title.hex(), "m-a", True)]
    proc = tool("keys", "add", "--db", db)
    assert proc.returncode == 1 and "needs --file KEYS.json" in proc.stderr
