"""The head-end's command queue and key rotation, on its SQLite store: answers matched
only by the counter the meter's audit entry names, an old database upgraded in place,
commands given up on after MAX_SENDS, and a rotation never restaged under a token that
went out."""
import sqlite3

from tools.headend import store as store_mod
from tools.headend.store import Store

TITLE = "4f534d0000000001"
NOW = 1795449600


def _event(seq, code, text):
    return {"type": "event", "seq": seq, "raw": b"%d" % seq, "time_s": NOW + seq,
            "code": code, "text": text}


def _answer(store, seq, code, text):
    store.accept(TITLE, seq, [_event(seq, code, text)], NOW + seq, lambda *a: None)


def test_answers_are_matched_by_counter_and_junk_answers_nothing(tmp_path):
    store = Store(str(tmp_path / "h.sqlite"))
    store.add_keys(TITLE, bytes(16), bytes(16), NOW)
    store.queue_command(TITLE, "set-tariffs", 7, b"token-7", NOW)
    store.queue_command(TITLE, "set-operator-link", 8, b"token-8", NOW)
    assert [t for _i, t in store.unanswered_commands(TITLE, NOW)] == [b"token-7", b"token-8"]
    store.mark_sent([i for i, _t in store.unanswered_commands(TITLE, NOW)], NOW)
    # a token refused before its counter could be read (anyone may publish junk on the
    # command topic) answers none of the operator's commands
    _answer(store, 1, store_mod.TOKEN_REFUSED, "malformed via operator-link: not JSON")
    # nor does a text that only contains the pattern somewhere
    _answer(store, 2, store_mod.COMMAND_APPLIED, "x y #7 via operator-link: forged")
    assert all(c["result"] is None for c in store.command_list())
    _answer(store, 3, store_mod.COMMAND_APPLIED, "set-operator-link #8 via operator-link: ok")
    _answer(store, 4, store_mod.TOKEN_REFUSED, "replayed #8 via operator-link: counter 8")
    _answer(store, 5, store_mod.TOKEN_REFUSED, "expired #7 via operator-link: expired")
    results = {c["counter"]: c["result"] for c in store.command_list()}
    assert results == {7: "refused", 8: "applied"}  # the first answer counts


def test_a_command_never_answered_is_given_up_on(tmp_path):
    store = Store(str(tmp_path / "h.sqlite"))
    store.queue_command(TITLE, "set-tariffs", 3, b"t", NOW)
    for k in range(store_mod.MAX_SENDS):
        now = NOW + k * (store_mod.RESEND_S + 1)
        sends = store.unanswered_commands(TITLE, now)
        assert len(sends) == 1
        store.mark_sent([sends[0][0]], now)
    assert store.unanswered_commands(TITLE, NOW + 10 ** 6) == []
    assert store.command_list()[0]["result"] == "unanswered"


def test_a_schema_1_database_is_upgraded_and_keeps_its_keys(tmp_path):
    path = str(tmp_path / "old.sqlite")
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE keys (title TEXT PRIMARY KEY, ek BLOB NOT NULL, "
                     "ak BLOB NOT NULL, added_s INTEGER NOT NULL);"
                     "PRAGMA user_version=1;")
    db.execute("INSERT INTO keys VALUES (?, ?, ?, ?)", (TITLE, bytes(16), bytes(range(16)), NOW))
    db.commit()
    db.close()
    store = Store(path)
    assert store.keys(TITLE) == (bytes(16), bytes(range(16)))
    store.stage_keys(TITLE, b"e" * 16, b"a" * 16, None)  # the new columns exist
    assert store.next_keys(TITLE) == (b"e" * 16, b"a" * 16)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION


def test_replacing_keys_by_hand_keeps_the_kek_and_drops_a_staged_rotation(tmp_path):
    store = Store(str(tmp_path / "h.sqlite"))
    store.add_keys(TITLE, bytes(16), bytes(16), NOW, kek=b"k" * 16, meter_id="m")
    store.stage_keys(TITLE, b"e" * 16, b"a" * 16, None)
    store.add_keys(TITLE, b"1" * 16, b"2" * 16, NOW + 1, replace=True)
    held = store.meter_keys(TITLE)
    assert (held["kek"], held["meter_id"], held["next_ek"]) == (b"k" * 16, "m", None)


def _rotate(db, out, *extra):
    import subprocess
    import sys

    from tools.shared.paths import ROOT

    return subprocess.run([sys.executable, "-m", "tools.headend", "rotate-keys", "--db", db,
                           "--meter-id", "m-x", "--counter", "5", "--out", out] + list(extra),
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_rotation_is_never_restaged_under_a_token_that_went_out(tmp_path):
    from comms.uplink import system_title

    title = system_title("m-x").hex()
    db = str(tmp_path / "h.sqlite")
    store = Store(db)
    store.add_keys(title, bytes(16), bytes(16), NOW, kek=b"k" * 16, meter_id="m-x")
    store.close()
    first = _rotate(db, str(tmp_path / "one.token"))
    assert first.returncode == 0, first.stderr
    again = _rotate(db, str(tmp_path / "two.token"))
    assert again.returncode == 1 and "--restage" in again.stderr
    store = Store(db)
    store.queue_command(title, "install-keys", 5, b"signed one", NOW)
    store.close()
    restaged = _rotate(db, str(tmp_path / "two.token"), "--restage")  # not sent yet: fine
    assert restaged.returncode == 0, restaged.stderr
    store = Store(db)
    assert store.command_list()[0]["result"] == "superseded"
    store.queue_command(title, "install-keys", 6, b"signed two", NOW)
    store.mark_sent([store.command_list()[1]["id"]], NOW)
    store.close()
    refused = _rotate(db, str(tmp_path / "three.token"), "--restage")
    assert refused.returncode == 1 and "went out and has no answer yet (#6)" in refused.stderr
