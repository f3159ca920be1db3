"""Floating-point and bit-accurate CPU models of ``SfLif``.

Both reuse Lava's LIF sub-threshold update unchanged (``AbstractPyLifModelFloat`` /
``AbstractPyLifModelFixed.subthr_dynamics``: decays, 24-bit wrap of ``u``, clip of
``v``), then apply the rule, in this order, every step:

1. a reset pending from the previous step's spikes: ``subtract_next`` subtracts the
   threshold (fixed point: clipped to 24 bits again); ``zero_next`` sets ``v`` to 0;
2. spikes: ``v > vth`` or, inclusive, ``v >= vth`` (on integers, ``v > vth - 1``);
3. the reset on the spike step: ``to_value`` sets ``v = 0``, ``subtract`` subtracts
   the threshold; the next-step modes remember the spikes.

The fixed-point threshold is ``vth << vth_shift`` (``VTH_SHIFT``) as in ``PyLifModelBitAcc``.
Its decays are ``decay_bits``-bit fractions (Lava's LIF: 12): the inherited update
reads the width from ``decay_shift``/``decay_unity``, set from ``decay_bits``, with
``u`` and ``v`` promoted to int64 before the product as ever.

With ``multi_spike`` steps 2-3 are instead sinabs' MultiSpike with MembraneSubtract:
``count = (v > 0) * trunc(v / vth)``, ``v -= count * vth``, and the count is sent as
the payload (float: ``np.trunc`` of the float quotient, the arithmetic of sinabs and
of the emulator; fixed: integer division of the non-negative ``v``, which the 24-bit
clip bounds, so the count needs no clip of its own).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat

from spikeforge.loihi_format import DECAY_BITS_MAX, STATE_BITS, VTH_BITS
from spikeforge.runtimes.lava_neuron.process import RESET_CODES, SfLif

TO_VALUE, SUBTRACT, SUBTRACT_NEXT, ZERO_NEXT = (
    RESET_CODES[k] for k in ("to_value", "subtract", "subtract_next", "zero_next")
)


def _rule(model, vth, clip, count) -> np.ndarray:
    """Steps 1-3 of the module docstring on ``model.u``/``model.v``; returns the spikes
    (counts with ``multi_spike``: ``count(v, vth)`` where ``v > 0``)."""
    if int(model.multi_spike):
        counts = np.where(model.v > 0, count(np.maximum(model.v, 0), vth), 0)
        model.v[:] = model.v - counts * vth
        return counts
    mode = int(model.reset_mode)
    late = model.pending.astype(bool)
    if mode == SUBTRACT_NEXT:
        model.v[late] = clip(model.v[late] - vth)
    elif mode == ZERO_NEXT:
        model.v[late] = 0
    spikes = model.v >= vth if int(model.inclusive) else model.v > vth
    if mode == TO_VALUE:
        model.v[spikes] = 0
    elif mode == SUBTRACT:
        model.v[spikes] = model.v[spikes] - vth
    else:
        model.pending[:] = spikes
    return spikes


@implements(proc=SfLif, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySfLifModelFloat(AbstractPyLifModelFloat):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    vth: float = LavaPyType(float, float)
    pending: np.ndarray = LavaPyType(np.ndarray, float)
    reset_mode: int = LavaPyType(int, int)
    inclusive: int = LavaPyType(int, int)
    multi_spike: int = LavaPyType(int, int)
    decay_bits: int = LavaPyType(int, int)

    def run_spk(self) -> None:
        self.subthr_dynamics(activation_in=self.a_in.recv())
        spikes = _rule(self, self.vth, lambda x: x, lambda v, vth: np.trunc(v / vth))
        self.s_out.send(spikes)


@implements(proc=SfLif, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PySfLifModelBitAcc(AbstractPyLifModelFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=STATE_BITS)
    vth: int = LavaPyType(int, np.int32, precision=VTH_BITS)
    pending: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    reset_mode: int = LavaPyType(int, np.int32, precision=2)
    inclusive: int = LavaPyType(int, np.int32, precision=1)
    multi_spike: int = LavaPyType(int, np.int32, precision=1)
    decay_bits: int = LavaPyType(int, np.int32, precision=5)
    du: int = LavaPyType(int, np.int32, precision=DECAY_BITS_MAX)
    dv: int = LavaPyType(int, np.int32, precision=DECAY_BITS_MAX)

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        self.scale_bias()
        # AbstractPyLifModelFixed reads its decay width from these two attributes.
        self.decay_shift = int(self.decay_bits)
        self.decay_unity = 1 << self.decay_shift
        self.subthr_dynamics(activation_in=a_in)
        limit = self.max_uv_val - 1
        spikes = _rule(
            self,
            np.left_shift(int(self.vth), self.vth_shift),
            lambda x: np.clip(x, -limit, limit),
            np.floor_divide,
        )
        self.s_out.send(spikes)
