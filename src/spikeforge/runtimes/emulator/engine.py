"""Run a Loihi plan batched in torch, step by step, with Lava's timing.

Timing follows Lava's process models exactly: at hardware step ``t`` a LIF receives
what its ``Dense`` processes accumulated at ``t - 1`` (``DelayDense`` with extra delay
``k``: at ``t - 1 - k``); sources send ``data[t]``; the bias neuron spikes on every
step. Contributions wait in a ring of ``max_delay + 2`` slots. Only what was asked
for is kept (spikes of watched populations, voltages of recorded ones) and the
optional activity counter sees each step once, so memory does not grow with the
network's hidden activity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from spikeforge.compile.lower import LoihiPlan
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.runtimes.emulator.dynamics import neuron_model
from spikeforge.runtimes.emulator.layout import Layout, build_layout
from spikeforge.runtimes.result import StepObserver


class Emulator:
    """One plan on one device; ``run`` takes any batch of inputs."""

    def __init__(self, plan: LoihiPlan, device: torch.device) -> None:
        self.plan = plan
        self.device = device
        self.fixed = plan.precision == "fixed"
        self.layout: Layout = build_layout(plan, device)
        self.neurons = neuron_model(plan, device)
        self._state_dtype = torch.int64 if self.fixed else torch.float64

    def run(
        self,
        inputs: Mapping[str, np.ndarray],
        total_steps: int,
        watch: list[str],
        record_v: list[str],
        on_step: StepObserver | None = None,
        tick: Callable[[], None] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Spikes of ``watch`` and voltages of ``record_v``, ``[batch, total_steps, n]``."""
        layout = self.layout
        batch = next(iter(inputs.values())).shape[0]
        feeds = {
            name: torch.as_tensor(arr, dtype=torch.float32, device=self.device)
            for name, arr in inputs.items()
        }
        u = torch.zeros(batch, layout.n_neurons, dtype=self._state_dtype, device=self.device)
        v = self.neurons.v_init.expand(batch, -1).clone()
        ring = [torch.zeros_like(u) for _ in range(layout.max_delay + 2)]
        senders = torch.zeros(batch, layout.n_senders, dtype=torch.float32, device=self.device)
        if BIAS_SOURCE in layout.senders:
            senders[:, layout.senders[BIAS_SOURCE]] = 1.0
        spikes_out = {
            n: torch.zeros(batch, total_steps, self.plan.populations[n].size, dtype=torch.bool)
            for n in watch
        }
        volts_out = {
            n: torch.zeros(batch, total_steps, self.plan.populations[n].size, dtype=torch.float64)
            for n in record_v
        }
        for t in range(total_steps):
            slot = t % len(ring)
            a_in = ring[slot]
            ring[slot] = torch.zeros_like(u)
            u, v, fired = self.neurons.step(u, v, a_in)
            for name, feed in feeds.items():
                step_input = feed[:, t] if t < feed.shape[1] else torch.zeros_like(feed[:, 0])
                senders[:, layout.senders[name]] = step_input
            for name, rows in layout.neurons.items():
                if name in layout.senders:
                    senders[:, layout.senders[name]] = fired[:, rows].float()
            self._deliver(senders, ring, t)
            for name in watch:
                spikes_out[name][:, t] = fired[:, layout.neurons[name]].cpu()
            for name in record_v:
                volts_out[name][:, t] = v[:, layout.neurons[name]].cpu().double()
            if on_step is not None:
                on_step({name: senders[:, cols] for name, cols in layout.senders.items()})
            if tick is not None:
                tick()
        return (
            {n: s.numpy().astype(np.float64) for n, s in spikes_out.items()},
            {n: x.numpy() for n, x in volts_out.items()},
        )

    def _deliver(self, senders: torch.Tensor, ring: list[torch.Tensor], t: int) -> None:
        """Accumulate this step's synaptic input into the slot where it will arrive."""
        for proj in self.layout.projections:
            active = senders.index_select(1, proj.cols).to(proj.weight.dtype)
            total = active @ proj.weight.T
            if self.fixed:
                total = total.to(torch.int64) >> proj.right_shift
            slot = ring[(t + 1 + proj.delay) % len(ring)]
            slot[:, proj.rows] += total
