"""The head-end's readings table and the four-quadrant registers (payload type 5): stored
beside the active ones, NULL for readings from firmware before them, a schema 2 database
upgraded in place, and a reading re-sent with other four-quadrant values flagged."""
import sqlite3

from comms import payload
from tools.headend import store as store_mod
from tools.headend.store import QUADRANT_COLUMNS, Store

TITLE = "4f534d0000000001"
NOW = 1795449600


def _items(*readings):
    """The readings as the head-end's decoder gives them, through the firmware's codec."""
    return payload.decode(payload.message([payload.reading(seq, rec) for seq, rec in readings]))


def _rec(seq, quadrants=None):
    rec = {"end_s": NOW + 900 * seq, "import_wh": [100 * seq, 0], "export_wh": [0, 5 * seq],
           "status": 0}
    if quadrants is not None:
        rec["quadrants"] = quadrants
    return rec


def _accept(store, ic, items):
    return store.accept(TITLE, ic, items, NOW + ic, lambda *a: None)[0]


def test_readings_with_and_without_the_four_quadrant_registers_are_stored():
    store = Store(":memory:")
    _accept(store, 1, _items((1, _rec(1)), (2, _rec(2, [7, 0, 1, 3, 250, 4]))))
    assert store.readings(TITLE) == [(1, NOW + 900, 100, 0, 0, 5, 0),
                                     (2, NOW + 1800, 200, 0, 0, 10, 0)]
    assert store.quadrant_readings(TITLE) == [(1,) + (None,) * 6, (2, 7, 0, 1, 3, 250, 4)]


def test_a_reading_resent_with_other_four_quadrant_values_is_flagged_and_kept():
    store = Store(":memory:")
    _accept(store, 1, _items((1, _rec(1, [7, 0, 0, 0, 250, 0]))))
    counts = _accept(store, 2, _items((1, _rec(1, [7, 0, 0, 0, 251, 0]))))
    assert counts["duplicates"] == 1 and counts["problems"] == 1
    assert [tuple(p) for p in store.db.execute("SELECT seq, kind FROM chain_problems")] == [
        (1, "reading-changed")]
    assert store.quadrant_readings(TITLE) == [(1, 7, 0, 0, 0, 250, 0)]  # the original
    counts = _accept(store, 3, _items((1, _rec(1, [7, 0, 0, 0, 250, 0]))))
    assert counts["duplicates"] == 1 and counts["problems"] == 0  # the same: no finding


def test_a_schema_2_database_is_upgraded_and_keeps_its_readings(tmp_path):
    path = str(tmp_path / "v2.sqlite")
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE readings (title TEXT NOT NULL, seq INTEGER NOT NULL, end_s INTEGER NOT "
        "NULL, import_t1_wh INTEGER NOT NULL, import_t2_wh INTEGER NOT NULL, export_t1_wh "
        "INTEGER NOT NULL, export_t2_wh INTEGER NOT NULL, status INTEGER NOT NULL, ic INTEGER "
        "NOT NULL, received_s INTEGER NOT NULL, PRIMARY KEY (title, seq));"
        "PRAGMA user_version=2;")
    db.execute("INSERT INTO readings VALUES (?, 1, ?, 100, 0, 0, 5, 0, 1, ?)",
               (TITLE, NOW + 900, NOW))
    db.commit()
    db.close()
    store = Store(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION == 3
    columns = [row[1] for row in store.db.execute("PRAGMA table_info(readings)")]
    assert all(name in columns for name in QUADRANT_COLUMNS)
    _accept(store, 2, _items((2, _rec(2, [1, 2, 3, 4, 5, 6]))))
    assert store.quadrant_readings(TITLE) == [(1,) + (None,) * 6, (2, 1, 2, 3, 4, 5, 6)]
    assert [r[0] for r in store.readings(TITLE)] == [1, 2]
