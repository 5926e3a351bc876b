"""tools/mp32: a 32-bit MicroPython (the webassembly port under node), and the whole meter's
live heap measured on it beside the unix port's (tools.deploy.heap32)."""
import os
import re
import subprocess

import pytest

from host_tests.syspkg import require_mp32
from tools import mp32
from tools.deploy import heap32, heap_budget
from tools.shared.paths import ROOT

# firmware test files that run whole on the 32-bit port: crypto, tokens, logs, calibration,
# the meter's registers (the others need viper, threads, machine or umqtt, which the rig
# lacks, or take minutes there: garbage is collected only between tests)
ON_32_BITS = (
    "test_app_trial.py", "test_applog.py", "test_audit.py", "test_board_calibration.py",
    "test_calibrate.py", "test_civiltime.py", "test_control_tokens.py",
    "test_current_curve.py", "test_ed25519.py", "test_ed25519_table.py",
    "test_flash_lock.py", "test_front_end_errors.py", "test_fwlink.py", "test_gcm.py",
    "test_invocation_counter.py", "test_keywrap.py", "test_meter_lost_samples.py",
    "test_meter_retained.py", "test_p1.py",
)


@pytest.fixture(scope="module")
def node():
    require_mp32()


def run32(tmp_path, source, *args, dirs=(), inputs=()):
    script = tmp_path / "script.py"
    script.write_text(source)
    return subprocess.run(mp32.command(str(script), *args, dirs=dirs, inputs=inputs),
                          capture_output=True, text=True, timeout=300)


def test_it_is_a_32_bit_micropython(node, tmp_path):
    proc = run32(tmp_path, """
import gc, sys
x = 1 << 29
start = gc.mem_alloc()
y = x * 2  # 2**30: past a 31-bit small int, so a big int on the heap
print(sys.implementation.name, sys.maxsize, gc.mem_alloc() > start)
""")
    assert proc.returncode == 0, proc.stderr
    # 31-bit small ints, as on the ESP32 and the RP2040
    assert proc.stdout.split() == ["micropython", str(2 ** 31 - 1), "True"]


def test_cryptolib_gives_fips_197s_answer(node, tmp_path):
    proc = run32(tmp_path, """
from cryptolib import aes
out = bytearray(16)
aes(bytes(range(16)), 1).encrypt(bytes.fromhex("00112233445566778899aabbccddeeff"), out)
print(out.hex())
back = aes(bytes(range(16)), 1).decrypt(bytes(out))
print(back.hex())
try:
    aes(bytes(16), 6)
except ValueError:
    print("no CTR")
""")
    assert proc.returncode == 0, proc.stderr
    # FIPS 197 appendix C.1
    assert proc.stdout.split() == ["69c4e0d86a7b0430d8cdb78070b4c55a",
                                   "00112233445566778899aabbccddeeff", "no", "CTR"]


def test_folders_keep_a_boards_error_numbers_and_come_back_written(node, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "gone.txt").write_text("old")
    (data / "link").symlink_to(tmp_path)  # not mirrored, and not removed on the way back
    proc = run32(tmp_path, """
import os, sys
root = sys.argv[1]
for call in (lambda: open(root + "/missing"), lambda: os.mkdir(root)):
    try:
        call()
    except OSError as exc:
        print(exc.errno)
os.remove(root + "/gone.txt")
os.mkdir(root + "/sub")
with open(root + "/sub/new.bin", "wb") as f:
    f.write(b"written")
""", str(data), dirs=[str(data)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "17"]  # ENOENT, EEXIST: littlefs's, not emscripten's
    assert (data / "sub" / "new.bin").read_bytes() == b"written"
    assert not (data / "gone.txt").exists()
    assert (data / "link").is_symlink()


def test_exit_status_follows_the_unix_port(node, tmp_path):
    assert run32(tmp_path, "raise SystemExit(3)\n").returncode == 3
    text = run32(tmp_path, "import sys\nsys.exit('refused\\n0')\n")
    assert text.returncode == 1 and "refused" in text.stderr  # text: printed, status 1
    assert run32(tmp_path, "raise SystemExit('3')\n").returncode == 1
    stepped = run32(tmp_path, "import sys\ndef mp32_steps():\n    yield\n    sys.exit(4)\n")
    assert stepped.returncode == 4  # from a step too
    stopped = run32(tmp_path, "import sys\ndef mp32_steps():\n    print('ran')\n    yield\n"
                              "sys.exit(3)\n")
    assert stopped.returncode == 3 and "ran" not in stopped.stdout  # no step after an exit
    named = run32(tmp_path, "print(__file__)\n")
    assert named.stdout.strip() == str(tmp_path / "script.py")
    failed = run32(tmp_path, "x = 1\nraise ValueError('bad input')\n")
    assert failed.returncode == 1 and "ValueError: bad input" in failed.stderr


def test_steps_collect_between_them_and_count_within_them(node, tmp_path):
    proc = run32(tmp_path, """
import gc
def mp32_steps():
    start = gc.mem_alloc()
    junk = [bytearray(1000) for _ in range(50)]
    junk = None
    gc.collect()  # within a step this only marks a collection pending
    print(gc.mem_alloc() - start >= 50 * 1000)
    yield
    print(gc.mem_alloc() - start < 1000)
    small = [bytearray(100) for _ in range(40)]  # 5 KB: under the build's own 16 KB trigger
    small = None
    yield
    print(gc.mem_alloc() - start < 1000)
""")
    assert proc.returncode == 0, proc.stderr
    # within a step nothing is collected; between steps the garbage is gone, however little
    assert proc.stdout.split() == ["True", "True", "True"]


@pytest.fixture(scope="module")
def live(node, tmp_path_factory):
    return heap32.measure(str(tmp_path_factory.mktemp("heap32")))


def test_the_whole_meter_runs_on_a_32_bit_port(live):
    for (mode, way), pair in live.items():
        result = pair[32]
        assert result["bits"] == 32
        assert result["windows"] >= 5 and result["kernel"] == "python"  # no viper there
        assert result["self_test"] == "passed"  # the known answers, plain twins on 32 bits
        if way == "boards":
            assert result["result"] == "staged"
            assert result["boot"]["result"] == "accepted bench"
        else:
            assert result["result"] == "bench"


def test_a_32_bit_board_keeps_less_than_this_port_and_romfs_less_than_ram(live):
    for key, pair in live.items():
        assert heap32.firmware_bytes(pair[32]) < 0.8 * heap32.firmware_bytes(pair[64]), key
    ram = heap32.firmware_bytes(live[("ram", "boards")][32])
    rom = heap32.firmware_bytes(live[("rom", "boards")][32])
    assert rom < ram - 60 * 1024  # bytecode stays in the image


def test_the_deploy_checks_scale_errs_towards_refusing(live):
    # make deploy checks a board's budget on the unix port at budget / BOARD_TO_HOST: the
    # scale may not be below what the 32-bit port shows for live bytes (.mpy in RAM, the
    # deploy path), or the check would pass a build the board cannot hold
    measured = heap32.ratio(live, "ram", "boards")
    assert 0.6 < measured <= heap_budget.BOARD_TO_HOST, measured


@pytest.mark.parametrize("name", ON_32_BITS)
def test_firmware_tests_pass_on_32_bits(node, name):
    path = os.path.join(ROOT, "host_tests", "firmware", name)
    runner = os.path.join(ROOT, "host_tests", "mp_runner.py")
    sources = [os.path.join(ROOT, folder) for folder in ("host_tests", "firmware", "boards")]
    proc = subprocess.run(mp32.command(runner, ROOT, path, inputs=sources), capture_output=True,
                          text=True, timeout=300)
    outcomes = dict((test, outcome) for outcome, test in
                    re.findall(r"^MPTEST (\w+) \S+::(\S+)", proc.stdout, re.M))
    with open(path) as f:
        defined = re.findall(r"^def (test_\w+)\(", f.read(), re.M)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(outcomes) == sorted(defined), proc.stderr[-2000:]  # every one ran
    failed = [test for test, outcome in outcomes.items() if outcome not in ("passed", "skipped")]
    assert not failed, proc.stdout[-3000:]


SAMPLER_ALLOCATION = """
import gc, sys
sys.path[:0] = [sys.argv[1] + "/firmware", sys.argv[1]]
from array import array
from boards import common, sim
from metering.calibration import Calibration
from metering.sampling import Sampler

source = sim.SimADC(sim.SimFrontEnd(load_a=20.0, phase_deg=30.0))
blocks = []  # 4 s of mains recorded, then replayed with no allocation of its own
for _ in range(4 * source.rate_hz // source.block_pairs):
    block = array("H", bytes(4 * source.block_pairs))
    source.readinto(block)
    blocks.append(block)


class Replay:
    block_pairs = source.block_pairs
    rate_hz = source.rate_hz
    lost_pairs = 0
    k = 0

    def readinto(self, buf):
        buf[:] = blocks[self.k % len(blocks)]
        self.k += 1


windows = []
sampler = Sampler(Replay(), Calibration(**common.shared_calibration()), windows.append,
                  use_viper=False)
for _ in range(len(blocks)):  # settle: the first windows find the mid-rail
    sampler.poll()
del windows[:]
start = gc.mem_alloc()
for _ in range(len(blocks)):
    sampler.poll()
print(sampler.kernel_name, len(blocks), len(windows), gc.mem_alloc() - start)
"""


def test_metering_allocates_almost_nothing_a_block_on_32_bits(node, tmp_path):
    # the plain-Python kernel (what a board meters with after a failed viper self-test):
    # its sums stay small ints on 31 bits; what is allocated comes with the windows' close
    proc = run32(tmp_path, SAMPLER_ALLOCATION, ROOT,
                 inputs=[os.path.join(ROOT, "firmware"), os.path.join(ROOT, "boards")])
    assert proc.returncode == 0, proc.stderr[-2000:]
    kernel, blocks, windows, allocated = proc.stdout.split()
    assert kernel == "python" and int(windows) >= 3
    # 4 s of mains: a big int a sample would be kilobytes a block; a window's close is
    # a few hundred bytes (its floats and result)
    assert int(allocated) / int(blocks) < 400, (allocated, blocks, windows)


def test_the_import_profile_accounts_for_the_firmwares_live_heap(node, tmp_path):
    live = heap32.LiveHeap(str(tmp_path))
    profile = heap32.import_profile(live)
    rows = dict(profile["rows"])
    built = [name for name in rows if name.startswith("(build_app")]
    assert set(heap32.wire_imports()) >= set(rows) - set(built) and len(built) == 1
    assert rows["app"] > 4096 and rows[built[0]] > 4096
    # the rows add up to what the firmware holds (each is the rise over the one before),
    # less the profile's own list of rows
    assert 0 <= profile["live"] - profile["start"] - sum(rows.values()) < 1024
    assert profile["qstr"].startswith("qstr pool:")
    # none of the code loaded for a use is in the rows; loaded, it is kilobytes, and the
    # use leaves none of it behind
    assert not set(rows) & set(heap32.on_demand() + heap32.boot_only())
    uses = {use: (during, after) for use, during, after in profile["uses"]}
    token, gate, every = (uses[use] for use in (
        "a command token", "the update gate, the boards' way (staging, the trial, the boot"
        " report)", "every on-demand module at once"))
    statement = [during for use, (during, _after) in uses.items() if "statement" in use]
    assert statement and token[0] < statement[0] < every[0]  # the token's code and more
    assert all(after < 512 for _during, after in uses.values())
    assert 4096 < token[0] < every[0] and 1024 < gate[0] < token[0]


def test_a_boards_own_module_is_measured_and_the_frozen_estimate_adds_up(node, tmp_path):
    boards = heap32.board_modules(str(tmp_path))
    # the real boards' modules are drivers; the sim's carries a whole simulated front-end
    for board in ("esp32", "esp32_atm90e32", "rp2040"):
        assert 512 < boards[board] < boards["sim"], board
    assert boards["esp32"] < boards["esp32_atm90e32"]  # the metering chip's driver on top
    assert 512 < boards["cryptolib"] < 4096  # the rig's Python AES-ECB wrapper
    sizes = {"sim": 8000, "esp32": 2000, "cryptolib": 1500}
    # 100 KB live, 18 KB of name pools and 1.5 KB of rig crypto go, 8 KB of sim module
    # give way to 2 KB of board module; a 12 KB use on top
    assert heap32.frozen_estimate(100000, 18000, sizes, "esp32", 12000) == (74500, 86500)


def test_make_bench_writes_the_32_bit_section_from_the_measurements(live, tmp_path):
    from tools.bench import report

    profile = heap32.import_profile(heap32.LiveHeap(str(tmp_path)))
    boards = {"esp32": 1800, "esp32_atm90e32": 6300, "rp2040": 1400, "sim": 8400,
              "cryptolib": 1600}
    text = "\n".join(report.live32_section(live, profile, boards))
    rows = [line for line in text.splitlines() if line.startswith("| esp32")]
    assert rows[0].startswith("| esp32 | 1.8 KB |") and "| rp2040 | 1.4 KB |" in text
    # the chip board's larger module makes it hold 4.4 KB more than the plain ESP32
    held = [float(row.split("|")[3].split()[0]) for row in rows]
    assert abs(held[1] - held[0] - 4.4) < 0.15, rows
    ratio = heap32.ratio(live, "ram", "boards")
    assert "| .mpy in RAM | boards' way (staged) |" in text and "%.2f" % ratio in text
    assert "| app |" in text and "n_total_bytes" in text
