"""Write the metering module's identity (firmware/metering/identity.py SOFTWARE_ID): SHA-256
over its code, computed by the firmware's own function, and each board's driver identity
(DRIVER_IDS) over the board modules identity.BOARD_DRIVERS names. Run after changing any
module of firmware/metering/ or of a board's drivers; a test fails until it is.

  python -m tools.deploy.identity            # rewrite SOFTWARE_ID and DRIVER_IDS
  python -m tools.deploy.identity --check    # exit 1 if either is stale
"""
import argparse
import os
import re
import sys

from tools.shared.errors import ToolError, exit_status
from tools.shared.paths import FIRMWARE_DIR, ROOT, use_firmware

use_firmware()

from metering import identity  # noqa: E402

FOLDER = os.path.join(FIRMWARE_DIR, "metering")
BOARDS_FOLDER = os.path.join(ROOT, "boards")
_LINE = re.compile(r'^SOFTWARE_ID = "[0-9a-f]{16}"', re.M)
_DRIVERS_LINE = re.compile(r"^DRIVER_IDS = \{[^}]*\}", re.M)


def _compute(folder, names):
    got = identity.compute(lambda name: open(os.path.join(folder, name + ".py"), "rb"), names)
    if got is None:
        raise ToolError("a module named in metering/identity.py is missing from %s" % folder)
    return got


def current():
    """The id of the sources in firmware/metering/ now."""
    return _compute(FOLDER, identity.MODULES)


def current_drivers():
    """{board: driver id} of the sources in boards/ now."""
    return {board: _compute(BOARDS_FOLDER, names)
            for board, names in sorted(identity.BOARD_DRIVERS.items())}


def _drivers_text(ids):
    lines = ["DRIVER_IDS = {  # tools.deploy.identity writes it"]
    lines += ['    "%s": "%s",' % item for item in sorted(ids.items())]
    return "\n".join(lines) + "\n}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.deploy.identity",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args(argv)

    def run():
        path = os.path.join(FOLDER, "identity.py")
        with open(path) as f:
            text = f.read()
        new, drivers = current(), current_drivers()
        stated = _LINE.search(text)
        stated_drivers = _DRIVERS_LINE.search(text)
        if stated is None or stated_drivers is None:
            raise ToolError("%s has no SOFTWARE_ID or DRIVER_IDS line" % path)
        if args.check:
            if new not in stated.group(0):
                raise ToolError("SOFTWARE_ID is stale: the metering code hashes to %s (run "
                                "python -m tools.deploy.identity)" % new)
            if identity.DRIVER_IDS != drivers:
                raise ToolError("DRIVER_IDS is stale: the board drivers hash to %s (run "
                                "python -m tools.deploy.identity)" % drivers)
            print("metering module %s and board drivers: up to date" % new)
            return
        text = _LINE.sub('SOFTWARE_ID = "%s"' % new, text, count=1)
        start, end = stated_drivers.span()
        text = text[:start] + _drivers_text(drivers) + text[end:]
        with open(path, "w") as f:
            f.write(text)
        print("metering module %s and %d board drivers written to %s" % (new, len(drivers),
                                                                            path))

    return exit_status("identity", run)


if __name__ == "__main__":
    sys.exit(main())
