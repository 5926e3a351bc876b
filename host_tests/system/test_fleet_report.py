"""The fleet sovereignty report: from the meters' own sealed audit entries, per meter the
control-plane truth test and for the fleet the figures, as JSON, text, CSV and an HTML
page that headless Chromium (Debian's chromium) renders with its charts: the test looks at
the screenshot's pixels, not only at the markup."""
import json
import os
import subprocess
import sys

from PIL import Image

from comms import dlms, payload
from control import audit
from syspkg import require
from tools.headend.cli import HeadEnd
from tools.headend.store import Store
from tools.shared.paths import ROOT

T0 = 1795449600
FP1, FP2 = "1111222233334444", "5555666677778888"
METERING_ID = "0123456789abcdef"
DRIVERS_ID = "fedcba9876543210"
METERS = {  # title: (meter id, ek, ak, audit entries as (event, text))
    "a": ("m-a", [("boot", "calibration stored; metering %s; drivers %s MISMATCH" % (
        METERING_ID, DRIVERS_ID)),
                  ("policy-changed", "commissioned v1 " + FP1),
                  ("update-accepted", "sim 1.2.0 counter 3 for sim-v1 (70 files, 9 bytes) into "
                                      "slot a on trial; signed by operator-release/aaaa1111 "
                                      "vendor/bbbb2222"),
                  ("update-confirmed", "1.2.0 counter 3"),
                  ("readings-consent", "consumer: readings at every session")]),
    "b": ("m-b", [("boot", "metering %s; drivers %s; calibration stored" % (
        METERING_ID, DRIVERS_ID)),
                  ("boot", "calibration stored; metering " + METERING_ID),  # reverted
                  ("policy-changed", "commissioned v1 " + FP1),
                  ("break-glass-on", "#3 via operator-link: storm"),
                  ("operator-link-off", "consumer")]),
    "c": ("m-c", [("boot", "calibration stored; metering " + METERING_ID),
                  ("policy-changed", "commissioned v1 " + FP1),
                  ("policy-changed", "version 2 fingerprint " + FP2)]),
}


def _title(letter):
    return b"OSM\x00\x00\x00\x00" + letter.encode()


def _keys(letter):
    base = ord(letter)
    return bytes([base] * 16), bytes([base + 1] * 16)


def _fleet(db):
    store = Store(db)
    head = HeadEnd(store, clock=lambda: T0 + 7200)
    for letter, (meter_id, entries) in METERS.items():
        title = _title(letter)
        ek, ak = _keys(letter)
        store.add_keys(title.hex(), ek, ak, T0, kek=bytes(16), meter_id=meter_id)
        items, prev = [], audit.ZERO_HASH
        for seq, (event, text) in enumerate(entries, 1):
            raw = audit.encode(prev, T0 + seq, audit.CODE_BY_NAME[event], text)
            if letter == "c" and seq == 2:
                raw = raw[:-1] + b"X"  # an entry edited after the chain was built
            else:
                prev = audit.entry_hash(seq, raw)
            items.append(payload.event(seq, raw))
        for seq in range(1, 9):
            items.append(payload.reading(seq, {"end_s": T0 + 900 * seq, "import_wh": [
                1000 + 40 * seq * seq, 0], "export_wh": [0, 0], "status": 0}))
        report, ack = head.handle("meters/%s/up" % title.hex(),
                                  dlms.seal(title, 1, ek, ak, payload.message(items)))
        assert ack is not None, report
    store.add_keys(_title("d").hex(), *_keys("d"), T0, meter_id="m-d")  # never heard from
    store.close()


def _headend(*args):
    proc = subprocess.run([sys.executable, "-m", "tools.headend"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_each_meters_truth_and_the_fleet_figures(tmp_path):
    db = str(tmp_path / "h.sqlite")
    _fleet(db)
    rep = json.loads(_headend("fleet", "--db", db, "--json"))
    rows = {r["meter_id"]: r for r in rep["meters"]}
    a, b, c, d = rows["m-a"], rows["m-b"], rows["m-c"], rows["m-d"]
    assert (a["firmware"], a["firmware_signed_by"]) == (
        "1.2.0", "operator-release/aaaa1111 vendor/bbbb2222")
    assert (a["readings_consent"], a["break_glass"], a["operator_link"]) == (True, False, "on")
    assert (b["break_glass"], b["operator_link"]) == (True, "off (consumer opt-out)")
    assert (c["policy_version"], c["policy_fingerprint"], c["chain_problems"]) == (2, FP2, 1)
    assert a["metering_module"] == METERING_ID and a["chain_problems"] == 0
    assert a["board_drivers"] == DRIVERS_ID and a["drivers_check"] == "MISMATCH"
    assert b["board_drivers"] is None  # reverted to firmware before the driver identity
    assert d["last_contact_s"] is None and d["break_glass"] is None  # unknown, not assumed
    f = rep["figures"]
    assert (f["meters"], f["heard_from"]) == (4, 3)
    assert f["current_policy"] == {"version": 2, "fingerprint": FP2}
    assert (f["on_current_policy_pct"], f["chain_unbroken_pct"], f["break_glass_off_pct"],
            f["operator_link_on_pct"], f["readings_consent_pct"]) == (
                33.3, 66.7, 66.7, 66.7, 33.3)
    text = _headend("fleet", "--db", db)
    assert "firmware 1.2.0 signed by operator-release/aaaa1111" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    table = _headend("fleet", "--db", db, "--format", "csv").splitlines()
    assert len(table) == 5 and table[0].startswith("meter,meter_id,policy_version")


def _pixels_near(image, rgb, tolerance=40):
    return sum(1 for p in image.get_flattened_data()
               if all(abs(p[i] - rgb[i]) <= tolerance for i in range(3)))


def test_the_html_page_renders_its_charts_in_chromium(tmp_path):
    chromium = require("chromium", "chromium")
    db = str(tmp_path / "h.sqlite")
    _fleet(db)
    page = str(tmp_path / "fleet.html")
    _headend("fleet", "--db", db, "--format", "html", "--out", page)
    with open(page) as f:
        markup = f.read()
    assert "http://" not in markup.split("<svg", 1)[0]  # self-contained: nothing fetched
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--user-data-dir=" + str(tmp_path / "profile"),
             "--window-size=1200,1600"]
    dom = subprocess.run([chromium] + flags + ["--dump-dom", "file://" + page],
                         capture_output=True, text=True, timeout=120)
    assert "Fleet sovereignty report" in dom.stdout and _title("a").hex() in dom.stdout
    shot = str(tmp_path / "fleet.png")
    subprocess.run([chromium] + flags + ["--screenshot=" + shot, "file://" + page],
                   capture_output=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 1600)
    bars = _pixels_near(image, (0x1f, 0x77, 0xb4))  # the figures' bars
    line = _pixels_near(image, (0xd6, 0x27, 0x28))  # the readings' line
    assert bars > 2000, bars
    assert line > 100, line
    # the page is not blank: text in the meter table is dark on white
    assert _pixels_near(image, (0x22, 0x22, 0x22), tolerance=30) > 500
