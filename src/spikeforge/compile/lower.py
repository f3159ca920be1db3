"""Lower a scheduled network to a Loihi plan: one Lava LIF per population, one synapse each.

The plan is plain data (numbers per process), so the Lava runtime, the emulator
and the file format all share it. Lava's LIF differs from the IR in three ways,
each handled exactly or refused:

* it resets to 0: a population with ``v_reset != 0`` is shifted (``v' = v - v_reset``,
  bias ``- dv * v_reset``, initial ``v' = -v_reset``), which is the same dynamics;
* it takes one threshold, ``du`` and ``dv`` per process: per-neuron thresholds are
  normalised by scaling each neuron's inputs (exact: the dynamics are linear and
  reset to 0); per-neuron ``du``/``dv`` are split into populations of equal decays
  before scheduling (:mod:`spikeforge.compile.split`), so they never reach here;
* it resets to a value on the spike step and fires at ``v > vth``: populations with
  another convention (subtractive or next-step reset, ``v >= vth``) become
  spikeforge's ``SfLif`` (:mod:`spikeforge.runtimes.lava_neuron`), the same LIF with
  that rule, which on the chip needs a microcoded neuron;
* it sends one bit per spike: a multi-spike population (sinabs' MultiSpike, Rockpool's
  default) becomes an SfLif that sends its count ``(v > 0) * trunc(v / vth)`` as a
  graded payload (``num_message_bits``), and every synapse it feeds reads payloads
  (Lava's ``Dense(num_message_bits > 0)`` multiplies each weight by the count).
  The float plan's payloads are :data:`GRADED_BITS_MAX` wide (a float count has no
  bound of its own); quantisation narrows them to the largest count the 24-bit
  voltage can hold (:func:`count_bits`).

A constant input current (the bias of an Affine feeding a current-based neuron) is
delivered by one always-spiking bias neuron, delayed to start at source step 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from spikeforge.compile.convolution import ConvConnection
from spikeforge.compile.network import Connection, Network, Population
from spikeforge.compile.timing import BIAS_SOURCE, PACEMAKER, Timing
from spikeforge.errors import UnsupportedError
from spikeforge.ir.weights import Weights, scale_rows, split_column
from spikeforge.loihi_format import (
    DECAY_SHIFT,
    GRADED_BITS_MAX,
    STATE_HALF,
    VTH_SHIFT,
    WEIGHT_BITS,
)

if TYPE_CHECKING:
    import torch

Precision = Literal["float", "fixed"]


@dataclass
class CorePopulation:
    """Parameters of one Lava ``LIF`` process.

    Hardware voltage relates to source voltage by ``v_hw = (v - v_reset) * scale``;
    ``latency`` is how many hardware steps it runs behind the source model.
    """

    name: str
    size: int
    du: float
    dv: float
    vth: float
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    v_init: np.ndarray
    scale: np.ndarray
    v_reset: np.ndarray
    spiking: bool
    latency: int
    #: The firing rule (:mod:`spikeforge.ir.conventions`): anything but ``to_value``
    #: and ``">"`` runs as spikeforge's SfLif process instead of Lava's LIF.
    reset: str = "to_value"
    threshold: str = ">"
    #: The Lava process's shape (a netx conv layer's (W, H, C)); None: flat ``(size,)``.
    #: Neurons are numbered in that shape's C order either way.
    shape: list[int] | None = None
    #: Lava ``LIFReset``: ``u`` and ``v`` are zeroed on hardware steps ``t`` (from 1)
    #: with ``t % reset_interval == reset_offset``; 0 means a plain ``LIF``.
    reset_interval: int = 0
    reset_offset: int = 0
    #: The population's ``bias_mant`` is set per sample by the caller (a netx input
    #: layer with a neuron, driven by an image as its bias); ``bias_mant`` is then 0.
    bias_driven: bool = False
    #: A Lava sigma-delta neuron (:mod:`lava.proc.sdn`, a netx SDNN layer) instead of a
    #: LIF: ``"delta"`` (the input encoder), ``"sigma_delta"`` (ReLU) or ``"sigma"`` (the
    #: readout); None is a LIF. Such a population uses ``vth`` (netx's ``vThMant``),
    #: ``bias_mant`` (unscaled) and the two exponents below; ``du``/``dv`` are unused.
    sdn: str | None = None
    spike_exp: int = 0
    state_exp: int = 0
    #: Bits of the graded payload each of its messages carries; 0: binary spikes.
    num_message_bits: int = 0
    #: The plan input written straight into this population's ``a_in`` on the same step
    #: (no synapse): a netx Delta input layer encoding graded frames; None: none.
    direct_input: str | None = None
    #: A step emits ``(v > 0) * trunc(v / vth)`` spikes, subtracted as ``count * vth``
    #: and sent as one graded payload (``num_message_bits`` wide). The conventions pair
    #: it with reset ``subtract``; ``threshold`` plays no part (a count of 1 is ``v >= vth``).
    multi_spike: bool = False
    #: Bits of the fixed-point ``du``/``dv`` fractions: Lava's LIF (and the chip's
    #: neuron) hold :data:`DECAY_SHIFT`; a wider decay (up to :data:`DECAY_BITS_MAX`,
    #: ``--decay-bits``) runs as spikeforge's SfLif, on the chip a microcoded neuron.
    decay_bits: int = DECAY_SHIFT

    @property
    def standard(self) -> bool:
        """Whether Lava's own LIF (and the chip's standard neuron) runs it."""
        return (
            self.reset == "to_value"
            and self.threshold == ">"
            and not self.multi_spike
            and self.decay_bits == DECAY_SHIFT
        )

    @property
    def graded(self) -> bool:
        """Whether its messages carry payloads (graded spikes) rather than single bits."""
        return self.num_message_bits > 0


@dataclass
class Synapses:
    """One Lava ``Dense`` (``extra_delay == 0``) or ``DelayDense`` process.

    ``always_on`` (fixed point only) names a presynaptic channel that the process
    sees spike on every step: a pacemaker neuron shares its input port and Lava ORs
    the two spike vectors (or, reading graded payloads, adds the pacemaker's 1 to the
    channel's count), so that column's weights are added to every step's sum.
    Set to half the step of a negative weight exponent, they turn the right shift's
    floor into rounding to nearest (see :mod:`spikeforge.compile.quantize`).
    """

    pre: str
    post: str
    #: ``[post, pre]``; CSR where large and mostly zeros (:mod:`spikeforge.ir.weights`):
    #: then a Lava ``Sparse`` (or ``DelaySparse``) process.
    weights: Weights
    weight_exp: int
    extra_delay: int
    always_on: int | None = None
    #: Lava's ``num_weight_bits`` (weights are truncated to it; netx sets it per layer).
    num_weight_bits: int = WEIGHT_BITS
    #: Per-synapse delays ``[post, pre]`` of one ``DelayDense`` (netx's delays), added
    #: to ``extra_delay``; None: every synapse has ``extra_delay``.
    delays: np.ndarray | None = None
    #: Lava's ``num_message_bits``: > 0 reads the presynaptic payloads (graded spikes)
    #: and adds ``payload * weight``; 0 reads each message as one bit.
    num_message_bits: int = 0

    @property
    def pacemaker(self) -> str | None:
        """The name of the pacemaker feeding ``always_on`` (one per pre and channel)."""
        return None if self.always_on is None else f"{PACEMAKER}{self.pre}[{self.always_on}]"

    def routes(self) -> list[tuple[str, Weights]]:
        """(source, the weights its spikes reach): the presynaptic source's, and the
        pacemaker's always-on column, which a binary source's own spikes there never add
        to (ORed with the pacemaker's); a graded source's counts there still do (added)."""
        if self.always_on is None:
            return [(self.pre, self.weights)]
        own, paced = split_column(self.weights, self.always_on)
        if self.num_message_bits:  # graded counts add to the pacemaker's 1 there
            own = self.weights
        return [(self.pre, own), (self.pacemaker, paced)]


@dataclass
class ConvSynapses:
    """One Lava ``Conv`` process: ``a = wrap24(conv(spikes, weight << weight_exp))``.

    Shapes and geometry are in Lava's (X, Y) = (W, H) order, ``weight`` in Lava's
    ``(C_out, W, H, C_in)`` layout; the pre and post populations are shaped
    ``input_shape`` and ``output_shape`` (W, H, C), or, with ``chw``, number their
    neurons in NIR's (C, H, W) order (a NIR graph's convolution, whose populations
    keep the graph's numbering) and the runtimes transpose at the Conv's ports. A
    netx conv has no exponent and no weight truncation; a quantised NIR conv has an
    8-bit mantissa and an exponent per weight plane, as a dense plane does.
    """

    pre: str
    post: str
    weight: np.ndarray
    input_shape: list[int]
    output_shape: list[int]
    stride: list[int]
    padding: list[int]
    dilation: list[int]
    groups: int
    #: As :attr:`Synapses.num_message_bits`: > 0 convolves the graded payloads.
    num_message_bits: int = 0
    weight_exp: int = 0
    chw: bool = False

    def torch_kernel(self) -> np.ndarray:
        """``weight << weight_exp`` in torch's ``(C_out, C_in / groups, kH, kW)``
        layout, unflipped: what Lava's ``conv()`` hands to torch."""
        kernel = np.asarray(self.weight, np.float64)[:, ::-1, ::-1].transpose(0, 3, 2, 1)
        return np.ascontiguousarray(kernel) * 2.0**self.weight_exp

    def torch_geometry(self) -> dict[str, object]:
        """torch's (H, W)-ordered stride, padding, dilation, and the groups."""
        return {
            "stride": (self.stride[1], self.stride[0]),
            "padding": (self.padding[1], self.padding[0]),
            "dilation": (self.dilation[1], self.dilation[0]),
            "groups": self.groups,
        }

    def image(self, flat: torch.Tensor, side: Literal["pre", "post"] = "pre") -> torch.Tensor:
        """``[batch, n]`` in the pre's (or post's) neuron order as torch's ``[batch, C, H, W]``."""
        width, height, channels = self.input_shape if side == "pre" else self.output_shape
        if self.chw:
            return flat.reshape(-1, channels, height, width)
        return flat.reshape(-1, width, height, channels).permute(0, 3, 2, 1)

    def flat(self, out: torch.Tensor) -> torch.Tensor:
        """torch's ``[batch, C, H, W]`` as ``[batch, n]`` in the order of the populations
        this conv connects (either side: both are numbered alike)."""
        return (out if self.chw else out.permute(0, 3, 2, 1)).reshape(out.shape[0], -1)

    def whc(self, values: np.ndarray, side: Literal["pre", "post"]) -> np.ndarray:
        """Per-neuron ``values`` of the pre or post population in Lava's (W, H, C) order."""
        width, height, channels = self.input_shape if side == "pre" else self.output_shape
        values = np.asarray(values)
        if not self.chw:
            return values
        return values.reshape(channels, height, width).transpose(2, 1, 0).ravel()


def conv_synapses(conv: ConvConnection, kernel: np.ndarray) -> ConvSynapses:
    """A NIR-convention convolution as the Lava ``Conv`` it runs as: the one place where
    (C, H, W) shapes and (H, W) pairs become Lava's (W, H, C) and (X, Y)."""
    return ConvSynapses(
        conv.pre,
        conv.post,
        lava_conv_weight(kernel),
        list(conv.in_shape[::-1]),
        list(conv.out_shape[::-1]),
        list(conv.stride[::-1]),
        list(conv.padding[::-1]),
        list(conv.dilation[::-1]),
        conv.groups,
        chw=True,
    )


def dense_synapses(conv: ConvSynapses) -> Synapses:
    """``conv`` as the ``Dense`` of its matrix (same mantissas and exponent), for a
    consumer that stores only dense layers (the netx exporter)."""
    import torch
    import torch.nn.functional as F

    eye = torch.eye(int(np.prod(conv.input_shape)), dtype=torch.float64)
    kernel = torch.as_tensor(conv.torch_kernel() / 2.0**conv.weight_exp)
    matrix = conv.flat(F.conv2d(conv.image(eye), kernel, **conv.torch_geometry())).T
    return Synapses(
        conv.pre, conv.post, matrix.numpy().copy(), conv.weight_exp, 0,
        num_message_bits=conv.num_message_bits,
    )  # fmt: skip


def lava_conv_weight(kernel: np.ndarray) -> np.ndarray:
    """torch's ``(C_out, C_in / groups, kH, kW)`` correlation kernel as Lava's
    ``(C_out, W, H, C_in)`` convolution weight (as netx converts it)."""
    return np.ascontiguousarray(np.asarray(kernel)[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


@dataclass
class LoihiPlan:
    """Everything needed to build the Lava process graph, in one precision."""

    precision: Precision
    inputs: dict[str, int]
    populations: dict[str, CorePopulation]
    synapses: list[Synapses]
    latency: dict[str, int] = field(default_factory=dict)
    convolutions: list[ConvSynapses] = field(default_factory=list)
    #: Why outputs can only be read in raw hardware steps (None: aligned timing works).
    raw_timing_only: str | None = None

    @property
    def bias_driven(self) -> str | None:
        """The population whose bias each sample sets (netx's input neuron layer), if any."""
        return next((n for n, p in self.populations.items() if p.bias_driven), None)

    @property
    def direct_inputs(self) -> dict[str, str]:
        """Population -> the input written straight into its ``a_in`` (netx Delta layers)."""
        return {n: p.direct_input for n, p in self.populations.items() if p.direct_input}

    @property
    def uses_bias_source(self) -> bool:
        return any(s.pre == BIAS_SOURCE for s in self.synapses)

    @property
    def pacemakers(self) -> dict[str, tuple[str, int]]:
        """Pacemaker name -> (presynaptic source, channel): each is a process of the
        source's size (Lava connects only equal shapes) in which that one neuron spikes
        on every step."""
        return {s.pacemaker: (s.pre, s.always_on) for s in self.synapses if s.pacemaker is not None}

    def source_size(self, name: str) -> int:
        """Neurons of an input, a population or a pacemaker (which mirrors its source)."""
        if name in self.inputs:
            return self.inputs[name]
        if name == BIAS_SOURCE:
            return 1
        if name in self.populations:
            return self.populations[name].size
        return self.source_size(self.pacemakers[name][0])


def lower(network: Network, timing: Timing) -> LoihiPlan:
    """The floating-point plan: exact parameters, Lava's process structure."""
    populations = {
        name: _core_population(pop, timing.latency[name])
        for name, pop in network.populations.items()
    }
    synapses = []
    convolutions = []
    for conn, extra in zip(network.connections, timing.extra_delay, strict=True):
        if conn.pre in network.populations and not network.populations[conn.pre].spiking:
            pre = network.populations[conn.pre]
            raise UnsupportedError(
                f"population '{conn.pre}' ({pre.kind}) is non-spiking but feeds '{conn.post}': "
                "Loihi neurons communicate by spikes, so a leaky integrator can only be an output"
            )
        scale = populations[conn.post].scale
        bits = populations[conn.pre].num_message_bits if conn.pre in populations else 0
        conv = _as_conv(conn, extra, scale)
        if conv is not None:
            conv.num_message_bits = bits
            convolutions.append(conv)
            continue
        synapses.append(
            Synapses(conn.pre, conn.post, scale_rows(conn.weight, scale), 0, extra,
                     num_message_bits=bits)
        )  # fmt: skip
    for name, pop in network.populations.items():
        drive = pop.current_bias + (0.0 if starts_at_rest(pop) else _pipeline_safe_leak(pop))
        if drive.any():
            weights = (populations[name].scale * drive)[:, None]
            synapses.append(
                Synapses(BIAS_SOURCE, name, weights, 0, timing.bias_extra_delay(network, name))
            )
    return LoihiPlan(
        precision="float",
        inputs={name: network.size_of(name) for name in network.inputs},
        populations=populations,
        synapses=synapses,
        latency=dict(timing.latency),
        convolutions=convolutions,
    )


def _as_conv(
    conn: Connection | ConvConnection, extra: int, scale: np.ndarray
) -> ConvSynapses | None:
    """A convolution as a Lava ``Conv``, or None to run it as a ``Dense`` of its matrix:
    a ``Conv`` has no synaptic delay, and only a threshold scale that is the same
    across each output channel folds into its kernel."""
    if not isinstance(conn, ConvConnection) or extra:
        return None
    per_channel = scale.reshape(len(conn.kernel), -1)
    if not np.all(per_channel == per_channel[:, :1]):
        return None
    return conv_synapses(conn, conn.kernel * per_channel[:, 0, None, None, None])


def starts_at_rest(pop: Population) -> bool:
    """Whether every neuron's ``v`` starts where its leak holds it without input
    (``dv * v_init == v_bias``, i.e. ``v_init = v_leak``; SpikingJelly starts ``v`` at
    ``v_reset = v_leak``). Such a leak can stay a voltage bias: during the
    pipeline-fill steps Loihi runs before source step 0 it keeps ``v`` where it is."""
    return bool(np.all(pop.dv * pop.start == pop.v_bias))


def _pipeline_safe_leak(pop: Population) -> np.ndarray:
    """The leak drive ``v_bias``, as a current delivered from source step 0 on.

    A population runs ``latency`` hardware steps before its source step 0; a Lava
    voltage bias would act during those steps and start the neuron charged. Without
    synaptic current (du = 1) u is just this step's input, so the leak can travel
    through the delayed bias neuron instead, exactly. With a synaptic current it
    cannot, and is refused rather than approximated.
    """
    if not pop.v_bias.any():
        return np.zeros(pop.size)
    if np.all(pop.du == 1.0):
        return pop.v_bias
    raise UnsupportedError(
        f"population '{pop.name}' ({pop.kind}): v_leak != 0 with a synaptic current cannot "
        "start exactly at source step 0 on Loihi (the leak would act during the pipeline-fill "
        "steps); use v_leak = 0 (shift thresholds and resets instead)"
    )


def _uniform(pop: Population, values: np.ndarray, parameter: str) -> float:
    if not np.all(values == values[0]):
        raise UnsupportedError(
            f"population '{pop.name}' ({pop.kind}): {parameter} differs across neurons "
            f"({values.min():g} .. {values.max():g}); Lava's LIF takes one {parameter} per "
            "process. Use one time constant per layer, or split the layer"
        )
    return float(values[0])


def microcode_notes(plan: LoihiPlan) -> list[str]:
    """One line per population whose firing rule or decay width Lava's LIF (and the
    chip's standard neuron) lacks."""
    return [
        f"population '{name}': {', '.join(nonstandard_features(pop))}: simulated by spikeforge's "
        "SfLif process; on a Loihi 2 chip it needs a microcoded neuron"
        for name, pop in plan.populations.items()
        if nonstandard_features(pop)
    ]


def nonstandard_features(pop: CorePopulation) -> list[str]:
    """What of ``pop`` Lava's LIF cannot run, in words (empty: nothing)."""
    parts = []
    if pop.spiking and (pop.reset, pop.threshold, pop.multi_spike) != ("to_value", ">", False):
        parts.append(f"reset {pop.reset}, fires at v {pop.threshold} theta")
    if pop.multi_spike:
        parts.append(f"multi-spike counts sent as {pop.num_message_bits}-bit graded payloads")
    if pop.decay_bits != DECAY_SHIFT:
        parts.append(f"{pop.decay_bits}-bit decays")
    return parts


def count_bits(vth: int) -> int:
    """Payload bits of a fixed-point multi-spike population: its largest count.

    Lava clips ``v`` to ``STATE_HALF - 1``, so a step's count is at most
    ``(STATE_HALF - 1) // (vth << VTH_SHIFT)``: 17 bits at ``vth = 1``, within the
    :data:`GRADED_BITS_MAX` a graded spike carries. ``vth = 0`` has no count (it
    divides by zero) and is refused.
    """
    if vth < 1:
        raise UnsupportedError(
            "a multi-spike population needs a fixed-point threshold of at least 1 (its "
            f"count divides by it), got {vth}"
        )
    return ((STATE_HALF - 1) // (vth << VTH_SHIFT)).bit_length()


def _core_population(pop: Population, latency: int) -> CorePopulation:
    du = _uniform(pop, pop.du, "tau_syn (du = dt/tau_syn)")
    dv = _uniform(pop, pop.dv, "tau_mem (dv = dt/tau_mem)")
    if pop.v_th is None:
        scale = np.ones(pop.size)
        vth = float("inf")
        v_reset = np.zeros(pop.size)
    else:
        # A subtractive reset has no reset value to measure from: v is only scaled.
        subtracts = pop.reset in ("subtract", "subtract_next")
        v_reset = np.zeros(pop.size) if subtracts else pop.v_reset
        distance = pop.v_th - v_reset
        if (distance <= 0).any():
            i = int(np.argmin(distance))
            what = (
                "be positive with a subtractive reset"
                if subtracts
                else (f"exceed v_reset ({v_reset[i]:g})")
            )
            raise UnsupportedError(
                f"population '{pop.name}' ({pop.kind}): v_threshold ({pop.v_th[i]:g}) must "
                f"{what} (neuron {i})"
            )
        uniform = np.all(distance == distance[0])
        scale = np.ones(pop.size) if uniform else 1.0 / distance
        vth = float(distance[0]) if uniform else 1.0
    # A voltage bias acts during the pipeline-fill steps before source step 0 too. The
    # reset shift is inert there (-v_reset is its fixed point), and so is the whole leak
    # of a neuron that starts at rest; any other leak is delivered as a current from
    # source step 0 on (_pipeline_safe_leak).
    at_rest = starts_at_rest(pop)
    bias = scale * ((pop.v_bias if at_rest else 0.0) - dv * v_reset)
    if dv != 0 and not at_rest and np.any(pop.start != 0) and latency > 0:
        raise UnsupportedError(
            f"population '{pop.name}' ({pop.kind}): v starts at {pop.start.max():g}, not at "
            f"its rest (v_leak), and decays (dv = {dv:g}) during the {latency} hardware "
            "step(s) Loihi runs it before source step 0; start at 0 or at v_leak, or use "
            "the reference backend"
        )
    return CorePopulation(
        name=pop.name,
        size=pop.size,
        du=du,
        dv=dv,
        vth=vth,
        bias_mant=bias,
        bias_exp=np.zeros(pop.size),
        v_init=(pop.start - v_reset) * scale,
        scale=scale,
        v_reset=v_reset,
        spiking=pop.spiking,
        latency=latency,
        reset=pop.reset,
        threshold=pop.threshold,
        multi_spike=pop.multi_spike,
        num_message_bits=GRADED_BITS_MAX if pop.multi_spike else 0,
    )
