"""A meter for the end-to-end uplink test, run by the MicroPython unix port from a staged
device tree (so umqtt.simple comes from lib/ as on a board).

  micropython meter_e2e.py REPO_ROOT DATA_DIR BROKER_PORT START_UTC WINDOWS

Metering time runs 300x faster than wall time (quarter-hours every three windows); the
network waits are real. Prints one JSON line per window with the uplink result, and a
final line with the meter's interval records.
"""
import sys

repo, data_dir, port, start_utc, windows = sys.argv[1:6]
sys.path[:0] = ["", "lib"]  # the staged device tree (cwd), as on a board
sys.path.append(repo + "/host_tests")

import json
import time

from boards import common, sim
from comms.invocation import InvocationCounter
from comms.keys import OperatorKeys
from comms.switch import OperatorLinkSwitch
from comms.uplink import Uplink
from control.audit import AuditLog
from fakes.clock import ClockedADC
from metering.calibration import Calibration
from metering.meter import Meter
from storage.flash import FileStore

from system.support.meter_e2e_keys import AK, EK, KEK, TITLE  # noqa: E402


class HybridClock:
    """Meter time (UTC s) runs fast; ticks and sleeps are real, for network timeouts."""

    trusted = True  # set from the start, as the sim's host clock

    def __init__(self, utc_s):
        self.utc_s = utc_s

    def time(self):
        return self.utc_s

    def advance_s(self, s):
        self.utc_s += s

    def adjust(self, delta):
        self.utc_s += delta

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)


store = FileStore(data_dir)
clock = HybridClock(int(start_utc))
adc = ClockedADC(sim.SimADC(sim.SimFrontEnd(load_a=8.0, phase_deg=20.0)), clock, 300)
meter = Meter(adc, Calibration(**common.shared_calibration()), clock, store,
              starting_power_w=2.3, sag_v=207.0, swell_v=253.0)
keys = OperatorKeys(store)
if not keys.present:
    keys.commission(KEK, EK, AK)
audit = AuditLog(store)
audit.append(clock.time(), "boot", "e2e")
switch = OperatorLinkSwitch(store)
switch.consent(True)  # readings at every session (the consumer's consent), not once a day
uplink = Uplink(store, keys, InvocationCounter(store), TITLE, meter.intervals, audit,
                switch, clock, common.mqtt_connector("127.0.0.1", int(port)),
                interval_s=1800)
uplink.next_s = clock.time()
for k in range(int(windows)):
    target = meter.sampler.windows + 1
    while meter.sampler.windows < target:
        meter.poll()
    result = uplink.poll(clock.time())
    print(json.dumps({"window": k, "utc": clock.time(), "result": result,
                      "pending": uplink.pending_readings()}))
    time.sleep_ms(40)
# drain: keep trying until the head-end has everything (or give up after a while)
deadline = time.ticks_add(time.ticks_ms(), 60000)
while uplink.pending_readings() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    uplink.next_s = clock.time()
    print(json.dumps({"drain": uplink.poll(clock.time()), "pending": uplink.pending_readings()}))
    time.sleep_ms(500)
meter.save(clean=True)
records = [[seq, r["end_s"], r["import_wh"], r["export_wh"]] for seq, r in meter.intervals.records()]
print("FINAL " + json.dumps({"records": records, "pending": uplink.pending_readings(),
                             "state": uplink.state}))
