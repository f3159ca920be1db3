"""Lava's sigma-delta neurons (``lava.proc.sdn``, fixed point), batched: netx SDNN layers.

Bit for bit the order and int32 arithmetic of ``PyDeltaModelFixed``,
``PySigmaDeltaModelFixed`` (ReLU, ``cum_error`` off, as netx builds them) and
``PySigmaModelFixed``:

* Delta: ``act' = a_in << (spike_exp + state_exp)``; ``delta = act' - act + residue``;
  it sends ``delta >> state_exp`` when ``|delta| >= vth << (spike_exp + state_exp)``,
  else 0, and keeps ``residue = delta - sent``;
* SigmaDelta: ``sigma += a_in``; ``act' = relu(sigma + bias << (spike_exp + state_exp))``,
  then the Delta rule on ``act'``;
* Sigma: ``sigma += a_in``, sent every step.

The LIF model runs on the whole neuron axis as before (it is elementwise, so what it
computes in the sigma-delta columns is simply overwritten): this module wraps it and
replaces those columns' voltage by the state (``sigma``; a Delta's ``act``) and their
spikes by the payloads, which the synapses they feed multiply by their weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from spikeforge.compile.lower import LoihiPlan
from spikeforge.errors import UnsupportedError
from spikeforge.runtimes.emulator.dynamics import FixedLif, FloatLif, wrap_int32

#: The process state a sigma-delta population reports as its ``v`` (Lava var name).
STATE_VAR = {"delta": "act", "sigma_delta": "sigma", "sigma": "sigma"}


@dataclass
class _Part:
    """The neurons of one sigma-delta kind, with their per-neuron constants."""

    kind: str
    index: torch.Tensor
    vth: torch.Tensor
    bias: torch.Tensor
    shift_in: torch.Tensor
    state_exp: torch.Tensor
    state: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class SigmaDeltaNeurons:
    """A LIF model whose sigma-delta columns run Lava's sigma-delta models instead."""

    lif: FixedLif
    parts: list[_Part]

    @property
    def v_init(self) -> torch.Tensor:
        return self.lif.v_init

    @property
    def bias(self) -> torch.Tensor:
        return self.lif.bias

    def fuse(self, on: bool) -> None:
        self.lif.fuse(on)

    def begin(self, batch: int) -> None:
        self.lif.begin(batch)
        for part in self.parts:
            zeros = torch.zeros(
                batch, part.index.numel(), dtype=torch.int64, device=part.index.device
            )
            part.state = {"sigma": zeros, "act": zeros.clone(), "residue": zeros.clone()}

    def step(
        self,
        u: torch.Tensor,
        v: torch.Tensor,
        a_in: torch.Tensor,
        time: int = 0,
        bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The LIF step, then each sigma-delta column's: spikes become float64 payloads."""
        u, v, fired = self.lif.step(u, v, a_in, time, bias)
        sent = fired.to(torch.float64)
        whole = a_in.to(torch.int64)  # the ring's float slot holds exact integers
        for part in self.parts:
            payload, state = _sdn_step(part, wrap_int32(whole[:, part.index]))
            v[:, part.index] = state
            sent[:, part.index] = payload.to(torch.float64)
        return u, v, sent


def _sdn_step(part: _Part, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of one kind; returns (payloads, reported state)."""
    state = part.state
    if part.kind == "sigma":
        state["sigma"] = wrap_int32(x + state["sigma"])
        return state["sigma"], state["sigma"]
    if part.kind == "delta":
        act = wrap_int32(x << part.shift_in)
    else:
        state["sigma"] = wrap_int32(x + state["sigma"])
        act = torch.clamp(wrap_int32(state["sigma"] + part.bias), min=0)
    delta = wrap_int32(wrap_int32(act - state["act"]) + state["residue"])
    fire = wrap_int32(delta.abs()) >= part.vth
    sent = torch.where(fire, delta, torch.zeros_like(delta))
    state["residue"] = wrap_int32(delta - sent)
    state["act"] = act
    return sent >> part.state_exp, act if part.kind == "delta" else state["sigma"]


def with_sigma_delta(
    plan: LoihiPlan, device: torch.device, lif: FixedLif | FloatLif
) -> FixedLif | FloatLif | SigmaDeltaNeurons:
    """``lif``, wrapped when the plan has sigma-delta populations (fixed point only)."""
    pops = list(plan.populations.values())
    if not any(p.sdn for p in pops):
        return lif
    if not isinstance(lif, FixedLif):
        raise UnsupportedError(
            "sigma-delta (netx SDNN) populations run at fixed precision only, as netx builds them"
        )
    starts = np.cumsum([0] + [p.size for p in pops])
    parts = []
    for kind in STATE_VAR:
        members = [(p, int(s)) for p, s in zip(pops, starts[:-1], strict=True) if p.sdn == kind]
        if not members:
            continue

        def per_neuron(value, members=members) -> torch.Tensor:
            flat = [np.broadcast_to(np.asarray(value(p)), (p.size,)) for p, _ in members]
            return torch.as_tensor(np.concatenate(flat).astype(np.int64), device=device)

        index = np.concatenate([np.arange(s, s + p.size) for p, s in members])
        parts.append(
            _Part(
                kind=kind,
                index=torch.as_tensor(index, device=device),
                vth=per_neuron(lambda p: int(p.vth) << (p.spike_exp + p.state_exp)),
                bias=per_neuron(
                    lambda p: (
                        np.asarray(p.bias_mant).astype(np.int64) << (p.spike_exp + p.state_exp)
                    )
                ),
                shift_in=per_neuron(lambda p: p.spike_exp + p.state_exp),
                state_exp=per_neuron(lambda p: p.state_exp),
            )
        )
    return SigmaDeltaNeurons(lif, parts)
