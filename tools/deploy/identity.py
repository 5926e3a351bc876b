"""Write the metering module's identity (firmware/metering/identity.py SOFTWARE_ID): SHA-256
over its code, computed by the firmware's own function. Run after changing any module of
firmware/metering/; a test fails until it is.

  python -m tools.deploy.identity            # rewrite SOFTWARE_ID
  python -m tools.deploy.identity --check    # exit 1 if it is stale
"""
import argparse
import os
import re
import sys

from tools.shared.errors import ToolError, exit_status
from tools.shared.paths import FIRMWARE_DIR, use_firmware

use_firmware()

from metering import identity  # noqa: E402

FOLDER = os.path.join(FIRMWARE_DIR, "metering")
_LINE = re.compile(r'^SOFTWARE_ID = "[0-9a-f]{16}"', re.M)


def current():
    """The id of the sources in firmware/metering/ now."""
    got = identity.compute(lambda name: open(os.path.join(FOLDER, name + ".py"), "rb"))
    if got is None:
        raise ToolError("a module named in identity.MODULES is missing from %s" % FOLDER)
    return got


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.deploy.identity",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args(argv)

    def run():
        path = os.path.join(FOLDER, "identity.py")
        with open(path) as f:
            text = f.read()
        new = current()
        stated = _LINE.search(text)
        if stated is None:
            raise ToolError("%s has no SOFTWARE_ID line" % path)
        if args.check:
            if new not in stated.group(0):
                raise ToolError("SOFTWARE_ID is stale: the metering code hashes to %s (run "
                                "python -m tools.deploy.identity)" % new)
            print("metering module %s: up to date" % new)
            return
        with open(path, "w") as f:
            f.write(_LINE.sub('SOFTWARE_ID = "%s"' % new, text, count=1))
        print("metering module %s written to %s" % (new, path))

    return exit_status("identity", run)


if __name__ == "__main__":
    sys.exit(main())
