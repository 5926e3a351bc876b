"""Store-and-forward uplink with an in-memory broker and a minimal head-end built from
the DLMS codec (the independent dlms-cosem check is in host_tests/system)."""
from comms import dlms
from comms.keys import OperatorKeys
from control.audit import verify_chain
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from host_tests.firmware.uplink_kit import AK, EK, KEK, TITLE, close_quarters, uplink_rig
from mptest import raises


def test_readings_arrive_once_and_are_dropped_only_after_the_ack():
    flash, clock, broker, head, intervals, audit, up = uplink_rig()
    close_quarters(intervals, clock, 5)
    audit.append(clock.time(), "boot")
    head.drop_acks = 1
    result = None
    try:
        up.send_now()
    except Exception as exc:  # the lost ack times out
        result = exc.reason
    assert result == "no-ack"
    assert up.pending_readings() == 5  # not acknowledged: still pending
    assert up.send_now().startswith("sent")
    assert up.pending_readings() == 0
    assert sorted(head.readings) == [1, 2, 3, 4, 5]
    verify_chain([(s, e["raw"]) for s, e in sorted(head.events.items())])
    ics = [dlms.parse(m)[1] for _t, m in broker.up]
    assert ics == sorted(set(ics))  # every attempt sealed with a fresh counter


def test_without_keys_nothing_is_sent():
    flash, clock, broker, head, intervals, audit, up = uplink_rig(with_keys=False)
    close_quarters(intervals, clock, 3)
    assert up.send_now().startswith("no operator keys")
    assert broker.up == []


def test_opt_out_sends_nothing_and_never_sends_that_period_later():
    flash, clock, broker, head, intervals, audit, up = uplink_rig()
    close_quarters(intervals, clock, 2)
    up.send_now()
    up.switch.set(False)
    up.skip_to_now()
    close_quarters(intervals, clock, 4, start_wh=100)  # measured while opted out
    assert up.send_now().startswith("off")
    sent_before = len(broker.up)
    up.switch.set(True)
    up.skip_to_now()
    close_quarters(intervals, clock, 2, start_wh=200)
    up.send_now()
    assert len(broker.up) == sent_before + 1
    assert sorted(head.readings) == [1, 2, 7, 8]  # 3..6 were measured while opted out


def test_broker_outage_retries_with_backoff_and_loses_nothing():
    flash, clock, broker, head, intervals, audit, up = uplink_rig()
    close_quarters(intervals, clock, 3)
    broker.online = False
    up.next_s = clock.time()
    assert up.poll(clock.time()).startswith("failed")
    assert up.next_s > clock.time()
    broker.online = True
    clock.advance_s(up.next_s - clock.time())
    assert up.poll(clock.time()).startswith("sent")
    assert sorted(head.readings) == [1, 2, 3]


def test_clock_follows_authenticated_head_end_time_but_refuses_absurd_jumps():
    flash, clock, broker, head, intervals, audit, up = uplink_rig()
    close_quarters(intervals, clock, 1)
    head.clock = FakeClock(clock.time() + 30)
    up.send_now()
    assert any(e["event"] == "clock-corrected" for _s, e in audit.entries())
    head.clock = FakeClock(clock.time() + 10 * 86400)
    close_quarters(intervals, clock, 1)
    before = clock.time()
    up.send_now()
    assert clock.time() == before
    assert any(e["event"] == "clock-correction-refused" for _s, e in audit.entries())


def test_a_day_of_readings_goes_in_messages_under_two_kilobytes_and_all_arrive():
    from comms.uplink import MAX_PLAINTEXT_BYTES

    flash, clock, broker, head, intervals, audit, up = uplink_rig()
    close_quarters(intervals, clock, 96)
    for k in range(12):
        audit.append(clock.time(), "boot", "event %d with some text to it" % k)
    assert up.send_now() == "sent 3 message(s)"
    sizes = [len(apdu) for _topic, apdu in broker.up]
    assert max(sizes) < 2048, sizes  # one allocation each on the meter's heap
    assert all(len(dlms.unseal(apdu, EK, AK)[2]) <= MAX_PLAINTEXT_BYTES for _t, apdu in broker.up)
    assert sorted(head.readings) == list(range(1, 97))
    assert len(head.events) == 12


def test_the_uplink_cipher_is_built_once_and_rekeyed_in_place():
    from crypto import gcm

    keys = OperatorKeys(FakeFlash())
    assert keys.cipher() is None
    keys.commission(KEK, EK, AK)
    first = keys.cipher()
    iv_ = TITLE + bytes(4)
    assert first.encrypt(iv_, b"reading", b"aad") == gcm.GCM(EK).encrypt(iv_, b"reading", b"aad")
    new_ek = bytes(range(100, 116))
    keys._set(KEK, new_ek, AK)  # as a wrapped key install does
    assert keys.cipher() is first  # the same table and buffers, re-keyed
    assert first.encrypt(iv_, b"reading", b"aad") == gcm.GCM(new_ek).encrypt(iv_, b"reading", b"aad")


def test_readings_leave_once_a_day_unless_the_consumer_consents_to_more():
    """BOAUM: the operator reads at most once a day. Sessions at a shorter interval carry
    the audit log's events, and the day's readings only once a day; the consumer's consent
    at the meter (no operator token) allows readings at every session, and withdrawing it
    returns to once a day."""
    flash, clock, broker, head, intervals, audit, up = uplink_rig()
    up.switch.consent(False)
    close_quarters(intervals, clock, 2)
    assert up.send_now().startswith("sent")
    assert sorted(head.readings) == [1, 2]
    close_quarters(intervals, clock, 2, start_wh=20)
    audit.append(clock.time(), "boot", "an event goes at once")
    assert up.send_now().startswith("sent")
    assert sorted(head.readings) == [1, 2]  # not a day yet: events only
    assert "an event goes at once" in [e["text"] for e in head.events.values()]
    clock.advance_s(86400)
    up.send_now()
    assert sorted(head.readings) == [1, 2, 3, 4]  # a day later, all that waited
    assert up.switch.consent(True)
    close_quarters(intervals, clock, 1, start_wh=40)
    up.send_now()
    assert sorted(head.readings) == [1, 2, 3, 4, 5]  # consent: at every session
    assert up.switch.consent(False)
    close_quarters(intervals, clock, 1, start_wh=50)
    up.send_now()
    assert 6 not in head.readings  # withdrawn: once a day again
    again = type(up.switch)(flash)
    assert again.frequent_readings is False  # kept on flash


def test_a_clock_behind_the_last_readings_cannot_hold_them_back():
    """After a reboot without a set clock (it reads the port's epoch) or a step back, "a day
    has not passed" cannot be known: readings go."""
    flash, clock, broker, head, intervals, audit, up = uplink_rig()
    up.switch.consent(False)
    close_quarters(intervals, clock, 2)
    up.send_now()
    clock.adjust(-40 * 86400)  # the clock now reads well before the last sending
    clock.trusted = False
    close_quarters(intervals, clock, 1, start_wh=20)
    up.send_now()
    assert sorted(head.readings) == [1, 2, 3]


def test_a_library_error_backs_off_like_a_network_error_and_still_reaches_the_loop():
    """umqtt raises its own exception types: the uplink backs off for them too (a session
    opens with every round now) and lets the loop count and log the error."""
    flash, clock, broker, head, intervals, audit, up = uplink_rig()

    def broken(client_id):
        raise ValueError("MQTTException(5)")

    up.connector = broken
    up.next_s = clock.time()
    raised = raises(ValueError, up.poll, clock.time())
    assert "MQTTException" in str(raised)
    assert up.failures == 1 and up.next_s >= clock.time() + 60
    assert up.last_result.startswith("failed: MQTTException")
