"""A meter for the firmware-over-the-link end-to-end test, on the MicroPython unix port
from a staged device tree (umqtt.simple from lib/): commissioned with a trust policy and
uplink keys, it opens `sessions` uplink sessions, each taking firmware chunks for at
most SESSION_MS, as the firmware's App wires it.

  micropython firmware_e2e.py REPO_ROOT BROKER_PORT POLICY SESSIONS SESSION_MS

Prints one JSON line per session and a final line with the firmware pointer.
"""
import sys

repo, port, policy_path, sessions, session_ms = sys.argv[1:6]
sys.path[:0] = ["", "lib"]
sys.path.append(repo + "/host_tests")

import json
import time

from boards import common
from comms.fwlink import FirmwareDownload
from comms.invocation import InvocationCounter
from comms.keys import OperatorKeys
from comms.switch import OperatorLinkSwitch
from comms.uplink import Uplink
from control.audit import AuditLog
from metering import intervals as iv
from storage.flash import FileStore
from update import firmware_slots
from update.layout import FW_DIR
from update.apply import Receiver, Updater
from update.errors import UpdateRejected
from update.policy import PolicyStore
from update.tree import FileTree

from system.support.meter_e2e_keys import AK, EK, FW_TITLE as TITLE, KEK, NOW_S


class Clock:
    trusted = True  # set from the start, as the sim's host clock

    def __init__(self):
        self.utc_s = NOW_S

    def time(self):
        return self.utc_s

    def adjust(self, delta):
        self.utc_s += delta

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)


store = FileStore("data")
clock = Clock()
keys = OperatorKeys(store)
if not keys.present:
    keys.commission(KEK, EK, AK)
policies = PolicyStore(store)
if policies.current() is None:
    with open(policy_path, "rb") as f:
        policies.commission(f.read())
audit = AuditLog(store)
tree = FileTree("")
updater = Updater(FileStore(FW_DIR), tree, "sim", "sim-v1", clock, audit,
                  policies=policies)


def install(path):
    try:
        return "accepted %s" % updater.install_file(path)["version"]
    except UpdateRejected as exc:
        return "rejected %s" % exc.reason


uplink = Uplink(store, keys, InvocationCounter(store), TITLE,
                iv.IntervalRegister(store, clock.time()), audit, OperatorLinkSwitch(store),
                clock, common.mqtt_connector("127.0.0.1", int(port)), interval_s=900)
uplink.firmware = FirmwareDownload(lambda: Receiver(tree), install,
                                   max_session_ms=int(session_ms))
for k in range(int(sessions)):
    audit.append(clock.time(), "boot", "session %d" % k)  # something to send
    result = uplink.send_now()
    print(json.dumps({"session": k, "result": result,
                      "part_bytes": tree.size("update.part") or 0}))
print("FINAL " + json.dumps(firmware_slots.UpdateState(FileStore(FW_DIR)).fields))
