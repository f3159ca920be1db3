"""Profiling: hardware models, placement on cores, activity counters, energy and latency.

The pieces compose as ``place(plan, hardware)`` -> ``ActivityCounter(plan, placement)``
fed by ``run(..., on_step=...)`` -> ``estimate(counter.result(), placement, hardware)``;
:mod:`spikeforge.profile.stages` does that for every stage of the pipeline and
:mod:`spikeforge.profile.report` writes it out.
"""

from spikeforge.compile.placement import Placement, place
from spikeforge.profile.counters import Activity, ActivityCounter, count_activity, from_source_time
from spikeforge.profile.energy import CostReport, estimate
from spikeforge.profile.hardware import Hardware, Quantity, load_hardware

__all__ = [
    "Activity",
    "ActivityCounter",
    "CostReport",
    "Hardware",
    "Placement",
    "Quantity",
    "count_activity",
    "estimate",
    "from_source_time",
    "load_hardware",
    "place",
]
