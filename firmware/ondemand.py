"""Code the running meter needs now and then (a command token, an update, the trial's
start and end, commissioning): imported for the use and released after it, so that its
functions, classes and tables are off the heap the rest of the time (docs/BOARDS.md,
"Memory"; BENCHMARKS.md has what it saves on a 32-bit MicroPython).

Released means forgotten by sys.modules and by its package; the next use imports it
afresh (frozen code: a module body run again; .mpy: read again). So no module that stays
loaded may hold one of these modules, or anything defined in one, past a use
(host_tests/firmware/test_ondemand.py checks the meter's modules for that), and code that
stays loaded catches their refusals as refusal.Refusal, whose classes stay.
"""
import sys

from storage.flash import new_lock


class OnDemand:
    """The modules in `names`, loaded for the length of a `with` block (blocks may nest
    and run in two threads at once) and released when the last block ends."""

    def __init__(self, names):
        self.names = names
        self.users = 0
        self.releases = 0  # how often loaded modules were released (status shows it)
        self._lock = new_lock()

    def __enter__(self):
        with self._lock:
            self.users += 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self.users -= 1
        self.release()
        return False

    def loaded(self):
        """The on-demand modules loaded now."""
        return [name for name in self.names if name in sys.modules]

    def release(self):
        """Forget every on-demand module unless a use is under way. True if any was
        loaded. Objects still held (a caller's) keep working: their code stays until
        they go."""
        with self._lock:
            if self.users:
                return False
            dropped = False
            for name in self.names:
                module = sys.modules.pop(name, None)
                if module is None:
                    continue
                dropped = True
                package, _, child = name.rpartition(".")
                parent = sys.modules.get(package) if package else None
                # `import a.b` also made b an attribute of a, which would keep it
                if parent is not None and getattr(parent, child, None) is module:
                    delattr(parent, child)
            if dropped:
                self.releases += 1
            return dropped
