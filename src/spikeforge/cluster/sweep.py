"""A deployment sweep: every grid point run over a whole data set, one table and a Pareto plot.

Each point is compiled once on the driver (networks that no setting changes are
shared), and every (point, shard) runs where the cluster puts it, through the shard
cache, in one pass with one progress bar. A point's figures come from its pooled
shards (:mod:`spikeforge.cluster.shard`): the task metric and the agreement from the
per-sample outputs in sample order, spikes and synaptic ops per inference and the
energy and latency from the summed activity, placed and priced on the driver.

Agreement is with the source model: norse for a zoo model (as ``spikeforge evaluate``
measures it), else the float64 reference of the same imported graph, run as one
more sharded job. The final files are written only when every point is complete;
files from an earlier sweep in the directory are removed first, so a partial run
never leaves a table that looks complete.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeforge.atomic import atomic_path
from spikeforge.cluster.executor import run_compiled
from spikeforge.cluster.grid import Point
from spikeforge.cluster.shard import Pooled, RunSettings
from spikeforge.cluster.spec import ClusterSpec
from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError
from spikeforge.profile import Hardware, Quantity, estimate, load_hardware, place
from spikeforge.profile.agreement import Agreement, compare
from spikeforge.profile.render import si

SWEEP_FORMAT = "spikeforge.sweep"
SWEEP_VERSION = 1
OUTPUT_FILES = ("sweep.json", "sweep.md", "pareto.png")


@dataclass
class SweepSource:
    """The network a sweep deploys and the data set that judges it.

    ``compile`` builds the network for a point's compile settings; ``truth`` is the
    source model's output of a one-output network (None: use each compiled network's
    float64 reference);
    ``metric`` maps outputs ``[n, time, ...]`` to the task metric (None: there is
    none, and the Pareto plot uses agreement).
    """

    name: str
    inputs: np.ndarray
    defaults: Point
    compile: Callable[[Point], CompiledNet]
    truth: np.ndarray | None = None
    metric: Callable[[np.ndarray], float] | None = None
    metric_name: str = "agreement"
    metric_unit: str = ""
    higher_is_better: bool = True
    fixed_keys: tuple[str, ...] = ()


@dataclass
class SweepRow:
    point: Point
    metric: float | None
    agreement: Agreement
    spikes: float
    synaptic_ops: float
    energy: Quantity
    latency: Quantity
    worker_s_per_sample: float
    pareto: bool = False

    @property
    def share(self) -> float:
        """The agreement that applies: spikes equal, else decisions equal, else 1 - error."""
        a = self.agreement
        if a.spike_agreement is not None:
            return a.spike_agreement
        if a.decision_agreement is not None:
            return a.decision_agreement
        return 1.0 - a.relative_error

    def score(self) -> float:
        return self.share if self.metric is None else self.metric


@dataclass
class SweepResult:
    source: str
    samples: int
    metric_name: str
    metric_unit: str
    higher_is_better: bool
    varied: list[str]
    rows: list[SweepRow]
    computed_shards: int
    cached_shards: int
    cluster: str = field(default="this process")


def run_sweep(
    source: SweepSource,
    points: Sequence[Point],
    varied: Sequence[str],
    spec: ClusterSpec | None = None,
    cache_dir: Path | None = None,
    shard_size: int | None = None,
    show_progress: bool = False,
) -> SweepResult:
    """Run every point over ``source.inputs`` and measure it (module docstring)."""
    for key in source.fixed_keys:
        if any(getattr(p, key) != getattr(source.defaults, key) for p in points):
            raise SpikeforgeError(f"--grid {key}: {source.name} fixes it (it is already compiled)")
    compiled: dict[tuple, CompiledNet] = {}
    hardware: dict[str, Hardware] = {}
    for p in points:
        if p.compile_settings() not in compiled:
            compiled[p.compile_settings()] = source.compile(p)
        if p.hardware not in hardware:
            hardware[p.hardware] = load_hardware(p.hardware)
    runs = [
        (compiled[p.compile_settings()], RunSettings(p.backend, p.precision, hardware[p.hardware]))
        for p in points
    ]
    if source.truth is None:  # each distinct network's own float64 reference
        yardstick = next(iter(hardware.values()))
        runs += [(net, RunSettings("reference", "float", yardstick)) for net in compiled.values()]
    report = run_compiled(runs, source.inputs, spec, cache_dir, shard_size, show_progress)
    references = dict(zip(compiled, report.pooled[len(points) :], strict=False))
    rows = []
    for p, pooled in zip(points, report.pooled, strict=False):
        net = compiled[p.compile_settings()]
        if source.truth is None:
            truth = references[p.compile_settings()].outputs
        else:
            truth = {next(iter(net.network.readouts)): source.truth}
        rows.append(_row(p, net, hardware[p.hardware], pooled, truth, source))
    _mark_pareto(rows, source.higher_is_better if source.metric else True)
    return SweepResult(
        source=source.name,
        samples=len(source.inputs),
        metric_name=source.metric_name,
        metric_unit=source.metric_unit,
        higher_is_better=source.higher_is_better if source.metric else True,
        varied=list(varied),
        rows=rows,
        computed_shards=len(report.computed),
        cached_shards=len(report.cached),
        cluster=spec.describe() if spec is not None else "this process",
    )


def _row(
    point: Point,
    compiled: CompiledNet,
    hardware: Hardware,
    pooled: Pooled,
    truth: dict[str, np.ndarray],
    source: SweepSource,
) -> SweepRow:
    plan = compiled.plan(point.precision)
    activity = pooled.activity
    cost = estimate(activity, place(plan, hardware), hardware)
    network = compiled.network
    spiking = {
        name: r.direct_source is not None and network.populations[r.direct_source].spiking
        for name, r in network.readouts.items()
    }
    return SweepRow(
        point=point,
        metric=None if source.metric is None else float(source.metric(pooled.output)),
        agreement=compare(pooled.outputs, truth, spiking),
        spikes=sum(activity.per_inference(p).spikes for p in plan.populations),
        synaptic_ops=activity.total("synaptic_ops"),
        energy=cost.energy.total,
        latency=cost.latency.per_inference,
        worker_s_per_sample=pooled.worker_s / pooled.samples,
    )


def _mark_pareto(rows: list[SweepRow], higher_is_better: bool) -> None:
    """A point is on the front when no other has both less energy and a better score."""
    sign = 1.0 if higher_is_better else -1.0
    for row in rows:
        row.pareto = not any(
            other.energy.value <= row.energy.value
            and sign * other.score() >= sign * row.score()
            and (other.energy.value < row.energy.value or sign * other.score() > sign * row.score())
            for other in rows
        )


# ---------------------------------------------------------------------- output


def remove_stale(directory: Path) -> None:
    """Drop an earlier sweep's final files, so that a failed rerun cannot leave them standing."""
    for name in OUTPUT_FILES:
        (directory / name).unlink(missing_ok=True)


def write_sweep(result: SweepResult, directory: Path) -> list[Path]:
    """``sweep.json``, ``sweep.md`` and ``pareto.png``, each written atomically."""
    written = []
    for name, data in (
        ("pareto.png", _pareto_png(result)),
        ("sweep.md", to_markdown(result).encode()),
        ("sweep.json", json.dumps(to_dict(result), indent=2).encode()),
    ):
        path = directory / name
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        written.append(path)
    return written


def to_dict(result: SweepResult) -> dict[str, object]:
    return {
        "format": SWEEP_FORMAT,
        "version": SWEEP_VERSION,
        "complete": True,
        "source": result.source,
        "samples": result.samples,
        "metric": {
            "name": result.metric_name,
            "unit": result.metric_unit,
            "higher_is_better": result.higher_is_better,
        },
        "varied": result.varied,
        "cluster": result.cluster,
        "shards": {"computed": result.computed_shards, "cached": result.cached_shards},
        "points": [
            {
                "settings": row.point.as_dict(),
                "metric": row.metric,
                "agreement": row.agreement.as_dict(),
                "spikes_per_inference": row.spikes,
                "synaptic_ops_per_inference": row.synaptic_ops,
                "energy_per_inference": row.energy.as_dict(),
                "latency_per_inference": row.latency.as_dict(),
                "worker_s_per_sample": row.worker_s_per_sample,
                "pareto": row.pareto,
            }
            for row in result.rows
        ],
    }


def _cells(result: SweepResult) -> tuple[list[str], list[list[str]]]:
    keys = list(result.varied) or ["backend", "precision"]
    unit = f" ({result.metric_unit})" if result.metric_unit else ""
    metric = (
        [] if result.rows and result.rows[0].metric is None else [f"{result.metric_name}{unit}"]
    )
    header = [
        *keys,
        *metric,
        "agreement",
        "rel. error",
        "spikes/inf",
        "synops/inf",
        "energy/inf",
        "latency/inf",
        "worker s/sample",
        "Pareto",
    ]
    rows = []
    for row in result.rows:
        rows.append(
            [
                *[str(getattr(row.point, k)) for k in keys],
                *([f"{row.metric:.4g}"] if metric else []),
                f"{row.share:.4f}",
                f"{row.agreement.relative_error:.2e}",
                f"{row.spikes:.4g}",
                f"{row.synaptic_ops:.4g}",
                f"{si(row.energy.value, row.energy.unit)} ({row.energy.kind[:4]}.)",
                f"{si(row.latency.value, row.latency.unit)} ({row.latency.kind[:4]}.)",
                f"{row.worker_s_per_sample:.3g}",
                "*" if row.pareto else "",
            ]
        )
    return header, rows


def to_markdown(result: SweepResult) -> str:
    header, rows = _cells(result)
    lines = [
        f"# Sweep: {result.source}, {result.samples} samples",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(r) + " |" for r in rows],
        "",
        f"Run on {result.cluster}: {result.computed_shards} shards computed, "
        f"{result.cached_shards} taken from the cache. Figures per inference over the whole "
        "data set, from counts pooled over shards; agreement with the source model: the "
        "share of equal output spikes (of equal decisions, argmax, for a voltage readout); "
        "rel. error: RMS(output - source) / RMS(source); energy and latency are the hardware "
        "model's estimates; worker s/sample is worker time, not wall time.",
        "",
        "![accuracy against energy](pareto.png)",
        "",
    ]
    return "\n".join(lines)


def to_terminal(result: SweepResult) -> str:
    header, rows = _cells(result)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        for cells in [header, *rows]
    )


def _pareto_png(result: SweepResult) -> bytes:
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(7, 4.5))
    ax = fig.subplots()
    x = np.array([r.energy.value for r in result.rows])
    y = np.array([r.score() for r in result.rows])
    front = np.array([r.pareto for r in result.rows])
    ax.scatter(x[~front], y[~front], color="0.6", label="dominated")
    ax.scatter(x[front], y[front], color="C3", label="Pareto front")
    order = np.argsort(x[front])
    ax.plot(x[front][order], y[front][order], color="C3", lw=1)
    for row, xi, yi in zip(result.rows, x, y, strict=True):
        ax.annotate(row.point.label(result.varied), (xi, yi), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")  # fmt: skip
    if len(x) and x.min() > 0 and x.max() / x.min() > 10:
        ax.set_xscale("log")
    has_metric = bool(result.rows) and result.rows[0].metric is not None
    unit = f" ({result.metric_unit})" if result.metric_unit else ""
    ax.set_ylabel(f"{result.metric_name}{unit}" if has_metric else "agreement with source")
    kind = result.rows[0].energy.kind if result.rows else ""
    ax.set_xlabel(f"energy per inference (J, {kind})")
    ax.set_title(f"{result.source}: {result.samples} samples")
    ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


__all__ = [
    "SweepResult",
    "SweepRow",
    "SweepSource",
    "remove_stale",
    "run_sweep",
    "to_markdown",
    "write_sweep",
]
