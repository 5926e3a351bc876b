"""Port rigs: fakes of what a board module imports (`machine`, `rp2`, `_thread`, `os`),
each keeping the real port's API and limits, fed by the sim front-end's waveform, so that
boards/<board>.py and main.start() run under the MicroPython unix port in the tests.

`install(port, ...)` puts one port's fakes in front of the unix port's own modules (a
file shadows `machine`; `_thread` and `os` are replaced in sys.modules) and returns
`rigs.state`, the control API. One port per process: the shared tests that use a rig each
have a file of their own, which the MicroPython runner runs in its own process.
"""
import sys

from rigs import state

_HERE = __file__.rsplit("/", 1)[0]
PORTS = ("rp2", "esp32")


def install(port, design_cal, wiring, **scenario):
    """Fake `port`'s modules. design_cal: the board's front-end design
    (common.calibration_for(board)), which the simulated analogue world follows; wiring: {pin:
    "v" | "i"}, which signal reaches which ADC input; scenario: boards.sim settings."""
    if port not in PORTS:
        raise ValueError("no rig for port " + port)
    from boards.sim import SimFrontEnd

    settings = {"v_bias_code": design_cal["v_offset"], "i_bias_code": design_cal["i_offset"]}
    settings.update(scenario)
    state.reset(port, SimFrontEnd(calibration=design_cal, **settings), wiring)
    folder = _HERE + "/" + port
    if folder not in sys.path:
        sys.path.insert(0, folder)
    if port == "rp2":
        import rp2_thread
        import rp2_os

        sys.modules["_thread"] = rp2_thread
        sys.modules["os"] = rp2_os
    if port == "esp32":
        # the ESP32 driver's busy-wait pacing runs on the rig's clock (state.clock_us):
        # the same sample instants on an idle or a loaded host
        state.use_rig_clock()
        board = sys.modules.get("boards.esp32")
        if board is not None:
            board.time = state.rig_time
    return state
