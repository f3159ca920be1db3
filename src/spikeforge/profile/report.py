"""Write a profile: ``profile.json`` (schema in docs/profile.md), ``report.md`` with PNG figures.

The stage table (:func:`stage_table`) is built here once, for every caller: the
``profile`` summary, ``report.md`` and the zoo's ``evaluate``. Figures are drawn with
matplotlib's object API (no pyplot global state, no display needed). Everything is
rendered in memory first and each file is then written atomically, so a failure
leaves no half-written report behind.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure

from spikeforge.atomic import atomic_path
from spikeforge.compile.placement import RESOURCES
from spikeforge.errors import SpikeforgeError
from spikeforge.profile.counters import INPUT_COUNTS, POPULATION_COUNTS
from spikeforge.profile.energy import PopulationCost
from spikeforge.profile.render import Table, number, quantity, share, si, to_markdown, to_terminal
from spikeforge.profile.source_stats import MAC_ENERGY
from spikeforge.profile.stages import Profile, StageRow

FORMAT = "spikeforge.profile"
FORMAT_VERSION = 2
FIGURES = {
    "raster": "raster.png",
    "populations": "populations.png",
    "cores": "cores.png",
    "latency": "latency.png",
}
COST_COLUMNS = ("spikes/inf", "synops/inf", "energy/inf", "latency/inf", "wall s/sample")
AGREEMENT_NOTE = (
    "spikes equal: share of spiking output entries equal to the source's; decisions: share "
    "of (sample, step) whose largest readout neuron is the source's; rel. error: "
    "RMS(output - source) / RMS(source)"
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
            f"{row.agreement.relative_error:.2e}",
            number(row.spikes),
            number(row.synaptic_ops),
            quantity(row.energy),
            quantity(row.latency),
            f"{row.wall_s_per_sample:.3g}",
        ]
        cells.append(line)
    return Table(header, cells, title=title, notes=[*_bases(rows), AGREEMENT_NOTE])


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
        }
    deployed = profile.deployed
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
        "source": None if profile.source is None else profile.source.as_dict(),
        "reference": None if profile.reference is None else profile.reference.as_dict(),
        "runs": runs,
        "figures": dict(FIGURES),
    }


def write_report(
    profile: Profile, directory: Path, network_path: str, input_path: str
) -> list[Path]:
    """Render everything, then write each file atomically; returns the paths written."""
    data = profile_dict(profile, network_path, input_path)
    files: dict[str, bytes] = {
        FIGURES["raster"]: _png(_raster_figure(profile)),
        FIGURES["latency"]: _png(_latency_figure(profile)),
        FIGURES["populations"]: _png(_population_figure(profile)),
        FIGURES["cores"]: _png(_core_figure(profile)),
        "profile.json": json.dumps(data, indent=1, allow_nan=False).encode(),
        "report.md": markdown(profile, network_path, input_path).encode(),
    }
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


# --------------------------------------------------------------------------- text


def _cost_table(profile: Profile) -> Table:
    """The deployed run's figures: energy, latency, throughput, EDP, cores."""
    run = profile.deployed
    cost, placement = run.cost, run.placement
    energy, latency = cost.energy, cost.latency
    rows = [
        ["energy / inference", si(energy.total.value, "J"), energy.total.kind],
        ["dynamic", si(energy.dynamic.value, "J"), energy.dynamic.kind],
        ["static", si(energy.static.value, "J"), energy.static.kind],
        ["latency / inference", si(latency.per_inference.value, "s"), latency.per_inference.kind],
        ["mean latency / step", si(latency.per_step_mean.value, "s"), latency.per_step_mean.kind],
        ["throughput", f"{cost.throughput.value:.4g} /s", cost.throughput.kind],
        ["energy-delay product", f"{cost.edp.value:.3g} J·s", cost.edp.kind],
        ["cores / chips used", f"{len(placement.cores)} / {placement.chips_used}", ""],
    ]
    return Table(["figure", "value", "kind"], rows, label_columns=3)


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
    parts = [to_terminal(stage_table(profile.rows, title=title))]
    run = profile.deployed
    if run is not None:
        cost, cores = run.cost, len(run.placement.cores)
        parts += [
            f"on {profile.hardware.name} ({run.precision} plan, activity on {run.backend}): "
            f"{cores} cores, {run.placement.chips_used} chip(s); energy/inference "
            f"{quantity(cost.energy.total)}, "
            f"latency/inference {quantity(cost.latency.per_inference)}",
            to_terminal(_population_table(profile)),
        ]
    return "\n\n".join(parts)


def _figure(title: str, key: str) -> list[str]:
    return ["", title, "", f"![{key}]({FIGURES[key]})", ""]


def markdown(profile: Profile, network_path: str, input_path: str) -> str:
    hw = profile.hardware
    lines = [
        f"# spikeforge profile: `{network_path}`",
        "",
        f"Input `{input_path}`: {profile.batch} samples x {profile.steps} steps, dt = "
        f"{profile.compiled.network.dt:g} s. Hardware model **{hw.name}**: {hw.description}.",
        "Every hardware figure is labelled with the weakest kind of number that fed it "
        "(measured > calibrated > specified > estimated); the hardware model's sources are "
        "listed at the end.",
        "",
        "## Stage table",
        "",
        to_markdown(stage_table(profile.rows)),
        "",
        "Per inference. Source and reference rows: measured CPU wall time, and the energy a "
        f"conventional accelerator spends on the dense ops at {si(MAC_ENERGY.value, 'J')}/MAC "
        f"({MAC_ENERGY.source}; {MAC_ENERGY.note}). Compiled rows: the hardware model on the "
        "counted activity; their synaptic ops count every weight plane and the bias neuron.",
    ]
    run = profile.deployed
    if run is not None:
        cost = run.cost
        lines += ["", f"## On {hw.name} ({run.precision} plan, activity on {run.backend})", ""]
        lines += [to_markdown(_cost_table(profile))]
        events = ", ".join(
            f"{event} {si(value, 'J')}" for event, value in cost.energy_by_event.items() if value
        )
        lines += ["", f"Dynamic energy by event: {events}."]
        lines += _figure("### Spikes and energy per population", "populations")
        lines += [to_markdown(_population_table(profile))]
        lines += _figure("### Placement and core utilisation", "cores")
        core_rows = [
            [
                str(c.core.index), str(c.core.chip), f"{c.core.x},{c.core.y}",
                ", ".join(c.core.populations),
                *[f"{c.utilisation[r]:.1%}" for r in RESOURCES],
                si(c.busy_s, "s"), si(c.energy_j, "J"),
            ]
            for c in cost.cores
        ]  # fmt: skip
        lines += [
            to_markdown(
                Table(
                    ["core", "chip", "tile", "holds", *RESOURCES, "busy / inference", "energy"],
                    core_rows,
                )
            )
        ]
        lines += _figure("### Latency per step", "latency")
    lines += _figure(f"## Spike raster ({profile.raster_stage}, sample 0)", "raster")
    lines += ["", "## Source model (NeuroBench-style workload)", ""]
    stats = [s for s in (profile.source, profile.reference) if s is not None]
    if stats:
        lines += [
            to_markdown(
                Table(
                    ["", *[s.label for s in stats]],
                    [
                        ["wall time / sample", *[si(s.wall_s_per_sample, "s") for s in stats]],
                        ["parameters", *[str(s.parameters) for s in stats]],
                        ["footprint", *[f"{s.footprint_bytes} B" for s in stats]],
                        ["connection sparsity", *[f"{s.connection_sparsity:.3f}" for s in stats]],
                        ["activation sparsity", *[f"{s.activation_sparsity:.4f}" for s in stats]],
                        ["spikes / inference", *[f"{s.spikes:.1f}" for s in stats]],
                        ["effective ACs", *[f"{s.effective_acs:.0f}" for s in stats]],
                        ["effective MACs", *[f"{s.effective_macs:.0f}" for s in stats]],
                        ["dense ops", *[f"{s.dense_ops:.0f}" for s in stats]],
                        ["conventional energy", *[si(s.conventional_energy_j, "J") for s in stats]],
                    ],
                )
            )
        ]
    lines += ["", "## Hardware model", "", f"`{hw.path}`" if hw.path else "", ""]
    rows = []
    for key, q in hw.entries().items():
        if isinstance(q.value, tuple):
            value = ", ".join(
                f"{v:g} at {t:g} tiles" for t, v in zip(q.tiles, q.value, strict=True)
            )
        else:
            value = f"{q.value:g}"
        note = f" ({q.note})" if q.note else ""
        rows.append([key, value, q.unit, q.kind, q.source + note])
    lines += [to_markdown(Table(["entry", "value", "unit", "kind", "source"], rows))]
    return "\n".join(lines) + "\n"


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
    run = profile.deployed
    hw = profile.hardware
    if run is None:
        fig = MplFigure(figsize=(4, 2))
        fig.subplots().text(0.5, 0.5, "no hardware stage run", ha="center")
        return fig
    placement = run.placement
    chips = sorted({c.chip for c in placement.cores})
    fig = MplFigure(figsize=(2 + 5 * len(chips), 1.5 + 0.8 * hw.tiles_y))
    axes = fig.subplots(1, len(chips), squeeze=False)[0]
    width = hw.tiles_x * hw.cores_per_tile
    image = None
    for ax, chip in zip(axes, chips, strict=True):
        grid = np.full((hw.tiles_y, width), np.nan)
        for core in placement.cores:
            if core.chip != chip:
                continue
            col = core.x * hw.cores_per_tile + core.slot
            grid[core.y, col] = max(placement.utilisation(core).values())
            ax.text(col, core.y, str(core.index), ha="center", va="center", fontsize=7)
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(
            np.arange(hw.tiles_x) * hw.cores_per_tile + (hw.cores_per_tile - 1) / 2,
            [str(x) for x in range(hw.tiles_x)],
        )
        ax.set_yticks(np.arange(hw.tiles_y))
        for boundary in range(1, hw.tiles_x):
            ax.axvline(boundary * hw.cores_per_tile - 0.5, color="white", linewidth=1)
        ax.set_xlabel("tile x (cores side by side)")
        ax.set_ylabel("tile y")
        ax.set_title(f"chip {chip}")
    fig.colorbar(image, ax=list(axes), label="highest utilisation of any per-core limit")
    fig.suptitle(f"core utilisation on {hw.name} ({run.precision} plan; blank = unused)")
    return fig


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
    ax.legend(loc="upper right")
    ax.set_title(
        f"latency per step on {profile.hardware.name} ({run.precision} plan, average sample)"
    )
    return fig
