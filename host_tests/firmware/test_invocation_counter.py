"""The invocation counter never repeats, whatever write a power cut interrupts."""
from comms.invocation import InvocationCounter, CounterExhausted, MAX_COUNTER
from fakes.flash import FakeFlash, PowerLoss
from mptest import raises


def test_counter_strictly_increases_across_reboots():
    flash = FakeFlash()
    seen = []
    for _ in range(5):
        ic = InvocationCounter(flash, block=4)
        for _ in range(6):
            seen.append(ic.next())
    assert seen == sorted(set(seen))


def test_no_value_is_ever_returned_twice_with_a_cut_at_every_write():
    for tear in (None, 0.0, 0.5, 1.0):
        cut_at = 1
        while True:
            flash = FakeFlash(power_loss_after=cut_at, tear=tear)
            used = []
            completed = True
            try:
                ic = InvocationCounter(flash, block=3)
                for _ in range(20):
                    used.append(ic.next())
            except PowerLoss:
                completed = False
            flash.reboot()
            ic = InvocationCounter(flash, block=3)
            after = [ic.next() for _ in range(5)]
            assert not set(after) & set(used), (tear, cut_at, used, after)
            assert after == sorted(after)
            if completed:
                break
            cut_at += 1
        assert cut_at > 5


def test_exhausted_counter_refuses_instead_of_wrapping():
    flash = FakeFlash()
    ic = InvocationCounter(flash, block=2)
    ic.reset_for_new_key(MAX_COUNTER)
    assert ic.next() == MAX_COUNTER
    raises(CounterExhausted, ic.next)
