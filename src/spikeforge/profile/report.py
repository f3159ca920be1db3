"""Write a profile: ``profile.json`` (schema in docs/profile.md), ``report.md`` with PNG figures.

The stage table (:func:`stage_table`) is built here once, for every caller: the
``profile`` summary, ``report.md`` and the zoo's ``evaluate``. Figures are drawn with
matplotlib's object API (no pyplot global state, no display needed). Everything is
rendered in memory first and each file is then written atomically, so a failure
leaves no half-written report behind.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure

from spikeforge.atomic import atomic_path
from spikeforge.compile.lower import nonstandard_features
from spikeforge.compile.placement import RESOURCES
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.profile.anchor import Anchor, anchor
from spikeforge.profile.counters import INPUT_COUNTS, POPULATION_COUNTS
from spikeforge.profile.energy import (
    CostReport,
    HelperCost,
    PopulationCost,
    Range,
    helper_costs,
)
from spikeforge.profile.render import (
    HTML_STYLE,
    Table,
    inline_html,
    number,
    quantity,
    share,
    si,
    to_html,
    to_markdown,
    to_terminal,
)
from spikeforge.profile.source_stats import BYTES_PER_VALUE, DEVICES, SourceStats
from spikeforge.profile.stages import Profile, StageRow

FORMAT = "spikeforge.profile"
FORMAT_VERSION = 3
FIGURES = {
    "outputs": "outputs.png",
    "raster": "raster.png",
    "populations": "populations.png",
    "cores": "cores.png",
    "latency": "latency.png",
}
#: The core map draws at most this many cores, one row each.
MAX_CORES_DRAWN = 40
COST_COLUMNS = ("spikes/inf", "synops/inf", "energy/inf", "hw latency/inf", "sim wall s/sample")
AGREEMENT_NOTE = (
    "spikes equal: share of spiking output entries equal to the source's; decisions: share "
    "of (sample, step) whose largest readout neuron is the source's; rel. error: "
    "RMS(output - source) / RMS(source)"
)
TIME_NOTE = (
    "hw latency/inf: estimated Loihi latency per inference (none for CPU stages); "
    "sim wall s/sample: simulation wall time on this machine; spikes/inf: the input's "
    "source steps only (pipeline-drain steps excluded; synops and energy include them)"
)


def stage_table(
    rows: Sequence[StageRow], title: str = "", metric: str | None = None, unit: str = ""
) -> Table:
    """The stage table: the model's metrics (when given), agreement, and the cost columns.

    ``metric`` is the task metric shown first with its change from the first row (the
    source); the rows' other metrics follow it.
    """
    extra: list[str] = []
    for row in rows:
        extra += [k for k in row.metrics if k != metric and k not in extra]
    spikes = any(r.agreement.spike_agreement is not None for r in rows)
    decisions = any(r.agreement.decision_agreement is not None for r in rows)
    header = ["stage"]
    if metric is not None:
        header += [f"{metric}{f' ({unit})' if unit else ''}", f"Δ vs {rows[0].stage}"]
    header += [*extra, *(["spikes equal"] if spikes else [])]
    header += [*(["decisions"] if decisions else []), "rel. error", *COST_COLUMNS]
    base = rows[0].metrics.get(metric) if metric is not None and rows else None
    cells = []
    for i, row in enumerate(rows):
        line = [row.label]
        if metric is not None:
            value = row.metrics.get(metric)
            delta = "" if i == 0 or base is None or value is None else f"{value - base:+.3g}"
            line += [number(value), delta]
        line += [number(row.metrics.get(k)) for k in extra]
        line += [share(row.agreement.spike_agreement)] if spikes else []
        line += [share(row.agreement.decision_agreement)] if decisions else []
        line += [
            f"{row.agreement.relative_error:.2e}"
            if np.isfinite(row.agreement.relative_error)
            else "n/a",
            number(row.spikes),
            number(row.synaptic_ops),
            quantity(row.energy),
            "" if row.latency is None else quantity(row.latency),
            f"{row.wall_s_per_sample:.3g}",
        ]
        cells.append(line)
    return Table(header, cells, title=title, notes=[*_bases(rows), AGREEMENT_NOTE, TIME_NOTE])


def profile_table(profile: Profile, title: str = "") -> Table:
    """A profile's stage table, headed by its task metric when labels were given."""
    task = profile.task
    if task is None:
        return stage_table(profile.rows, title=title)
    return stage_table(profile.rows, title=title, metric=task.name, unit=task.unit)


def _bases(rows: Sequence[StageRow]) -> list[str]:
    """``"energy/latency of stage, stage: basis"``, one line per distinct basis."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row.basis, []).append(row.stage)
    return [f"energy/latency of {', '.join(stages)}: {basis}" for basis, stages in groups.items()]


def profile_dict(profile: Profile, network_path: str, input_path: str) -> dict[str, object]:
    """The machine-readable profile (schema: docs/profile.md)."""
    net = profile.compiled.network
    runs = {}
    for stage, hw in profile.runs.items():
        activity = hw.activity
        runs[stage] = {
            "backend": hw.backend,
            "precision": hw.precision,
            "wall_s": hw.wall_s,
            "placement": hw.placement.as_dict(),
            "activity": {
                "batch": activity.batch,
                "steps": activity.steps,
                "populations": {
                    n: activity.per_inference(n).as_dict() for n in activity.populations
                },
                "inputs": {
                    n: activity.per_inference(n).as_dict(INPUT_COUNTS) for n in activity.inputs
                },
                "per_step": {
                    n: {c: getattr(table, c).tolist() for c in POPULATION_COUNTS}
                    for n, table in activity.populations.items()
                },
                "input_per_step": {
                    n: {c: getattr(table, c).tolist() for c in INPUT_COUNTS}
                    for n, table in activity.inputs.items()
                },
            },
            "cost": hw.cost.as_dict(),
            "helpers": {
                n: h.as_dict()
                for n, h in helper_costs(
                    hw.cost, profile.compiled.plan(hw.precision), profile.hardware
                ).items()
            },
        }
    deployed = profile.deployed
    found = anchor_of(profile)
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "network": {
            "path": network_path,
            "dt": net.dt,
            "inputs": {n: list(s) for n, s in net.inputs.items()},
            "populations": {
                n: {
                    "kind": p.kind,
                    "size": p.size,
                    "spiking": p.spiking,
                    "latency": profile.compiled.timing.latency[n],
                }
                for n, p in net.populations.items()
            },
            "outputs": list(net.readouts),
        },
        "input": {"path": input_path, "batch": profile.batch, "steps": profile.steps},
        "hardware": profile.hardware.as_dict(),
        "deployed": None if deployed is None else deployed.stage,
        "stages": [s.as_dict() for s in profile.rows],
        "task": None if profile.task is None else profile.task.as_dict(),
        "source": None if profile.source is None else profile.source.as_dict(),
        "reference": None if profile.reference is None else profile.reference.as_dict(),
        "runs": runs,
        "calibration_anchor": None if found is None else found.as_dict(),
        "figures": dict(FIGURES),
    }


def write_report(
    profile: Profile,
    directory: str | Path,
    network_path: str,
    input_path: str,
    neurobench: bool = False,
) -> list[Path]:
    """Render everything, then write each file atomically; returns the paths written.

    ``report.html`` is self-contained (figures embedded); ``report.md`` links the PNGs
    beside it; ``neurobench`` adds ``neurobench.json`` (:func:`neurobench_results`).
    """
    directory = Path(directory)
    data = profile_dict(profile, network_path, input_path)
    figures = {
        FIGURES["outputs"]: _png(_output_figure(profile)),
        FIGURES["raster"]: _png(_raster_figure(profile)),
        FIGURES["latency"]: _png(_latency_figure(profile)),
        FIGURES["populations"]: _png(_population_figure(profile)),
        FIGURES["cores"]: _png(_core_figure(profile)),
    }
    files: dict[str, bytes] = {
        **figures,
        "profile.json": json.dumps(data, indent=1, allow_nan=False).encode(),
        "report.md": markdown(profile, network_path, input_path).encode(),
        "report.html": html(profile, network_path, input_path, figures).encode(),
    }
    if neurobench:
        results = neurobench_results(profile)
        files["neurobench.json"] = json.dumps(results, indent=1, allow_nan=False).encode()
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            with atomic_path(directory / name) as tmp:
                tmp.write_bytes(content)
            written.append(directory / name)
    except OSError as exc:
        raise SpikeforgeError(f"cannot write the report to {directory}: {exc}") from exc
    return written


def neurobench_results(profile: Profile) -> dict[str, object]:
    """Per stage, the dict NeuroBench's ``Benchmark.run()`` returns, under its names.

    ``footprint`` and ``connection_sparsity`` are the model's (the source's, else the
    reference's); ``synaptic_operations`` splits effective MACs / ACs and dense ops as
    NeuroBench does — on a Loihi stage every counted synaptic op is an AC (binary
    spikes through stored weights) and dense is the source's; ``membrane_updates``
    counts every neuron every step, as both CPU models and Loihi update them;
    ``classification_accuracy`` is a fraction, when the labels were classes.
    """
    model = profile.source or profile.reference
    stats = {"norse": profile.source, "reference": profile.reference}
    stages: dict[str, dict[str, object]] = {}
    for row in profile.rows:
        own = stats.get(row.stage)
        result: dict[str, object] = {}
        if model is not None:
            result["footprint"] = model.footprint_bytes
            result["connection_sparsity"] = model.connection_sparsity
        if profile.task is not None and profile.task.name == "accuracy":
            result["classification_accuracy"] = row.metrics["accuracy"] / 100.0
        if own is not None:
            result["activation_sparsity"] = own.activation_sparsity
            result["membrane_updates"] = membrane_updates(own)
            result["synaptic_operations"] = {
                "Effective_MACs": own.effective_macs,
                "Effective_ACs": own.effective_acs,
                "Dense": own.dense_ops,
            }
        else:
            run = profile.runs[row.stage]
            neurons = sum(p.size for p in profile.compiled.network.populations.values())
            spiking = sum(p.size for p in profile.compiled.network.populations.values()
                          if p.spiking)  # fmt: skip
            result["activation_sparsity"] = (
                1.0 - row.spikes / (spiking * profile.steps) if spiking else 1.0
            )
            result["membrane_updates"] = float(neurons * run.activity.steps)
            result["synaptic_operations"] = {
                "Effective_MACs": 0.0,
                "Effective_ACs": row.synaptic_ops,
                "Dense": None if model is None else model.dense_ops,
            }
        stages[row.stage] = result
    return {"format": "neurobench.results", "per_inference": True, "stages": stages}


# --------------------------------------------------------------------------- text


def _cost_table(profile: Profile) -> Table:
    """The deployed run's figures, dynamic energy first: it is what the network's activity
    costs; static power is paid per chip whatever runs, so it is shown beside it, per chip
    and per inference at the modelled time per step. Ranges where the calibration cannot
    tell how a measurement splits over event kinds (:mod:`spikeforge.profile.energy`)."""
    run = profile.deployed
    cost, placement = run.cost, run.placement
    energy, latency = cost.energy, cost.latency
    static_w = profile.hardware.power["static_per_chip"]
    rows = [
        ["dynamic energy / inference", si(energy.dynamic.value, "J"), energy.dynamic.kind],
        *_range_row("  range", cost.dynamic_range),
        ["  dominant event", f"{cost.dominant_event} ({_dominant_share(cost):.0%})", ""],
        ["static power / chip", si(static_w.value, "W"), static_w.kind],
        [f"static energy / inference ({placement.chips_used} chip(s) x time)",
         si(energy.static.value, "J"), energy.static.kind],
        ["total energy / inference", si(energy.total.value, "J"), energy.total.kind],
        ["  larger term", "static" if energy.static.value > energy.dynamic.value
         else "dynamic", ""],
        ["latency / inference", si(latency.per_inference.value, "s"), latency.per_inference.kind],
        *_range_row("  range", cost.latency_range),
        ["mean latency / step", si(latency.per_step_mean.value, "s"), latency.per_step_mean.kind],
        ["throughput", f"{cost.throughput.value:.4g} /s", cost.throughput.kind],
        ["energy-delay product", f"{cost.edp.value:.3g} J·s", cost.edp.kind],
        ["cores / chips used", f"{len(placement.cores)} / {placement.chips_used}", ""],
        *[[f"helper: {h.role}", _helper_value(h), energy.total.kind]
          for h in _helpers(profile).values()],
    ]  # fmt: skip
    return Table(["figure", "value", "kind"], rows, label_columns=3)


def _helpers(profile: Profile) -> dict[str, HelperCost]:
    run = profile.deployed
    return helper_costs(run.cost, profile.compiled.plan(run.precision), profile.hardware)


def _helper_value(h: HelperCost) -> str:
    cores = f"{h.own_cores} core(s) of its own" + (
        f", shares {h.shared_cores}" if h.shared_cores else ""
    )
    return (
        f"{si(h.energy_j, 'J')} / inference ({si(h.own_j, 'J')} own events, "
        f"{h.synaptic_ops:.0f} synaptic ops it causes {si(h.synaptic_j, 'J')}, "
        f"static share {si(h.static_j, 'J')}); {cores}"
    )


def helper_notes(profile: Profile) -> list[str]:
    """Why each kind of helper is there and what the cheaper alternative loses, and
    which neuron updates are priced as the standard neuron's though they are not."""
    helpers = _helpers(profile)
    plan = profile.compiled.plan(profile.deployed.precision)
    notes = []
    bias = helpers.get(BIAS_SOURCE)
    if bias is not None:
        saved = si(bias.own_j + bias.synaptic_j, "J")
        fed = sorted({s.post for s in plan.synapses if s.pre == BIAS_SOURCE})
        early = ", ".join(f"{n} {plan.latency[n]}" for n in fed)
        notes.append(
            "The bias neuron is spikeforge's, not the source network's: an always-spiking "
            "neuron whose synapses deliver each population's constant current from its "
            "source step 0 exactly. The cheaper alternative is a neuron bias (`bias_mant`): "
            f"no spikes, messages, synaptic ops or core (saves {saved} "
            "dynamic energy per inference), but it acts on every hardware step from step 0, "
            "that is as many steps before the population's source step 0 as its pipeline "
            f"latency ({early} steps): the neurons enter source time already charged by that "
            "much bias, so the run is no longer exact from source step 0."
        )
    if any(h.role == "pacemaker" for h in helpers.values()):
        notes.append(
            "Pacemakers are spikeforge's too: always-spiking neurons that make the third "
            "weight plane (`--weight-planes 3`) round each step's input to nearest; with the "
            "default two planes there are none, and the input is rounded once per spike."
        )
    microcoded = [name for name, pop in plan.populations.items() if nonstandard_features(pop)]
    if microcoded:
        notes.append(
            f"{len(microcoded)} population(s) ({', '.join(microcoded[:4])}"
            f"{', ...' if len(microcoded) > 4 else ''}) run a rule Loihi 2's standard neuron "
            "lacks (spikeforge's SfLif; on the chip a microcoded neuron): their neuron "
            "updates are priced as the standard neuron's, an estimate, as no microcoded "
            "neuron's cost has been measured."
        )
    return notes


def _range_row(label: str, r: Range | None) -> list[list[str]]:
    if r is None:
        return []
    return [[label, f"{si(r.low, r.unit)} .. {si(r.high, r.unit)}", r.basis]]


def _dominant_share(cost: CostReport) -> float:
    total = sum(cost.energy_by_event.values())
    return cost.energy_by_event[cost.dominant_event] / total if total else 0.0


def anchor_of(profile: Profile) -> Anchor | None:
    """The deployed run against the hardware model's calibration measurement, if any."""
    run = profile.deployed
    if run is None:
        return None
    return anchor(profile.hardware, profile.compiled, run.cost, len(run.placement.cores),
                  run.activity.steps)  # fmt: skip


def anchor_table(found: Anchor) -> Table:
    """Measured vs model (this network is the calibration's), or the measurement alone."""
    if found.matches:
        rows = [[r.figure, _fmt(r.measured, r.unit), _fmt(r.model, r.unit), f"{r.ratio:.3f}"]
                for r in found.rows]  # fmt: skip
        return Table(
            ["figure", "measured", "model", "model / measured"], rows,
            title="measured vs model: this is the calibration network",
            notes=[f"measured: {found.source}. Energy and time are calibrated on this one "
                   "network (PilotNet LIF), so they agree by construction: a check of the fit "
                   "and of the counting, not a validation; cores come from the placement, "
                   "which was not fitted."],
        )  # fmt: skip
    rows = [[r.figure, _fmt(r.measured, r.unit)] for r in found.rows]
    return Table(
        ["figure", "measured"], rows,
        title="calibration anchor (another network: nothing of this one measured)",
        notes=[f"measured: {found.source}. The per-event figures were fitted to this one "
               "run; this network's figures above are calibrated on it, not measured."],
    )  # fmt: skip


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit in ("J", "s"):
        return si(value, unit)
    return f"{value:.4g}" + ("" if unit == "core" else f" {unit}")


def _population_table(profile: Profile) -> Table:
    cost = profile.deployed.cost
    total = cost.energy.total.value
    return Table(
        ["population", "cores", *POPULATION_COUNTS, "energy", "share"],
        [
            [name, str(row.cores) if isinstance(row, PopulationCost) else "host"]
            + [f"{getattr(row.counts, c):.1f}" for c in POPULATION_COUNTS]
            + [si(row.energy_j, "J"), f"{row.energy_j / total if total else 0:.1%}"]
            for name, row in {**cost.populations, **cost.inputs}.items()
        ],
    )


def summary_table(profile: Profile) -> str:
    """What ``spikeforge profile`` prints: the stage table and the deployed cost."""
    title = f"stage table ({profile.batch} samples x {profile.steps} steps):"
    parts = [to_terminal(profile_table(profile, title=title))]
    run = profile.deployed
    if run is not None:
        cores = len(run.placement.cores)
        parts += [
            f"on {profile.hardware.name} ({run.precision} plan, activity on {run.backend}): "
            f"{cores} cores, {run.placement.chips_used} chip(s)",
            to_terminal(_cost_table(profile)),
            *helper_notes(profile),
            to_terminal(_population_table(profile)),
        ]
        found = anchor_of(profile)
        if found is not None:
            parts.append(to_terminal(anchor_table(found)))
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Text:
    """A paragraph; ``code`` in backticks and **bold** as in Markdown."""

    text: str


@dataclass(frozen=True)
class Figure:
    key: str
    title: str


Block = Heading | Text | Table | Figure


def _blocks(profile: Profile, network_path: str, input_path: str) -> list[Block]:
    """The report's content once, in order; :func:`markdown` and :func:`html` render it."""
    hw = profile.hardware
    blocks: list[Block] = [
        Heading(1, f"spikeforge profile: `{network_path}`"),
        Text(
            f"Input `{input_path}`: {profile.batch} samples x {profile.steps} steps, dt = "
            f"{profile.compiled.network.dt:g} s. Hardware model **{hw.name}**: "
            f"{hw.description}. Every hardware figure is labelled with the weakest kind of "
            "number that fed it (measured > calibrated > specified > estimated); the hardware "
            "model's sources are listed at the end."
        ),
    ]
    if profile.task is not None:
        task = profile.task
        unit = f" {task.unit}" if task.unit else ""
        headline = "; ".join(
            f"{row.label}: **{number(row.metrics.get(task.name))}{unit}**" for row in profile.rows
        )
        blocks += [
            Heading(2, f"Task metric: {task.name} (decoder {task.decoder})"),
            Text(headline + "."),
        ]
    blocks += [
        Heading(2, "Stage table"),
        profile_table(profile),
        Text(
            "Per inference. Source and reference rows: simulation wall time on this machine, "
            "no hardware latency, and the energy a CPU spends per inference at batch 1 (dense "
            "ops x J/MAC + DRAM bytes x J/byte, estimated: see the workload section). "
            "Compiled rows: the hardware model on the counted activity "
            "(estimated latency and energy); their synaptic ops count every weight plane and "
            "the bias neuron."
        ),
        Figure("outputs", "Outputs: each stage against the source"),
    ]
    run = profile.deployed
    if run is not None:
        cost = run.cost
        blocks += [
            Heading(2, f"On {hw.name} ({run.precision} plan, activity on {run.backend})"),
            _cost_table(profile),
            *[Text(note) for note in helper_notes(profile)],
        ]
        events = ", ".join(
            f"{event} {si(value, 'J')}" for event, value in cost.energy_by_event.items() if value
        )
        blocks += [Text(
            f"Dynamic energy by event: {events}; the dominant term is **{cost.dominant_event}**. "
            "Dynamic energy is what this network's activity costs; static power is paid per "
            "chip in use whatever runs, so its share of an inference depends on the time "
            "per step."
        )]  # fmt: skip
        found = anchor_of(profile)
        if found is not None:
            blocks += [Heading(3, "Calibration anchor"), anchor_table(found)]
        blocks += [Figure("populations", "Spikes and energy per population")]
        blocks += [
            _population_table(profile),
            Text(
                "Population counts are per inference over every hardware step the run takes, "
                "pipeline-drain steps included."
            ),
        ]
        blocks += [Figure("cores", "Placement and core utilisation")]
        core_rows = [
            [
                str(c.core.index), str(c.core.chip), f"{c.core.x},{c.core.y}",
                ", ".join(c.core.populations),
                *[f"{c.utilisation[r]:.1%}" for r in RESOURCES],
                si(c.busy_s, "s"), si(c.energy_j, "J"),
            ]
            for c in cost.cores
        ]  # fmt: skip
        blocks += [
            Table(["core", "chip", "tile", "holds", *RESOURCES, "busy / inference", "energy"],
                  core_rows, label_columns=4),
            Figure("latency", "Latency per step"),
        ]  # fmt: skip
    blocks += [Figure("raster", f"Spike raster ({profile.raster_stage}, sample 0)")]
    blocks += [Heading(2, "Workload (NeuroBench definitions)")]
    stats = [s for s in (profile.source, profile.reference) if s is not None]
    if stats:
        blocks += [workload_table(stats)]
    blocks += [Heading(2, "Hardware model")]
    if hw.path:
        blocks += [Text(f"`{hw.path}`")]
    rows = []
    for key, q in hw.entries().items():
        if isinstance(q.value, dict):  # calibration.layer_cores: layer -> cores
            value = ", ".join(f"{layer} {n}" for layer, n in q.value.items())
        elif isinstance(q.value, tuple):
            value = ", ".join(
                f"{v:g} at {t:g} tiles" for t, v in zip(q.tiles, q.value, strict=True)
            )
        else:
            value = f"{q.value:g}"
        note = f" ({q.note})" if q.note else ""
        rows.append([key, value, q.unit, q.kind, q.source + note])
    blocks += [Table(["entry", "value", "unit", "kind", "source"], rows, label_columns=5)]
    return blocks


def workload_table(stats: Sequence[SourceStats]) -> Table:
    """The CPU models' workload, under NeuroBench's metric names (Yik et al. 2024)."""
    rows = [
        ["wall time / sample", *[si(s.wall_s_per_sample, "s") for s in stats]],
        ["parameters", *[str(s.parameters) for s in stats]],
        ["footprint (B)", *[str(s.footprint_bytes) for s in stats]],
        ["connection sparsity", *[f"{s.connection_sparsity:.3f}" for s in stats]],
        ["activation sparsity", *[f"{s.activation_sparsity:.4f}" for s in stats]],
        ["spikes / inference", *[f"{s.spikes:.1f}" for s in stats]],
        ["effective synaptic ops: ACs", *[f"{s.effective_acs:.0f}" for s in stats]],
        ["effective synaptic ops: MACs", *[f"{s.effective_macs:.0f}" for s in stats]],
        ["dense synaptic ops", *[f"{s.dense_ops:.0f}" for s in stats]],
        ["membrane updates", *[f"{membrane_updates(s):.0f}" for s in stats]],
        ["DRAM bytes: weights", *[f"{s.weight_bytes:.0f}" for s in stats]],
        ["DRAM bytes: activations", *[f"{s.activation_bytes:.0f}" for s in stats]],
    ]
    for device in DEVICES:
        for part in ("arithmetic_j", "memory_j", "total_j"):
            label = f"{device.name}: {part.removesuffix('_j')}"
            rows.append([label, *[si(s.conventional(device)[part], "J") for s in stats]])
    notes = [
        f"Conventional energy per inference at batch 1 (estimated): dense ops x J/MAC + DRAM "
        f"bytes x J/byte, float32 ({BYTES_PER_VALUE} B per value); each layer's weights read "
        "once per inference, its input read and output written once per step, neuron state "
        "not counted; convolutions counted as convolutions (kernel taps inside the input). "
        "Batching amortises the weight reads on a GPU, so its per-inference figure falls "
        "with the batch; Loihi runs batch 1."
    ]
    notes += [
        f"{d.name}: {si(d.mac.value, 'J')}/MAC ({d.mac.kind}; {d.mac.source}; {d.mac.note}), "
        f"{si(d.byte.value, 'J')}/B ({d.byte.kind}; {d.byte.source})"
        for d in DEVICES
    ]
    return Table(["", *[s.label for s in stats]], rows, notes=notes)


def membrane_updates(stats: SourceStats) -> int:
    """NeuroBench's membrane updates per inference: a CPU model updates every neuron's
    membrane on every step (its activation count is neurons x steps)."""
    if stats.activation_sparsity >= 1.0:
        return 0
    return round(stats.spikes / (1.0 - stats.activation_sparsity))


def markdown(profile: Profile, network_path: str, input_path: str) -> str:
    lines: list[str] = []
    for block in _blocks(profile, network_path, input_path):
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Text):
            lines += [block.text, ""]
        elif isinstance(block, Table):
            lines += [to_markdown(block), ""]
        else:
            lines += [f"### {block.title}", "", f"![{block.key}]({FIGURES[block.key]})", ""]
    return "\n".join(lines)


def html(profile: Profile, network_path: str, input_path: str, figures: dict[str, bytes]) -> str:
    """One self-contained page: the same blocks, figures embedded as base64 PNG."""
    body: list[str] = []
    for block in _blocks(profile, network_path, input_path):
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{inline_html(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            body.append(f"<p>{inline_html(block.text)}</p>")
        elif isinstance(block, Table):
            body.append(to_html(block))
        else:
            data = base64.b64encode(figures[FIGURES[block.key]]).decode()
            body.append(
                f'<figure id="{block.key}"><img alt="{escape(block.title)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{escape(block.title)}'
                "</figcaption></figure>"
            )
    title = escape(f"spikeforge profile: {network_path}")
    return (
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
        f"<style>{HTML_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


# --------------------------------------------------------------------------- figures


def _png(fig: MplFigure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _raster_figure(profile: Profile) -> MplFigure:
    names = list(profile.rasters)
    fig = MplFigure(figsize=(9, 1.2 + 1.8 * max(len(names), 1)))
    axes = fig.subplots(max(len(names), 1), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names, strict=False):
        raster = profile.rasters[name][0].reshape(profile.rasters[name].shape[1], -1)
        t, n = np.nonzero(raster)
        ax.scatter(t, n, s=2, marker="|", color="black")
        ax.set_ylabel(f"{name}\nneuron")
        ax.set_ylim(-0.5, raster.shape[1] - 0.5)
        ax.set_xlim(-0.5, raster.shape[0] - 0.5)
    if not names:
        axes[0].text(0.5, 0.5, "no spiking populations", ha="center", va="center")
    axes[-1].set_xlabel("time step (source time)")
    fig.suptitle(f"spike raster: {profile.raster_stage}, sample 0")
    return fig


def _population_figure(profile: Profile) -> MplFigure:
    fig = MplFigure(figsize=(9, 4))
    ax_spikes, ax_energy = fig.subplots(1, 2)
    run = profile.deployed
    if run is None:
        ax_spikes.text(0.5, 0.5, "no hardware stage run", ha="center")
        return fig
    cost = run.cost
    rows = {**cost.populations, **cost.inputs}
    names = list(rows)
    x = np.arange(len(names))
    ax_spikes.bar(x, [rows[n].counts.spikes for n in names], color="tab:blue")
    ax_spikes.set_title("spikes / inference")
    dynamic = np.array([rows[n].dynamic_j for n in names])
    static = np.array([rows[n].static_j for n in names])
    ax_energy.bar(x, dynamic * 1e9, label="dynamic", color="tab:orange")
    ax_energy.bar(x, static * 1e9, bottom=dynamic * 1e9, label="static", color="tab:gray")
    ax_energy.set_title(f"energy / inference (nJ, {cost.energy.total.kind})")
    ax_energy.legend()
    for ax in (ax_spikes, ax_energy):
        ax.set_xticks(x, names, rotation=45, ha="right")
    fig.suptitle(f"{profile.hardware.name}, {run.precision} plan")
    return fig


def _core_figure(profile: Profile) -> MplFigure:
    """One row per used core: its utilisation of each per-core limit, labelled with
    where it sits and what it holds. A grid of every tile made a few used cores slivers;
    bars stay readable from one core to a few dozen (more are summarised in the title)."""
    run = profile.deployed
    hw = profile.hardware
    if run is None:
        fig = MplFigure(figsize=(4, 2))
        fig.subplots().text(0.5, 0.5, "no hardware stage run", ha="center")
        return fig
    placement = run.placement
    cores = placement.cores[:MAX_CORES_DRAWN]
    fig = MplFigure(figsize=(9, 1.4 + 0.45 * len(cores) * 1.2))
    ax = fig.subplots()
    height = 0.8 / len(RESOURCES)
    y = np.arange(len(cores))
    for i, resource in enumerate(RESOURCES):
        shares = [100 * placement.utilisation(core)[resource] for core in cores]
        ax.barh(y + (i - (len(RESOURCES) - 1) / 2) * height, shares, height,
                label=resource.replace("_", " "))  # fmt: skip
    labels = [
        f"core {c.index} (chip {c.chip}, tile {c.x},{c.y}): {', '.join(c.populations)}"
        for c in cores
    ]
    for row, core in zip(y, cores, strict=True):
        peak = 100 * max(placement.utilisation(core).values())
        ax.text(peak + 1, row, f"{peak:.1f} %", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("utilisation of the per-core limit (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    more = len(placement.cores) - len(cores)
    fig.suptitle(
        f"{len(placement.cores)} of {hw.cores_per_chip} cores on {placement.chips_used} "
        f"{hw.name} chip(s), {run.precision} plan" + (f" ({more} more not drawn)" if more else "")
    )
    return fig


def _output_figure(profile: Profile) -> MplFigure:
    """Each stage's output against the source's, per (sample, neuron): spike counts
    for a spiking output, values for a readout. On the diagonal is exact."""
    rows = profile.rows[1:]
    truth = profile.rows[0]
    fig = MplFigure(figsize=(3.2 * max(len(rows), 1), 3.4))
    axes = fig.subplots(1, max(len(rows), 1), squeeze=False)[0]
    for ax, row in zip(axes, rows, strict=False):
        for name, expected in truth.outputs.items():
            got = np.asarray(row.outputs[name])[:, : expected.shape[1]]
            a, b = _output_values(np.asarray(expected)), _output_values(got.reshape(expected.shape))
            ax.scatter(a, b, s=6, alpha=0.5)
            low, high = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
            ax.plot([low, high], [low, high], color="gray", linewidth=0.8)
        ax.set_title(f"{row.stage}\nrel. error {row.agreement.relative_error:.2e}", fontsize=9)
        ax.set_xlabel(f"{truth.stage} output")
    axes[0].set_ylabel("stage output")
    if not rows:
        axes[0].text(0.5, 0.5, "one stage only", ha="center")
    fig.suptitle("output per (sample, neuron): spike count, or value per step for a readout")
    fig.tight_layout()
    return fig


def _output_values(output: np.ndarray) -> np.ndarray:
    """A spiking output's spike counts per (sample, neuron); a readout's values, flat."""
    spiking = bool(np.isin(output, (0.0, 1.0)).all())
    flat = output.reshape(*output.shape[:2], -1)
    return (flat.sum(axis=1) if spiking else flat).ravel()


def _latency_figure(profile: Profile) -> MplFigure:
    fig = MplFigure(figsize=(9, 3.5))
    ax = fig.subplots()
    run = profile.deployed
    if run is None:
        ax.text(0.5, 0.5, "no hardware stage run", ha="center")
        return fig
    cost = run.cost
    steps = np.arange(cost.steps)
    step = cost.step_latency
    parts = [t * 1e9 for t in (step.slowest_core, step.mesh, step.barrier)]
    ax.stackplot(steps, *parts, labels=["slowest core", "mesh", "barrier"], step="mid")
    ax.set_xlabel("hardware step")
    ax.set_ylabel(f"ns ({cost.latency.per_inference.kind})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(
        f"latency per step on {profile.hardware.name} ({run.precision} plan, average sample)"
    )
    return fig
