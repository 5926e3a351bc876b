"""The head-end's SQLite store: operator keys, per-meter counters, readings, audit entries,
lost-readings notices, chain problems and the head-end's own downlink counter.

Every message is applied in one transaction, so a crash never leaves half a message and
never lets the downlink counter repeat. Keys never leave this module except to decrypt.
"""
import hashlib
import re
import sqlite3

from tools.shared.files import read_json

SCHEMA_VERSION = 3
MAX_COUNTER = 0xFFFFFFFF
_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (title TEXT PRIMARY KEY, ek BLOB NOT NULL, ak BLOB NOT NULL,
    added_s INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meters (title TEXT PRIMARY KEY, last_ic INTEGER NOT NULL DEFAULT 0,
    messages INTEGER NOT NULL DEFAULT 0, replays INTEGER NOT NULL DEFAULT 0,
    forgeries INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0,
    last_seen_s INTEGER);
CREATE TABLE IF NOT EXISTS readings (title TEXT NOT NULL, seq INTEGER NOT NULL,
    end_s INTEGER NOT NULL, import_t1_wh INTEGER NOT NULL, import_t2_wh INTEGER NOT NULL,
    export_t1_wh INTEGER NOT NULL, export_t2_wh INTEGER NOT NULL, status INTEGER NOT NULL,
    ic INTEGER NOT NULL, received_s INTEGER NOT NULL, PRIMARY KEY (title, seq));
CREATE TABLE IF NOT EXISTS events (title TEXT NOT NULL, seq INTEGER NOT NULL, raw BLOB NOT NULL,
    time_s INTEGER NOT NULL, code INTEGER NOT NULL, text TEXT NOT NULL, ic INTEGER NOT NULL,
    received_s INTEGER NOT NULL, PRIMARY KEY (title, seq));
CREATE TABLE IF NOT EXISTS lost (title TEXT NOT NULL, first_seq INTEGER NOT NULL,
    count INTEGER NOT NULL, ic INTEGER NOT NULL, received_s INTEGER NOT NULL,
    PRIMARY KEY (title, first_seq));
CREATE TABLE IF NOT EXISTS chain_problems (id INTEGER PRIMARY KEY, title TEXT NOT NULL,
    seq INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL, found_s INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rejects (id INTEGER PRIMARY KEY, title TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, ic INTEGER, received_s INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS commands (id INTEGER PRIMARY KEY, title TEXT NOT NULL,
    command TEXT NOT NULL, counter INTEGER NOT NULL, token BLOB NOT NULL,
    queued_s INTEGER NOT NULL, sent_s INTEGER, sends INTEGER NOT NULL DEFAULT 0,
    result TEXT, detail TEXT, answered_s INTEGER, UNIQUE (title, counter));
"""
# schema 1 -> 2: the KEK (commissioning kit), the meter id, and keys waiting for the meter
_KEYS_V2 = (("kek", "BLOB"), ("meter_id", "TEXT"), ("next_ek", "BLOB"), ("next_ak", "BLOB"),
            ("next_kek", "BLOB"), ("rotated_s", "INTEGER"))
# schema 2 -> 3: the four-quadrant registers of a reading (payload type 5); NULL in readings
# from meters whose firmware predates them
QUADRANT_COLUMNS = ("reactive_q1_varh", "reactive_q2_varh", "reactive_q3_varh",
                    "reactive_q4_varh", "apparent_import_vah", "apparent_export_vah")
_READING_COLUMNS = ("end_s", "import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh",
                    "status") + QUADRANT_COLUMNS
RESEND_S = 120  # an unanswered command goes again in a session this much later
# the meter's audit codes for a command's outcome (control/audit.py CODES)
COMMAND_APPLIED = 19
TOKEN_REFUSED = 13
BREAK_GLASS = (15, 16)
ANSWER_CODES = (COMMAND_APPLIED, TOKEN_REFUSED) + BREAK_GLASS
# "<command or reason> #<counter> via operator-link: ...": the token the entry answers
_ANSWER = re.compile(r"^(?:[\w-]+ )?#(\d+) via operator-link:")
MAX_SENDS = 5  # sent this often without an answer: given up on, shown as "unanswered"
# a replayed APDU is authentic but stale; everything else refused is a forgery
REPLAY = "replay"


class StoreError(Exception):
    pass


def fingerprint(key):
    """First 8 bytes of SHA-256, hex: the same fingerprint the meter shows (comms.keys)."""
    return hashlib.sha256(key).digest()[:8].hex()


def parse_hex(value, n_bytes, what):
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise StoreError("%s must be hexadecimal" % what)
    if len(raw) != n_bytes:
        raise StoreError("%s must be %d bytes (%d hex digits), got %d"
                         % (what, n_bytes, 2 * n_bytes, len(raw)))
    return raw


def load_keys_file(path):
    """{title hex: (ek, ak)} from {"<system title hex>": {"ek": hex, "ak": hex}, ...}, or
    from one meter's kit file (the commissioning kit's keys.json, the file the meter
    installs): {"system_title": hex, "ek": hex, "ak": hex, "kek": hex, "meter_id": ...}."""
    if not path:
        return {}
    data = read_json(path, "keys file ", refusal=StoreError)
    if isinstance(data, dict) and "system_title" in data:
        data = {data["system_title"]: data}
    if not isinstance(data, dict):
        raise StoreError('keys file %s must map system title to {"ek": .., "ak": ..}' % path)
    keys = {}
    for title, entry in data.items():
        if not isinstance(entry, dict) or not {"ek", "ak"} <= set(entry):
            raise StoreError("keys file %s: %s needs ek and ak" % (path, title))
        keys[parse_hex(title, 8, "system title").hex()] = (
            parse_hex(entry["ek"], 16, "EK of " + title),
            parse_hex(entry["ak"], 16, "AK of " + title))
    return keys


class Store:
    def __init__(self, path):
        try:
            # one writer thread at a time (paho's); the main thread only reads at the end
            self.db = sqlite3.connect(path, check_same_thread=False, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, 2, SCHEMA_VERSION):  # 1, 2: upgraded below
                raise StoreError("%s has schema version %d, this head-end knows %d"
                                 % (path, version, SCHEMA_VERSION))
            with self.db:
                self.db.executescript(_SCHEMA)
                have = [row[1] for row in self.db.execute("PRAGMA table_info(keys)")]
                for name, kind in _KEYS_V2:
                    if name not in have:
                        self.db.execute("ALTER TABLE keys ADD COLUMN %s %s" % (name, kind))
                have = [row[1] for row in self.db.execute("PRAGMA table_info(readings)")]
                for name in QUADRANT_COLUMNS:
                    if name not in have:
                        self.db.execute("ALTER TABLE readings ADD COLUMN %s INTEGER" % name)
                self.db.execute("PRAGMA user_version=%d" % SCHEMA_VERSION)
        except sqlite3.Error as exc:
            raise StoreError("cannot use database %s: %s" % (path, exc))

    def close(self):
        self.db.close()

    # --- keys (in production an HSM holds them and only decrypts/encrypts on request) ---
    def add_keys(self, title, ek, ak, now_s, replace=False, kek=None, meter_id=None):
        with self.db:
            if not replace and self.keys(title) is not None:
                raise StoreError("meter %s already has keys (use --replace to rotate them)"
                                 % title)
            # the meter's invocation counter carries on under new keys: last_ic is kept; a
            # replacement keeps the KEK and meter id it does not restate, and drops a staged
            # rotation (those keys were wrapped for keys that are gone)
            self.db.execute("INSERT INTO keys (title, ek, ak, added_s, kek, meter_id) VALUES "
                            "(?, ?, ?, ?, ?, ?) ON CONFLICT(title) DO UPDATE SET ek=excluded.ek, "
                            "ak=excluded.ak, added_s=excluded.added_s, "
                            "kek=COALESCE(excluded.kek, kek), "
                            "meter_id=COALESCE(excluded.meter_id, meter_id), next_ek=NULL, "
                            "next_ak=NULL, next_kek=NULL",
                            (title, ek, ak, now_s, kek, meter_id))

    def keys(self, title):
        row = self.db.execute("SELECT ek, ak FROM keys WHERE title=?", (title,)).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def meter_keys(self, title):
        """{ek, ak, kek, meter_id, next_ek, next_ak, next_kek} (None where unknown) or None."""
        row = self.db.execute("SELECT ek, ak, kek, meter_id, next_ek, next_ak, next_kek FROM "
                              "keys WHERE title=?", (title,)).fetchone()
        if row is None:
            return None
        names = ("ek", "ak", "kek", "meter_id", "next_ek", "next_ak", "next_kek")
        return {n: bytes(v) if isinstance(v, (bytes, memoryview)) else v
                for n, v in zip(names, row)}

    def next_keys(self, title):
        row = self.db.execute("SELECT next_ek, next_ak FROM keys WHERE title=? AND next_ek IS "
                              "NOT NULL", (title,)).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def stage_keys(self, title, ek, ak, kek):
        """Keys an install-keys token carries to the meter: used once the meter seals with
        them (promote_keys), the current ones until then."""
        with self.db:
            cur = self.db.execute("UPDATE keys SET next_ek=?, next_ak=?, next_kek=? WHERE title=?",
                                  (ek, ak, kek, title))
            if not cur.rowcount:
                raise StoreError("meter %s has no keys to rotate" % title)

    def promote_keys(self, title, now_s):
        """The meter sealed a message under the staged keys: they are its keys now."""
        with self.db:
            self.db.execute("UPDATE keys SET ek=next_ek, ak=next_ak, kek=COALESCE(next_kek, kek),"
                            " next_ek=NULL, next_ak=NULL, next_kek=NULL, rotated_s=? "
                            "WHERE title=? AND next_ek IS NOT NULL", (now_s, title))

    def key_list(self):
        rows = self.db.execute("SELECT title, ek, ak, added_s, meter_id, kek IS NOT NULL, "
                               "next_ek IS NOT NULL, rotated_s FROM keys ORDER BY title")
        return [{"meter": t, "ek_fingerprint": fingerprint(ek), "ak_fingerprint": fingerprint(ak),
                 "added_s": s, "meter_id": meter_id, "kek_held": bool(kek),
                 "rotation_pending": bool(pending), "rotated_s": rotated}
                for t, ek, ak, s, meter_id, kek, pending, rotated in rows]

    # --- commands for the meters (operator-signed tokens, sent in the meter's session) --
    def queue_command(self, title, command, counter, token, now_s):
        try:
            with self.db:
                self.db.execute("INSERT INTO commands (title, command, counter, token, queued_s) "
                                "VALUES (?, ?, ?, ?, ?)", (title, command, counter, token, now_s))
        except sqlite3.IntegrityError:
            raise StoreError("a command with counter %d is queued for meter %s already"
                             % (counter, title))

    def unanswered_commands(self, title, now_s):
        """[(id, token)] to send now, in the order they were queued: not yet answered by
        the meter's audit log, and not sent in the last RESEND_S (once per session: a
        session's messages come seconds apart, and the answer comes in the next session)."""
        with self.db:  # sent MAX_SENDS times and never answered: stop, and say so
            self.db.execute("UPDATE commands SET result='unanswered', answered_s=? WHERE "
                            "title=? AND result IS NULL AND sends>=?", (now_s, title, MAX_SENDS))
        return [(i, bytes(t)) for i, t in self.db.execute(
            "SELECT id, token FROM commands WHERE title=? AND result IS NULL AND "
            "(sent_s IS NULL OR sent_s <= ?) ORDER BY id", (title, now_s - RESEND_S))]

    def waiting_install_keys(self, title):
        """[(id, counter, sent)] of install-keys commands the meter has not answered."""
        return [(i, c, s is not None) for i, c, s in self.db.execute(
            "SELECT id, counter, sent_s FROM commands WHERE title=? AND command='install-keys' "
            "AND result IS NULL", (title,))]

    def supersede(self, ids, now_s):
        with self.db:
            for i in ids:
                self.db.execute("UPDATE commands SET result='superseded', answered_s=? "
                                "WHERE id=? AND sent_s IS NULL", (now_s, i))

    def mark_sent(self, ids, now_s):
        with self.db:
            for i in ids:
                self.db.execute("UPDATE commands SET sent_s=?, sends=sends+1 WHERE id=?",
                                (now_s, i))

    def command_list(self, title=None):
        sql = ("SELECT id, title, command, counter, queued_s, sent_s, sends, result, detail, "
               "answered_s FROM commands%s ORDER BY id" % (" WHERE title=?" if title else ""))
        names = ("id", "meter", "command", "counter", "queued_s", "sent_s", "sends", "result",
                 "detail", "answered_s")
        return [dict(zip(names, row)) for row in self.db.execute(sql, (title,) if title else ())]

    # --- per-meter counters -----------------------------------------------------------
    def _meter(self, title):
        self.db.execute("INSERT OR IGNORE INTO meters (title) VALUES (?)", (title,))

    def last_ic(self, title):
        row = self.db.execute("SELECT last_ic FROM meters WHERE title=?", (title,)).fetchone()
        return 0 if row is None else row[0]

    def reject(self, title, reason, detail, ic, now_s):
        column = "replays" if reason == REPLAY else "forgeries"
        with self.db:
            self._meter(title)
            self.db.execute("UPDATE meters SET %s=%s+1 WHERE title=?" % (column, column),
                            (title,))
            self.db.execute("INSERT INTO rejects (title, reason, detail, ic, received_s) "
                            "VALUES (?, ?, ?, ?, ?)", (title, reason, detail[:200], ic, now_s))

    # --- one accepted message, in one transaction ---------------------------------------
    def accept(self, title, ic, items, now_s, check_event):
        """Stores the items; returns (counts, downlink counter for the ack).
        check_event(previous (seq, raw) or None, seq, raw) -> None or (kind, detail)."""
        counts = {"readings": 0, "events": 0, "lost": 0, "duplicates": 0, "problems": 0}
        with self.db:
            self._meter(title)
            self.db.execute("UPDATE meters SET last_ic=?, messages=messages+1, last_seen_s=? "
                            "WHERE title=?", (ic, now_s, title))
            for item in items:
                getattr(self, "_store_" + item["type"])(title, ic, item, now_s, counts,
                                                       check_event)
            self.db.execute("UPDATE meters SET duplicates=duplicates+? WHERE title=?",
                            (counts["duplicates"], title))
            downlink_ic = self._next_downlink_ic()
        return counts, downlink_ic

    def _problem(self, title, seq, kind, detail, now_s, counts):
        counts["problems"] += 1
        self.db.execute("INSERT INTO chain_problems (title, seq, kind, detail, found_s) "
                        "VALUES (?, ?, ?, ?, ?)", (title, seq, kind, detail, now_s))

    def _store_reading(self, title, ic, r, now_s, counts, _check):
        quadrants = (tuple(r["reactive_varh"]) + tuple(r["apparent_vah"])
                     if "reactive_varh" in r else (None,) * len(QUADRANT_COLUMNS))
        values = (r["end_s"], r["import_wh"][0], r["import_wh"][1], r["export_wh"][0],
                  r["export_wh"][1], r["status"]) + quadrants
        cur = self.db.execute("INSERT OR IGNORE INTO readings (title, seq, %s, ic, received_s) "
                              "VALUES (%s)" % (", ".join(_READING_COLUMNS),
                                               ", ".join("?" * (len(values) + 4))),
                              (title, r["seq"]) + values + (ic, now_s))
        if cur.rowcount:
            counts["readings"] += 1
            return
        counts["duplicates"] += 1
        old = self.db.execute("SELECT %s FROM readings WHERE title=? AND seq=?"
                              % ", ".join(_READING_COLUMNS), (title, r["seq"])).fetchone()
        if tuple(old) != values:  # the meter re-sent history with other values
            self._problem(title, r["seq"], "reading-changed",
                          "reading %d re-sent with other values" % r["seq"], now_s, counts)

    def _store_event(self, title, ic, e, now_s, counts, check_event):
        seq, raw = e["seq"], e["raw"]
        row = self.db.execute("SELECT raw FROM events WHERE title=? AND seq=?",
                              (title, seq)).fetchone()
        if row is not None:
            counts["duplicates"] += 1
            if bytes(row[0]) != raw:  # the original stays; the edit is the finding
                self._problem(title, seq, "edited",
                              "entry %d re-sent with different content" % seq, now_s, counts)
            return
        prev = self.db.execute("SELECT seq, raw FROM events WHERE title=? AND seq<? "
                               "ORDER BY seq DESC LIMIT 1", (title, seq)).fetchone()
        problem = check_event(None if prev is None else (prev[0], bytes(prev[1])), seq, raw)
        if problem is not None:
            self._problem(title, seq, problem[0], problem[1], now_s, counts)
        self.db.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)",
                        (title, seq, raw, e["time_s"], e["code"], e["text"], ic, now_s))
        counts["events"] += 1
        match = _ANSWER.match(e["text"]) if e["code"] in ANSWER_CODES else None
        if match is not None:
            self._answer(title, int(match.group(1)), e, now_s, counts)

    def _answer(self, title, counter, e, now_s, counts):
        """The meter's audit entry for a command that came over the link, naming the
        token's counter. The first answer counts: a token sent again after it applied is
        refused as replayed, which changes nothing. An entry that names no counter (a
        token refused before its counter could be read: anyone may publish junk on the
        command topic) answers nothing."""
        row = self.db.execute("SELECT id FROM commands WHERE title=? AND counter=? AND "
                              "result IS NULL", (title, counter)).fetchone()
        if row is None:
            return
        applied = e["code"] != TOKEN_REFUSED
        self.db.execute("UPDATE commands SET result=?, detail=?, answered_s=? WHERE id=?",
                        ("applied" if applied else "refused", e["text"][:200], now_s, row[0]))
        counts["answers"] = counts.get("answers", 0) + 1

    def _store_fw_result(self, title, ic, item, now_s, counts, _check):
        """A firmware verdict: reported to the firmware sender (serve), not stored; the
        meter's audit log, which is stored, holds the same as update-accepted/-rejected."""
        counts["firmware_results"] = counts.get("firmware_results", 0) + 1

    def _store_lost(self, title, ic, item, now_s, counts, _check):
        cur = self.db.execute("INSERT OR IGNORE INTO lost VALUES (?,?,?,?,?)",
                              (title, item["first_seq"], item["count"], ic, now_s))
        counts["lost" if cur.rowcount else "duplicates"] += 1

    def _next_downlink_ic(self):
        """The head-end's own invocation counter: used once, committed with the message."""
        row = self.db.execute("SELECT value FROM state WHERE name='downlink_ic'").fetchone()
        value = (row[0] if row else 0) + 1
        if value > MAX_COUNTER:
            raise StoreError("downlink invocation counter exhausted: new keys are needed")
        self.db.execute("INSERT OR REPLACE INTO state VALUES ('downlink_ic', ?)", (value,))
        return value

    # --- reports ------------------------------------------------------------------------
    def status(self):
        meters = []
        rows = self.db.execute(
            "SELECT m.title, m.last_ic, m.messages, m.replays, m.forgeries, m.duplicates, "
            "m.last_seen_s, (SELECT COUNT(*) FROM readings r WHERE r.title=m.title), "
            "(SELECT MAX(end_s) FROM readings r WHERE r.title=m.title), "
            "(SELECT COUNT(*) FROM events e WHERE e.title=m.title), "
            "(SELECT COALESCE(SUM(count), 0) FROM lost l WHERE l.title=m.title), "
            "(SELECT COUNT(*) FROM chain_problems p WHERE p.title=m.title), "
            "(SELECT COUNT(*) FROM keys k WHERE k.title=m.title) "
            "FROM meters m ORDER BY m.title").fetchall()
        names = ("meter", "last_counter", "messages", "replays", "forgeries", "duplicates",
                 "last_seen_s", "readings", "last_reading_s", "events", "readings_lost",
                 "chain_problems", "known")
        for row in rows:
            meter = dict(zip(names, row))
            meter["known"] = bool(meter["known"])
            meters.append(meter)
        problems = [dict(zip(("meter", "seq", "kind", "detail", "found_s"), row))
                    for row in self.db.execute("SELECT title, seq, kind, detail, found_s "
                                               "FROM chain_problems ORDER BY id")]
        rejects = [dict(zip(("meter", "reason", "detail", "counter", "received_s"), row))
                   for row in self.db.execute("SELECT title, reason, detail, ic, received_s "
                                              "FROM rejects ORDER BY id DESC LIMIT 20")]
        row = self.db.execute("SELECT value FROM state WHERE name='downlink_ic'").fetchone()
        return {"meters": meters, "chain_problems": problems, "recent_rejects": rejects,
                "downlink_counter": row[0] if row else 0}

    def readings(self, title):
        """(seq, end_s, import T1, T2, export T1, T2 Wh, status) per reading, by seq."""
        return self.db.execute("SELECT seq, end_s, import_t1_wh, import_t2_wh, export_t1_wh, "
                               "export_t2_wh, status FROM readings WHERE title=? ORDER BY seq",
                               (title,)).fetchall()

    def quadrant_readings(self, title):
        """(seq, Q1, Q2, Q3, Q4 varh, apparent import, export VAh) per reading, by seq;
        None in each register of a reading from firmware before them."""
        return self.db.execute("SELECT seq, %s FROM readings WHERE title=? ORDER BY seq"
                               % ", ".join(QUADRANT_COLUMNS), (title,)).fetchall()

    # --- what the fleet report reads ------------------------------------------------------
    def titles(self):
        """Every meter the head-end knows: with keys, or heard from."""
        rows = self.db.execute("SELECT title FROM keys UNION SELECT title FROM meters "
                               "ORDER BY title")
        return [r[0] for r in rows]

    def events(self, title):
        """[(seq, time_s, code, text)] of a meter's audit log as received, oldest first."""
        return self.db.execute("SELECT seq, time_s, code, text FROM events WHERE title=? "
                               "ORDER BY seq", (title,)).fetchall()

    def meter_row(self, title):
        """{last_seen_s, messages, forgeries, replays} or None for a meter never heard from."""
        row = self.db.execute("SELECT last_seen_s, messages, forgeries, replays FROM meters "
                              "WHERE title=?", (title,)).fetchone()
        return None if row is None else dict(zip(("last_seen_s", "messages", "forgeries",
                                                  "replays"), row))

    def key_row(self, title):
        row = self.db.execute("SELECT meter_id, added_s, rotated_s, next_ek IS NOT NULL FROM "
                              "keys WHERE title=?", (title,)).fetchone()
        return None if row is None else dict(zip(("meter_id", "added_s", "rotated_s",
                                                  "rotation_pending"), row))

    def problems(self, title):
        """[(seq, kind, found_s)] of a meter's audit chain problems, oldest first."""
        return self.db.execute("SELECT seq, kind, found_s FROM chain_problems WHERE title=? "
                               "ORDER BY seq", (title,)).fetchall()
