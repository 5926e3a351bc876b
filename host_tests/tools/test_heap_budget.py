"""tools.deploy.heap_budget: the whole meter in a given heap, and the hole probe for the largest
allocation after boot (the board issue's "nothing after boot allocates more than 2 KB")."""
import os

import pytest

from tools.deploy import heap_budget


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    base = tmp_path_factory.mktemp("heap_budget")
    mpy = heap_budget.compile_tree(str(base / "mpy"))
    return heap_budget.Flow(mpy, str(base / "flow"))


def test_after_boot_nothing_allocates_more_than_2_kb(flow):
    # metering, P1 and a whole signed update, in a heap cut into 2 KB holes after boot
    result, error = flow.run(2 * 1024 * 1024, hole_bytes=2048)
    assert error is None
    assert result["installed"] == "bench" and result["windows"] >= 5
    assert result["token"] == "tariff schedule replaced"  # the control plane's use too
    assert result["holes_free"] > 512 * 1024  # the holes were not what ran short


def test_the_hole_probe_catches_a_larger_allocation(flow):
    # 256-byte holes: an update's 1 KB read buffer alone cannot fit
    result, error = flow.run(2 * 1024 * 1024, hole_bytes=256)
    assert result is None and "MemoryError" in error


def test_the_flow_fails_loudly_in_a_heap_far_too_small(flow):
    result, error = flow.run(48 * 1024)
    assert result is None and "MemoryError" in error


def test_code_in_a_romfs_image_leaves_more_heap_than_code_loaded_into_ram(flow, tmp_path):
    image = heap_budget.romfs_image(flow.mpy_dir, str(tmp_path / "firmware.romfs"))
    ram, _ = flow.run(1024 * 1024)
    rom, _ = flow.run(1024 * 1024 + os.path.getsize(image) + 32, rom_image=image)
    assert ram and rom
    assert rom["live_built"] < ram["live_built"] - 30 * 1024  # bytecode stays in the image


def test_the_boards_way_stages_in_the_meter_and_installs_in_the_boot_stage(flow):
    # esp32 and rp2040 install at boot: the meter's heap never holds the verifier
    assert heap_budget.installs_at_boot("esp32") and heap_budget.installs_at_boot("rp2040")
    assert not heap_budget.installs_at_boot("sim")
    result, error = flow.run(1024 * 1024, at_boot=True)
    assert error is None
    assert result["installed"] == "staged" and result["windows"] >= 5
    assert result["boot"]["verdict"] == "accepted bench"
    # staging loads neither the verifier nor the manifest code, and what it loads goes
    # after (main.ON_DEMAND): the meter holds after staging what it held after boot
    assert result["live_installed"] <= result["live_built"] + 1024
    # and the boot stage needs far less than the meter: the install has the heap to itself
    assert result["boot"]["live_after_install"] < result["live_built"] - 60 * 1024

