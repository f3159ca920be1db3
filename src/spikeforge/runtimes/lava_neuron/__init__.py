"""spikeforge's own Lava neuron: Lava's LIF with the firing rules other frameworks use.

Lava's ``LIF`` resets to 0 on the spike step and fires at ``v > vth``. ``SfLif`` is
the same process (same variables, same sub-threshold dynamics, bit for bit in
fixed point) with a reset mode, an inclusive threshold, multi-spike counts and
decays wider than 12 bits, added the way Lava
documents new neuron models: a Process (:mod:`.process`) and one
``PyLoihiProcessModel`` per tag (:mod:`.models`, ``floating_pt`` and
``fixed_pt``). Lava finds the models because they live beside the process.
On a Loihi 2 chip each of these needs a microcoded neuron program.
"""

from spikeforge.runtimes.lava_neuron.process import RESET_CODES, SfLif

__all__ = ["RESET_CODES", "SfLif"]
