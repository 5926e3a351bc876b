"""rp2 for the rp2 port rig: the DMA class as documented in MicroPython's
docs/library/rp2.DMA.rst (config, pack_ctrl/unpack_ctrl, active, irq, close, the read /
write / count / ctrl attributes, `registers` and `channel`), behaving as RP2040 datasheet
§2.5 describes: DREQ pacing, TRANS_COUNT reload on trigger, CHAIN_TO, the AL2 write-
address trigger alias, IRQ unless IRQ_QUIET. Transfers happen when the ADC block
completes a conversion (rp2040_chip), so the ring fills in real time.
"""
import uctypes

import rp2040_chip
from rp2040_chip import RigError

_CHANNELS = 12
_in_use = [None] * _CHANNELS
# §2.5.7 CTRL_TRIG bit fields: name -> (lsb, width)
_CTRL_FIELDS = {
    "enable": (0, 1), "high_pri": (1, 1), "size": (2, 2), "inc_read": (4, 1),
    "inc_write": (5, 1), "ring_size": (6, 4), "ring_sel": (10, 1), "chain_to": (11, 4),
    "treq_sel": (15, 6), "irq_quiet": (21, 1), "bswap": (22, 1), "sniff_en": (23, 1),
}
_AL2_WRITE_ADDR_TRIG = 11  # §2.5.7: word 11 of a channel's registers
_TREQ_PERMANENT = 0x3F


class DMA:
    def __init__(self):
        for n in range(_CHANNELS):
            if _in_use[n] is None:
                _in_use[n] = self
                self.channel = n
                break
        else:
            raise OSError(16)  # EBUSY: all channels claimed
        self._ctrl = None
        self._read = None
        self._write_buf = None
        self._write_base = 0
        self._write_at = 0  # bytes written from _write_base
        self._count = 0
        self._count_reload = 0
        self._active = False
        self._handler = None
        self.registers = _Registers(self)

    def pack_ctrl(self, default=None, **fields):
        # rp2.DMA.rst: defaults are the channel's reset defaults, plus chain_to itself,
        # treq_sel permanent and irq_quiet set
        value = {"enable": 1, "size": 2, "inc_read": 1, "inc_write": 1, "chain_to": self.channel,
                 "treq_sel": _TREQ_PERMANENT, "irq_quiet": 1}
        for name in fields:
            if name not in _CTRL_FIELDS:
                raise TypeError("unexpected keyword argument '%s'" % name)
        value.update(fields)
        ctrl = 0
        for name, v in value.items():
            lsb, width = _CTRL_FIELDS[name]
            ctrl |= (int(v) & ((1 << width) - 1)) << lsb
        return ctrl

    @staticmethod
    def unpack_ctrl(ctrl):
        return {name: (ctrl >> lsb) & ((1 << width) - 1)
                for name, (lsb, width) in _CTRL_FIELDS.items()}

    def config(self, read=None, write=None, count=None, ctrl=None, trigger=False):
        if read is not None:
            self._read = read
        if write is not None:
            if isinstance(write, int):
                raise RigError("DMA write to a raw address is not modelled")
            self._write_buf = write
            self._write_base = uctypes.addressof(write) if not isinstance(write, _TriggerAlias) else 0
            self._write_at = 0
        if count is not None:
            self._count = self._count_reload = count
        if ctrl is not None:
            self._ctrl = self.unpack_ctrl(ctrl)
        if trigger:
            self._trigger()

    def _trigger(self):
        f = self._ctrl
        if f is None or not f["enable"]:
            raise RigError("DMA triggered without an enabled CTRL")
        self._count = self._count_reload
        self._active = True
        if f["treq_sel"] == rp2040_chip.DREQ_ADC:
            if self._read != rp2040_chip.FIFO or f["inc_read"] or f["size"] != 1:
                raise RigError("DREQ_ADC channel must read the FIFO, half-words, no read inc")
            rp2040_chip.adc.dreq_sink = self
        elif f["treq_sel"] == _TREQ_PERMANENT:
            self._run_unpaced()
        else:
            raise RigError("DREQ %d is not modelled" % f["treq_sel"])

    def _run_unpaced(self):
        f = self._ctrl
        if f["size"] != 2 or self._count != 1:
            raise RigError("unpaced DMA is modelled for one word only")
        word = self._read[0]
        self._write_buf[0] = word
        self._finish()

    def transfer(self, halfword):
        """One DREQ-paced transfer from the ADC FIFO (called by the ADC block)."""
        if not self._active:
            return
        at = self._write_at
        buf = self._write_buf
        if at + 2 > len(buf) * 2:  # the ring is an array('H')
            raise RigError("DMA wrote past the end of its buffer")
        buf[at // 2] = halfword
        if self._ctrl["inc_write"]:
            self._write_at = at + 2
        self._count -= 1
        if self._count == 0:
            self._finish()

    def _finish(self):
        self._active = False
        if rp2040_chip.adc.dreq_sink is self:
            rp2040_chip.adc.dreq_sink = None
        f = self._ctrl
        chained = f["chain_to"]
        if chained != self.channel and _in_use[chained] is not None:
            _in_use[chained]._trigger()
        if not f["irq_quiet"] and self._handler is not None:
            self._handler(self)  # a hard IRQ, run where the transfer completed

    def rearm(self, address):
        """A write to the AL2 WRITE_ADDR_TRIG alias: new write address, then trigger."""
        offset = (address - self._write_base) & 0xFFFFFFFF  # 32-bit address registers
        if not 0 <= offset < len(self._write_buf) * 2:
            raise RigError("DMA re-armed outside its buffer (offset %d)" % offset)
        self._write_at = offset
        self._trigger()

    @property
    def write(self):
        rp2040_chip.adc.advance()
        return self._write_base + self._write_at

    @property
    def count(self):
        rp2040_chip.adc.advance()
        return self._count

    def active(self, value=None):
        if value is None:
            return self._active
        if not value:
            self._active = False
            if rp2040_chip.adc.dreq_sink is self:
                rp2040_chip.adc.dreq_sink = None
        else:
            self._trigger()

    def irq(self, handler=None, hard=False):
        self._handler = handler

    def close(self):
        self.active(0)
        _in_use[self.channel] = None


class _Registers:
    """A channel's register block; only the slice holding the AL2 write-address trigger
    alias is modelled (what a control channel writes to re-arm a data channel)."""

    def __init__(self, channel):
        self._channel = channel

    def __getitem__(self, index):
        if isinstance(index, slice) and index.start == _AL2_WRITE_ADDR_TRIG and index.stop == index.start + 1:
            return _TriggerAlias(self._channel)
        raise RigError("DMA register access the rig does not model: %r" % (index,))


class _TriggerAlias:
    def __init__(self, channel):
        self._channel = channel

    def __len__(self):
        return 1

    def __setitem__(self, index, value):
        if index != 0:
            raise IndexError("index out of range")
        self._channel.rearm(value)


def reset_channels():
    for n in range(_CHANNELS):
        _in_use[n] = None
