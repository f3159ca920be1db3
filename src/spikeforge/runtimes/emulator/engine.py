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

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from spikeforge.compile.lower import LoihiPlan
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.runtimes.emulator.dynamics import neuron_model
from spikeforge.runtimes.emulator.layout import Layout, build_layout
from spikeforge.runtimes.emulator.sdn import with_sigma_delta
from spikeforge.runtimes.result import StepObserver

#: Below this many multiply-adds per projection and step, one CPU thread is faster:
#: waking torch's thread pool costs more than such products take, and on a loaded
#: machine a pool thread that is not scheduled stalls every op (measured on this
#: 2-core machine at load 10: 18 ms per elementwise op on two threads, against
#: 0.03 ms on one, for 256 x 149 neurons).
SINGLE_THREAD_WORK = 1 << 26


@contextmanager
def _cpu_threads(device: torch.device, work: int) -> Iterator[None]:
    if device.type != "cpu" or work >= SINGLE_THREAD_WORK:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Emulator:
    """One plan on one device; ``run`` takes any batch of inputs."""

    def __init__(self, plan: LoihiPlan, device: torch.device) -> None:
        self.plan = plan
        self.device = device
        self.fixed = plan.precision == "fixed"
        self.layout: Layout = build_layout(plan, device)
        # SDNN hook: sigma-delta columns (runtimes/emulator/sdn.py) send float64 payloads.
        self.neurons = with_sigma_delta(
            plan, device, neuron_model(plan, device, self.layout.max_input)
        )
        self._payload_dtype = (
            torch.float64 if any(p.graded for p in plan.populations.values()) else torch.float32
        )
        self._direct = [
            (layout_rows, self.layout.senders[source])
            for name, source in plan.direct_inputs.items()
            for layout_rows in [self.layout.neurons[name]]
        ]
        self._state_dtype = torch.int64 if self.fixed else torch.float64
        self._observed = {
            name: cols
            for name, cols in self.layout.senders.items()
            if name not in plan.populations or plan.populations[name].spiking
        }

    def run(
        self,
        inputs: Mapping[str, np.ndarray],
        total_steps: int,
        watch: list[str],
        record_v: list[str],
        on_step: StepObserver | None = None,
        tick: Callable[[], None] | None = None,
        bias: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Spikes of ``watch`` and voltages of ``record_v``, ``[batch, total_steps, n]``.

        ``bias`` sets, per sample, the ``bias_mant`` ``[batch, n]`` of bias-driven
        populations (netx input layers).
        """
        layout = self.layout
        bias = bias or {}
        batch = next(iter({**inputs, **bias}.values())).shape[0]
        external = layout.neurons_start
        feed = torch.zeros(batch, total_steps, external, dtype=torch.float32, device=self.device)
        for name, arr in inputs.items():
            feed[:, : arr.shape[1], layout.senders[name]] = torch.as_tensor(
                arr, dtype=torch.float32, device=self.device
            )
        if BIAS_SOURCE in layout.senders:
            feed[:, :, layout.senders[BIAS_SOURCE]] = 1.0
        extra_bias = None
        if bias:
            extra_bias = torch.zeros(batch, layout.n_neurons, dtype=torch.int64, device=self.device)
            for name, mant in bias.items():
                exp = np.asarray(self.plan.populations[name].bias_exp).astype(np.int64)
                extra_bias[:, layout.neurons[name]] = torch.as_tensor(
                    np.asarray(mant, np.int64) << exp, device=self.device
                )
        u = torch.zeros(batch, layout.n_neurons, dtype=self._state_dtype, device=self.device)
        v = self.neurons.v_init.expand(batch, -1).clone()
        self.neurons.begin(batch)
        ring = torch.zeros(
            layout.max_delay + 2, batch, layout.n_neurons, dtype=torch.float64, device=self.device
        )
        senders = torch.zeros(
            batch, layout.n_senders, dtype=self._payload_dtype, device=self.device
        )
        spikes_out = {
            n: torch.zeros(
                batch,
                total_steps,
                self.plan.populations[n].size,
                dtype=torch.float64 if self.plan.populations[n].graded else torch.bool,
            )
            for n in watch
        }
        volts_out = {
            n: torch.zeros(batch, total_steps, self.plan.populations[n].size, dtype=torch.float64)
            for n in record_v
        }
        work = batch * max((p.weight_t.numel() for p in layout.projections), default=0)
        with _cpu_threads(self.device, work):
            self._loop(
                u, v, ring, senders, feed, total_steps, spikes_out, volts_out, on_step, tick,
                extra_bias,
            )  # fmt: skip
        return (
            {n: s.numpy().astype(np.float64) for n, s in spikes_out.items()},
            {n: x.numpy() for n, x in volts_out.items()},
        )

    def _loop(
        self,
        u: torch.Tensor,
        v: torch.Tensor,
        ring: torch.Tensor,
        senders: torch.Tensor,
        feed: torch.Tensor,
        total_steps: int,
        spikes_out: dict[str, torch.Tensor],
        volts_out: dict[str, torch.Tensor],
        on_step: StepObserver | None,
        tick: Callable[[], None] | None,
        extra_bias: torch.Tensor | None = None,
    ) -> None:
        layout = self.layout
        external = layout.neurons_start
        for t in range(total_steps):
            slot = t % ring.shape[0]
            a_in = ring[slot].to(self._state_dtype, copy=True)
            ring[slot].zero_()
            for rows, cols in self._direct:  # SDNN hook: a Delta layer reads the input itself
                a_in[:, rows] += feed[:, t, cols].to(a_in.dtype)
            u, v, fired = self.neurons.step(u, v, a_in, t + 1, extra_bias)
            senders[:, :external] = feed[:, t]
            senders[:, external:] = fired
            self._deliver(senders, ring, t)
            for name, out in spikes_out.items():
                out[:, t] = fired[:, layout.neurons[name]].cpu()
            for name, out in volts_out.items():
                out[:, t] = v[:, layout.neurons[name]].cpu().double()
            if on_step is not None:
                on_step({name: senders[:, cols] for name, cols in self._observed.items()})
            if tick is not None:
                tick()

    def _deliver(self, senders: torch.Tensor, ring: torch.Tensor, t: int) -> None:
        """Accumulate this step's synaptic input into the slot where it will arrive.

        Integer sums stay exact in float64 (they are bounded by 2^31, see
        :mod:`.layout`); a negative weight exponent floors, as Lava's right shift does;
        an always-on channel is ORed with its pacemaker, as Lava's boolean input port does.
        """
        for proj in self.layout.projections:
            active = senders.index_select(1, proj.cols).to(proj.weight_t.dtype)
            if proj.always_on is not None:
                active[:, proj.always_on] = 1.0
            total = active @ proj.weight_t
            if proj.graded:  # SDNN hook: Lava's int32 dot of payloads and weights wraps
                total = torch.remainder(total + 2.0**31, 2.0**32) - 2.0**31
            if proj.right_shift:
                total = torch.floor(total.double() * 2.0**-proj.right_shift)
            ring[(t + 1 + proj.delay) % ring.shape[0], :, proj.rows] += total
        for conv in self.layout.convolutions:
            width, height, channels = conv.in_whc
            image = senders[:, conv.cols].to(torch.float64).reshape(-1, width, height, channels)
            out = F.conv2d(
                image.permute(0, 3, 2, 1),
                conv.weight,
                stride=conv.stride,
                padding=conv.padding,
                dilation=conv.dilation,
                groups=conv.groups,
            )
            flat = out.permute(0, 3, 2, 1).reshape(out.shape[0], -1)
            wrapped = torch.remainder(flat + 2.0**23, 2.0**24) - 2.0**23  # Lava: signed_clamp 24
            ring[(t + 1) % ring.shape[0], :, conv.rows] += wrapped
