"""The metering module's face: sampling, registers, voltage quality, persistence.

Everything outside metering reads `snapshot()` (a fresh dict each call) and can change
nothing here. Registers are saved to a two-slot record so a power cut loses at most the
energy since the last save and never rewinds a register.
"""
from metering.registers import Registers, RegisterError
from metering.sampling import Sampler
from storage.slots import SlotStore


class Meter:
    def __init__(self, adc, cal, clock, store, starting_power_w, sag_v, swell_v,
                 save_interval_s=300, use_viper=True):
        self._clock = clock
        self._slots = SlotStore(store, "registers")
        self.registers = Registers(starting_power_w)
        self.restore_error = None
        saved = self._slots.load()
        if saved is not None:
            try:
                self.registers.restore(saved)
            except RegisterError as exc:  # keep counting from zero is worse than stopping
                self.restore_error = exc.reason
                raise
        self.sampler = Sampler(adc, cal, self._on_window, use_viper=use_viper)
        self.last = None
        self.sag_v = sag_v
        self.swell_v = swell_v
        self.sags = 0
        self.swells = 0
        self._quality = 0  # -1 in a sag, +1 in a swell, 0 normal
        self.save_interval_s = save_interval_s
        self._last_save_s = clock.time()
        self.saves = 0

    def poll(self):
        self.sampler.poll()

    def _on_window(self, result):
        self.last = result
        self.registers.add(result.p_w, result.n_pairs * 1000.0 / self.sampler.rate_hz)
        quality = -1 if result.vrms < self.sag_v else (1 if result.vrms > self.swell_v else 0)
        if quality != self._quality:
            if quality < 0:
                self.sags += 1
            elif quality > 0:
                self.swells += 1
            self._quality = quality
        now = self._clock.time()
        if now - self._last_save_s >= self.save_interval_s:
            self.save()

    def save(self):
        self._slots.save(self.registers.encode())
        self._last_save_s = self._clock.time()
        self.saves += 1

    def set_calibration(self, cal):
        self.sampler.set_calibration(cal)

    def snapshot(self):
        r = self.last
        reg = self.registers
        snap = {
            "import_wh": [reg.import_wh[1], reg.import_wh[2]],
            "export_wh": [reg.export_wh[1], reg.export_wh[2]],
            "tariff": reg.tariff,
            "sags": self.sags,
            "swells": self.swells,
            "coverage": self.sampler.coverage(),
            "windows": self.sampler.windows,
        }
        if r is not None:
            snap.update(r.to_dict())
        return snap
