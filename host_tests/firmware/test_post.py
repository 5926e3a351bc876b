"""The power-on self-test: known answers catch a faulty native kernel (as a misaligned
frozen viper function on the RP2040 computes); broken crypto makes the meter refuse
updates, tokens and commissioning, and a broken metering kernel falls back to its twin."""
import io

import main
import post
from crypto import gcm
from mptest import raises, temp_root
from update.errors import UpdateRejected
from control.tokens import TokenRefused


def _app(post_result=None):
    return main.build_app("sim", post_result, paced=False, storage_root=temp_root("post-test"),
                          p1_path=None)


def test_post_passes_with_the_kernels_this_interpreter_has():
    result = post.run()
    assert result.crypto_ok and result.kernel_ok, result.summary()
    assert result.summary() == "passed"


def test_post_catches_a_sha512_kernel_that_computes_wrong():
    # imported here: a meter built by another test released it (main.ON_DEMAND), and
    # post.run() imports the one sys.modules has now
    from crypto import sha512

    real = sha512._DEFAULT_COMPRESS

    def misaligned(work, k, data, off):  # one flipped bit, as a wrong constant load gives
        real(work, k, data, off)
        work[3] ^= 1

    sha512._DEFAULT_COMPRESS = misaligned
    try:
        result = post.run()
    finally:
        sha512._DEFAULT_COMPRESS = real
    assert "sha512" in result.crypto_failed
    assert "ed25519-accept" in result.crypto_failed  # Ed25519 hashes with SHA-512
    assert not result.crypto_ok and result.kernel_ok


def test_post_catches_a_gcm_kernel_that_computes_wrong():
    real = gcm._DEFAULT_KERNELS
    ghash, build, ctr, xor = real

    def bad_xor(dst, dst_off, src, src_off, ks, n):
        xor(dst, dst_off, src, src_off, ks, n)
        if n:
            dst[dst_off] ^= 0x80

    gcm._DEFAULT_KERNELS = (ghash, build, ctr, bad_xor)
    try:
        result = post.run()
    finally:
        gcm._DEFAULT_KERNELS = real
    assert result.crypto_failed == ["gcm"], result.crypto_failed


def test_a_faulty_metering_kernel_fails_the_post_and_the_meter_uses_the_plain_twin():
    from metering import kernel

    real = kernel.VIPER_ACCUMULATE

    def miscounting(buf, start, end, acc, st):
        stop = kernel.accumulate(buf, start, end, acc, st)
        acc[kernel.ACC_SVI0] += 1
        return stop

    kernel.VIPER_ACCUMULATE = miscounting
    try:
        result = post.run()
        app = _app(result)
    finally:
        kernel.VIPER_ACCUMULATE = real
    assert result.kernel_failed == ["metering-kernel"] and result.crypto_ok
    assert app.meter.sampler.kernel_name == "python"
    checks = dict(app.selftest())
    assert checks["metering kernel known answer"] is False
    assert [e for _s, e in app.audit.tail(5) if e["event"] == "self-test-failed"]


def test_broken_crypto_refuses_updates_tokens_and_commissioning_and_says_so():
    app = _app(post.PostResult(["sha512", "ed25519-accept"], []))
    exc = raises(UpdateRejected, app.update_gate().install, io.BytesIO(b"OSMU any package"))
    assert exc.reason == "self-test-failed"
    exc = raises(TokenRefused, app.apply_token, b'{"any": "token"}')
    assert exc.reason == "self-test-failed"
    exc = raises(UpdateRejected, app.commission, b"{}", bytes(16), bytes(16), bytes(16))
    assert exc.reason == "self-test-failed"
    events = [e["event"] for _s, e in app.audit.tail(10)]
    assert events.count("self-test-failed") == 1  # at boot
    assert "update-rejected" in events and "token-refused" in events
    assert dict(app.selftest())["crypto known answers"] is False
    app.step()  # metering goes on: the meter only refuses what needs crypto
    assert app.post.to_dict()["passed"] is False



def _kernel_mutants():
    """The plain kernel with one fault each in the arming refresh (the branch taken once a
    cycle, at the voltage's first sample below -hysteresis) or in what a call hands the
    next one: faults a miscompiled twin could have that the first block never reaches."""
    from metering import kernel

    with open(kernel.__file__) as f:  # the source, under both interpreters
        src = f.read()
    arm = src.index("elif v < -hyst:")
    arm_end = src.index("sv += v", arm)
    tail = src.index("n = arm_n + k - arm_k\n    if n <= cyc_max")

    def swap(lo, hi, old, new):
        assert old in src[lo:hi], old
        return src[:lo] + src[lo:hi].replace(old, new, 1) + src[hi:]

    return {
        "no end of event at an arming without a cycle": swap(arm, arm_end, "end_event(st)",
                                                             "pass"),
        "an overlong arming cycle judged": swap(arm, arm_end, "if 0 < n <= cyc_max:",
                                                "if 0 < n:"),
        "the overflow sentinel not handed on": swap(tail, len(src), "st[ST_ARM_N] = cyc_max + 1",
                                                    "st[ST_ARM_N] = n"),
        "the arming squares not handed on": swap(
            tail, len(src), "st[ST_ARM_SQ] = svv - arm_svv + arm_sq",
            "st[ST_ARM_SQ] = svv - arm_svv"),
    }


def test_the_post_catches_faults_in_the_arming_refresh_the_first_block_never_reaches():
    from metering import kernel

    for name, src in _kernel_mutants().items():
        scope = {"__name__": "kernel_mutant"}
        exec(compile(src, "kernel_mutant", "exec"), scope)
        mutant = scope["accumulate"]
        assert post.kernel_agrees(mutant, kernel.accumulate), name  # why the second block
        assert not post.events_agree(mutant, kernel.accumulate), name
    assert post.events_agree(kernel.accumulate, kernel.accumulate)
