"""One lock for every flash operation: the metering loop's saves, the uplink's, an
update's staging and the shell's reads all reach the file system through storage.flash
and update.tree, and each of their calls holds storage.flash.LOCK (littlefs is not
thread-safe; the rp2 port runs two threads without a GIL)."""
import os

import main
from fixtures.update import kit
from mptest import temp_root
from storage import flash
from update import tree as tree_module


class CheckingLock:
    """A lock that knows whether it is held; it refuses to be taken twice (as _thread's
    would deadlock)."""

    def __init__(self):
        self.held = False
        self.taken = 0

    def __enter__(self):
        assert not self.held, "storage.flash.LOCK taken twice: a deadlock on a board"
        self.held = True
        self.taken += 1
        return self

    def __exit__(self, *exc):
        self.held = False
        return False


class GuardedOs:
    """The os module as flash and tree see it: each call must come with the lock held."""

    def __init__(self, lock, real):
        self._lock = lock
        self._real = real
        self.unguarded = []

    def __getattr__(self, name):
        real = getattr(self._real, name)

        def call(*args):
            if not self._lock.held:
                self.unguarded.append(name)
            return real(*args)

        return call


def test_metering_an_update_and_the_shell_hold_the_flash_lock_for_every_call():
    lock = CheckingLock()
    saved = (flash.LOCK, tree_module.LOCK, flash.os, tree_module.os)
    guarded = GuardedOs(lock, os)
    opened = []
    real_open = open

    def guarded_open(path, mode="r"):
        if not lock.held:
            opened.append(path)
        return real_open(path, mode)

    root = temp_root("flash-lock")
    cwd = os.getcwd()
    flash.LOCK = tree_module.LOCK = lock
    flash.os = tree_module.os = guarded
    flash.open = guarded_open
    try:
        flash.FileStore(root)  # creates the folder
        os.chdir(root)
        app = main.build("sim", paced=False, storage_root="data", p1_path=None)
        target = app.meter.sampler.windows + 3
        while app.meter.sampler.windows < target:
            app.step()
        app.meter.save()
        gate = app.update_gate()
        gate.install_policy([kit.policy()])
        tree = tree_module.FileTree("")
        tree.write("update.pkg", kit.package(expires=app.hw.clock.time() + kit.DAY_S))
        gate.install_file("update.pkg")  # streamed in, staged, activated
        tree.write("token.bin", b"signed")  # a file the technician copied
        assert flash.read_path("token.bin") == b"signed"  # the shell reads it
    finally:
        flash.LOCK, tree_module.LOCK, flash.os, tree_module.os = saved
        del flash.open
        os.chdir(cwd)
    assert lock.taken > 50
    assert guarded.unguarded == [] and opened == [], (guarded.unguarded, opened)


def test_the_lock_of_a_port_without_threads_takes_and_gives_without_waiting():
    from storage.flash import NoLock

    lock = NoLock()
    assert lock.acquire(0) is True and lock.acquire() is True  # nothing to exclude
    lock.release()
    with lock:
        pass


def test_a_file_is_read_at_its_own_size_and_one_too_large_for_its_format_is_not_read():
    root = temp_root("flash-read")
    flash.FileStore(root)  # creates the folder
    path = root + "/token.bin"
    with open(path, "wb") as f:
        f.write(b"x" * 100)
    # MicroPython's read(n) takes n bytes of heap before it reads: a limit of 256 MiB
    # would raise MemoryError here if the read asked for the limit, not the file's size
    assert flash.read_path(path, 1 << 28) == b"x" * 100
    assert flash.read_path(path) == b"x" * 100
    assert flash.read_path(path, 100) == b"x" * 100
    too_large = flash.read_path(path, 99)
    assert isinstance(too_large, flash.Oversized) and len(too_large) == 100


def test_the_shell_says_which_file_is_too_large_for_what_it_reads_itself():
    import service
    from mptest import raises

    root = temp_root("flash-read-shell")
    flash.FileStore(root)
    path = root + "/keys.json"
    with open(path, "wb") as f:
        f.write(b"{" + b" " * 600 + b"}")
    exc = raises(ValueError, service._read_whole, path, 512, "the keys file")
    assert "the keys file" in str(exc) and "602 bytes, more than 512" in str(exc), exc
    with open(path, "wb") as f:
        f.write(b"{}")
    assert service._read_whole(path, 512, "the keys file") == b"{}"
