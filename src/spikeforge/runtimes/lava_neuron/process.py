"""The ``SfLif`` process: Lava's LIF plus a reset mode, an inclusive threshold, a pending reset."""

from __future__ import annotations

from lava.magma.core.process.variable import Var
from lava.proc.lif.process import LIF

#: Reset modes of :mod:`spikeforge.ir.conventions` as the integers the models read.
RESET_CODES: dict[str, int] = {"to_value": 0, "subtract": 1, "subtract_next": 2, "zero_next": 3}


class SfLif(LIF):
    """LIF whose reset is ``RESET_CODES[mode]`` and which fires at ``v >= vth`` if inclusive.

    ``pending`` holds the previous step's spikes for the two next-step resets.
    """

    def __init__(self, *, reset_mode: int = 0, inclusive: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        shape = kwargs["shape"]
        self.pending = Var(shape=shape, init=0)
        self.reset_mode = Var(shape=(1,), init=reset_mode)
        self.inclusive = Var(shape=(1,), init=int(inclusive))
