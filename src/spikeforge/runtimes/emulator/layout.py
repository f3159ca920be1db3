"""Fold a Loihi plan into a few large tensors, so one emulated step is a handful of ops.

Lava runs one OS process per LIF and per synapse process; the emulator instead
concatenates every population into one neuron axis and every spike source
(inputs, the bias neuron, spiking populations) into one sender axis, and merges
synapse processes that can be summed before they reach the neurons:

* all processes with the same post population and the same extra delay, and a
  non-negative weight exponent, become one matrix: ``(w·s) << e == (w·2^e)·s``
  exactly, so the exponent folds into the weights, and processes from the same
  source in it (a matrix's weight planes) are summed into one block;
* a process with a negative exponent keeps its own matrix, because Lava floors each
  process's sum separately (``floor(a/2^k) + floor(b/2^k) != floor((a+b)/2^k)``);
  so does one with an always-on channel, whose pacemaker is ORed with that channel's
  spikes (Lava's ``Dense`` reads binary input as booleans) or, from a graded source,
  added to its count (Lava's input port sums the payloads it receives).

Integer sums are carried in float32 while they cannot exceed 2^24 (exact), in
float64 otherwise; plans whose activations could leave Lava's int32 message range
are refused rather than emulated approximately.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from spikeforge.compile.lower import ConvSynapses, LoihiPlan, Synapses
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import UnsupportedError
from spikeforge.ir.weights import (
    Weights,
    abs_row_sums,
    side_by_side,
    stored_values,
    with_values,
)
from spikeforge.loihi_format import INT32_HALF, STATE_HALF, WEIGHT_BITS
from spikeforge.runtimes.matrices import abs_post_sums, device_matrix

#: Integers float32 holds exactly: up to 2^(mantissa bits + 1).
FLOAT32_EXACT = 2 ** (np.finfo(np.float32).nmant + 1)


@dataclass
class Projection:
    """Synapses into one population that arrive together and are summed exactly."""

    post: str
    rows: slice
    cols: torch.Tensor
    #: ``[cols, rows]`` dense, or ``[rows, cols]`` sparse CSR (a large, mostly-zero
    #: matrix, :mod:`spikeforge.ir.weights`): integer sums are exact in either.
    weight_t: torch.Tensor
    delay: int
    right_shift: int
    #: Columns (of ``cols``) that spike on every step, or None.
    always_on: torch.Tensor | None = None
    #: One Lava synapse process reading graded payloads (``num_message_bits > 0``):
    #: float64, and its sum wraps to int32 before the shift, as Lava's int32 dot does.
    graded: bool = False


@dataclass
class ConvProjection:
    """One Lava ``Conv`` as torch's ``conv2d`` on ``[batch, C, H, W]``.

    Lava's fixed-point Conv wraps each step's sums to signed 24 bits. Where no sum can
    reach 2^23 (sum of |weight| per output channel) that wrap is the identity and the
    sums are exact in float32, so the product runs in float32 and skips the wrap;
    otherwise in float64 with the wrap. Lava's floating-point Conv does not wrap: a
    float plan's runs in float64 without it. ``source`` keeps the
    plan's conv for its neuron orders (:meth:`ConvSynapses.image`, ``flat``).
    """

    rows: slice
    cols: slice
    source: ConvSynapses
    weight: torch.Tensor  # torch layout (C_out, C_in / groups, kH, kW)
    stride: tuple[int, int]  # (H, W), torch's order
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    wraps: bool = True


@dataclass
class Layout:
    """Index spaces and merged synapses of one plan, on one device.

    Senders are ordered inputs, bias neuron, then every neuron in neuron order, so one
    step's spikes are written with two slice copies. Non-spiking populations take
    sender slots too; no synapse reads them (the compiler refuses that).
    """

    neurons: dict[str, slice]
    senders: dict[str, slice]
    projections: list[Projection]
    max_delay: int
    #: Bound on any neuron's summed input in one step (sum of |weight| · 2^exp).
    max_input: float
    convolutions: list[ConvProjection] = field(default_factory=list)

    @property
    def n_neurons(self) -> int:
        return max((s.stop for s in self.neurons.values()), default=0)

    @property
    def n_senders(self) -> int:
        return self.neurons_start + self.n_neurons

    @property
    def neurons_start(self) -> int:
        """Sender index of the first neuron: inputs and the bias neuron come first."""
        return self.senders[next(iter(self.neurons))].start if self.neurons else 0


def build_layout(plan: LoihiPlan, device: torch.device) -> Layout:
    neurons = _ranges({name: pop.size for name, pop in plan.populations.items()})
    sizes = dict(plan.inputs)
    if plan.uses_bias_source:
        sizes[BIAS_SOURCE] = 1
    sizes.update({name: pop.size for name, pop in plan.populations.items()})
    senders = _ranges(sizes)
    fixed = plan.precision == "fixed"
    groups: dict[tuple, list[tuple[Synapses, np.ndarray]]] = {}
    for index, syn in enumerate(plan.synapses):
        weights = (
            _lava_weights(syn)
            if fixed
            else with_values(syn.weights, stored_values(syn.weights).astype(np.float64))
        )
        exp = syn.weight_exp if fixed else 0
        if exp >= 0:
            weights = weights * 2.0**exp
        alone = exp < 0 or syn.always_on is not None or syn.num_message_bits > 0
        # A DelayDense floors each delay's sum on its own (Lava: one column per delay).
        for delay, part in _by_delay(syn, weights):
            key = (syn.post, delay, max(-exp, 0), index if alone else -1)
            groups.setdefault(key, []).append((syn, part))
    projections = [
        _projection(post, delay, shift, members, neurons, senders, fixed, device)
        for (post, delay, shift, _), members in groups.items()
    ]
    reach = np.zeros(sum(pop.size for pop in plan.populations.values()))
    for proj in projections:
        reach[proj.rows] += abs_post_sums(proj.weight_t)
    convolutions = [_conv(conv, neurons, senders, fixed, device) for conv in plan.convolutions]
    for conv in plan.convolutions:
        # Lava wraps a Conv's output to STATE_BITS: |a| <= STATE_HALF per step at most.
        kernel = conv.torch_kernel()
        per_channel = np.minimum(np.abs(kernel).reshape(len(kernel), -1).sum(1), STATE_HALF)
        rows = neurons[conv.post]
        count = (rows.stop - rows.start) // len(per_channel)
        reach[rows] += np.repeat(per_channel, count) if conv.chw else np.tile(per_channel, count)
    graded = any(p.graded for p in projections) or any(
        c.num_message_bits for c in plan.convolutions
    )
    return Layout(
        neurons=neurons,
        senders=senders,
        projections=projections,
        max_delay=max((p.delay for p in projections), default=0),
        # Payloads are not bounded by one bit: LIFs fed by them keep every int32 wrap.
        max_input=float("inf") if graded else float(reach.max(initial=0.0)),
        convolutions=convolutions,
    )


def _by_delay(syn: Synapses, weights: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(extra delay, the weights with it) of a synapse process."""
    if syn.delays is None:
        return [(syn.extra_delay, weights)]
    delays = np.asarray(syn.delays)
    used = np.unique(delays[weights != 0]) if np.any(weights) else np.array([0])
    return [(syn.extra_delay + int(d), np.where(delays == d, weights, 0.0)) for d in used]


def _conv(
    conv: ConvSynapses,
    neurons: dict[str, slice],
    senders: dict[str, slice],
    fixed: bool,
    device: torch.device,
) -> ConvProjection:
    weight = conv.torch_kernel()
    reach = np.abs(weight).reshape(len(weight), -1).sum(axis=1).max(initial=0.0)
    small = fixed and reach < STATE_HALF
    dtype = torch.float32 if small else torch.float64
    geometry = conv.torch_geometry()
    return ConvProjection(
        rows=neurons[conv.post],
        cols=senders[conv.pre],
        source=conv,
        weight=torch.as_tensor(weight, dtype=dtype, device=device),
        stride=geometry["stride"],
        padding=geometry["padding"],
        dilation=geometry["dilation"],
        groups=conv.groups,
        wraps=fixed and not small,
    )


def _ranges(sizes: dict[str, int]) -> dict[str, slice]:
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = slice(start, start + size)
        start += size
    return out


def _lava_weights(syn: Synapses) -> Weights:
    """The integer weights Lava's bit-accurate Dense actually uses (clipped, truncated).

    ``lava.utils.weightutils``' clip and truncate in numpy, so that the emulator runs
    where Lava is not installed (a GPU machine given pre-compiled ``.sfnet`` files):
    a one-signed matrix is clipped to ``[0, 255]`` by magnitude and keeps
    ``num_weight_bits`` bits; a mixed one to ``[-256, 255]`` and drops one bit more.
    """
    weights = stored_values(syn.weights).astype(np.int32)
    mixed = weights.min(initial=0) < 0 < weights.max(initial=0)
    negate = not mixed and weights.min(initial=0) < 0
    magnitude = -weights if negate else weights
    low = -(1 << WEIGHT_BITS) if mixed else 0
    magnitude = np.clip(magnitude, low, (1 << WEIGHT_BITS) - 1)
    drop = WEIGHT_BITS - syn.num_weight_bits + int(mixed)
    magnitude = (magnitude >> drop) << drop
    return with_values(syn.weights, (-magnitude if negate else magnitude).astype(np.float64))


def _projection(
    post: str,
    delay: int,
    right_shift: int,
    members: list[tuple[Synapses, np.ndarray]],
    neurons: dict[str, slice],
    senders: dict[str, slice],
    fixed: bool,
    device: torch.device,
) -> Projection:
    # Weight planes (and any synapses) from one source into one group are summed into
    # one matrix, which is exact (integers, and |w1 + w2| <= |w1| + |w2| keeps the
    # bound checked below) and delivers each source once instead of once per plane.
    by_pre: dict[str, tuple[Synapses, Weights]] = {}
    for syn, w in members:
        first, total = by_pre.get(syn.pre, (syn, None))
        by_pre[syn.pre] = (first, w if total is None else total + w)
    parts = list(by_pre.values())
    cols = np.concatenate([np.arange(senders[s.pre].start, senders[s.pre].stop) for s, _ in parts])
    weight = side_by_side([w for _, w in parts])
    starts = np.cumsum([0] + [w.shape[1] for _, w in parts])
    always_on = [
        start + s.always_on
        for start, (s, _) in zip(starts[:-1], parts, strict=True)
        if s.always_on is not None
    ]
    dtype = torch.float64
    graded = any(s.num_message_bits > 0 for s, _ in members)
    if fixed and not graded:
        reach = float(abs_row_sums(weight).max(initial=0.0))
        if reach >= INT32_HALF:  # Lava's int32 range: beyond it, refused, not emulated
            raise UnsupportedError(
                f"synapses into '{post}': a step's summed input can reach {reach:.3g}, beyond "
                "Lava's int32 activation messages (2^31); the emulator does not reproduce "
                "that overflow"
            )
        if reach < FLOAT32_EXACT:
            dtype = torch.float32
    return Projection(
        post=post,
        rows=neurons[post],
        cols=torch.as_tensor(cols, device=device),
        weight_t=device_matrix(weight, dtype, device),
        delay=delay,
        right_shift=right_shift,
        always_on=torch.as_tensor(always_on, device=device) if always_on else None,
        graded=graded and fixed,  # Lava's float Dense sums payloads in float: no wrap
    )
