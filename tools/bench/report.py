"""`make bench`: runs the project's benchmarks under the MicroPython unix port and
rewrites BENCHMARKS.md. Figures are measured in one run on this machine; ratios within
one run are what to compare, absolute times depend on the machine and its load.

Usage: python -m tools.bench [--out BENCHMARKS.md] [--json]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

from tools.deploy import heap32, heap_budget
from tools.shared.paths import ROOT, venv_tool

BENCH_DIR = os.path.join(ROOT, "tools", "bench", "benchmarks")


def run_mp(script, *args, heap=None):
    cmd = [venv_tool("micropython")]
    if heap:
        cmd += ["-X", "heapsize=" + heap]
    cmd += [os.path.join(BENCH_DIR, script)] + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit("benchmark %s failed:\n%s%s" % (script, proc.stdout, proc.stderr))
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


FLOW_HEAPS_K = (192, 224, 256, 288, 320, 352, 384, 416, 448, 512)
ROM_FLOW_HEAPS_K = (64, 96, 128, 160, 192, 224, 256, 288)  # heap left beside the image
HOLE_BYTES = (512, 1024, 2048)
HOLE_PROBE_HEAP = 2 * 1024 * 1024  # room for the probe's own cell list beside the meter


def instruction_counts():
    """Instructions per pair of the viper meter and of the bare loop, by callgrind (each
    workload minus the setup-only run); None if valgrind is not installed."""
    import shutil

    if shutil.which("valgrind") is None:
        return None
    script = os.path.join(BENCH_DIR, "metering_icount.py")
    counts = {}
    pairs = None
    # address-space randomisation moves the interpreter's hashes and GC work between
    # runs (counts vary by about 5 %); without it they repeat to within about 2 %
    fixed_layout = ["setarch", os.uname().machine, "-R"] if shutil.which("setarch") else []
    for mode in ("setup", "bare", "meter"):
        with tempfile.NamedTemporaryFile() as out:
            proc = subprocess.run(fixed_layout + [
                "valgrind", "--tool=callgrind", "--callgrind-out-file=" + out.name,
                venv_tool("micropython"), script, ROOT, mode],
                                  capture_output=True, text=True, timeout=1800, cwd=ROOT)
        found = [line for line in proc.stderr.splitlines() if "Collected :" in line]
        if proc.returncode != 0 or not found:
            raise SystemExit("callgrind run %s failed:\n%s" % (mode, proc.stderr[-2000:]))
        counts[mode] = int(found[-1].split(":")[-1])
        pairs = int(proc.stdout.split()[-1])
    meter = (counts["meter"] - counts["setup"]) / pairs
    bare = (counts["bare"] - counts["setup"]) / pairs
    return {"meter_per_pair": meter, "bare_per_pair": bare, "ratio": meter / bare}


def flow_scans(mpy, work):
    """Whole-flow runs (flow_heap.py, via tools.deploy.heap_budget) at each heap size, with
    the code loaded from .mpy into RAM and with it in a ROMFS image: {"ram"|"rom": {heap_k:
    result or None}}. A scan, not a bisection: fragmentation makes pass/fail
    non-monotonic."""
    flow = heap_budget.Flow(mpy, work)
    image = heap_budget.romfs_image(mpy, os.path.join(work, "firmware.romfs"))
    image_bytes = os.path.getsize(image)
    scans = {"ram": {}, "rom": {}, "ram_boot": {}, "rom_boot": {},
             "rom_image_bytes": image_bytes}
    for heap_k in FLOW_HEAPS_K:
        scans["ram"][heap_k] = flow.run(heap_k * 1024)[0]
        scans["ram_boot"][heap_k] = flow.run(heap_k * 1024, at_boot=True)[0]
    for heap_k in ROM_FLOW_HEAPS_K:
        # the image is read into one block allocated first: the firmware gets the rest
        scans["rom"][heap_k] = flow.run(heap_k * 1024 + image_bytes + 32, image)[0]
        scans["rom_boot"][heap_k] = flow.run(heap_k * 1024 + image_bytes + 32, image,
                                             at_boot=True)[0]
    # after boot, only holes of N bytes: the flow passes if nothing allocates more
    scans["holes"] = {}
    for hole_bytes in HOLE_BYTES:
        for mode, rom in (("ram", None), ("rom", image)):
            result, error = flow.run(HOLE_PROBE_HEAP, rom, hole_bytes)
            scans["holes"][(mode, hole_bytes)] = "ok" if result else error
    return scans


def flow_section(scans, ratios):
    def least(scan):
        passed = [k for k, r in sorted(scan.items()) if r is not None]
        return passed[0] if passed else None

    ram, rom = least(scans["ram"]), least(scans["rom"])
    ram_boot, rom_boot = least(scans["ram_boot"]), least(scans["rom_boot"])
    lines = [
        "## Memory: the whole meter in one heap (issue 9)",
        "",
        "The App on the sim board, commissioned, metering with P1, an operator-signed command"
        " token, a signed 40-file update,"
        " metering on (tools/bench/benchmarks/flow_heap.py, run by"
        " tools/deploy/heap_budget.py). Two ways to take the update: in the running meter"
        " (the sim board's way: its gate verifies and installs), and the boards' way"
        " (esp32 and rp2040, `INSTALL_AT_BOOT`: the meter only stages the package; after a"
        " restart the boot stage verifies and installs it before the meter is built, firmware/"
        "boot_install.py), which passes only if both the meter's run and the boot stage's run"
        " pass, each in a fresh heap of the size given. One process per run; 64-bit unix port."
        " Two ways to hold the code: loaded from the mpy-cross build into RAM (the `make"
        " deploy` path), and in a %d-byte ROMFS image (`mpremote romfs build`) mounted with"
        " `vfs.VfsRom`, as on a board with a ROMFS partition: the image is read into one"
        " block first and the heap beside it is what the table gives." % (
            scans["rom_image_bytes"]),
        "",
        "| heap for the firmware | .mpy, in the meter | .mpy, boards' way | ROMFS, in the meter"
        " | ROMFS, boards' way | live after boot (ROMFS, boards' way) | live in the boot stage"
        " after the install (ROMFS) |",
        "|---|---|---|---|---|---|---|",
    ]
    sizes = sorted(set(scans["ram"]) | set(scans["rom"]))
    for heap_k in sizes:
        cells = []
        for mode in ("ram", "ram_boot", "rom", "rom_boot"):
            if heap_k not in scans[mode]:
                cells.append("")
            else:
                cells.append("ok" if scans[mode][heap_k] else "MemoryError")
        r = scans["rom_boot"].get(heap_k)
        cells += ["%d" % r["live_built"] if r else "",
                  "%d" % r["boot"]["live_after_install"] if r else ""]
        lines.append("| %dK | %s |" % (heap_k, " | ".join(cells)))
    lines += [
        "",
        "Least heap that passed, the boards' way: %s with the code in RAM, %s with it in"
        " ROMFS." % ("%dK" % ram_boot if ram_boot else "none of the sizes tried",
                     "%dK" % rom_boot if rom_boot else "none of the sizes tried"),
        "",
        "Least heap that passed, in the meter: %s with the code in RAM, %s with it in ROMFS."
        " Pass/fail is not monotonic where it flips: fragmentation decides. On a 32-bit port"
        " the firmware keeps %.2f of this port's live bytes with the code in RAM and %.2f"
        " with it in ROMFS (measured: the next section), so a board, which takes updates the"
        " boards' way, needs at least about %s (.mpy in RAM) or %s (ROMFS; buffers do not"
        " shrink), against budgets of %d"
        " KB (ESP32) and %d KB (Pico) and 64 KB with the code frozen. The least heap is"
        " found on this port only: the 32-bit port here collects garbage only between"
        " steps, so it can give live bytes but not the least heap a flow fits in." % (
            "%dK" % ram if ram else "none of the sizes tried",
            "%dK" % rom if rom else "none of the sizes tried",
            ratios["ram"], ratios["rom"],
            "%d KB" % int(ratios["ram"] * ram_boot) if ram_boot else "more",
            "%d KB" % int(ratios["rom"] * rom_boot) if rom_boot else "more",
            heap_budget.BUDGET_KB["esp32"], heap_budget.BUDGET_KB["rp2040"]),
        "",
        "Largest single allocation after boot (the hole probe: once the App is built and"
        " commissioned, the free heap is cut into holes of N bytes, so the rest of the flow,"
        " metering, P1, a command token and the whole update, each use loading its code"
        " again, fails at the first allocation larger than N):",
        "",
        "| holes of | .mpy in RAM | code in ROMFS |",
        "|---|---|---|",
    ]
    for hole_bytes in HOLE_BYTES:
        lines.append("| %d bytes | %s | %s |" % (hole_bytes, scans["holes"][("ram", hole_bytes)],
                                                scans["holes"][("rom", hole_bytes)]))
    lines += [
        "",
        "The code of each kind of use (main.USES) loads once at boot and is released: loaded"
        " first in the middle of an update, the gate's code made the interpreter grow its"
        " table of names by a 1,280-entry pool (about 14 KB here, 9 KB on a board). Loaded"
        " again for a use it needs no more than the holes above. On a 32-bit board buffers"
        " keep their size while pointers and object headers halve, so a flow that gets"
        " through N-byte holes here would get through them on a board too.",
        "",
    ]
    return lines


def jsonable(value):
    """results with every key a string (tuple keys joined by "/"), for --json."""
    if isinstance(value, dict):
        return {("/".join(str(part) for part in key) if isinstance(key, tuple) else str(key)):
                jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


def _qstr_pools(line):
    """Bytes of qstr pools in micropython.qstr_info()'s line (all of it less the text)."""
    fields = dict(item.split("=") for item in line.split(": ", 1)[1].split(", "))
    return int(fields["n_total_bytes"]) - int(fields["n_str_data_bytes"])


def live32_section(live, profile, boards=None):
    def kb(n):
        return "%.1f KB" % (n / 1024)

    lines = [
        "## Memory on a 32-bit MicroPython (issue 9)",
        "",
        "The same flow (tools/bench/benchmarks/flow_live.py, run by tools/deploy/heap32.py) on"
        " the unix port and on MicroPython's webassembly port under node (tools/mp32: 4-byte"
        " pointers and object headers, 31-bit small ints, 16-byte GC blocks, as on the ESP32"
        " and the RP2040), from one bytecode-only build: the webassembly port has no viper,"
        " so both run the plain twins. Live bytes the firmware holds after a collection"
        " (less what each interpreter held before the firmware's first import; on the unix"
        " port that includes the ROMFS image, read into the heap there, outside it on the"
        " 32-bit port). The 32-bit figures include the rig's cryptolib in Python (about 1.6"
        " KB), which is C on a board.",
        "",
        "| code | update | after boot, 64-bit | after boot, 32-bit | ratio | after the update,"
        " 32-bit | boot stage after its install, 32-bit |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in heap32.MODES:
        for way in heap32.WAYS:
            pair = live[(mode, way)]
            boot = pair[32].get("boot")
            lines.append("| %s | %s | %s | %s | %.2f | %s | %s |" % (
                ".mpy in RAM" if mode == "ram" else "ROMFS",
                "in the meter" if way == "meter" else "boards' way (staged)",
                kb(heap32.firmware_bytes(pair[64])), kb(heap32.firmware_bytes(pair[32])),
                heap32.ratio(live, mode, way),
                kb(heap32.firmware_bytes(pair[32], "installed")),
                kb(boot["installed"] - boot["start"]) if boot else ""))
    rows = sorted(profile["rows"], key=lambda row: -row[1])
    lines += [
        "",
        "`make deploy` checks a board's budget on the unix port at budget / %.2f"
        " (heap_budget.BOARD_TO_HOST, held at or above the .mpy ratio by a test: the ratio"
        " is for live objects; buffers and fragmentation in a least heap do not shrink)." % (
            heap_budget.BOARD_TO_HOST),
        "",
        "Where the 32-bit live heap goes after boot, code in ROMFS (import_live.py: main.wire's"
        " imports one at a time, each with what it pulls in that was not loaded yet; then the"
        " App built on the sim board, its last row). Firmware total %s. Interned names: `%s`; with the code"
        " in ROMFS their text stays in the image (a module of 200 new 50-character names took"
        " 4 KB of heap, not 10), so the heap holds the pools, n_total_bytes less"
        " n_str_data_bytes: %s, which a frozen build keeps in flash too." % (
            kb(profile["live"] - profile["start"]), profile["qstr"], kb(_qstr_pools(profile["qstr"]))),
        "",
        "| module (and what it imported first) | live |",
        "|---|---|",
    ]
    lines += ["| %s | %s |" % (name, kb(size)) for name, size in rows if size >= 1024]
    lines += ["| %d smaller | %s |" % (
        len([r for r in rows if r[1] < 1024]), kb(sum(r[1] for r in rows if r[1] < 1024))), ""]
    lines += [
        "Not in these rows: the code the meter loads only for a use (main.ON_DEMAND, ondemand.py:"
        " the control plane and its tokens, the trust policy, the update gate and the crypto"
        " only they use), and the boot's own (main.BOOT_ONLY: the self-test, the identity"
        " check, the boot stage). A use loads its code and releases it after; at boot each"
        " kind of use (main.USES) loads its code once, so that the peak for the code and the"
        " name tables come at boot. What each use adds while it runs, before its own buffers"
        " (same port, ROMFS):",
        "",
        "| use | adds while it runs | left after it |",
        "|---|---|---|",
    ]
    lines += ["| %s | %s | %d B |" % (use, kb(during), after)
              for use, during, after in profile["uses"]]
    lines.append("")
    if boards:
        lines += frozen_lines(live, profile, boards, kb)
    return lines


def frozen_lines(live, profile, boards, kb):
    """The frozen-build estimate per board, from the 32-bit ROMFS figures."""
    after_boot = heap32.firmware_bytes(live[("rom", "boards")][32])
    pools = _qstr_pools(profile["qstr"])
    use, during = max(((use, during) for use, during, _after in profile["uses"]
                       if not use.startswith("every")), key=lambda pair: pair[1])
    lines = [
        "What a frozen build would hold, estimated from these figures (no frozen 32-bit build"
        " runs here; heap32.frozen_estimate): the live bytes after boot the boards' way with"
        " ROMFS (%s), less the tables of interned names (%s: in flash when frozen) and the"
        " rig's cryptolib (%s: C on a board), with the board's own module instead of the sim's"
        " (%s; tools/bench/benchmarks/board_live.py); while the largest use runs (%s), its"
        " code comes on top (%s, measured with ROMFS, where its few big-int constants are on"
        " the heap: a little high). Neither figure holds a use's working buffers (an Ed25519"
        " verify's big ints) nor an uplink session's, and the sim's hardware objects stand"
        " for the board's." % (kb(after_boot), kb(pools), kb(boards["cryptolib"]),
                               kb(boards["sim"]), use, kb(during)),
        "",
        "| board | its module | frozen, after boot | frozen, while the largest use runs | budget |",
        "|---|---|---|---|---|",
    ]
    for board in ("esp32", "esp32_atm90e32", "rp2040"):
        held, peak = heap32.frozen_estimate(after_boot, pools, boards, board, during)
        lines.append("| %s | %s | %s | %s | 64 KB |" % (board, kb(boards[board]), kb(held),
                                                        kb(peak)))
    lines.append("")
    return lines


def metering_section(results):
    cost = results["metering_cost"][0]
    heap = results["metering_heap"][0]
    code = heap["after_imports"] - heap["interpreter_base"]
    runtime = heap["steady_after_collect"] - heap["after_imports"]
    lines = [
        "## Metering (issue 3)",
        "",
        "### Cost per sample pair (MicroPython unix port, x86-64)",
        "",
        "Same pre-filled buffer, same run; the bare loop only reads the two samples of each"
        " pair (plus the same block copy the meter's ADC read does).",
        "",
        "| path | metering ns/pair | bare loop ns/pair | ratio |",
        "|---|---|---|---|",
    ]
    for name in ("viper", "python"):
        c = cost[name]
        lines.append("| %s | %.1f | %.1f | %.2fx |" % (
            name, 1000 * c["metering_us_per_pair"], 1000 * c["bare_us_per_pair"], c["ratio"]))
    v, p = cost["viper"], cost["python"]
    lines += [
        "",
        "The viper meter against the *plain-Python* bare loop: %.2fx (it is %.1fx faster than"
        " the plain-Python meter). At 4,000 pairs/s the viper path spends %.2f ms of CPU per"
        " second of mains on this machine." % (
            v["metering_us_per_pair"] / p["bare_us_per_pair"],
            p["metering_us_per_pair"] / v["metering_us_per_pair"],
            4.0 * v["metering_us_per_pair"]),
        "",
    ]
    icount = results.get("metering_icount")
    if icount:
        lines += [
            "Instructions per pair (callgrind, x86-64, same workloads, window analysis"
            " included): viper meter %.0f, bare loop %.0f, ratio %.2fx. The boards' in-order"
            " cores run about one instruction per cycle, so this ratio carries over to them;"
            " the wall-time ratio above is wider because this out-of-order x86 runs the"
            " bare loop's independent adds several per cycle. Run without address-space"
            " randomisation (setarch -R): the counts repeat to within about 2 %%, much closer"
            " than the times (with randomisation, about 5 %%)." % (icount["meter_per_pair"], icount["bare_per_pair"],
                                    icount["ratio"]),
            "",
        ]
    lines += [
        "### Heap (`micropython -X heapsize=%dK`, modules compiled with mpy-cross)" % (
            heap["heap_total"] // 1024),
        "",
        "| what | bytes |",
        "|---|---|",
        "| firmware code loaded from .mpy into RAM (main, the App and what it imports, board"
        " included; not the code the App loads only for a use, main.ON_DEMAND) | %d |" % code,
        "| the running app at steady state: metering objects and buffers, P1, uplink, audit,"
        " key state, and the names the on-demand code interned at boot (after gc) | %d |" % runtime,
        "| lowest free heap while metering | %d |" % heap["lowest_free_while_running"],
        "",
        "On a board the code can live in flash (frozen modules or a ROMFS partition), so the"
        " metering module's own need is the steady-state line.",
        "",
    ]
    return lines


def accuracy_section(rows):
    lines = [
        "### Accuracy: worst-case error per test point (MicroPython, synthetic truth)",
        "",
        "Ideal 12-bit front-end, 1 count RMS noise, noise floor from a no-load calibration;"
        " P averaged over 4 one-second windows.",
        "",
        "| point | P error % | limit % | Vrms % | Irms % | freq error Hz |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| %s | %+.4f | %.1f | %+.4f | %+.4f | %.5f |" % (
            r["name"], r["p_pct"], r["limit_pct"], r["v_pct"], r["i_pct"], r["f_hz"]))
    worst = max(rows, key=lambda r: abs(r["p_pct"]) / r["limit_pct"])
    lines += ["", "Worst P error relative to its limit: %s, %+.4f %% (limit %.1f %%)." % (
        worst["name"], worst["p_pct"], worst["limit_pct"]), ""]
    return lines


def front_end_section(rows):
    """Class 1 on the chips' front-end profiles, one-point vs multi-point calibration."""
    points = {}
    counts = {}
    shifts = {}
    for r in rows:
        if "curve_points" in r:
            counts[r["profile"]] = r["curve_points"]
        elif "influence" in r:
            key = r["profile"], r["influence"]
            shifts[key] = max(shifts.get(key, 0.0), abs(r["shift_pct"]))
        else:
            points.setdefault(r["name"], {"limit": r["limit_pct"]})[r["profile"]] = r
    lines = [
        "### Accuracy on front-ends as parts are (IEC 62053-21 class 1)",
        "",
        "The sim board with each chip's errors switched on (boards/front_end_errors.py: ADC"
        " INL and DNL spikes, reference off nominal, CT ratio and phase error growing at low"
        " current), calibrated through the firmware's own bench steps: *one point* is"
        " no-load + PF 1 + PF 0.5 at Ib; *curve* adds PF 0.5 at %s current points"
        " (metering.current_curve). P error %%, limit %% of class 1." % (
            "/".join(sorted(set(str(n) for n in counts.values())))),
        "",
        "| point | limit % | ESP32 one point | ESP32 curve | RP2040 one point | RP2040 curve |",
        "|---|---|---|---|---|---|",
    ]
    worst = {}
    for name, by in points.items():
        cells = []
        for profile in ("esp32", "rp2040"):
            r = by[profile]
            cells += ["%+.3f" % r["one_point_pct"], "%+.3f" % r["curve_pct"]]
            share = abs(r["curve_pct"]) / by["limit"]
            if share > worst.get(profile, (0, ""))[0]:
                worst[profile] = (share, name)
        lines.append("| %s | %.1f | %s |" % (name, by["limit"], " | ".join(cells)))
    lines.append("")
    for profile in sorted(worst):
        share, name = worst[profile]
        lines.append("%s with the curve: worst point %s at %.0f %% of its limit." % (
            profile.upper(), name, 100 * share))
    lines += ["", "Influence with the curve (largest shift of P error over 0.1 Ib, Ib, Imax"
              " at PF 1; class 1 allows 0.7 % for 0.9..1.1 Un and 0.05 %/K):", ""]
    for (profile, label), shift in sorted(shifts.items()):
        per_k = ""
        if label.endswith("C"):
            per_k = " (%.4f %%/K)" % (shift / abs(float(label.split()[0]) - 23.0))
        lines.append("- %s %s: %.3f %%%s" % (profile.upper(), label, shift, per_k))
    lines.append("")
    return lines


def ic_section(rows):
    """The accuracy grid through the ATM90E32 driver on its emulator."""
    grid = {}
    ct = []
    for r in rows:
        if "ct_name" in r:
            ct.append(r)
        else:
            grid.setdefault(r["name"], {"limit": r["limit_pct"]})[r["phases"]] = r
    lines = [
        "### Accuracy through the metering IC (ATM90E32 driver on its emulator)",
        "",
        "boards/atm90e32.py and metering.ic_windows against host_tests/rigs/atm90e32_chip.py"
        " (the chip's registers, SPI frames and energy accumulation, fed by the sim's"
        " waveforms; its own gain errors +0.4 % V, -0.7 % I, 0.15 degrees), after the same"
        " bench steps as the ADC (PF 1 and PF 0.5 at Ib). P from the chip's mean power"
        " registers; three-phase: the sum of three such phases 120 degrees apart. The"
        " emulator models the chip's interface and arithmetic, not its analogue front-end:"
        " these figures test the driver and the seam, not the silicon.",
        "",
        "| point | limit % | 1 phase P % | 3 phases P % | 1 phase Irms % |",
        "|---|---|---|---|---|",
    ]
    for name, by in grid.items():
        lines.append("| %s | %.1f | %+.4f | %+.4f | %+.4f |" % (
            name, by["limit"], by[1]["p_pct"], by[3]["p_pct"], by[1]["i_pct"]))
    worst = max(max(abs(by[k]["p_pct"]) / by["limit"] for k in (1, 3)) for by in grid.values())
    lines += ["", "Worst P error relative to its limit: %.1f %%." % (100 * worst), ""]
    if ct:
        one = sum(1 for r in ct if abs(r["one_point_pct"]) > r["limit_pct"])
        worst_ct = max(abs(r["curve_pct"]) / r["limit_pct"] for r in ct)
        lines += ["With the shared CT's errors in front of the chip (boards/front_end_errors.py),"
                  " %d class 1 points: one-point calibration leaves %d outside their limits;"
                  " with the multi-point curve the worst is at %.1f %% of its limit." % (
                      len(ct), one, 100 * worst_ct), ""]
    return lines


def comms_section(results):
    p1 = results["p1_cost"][0]
    g = results["gcm_cost"][0]
    return [
        "## Comms (issue 4)",
        "",
        "| what | figure |",
        "|---|---|",
        "| one P1 telegram (%d bytes), build incl. CRC | %.0f us |" % (p1["telegram_bytes"], p1["build_us"]),
        "| of which CRC-16/ARC | %.0f us |" % p1["crc_us"],
        "| heap allocated per telegram (garbage, collected) | %d bytes |" % p1["alloc_bytes"],
        "| one day's uplink message (%d bytes; 96 quarter-hours are 2,689 bytes) AES-128-GCM, viper GHASH | %.0f us |" % (
            g["message_bytes"], g["gcm_viper_ns"] / 1000),
        "| the same bytes as bare AES-ECB blocks via cryptolib, one call per block | %.1f us (GCM is %.1fx) |" % (
            g["ecb_blocks_ns"] / 1000, g["viper_vs_ecb_blocks"]),
        "| the same bytes as one bulk cryptolib ECB call | %.1f us (GCM is %.1fx) |" % (
            g["ecb_bulk_ns"] / 1000, g["viper_vs_ecb_bulk"]),
        "| plain-Python GHASH path (CPython twin, on MicroPython) | %.0f us (%.0fx the viper path) |" % (
            g["gcm_plain_ns"] / 1000, g["plain_vs_viper"]),
        "| heap held by a GCM object (4-bit Shoup table + buffers) | %d bytes |" % g["gcm_object_heap_bytes"],
        "",
    ]


def update_section(results):
    e = results["ed25519_cost"][0]
    lines = [
        "## Signature verification (issue 5)",
        "",
        "| what | figure |",
        "|---|---|",
        "| one Ed25519 verification (strict, joint wNAF, fixed-base table) | %.1f ms |" % e["verify_ms"],
        "| RFC 8032 section 6 reference verify, same interpreter, same run | %.1f ms (ours is %.1fx faster) |" % (
            e["verify_ref_ms"], e["speedup"]),
        "| first verification (the base table is a constant: nothing to build) | %.1f ms |"
        % e["first_verify_ms"],
        "| SHA-512 of 1 KB, viper / plain Python | %.2f / %.2f ms |" % (e["sha512_1k_ms"], e["sha512_1k_plain_ms"]),
        "| least free heap one verification succeeds in | %d bytes |" % e["verify_min_free_bytes"],
        "| heap held by the fixed-base table | %d bytes |" % e["base_table_bytes"],
        "| estimated verify time on ESP32 @ 240 MHz / RP2040 @ 125 MHz | %s / %s ms |" % (
            e["est_esp32_ms"], e["est_rp2040_ms"]),
        "",
        "The board estimates scale a big-integer yardstick (MicroPython's bm_pidigits, re-run"
        " here in the same process) by its published time on a PYBv1.0 (104.1 ms) and the"
        " published pystone ratios PYBv1.0 : ESP32 (0.90) and PYBv1.0 : Pico (0.66);"
        " expect +/-30 %.",
        "",
    ]
    for u in results.get("update_cost", []):
        lines += [
            "## Update flow (issue 5)",
            "",
            "A %d-byte package of %d files with %d signatures (vendor + operator), code from"
            " the mpy-cross build, on the unix port (64-bit: objects are about twice their"
            " size on the boards)." % (u["package_bytes"], u["files"], u["signatures"]),
            "",
            "| what | figure |",
            "|---|---|",
            "| check the manifest (form, %d signatures, board, expiry, counter) | %.1f ms |" % (
                u["signatures"], u["check_manifest_ms"]),
            "| whole install (manifest, stream every file into a slot while hashing) | %.1f ms |"
            % u["install_ms"],
            "| of which the files (SHA-256 + writes) | %.1f ms |" % u["stream_files_ms"],
            "| boot stage's check of the slot (sizes, hashes, stray files) | %.1f ms |" %
            u["boot_check_ms"],
            "| least free heap the install still succeeds in | %d bytes |" %
            u["install_min_free_bytes"],
            "| least free heap the boot check succeeds in | %d bytes |" %
            u["boot_check_min_free_bytes"],
            "| heap the imported update code keeps (.mpy) | %d bytes |" % u["code_heap_bytes"],
            "",
            "On a board the two verifications dominate: about twice the estimated verify time"
            " above.",
            "",
        ]
    return lines


WEAR_DAYS = 3


def flash_wear_counts():
    """Erases per day on littlefs as the boards configure it (flash_wear.py, CPython)."""
    proc = subprocess.run([sys.executable, os.path.join(BENCH_DIR, "flash_wear.py"),
                           str(WEAR_DAYS), "128"], capture_output=True, text=True,
                          timeout=1800, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit("flash_wear.py failed:\n%s%s" % (proc.stdout, proc.stderr))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wear_section(wear):
    per_day = wear["erases_per_day"]
    lines = [
        "",
        "## Flash wear: erases counted on littlefs (issue 11)",
        "",
        "The meter's storage on littlefs v2 (littlefs-python) with MicroPython's board"
        " configuration (4 KiB blocks, read/prog 32, cache 128, lookahead 32, block_cycles 100)"
        " on a 128-block device that counts erases; the meter runs %d days with its clock sped"
        " up (tools/bench/benchmarks/flash_wear.py)." % wear["days"],
        "",
        "| writer | erases per day |",
        "|---|---|",
    ]
    for name, count in sorted(wear["by_file_per_day"].items()):
        lines.append("| %s | %.1f |" % (name, count))
    lines += [
        "| **total** | **%.1f** |" % per_day,
        "",
        "State saves per day: %.0f. littlefs spreads erases over the free blocks; with the"
        " firmware's three copies static, about 370 blocks stay free on an ESP32 (4 MB, 2 MB"
        " file system) and about 200 on a Pico (1.4 MB): %.0f and %.0f years to 100,000"
        " cycles (goal: 100)." % (wear["saves_per_day"], 100000 * 370 / per_day / 365,
                                  100000 * 200 / per_day / 365),
        "",
    ]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    parser.add_argument("--json", action="store_true", help="print raw results as JSON")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        mpy = heap_budget.compile_tree(os.path.join(tmp, "mpy"))
        data = os.path.join(tmp, "data")
        print("metering cost ...", file=sys.stderr)
        results["metering_cost"] = run_mp("metering_cost.py", ROOT)
        print("metering instruction counts ...", file=sys.stderr)
        results["metering_icount"] = instruction_counts()
        print("metering heap ...", file=sys.stderr)
        results["metering_heap"] = run_mp("metering_heap.py", mpy, data, "20", heap="384K")
        print("comms ...", file=sys.stderr)
        results["p1_cost"] = run_mp("p1_cost.py", ROOT)
        results["gcm_cost"] = run_mp("gcm_cost.py", ROOT)
        print("signatures ...", file=sys.stderr)
        results["ed25519_cost"] = run_mp("ed25519_cost.py", ROOT)
        if os.path.exists(os.path.join(BENCH_DIR, "update_cost.py")):
            results["update_cost"] = run_mp("update_cost.py", ROOT, mpy, heap="256K")
        print("whole flow heap scan ...", file=sys.stderr)
        results["flow_heap"] = flow_scans(mpy, os.path.join(tmp, "flow"))
        print("32-bit live heap ...", file=sys.stderr)
        live = heap32.LiveHeap(os.path.join(tmp, "live32"))
        results["live32"] = {(mode, way): {bits: live.run(bits, mode, way) for bits in (32, 64)}
                             for mode in heap32.MODES for way in heap32.WAYS}
        results["import_live"] = heap32.import_profile(live)
        results["boards_live"] = heap32.board_modules(os.path.join(tmp, "boards32"))
        print("accuracy grid ...", file=sys.stderr)
        results["accuracy"] = run_mp("accuracy_table.py", ROOT)
        results["accuracy_front_ends"] = run_mp("accuracy_front_ends.py", ROOT)
        results["accuracy_ic"] = run_mp("accuracy_ic.py", ROOT)
        print("flash wear ...", file=sys.stderr)
        results["flash_wear"] = flash_wear_counts()
    if args.json:
        print(json.dumps(jsonable(results), indent=1))
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (tools/bench/report.py) on %s, %s, Python %s. Numbers from"
        " one run; compare ratios, not absolute times." % (
            datetime.date.today().isoformat(), platform.machine(), platform.python_version()),
        "",
    ]
    lines += metering_section(results)
    lines += accuracy_section(results["accuracy"])
    lines += front_end_section(results["accuracy_front_ends"])
    lines += ic_section(results["accuracy_ic"])
    lines += comms_section(results)
    lines += update_section(results)
    ratios = {mode: heap32.ratio(results["live32"], mode, "boards") for mode in heap32.MODES}
    lines += flow_section(results["flow_heap"], ratios)
    lines += live32_section(results["live32"], results["import_live"],
                            results.get("boards_live"))
    lines += wear_section(results["flash_wear"])
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("wrote %s" % os.path.relpath(args.out, ROOT))


if __name__ == "__main__":
    main()
