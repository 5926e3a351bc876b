"""A running meter on the sim front-end with a fast clock, and a flash that runs full: for
the firmware tests of power cuts and of the energy a reset keeps."""
from boards import common, sim
from fakes.clock import ClockedADC
from fakes.flash import FakeFlash
from metering.calibration import Calibration
from metering.meter import Meter

SPEEDUP = 300  # each second of samples moves the clock five minutes: quarter-hours pass


def sim_meter(flash, clock, seed=1, **scenario):
    """A Meter on the sim front-end (20 A, 10 degrees unless the scenario says otherwise)
    whose clock runs SPEEDUP times fast."""
    options = {"load_a": 20.0, "phase_deg": 10.0}
    options.update(scenario)
    fe = sim.SimFrontEnd(seed=seed, **options)
    adc = ClockedADC(sim.SimADC(fe), clock, SPEEDUP)
    cal = Calibration(**common.shared_calibration())
    return Meter(adc, cal, clock, flash, starting_power_w=2.3, sag_v=207.0, swell_v=253.0,
                 save_interval_s=300)


def run_windows(meter, windows):
    """Polls the meter until `windows` more measurement windows have closed."""
    target = meter.sampler.windows + windows
    while meter.sampler.windows < target:
        meter.poll()


class FillingFlash(FakeFlash):
    """A flash that runs full: while `full`, every write and append is refused (ENOSPC)
    and nothing of it lands."""

    full = False

    def write(self, name, data):
        if self.full:
            raise OSError(28, "ENOSPC")
        return FakeFlash.write(self, name, data)

    def append(self, name, data):
        if self.full:
            raise OSError(28, "ENOSPC")
        return FakeFlash.append(self, name, data)
