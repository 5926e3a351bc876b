"""A meter's uplink over MQTT with TLS for the end-to-end test, on the MicroPython unix
port from a staged device tree (umqtt.simple from lib/): the connector the App builds
from the operator-link settings (boards.common.mqtt_connector, the operator's CA pinned),
one uplink poll with a pending audit entry.

  micropython tls_e2e.py REPO_ROOT HOST PORT CA_DER_PATH

Prints one JSON line: the uplink's result ("sent 1 message(s)" or "failed: ...").
"""
import sys

repo, host, port, ca_path = sys.argv[1:5]
sys.path[:0] = ["", "lib"]
sys.path.append(repo + "/host_tests")

import json  # noqa: E402

from boards import common  # noqa: E402
from comms.invocation import InvocationCounter  # noqa: E402
from comms.keys import OperatorKeys  # noqa: E402
from comms.switch import OperatorLinkSwitch  # noqa: E402
from comms.uplink import Uplink  # noqa: E402
from control.audit import AuditLog  # noqa: E402
from metering import intervals as iv  # noqa: E402
from storage.flash import FileStore, read_path  # noqa: E402

from system.support.meter_e2e_keys import AK, EK, KEK, TLS_TITLE  # noqa: E402
from fakes.clock import FakeClock  # noqa: E402

store = FileStore("data")
clock = FakeClock(utc_s=int(__import__("time").time()))
clock.ticks_ms = __import__("time").ticks_ms  # real waits for the network
clock.sleep_ms = __import__("time").sleep_ms
keys = OperatorKeys(store)
if not keys.present:
    keys.commission(KEK, EK, AK)
audit = AuditLog(store)
audit.append(clock.time(), "boot", "tls test")  # something to send
uplink = Uplink(store, keys, InvocationCounter(store), TLS_TITLE,
                iv.IntervalRegister(store, clock.time()), audit, OperatorLinkSwitch(store),
                clock, common.mqtt_connector(host, int(port), ca_der=read_path(ca_path)))
uplink.next_s = clock.time()  # due now
print(json.dumps({"result": uplink.poll(clock.time()), "retry_in_s": uplink.next_s - clock.time()}))
