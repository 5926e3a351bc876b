"""A real MQTT broker and the head-end serving on it, for the system tests: mosquitto (or
amqtt on a laptop, where a test allows it) on a free loopback port, and `python -m
tools.headend` run as the operator runs it."""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from syspkg import require

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
TIMEOUT_S = 60


def tool(*args):
    return subprocess.run([sys.executable, "-m", "tools.headend"] + list(args),
                          capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)


def ok(*args):
    proc = tool(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


class Broker:
    """mosquitto on a free loopback port, anonymous, no persistence. With allow_amqtt, on
    a laptop without Debian's mosquitto the pure-Python amqtt broker (PyPI) stands in (the
    head-end's own tests rely on mosquitto's persistent-session behaviour and do not);
    CI must use mosquitto (METER_CI=1 makes its absence a failure)."""

    def __init__(self, folder, allow_amqtt=False):
        self.allow_amqtt = allow_amqtt
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.command = self._command(folder)
        self.log = open(os.path.join(folder, "broker.log"), "ab")
        self.proc = None
        self.start()

    def _command(self, folder):
        if (not self.allow_amqtt or os.environ.get("METER_CI") or shutil.which("mosquitto")
                or os.path.exists("/usr/sbin/mosquitto")):
            binary = require("mosquitto", "mosquitto")
            conf = os.path.join(folder, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write("listener %d 127.0.0.1\nallow_anonymous true\n" % self.port)
            return [binary, "-c", conf]
        amqtt = os.path.join(os.path.dirname(sys.executable), "amqtt")
        if not os.path.exists(amqtt):
            pytest.skip("needs Debian package mosquitto (or PyPI amqtt in the venv)")
        conf = os.path.join(folder, "amqtt.yaml")
        with open(conf, "w") as f:
            f.write("listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:%d\n"
                    "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
                    "    allow_anonymous: true\n" % self.port)
        return [amqtt, "-c", conf]

    def start(self):
        self.proc = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port


class Serve:
    """`python -m tools.headend serve --json` in a subprocess; its JSON lines collected."""

    def __init__(self, broker, db, *extra):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.headend", "serve", "--broker", broker.address,
             "--db", db, "--json"] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.lines = []
        self.subscribed = threading.Semaphore(0)
        threading.Thread(target=self._read, daemon=True).start()
        assert self.subscribed.acquire(timeout=TIMEOUT_S), "head-end never subscribed"

    def _read(self):
        for line in self.proc.stdout:
            event = json.loads(line)
            self.lines.append(event)
            if event["event"] == "subscribed":
                self.subscribed.release()

    def wait(self):
        self.proc.wait(TIMEOUT_S)
        return self.proc.returncode, self.proc.stderr.read()
