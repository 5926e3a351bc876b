"""The control-plane statement says what happens now: the consumer's switch first, and no
line cut at the edge of the terminal."""
import service
from control import statement


def test_the_uplink_schedule_follows_the_consumer_switch_and_the_broker():
    link = {"broker": "broker.example:1883", "interval_s": 900}
    assert statement.uplink_schedule(True, link, frequent_readings=True) == "every 900 s"
    # without the consumer's consent readings go once a day, whatever the interval
    assert statement.uplink_schedule(True, link).startswith("readings once a day")
    assert statement.uplink_schedule(True, dict(link, interval_s=86400)) == "every 86400 s"
    assert statement.uplink_schedule(False, link).startswith("never: the consumer switched")
    assert statement.uplink_schedule(True, {}) == "never (no broker set)"


def test_long_statements_wrap_whole_words_within_the_terminal():
    text = "packages signed by the operator release threshold (break-glass: emergency or " \
           "root keys; vendor keys ignored) and the vendor threshold"
    lines = service._wrap("accepts " + text, "    ")
    assert all(len(line) <= 78 and line.startswith("    ") for line in lines)
    assert " ".join(line.strip() for line in lines) == "accepts " + text  # nothing cut
    assert len(lines) == 2


def test_an_audit_entry_is_shown_whole_under_its_heading():
    head = "%5d %s %-26s " % (12, "2026-11-30T12:00:00Z", "update-rejected")
    text = "bad-signature: 1 signature(s) do not verify over the manifest of release 1.4.0"
    lines = service._wrap(text, " " * 8, first=head)
    assert lines[0].startswith(head + "bad-signature:")
    assert all(len(line) <= 78 for line in lines) and len(lines) == 2
    assert " ".join(line[len(head):] if i == 0 else line.strip()
                    for i, line in enumerate(lines)) == text  # every word, none cut
