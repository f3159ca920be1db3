"""The human summary ``spikeforge compile`` prints: what was built and what quantisation cost."""

from __future__ import annotations

from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.hardware import Hardware
from spikeforge.compile.placement import placement_summary
from spikeforge.ir.weights import nonzeros
from spikeforge.loihi_format import DECAY_SHIFT


def summarize(compiled: CompiledNet, hardware: Hardware) -> str:
    """What was built, what quantisation cost, and the fixed plan's placement on ``hardware``."""
    net = compiled.network
    fixed = {r.population: r for r in compiled.quant_report}
    synapses_in: dict[str, int] = {name: 0 for name in net.populations}
    for conn in net.connections:
        synapses_in[conn.post] += nonzeros(conn.weight)
    lines = [
        f"dt = {net.dt:g} s; inputs: "
        + ", ".join(f"{k} {tuple(v)}" for k, v in net.inputs.items()),
        "",
        f"{'population':<20} {'type':<8} {'neurons':>8} {'synapses':>9} {'latency':>7}"
        f" {'w err rms':>10} {'vth err':>9} {'w zeroed':>9} {'v floor':>9}",
    ]
    for name, pop in net.populations.items():
        r = fixed[name]
        lines.append(
            f"{name:<20} {pop.kind:<8} {pop.size:>8} {synapses_in[name]:>9} "
            f"{compiled.timing.latency[name]:>7} {r.weight_error_rms:>10.2%} "
            f"{r.threshold_error:>9.3%} {r.weights_zeroed:>9} {r.v_floor:>9.3g}"
        )
    neurons = sum(p.size for p in net.populations.values())
    synapses = sum(synapses_in.values())
    pacemakers = len(compiled.fixed_plan.pacemakers)
    paced = f" with {pacemakers} pacemaker(s) making sums round" if pacemakers else ""
    wide = [p for p in compiled.fixed_plan.populations.values() if p.decay_bits != DECAY_SHIFT]
    decays = (
        f"; {compiled.decay_bits}-bit decays in {len(wide)} population(s) whose time "
        f"constants {DECAY_SHIFT} bits round (SfLif; on the chip a microcoded neuron)"
        if wide
        else ""
    )
    lines += [
        "",
        f"total: {len(net.populations)} populations, {neurons} neurons, {synapses} synapses",
        "output latency (hardware steps behind source): "
        + ", ".join(f"{k} {v}" for k, v in compiled.output_latency.items()),
        f"fixed point: weight planes {compiled.weight_planes}{paced}{decays}, scales "
        + ("calibrated on sample input" if compiled.peaks is not None else "from worst-case bounds")
        + "; v floor: voltage (source units, from reset) below which v saturates",
    ]
    clipped = [r.population for r in compiled.quant_report if r.bias_clipped]
    if clipped:
        lines.append(f"warning: bias clipped to 13-bit range in {', '.join(clipped)}")
    if compiled.timing.late:
        late = [net.connections[i] for i in compiled.timing.late]
        lines.append(
            "warning: source timing NOT reproduced; one step late on "
            + ", ".join(f"{c.pre}->{c.post}" for c in late)
        )
    else:
        lines.append("timing: source timing reproduced exactly (outputs aligned by latency)")
    lines += ["", placement_section(compiled, hardware)]
    return "\n".join(lines)


def placement_section(compiled: CompiledNet, hardware: Hardware) -> str:
    """The fixed plan's placement (or why it does not fit, with the excess), and for the
    network a ``[calibration]`` was measured on, the cores the vendor's compiler used."""
    lines = [placement_summary(compiled.fixed_plan, hardware)]
    cal = hardware.calibration
    neurons = sum(p.size for p in compiled.network.populations.values())
    if cal and neurons == cal["neurons"].value:
        lines.append(
            f"calibration network ({neurons} neurons): the vendor's compiler used "
            f"{cal['cores'].value:.0f} cores ({cal['cores'].kind}: {cal['cores'].source})"
        )
    return "\n".join(lines)
