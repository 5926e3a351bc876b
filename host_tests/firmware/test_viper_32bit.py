"""Every viper kernel at the boards' word size: the kernel's own source run with 32-bit
machine words (rigs/word32.py) must give exactly what its plain twin gives. The unix
port's words are 64 bits, so this is the only place the boards' arithmetic is checked.
CPython only (the rig models words with Python int subclasses)."""
from array import array

from mptest import cpython_only

from boards import sim
from crypto import gcm
from metering import kernel


def _rig():
    from rigs import word32

    return word32


def _source(twin, name):
    """The viper module beside its twin's module (it cannot be imported on CPython)."""
    import os

    return os.path.join(os.path.dirname(twin.__file__), name)


def _full_scale_block():
    # codes at the extremes the kernel accepts (mid +-2560): the sums' worst case
    buf = array("H", bytes(4 * 256))
    for k in range(256):
        buf[2 * k] = 2048 + (2560 if k % 7 < 3 else -2048 if k % 7 < 6 else -3)
        buf[2 * k + 1] = 2048 + (-2047 if k % 3 else 2047)
    return buf


def _state(stop_from):
    st = array("i", bytes(4 * kernel.ST_LEN))
    st[kernel.ST_V_MID] = st[kernel.ST_PREV_V] = 2048
    st[kernel.ST_I_MID] = st[kernel.ST_PREV_I] = 2048
    st[kernel.ST_HYST] = 8
    st[kernel.ST_STOP_FROM] = stop_from
    from metering import voltage_quality as vq

    # limits the blocks cross both ways (the full-scale block swells, the sim's 230 V
    # sags against a sag limit set above it): the cycle sums reach the judgement
    st[vq.ST_CYC_MAX] = 120
    st[vq.ST_CYC_N] = st[vq.ST_ARM_N] = 121
    st[vq.ST_SAG_IN] = 250000
    st[vq.ST_SAG_OUT] = 260000
    st[vq.ST_SWELL_IN] = 1500000
    st[vq.ST_SWELL_OUT] = 1400000
    st[vq.ST_PQ_MIN] = 2
    return st


def _acc():
    acc = array("i", bytes(4 * kernel.ACC_LEN))
    kernel.clear(acc)
    return acc


@cpython_only("the 32-bit word rig models words with int subclasses")
def test_metering_kernel_at_32_bits_matches_its_twin():
    from metering import voltage_quality as vq

    consts = {"ST_START": kernel.ST_START, "ST_END": kernel.ST_END, "CYC_N": vq.ST_CYC_N,
              "CYC_SQ": vq.ST_CYC_SQ, "CYC_MAX": vq.ST_CYC_MAX, "SAG_IN": vq.ST_SAG_IN,
              "SWELL_IN": vq.ST_SWELL_IN, "PQ_STATE": vq.ST_PQ_STATE, "ARM_N": vq.ST_ARM_N,
              "ARM_SQ": vq.ST_ARM_SQ}
    run = _rig().load(_source(kernel, "kernel_viper.py"), "_run", consts)
    run.__globals__.update(judge_cycle=vq.judge_cycle, end_event=vq.end_event)
    blocks = [_full_scale_block()]
    fe = sim.SimFrontEnd(phase_deg=-50.0, noise_counts=2.0, load_a=60.0)
    for _ in range(3):
        buf = array("H", bytes(4 * 256))
        fe.fill(buf, 256)
        blocks.append(buf)
    for stop_from in (1 << 20, 40):  # no stop, and stops at crossings inside the blocks
        boards = (_acc(), _state(stop_from))
        plain = (_acc(), _state(stop_from))
        for buf in blocks * 4:
            for acc, st, use_rig in (boards + (True,), plain + (False,)):
                start = 0
                while start < 256:
                    end = min(256, start + 100)
                    if use_rig:
                        st[kernel.ST_START] = start
                        st[kernel.ST_END] = end
                        run.__globals__.update(_buf=buf, _acc=acc, _st=st)
                        start = int(run())
                    else:
                        start = kernel.accumulate(buf, start, end, acc, st)
                    if st[kernel.ST_STOPPED]:
                        st[kernel.ST_WN] = 0
                        st[kernel.ST_STOPPED] = 0
            assert list(boards[0]) == list(plain[0])
            assert list(boards[1]) == list(plain[1])
        from metering import voltage_quality as vq

        st = plain[1]  # the judgement saw whole cycles: events began and one ended
        assert st[vq.ST_SAG_STARTS] + st[vq.ST_SWELL_STARTS] > 0 and st[vq.ST_END_CYCLES] > 0
        for k in range(kernel.ACC_LEN):
            assert 0 <= boards[0][k] < 2 ** 30  # small ints on a board


@cpython_only("the 32-bit word rig models words with int subclasses")
def test_gcm_kernels_at_32_bits_match_their_twins():
    rig = _rig()
    path = _source(gcm, "gcm_viper.py")
    build, ghash, fill, xor = (rig.load(path, name) for name in (
        "build_table", "ghash_blocks", "ctr_fill", "xor_into"))
    h = bytes(range(0x9B, 0x9B + 16))
    tables = []
    for builder in (build, gcm.build_table):
        table = array("I", bytes(4 * gcm._TABLE_WORDS))
        for q in range(4):  # H at M[8] (the element 1), big-endian words
            table[4 * 8 + q] = int.from_bytes(h[4 * q:4 * q + 4], "big")
        builder(table)
        tables.append(table)
    assert tables[0] == tables[1] and len(set(tables[1])) > 32  # filled, not left at zero
    data = bytes((7 * k + 3) & 0xFF for k in range(16 * 9))
    states = []
    for kernel_fn in (ghash, gcm.ghash_blocks):
        state = array("I", [0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 1])
        kernel_fn(state, tables[1], gcm._RED, data, 0, len(data))
        states.append(list(state))
    assert states[0] == states[1]
    outs = []
    for kernel_fn in (fill, gcm.ctr_fill):
        counter = bytearray(b"\x01" * 12 + b"\xff\xff\xff\xfe")  # inc32 wraps within 4 blocks
        buf = bytearray(16 * 4)
        kernel_fn(buf, 4, counter)
        outs.append((bytes(buf), bytes(counter)))
    assert outs[0] == outs[1]
    xored = []
    for kernel_fn in (xor, gcm.xor_into):
        dst = bytearray(40)
        kernel_fn(dst, 3, data, 5, bytes(range(200, 232)), 32)
        xored.append(bytes(dst))
    assert xored[0] == xored[1]


@cpython_only("the 32-bit word rig models words with int subclasses")
def test_esp32_sampling_loop_at_32_bits_matches_its_twin_across_the_ticks_wrap():
    from boards import esp32_acquire as esp32

    acquire = _rig().load(_viper_path(esp32.__file__), "acquire", {
        "_TICKS_MASK": esp32.TICKS_MASK, "_TICKS_HALF": esp32.TICKS_HALF})
    results = []
    for fn in (acquire, esp32.acquire):
        # a clock that starts 3 ms before ticks_us wraps (2**30 us) and advances 90 us a
        # read, with one 1.1 ms stall: slots are skipped, never read late
        now = [esp32.TICKS_MASK - 3000]
        calls = [0]

        def ticks_us():
            calls[0] += 1
            if calls[0] == 40:
                now[0] += 1100
            now[0] = (now[0] + 30) & esp32.TICKS_MASK
            return now[0]

        codes = iter(range(100, 100000, 7))
        buf = array("H", bytes(4 * 64))
        skipped = fn(buf, 64, lambda: next(codes), lambda: next(codes), ticks_us,
                     esp32.TICKS_MASK - 2990, 250)
        results.append((int(skipped), list(buf), now[0]))
    assert results[0] == results[1]
    assert results[1][0] > 0 and results[1][2] < 100000  # it skipped, and ticks wrapped


def _viper_path(plain_path):
    """x_viper.py beside x.py (CPython cannot import the viper build)."""
    return plain_path[:-len(".py")] + "_viper.py"


@cpython_only("reads the viper build's source, which CPython cannot import")
def test_the_esp32_sampling_loops_tick_constants_agree():
    import ast

    from boards import esp32_acquire

    with open(_viper_path(esp32_acquire.__file__)) as f:
        tree = ast.parse(f.read())
    consts = {node.targets[0].id: node.value.args[0].value for node in tree.body
              if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
              and getattr(node.value.func, "id", "") == "const"}
    assert consts == {"_TICKS_MASK": esp32_acquire.TICKS_MASK,
                      "_TICKS_HALF": esp32_acquire.TICKS_HALF}
