"""The control-plane statement: who controls this meter, meter by meter. Channels, keys
and thresholds, remote access, break-glass, and where which data goes, as it is now (the
consumer's switch first). The one home of that statement: the shell prints it
(service.controlplane), and whatever else states it must build it here.
"""
from comms import link_settings

OWNER = {"operator-root": "operator", "operator-release": "operator",
         "operator-emergency": "operator", "vendor": "vendor"}
REMOTE_ACCESS = ("off: no WebREPL, telnet or listening socket; the meter only connects out "
                 "to the operator's broker")


def metering_module(software_id, check):
    """The metering module's identity and why it has no kill path: what anyone can check."""
    return {"software_id": software_id, "check": check,
            "kill_path": "none: it imports nothing from comms, control, update or networking "
                         "and drives no output (host_tests/tools/test_house_rules.py); no "
                         "command stops or alters it"}


def uplink_schedule(switch_on, link, frequent_readings=False):
    """When readings go to the operator, as it is now: the consumer's switch first, then
    the consumer's consent (without it, readings go once a day whatever the interval)."""
    if not switch_on:
        return "never: the consumer switched the operator link off"
    if not link.get("broker"):
        return "never (no broker set)"
    interval_s = link.get("interval_s", 86400)
    if frequent_readings or interval_s >= 86400:
        return "every %d s" % interval_s
    return ("readings once a day (the consumer has not consented to more), audit-log "
            "entries every %d s" % interval_s)


def statement(meter_id, policy, break_glass, uplink_fingerprints, link, switch_on,
              frequent_readings=False):
    """A dict (the shell's --json form). policy: update.policy.Policy or None (not
    commissioned); uplink_fingerprints: OperatorKeys.fingerprints(); link: the operator
    link's settings; switch_on: the consumer's operator-link switch; frequent_readings:
    the consumer's consent to readings more often than once a day."""
    keys = []
    thresholds = {}
    if policy is not None:
        for keyid in sorted(policy.keys):
            role, _public = policy.keys[keyid]
            keys.append({"keyid": keyid, "role": role, "owner": OWNER[role],
                         "active": not (break_glass and role in ("vendor", "operator-release"))})
        thresholds = dict(policy.thresholds)
    return {
        "meter_id": meter_id,
        "remote_access": REMOTE_ACCESS,
        "break_glass": break_glass,
        "policy": {"version": policy.version if policy else None,
                   "fingerprint": policy.fingerprint() if policy else None,
                   "vendor_required_for_updates": policy.vendor_required if policy else None,
                   "thresholds": thresholds, "keys": keys},
        "channels": [
            {"name": "local shell (USB/UART, mpremote)",
             "accepts": "reading: anyone at the meter; changes: operator-signed tokens only; "
                        "the consumer's operator-link switch and readings consent: no token"},
            {"name": "operator link (MQTT, outbound to %s)" % (link.get("broker") or "nobody"),
             "accepts": "authenticated acknowledgements; operator-signed tokens on /cmd"},
            {"name": "firmware update (shell or operator link)",
             "accepts": "packages signed by the operator release threshold%s" % (
                 " (break-glass: emergency or root keys; vendor keys ignored)" if break_glass
                 else (" and the vendor threshold" if policy and policy.vendor_required
                       else ""))},
        ],
        "uplink_keys": {"owner": "operator", "fingerprints": uplink_fingerprints or None},
        "data_flows": [
            {"to": "consumer (P1 port)", "what": "all registers, power, voltage, current, "
             "events", "how_often": "every second", "protection": "local port only"},
            {"to": "grid operator (uplink)", "what": "quarter-hour register readings and "
             "audit-log entries", "how_often": uplink_schedule(switch_on, link,
                                                               frequent_readings),
             "consent": "readings more often than daily: %s" % (
                 "yes, given by the consumer at the meter" if frequent_readings else "no"),
             "protection": "AES-128-GCM under the operator's keys (DLMS suite 0); "
                           "transport: " + link_settings.describe(link),
             "state": "on" if switch_on else "off (consumer opt-out)"},
        ],
    }
