"""Graded-spike traffic, for the profile's counters: messages and payload bits per step.

Every backend's ``on_step`` observer sees, per source, ``[batch, n]`` values of one
hardware step. For a population with ``num_message_bits > 0`` (a netx SDNN layer) those
values are the payloads it sent, not 0/1: each nonzero entry is one graded message
carrying ``num_message_bits`` bits of payload (Lava's ``Dense`` reads all of them; a
zero payload is no message, as on Loihi 2, where a sigma-delta neuron below threshold
sends nothing). :func:`graded_messages` turns one observation into those counts.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from spikeforge.compile.lower import LoihiPlan


def graded_messages(plan: LoihiPlan, step: Mapping[str, object]) -> dict[str, tuple[int, int]]:
    """``{population: (messages, payload bits)}`` of one step's observation, summed over
    the batch, for the plan's graded populations present in ``step``."""
    counts = {}
    for name, values in step.items():
        pop = plan.populations.get(name)
        if pop is None or not pop.graded:
            continue
        sent = values.cpu().numpy() if hasattr(values, "cpu") else np.asarray(values)
        messages = int(np.count_nonzero(sent))
        counts[name] = (messages, messages * pop.num_message_bits)
    return counts
