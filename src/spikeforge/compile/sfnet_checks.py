"""What a loaded ``.sfnet`` must satisfy before any runtime sees it.

:mod:`spikeforge.compile.codec` checks each field's type; the validators here check
each dataclass's own rules (shapes agree with sizes, fixed-point values within
Loihi's widths) and :func:`check_compiled` the whole (every name refers to an
existing input or population, delays and latencies bounded by what the file's own
structure allows). Each message names the field, the value and the limit.
"""

from __future__ import annotations

import math

import numpy as np

from spikeforge.choices import WEIGHT_PLANES
from spikeforge.compile.codec import register
from spikeforge.compile.convolution import ConvConnection
from spikeforge.compile.lower import (
    ConvSynapses,
    CorePopulation,
    LoihiPlan,
    Synapses,
    conv_synapses,
    count_bits,
)
from spikeforge.compile.network import Connection, Network, Population, Readout
from spikeforge.compile.timing import BIAS_SOURCE, MAX_EXTRA_DELAY, Timing
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.nir_import import MAX_DELAY_STEPS
from spikeforge.ir.weights import stored_values
from spikeforge.loihi_format import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    DECAY_BITS_MAX,
    DECAY_SHIFT,
    DU_OFFSET,
    GRADED_BITS_MAX,
    MAX_SYNAPSE_DELAY,
    NETX_DU_MAX,
    NETX_DU_MIN,
    NETX_DV_MAX,
    NETX_NEVER_SPIKES,
    NUM_WEIGHT_BITS_MAX,
    SDN_VTH_MAX,
    WEIGHT_EXP_RANGE,
    WEIGHT_MAX,
    WEIGHT_MIN,
)

#: Neurons in one population or input: a Loihi 2 chip holds about 2^20.
MAX_NEURONS = 1 << 24
#: Longest ``LIFReset`` period a file may ask for (Lava counts hardware steps in int32).
MAX_RESET_INTERVAL = MAX_DELAY_STEPS
#: Conv geometry: (W, H, C) shapes, (X, Y) pairs, weights (C_out, W, H, C_in / groups).
_CONV_DIMS, _PAIR, _CONV_WEIGHT_DIMS = 3, 2, 4


def _fail(where: str, message: str) -> None:
    raise SpikeforgeError(f"{where}: {message}")


def _vector(value: np.ndarray, size: int, where: str) -> None:
    if value.shape != (size,):
        _fail(where, f"shape {value.shape}, expected ({size},)")


def _bounded_int(value: int, low: int, high: int, where: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        _fail(where, f"= {value!r}, must be a whole number in [{low}, {high}]")


def _integers_within(values: np.ndarray, low: int, high: int, where: str) -> None:
    if values.size and (
        (values != np.round(values)).any() or values.min() < low or values.max() > high
    ):
        _fail(
            where, f"values {values.min()}..{values.max()} must be whole numbers in [{low}, {high}]"
        )


def _ints(values: list[int], size: int, low: int, where: str) -> None:
    """A list of ``size`` whole numbers, each at least ``low`` (a shape or conv pair)."""
    if len(values) != size or any(
        not isinstance(v, int) or isinstance(v, bool) or not low <= v <= MAX_NEURONS for v in values
    ):
        _fail(where, f"= {values!r}, must be {size} whole numbers in [{low}, {MAX_NEURONS}]")


def _shape(shape: tuple[int, ...], where: str) -> int:
    if not shape or any(s < 1 for s in shape) or math.prod(shape) > MAX_NEURONS:
        _fail(where, f"shape {shape} must be non-empty, positive, at most {MAX_NEURONS} neurons")
    return math.prod(shape)


@register(Population)
def _population(pop: Population, where: str) -> None:
    size = _shape(pop.shape, f"{where}.shape")
    for name in ("du", "dv", "v_bias", "current_bias", "v_reset"):
        _vector(getattr(pop, name), size, f"{where}.{name}")
    if pop.v_th is not None:
        _vector(pop.v_th, size, f"{where}.v_th")
    for name in ("du", "dv"):
        values = getattr(pop, name)
        if values.size and (values.min() < 0 or values.max() > 1):
            _fail(f"{where}.{name}", f"values {values.min()}..{values.max()} outside [0, 1]")
    _bounded_int(pop.bias_onset, 0, MAX_DELAY_STEPS, f"{where}.bias_onset")


@register(Connection)
def _connection(conn: Connection, where: str) -> None:
    _bounded_int(conn.delay, 0, MAX_DELAY_STEPS, f"{where}.delay")
    if conn.weight.ndim != 2:
        _fail(f"{where}.weight", f"must be 2-D, has shape {conn.weight.shape}")


@register(Readout)
def _readout(readout: Readout, where: str) -> None:
    size = _shape(readout.shape, f"{where}.shape")
    if not readout.terms:
        _fail(f"{where}.terms", "a readout needs at least one term")
    _vector(readout.bias, size, f"{where}.bias")


@register(CorePopulation)
def _core(pop: CorePopulation, where: str) -> None:
    _bounded_int(pop.size, 1, MAX_NEURONS, f"{where}.size")
    for name in ("bias_mant", "bias_exp", "v_init", "scale", "v_reset"):
        _vector(getattr(pop, name), pop.size, f"{where}.{name}")
    _bounded_int(pop.latency, 0, MAX_DELAY_STEPS * 1024, f"{where}.latency")
    if pop.shape is not None and _shape(tuple(pop.shape), f"{where}.shape") != pop.size:
        _fail(f"{where}.shape", f"{pop.shape} does not hold its {pop.size} neurons")
    _bounded_int(pop.reset_interval, 0, MAX_RESET_INTERVAL, f"{where}.reset_interval")
    _bounded_int(pop.reset_offset, 0, max(pop.reset_interval - 1, 0), f"{where}.reset_offset")
    if pop.bias_driven and np.any(pop.bias_mant):
        _fail(f"{where}.bias_mant", "must be 0 in a bias-driven layer (each sample sets it)")


@register(Synapses)
def _synapses(syn: Synapses, where: str) -> None:
    if syn.weights.ndim != 2:
        _fail(f"{where}.weights", f"must be 2-D, has shape {syn.weights.shape}")
    _bounded_int(syn.extra_delay, 0, MAX_EXTRA_DELAY, f"{where}.extra_delay")
    _bounded_int(syn.weight_exp, *WEIGHT_EXP_RANGE, f"{where}.weight_exp")
    _bounded_int(syn.num_weight_bits, 0, NUM_WEIGHT_BITS_MAX, f"{where}.num_weight_bits")
    if syn.always_on is not None:
        _bounded_int(syn.always_on, 0, syn.weights.shape[1] - 1, f"{where}.always_on")
    if syn.delays is not None:
        if syn.delays.shape != syn.weights.shape:
            _fail(f"{where}.delays", f"shape {syn.delays.shape}, expected {syn.weights.shape}")
        _integers_within(syn.delays, 0, MAX_SYNAPSE_DELAY, f"{where}.delays")


@register(ConvSynapses)
def _conv(conv: ConvSynapses, where: str) -> None:
    """Lava ``Conv`` geometry; the output shape is the one the convolution gives."""
    for name in ("input_shape", "output_shape"):
        _ints(getattr(conv, name), _CONV_DIMS, 1, f"{where}.{name}")
    for name, low in (("stride", 1), ("padding", 0), ("dilation", 1)):
        _ints(getattr(conv, name), _PAIR, low, f"{where}.{name}")
    _bounded_int(conv.groups, 1, MAX_NEURONS, f"{where}.groups")
    channels, out_c = conv.input_shape[-1], conv.output_shape[-1]
    expected_c = channels // conv.groups
    if (
        conv.weight.ndim != _CONV_WEIGHT_DIMS
        or channels % conv.groups
        or out_c % conv.groups
        or conv.weight.shape[0] != out_c
        or conv.weight.shape[3] != expected_c
    ):
        _fail(
            f"{where}.weight",
            f"shape {conv.weight.shape} with groups {conv.groups} does not map "
            f"{conv.input_shape} to {conv.output_shape} (expected (C_out, W, H, C_in / groups))",
        )
    kernel = conv.weight.shape[1:3]
    given = [
        (size + 2 * pad - dil * (k - 1) - 1) // step + 1
        for size, pad, dil, k, step in zip(
            conv.input_shape[:2], conv.padding, conv.dilation, kernel, conv.stride, strict=True
        )
    ]
    if given != conv.output_shape[:2]:
        _fail(
            f"{where}.output_shape",
            f"{conv.output_shape}, but the convolution gives {[*given, out_c]}",
        )
    _bounded_int(conv.weight_exp, 0, WEIGHT_EXP_RANGE[1], f"{where}.weight_exp")


@register(ConvConnection)
def _conv_connection(conv: ConvConnection, where: str) -> None:
    """The same geometry rules, in NIR's (C, H, W) convention: checked on the Lava
    ``Conv`` it lowers to, which is built from the fields alone."""
    if conv.kernel.ndim != _CONV_WEIGHT_DIMS or not all(
        len(v) == n for v, n in ((conv.in_shape, 3), (conv.out_shape, 3))
    ):
        _fail(f"{where}.kernel", f"shape {conv.kernel.shape} must be 4-D with 3-D shapes")
    _conv(conv_synapses(conv, conv.kernel), where)
    _bounded_int(conv.delay, 0, MAX_DELAY_STEPS, f"{where}.delay")


def _plan(plan: LoihiPlan, where: str, precision: str) -> None:
    if plan.precision != precision:
        _fail(f"{where}.precision", f"is {plan.precision!r}, expected {precision!r}")
    for name, pop in plan.populations.items():
        if pop.name != name:
            _fail(f"{where}.populations[{name!r}].name", f"is {pop.name!r}")
        if precision == "fixed":
            at = f"{where}.populations[{name!r}]"
            # The widest values Lava's fixed-point LIF takes from either compiler
            # (netx's integrator: du = NETX_DU_MIN, dv = NETX_DV_MAX, vth = NETX_NEVER_SPIKES),
            # the decays as fractions of 2^decay_bits (SfLif's wider ones alike).
            _bounded_int(pop.decay_bits, DECAY_SHIFT, DECAY_BITS_MAX, f"{at}.decay_bits")
            wider = 1 << (pop.decay_bits - DECAY_SHIFT)
            for field, low, high in (
                ("du", NETX_DU_MIN, (NETX_DU_MAX + DU_OFFSET) * wider - DU_OFFSET),
                ("dv", 0, NETX_DV_MAX * wider),
                ("vth", 0, NETX_NEVER_SPIKES),
            ):
                _bounded_int(getattr(pop, field), low, high, f"{at}.{field}")
            _integers_within(pop.bias_mant, BIAS_MANT_MIN, BIAS_MANT_MAX, f"{at}.bias_mant")
            _integers_within(pop.bias_exp, 0, BIAS_EXP_MAX, f"{at}.bias_exp")
        elif pop.reset_interval or pop.bias_driven or pop.shape is not None:
            _fail(f"{where}.populations[{name!r}]", "netx fields in a float plan")
        elif pop.decay_bits != DECAY_SHIFT:
            _fail(
                f"{where}.populations[{name!r}].decay_bits",
                f"= {pop.decay_bits!r}, must be {DECAY_SHIFT} in a float plan",
            )
    for i, syn in enumerate(plan.synapses):
        at = f"{where}.synapses[{i}]"
        if syn.post not in plan.populations:
            _fail(f"{at}.post", f"names unknown population {syn.post!r}")
        known = syn.pre in plan.inputs or syn.pre in plan.populations or syn.pre == BIAS_SOURCE
        if not known:
            _fail(f"{at}.pre", f"names unknown source {syn.pre!r}")
        expected = (plan.populations[syn.post].size, plan.source_size(syn.pre))
        if syn.weights.shape != expected:
            _fail(f"{at}.weights", f"shape {syn.weights.shape}, expected {expected}")
        if precision == "fixed":
            _integers_within(stored_values(syn.weights), WEIGHT_MIN, WEIGHT_MAX, f"{at}.weights")
    for name, size in plan.inputs.items():
        _bounded_int(size, 1, MAX_NEURONS, f"{where}.inputs[{name!r}]")
    for i, conv in enumerate(plan.convolutions):
        _plan_conv(plan, conv, f"{where}.convolutions[{i}]", precision)
    if plan.raw_timing_only is None:
        netx_timed = [n for n, p in plan.populations.items() if p.reset_interval or p.bias_driven]
        if netx_timed:
            _fail(
                f"{where}.raw_timing_only",
                f"is null, but {netx_timed[0]!r} resets or is bias-driven from hardware step 1",
            )
    if sum(p.bias_driven for p in plan.populations.values()) > 1:
        _fail(f"{where}.populations", "more than one bias-driven layer")


def _plan_conv(plan: LoihiPlan, conv: ConvSynapses, at: str, precision: str) -> None:
    """A convolution connects populations (or the input) of exactly its shapes: (W, H, C)
    shaped ones, or flat ones of as many neurons for a ``chw`` conv."""
    if precision != "fixed" and not conv.chw:
        _fail(at, "netx convolutions exist only in fixed-point plans")
    if precision == "fixed":
        _integers_within(conv.weight, WEIGHT_MIN, WEIGHT_MAX, f"{at}.weight")
    if conv.post not in plan.populations:
        _fail(f"{at}.post", f"names unknown population {conv.post!r}")
    post = plan.populations[conv.post]
    if not _holds(post, conv.output_shape, conv.chw):
        _fail(f"{at}.output_shape", f"{conv.output_shape}, but {conv.post!r} is {_seen(post)}")
    if conv.pre in plan.populations:
        pre = plan.populations[conv.pre]
        if not _holds(pre, conv.input_shape, conv.chw):
            _fail(f"{at}.input_shape", f"{conv.input_shape}, but {conv.pre!r} is {_seen(pre)}")
    elif conv.pre in plan.inputs:
        if math.prod(conv.input_shape) != plan.inputs[conv.pre]:
            _fail(
                f"{at}.input_shape",
                f"{conv.input_shape} does not hold input {conv.pre!r} of {plan.inputs[conv.pre]}",
            )
    else:
        _fail(f"{at}.pre", f"names unknown source {conv.pre!r}")


def _holds(pop: CorePopulation, shape: list[int], chw: bool) -> bool:
    """A netx conv's population has its (W, H, C) shape; a ``chw`` conv's is flat."""
    return pop.shape is None and pop.size == math.prod(shape) if chw else pop.shape == shape


def _seen(pop: CorePopulation) -> str:
    return str(pop.shape) if pop.shape is not None else f"flat ({pop.size} neurons)"


def _network(net: Network, where: str) -> None:
    if not math.isfinite(net.dt) or net.dt <= 0:
        _fail(f"{where}.dt", f"= {net.dt!r}, must be a finite positive number of seconds")
    sizes = {name: _shape(shape, f"{where}.inputs[{name!r}]") for name, shape in net.inputs.items()}
    for name, pop in net.populations.items():
        if pop.name != name or name in sizes:
            _fail(f"{where}.populations[{name!r}]", "name is duplicated or does not match")
        sizes[name] = pop.size
    for i, conn in enumerate(net.connections):
        at = f"{where}.connections[{i}]"
        if conn.post not in net.populations:
            _fail(f"{at}.post", f"names unknown population {conn.post!r}")
        if conn.pre not in sizes:
            _fail(f"{at}.pre", f"names unknown source {conn.pre!r}")
        shape = (
            (math.prod(conn.out_shape), math.prod(conn.in_shape))
            if isinstance(conn, ConvConnection)
            else conn.weight.shape
        )
        if shape != (sizes[conn.post], sizes[conn.pre]):
            _fail(
                f"{at}.weight",
                f"shape {shape}, expected {(sizes[conn.post], sizes[conn.pre])}",
            )
    for name, readout in net.readouts.items():
        if readout.name != name:
            _fail(f"{where}.readouts[{name!r}].name", f"is {readout.name!r}")
        for j, term in enumerate(readout.terms):
            at = f"{where}.readouts[{name!r}].terms[{j}]"
            if term.pre not in sizes:
                _fail(f"{at}.pre", f"names unknown source {term.pre!r}")
            expected = (math.prod(readout.shape), sizes[term.pre])
            if term.weight.shape != expected:
                _fail(f"{at}.weight", f"shape {term.weight.shape}, expected {expected}")
    _splits(net, sizes, where)


def _splits(net: Network, sizes: dict[str, int], where: str) -> None:
    """Each split names distinct existing populations that add up to its shape."""
    claimed: set[str] = set()
    for name, split in net.splits.items():
        at = f"{where}.splits[{name!r}]"
        if name in sizes:
            _fail(at, "names an input or population that still exists")
        unknown = [p for p in split.parts if p not in net.populations]
        if unknown or len(set(split.parts)) != len(split.parts) or claimed & set(split.parts):
            _fail(f"{at}.parts", "must name distinct populations of the network, each once")
        claimed |= set(split.parts)
        total = sum(sizes[p] for p in split.parts)
        if _shape(split.shape, f"{at}.shape") != total:
            _fail(f"{at}.shape", f"{split.shape} holds not the {total} neurons of its parts")


def _plan_hops(plan: LoihiPlan | None) -> int:
    """Steps a path may take through a plan's own synapses and convolutions, each once
    (a netx plan carries them in the plan, not in the network's connections)."""
    if plan is None:
        return 0
    steps = sum(
        s.extra_delay + (int(s.delays.max()) if s.delays is not None and s.delays.size else 0) + 1
        for s in plan.synapses
    )
    return steps + len(plan.convolutions)


def _timing(timing: Timing, net: Network, where: str, plan: LoihiPlan | None) -> None:
    # A netx plan times its populations only (its inputs are at hardware step 0).
    named = set(timing.latency)
    if not set(net.populations) <= named <= set(net.populations) | set(net.inputs):
        _fail(f"{where}.latency", "must name the network's populations and at most its inputs")
    if len(timing.extra_delay) != len(net.connections):
        _fail(
            f"{where}.extra_delay",
            f"has {len(timing.extra_delay)} entries for {len(net.connections)} connections",
        )
    for i, extra in enumerate(timing.extra_delay):
        _bounded_int(extra, 0, MAX_EXTRA_DELAY, f"{where}.extra_delay[{i}]")
    for i in timing.late:
        _bounded_int(i, 0, len(net.connections) - 1, f"{where}.late")
    # No path is longer than every connection taken once, each with its delays and
    # the Dense step: the budget this file's own structure allows.
    budget = sum(c.delay + e + 1 for c, e in zip(net.connections, timing.extra_delay, strict=True))
    budget = max(budget, _plan_hops(plan))
    budget += max((p.bias_onset for p in net.populations.values()), default=0) + 1
    for name, latency in timing.latency.items():
        _bounded_int(latency, 0, budget, f"{where}.latency[{name!r}]")


#: Lava's sigma-delta processes (plan ``CorePopulation.sdn``); None is a LIF.
SDN_KINDS = (None, "delta", "sigma_delta", "sigma")
#: ``spike_exp``/``state_exp`` are 3-bit in Lava's sigma-delta models.
SDN_EXP_MAX = 7


def check_graded(plan: LoihiPlan, where: str) -> None:
    """Sigma-delta populations and graded synapses: kinds, exponents, payload widths, and
    direct inputs that name an input of the population's size, read by a Delta only."""
    for name, pop in plan.populations.items():
        at = f"{where}.populations[{name!r}]"
        if pop.sdn not in SDN_KINDS:
            _fail(f"{at}.sdn", f"= {pop.sdn!r}, must be one of {SDN_KINDS}")
        _bounded_int(pop.spike_exp, 0, SDN_EXP_MAX, f"{at}.spike_exp")
        _bounded_int(pop.state_exp, 0, SDN_EXP_MAX, f"{at}.state_exp")
        _bounded_int(pop.num_message_bits, 1 if pop.sdn else 0, GRADED_BITS_MAX,
                     f"{at}.num_message_bits")  # fmt: skip
        if pop.sdn:
            _bounded_int(pop.vth, 0, SDN_VTH_MAX, f"{at}.vth")
        if pop.direct_input is not None and (
            pop.sdn != "delta" or plan.inputs.get(pop.direct_input) != pop.size
        ):
            _fail(
                f"{at}.direct_input",
                f"= {pop.direct_input!r}: only a Delta population reads an input directly, "
                "and it must be an input of its size",
            )
    for i, syn in enumerate([*plan.synapses, *plan.convolutions]):
        _bounded_int(syn.num_message_bits, 0, GRADED_BITS_MAX,
                     f"{where}.synapses[{i}].num_message_bits")  # fmt: skip


def check_multi_spike(plan: LoihiPlan, where: str) -> None:
    """Multi-spike populations: a subtractive spiking LIF whose payload holds its largest
    count (at fixed point, :func:`count_bits` of its threshold), read as payloads by
    every synapse it feeds; a count read as one bit would silently lose spikes."""
    for name, pop in plan.populations.items():
        at = f"{where}.populations[{name!r}]"
        if not isinstance(pop.multi_spike, bool):
            _fail(f"{at}.multi_spike", f"= {pop.multi_spike!r}, must be true or false")
        if not pop.multi_spike:
            continue
        if pop.sdn or not pop.spiking or pop.reset != "subtract":
            _fail(f"{at}.multi_spike", "needs a spiking LIF with reset 'subtract'")
        least = count_bits(int(pop.vth)) if plan.precision == "fixed" else GRADED_BITS_MAX
        _bounded_int(pop.num_message_bits, least, GRADED_BITS_MAX, f"{at}.num_message_bits")
    for i, syn in enumerate(plan.synapses):
        pre = plan.populations.get(syn.pre)
        if pre is not None and pre.multi_spike and syn.num_message_bits != pre.num_message_bits:
            _fail(
                f"{where}.synapses[{i}].num_message_bits",
                f"= {syn.num_message_bits!r}, must be its multi-spike source's "
                f"{pre.num_message_bits}",
            )


def check_compiled(compiled) -> None:
    """Cross-field rules of a decoded :class:`~spikeforge.compile.compiled.CompiledNet`."""
    _network(compiled.network, "network")
    _timing(compiled.timing, compiled.network, "timing", compiled.fixed_plan)
    if compiled.float_plan is not None:  # None: a netx file's own fixed-point plan
        _plan(compiled.float_plan, "float_plan", "float")
    _plan(compiled.fixed_plan, "fixed_plan", "fixed")
    _bounded_int(compiled.weight_planes, min(WEIGHT_PLANES), max(WEIGHT_PLANES), "weight_planes")
    _bounded_int(compiled.decay_bits, DECAY_SHIFT, DECAY_BITS_MAX, "decay_bits")
    for name, pop in compiled.fixed_plan.populations.items():
        if pop.decay_bits not in (DECAY_SHIFT, compiled.decay_bits):
            _fail(
                f"fixed_plan.populations[{name!r}].decay_bits",
                f"= {pop.decay_bits}, must be {DECAY_SHIFT} or the network's "
                f"{compiled.decay_bits}",
            )
    for name in ("float_plan", "fixed_plan"):
        if getattr(compiled, name) is not None:
            check_graded(getattr(compiled, name), name)  # the sdnn branch's fields
            check_multi_spike(getattr(compiled, name), name)
    for name in ("float_plan", "fixed_plan"):
        plan = getattr(compiled, name)
        if plan is None:
            continue
        if set(plan.populations) != set(compiled.network.populations):
            _fail(f"{name}.populations", "must name exactly the network's populations")
        for pop_name, pop in plan.populations.items():
            expected = compiled.network.populations[pop_name].size
            if pop.size != expected:
                _fail(
                    f"{name}.populations[{pop_name!r}].size", f"is {pop.size}, expected {expected}"
                )
            if pop.latency != compiled.timing.latency[pop_name]:
                _fail(f"{name}.populations[{pop_name!r}].latency", "differs from the timing")
        if plan.latency != compiled.timing.latency:
            _fail(f"{name}.latency", "differs from the timing")
        if plan.inputs != {k: compiled.network.size_of(k) for k in compiled.network.inputs}:
            _fail(f"{name}.inputs", "differ from the network's inputs")
    # A netx plan (no float plan) is the file's integers: nothing was quantised.
    quantised = set() if compiled.float_plan is None else set(compiled.network.populations)
    if {r.population for r in compiled.quant_report} != quantised:
        _fail("quant_report", "must cover exactly the network's populations")
    if compiled.peaks is not None:
        for name, peak in compiled.peaks.items():
            if name not in compiled.network.populations:
                _fail(f"peaks[{name!r}]", "names unknown population")
            size = compiled.network.populations[name].size
            if peak.ndim != 2 or peak.shape[0] > 8 or peak.shape[1] != size:
                _fail(f"peaks[{name!r}]", f"shape {peak.shape}, expected (states <= 8, {size})")
