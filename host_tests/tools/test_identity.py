"""The metering module's identity (WELMEC 7.2 style): SOFTWARE_ID is the hash of the code in
firmware/metering/ now, covers every module of the package, changes with any byte, and the
meter's boot check tells verified code from changed code and from code it cannot see."""
import os
import shutil
import subprocess
import sys

from tools.shared.paths import FIRMWARE_DIR, ROOT

from metering import identity

FOLDER = os.path.join(FIRMWARE_DIR, "metering")


def test_software_id_is_the_hash_of_the_metering_code_now():
    proc = subprocess.run([sys.executable, "-m", "tools.deploy.identity", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr  # else: python -m tools.deploy.identity
    assert identity.check(FOLDER) == (identity.SOFTWARE_ID, "verified")


def test_it_covers_every_module_of_the_metering_package():
    modules = sorted(n[:-3] for n in os.listdir(FOLDER) if n.endswith(".py"))
    assert sorted(identity.MODULES + ("identity",)) == modules


def test_a_changed_byte_is_a_mismatch_and_missing_sources_are_as_built(tmp_path):
    copy = str(tmp_path / "metering")
    shutil.copytree(FOLDER, copy)
    path = os.path.join(copy, "registers.py")
    with open(path, "ab") as f:
        f.write(b"#")
    software_id, standing = identity.check(copy)
    assert software_id == identity.SOFTWARE_ID and standing.startswith("MISMATCH")
    assert identity.SOFTWARE_ID not in standing
    os.remove(path)
    assert identity.check(copy)[1].startswith("as built")


def test_each_boards_drivers_have_an_id_and_a_changed_driver_byte_is_a_mismatch(tmp_path):
    boards_dir = os.path.join(ROOT, "boards")
    boards = []
    for name in sorted(os.listdir(boards_dir)):
        if name.endswith(".py"):
            with open(os.path.join(boards_dir, name)) as f:
                if "\ndef hardware(" in f.read():
                    boards.append(name[:-3])
    assert sorted(identity.BOARD_DRIVERS) == boards  # every board with hardware() has drivers
    for board in boards:
        assert identity.check_board(boards_dir, board) == (identity.DRIVER_IDS[board],
                                                           "verified")
    copy = str(tmp_path / "boards")
    shutil.copytree(boards_dir, copy)
    with open(os.path.join(copy, "esp32_acquire.py"), "ab") as f:
        f.write(b"#")  # the ESP32's sampling loop: both ESP32 boards, not the Pico
    assert identity.check_board(copy, "esp32")[1].startswith("MISMATCH")
    assert identity.check_board(copy, "esp32_atm90e32")[1].startswith("MISMATCH")
    assert identity.check_board(copy, "rp2040")[1] == "verified"
    assert identity.check_board(copy, "no-such-board")[0] == "none"
