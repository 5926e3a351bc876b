"""The head-end's firmware sender: serves operator-signed packages to meters over the
link, chunk by chunk, from wherever each meter says it is (resumable). It signs nothing
and checks nothing: the meter's own update gate decides (docs/UPDATE.md).

A package waiting for a meter is DIR/<system title hex>.pkg; when the meter reports
its verdict (sealed, in an uplink message the head-end has authenticated: `retire`) the
file is renamed to .pkg.accepted or .pkg.rejected, so it is sent once.
Protocol: firmware/comms/fwlink.py.
"""
import os

from tools.shared.paths import use_firmware

use_firmware()

from comms import fwlink  # noqa: E402 - the wire format, as the meter speaks it

OFFSET_TOPIC = "meters/+/" + fwlink.OFFSET_TOPIC


class FirmwareServer:
    def __init__(self, folder):
        self.folder = folder

    def _package(self, title_hex):
        return os.path.join(self.folder, title_hex + ".pkg")

    @staticmethod
    def _title(topic):
        parts = topic.split("/")
        return parts[1] if len(parts) == 4 and parts[0] == "meters" else None

    def retire(self, title, verdict):
        """The meter's verdict, from an authenticated uplink message: the package is sent
        once (busy, a firmware on trial, is temporary: it stays for later)."""
        path = self._package(title)
        if os.path.exists(path) and verdict != "rejected busy":
            ending = ".accepted" if verdict.startswith("accepted") else ".rejected"
            os.replace(path, path + ending)
        return {"event": "firmware", "meter": title, "result": verdict}

    def handle(self, topic, msg):
        """(report or None, [(topic, payload)] to publish) for a fw/offset."""
        title = self._title(topic)
        if title is None or not all(c in "0123456789abcdef" for c in title):
            return None, []
        path = self._package(title)
        offset = fwlink.unpack_offset(msg)
        if offset is None or not os.path.exists(path):
            return None, []
        with open(path, "rb") as f:
            f.seek(0, 2)
            total = f.tell()
            if offset > total:  # leftovers of another package: start over from 0
                offset = 0
            f.seek(offset)
            # at offset == total an empty chunk tells a meter that holds it all to install
            data = f.read(fwlink.MAX_CHUNK)
        chunk = fwlink.pack_chunk(offset, total, data)
        report = None
        if offset == 0:
            report = {"event": "firmware-sending", "meter": title, "bytes": total}
        return report, [("meters/%s/%s" % (title, fwlink.CHUNK_TOPIC), chunk)]
