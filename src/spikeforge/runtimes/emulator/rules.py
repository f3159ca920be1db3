"""Firing rules other than Lava LIF's, batched: the step of spikeforge's ``SfLif`` models.

Applied after the sub-threshold update of :mod:`.dynamics`, in the order of
:mod:`spikeforge.runtimes.lava_neuron.models` (pending reset, spikes, reset on the
spike step), per neuron, so populations with different rules share one neuron axis.
Lava's own LIF is the rule ``to_value`` with ``v > vth``.

Multi-spike neurons (``multi``) send their count ``(v > 0) * trunc(v / vth)`` and
subtract ``count * vth``, as ``SfLif`` with ``multi_spike`` does: float, the same IEEE
quotient truncated; fixed, the integer quotient of the non-negative ``v``. Their
spikes are then float64 payloads (0/1 for every other neuron), which the graded
projections of :mod:`.layout` multiply by the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from spikeforge.compile.lower import LoihiPlan


@dataclass
class FiringRule:
    """Per-neuron masks of the rule; ``pending`` is the state that :meth:`begin` clears."""

    to_value: torch.Tensor
    subtract: torch.Tensor
    subtract_next: torch.Tensor
    zero_next: torch.Tensor
    inclusive: torch.Tensor
    #: Multi-spike neurons, or None when the plan has none (spikes stay boolean).
    multi: torch.Tensor | None = None
    pending: torch.Tensor | None = None

    def begin(self, batch: int) -> None:
        self.pending = torch.zeros(
            batch, self.to_value.numel(), dtype=torch.bool, device=self.to_value.device
        )

    def apply(
        self,
        u: torch.Tensor,
        v: torch.Tensor,
        vth: torch.Tensor,
        clip: Callable[[torch.Tensor], torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        late = self.pending
        v = torch.where(late & self.subtract_next, clip(v - vth), v)
        v = torch.where(late & self.zero_next, torch.zeros_like(v), v)
        spikes = torch.where(self.inclusive, v >= vth, v > vth)
        v = torch.where(spikes & self.to_value, torch.zeros_like(v), v)
        v = torch.where(spikes & self.subtract, v - vth, v)
        self.pending = spikes & (self.subtract_next | self.zero_next)
        if self.multi is None:
            return u, v, spikes
        positive = self.multi & (v > 0)
        counts = torch.where(positive, torch.div(v, vth, rounding_mode="trunc"), 0)
        v = torch.where(positive, v - counts * vth, v)
        return u, v, torch.where(self.multi, counts.to(torch.float64), spikes.to(torch.float64))


def firing_rule(plan: LoihiPlan, device: torch.device) -> FiringRule | None:
    """The plan's rule over its concatenated populations, or None if all are Lava's LIF."""
    pops = list(plan.populations.values())
    if all(p.standard for p in pops):
        return None

    def mask(test) -> torch.Tensor:
        parts = [torch.full((p.size,), bool(test(p))) for p in pops]
        return torch.cat(parts).to(device)

    modes = ("to_value", "subtract", "subtract_next", "zero_next")
    masks = {  # a multi-spike neuron's reset is its count's, applied after these
        mode: mask(lambda p, mode=mode: p.reset == mode and not p.multi_spike) for mode in modes
    }
    multi = mask(lambda p: p.multi_spike) if any(p.multi_spike for p in pops) else None
    return FiringRule(**masks, inclusive=mask(lambda p: p.threshold == ">="), multi=multi)
