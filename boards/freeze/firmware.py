# What every board's image freezes: the firmware (firmware/ is the flash root, so its
# modules freeze at the top level), the shared board modules plus the board's own, and
# the micropython-lib packages of requirements-board.txt. Included by <board>/manifest.py
# with board="<name>". The flash then holds only data/, fw/ (update slots) and board.txt.
# tools/deploy/stage.py reads the same manifests: what they list is what `make deploy`,
# the sim and virtual boards and update packages carry.
options.defaults(board=None)
if options.board is None:
    raise ValueError("include this manifest with board=<name>")

require("umqtt.simple")  # pinned in requirements-board.txt

_FIRMWARE = "../../firmware"
for _package in ("comms", "control", "metering", "storage", "update"):
    package(_package, base_path=_FIRMWARE)
# crypto/ed25519_ref.py is left out: the RFC 8032 reference is for host tests and tools
package("crypto", files=["__init__.py", "aes.py", "ct.py", "ed25519.py", "ed25519_table.py",
                         "gcm.py", "gcm_viper.py", "keywrap.py", "sha512.py",
                         "sha512_viper.py"],
        base_path=_FIRMWARE)
for _module in ("app.py", "boot.py", "boot_install.py", "canonical.py", "civiltime.py", "compat.py", "main.py",
                "ondemand.py", "post.py", "post_result.py", "refusal.py", "service.py", "settings.py"):
    module(_module, base_path=_FIRMWARE)
# a board's own modules: <board>.py, and the modules it splits off (viper twins)
_BOARD_FILES = {"esp32": ["esp32.py", "esp32_acquire.py", "esp32_acquire_viper.py"],
                "esp32_atm90e32": ["esp32.py", "esp32_acquire.py", "esp32_acquire_viper.py",
                                   "atm90e32.py", "esp32_atm90e32.py"],
                "sim": ["sim.py", "front_end_errors.py"]}
package("boards", files=["__init__.py", "common.py"]
        + _BOARD_FILES.get(options.board, [options.board + ".py"]), base_path="../..")
