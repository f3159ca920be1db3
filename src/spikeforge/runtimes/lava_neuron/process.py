"""The ``SfLif`` process: Lava's LIF plus a reset mode, an inclusive threshold, a pending
reset, multi-spike counts and wider decays."""

from __future__ import annotations

from lava.magma.core.process.variable import Var
from lava.proc.lif.process import LIF

from spikeforge.loihi_format import DECAY_SHIFT

#: Reset modes of :mod:`spikeforge.ir.conventions` as the integers the models read.
RESET_CODES: dict[str, int] = {"to_value": 0, "subtract": 1, "subtract_next": 2, "zero_next": 3}


class SfLif(LIF):
    """LIF whose reset is ``RESET_CODES[mode]`` and which fires at ``v >= vth`` if inclusive.

    ``pending`` holds the previous step's spikes for the two next-step resets.
    ``multi_spike``: each step sends its count ``(v > 0) * trunc(v / vth)`` as a graded
    payload and subtracts ``count * vth`` (sinabs' MultiSpike with MembraneSubtract);
    the synapses it feeds must read payloads (``num_message_bits > 0``).
    ``decay_bits``: ``du``/``dv`` are fractions of ``2^decay_bits`` instead of LIF's
    ``2^DECAY_SHIFT`` (fixed point; the float model's decays are plain floats).
    """

    def __init__(
        self, *, reset_mode: int = 0, inclusive: bool = False, multi_spike: bool = False,
        decay_bits: int = DECAY_SHIFT, **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        shape = kwargs["shape"]
        self.pending = Var(shape=shape, init=0)
        self.reset_mode = Var(shape=(1,), init=reset_mode)
        self.inclusive = Var(shape=(1,), init=int(inclusive))
        self.multi_spike = Var(shape=(1,), init=int(multi_spike))
        self.decay_bits = Var(shape=(1,), init=decay_bits)
