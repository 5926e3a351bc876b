"""Code the running meter needs now and then (a command token, an update, the trial's
start and end, commissioning): imported for the use and released after it, so that its
functions, classes and tables are off the heap the rest of the time (docs/BOARDS.md,
"Memory"; BENCHMARKS.md has what it saves on a 32-bit MicroPython).

Released means forgotten by sys.modules and by its package; the next use imports it
afresh (frozen code: a module body run again; .mpy: read again). So no module that stays
loaded may hold one of these modules, or anything defined in one, past a use
(host_tests/firmware/test_ondemand.py checks the meter's live functions and classes for
that), and code that stays loaded catches their refusals by classes that stay
(refusal.Refusal and its kinds).

Uses run one at a time, whichever thread they come from: MicroPython has no import lock,
so a module another thread is still importing would be found half-built in sys.modules
(an ImportError for a name its body has not reached yet). A use in the same thread may
nest in another.
"""
import sys

from storage.flash import new_lock

try:
    from _thread import get_ident
except ImportError:  # a port without threads: one thread, always the owner
    def get_ident():
        return 0


class OnDemand:
    """The modules in `names`, loaded for the length of a `with` block and released when
    the outermost block ends. Blocks in other threads wait for it."""

    def __init__(self, names):
        self.names = names
        self.releases = 0  # how often loaded modules were released
        self._lock = new_lock()
        self._owner = None  # the thread whose use runs
        self._depth = 0  # its blocks under way

    def __enter__(self):
        me = get_ident()
        if self._owner != me:
            self._lock.acquire()
            self._owner = me
        self._depth += 1
        return self

    def __exit__(self, *exc_info):
        self._depth -= 1
        if self._depth == 0:
            try:
                self._release()
            finally:
                self._owner = None
                self._lock.release()
        return False

    def loaded(self):
        """The on-demand modules loaded now."""
        return [name for name in self.names if name in sys.modules]

    def release(self):
        """Forget every on-demand module now (no use may be under way: at boot). True if
        any was loaded."""
        with self:
            return bool(self.loaded())

    def _release(self):
        dropped = False
        for name in self.names:
            module = sys.modules.pop(name, None)
            dropped = dropped or module is not None
            package, _, child = name.rpartition(".")
            parent = sys.modules.get(package) if package else None
            # `import a.b` also made b an attribute of a, which would keep it (or an
            # older copy, from an import that ran outside a use)
            if parent is not None and child in parent.__dict__:
                delattr(parent, child)
        if dropped:
            self.releases += 1
        return dropped
