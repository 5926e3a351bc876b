"""The sampling kernel: viper and plain-Python twins agree; sums are exact; windows
close only at rising zero crossings."""
from array import array

from mptest import ON_MICROPYTHON, skip
from metering import kernel
from boards import sim


def _block(pairs=256, **scenario):
    fe = sim.SimFrontEnd(**scenario)
    buf = array("H", bytes(4 * pairs))
    fe.fill(buf, pairs)
    return buf


def _fresh_state(stop_from=1 << 20):
    st = array("i", bytes(4 * kernel.ST_LEN))
    st[kernel.ST_V_MID] = 2048
    st[kernel.ST_I_MID] = 2048
    st[kernel.ST_PREV_I] = 2048
    st[kernel.ST_PREV_V] = 2048
    st[kernel.ST_HYST] = 8
    st[kernel.ST_STOP_FROM] = stop_from
    return st


def test_python_kernel_sums_match_direct_sums():
    buf = _block(phase_deg=40.0)
    acc = _fresh_acc()
    st = _fresh_state()
    end = kernel.accumulate(buf, 0, 256, acc, st)
    assert end == 256
    v = [buf[2 * k] - 2048 for k in range(256)]
    i = [buf[2 * k + 1] - 2048 for k in range(256)]
    i_lag = [0] + i[:-1]  # previous current of the first pair was mid-rail (0 centred)
    assert acc[kernel.ACC_N] == 256
    assert kernel.total(acc, kernel.ACC_SV) == sum(v)
    assert kernel.total(acc, kernel.ACC_SVV) == sum(x * x for x in v)
    assert kernel.total(acc, kernel.ACC_SII) == sum(x * x for x in i)
    assert kernel.total(acc, kernel.ACC_SVI0) == sum(a * b for a, b in zip(v, i))
    assert kernel.total(acc, kernel.ACC_SVI1) == sum(a * b for a, b in zip(v, i_lag))


def test_viper_kernel_matches_python_twin_across_blocks_and_stops():
    if not ON_MICROPYTHON:
        skip("viper exists only on MicroPython")
    from metering import kernel_viper

    buf = _block(pairs=256, phase_deg=-70.0, noise_counts=2.0, v_bias_code=1900)
    results = []
    for fn in (kernel.accumulate, kernel_viper.accumulate):
        acc = _fresh_acc()
        st = _fresh_state(stop_from=30)
        stops = []
        start = 0
        while start < 256:
            start = fn(buf, start, min(256, start + 50), acc, st)
            stops.append(start)
            st[kernel.ST_WN] = 0 if st[kernel.ST_STOPPED] else st[kernel.ST_WN]
        results.append((list(acc), list(st), stops))
    assert results[0] == results[1]


def test_viper_kernel_reads_the_state_layout_of_its_twin():
    if not ON_MICROPYTHON:
        skip("viper exists only on MicroPython")
    from metering import kernel_viper

    from metering import voltage_quality as vq

    assert (kernel_viper.ST_START, kernel_viper.ST_END) == (kernel.ST_START, kernel.ST_END)
    assert (kernel_viper.CYC_N, kernel_viper.CYC_SQ, kernel_viper.CYC_MAX) == (
        vq.ST_CYC_N, vq.ST_CYC_SQ, vq.ST_CYC_MAX)
    assert (kernel_viper.SAG_IN, kernel_viper.SWELL_IN, kernel_viper.PQ_STATE) == (
        vq.ST_SAG_IN, vq.ST_SWELL_IN, vq.ST_PQ_STATE)
    assert (kernel_viper.ARM_N, kernel_viper.ARM_SQ) == (vq.ST_ARM_N, vq.ST_ARM_SQ)
    assert vq.ST_ARM_SQ < kernel.ST_LEN
    assert kernel.ST_END < kernel.ST_LEN


def test_kernel_stops_before_the_pair_after_a_rising_crossing():
    buf = _block(pairs=256, noise_counts=0.0)
    acc = _fresh_acc()
    st = _fresh_state(stop_from=1)
    stop = kernel.accumulate(buf, 0, 256, acc, st)
    assert 0 < stop < 256
    assert st[kernel.ST_STOPPED] == 1
    assert buf[2 * (stop - 1)] < 2048 <= buf[2 * stop]


def test_first_windows_after_a_mid_cycle_start_measure_the_right_frequency():
    # a meter switched on at an arbitrary phase: the synchronising part-cycle window must
    # not teach the bias tracker a wrong offset
    from metering.calibration import Calibration
    from metering.sampling import Sampler
    from boards import common

    for start_phase_pairs in (0, 13, 40, 61):
        fe = sim.SimFrontEnd(noise_counts=0.5)
        fe.n = start_phase_pairs
        got = []
        sampler = Sampler(sim.SimADC(fe), Calibration(**common.shared_calibration()), got.append)
        while len(got) < 4:
            sampler.poll()
        for w in got[1:]:
            assert abs(w.freq_hz - 50.0) < 0.01, (start_phase_pairs, w.freq_hz)
            assert abs(w.q_var / fe.truth()["q_var"] - 1) < 0.003, start_phase_pairs


def _fresh_acc():
    acc = array("i", bytes(4 * kernel.ACC_LEN))
    kernel.clear(acc)
    return acc


def _kernels():
    found = [kernel.accumulate]
    if ON_MICROPYTHON:
        from metering import kernel_viper

        found.append(kernel_viper.accumulate)
    return found


def test_kernels_carry_a_full_scale_window_exactly_in_32_bit_words():
    # 32 blocks at the codes' extremes: every sum passes 2**30 (a big int on the boards)
    # within the window, yet each word stays a 32-bit small int and the totals are exact
    buf = array("H", bytes(4 * 256))
    for k in range(256):
        buf[2 * k] = 2048 + (2400 if k % 2 else -2000)
        buf[2 * k + 1] = 2048 + (-2047 if k % 3 else 2047)
    v = [buf[2 * k] - 2048 for k in range(256)]
    i = [buf[2 * k + 1] - 2048 for k in range(256)]
    for fn in _kernels():
        acc = _fresh_acc()
        st = _fresh_state()
        for _ in range(32):
            fn(buf, 0, 256, acc, st)
        assert acc[kernel.ACC_N] == 32 * 256
        assert kernel.total(acc, kernel.ACC_SVV) == 32 * sum(x * x for x in v) > 2 ** 30
        assert kernel.total(acc, kernel.ACC_SII) == 32 * sum(x * x for x in i)
        assert kernel.total(acc, kernel.ACC_SV) == 32 * sum(v)
        lag = [i[-1]] + i[:-1]
        assert kernel.total(acc, kernel.ACC_SVI0) == 32 * sum(a * b for a, b in zip(v, i)) < 0
        first = sum(a * b for a, b in zip(v, [0] + i[:-1]))
        assert kernel.total(acc, kernel.ACC_SVI1) == first + 31 * sum(
            a * b for a, b in zip(v, lag))
        for k in range(kernel.ACC_LEN):
            assert 0 <= acc[k] < 2 ** 30  # small ints on a board, never negative words
