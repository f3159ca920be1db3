"""Quantise a floating-point Loihi plan to Loihi's fixed-point formats.

Formats (:mod:`spikeforge.loihi_format`, whose names these are; lava
``PyLifModelBitAcc`` / ``PyDenseModelBitAcc``): du, dv 12-bit with the current keeping
``lava_u_keep(du) / DECAY_UNITY`` per step and the voltage ``lava_v_keep(dv) /
DECAY_UNITY`` (or ``decay_bits`` wide, where 12 bits round a time constant:
:func:`decay_width`); vth ``VTH_BITS``, compared as ``vth << VTH_SHIFT``; bias
``BIAS_MANT_BITS`` mantissa << 3-bit exponent; u, v ``STATE_BITS``; weights
``WEIGHT_BITS`` (even values when signs are mixed) << a weight exponent per synapse
process; synaptic input enters ``u`` as ``a_in << ACT_SHIFT``.

Each population gets one scale ``S`` (hardware voltage ``= 64 * S *`` plan voltage).
Synaptic input arrives in whole units of ``a_in``, i.e. steps of ``1/S`` in plan
units, so a larger ``S`` means finer synaptic resolution as well as finer thresholds
and biases. It is capped by the 17-bit threshold, by the largest weight
representable with exponent 7, by the bias range, and by the 24-bit state range
(see :func:`_population_scale`): ``64 * S`` times the largest state a population
needs, with its head-room (:data:`WRAP_MARGIN`, :data:`V_WINDOW`) already in it, must
stay within the format's ``STATE_HALF``, where ``u`` wraps and ``v`` saturates. After a
subtractive reset ``v`` keeps what it held above the threshold, so that range covers
it too. Within :data:`BIAS_SEARCH` below the largest scale, the one whose current biases
round best is taken (:func:`_bias_rounding_scale`): their error recurs every step.
Weight mantissas then use all 8 bits of each synapse process, rounded so that no
neuron's summed input drifts (:func:`_round_preserving_row_sums`). The report states
what was lost, per population.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from spikeforge.choices import WEIGHT_PLANES
from spikeforge.compile.entries import Entries
from spikeforge.compile.lower import (
    ConvSynapses,
    CorePopulation,
    LoihiPlan,
    Synapses,
    count_bits,
    dense_synapses,
    lava_conv_weight,
)
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import UnsupportedError
from spikeforge.ir.weights import Weights, abs_max, nonzeros, nonzeros_lost, stored_values
from spikeforge.limits import require_fits
from spikeforge.loihi_format import (
    ACT_SHIFT,
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    DECAY_BITS_MAX,
    DECAY_SHIFT,
    DECAY_UNITY,
    DU_OFFSET,
    MIXED_SIGN_WEIGHT_STEP,
    STATE_HALF,
    VTH_MAX,
    VTH_SHIFT,
    WEIGHT_BITS,
    WEIGHT_EXP_RANGE,
    WEIGHT_MAX,
    WEIGHT_MIN,
)

#: The quantiser never shifts a plane's input right (``WEIGHT_EXP_MIN = 0``, not the
#: format's lowest exponent): Lava applies a negative weight exponent as an arithmetic
#: right shift of the summed input, which floors, a systematic -1/2 LSB per step that
#: u and v integrate. Weights below one unit of a_in are therefore represented by the
#: scale, and only the third plane, whose floor a pacemaker's half unit turns into
#: rounding, shifts right.
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = 0, WEIGHT_EXP_RANGE[1]
#: Exponent of the third plane's fractions, with the pacemaker's half unit that makes
#: the floor round (:func:`_whole_and_fraction`): one mantissa's 8 bits below a unit.
FRACTION_EXP = -WEIGHT_BITS
#: Head-room over the calibration run's peak current. ``u`` wraps around at 24 bits,
#: which corrupts the neuron, so it gets twice the largest current seen (inputs from
#: the calibration's distribution reach up to 1.35x its peak on the example networks:
#: ``scripts/fixed_agreement.py``). The voltage of a non-spiking population is its
#: output and gets the same head-room.
WRAP_MARGIN = 2.0
#: How far below reset a spiking population's voltage can go, in thresholds: as deep
#: as calibration saw it go but no deeper than ``V_WINDOW_MAX``, and ``V_WINDOW``
#: without calibration. ``v`` saturates rather than wraps, which only shortens how
#: long a deeply inhibited neuron stays silent, while range spent here is synaptic
#: resolution lost; these values balance the two best on the example networks
#: (``scripts/fixed_agreement.py``).
V_WINDOW, V_WINDOW_MAX = 4.0, 12.0
#: The same calibrated window for a population without a leak (``dv = 0``: IF, IAF).
#: A leaky membrane cut at the floor recovers the cut within a few time constants;
#: an integrator keeps it for ever, so every later spike of that neuron moves, and
#: deeper range is worth more of the resolution it costs. On the IF rows of
#: ``scripts/framework_agreement.py`` (sinabs IAF and SpikingJelly IFNode, whose
#: membranes sink 100-545 thresholds) a cap of 12 gives 98.86-99.78 %, 24 gives
#: 99.36-100 %, and 100 loses the resolution (98.39 % on one).
V_WINDOW_MAX_NO_LEAK = 24.0
#: How much synaptic resolution a spiking population may give up (a share of its
#: scale) so that its current biases round to whole units of ``a_in`` with little
#: error (:func:`_bias_rounding_scale`).
BIAS_SEARCH = 1.0 / 32
#: Most (candidate scale, bias) pairs that search weighs: a large population's many
#: biases round no better at one scale than at another, so it searches fewer scales.
BIAS_SEARCH_ENTRIES = 1 << 20
#: Resets after which ``v`` keeps what it held above the threshold.
SUBTRACTIVE_RESETS = ("subtract", "subtract_next")


@dataclass
class QuantReport:
    """What quantisation did to one population (relative errors are fractions)."""

    population: str
    scale: float
    vth: int
    threshold_error: float
    weight_error_rms: float
    weight_error_max: float
    weights_zeroed: int
    weights_total: int
    bias_error_max: float
    bias_clipped: int
    du_error: float
    dv_error: float
    #: The lowest voltage the population can hold, relative to reset, in source units
    #: (the highest such floor where neurons differ): below it ``v`` saturates.
    v_floor: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def quantize(
    plan: LoihiPlan,
    weight_planes: int = 1,
    peaks: dict[str, np.ndarray] | None = None,
    decay_bits: int = DECAY_SHIFT,
) -> tuple[LoihiPlan, list[QuantReport]]:
    """The fixed-point plan and one report per population.

    ``weight_planes = 2`` represents each weight matrix as two 8-bit synapse
    processes on the same neurons — the rounded weights and their residual, each
    with its own exponent — for about 15 bits of precision at twice the synaptic
    memory. Deep or recurrent networks whose spike timing is sensitive to 8-bit
    rounding use it to stay spike-for-spike close to the float model.
    ``weight_planes = 3`` adds a plane of fractions of the smallest synaptic input,
    rounded once per step rather than once per spike, and a pacemaker per presynaptic
    source: for chaotic recurrent networks, where even one-unit errors
    per spike change spike trains (``scripts/fixed_agreement.py``).
    ``decay_bits`` above Loihi's 12 holds each time constant that 12 bits round in a
    wider fraction (:func:`decay_width`), at the cost of a microcoded neuron.
    """
    if weight_planes not in WEIGHT_PLANES:
        raise ValueError(f"weight_planes must be one of {WEIGHT_PLANES}, got {weight_planes}")
    if not DECAY_SHIFT <= decay_bits <= DECAY_BITS_MAX:
        raise ValueError(f"decay_bits must be {DECAY_SHIFT}..{DECAY_BITS_MAX}, got {decay_bits}")
    if plan.precision != "float":
        raise ValueError("quantize expects a floating-point plan")
    if weight_planes == 3:
        plan = _convolutions_as_matrices(plan)
    incoming: dict[str, list[Synapses]] = {name: [] for name in plan.populations}
    for syn in plan.synapses:
        incoming[syn.post].append(syn)
    convs: dict[str, list[ConvSynapses]] = {name: [] for name in plan.populations}
    for conv in plan.convolutions:
        convs[conv.post].append(conv)
    scales = {
        name: _population_scale(
            pop, incoming[name], None if peaks is None else peaks.get(name), convs[name]
        )
        for name, pop in plan.populations.items()
    }
    channels = _pacemaker_channels(plan.synapses, scales) if weight_planes == 3 else {}
    populations: dict[str, CorePopulation] = {}
    synapses: list[Synapses] = []
    convolutions: list[ConvSynapses] = []
    reports: list[QuantReport] = []
    for name, pop in plan.populations.items():
        scale = scales[name]
        qpop, bias_err, bias_clipped = quantize_population(pop, scale, decay_bits)
        populations[name] = qpop
        w_err_sq = w_norm_sq = 0.0
        w_err_max = w_max = 0.0
        zeroed = total = 0

        def pairs(name: str = name, scale: float = scale) -> Iterator[tuple[Weights, Weights]]:
            """Each input's weights and what its planes make of them, quantising as it
            goes: one at a time, as each approximation is as large as its matrix."""
            for syn in incoming[name]:
                planes = _quantize_synapses(syn, scale, weight_planes, channels.get(syn.pre, 0))
                synapses.extend(planes)
                terms = (p.routes()[0][1] * 2.0**p.weight_exp for p in planes)
                yield syn.weights, sum(terms, syn.weights * 0.0) / scale
            for conv in convs[name]:  # errors over kernel taps, each shared by many synapses
                conv_planes = _quantize_conv(conv, scale, weight_planes)
                convolutions.extend(conv_planes)
                yield conv.torch_kernel(), sum((p.torch_kernel() for p in conv_planes), 0.0) / scale

        for weights, approx in pairs():
            diff = stored_values(approx - weights)
            w_err_sq += float((diff**2).sum())
            w_norm_sq += float((stored_values(weights) ** 2).sum())
            w_err_max = max(w_err_max, float(np.abs(diff).max(initial=0.0)))
            w_max = max(w_max, abs_max(weights))
            total += nonzeros(weights)
            zeroed += nonzeros_lost(weights, approx)
        vth_err = abs(qpop.vth / scale - pop.vth) / pop.vth if pop.spiking and pop.vth > 0 else 0.0
        reports.append(
            QuantReport(
                population=name,
                scale=scale,
                vth=int(qpop.vth) if pop.spiking else 0,
                threshold_error=vth_err,
                weight_error_rms=float(np.sqrt(w_err_sq / w_norm_sq)) if w_norm_sq else 0.0,
                weight_error_max=w_err_max / w_max if w_max else 0.0,
                weights_zeroed=zeroed,
                weights_total=total,
                bias_error_max=bias_err,
                bias_clipped=bias_clipped,
                du_error=abs((qpop.du + DU_OFFSET) / 2**qpop.decay_bits - pop.du),
                dv_error=abs(qpop.dv / 2**qpop.decay_bits - pop.dv),
                v_floor=float(np.max(-(STATE_HALF - 1) / np.asarray(qpop.scale))),
            )
        )
    synapses = [_payload_width(s, populations) for s in synapses]
    fixed = LoihiPlan(
        precision="fixed",
        inputs=dict(plan.inputs),
        populations=populations,
        synapses=[s for s in synapses if s.pre != BIAS_SOURCE]
        + [s for s in synapses if s.pre == BIAS_SOURCE],
        latency=dict(plan.latency),
        convolutions=[_payload_width(c, populations) for c in convolutions],
    )
    return fixed, reports


def _population_scale(
    pop: CorePopulation,
    incoming: list[Synapses],
    observed: np.ndarray | None,
    convs: list[ConvSynapses] = (),
) -> float:
    """The largest scale that every format and the state headroom allow (module docstring).

    The current ``u`` wraps around at 24 bits, so its range is sized for the worst
    case or, calibrated, :data:`WRAP_MARGIN` times the peak seen. A spiking
    population's voltage only has to reach its threshold above reset, and below
    reset the window of :data:`V_WINDOW` or :data:`V_WINDOW_MAX` (without a leak,
    :data:`V_WINDOW_MAX_NO_LEAK`). A non-spiking
    population's voltage is its output and gets its full range. After a subtractive
    reset (one spike a step) ``v`` keeps what it held above the threshold and
    discharges it one threshold a step, so its range also covers the calibrated peak
    above reset; saturating there only loses what exceeds it, so it gets no wrap
    margin, which would halve the resolution for nothing (Rockpool's
    ``max_spikes_per_dt=1`` layers hold up to 23 thresholds; with 24-bit decays,
    averaged over copies with every rounding re-rolled: clipped at 12 thresholds,
    96.5 % agreement; held, 98.6 %; held twice over, 97.5 %). A multi-spike
    population's voltage holds a whole step's count before it is subtracted: its
    range is calibrated likewise, or bounded by the worst case (a remainder below
    the threshold plus one step's current and bias), so that the count is never cut
    by the voltage's saturation unless inputs exceed calibration; counts the 24-bit
    voltage cannot hold are refused (:func:`_check_count_range`). The scale is then
    rounded down so that the threshold is an exact integer, and lowered a little
    further where that rounds the current biases better (:func:`_bias_rounding_scale`).
    """
    bias = np.abs(pop.bias_mant)
    if observed is not None:
        u_peak, v_above, v_below = (
            float(np.max(row * pop.scale, initial=0.0)) for row in _state_peaks(observed)
        )
        u_range = WRAP_MARGIN * u_peak
        if pop.spiking:
            window = V_WINDOW_MAX_NO_LEAK if pop.dv == 0 else V_WINDOW_MAX
            v_range = max(pop.vth, min(v_below, window * pop.vth))
            if pop.multi_spike:  # v holds the whole count before it is subtracted
                v_range = max(v_range, WRAP_MARGIN * v_above)
            elif pop.reset in SUBTRACTIVE_RESETS:  # and what one spike a step leaves
                v_range = max(v_range, v_above)
        else:
            v_range = WRAP_MARGIN * max(v_above, v_below)
    else:
        worst_input = sum((_abs_row_sums(s.weights) for s in incoming), np.zeros(pop.size))
        worst_input = worst_input + sum((_conv_row_sums(c) for c in convs), np.zeros(pop.size))
        u_range = float(np.max(worst_input / max(pop.du, 1.0 / DECAY_UNITY), initial=0.0))
        if pop.spiking:
            v_range = V_WINDOW * pop.vth
            if pop.multi_spike:  # below vth after each count, then one step's u and bias
                v_range = max(v_range, pop.vth + u_range + float(bias.max(initial=0.0)))
        else:
            v_range = float(np.max((u_range + bias) / max(pop.dv, 1.0 / 16), initial=0.0))
    state = max(u_range, v_range, float(np.max(np.abs(pop.v_init), initial=0.0)))
    if pop.multi_spike:
        _check_count_range(pop, state, "calibrated" if observed is not None else "worst case")
    limits = [STATE_HALF / (2**ACT_SHIFT * state)] if state > 0 else []
    if pop.spiking:
        limits.append(VTH_MAX / pop.vth)
    w_max = max(
        (abs_max(w) for w in [*(s.weights for s in incoming), *(c.weight for c in convs)]),
        default=0.0,
    )
    if w_max > 0:
        limits.append(WEIGHT_MAX * 2.0**WEIGHT_EXP_MAX / w_max)
    if bias.max(initial=0.0) > 0:
        limits.append(BIAS_MANT_MAX * 2.0**BIAS_EXP_MAX / (2**ACT_SHIFT * bias.max()))
    scale = float(min(limits)) if limits else 1.0
    if pop.spiking and scale * pop.vth >= 1:
        scale = _bias_rounding_scale(pop, incoming, int(np.floor(scale * pop.vth)))
    return scale


def _bias_rounding_scale(pop: CorePopulation, incoming: list[Synapses], most: int) -> float:
    """The scale, with an integer threshold of at most ``most``, whose current biases
    round best, among those that give up at most :data:`BIAS_SEARCH` of it.

    A current bias enters ``u`` through the always-on bias neuron in whole units of
    ``a_in`` (two planes, :func:`_quantize_synapses`), so its rounding error ``e`` is
    the same on every step and the two leaky integrators add it up: ``v`` settles
    ``e / (du * dv)`` units off, which for Rockpool's hidden neurons (``du * dv``
    about 1/300) was 0.7 % of a threshold at a scale of 22005 units per threshold,
    enough to change the spike count of a neuron firing on every step. Random errors
    of the weights average out; this one does not. The rounding error of
    ``(k / vth) * b`` changes quickly with the threshold's integer ``k``, so a few
    thresholds below ``most`` one (at most :data:`BIAS_SEARCH` of the resolution)
    usually holds one where the biases, in thresholds, round with the least summed
    squared error; ties go to the finer scale. A population split per neuron (its
    own decays, :mod:`spikeforge.compile.split`) has one bias and finds it nearly
    exact; a large one searches fewer scales (:data:`BIAS_SEARCH_ENTRIES`), as no
    scale rounds its many biases much better than another.
    """
    biases = np.concatenate(
        [Entries.of(s.weights).values for s in incoming if s.pre == BIAS_SOURCE] or [np.zeros(0)]
    )
    fewest = max(int(np.ceil(most * (1 - BIAS_SEARCH))), 1)
    tries = min(most - fewest + 1, max(BIAS_SEARCH_ENTRIES // max(len(biases), 1), 1))
    if not biases.any() or tries < 2:
        return most / pop.vth
    thresholds = np.arange(most, most - tries, -1, dtype=np.float64)
    units = thresholds[:, None] / pop.vth * biases[None, :]
    cost = (((units - np.round(units)) / thresholds[:, None]) ** 2).sum(axis=1)
    return float(thresholds[np.argmin(cost)] / pop.vth)


def _check_count_range(pop: CorePopulation, state: float, source: str) -> None:
    """Refuse a multi-spike population whose counts the 24-bit voltage cannot hold.

    Its count is ``v // (vth << 6)`` of a voltage that saturates at ``STATE_HALF - 1``,
    so at the smallest threshold, 1, it carries at most ``(STATE_HALF - 1) >> 6``
    spikes a step; a population that needs more would have its counts clipped by the
    saturation (identically in Lava and the emulator, but not in the source model).
    """
    most = (STATE_HALF - 1) >> VTH_SHIFT
    needed = state / pop.vth
    if needed > most:
        raise UnsupportedError(
            f"population '{pop.name}': multi-spike counts up to {needed:.6g} a step "
            f"({source} state range) exceed the {most} a 24-bit voltage holds at threshold 1; "
            "calibrate on representative input (--calibrate) or scale its input down"
        )


def _conv_row_sums(conv: ConvSynapses) -> np.ndarray:
    """Per post neuron, ``sum |w|`` over the inputs it reads: the dense matrix's row sums."""
    width, height, channels = conv.input_shape
    ones = torch.ones((1, channels, height, width), dtype=torch.float64)
    kernel = torch.as_tensor(np.abs(conv.torch_kernel()))
    return conv.flat(F.conv2d(ones, kernel, **conv.torch_geometry()))[0].numpy()


def _convolutions_as_matrices(plan: LoihiPlan) -> LoihiPlan:
    """``plan`` with every convolution as the ``Dense`` of its matrix.

    A Lava ``Conv`` cannot shift right, so the third (fraction) plane has no ``Conv``
    form; asked for three planes, a convolution gets them as a matrix (sinabs' conv
    fixture: 99.06 % with three planes as matrices, 98.86 % with a conv's two).
    """
    for conv in plan.convolutions:
        n_in, n_out = int(np.prod(conv.input_shape)), int(np.prod(conv.output_shape))
        require_fits(
            8 * n_in * (n_in + n_out),
            f"convolution '{conv.pre}' -> '{conv.post}' as a matrix (for --weight-planes 3)",
        )
    matrices = [dense_synapses(conv) for conv in plan.convolutions]
    return replace(plan, synapses=[*plan.synapses, *matrices], convolutions=[])


def _quantize_conv(conv: ConvSynapses, scale: float, planes: int) -> list[ConvSynapses]:
    """A convolution's planes, rounded as :func:`_quantize_synapses` rounds a matrix's.

    Each output channel's kernel is one row, in torch's ``(C_in, kH, kW)`` order: the
    row, in the same column order, of every neuron whose receptive field lies inside
    the image, so those neurons get exactly the dense path's integers. A neuron at the
    border reads fewer weights; the dense rounding preserves its cropped row's sum,
    which no kernel shared across positions can, so a conv rounds it as an interior
    neuron. A Lava ``Conv`` cannot shift right, so a conv has one or two planes
    (three run as a matrix, :func:`_convolutions_as_matrices`).
    """
    kernel = conv.torch_kernel()
    target = Entries.of(kernel.reshape(len(kernel), -1) * scale)
    if planes == 1:
        quantized = [_plane(target)]
    else:
        high, exp, residual = _floor_plane(target)
        quantized = [(high, exp), _plane(residual)]
    return [
        replace(conv, weight=lava_conv_weight(w.matrix().reshape(kernel.shape)), weight_exp=e)
        for w, e in quantized
        if w.values.any()
    ]


def _abs_row_sums(weights: Weights) -> np.ndarray:
    """Summed ``|weight|`` per row, the same float for either storage (:mod:`.entries`)."""
    entries = Entries.of(weights)
    return entries.row_sums(np.abs(entries.values))


def _payload_width(
    syn: Synapses | ConvSynapses, populations: dict[str, CorePopulation]
) -> Synapses | ConvSynapses:
    """``syn`` reading its multi-spike source's payloads at the source's fixed-point width."""
    pre = populations.get(syn.pre)
    if pre is None or not pre.multi_spike:
        return syn
    return replace(syn, num_message_bits=pre.num_message_bits)


def _state_peaks(observed: np.ndarray) -> np.ndarray:
    """Rows ``|u|``, ``v - v_reset`` above and below reset, from a calibration run.

    Files written before the voltage was split by sign hold ``|v - v_reset|`` for
    both, which is the conservative reading.
    """
    return observed if len(observed) == 3 else observed[[0, 1, 1]]


def decay_width(pop: CorePopulation, decay_bits: int) -> int:
    """The bits of ``pop``'s fixed-point decays: Loihi's :data:`DECAY_SHIFT` where they
    hold both ``du`` and ``dv`` exactly (Lava's own LIF then runs it, and the chip's
    standard neuron), else ``decay_bits``.

    A decay rounded to 1/4096 moves every time constant by up to 1/8192 per step, and
    a recurrent network is chaotic in them: snnTorch's RSynaptic (``alpha = 0.7``,
    ``beta = 0.9``) agrees with its own simulation on 97.8 % of outputs with nothing
    but its decays rounded to 12 bits (``scripts/framework_agreement.py``).
    """
    exact = all(np.round(d * DECAY_UNITY) == d * DECAY_UNITY for d in (pop.du, pop.dv))
    return DECAY_SHIFT if exact else decay_bits


def quantize_population(
    pop: CorePopulation, scale: float, decay_bits: int = DECAY_SHIFT
) -> tuple[CorePopulation, float, int]:
    """``pop`` at ``scale`` in Loihi's formats, its bias error and how many biases clipped.

    Public because the netx exporter re-quantises a population at its own scale.
    """
    target = 2**ACT_SHIFT * scale * pop.bias_mant
    exp = np.zeros(pop.size, dtype=np.int64)
    magnitude = np.abs(target)
    while True:
        too_big = (np.round(magnitude / 2.0**exp) > BIAS_MANT_MAX) & (exp < BIAS_EXP_MAX)
        if not too_big.any():
            break
        exp[too_big] += 1
    mant = np.round(target / 2.0**exp)
    clipped = int((np.abs(mant) > BIAS_MANT_MAX).sum())
    mant = np.clip(mant, -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int64)
    achieved = mant * 2.0**exp
    denom = np.abs(target).max(initial=0.0)
    bias_err = float(np.abs(achieved - target).max(initial=0.0) / denom) if denom else 0.0
    vth = int(np.clip(np.round(scale * pop.vth), 0, VTH_MAX)) if pop.spiking else VTH_MAX
    # A multi-spike payload: the largest count the 24-bit voltage holds at this threshold.
    bits = count_bits(vth) if pop.multi_spike else pop.num_message_bits
    width = decay_width(pop, decay_bits)
    unity = 1 << width
    quantized = replace(
        pop,
        num_message_bits=bits,
        decay_bits=width,
        du=int(np.clip(np.round(pop.du * unity) - DU_OFFSET, 0, unity - 1)),
        dv=int(np.clip(np.round(pop.dv * unity), 0, unity - 1)),
        vth=vth,
        bias_mant=mant,
        bias_exp=exp,
        v_init=np.round(2**ACT_SHIFT * scale * pop.v_init).astype(np.int64),
        scale=pop.scale * scale * 2**ACT_SHIFT,
    )
    return quantized, bias_err, clipped


def _quantize_synapses(
    syn: Synapses, scale: float, planes: int, channel: int = 0
) -> list[Synapses]:
    """8-bit mantissas and an exponent per plane.

    With two planes the first takes the weights rounded *down* and the second the
    remainder, which is then never negative: a single-signed plane uses every
    mantissa value, where Lava truncates mixed-sign weights to even ones, so the
    remainder is represented twice as finely as it would be if rounded to nearest.
    Three planes split that remainder again, into whole units of ``a_in`` and a
    fraction that is summed before it is rounded (:func:`_whole_and_fraction`, with
    the pacemaker on ``channel``). The bias neuron's input is the same on every
    step, so summing its fractions gains nothing: it keeps two planes. A CSR matrix
    gives CSR planes, computed on its non-zeros only (:mod:`.entries`).
    """
    weights = Entries.of(syn.weights)
    if planes == 1:
        quantized = [(*_plane(weights.like(weights.values * scale)), None)]
    else:
        # Not held here: the targets are freed once their residual is (peak memory).
        high, exp, residual = _floor_plane(weights.like(weights.values * scale))
        if planes == 2 or syn.pre == BIAS_SOURCE:
            quantized = [(high, exp, None), (*_plane(residual), None)]
        else:
            graded = syn.num_message_bits > 0
            quantized = [(high, exp, None), *_whole_and_fraction(residual, channel, graded)]
    return [
        Synapses(
            syn.pre,
            syn.post,
            mantissas.matrix(),
            exp,
            syn.extra_delay,
            always_on,
            num_message_bits=syn.num_message_bits,
        )
        for mantissas, exp, always_on in quantized
        if mantissas.values.any()
    ]


def _floor_plane(target: Entries) -> tuple[Entries, int, Entries]:
    """The first of several planes, rounded down, and the non-negative remainder."""
    high, exp = _plane(target, np.floor)
    residual = high.values * 2.0**exp
    np.subtract(target.values, residual, out=residual)
    return high, exp, target.like(residual)


def _pacemaker_channels(synapses: list[Synapses], scales: dict[str, float]) -> dict[str, int]:
    """One always-on channel per presynaptic source, shared by all of its fraction planes
    so that one pacemaker serves them: the channel whose own weights lose least when
    rounded to whole units (see :func:`_whole_and_fraction`)."""
    lost: dict[str, np.ndarray] = {}
    for syn in synapses:
        if syn.pre == BIAS_SOURCE:
            continue
        weights = Entries.of(syn.weights)
        residual = _floor_plane(weights.like(weights.values * scales[syn.post]))[2].values
        # A graded channel keeps the pacemaker's half unit per count: it rounds r - 1/2.
        fraction = residual - np.floor(residual) - (0.5 if syn.num_message_bits else 0.0)
        cost = weights.col_sums((fraction - np.round(fraction)) ** 2)
        lost[syn.pre] = lost.get(syn.pre, 0.0) + cost
    return {pre: int(np.argmin(cost)) for pre, cost in lost.items()}


def _whole_and_fraction(
    residual: Entries, channel: int, graded: bool = False
) -> list[tuple[Entries, int, int | None]]:
    """Two planes for a non-negative remainder below 256 units: whole units, then 1/256ths.

    One unit of ``a_in`` is the finest step by which synaptic input can reach ``u``,
    so rounding each weight to it leaves an error per active synapse, and a chaotic
    (recurrent) network turns those into different spikes. Instead the fractions go
    into a plane with exponent :data:`FRACTION_EXP`, which Lava sums before shifting
    right, so only the sum is rounded: one error per step, not one per spike. A right
    shift floors; adding half a unit first makes it round to nearest, and that half
    is the weight of ``channel``, which a pacemaker keeps spiking (``always_on``).
    That channel's own spikes then carry no fraction: its weights are rounded to
    whole units.

    A ``graded`` source (multi-spike counts) differs in one point: Lava's ``Dense``
    reading payloads adds the pacemaker's 1 to the channel's count instead of ORing
    it, so each of the channel's own counts also brings the half unit. Where the
    pacemaker's half is present, that channel's whole units are therefore its
    remainder less one half, rounded: the same error bound (half a unit per count).
    """
    if not (residual.values - np.floor(residual.values)).any():
        return [(residual.like(np.floor(residual.values)), 0, None)]
    residual = residual.with_column(channel)  # the pacemaker's half unit needs a place
    whole = np.floor(residual.values)
    fraction = residual.values - whole
    paced = residual.cols == channel
    whole[paced] += np.round(fraction[paced])
    fraction[paced] = 0.0
    fine = _round_preserving_row_sums(residual.like(fraction * 2.0**-FRACTION_EXP))
    carry = fine == 2.0**-FRACTION_EXP  # a fraction rounded up to a whole unit
    whole, fine = whole + carry, np.where(carry, 0.0, fine)
    busy = residual.row_sums((fine != 0).astype(np.float64)) > 0
    at = paced & busy[residual.rows]
    fine[at] = 2.0 ** (-FRACTION_EXP - 1)
    if graded:
        whole[at] = np.round(residual.values[at] - 0.5)
    whole = np.clip(whole, 0, WEIGHT_MAX)
    return [(residual.like(whole), 0, None), (residual.like(fine), FRACTION_EXP, channel)]


def quantize_plane(
    target: Weights, rounding: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[Weights, int]:
    """Smallest exponent whose 8-bit mantissas (even when signs mix, as Lava truncates) fit.

    Mantissas are rounded by ``rounding`` (default :func:`_round_preserving_row_sums`).
    An entry that rounding pushes one step past the largest mantissa is clipped
    rather than costing the whole plane a bit of resolution.
    """
    mantissas, exp = _plane(Entries.of(target), rounding)
    return mantissas.matrix(), exp


def _plane(
    target: Entries, rounding: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[Entries, int]:
    """:func:`quantize_plane` on stored entries; the mantissas are integer-valued floats."""
    values = target.values
    mixed = values.min(initial=0.0) < 0 < values.max(initial=0.0)
    step = MIXED_SIGN_WEIGHT_STEP if mixed else 1
    low, high = (WEIGHT_MIN, WEIGHT_MAX + 1 - step) if mixed else (-WEIGHT_MAX, WEIGHT_MAX)
    # Division by a power of two and floor are monotonic: the extremes of the scaled
    # entries are the scaled extremes, so each exponent is tried on two numbers.
    least, most = values.min(initial=0.0), values.max(initial=0.0)
    for exp in range(WEIGHT_EXP_MIN, WEIGHT_EXP_MAX + 1):
        lowest, highest = np.floor(least / 2.0**exp / step), most / 2.0**exp / step
        if lowest * step >= low and highest * step <= high + step:
            break
    scaled = values / 2.0**exp / step
    if rounding is None:
        rounded = _round_preserving_row_sums(target.like(scaled))
    else:
        rounded = rounding(scaled)
    return target.like(np.clip(step * rounded, low, high)), exp


def _round_preserving_row_sums(x: Entries | np.ndarray) -> np.ndarray:
    """Integers within one of ``x`` whose rounding errors sum to under a half per row.

    Rounding every weight to nearest leaves errors that add up over a neuron's
    inputs whenever many of them are active, and add up coherently where one value
    is repeated (pooled or convolutional weights): the neuron's voltage then drifts
    from the float model's, and spikes near threshold flip. Rounding up the entries
    with the largest fractions (ties: the lower column), as many as a row's fractions
    add up to, cancels the drift; zero weights stay zero, so sparsity is kept. Entries
    without a fraction (zero weights among them) rank last and are never rounded up,
    so a CSR matrix, ranking only its non-zeros, gets the dense matrix's integers. A
    dense ``x`` gives a dense result; entries give their values.
    """
    entries = x if isinstance(x, Entries) else Entries.of(x)
    rounded = np.floor(entries.values)
    keys = entries.values - rounded  # the fractions, then in the same buffer the sort keys
    wanted = np.round(entries.row_sums(keys))
    # Largest fraction first; an entry without one last. A row's fractions (each under
    # one) sum to at most as many units as it has fractions, so it is never rounded up.
    np.negative(keys, out=keys)
    keys[keys == 0] = np.inf
    rows = entries.rows
    rounded += _rank_in_row(keys, rows, len(wanted)) < wanted[rows]
    return rounded if isinstance(x, Entries) else rounded.reshape(np.shape(x))


def _rank_in_row(keys: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Each entry's place when its row (``rows``: non-decreasing) is sorted by ``keys``,
    ties kept in entry order (the lower column first).

    Rows of similar lengths are sorted side by side in one padded array (many short
    sorts; rows all as long, the usual random sparse matrix, are that array as they
    stand); very uneven ones by a stable sort of all keys, then of the rows.
    """
    per_row = np.bincount(rows, minlength=n_rows)
    first = np.cumsum(per_row) - per_row
    width = int(per_row.max(initial=0))
    if n_rows * width <= 2 * len(keys) + n_rows:
        even = n_rows * width == len(keys)
        if even:
            padded = keys.reshape(n_rows, width)
        else:
            within = np.arange(len(keys)) - first[rows]
            padded = np.full((n_rows, width), np.inf)
            padded[rows, within] = keys
        order = np.argsort(padded, axis=1, kind="stable")
        ranks = np.empty(order.shape, dtype=np.int32 if width < 2**31 else np.int64)
        np.put_along_axis(ranks, order, np.arange(width)[None, :], axis=1)
        return ranks.ravel() if even else ranks[rows, within]
    order = np.argsort(keys, kind="stable")
    order = order[np.argsort(rows[order], kind="stable")]
    ranks = np.empty(len(keys), dtype=np.int64)
    ranks[order] = np.arange(len(keys)) - first[rows[order]]
    return ranks
