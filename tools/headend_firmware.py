"""The head-end's firmware sender: serves operator-signed packages to meters over the
link, chunk by chunk, from wherever each meter says it is (resumable). It signs nothing
and checks nothing: the meter's own update gate decides (docs/UPDATE.md).

A package waiting for a meter is DIR/<system title hex>.pkg; when the meter reports
its verdict the file is renamed to .pkg.accepted or .pkg.rejected, so it is sent once.
Protocol: firmware/comms/fwlink.py.
"""
import os
import struct

CHUNK_BYTES = 4096  # comms.fwlink.MAX_CHUNK
OFFSET_TOPIC = "meters/+/fw/offset"
RESULT_TOPIC = "meters/+/fw/result"


class FirmwareServer:
    def __init__(self, folder):
        self.folder = folder

    def _package(self, title_hex):
        return os.path.join(self.folder, title_hex + ".pkg")

    @staticmethod
    def _title(topic):
        parts = topic.split("/")
        return parts[1] if len(parts) == 4 and parts[0] == "meters" else None

    def handle(self, topic, msg):
        """(report or None, [(topic, payload)] to publish) for a fw/offset or fw/result."""
        title = self._title(topic)
        if title is None or not all(c in "0123456789abcdef" for c in title):
            return None, []
        path = self._package(title)
        if topic.endswith("/fw/result"):
            verdict = bytes(msg).decode("utf-8", "replace")[:200]
            # busy (a firmware on trial) is temporary: the package stays for later
            if os.path.exists(path) and verdict != "rejected busy":
                ending = ".accepted" if verdict.startswith("accepted") else ".rejected"
                os.replace(path, path + ending)
            return {"event": "firmware", "meter": title, "result": verdict}, []
        if len(msg) != 4 or not os.path.exists(path):
            return None, []
        (offset,) = struct.unpack("<I", bytes(msg))
        with open(path, "rb") as f:
            f.seek(0, 2)
            total = f.tell()
            if offset > total:  # leftovers of another package: start over from 0
                offset = 0
            f.seek(offset)
            # at offset == total an empty chunk tells a meter that holds it all to install
            data = f.read(CHUNK_BYTES)
        chunk = struct.pack("<II", offset, total) + data
        report = None
        if offset == 0:
            report = {"event": "firmware-sending", "meter": title, "bytes": total}
        return report, [("meters/%s/fw/chunk" % title, chunk)]
