"""Write a profile: ``profile.json`` (schema in docs/profile.md), ``report.md`` with PNG figures.

Figures are drawn with matplotlib's object API (no pyplot global state, no display
needed). Everything is rendered in memory first and each file is then written
atomically, so a failure leaves no half-written report behind.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure

from spikeforge.atomic import atomic_path
from spikeforge.compile.placement import RESOURCES
from spikeforge.errors import SpikeforgeError
from spikeforge.profile.counters import INPUT_COUNTS, POPULATION_COUNTS
from spikeforge.profile.source_stats import MAC_ENERGY
from spikeforge.profile.stages import Profile

FORMAT = "spikeforge.profile"
FORMAT_VERSION = 1
FIGURES = {
    "raster": "raster.png",
    "populations": "populations.png",
    "cores": "cores.png",
    "latency": "latency.png",
}
_PREFIXES = [(1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, "")]


def si(value: float, unit: str) -> str:
    """``1.2e-7, 'J'`` -> ``'120 nJ'``."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g} {unit}"
    scale, prefix = _PREFIXES[0]
    for s, p in _PREFIXES:
        if abs(value) >= s:
            scale, prefix = s, p
    if abs(value) >= 1e3 and unit not in ("J", "s", "W"):
        return f"{value:.3g} {unit}"
    return f"{value / scale:.3g} {prefix}{unit}"


def deployed(profile: Profile) -> str | None:
    """The precision the summary speaks for: fixed point if it was run."""
    if "fixed" in profile.runs:
        return "fixed"
    return next(iter(profile.runs), None)


def profile_dict(profile: Profile, network_path: str, input_path: str) -> dict[str, object]:
    """The machine-readable profile (schema: docs/profile.md)."""
    net = profile.compiled.network
    runs = {}
    for precision, hw in profile.runs.items():
        activity = hw.activity
        runs[precision] = {
            "backend": hw.backend,
            "wall_s": hw.wall_s,
            "placement": hw.placement.as_dict(),
            "activity": {
                "batch": activity.batch,
                "steps": activity.steps,
                "populations": {n: activity.per_inference(n) for n in activity.populations},
                "inputs": {n: activity.per_inference(n) for n in activity.inputs},
                "per_step": {
                    n: {c: table[:, i].tolist() for i, c in enumerate(POPULATION_COUNTS)}
                    for n, table in activity.populations.items()
                },
                "input_per_step": {
                    n: {c: table[:, i].tolist() for i, c in enumerate(INPUT_COUNTS)}
                    for n, table in activity.inputs.items()
                },
            },
            "cost": hw.cost.as_dict(),
        }
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
        "deployed": deployed(profile),
        "stages": [s.as_dict() for s in profile.stages],
        "source": None if profile.source is None else profile.source.as_dict(),
        "reference": profile.reference.as_dict(),
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


def stage_table(profile: Profile) -> list[str]:
    lines = [
        f"{'stage':<40} {'agree':>7} {'exact':>5} {'rel err':>8} {'spikes':>9} {'synops':>10} "
        f"{'energy/inf':>12} {'latency/inf':>12}  basis",
    ]
    for s in profile.stages:
        lines.append(
            f"{s.name:<40} {s.agreement:>7.4f} {'yes' if s.exact else 'no':>5} "
            f"{s.relative_error:>8.2g} "
            f"{s.spikes:>9.1f} {s.synaptic_ops:>10.0f} {si(s.energy.value, 'J'):>12} "
            f"{si(s.latency.value, 's'):>12}  {s.basis} [{s.energy.kind}]"
        )
    return lines


def summary_table(profile: Profile) -> str:
    """What ``spikeforge profile`` prints: the stage table and the deployed cost."""
    lines = [
        f"stage table ({profile.batch} samples x {profile.steps} steps):",
        *stage_table(profile),
    ]
    precision = deployed(profile)
    if precision is not None:
        hw = profile.runs[precision]
        cost, placement = hw.cost, hw.placement
        lines += [
            "",
            f"on {profile.hardware.name} ({precision} plan, {cost.energy['total'].kind}): "
            f"{len(placement.cores)} cores, {placement.chips_used} chip(s)",
            f"  energy/inference {si(cost.energy['total'].value, 'J')} "
            f"(dynamic {si(cost.energy['dynamic'].value, 'J')}, "
            f"static {si(cost.energy['static'].value, 'J')}); "
            f"latency/inference {si(cost.latency['per_inference'].value, 's')} "
            f"({hw.activity.steps} steps, {si(cost.latency['per_step_mean'].value, 's')}/step); "
            f"{cost.throughput.value:.4g} inferences/s; EDP {cost.edp.value:.3g} J*s",
            "",
            f"{'population':<20} {'spikes':>9} {'synops':>10} {'active':>9} {'messages':>9} "
            f"{'energy':>11} {'share':>6}",
        ]
        total = cost.energy["total"].value
        for name, row in {**cost.populations, **cost.inputs}.items():
            lines.append(
                f"{name:<20} {row['spikes']:>9.1f} {row.get('synaptic_ops', 0.0):>10.0f} "
                f"{row.get('active_updates', 0.0):>9.0f} {row['messages']:>9.0f} "
                f"{si(row['energy_j'], 'J'):>11} {row['energy_j'] / total if total else 0:>6.1%}"
            )
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


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
    ]
    lines += _table(
        [
            "stage",
            "agreement",
            "exact",
            "rel. error",
            "spikes",
            "synaptic ops",
            "energy",
            "latency",
            "basis",
        ],
        [
            [
                s.name,
                f"{s.agreement:.4f}",
                "yes" if s.exact else "no",
                f"{s.relative_error:.2g}",
                f"{s.spikes:.1f}",
                f"{s.synaptic_ops:.0f}",
                f"{si(s.energy.value, 'J')} ({s.energy.kind})",
                f"{si(s.latency.value, 's')} ({s.latency.kind})",
                s.basis,
            ]
            for s in profile.stages
        ],
    )
    lines += [
        "",
        "Per inference. Source and reference rows: measured CPU wall time, and the energy a "
        f"conventional accelerator spends on the dense ops at {si(MAC_ENERGY.value, 'J')}/MAC "
        f"({MAC_ENERGY.source}; {MAC_ENERGY.note}). Compiled rows: the hardware model on the "
        "counted activity; their synaptic ops count every weight plane and the bias neuron.",
    ]
    precision = deployed(profile)
    if precision is not None:
        run = profile.runs[precision]
        cost, placement = run.cost, run.placement
        lines += ["", f"## On {hw.name} ({precision} plan, activity on {run.backend})", ""]
        energy, latency = cost.energy, cost.latency
        lines += _table(
            ["figure", "value", "kind"],
            [
                ["energy / inference", si(energy["total"].value, "J"), energy["total"].kind],
                ["dynamic", si(energy["dynamic"].value, "J"), energy["dynamic"].kind],
                ["static", si(energy["static"].value, "J"), energy["static"].kind],
                [
                    "latency / inference",
                    si(latency["per_inference"].value, "s"),
                    latency["per_inference"].kind,
                ],
                [
                    "mean latency / step",
                    si(latency["per_step_mean"].value, "s"),
                    latency["per_step_mean"].kind,
                ],
                ["throughput", f"{cost.throughput.value:.4g} /s", cost.throughput.kind],
                ["energy-delay product", f"{cost.edp.value:.3g} J·s", cost.edp.kind],
                ["cores / chips used", f"{len(placement.cores)} / {placement.chips_used}", ""],
            ],
        )
        events = ", ".join(
            f"{event} {si(value, 'J')}" for event, value in cost.energy_by_event.items() if value
        )
        lines += ["", f"Dynamic energy by event: {events}."]
        lines += _figure("### Spikes and energy per population", "populations")
        lines += _table(
            ["population", "cores", *POPULATION_COUNTS, "energy", "share"],
            [
                [name, row.get("cores", "host")]
                + [f"{row.get(c, 0.0):.1f}" for c in POPULATION_COUNTS]
                + [si(row["energy_j"], "J"), f"{row['energy_j'] / cost.energy['total'].value:.1%}"]
                for name, row in {**cost.populations, **cost.inputs}.items()
            ],
        )
        lines += _figure("### Placement and core utilisation", "cores")
        lines += _table(
            ["core", "chip", "tile", "holds", *RESOURCES, "busy / inference", "energy"],
            [
                [
                    c["core"], c["chip"], f"{c['tile'][0]},{c['tile'][1]}",
                    ", ".join(c["populations"]),
                    *[f"{c['utilisation'][r]:.1%}" for r in RESOURCES],
                    si(c["busy_s"], "s"), si(c["energy_j"], "J"),
                ]
                for c in cost.cores
            ],
        )  # fmt: skip
        lines += _figure("### Latency per step", "latency")
    lines += _figure(f"## Spike raster ({profile.raster_stage}, sample 0)", "raster")
    lines += ["", "## Source model (NeuroBench-style workload)", ""]
    stats = [s for s in (profile.source, profile.reference) if s is not None]
    lines += _table(
        ["", *[s.label for s in stats]],
        [
            ["wall time / sample", *[si(s.wall_s_per_sample, "s") for s in stats]],
            ["parameters", *[s.parameters for s in stats]],
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
    lines += _table(["entry", "value", "unit", "kind", "source"], rows)
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
    precision = deployed(profile)
    if precision is None:
        ax_spikes.text(0.5, 0.5, "no hardware stage run", ha="center")
        return fig
    cost = profile.runs[precision].cost
    rows = {**cost.populations, **cost.inputs}
    names = list(rows)
    x = np.arange(len(names))
    ax_spikes.bar(x, [rows[n]["spikes"] for n in names], color="tab:blue")
    ax_spikes.set_title("spikes / inference")
    dynamic = np.array([rows[n].get("dynamic_j", rows[n]["energy_j"]) for n in names])
    static = np.array([rows[n].get("static_j", 0.0) for n in names])
    ax_energy.bar(x, dynamic * 1e9, label="dynamic", color="tab:orange")
    ax_energy.bar(x, static * 1e9, bottom=dynamic * 1e9, label="static", color="tab:gray")
    ax_energy.set_title(f"energy / inference (nJ, {cost.energy['total'].kind})")
    ax_energy.legend()
    for ax in (ax_spikes, ax_energy):
        ax.set_xticks(x, names, rotation=45, ha="right")
    fig.suptitle(f"{profile.hardware.name}, {precision} plan")
    return fig


def _core_figure(profile: Profile) -> MplFigure:
    precision = deployed(profile)
    hw = profile.hardware
    if precision is None:
        fig = MplFigure(figsize=(4, 2))
        fig.subplots().text(0.5, 0.5, "no hardware stage run", ha="center")
        return fig
    placement = profile.runs[precision].placement
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
    fig.suptitle(f"core utilisation on {hw.name} ({precision} plan; blank = unused)")
    return fig


def _latency_figure(profile: Profile) -> MplFigure:
    fig = MplFigure(figsize=(9, 3.5))
    ax = fig.subplots()
    precision = deployed(profile)
    if precision is None:
        ax.text(0.5, 0.5, "no hardware stage run", ha="center")
        return fig
    cost = profile.runs[precision].cost
    steps = np.arange(cost.steps)
    parts = [cost.step_latency[k] * 1e9 for k in ("slowest_core", "mesh", "barrier")]
    ax.stackplot(steps, *parts, labels=["slowest core", "mesh", "barrier"], step="mid")
    ax.set_xlabel("hardware step")
    ax.set_ylabel(f"ns ({cost.latency['per_inference'].kind})")
    ax.legend(loc="upper right")
    ax.set_title(f"latency per step on {profile.hardware.name} ({precision} plan, average sample)")
    return fig
