"""In-memory stand-in for storage.flash.FileStore that can cut power at any mutating call.

Same methods and name rules as FileStore, plus test controls (power_loss_after, reboot,
flip_bit, wear). A cut tears the operation in flight the way MCUboot's simulator does.
"""
from storage.flash import check_name

_ENOENT = 2
# Cut points for the default "varied" tearing, in quarters of the data, picked by op count:
# half, none at all (byte 0), everything (cut after the data landed), a quarter, 3/4.
_VARIED_QUARTERS = (2, 0, 4, 1, 3)


class PowerLoss(BaseException):
    """Power went away during (or before) a mutating flash operation. A BaseException, as
    the real event is no error the firmware handles: the meter simply stops. The firmware's
    `except Exception` (which turns failures into audited refusals) must not catch it."""


class FakeFlash:
    """Files held in memory as name -> bytes.

    power_loss_after=N: the N-th mutating call (write, append, rename, remove; counted in
    `writes`) is torn and raises PowerLoss; every later mutating call raises PowerLoss until
    reboot(). tear: None varies the cut point with the op count; a fraction 0..1 fixes it
    (0 = nothing of the data lands, 1 = all of it lands but the caller never hears back).
    A torn rename/remove happens entirely when the fraction is >= 1/2, else not at all.
    """

    def __init__(self, power_loss_after=None, tear=None):
        self.files = {}
        self.power_loss_after = power_loss_after
        self.tear = tear
        self.writes = 0
        self.wear = {}
        self.lost = False

    # --- test controls -------------------------------------------------------------
    def arm(self, after, tear=None):
        """Cut power at the after-th mutating call from now."""
        self.power_loss_after = self.writes + after
        self.tear = tear

    def reboot(self):
        """Power comes back: contents kept, no further cut armed."""
        self.lost = False
        self.power_loss_after = None

    def snapshot(self):
        return dict(self.files)

    def copy(self):
        other = FakeFlash()
        other.files = dict(self.files)
        other.wear = dict(self.wear)
        return other

    def flip_bit(self, name, bit_index):
        data = bytearray(self.files[name])
        data[bit_index // 8] ^= 1 << (bit_index % 8)
        self.files[name] = bytes(data)

    def total_bytes(self):
        return sum(len(data) for data in self.files.values())

    # --- FileStore API ---------------------------------------------------------------
    def read(self, name, offset=0, length=None):
        data = self.files.get(check_name(name))
        if data is None:
            return None
        end = len(data) if length is None else offset + length
        return data[offset:end]

    def size(self, name):
        data = self.files.get(check_name(name))
        return None if data is None else len(data)

    def names(self):
        return sorted(self.files)

    def write(self, name, data):
        check_name(name)
        data = bytes(data)
        cut = self._begin()
        if cut is None:
            self._land(name, b"", data)
            return
        self._land(name, b"", data[:self._cut_len(cut, len(data))])
        raise PowerLoss("write " + name)

    def append(self, name, data):
        check_name(name)
        data = bytes(data)
        cut = self._begin()
        old = self.files.get(name, b"")
        if cut is None:
            self._land(name, old, data)
            return
        self._land(name, old, data[:self._cut_len(cut, len(data))])
        raise PowerLoss("append " + name)

    def replace(self, name, data):
        """storage.flash.FileStore.replace: written beside, then renamed over."""
        self.write(name + ".new", data)
        self.rename(name + ".new", name)

    def rename(self, old, new):
        check_name(old)
        check_name(new)
        cut = self._begin()
        if old not in self.files:
            raise OSError(_ENOENT, old)
        if cut is None or cut >= 2:
            self.files[new] = self.files.pop(old)
        if cut is not None:
            raise PowerLoss("rename " + old)

    def remove(self, name):
        check_name(name)
        cut = self._begin()
        if cut is None or cut >= 2:
            self.files.pop(name, None)
        if cut is not None:
            raise PowerLoss("remove " + name)

    # --- internals ------------------------------------------------------------------
    def _begin(self):
        """Count one mutating call; None to run it whole, else the cut point in quarters."""
        if self.lost:
            raise PowerLoss("power is off")
        self.writes += 1
        if self.power_loss_after is None or self.writes < self.power_loss_after:
            return None
        self.lost = True
        if self.tear is None:
            return _VARIED_QUARTERS[self.writes % len(_VARIED_QUARTERS)]
        return self.tear * 4

    @staticmethod
    def _cut_len(quarters, n):
        return int(n * quarters) // 4

    def _land(self, name, old, data):
        self.files[name] = old + data
        self.wear[name] = self.wear.get(name, 0) + len(data)
