"""The fleet sovereignty report: for every meter, the control-plane truth test as the
head-end can check it from what the meter's sealed audit log says, and fleet figures.

Per meter: policy version and fingerprint, break-glass, the consumer's opt-out and
consent, the firmware running and who signed it, the metering module's identity, the last
key rotation, since when the audit chain is unbroken, the last contact. Everything comes
from the meter's own authenticated audit entries (control/audit.py CODES) and the
head-end's own records; nothing is taken on trust from a meter that was never heard from.
"""
import re

from control.audit import CODE_BY_NAME

_POLICY = re.compile(r"v(?:ersion )?(\d+) (?:fingerprint )?([0-9a-f]{16})")
_METERING = re.compile(r"metering ([0-9a-f]{16}|unknown)( MISMATCH)?")
_DRIVERS = re.compile(r"drivers ([0-9a-f]{16}|unknown|none)( MISMATCH)?")
_ACCEPTED = re.compile(r"^\S+ (\S+) counter (\d+) .*?; signed by (.+)$")
_CONFIRMED = re.compile(r"^(\S+) counter (\d+)")
DAY_S = 86400


def _code(name):
    return CODE_BY_NAME[name]


def meter_truth(store, title, now_s):
    """One meter's row of the report (a dict)."""
    keys = store.key_row(title) or {}
    seen = store.meter_row(title) or {}
    row = {"meter": title, "meter_id": keys.get("meter_id"), "policy_version": None,
           "policy_fingerprint": None, "break_glass": None, "operator_link": None,
           "readings_consent": None, "firmware": None, "firmware_signed_by": None,
           "metering_module": None, "metering_check": None, "board_drivers": None,
           "drivers_check": None,
           "keys_since_s": keys.get("rotated_s") or keys.get("added_s"),
           "key_rotation_pending": bool(keys.get("rotation_pending")),
           "chain_unbroken_since_s": None, "chain_problems": 0,
           "last_contact_s": seen.get("last_seen_s"), "forgeries": seen.get("forgeries", 0)}
    accepted = {}  # version -> signers, from update-accepted
    events = store.events(title)
    for _seq, _time_s, code, text in events:
        if code == _code("policy-changed"):
            m = _POLICY.search(text)
            if m:
                row["policy_version"], row["policy_fingerprint"] = int(m.group(1)), m.group(2)
        elif code == _code("break-glass-on"):
            row["break_glass"] = True
        elif code == _code("break-glass-off"):
            row["break_glass"] = False
        elif code == _code("operator-link-off"):
            row["operator_link"] = "off (consumer opt-out)"
        elif code == _code("operator-link-on"):
            row["operator_link"] = "on"
        elif code == _code("readings-consent"):
            row["readings_consent"] = "every session" in text
        elif code == _code("boot"):
            m = _METERING.search(text)
            if m:
                row["metering_module"] = m.group(1)
                row["metering_check"] = "MISMATCH" if m.group(2) else "verified or as built"
            # firmware before the driver identity names none: after a revert to it, the
            # newer firmware's id no longer stands
            row["board_drivers"] = row["drivers_check"] = None
            m = _DRIVERS.search(text)
            if m:
                row["board_drivers"] = m.group(1)
                row["drivers_check"] = "MISMATCH" if m.group(2) else "verified or as built"
        elif code == _code("update-accepted"):
            m = _ACCEPTED.search(text)
            if m:
                accepted[m.group(1)] = m.group(3)
        elif code == _code("update-confirmed"):
            m = _CONFIRMED.search(text)
            if m:
                row["firmware"] = m.group(1)
                row["firmware_signed_by"] = accepted.get(m.group(1))
        elif code == _code("keys-installed") and row["keys_since_s"] is None:
            row["keys_since_s"] = _time_s
    # what the head-end saw of a meter that has been heard from is a fact; defaults apply
    # only then (a meter never heard from stays unknown)
    if events:
        row["break_glass"] = bool(row["break_glass"])
        row["operator_link"] = row["operator_link"] or "on"
        row["readings_consent"] = bool(row["readings_consent"])
        row["firmware"] = row["firmware"] or "factory"
    commands = store.command_list(title)
    row["commands"] = "%d applied, %d refused, %d waiting%s" % (
        sum(1 for c in commands if c["result"] == "applied"),
        sum(1 for c in commands if c["result"] == "refused"),
        sum(1 for c in commands if c["result"] is None),
        "; last %s #%d %s" % (commands[-1]["command"], commands[-1]["counter"],
                               commands[-1]["result"] or "waiting") if commands else "")
    problems = store.problems(title)
    row["chain_problems"] = len(problems)
    if events:
        # unbroken since the first entry after the last problem
        after = [t for seq, t, _c, _x in events if not problems or seq > problems[-1][0]]
        row["chain_unbroken_since_s"] = after[0] if after else None
    return row


def report(store, now_s):
    """{"meters": [rows], "figures": {...}, "now_s": now_s}."""
    rows = [meter_truth(store, title, now_s) for title in store.titles()]
    heard = [r for r in rows if r["last_contact_s"] is not None]
    fingerprints = [r["policy_fingerprint"] for r in heard if r["policy_fingerprint"]]
    # the current policy: the highest version any meter reports
    current = max(((r["policy_version"], r["policy_fingerprint"]) for r in heard
                   if r["policy_version"] is not None), default=(None, None))

    def share(pred):
        return round(100.0 * sum(1 for r in heard if pred(r)) / len(heard), 1) if heard else None

    key_ages = sorted((now_s - r["keys_since_s"]) // DAY_S for r in heard if r["keys_since_s"])
    figures = {
        "meters": len(rows), "heard_from": len(heard),
        "current_policy": {"version": current[0], "fingerprint": current[1]},
        "on_current_policy_pct": share(lambda r: r["policy_fingerprint"] == current[1]
                                       and current[1] is not None),
        "chain_unbroken_pct": share(lambda r: r["chain_problems"] == 0),
        "break_glass_off_pct": share(lambda r: r["break_glass"] is False),
        "operator_link_on_pct": share(lambda r: r["operator_link"] == "on"),
        "readings_consent_pct": share(lambda r: r["readings_consent"] is True),
        "metering_module_ids": sorted({r["metering_module"] for r in heard
                                       if r["metering_module"]}),
        "board_driver_ids": sorted({r["board_drivers"] for r in heard if r["board_drivers"]}),
        "key_age_days_max": key_ages[-1] if key_ages else None,
        "key_age_days_median": key_ages[len(key_ages) // 2] if key_ages else None,
        "policies_seen": len(set(fingerprints)),
    }
    return {"meters": rows, "figures": figures, "now_s": now_s}
