"""The build check (tools.deploy.check_build): every firmware and board module compiles for the
ESP32 and RP2040 architectures, the board modules type-check against their port's
stubs, and both checks fail on code that MicroPython or the stubs reject. CPython only.
"""
import os

import pytest

from tools.deploy import check_build

# MicroPython py/persistentcode.h: a .mpy starts b"M", version 6, then the feature byte,
# whose bits 2..7 name the native architecture (MP_NATIVE_ARCH_*) of a file with native code
_MPY_ARCH = {"xtensawin": 10, "armv6m": 4}

_BOARD_LIKE_MODULE = """\
import machine


def hardware():
    return machine.ADC(26).{method}()
"""


def _require(stubs=None):
    try:
        check_build.find_mpy_cross()
    except check_build.SetupError as exc:
        pytest.skip(str(exc))
    if stubs is not None and not os.path.isdir(os.path.join(stubs, "stdlib")):
        pytest.skip("stubs missing: %s (run `make venv`)" % stubs)


def _stubs(port):
    path = os.path.join(check_build.STUBS_DIR, port)
    _require(path)
    return path


def _write(root, rel, text):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_every_firmware_and_board_module_compiles_for_esp32_and_rp2040():
    _require()
    report = check_build.compile_all()
    assert report["failures"] == []
    assert report["targets"] == {"esp32": "xtensawin", "rp2040": "armv6m"}
    files = check_build.source_files()
    assert report["files"] == len(files)
    assert {"firmware/compat.py", "boards/esp32.py", "boards/rp2040.py"} <= set(files)


def test_build_dir_holds_each_target_compiled_for_its_architecture(tmp_path):
    _require()
    check_build.compile_all(build_dir=str(tmp_path))
    for target, march in check_build.TARGETS.items():
        for rel in ("firmware/metering/kernel_viper.mpy", "boards/esp32_acquire_viper.mpy"):  # viper
            with open(os.path.join(str(tmp_path), target, rel), "rb") as f:
                header = f.read(3)
            assert header[:2] == b"M\x06"
            assert header[2] >> 2 == _MPY_ARCH[march]


def test_esp32_board_type_checks_against_the_esp32_stubs():
    result = check_build.typecheck("boards/esp32.py", _stubs("esp32"))
    assert result["ok"], result["errors"]


def test_rp2040_board_type_checks_against_the_rp2_stubs():
    result = check_build.typecheck("boards/rp2040.py", _stubs("rp2"))
    assert result["ok"], result["errors"]


def test_compile_fails_on_syntax_cpython_accepts_but_micropython_rejects(tmp_path):
    _require()
    source = "def tariff(code):\n    match code:\n        case 1:\n            return 'low'\n"
    compile(source, "bad.py", "exec")  # valid CPython 3.10+: the host alone would pass it
    _write(tmp_path, "firmware/bad.py", source)
    report = check_build.compile_all(root=str(tmp_path))
    assert sorted(f["target"] for f in report["failures"]) == ["esp32", "rp2040"]
    for failure in report["failures"]:
        assert failure["file"] == "firmware/bad.py"
        assert "line 2" in failure["error"] and "SyntaxError" in failure["error"]


def test_compile_fails_on_a_viper_type_error_for_each_architecture(tmp_path):
    _require()
    _write(tmp_path, "boards/fast.py", (
        "import micropython\n\n\n@micropython.viper\n"
        "def scale(code: int) -> int:\n    return code * 1.5\n"
    ))
    report = check_build.compile_all(root=str(tmp_path))
    assert sorted(f["target"] for f in report["failures"]) == ["esp32", "rp2040"]
    assert all("ViperTypeError" in f["error"] for f in report["failures"])


@pytest.mark.parametrize("port", ["esp32", "rp2"])
def test_typecheck_flags_a_machine_call_the_stubs_do_not_have(tmp_path, port):
    path = _write(tmp_path, "board_like.py", _BOARD_LIKE_MODULE.format(method="read_nonexistent"))
    result = check_build.typecheck(path, _stubs(port))
    assert not result["ok"]
    assert any("read_nonexistent" in line for line in result["errors"]), result["errors"]


def test_typecheck_passes_the_same_module_calling_a_real_method(tmp_path):
    path = _write(tmp_path, "board_like.py", _BOARD_LIKE_MODULE.format(method="read_u16"))
    result = check_build.typecheck(path, _stubs("rp2"))
    assert result["ok"], result["errors"]
