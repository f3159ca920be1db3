"""Lava's LIF process models, batched: ``PyLifModelBitAcc`` bit for bit, ``PyLifModelFloat``.

The fixed-point update copies the order and widths of
``lava.proc.lif.models.AbstractPyLifModelFixed``: 12-bit decays (SfLif's up to
``DECAY_BITS_MAX``) applied with a sign-magnitude right shift, synaptic input
MSB-aligned by ``ACT_SHIFT`` bits, int32 arithmetic, ``u`` wrapped once into
``STATE_BITS`` (Lava's asymmetric rule: ``x > STATE_HALF`` loses ``2 * STATE_HALF``,
``x <= -STATE_HALF`` gains it), ``v`` clipped to ``±(STATE_HALF - 1)``, spike when
``v > vth << VTH_SHIFT``, reset to 0 (the formats of :mod:`spikeforge.loihi_format`).
Every parameter is a per-neuron tensor over the concatenated populations.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

from spikeforge.compile.lower import LoihiPlan
from spikeforge.loihi_format import (
    ACT_SHIFT,
    DECAY_BITS_MAX,
    INT32_HALF,
    STATE_HALF,
    VTH_SHIFT,
    lava_u_keep,
    lava_v_keep,
)
from spikeforge.runtimes.emulator.rules import FiringRule, firing_rule

#: |input| below this keeps |decayed u + input << ACT_SHIFT| (|decayed u| < STATE_HALF)
#: under INT32_HALF, and so |v + u + bias| inside int32.
INPUT_WITHOUT_OVERFLOW = (INT32_HALF >> 1) >> ACT_SHIFT


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    """Two's-complement int32 overflow of an int64 tensor (what numpy's int32 cast does)."""
    return ((x + INT32_HALF) & (2 * INT32_HALF - 1)) - INT32_HALF


#: Every population's ``keep`` is held in units of ``2^-DECAY_BITS_MAX``: a 12-bit
#: ``keep`` is scaled up by ``2^(DECAY_BITS_MAX - 12)``, which leaves
#: ``trunc(x * keep / 2^bits)`` exactly as it was (the same rational, truncated), so
#: one kernel serves Lava's LIF and SfLif's wider decays alike.
KEEP_UNITY = 1 << DECAY_BITS_MAX


def _decay(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``sign(x·keep) * (|x·keep| >> bits)``: Lava's sign-magnitude shift truncates
    toward 0 (``keep`` in units of :data:`KEEP_UNITY`)."""
    return torch.div(x * keep, KEEP_UNITY, rounding_mode="trunc")


def _subthreshold(
    u: torch.Tensor,
    v: torch.Tensor,
    a_in: torch.Tensor,
    u_keep: torch.Tensor,
    v_keep: torch.Tensor,
    bias: torch.Tensor,
    overflow: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lava's fixed-point ``u`` and ``v`` update; ``a_in`` arrives as float (exact)."""
    a_in = a_in.to(torch.int64)
    if overflow:
        x = wrap_int32(wrap_int32(_decay(u, u_keep)) + wrap_int32(a_in << ACT_SHIFT))
    else:
        x = _decay(u, u_keep) + (a_in << ACT_SHIFT)
    half = STATE_HALF
    u = torch.where(x > half, x - 2 * half, torch.where(x <= -half, x + 2 * half, x))
    if overflow:
        v = wrap_int32(wrap_int32(_decay(v, v_keep)) + u + bias)
    else:
        v = _decay(v, v_keep) + u + bias
    return u, torch.clamp(v, -(STATE_HALF - 1), STATE_HALF - 1)


def _lif(
    u: torch.Tensor,
    v: torch.Tensor,
    a_in: torch.Tensor,
    u_keep: torch.Tensor,
    v_keep: torch.Tensor,
    bias: torch.Tensor,
    vth: torch.Tensor,
    overflow: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The whole LIF step: update, spike when ``v > vth``, reset to 0."""
    u, v = _subthreshold(u, v, a_in, u_keep, v_keep, bias, overflow)
    spikes = v > vth
    return u, torch.where(spikes, torch.zeros_like(v), v), spikes


@dataclass(frozen=True)
class Kernels:
    """The two forms of the fixed-point update, op by op or compiled into one kernel."""

    subthreshold: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    lif: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


EAGER = Kernels(_subthreshold, _lif)


@cache
def fused(device: str) -> Kernels:
    """The update compiled once per process and device type (``dynamic``: any batch and
    neuron count), tried once on ``device`` before it is used.

    Eager torch runs each of the ~20 int64 elementwise ops as its own pass over memory;
    inductor emits one loop (C++ on CPU, Triton on CUDA) over the same integer
    arithmetic, so the results are identical bit for bit.
    """
    kernels = Kernels(
        torch.compile(_subthreshold, dynamic=True),
        torch.compile(_lif, dynamic=True),
    )
    # Shaped, typed and called as a run calls it (distinct [batch, n] states, [n]
    # constants, a float32 ring slot, no_grad): dynamo guards on all of these, and a
    # probe unlike a run would cost a compile of its own (seconds).
    u, v = (torch.ones(2, 3, dtype=torch.int64, device=device) for _ in range(2))
    const = [torch.ones(3, dtype=torch.int64, device=device) for _ in range(4)]
    try:  # inductor needs a C++ compiler (CPU) or Triton (CUDA); without them, stay eager
        with torch.no_grad():
            kernels.lif(u, v, u.float(), *const, False)
    except Exception as exc:
        warnings.warn(f"emulator: torch.compile unavailable ({exc}); op by op", stacklevel=3)
        return EAGER
    return kernels


@dataclass
class FixedLif:
    """Per-neuron constants of the bit-accurate model; state is int64 ``[batch, n]``."""

    u_keep: torch.Tensor
    v_keep: torch.Tensor
    bias: torch.Tensor
    vth: torch.Tensor
    v_init: torch.Tensor
    #: Whether int32 arithmetic can overflow at all: only when a step's input can
    #: reach :data:`INPUT_WITHOUT_OVERFLOW` (``<< ACT_SHIFT`` then nears INT32_HALF).
    #: Below that every int32 cast is the identity and is skipped; above it each one is
    #: applied as Lava's numpy does.
    int32_overflow: bool = True
    #: Another firing rule than LIF's (spikeforge's SfLif), or None.
    rule: FiringRule | None = None
    #: ``LIFReset``: (period, phase, neurons) for each distinct period and phase: those
    #: neurons' u and v are zeroed when ``time % period == phase``. Decided on the host
    #: per step, so steps without a reset cost nothing (no device op, no sync).
    resets: list[tuple[int, int, torch.Tensor]] = field(default_factory=list)
    #: The update's kernels: :data:`EAGER` (one torch op at a time) or :func:`fused`.
    _kernels: Kernels = field(default_factory=lambda: EAGER)

    def begin(self, batch: int) -> None:
        if self.rule is not None:
            self.rule.begin(batch)

    def fuse(self, on: bool) -> None:
        """Run the update as one compiled kernel (``torch.compile``) or op by op; the
        results are identical (integer arithmetic), only the speed differs."""
        self._kernels = fused(self.u_keep.device.type) if on else EAGER

    def step(
        self,
        u: torch.Tensor,
        v: torch.Tensor,
        a_in: torch.Tensor,
        time: int = 0,
        bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step at hardware time ``time`` (from 1); ``a_in`` is the ring's float
        slot (exact integers); ``bias`` ``[batch, n]`` replaces the model's (a
        bias-driven input layer's per-sample ``bias_mant << bias_exp`` added to it,
        once per run)."""
        now = [mask for period, phase, mask in self.resets if time % period == phase]
        if now:
            zero = now[0] if len(now) == 1 else torch.stack(now).any(0)
            u = torch.where(zero, torch.zeros_like(u), u)
            v = torch.where(zero, torch.zeros_like(v), v)
        bias = self.bias if bias is None else bias
        if self.rule is None:
            return self._kernels.lif(u, v, a_in, self.u_keep, self.v_keep, bias, self.vth,
                                     self.int32_overflow)  # fmt: skip
        u, v = self._kernels.subthreshold(
            u, v, a_in, self.u_keep, self.v_keep, bias, self.int32_overflow
        )
        return self.rule.apply(u, v, self.vth, lambda x: x.clamp(-(STATE_HALF - 1), STATE_HALF - 1))


@dataclass
class FloatLif:
    """Per-neuron constants of the floating-point model; state is float64 ``[batch, n]``."""

    u_keep: torch.Tensor
    v_keep: torch.Tensor
    bias: torch.Tensor
    vth: torch.Tensor
    v_init: torch.Tensor
    rule: FiringRule | None = None

    def begin(self, batch: int) -> None:
        if self.rule is not None:
            self.rule.begin(batch)

    def step(
        self,
        u: torch.Tensor,
        v: torch.Tensor,
        a_in: torch.Tensor,
        time: int = 0,
        bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step; ``time`` and ``bias`` exist in fixed-point (netx) plans only."""
        u = u * self.u_keep + a_in
        v = v * self.v_keep + u + self.bias
        if self.rule is not None:
            return self.rule.apply(u, v, self.vth, lambda x: x)
        spikes = v > self.vth
        return u, torch.where(spikes, torch.zeros_like(v), v), spikes


def neuron_model(
    plan: LoihiPlan, device: torch.device, max_input: float = float("inf")
) -> FixedLif | FloatLif:
    """Concatenate the plan's populations (in plan order) into one model.

    ``max_input`` bounds any neuron's summed synaptic input in one step.
    """
    pops = list(plan.populations.values())

    def per_neuron(values, dtype) -> torch.Tensor:
        parts = [
            np.broadcast_to(np.asarray(value), (pop.size,))
            for pop, value in zip(pops, values, strict=True)
        ]
        flat = np.concatenate(parts) if parts else np.zeros(0)
        return torch.as_tensor(flat, device=device).to(dtype)

    if plan.precision == "fixed":
        as_int = [np.asarray(p.bias_mant).astype(np.int32).astype(np.int64) for p in pops]
        exps = [np.asarray(p.bias_exp).astype(np.int32).astype(np.int64) for p in pops]
        bias = [
            np.where(e >= 0, m << np.maximum(e, 0), m >> np.maximum(-e, 0))
            for m, e in zip(as_int, exps, strict=True)
        ]
        return FixedLif(
            u_keep=per_neuron([_keep(lava_u_keep, p.du, p.decay_bits) for p in pops], torch.int64),
            v_keep=per_neuron([_keep(lava_v_keep, p.dv, p.decay_bits) for p in pops], torch.int64),
            bias=per_neuron(bias, torch.int64),
            vth=per_neuron([int(p.vth) << VTH_SHIFT for p in pops], torch.int64),
            v_init=per_neuron([np.asarray(p.v_init).astype(np.int32) for p in pops], torch.int64),
            int32_overflow=max_input >= INPUT_WITHOUT_OVERFLOW,
            rule=firing_rule(plan, device),
            resets=_resets(pops, device),
        )
    return FloatLif(
        u_keep=per_neuron([1.0 - p.du for p in pops], torch.float64),
        v_keep=per_neuron([1.0 - p.dv for p in pops], torch.float64),
        bias=per_neuron([np.asarray(p.bias_mant, np.float64) for p in pops], torch.float64),
        vth=per_neuron(
            [p.vth if np.isfinite(p.vth) else np.finfo(np.float64).max for p in pops],
            torch.float64,
        ),
        v_init=per_neuron([np.asarray(p.v_init, np.float64) for p in pops], torch.float64),
        rule=firing_rule(plan, device),
    )


def _keep(keep: Callable[[int, int], int], decay: int, bits: int) -> int:
    """A population's ``keep`` (:func:`~spikeforge.loihi_format.lava_u_keep` or
    ``lava_v_keep`` of its ``bits``-bit decay) in units of :data:`KEEP_UNITY`."""
    return keep(int(decay), bits) << (DECAY_BITS_MAX - bits)


def _resets(pops: list, device: torch.device) -> list[tuple[int, int, torch.Tensor]]:
    """:attr:`FixedLif.resets` of the concatenated populations (period 0: never)."""
    pairs = sorted({(int(p.reset_interval), int(p.reset_offset)) for p in pops if p.reset_interval})
    return [
        (a, b, torch.cat([torch.full((p.size,), (p.reset_interval, p.reset_offset) == (a, b))
                          for p in pops]).to(device))
        for a, b in pairs
    ]  # fmt: skip
