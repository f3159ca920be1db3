"""What a run is asked for, beside the network and its inputs: one value every backend takes.

The backends (``run_reference``, ``run_lava``, ``run_emulator``, ``run_loihi2``) take
these knobs as one frozen value rather than one parameter each, so that every knob has
one name and one meaning on every backend, and a new one reaches them all through
:func:`spikeforge.runtimes.run` without being copied through each signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from spikeforge.runtimes.result import StepObserver


@dataclass(frozen=True, eq=False)
class RunOptions:
    """The shared knobs of a run (``eq=False``: ``input_bias`` is an array).

    ``precision`` (float or fixed) defaults to the compiled one; ``record`` names the
    populations whose spikes and voltages come back; ``raw_timing`` leaves outputs in
    hardware steps instead of aligning them to source time; ``on_step`` (e.g. a
    :class:`spikeforge.profile.ActivityCounter`) sees every step's ``[batch, n]`` spikes
    per source; ``device`` (emulator only) is a torch device name. A netx network whose
    input layer has a neuron is driven by ``input_bias`` (``[batch, *shape]``) for
    ``steps`` steps instead of by spike inputs (Lava and the emulator only).
    """

    precision: str | None = None
    record: Iterable[str] = ()
    raw_timing: bool = False
    show_progress: bool = False
    on_step: StepObserver | None = None
    device: str | None = None
    input_bias: np.ndarray | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        # Callers name populations in any iterable (a list from argparse, a dict's keys).
        object.__setattr__(self, "record", tuple(self.record))


#: What a backend runs with when it is given no options: its default precision,
#: nothing recorded, outputs aligned to source time.
DEFAULT_OPTIONS = RunOptions()
