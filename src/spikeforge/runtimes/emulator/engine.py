"""Run a Loihi plan batched in torch, step by step, with Lava's timing.

Timing follows Lava's process models exactly: at hardware step ``t`` a LIF receives
what its ``Dense`` processes accumulated at ``t - 1`` (``DelayDense`` with extra delay
``k``: at ``t - 1 - k``); sources send ``data[t]``; the bias neuron spikes on every
step. Contributions wait in a ring of ``max_delay + 2`` slots. Only what was asked
for is kept (spikes of watched populations, voltages of recorded ones) and the
optional activity counter sees each step once, so memory does not grow with the
network's hidden activity.

Small networks spend a step mostly in Python and torch's per-op dispatch, not in
arithmetic, so everything that does not change between steps is prepared once per
emulator or run: which sender columns a projection reads (a slice, a view, where
they are consecutive), the input laid out step-major, the recording buffers, a
bias-driven layer's bias, the thread count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from spikeforge.compile.lower import LoihiPlan
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.loihi_format import INT32_HALF, STATE_HALF
from spikeforge.runtimes.emulator.dynamics import neuron_model
from spikeforge.runtimes.emulator.layout import FLOAT32_EXACT, Layout, build_layout
from spikeforge.runtimes.emulator.record import Recording
from spikeforge.runtimes.emulator.sdn import with_sigma_delta
from spikeforge.runtimes.emulator.threads import shared_policy
from spikeforge.runtimes.matrices import times
from spikeforge.runtimes.result import StepObserver

#: Element-steps (batch x neurons x steps) from which a run compiles the neuron update
#: into one kernel by default: eager updates cost about 16 ns per element-step on this
#: project's CPU (int64, 20 passes over memory), a compile about 17 s once per process,
#: so below ~2^30 element-steps compiling does not pay for itself in one run.
FUSE_WORK = 1 << 30


class Emulator:
    """One plan on one device; ``run`` takes any batch of inputs."""

    def __init__(self, plan: LoihiPlan, device: torch.device, fuse: bool | None = None) -> None:
        """``fuse``: compile the fixed-point neuron update into one kernel (True), run
        it op by op (False), or decide per run from its size (None, see FUSE_WORK)."""
        self.plan = plan
        self.fuse = fuse
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
        # A fixed plan whose summed input stays below 2^24 accumulates exactly in
        # float32: half the memory traffic, and float32 products add without a cast.
        self._ring_dtype = (
            torch.float32
            if self.fixed and self.layout.max_input < FLOAT32_EXACT and not plan.direct_inputs
            else torch.float64
        )
        self._cols = [_columns(proj.cols) for proj in self.layout.projections]
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

    def new_ring(self, batch: int) -> list[torch.Tensor]:
        """Slots where contributions wait to arrive, ``[batch, neurons]`` each.

        Separate tensors, not one ``[slots, batch, neurons]``: the compiled update
        specialises on its input's storage offset, and a shared tensor's slots made it
        recompile for each slot of each run's first steps (0.5 s a time).
        """
        return [
            torch.zeros(batch, self.layout.n_neurons, dtype=self._ring_dtype, device=self.device)
            for _ in range(self.layout.max_delay + 2)
        ]

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
        layout, plan = self.layout, self.plan
        bias = bias or {}
        batch = next(iter({**inputs, **bias}.values())).shape[0]
        # Step-major, so that a step's input is one contiguous block.
        feed = torch.zeros(
            total_steps, batch, layout.neurons_start, dtype=torch.float32, device=self.device
        )
        for name, arr in inputs.items():
            feed[: arr.shape[1], :, layout.senders[name]] = torch.as_tensor(
                arr, dtype=torch.float32, device=self.device
            ).transpose(0, 1)
        if BIAS_SOURCE in layout.senders:
            feed[:, :, layout.senders[BIAS_SOURCE]] = 1.0
        run_bias = None
        if bias:
            extra = torch.zeros(batch, layout.n_neurons, dtype=torch.int64, device=self.device)
            for name, mant in bias.items():
                exp = np.asarray(plan.populations[name].bias_exp).astype(np.int64)
                extra[:, layout.neurons[name]] = torch.as_tensor(
                    np.asarray(mant, np.int64) << exp, device=self.device
                )
            run_bias = self.neurons.bias + extra
        u = torch.zeros(batch, layout.n_neurons, dtype=self._state_dtype, device=self.device)
        v = self.neurons.v_init.expand(batch, -1).clone()
        self.neurons.begin(batch)
        senders = torch.zeros(
            batch, layout.n_senders, dtype=self._payload_dtype, device=self.device
        )
        # Kept on the device in the state's own dtype and converted once at the end: a
        # host copy and a float64 cast per step and population cost up to half a run.
        spikes = Recording(
            {n: layout.neurons[n] for n in watch},
            {n: torch.float64 if plan.populations[n].graded else torch.bool for n in watch},
            total_steps,
            batch,
            self.device,
        )
        volts = Recording(
            {n: layout.neurons[n] for n in record_v},
            dict.fromkeys(record_v, self._state_dtype),
            total_steps,
            batch,
            self.device,
        )
        if self.fixed:
            fuse = self.fuse
            if fuse is None:
                fuse = batch * layout.n_neurons * total_steps >= FUSE_WORK
            self.neurons.fuse(fuse)
        threads = torch.get_num_threads()
        try:
            with torch.no_grad():
                self._loop(
                    u, v, self.new_ring(batch), senders, feed, spikes, volts, on_step, tick,
                    run_bias,
                )  # fmt: skip
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        return spikes.arrays(), volts.arrays()

    def _loop(
        self,
        u: torch.Tensor,
        v: torch.Tensor,
        ring: list[torch.Tensor],
        senders: torch.Tensor,
        feed: torch.Tensor,
        spikes: Recording,
        volts: Recording,
        on_step: StepObserver | None,
        tick: Callable[[], None] | None,
        bias: torch.Tensor | None = None,
    ) -> None:
        layout = self.layout
        external = layout.neurons_start
        batch = u.shape[0]
        work = (batch, layout.n_senders, layout.n_neurons, len(self._cols))
        threads = shared_policy(work, self.device)
        for t in range(feed.shape[0]):
            threads.begin_step(t)
            a_in = ring[t % len(ring)]
            for rows, cols in self._direct:  # SDNN hook: a Delta layer reads the input itself
                a_in[:, rows] += feed[t][:, cols].to(a_in.dtype)
            u, v, fired = self.neurons.step(u, v, a_in, t + 1, bias)
            a_in.zero_()
            if external:
                senders[:, :external] = feed[t]
            senders[:, external:] = fired
            self._deliver(senders, ring, t)
            spikes.write(t, fired)
            volts.write(t, v)
            threads.end_step(t)
            if on_step is not None:
                on_step({name: senders[:, cols] for name, cols in self._observed.items()})
            if tick is not None:
                tick()

    def _deliver(self, senders: torch.Tensor, ring: list[torch.Tensor], t: int) -> None:
        """Accumulate this step's synaptic input into the slot where it will arrive.

        Integer sums stay exact in the ring's float (float32 where every neuron's
        summed input stays below 2^24, float64 below 2^31, see :mod:`.layout`); a
        negative weight exponent floors, as Lava's right shift does;
        an always-on channel gets its pacemaker's spike: ORed with the channel's own, as
        Lava's ``Dense`` reads binary input as booleans, or added to a graded channel's
        count, as its input port sums the payloads it receives.
        """
        for proj, cols in zip(self.layout.projections, self._cols, strict=True):
            # A slice reads a view; a gather stays index_select (indexing by a tensor is
            # torch's general advanced-indexing kernel, several times slower).
            active = senders[:, cols] if isinstance(cols, slice) else senders.index_select(1, cols)
            if proj.always_on is not None:  # written below: never into senders itself
                active = active.to(proj.weight_t.dtype, copy=True)
                if proj.graded:
                    active[:, proj.always_on] += 1.0
                else:
                    active[:, proj.always_on] = 1.0
            elif active.dtype != proj.weight_t.dtype:
                active = active.to(proj.weight_t.dtype)
            total = times(active, proj.weight_t)
            if proj.graded:  # SDNN hook: Lava's int32 dot of payloads and weights wraps
                total = torch.remainder(total + INT32_HALF, 2.0 * INT32_HALF) - INT32_HALF
            if proj.right_shift:
                total = torch.floor(total.double() * 2.0**-proj.right_shift)
            ring[(t + 1 + proj.delay) % len(ring)][:, proj.rows] += total
        for conv in self.layout.convolutions:
            out = F.conv2d(
                conv.source.image(senders[:, conv.cols].to(conv.weight.dtype)),
                conv.weight,
                stride=conv.stride,
                padding=conv.padding,
                dilation=conv.dilation,
                groups=conv.groups,
            )
            flat = conv.source.flat(out)
            if conv.wraps:
                # Lava: signed_clamp to STATE_BITS
                flat = torch.remainder(flat + STATE_HALF, 2.0 * STATE_HALF) - STATE_HALF
            ring[(t + 1) % len(ring)][:, conv.rows] += flat


def _columns(cols: torch.Tensor) -> slice | torch.Tensor:
    """``cols`` as a slice where they are consecutive, so a projection reads a view of
    the senders instead of gathering a copy."""
    if not len(cols):
        return cols
    first = int(cols[0])
    if torch.equal(cols.cpu(), torch.arange(first, first + len(cols))):
        return slice(first, first + len(cols))
    return cols
