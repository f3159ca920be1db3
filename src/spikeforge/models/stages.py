"""A zoo model measured at every stage of deployment: norse -> reference -> Lava / emulator.

:func:`evaluate` takes the shipped checkpoint through the real pipeline — export to a
NIR *file*, :func:`~spikeforge.ir.nir_import.load_nir` it back, compile (fixed-point
scales calibrated on training inputs) — and runs the held-out set at each stage. Each
row of the resulting :class:`StageTable` has the model's own metrics
(``module.metrics``), agreement with the norse outputs, and per inference the
spikes, synaptic ops, energy and latency:

* **norse** and **reference** are CPU models: spikes and synaptic ops are counted on
  them (NeuroBench style, :mod:`spikeforge.profile.source_stats`), energy is what a
  conventional accelerator spends on the dense ops, latency is the measured CPU
  wall time;
* **lava-*** and **emulator-*** run the Loihi plan: activity is counted per hardware
  step, placed on cores and priced by the hardware model
  (:func:`spikeforge.profile.estimate`); every Loihi 2 figure is an estimate.

norse runs in float64, like the reference, so that the two can be compared exactly.
Agreement is the fraction of output entries within :data:`AGREE_TOLERANCE` (relative
to the largest norse output) of norse's: float64 rounding differs between the two
simulators in the last bits, anything larger is a real difference. For spiking
outputs this is the fraction of equal entries.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from spikeforge.checkpoint import load_checkpoint
from spikeforge.compile import compile_network
from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError
from spikeforge.export import to_nir, write_nir
from spikeforge.ir.nir_import import load_nir
from spikeforge.models.examples import in_float64, run_norse
from spikeforge.models.zoo import ModelCard, get, load_trained
from spikeforge.profile import Figure, estimate, load_hardware, place
from spikeforge.profile.report import si
from spikeforge.profile.source_stats import MAC_ENERGY, network_stats, norse_stats
from spikeforge.profile.stages import count_run, output_agreement
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import calibrate_on

#: Every stage :func:`evaluate` knows, in pipeline order.
STAGES = (
    "norse",
    "reference",
    "lava-float",
    "lava-fixed",
    "emulator-float",
    "emulator-fixed",
)
DEFAULT_STAGES = ("norse", "reference", "lava-float", "lava-fixed", "emulator-fixed")
LABELS = {
    "norse": "norse (source, float64)",
    "reference": "reference (NIR -> IR, float64)",
    "lava-float": "Lava Loihi2SimCfg floating_pt",
    "lava-fixed": "Lava Loihi2SimCfg fixed_pt",
    "emulator-float": "emulator float",
    "emulator-fixed": "emulator fixed_pt (bit-exact Lava model)",
}
AGREE_TOLERANCE = 1e-9
#: Training inputs whose reference run sets the fixed-point scales.
CALIBRATION_SAMPLES = 32


@dataclass
class StageResult:
    """One stage's row; figures are per inference."""

    stage: str
    label: str
    basis: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    agreement: float = float("nan")
    rel_error: float = float("nan")
    spikes: float = float("nan")
    synaptic_ops: float = float("nan")
    energy: Figure | None = None
    latency: Figure | None = None
    wall_s_per_sample: float = float("nan")
    outputs: np.ndarray | None = field(default=None, repr=False)


@dataclass
class StageTable:
    """A zoo model's stages, with the configuration that produced them."""

    card: ModelCard
    config: dict[str, object]
    rows: list[StageResult]

    def row(self, stage: str) -> StageResult:
        for row in self.rows:
            if row.stage == stage:
                return row
        raise KeyError(stage)

    def metric(self, stage: str) -> float:
        """The card's task metric at ``stage``."""
        return self.row(stage).metrics[self.card.metric]

    def cells(self) -> tuple[list[str], list[list[str]]]:
        """Header and formatted rows, shared by the Markdown and terminal renderings."""
        card = self.card
        unit = f" ({card.unit})" if card.unit else ""
        extra = [k for k in _metric_keys(self.rows) if k != card.metric]
        header = [
            "stage",
            f"{card.metric}{unit}",
            "Δ vs norse",
            *extra,
            "agree w/ norse",
            "rel. error",
            "spikes/inf",
            "synops/inf",
            "energy/inf",
            "latency/inf",
            "wall s/sample",
        ]
        base = self._norse_metric()
        rows = []
        for row in self.rows:
            value = row.metrics.get(card.metric, float("nan"))
            rows.append(
                [
                    row.label,
                    _number(value),
                    "" if row.stage == "norse" or base is None else f"{value - base:+.3g}",
                    *[_number(row.metrics.get(k, float("nan"))) for k in extra],
                    f"{row.agreement:.4f}",
                    f"{row.rel_error:.2e}",
                    _number(row.spikes),
                    _number(row.synaptic_ops),
                    _figure(row.energy),
                    _figure(row.latency),
                    f"{row.wall_s_per_sample:.3g}",
                ]
            )
        return header, rows

    def to_markdown(self) -> str:
        header, rows = self.cells()
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in rows]
        return "\n".join([*lines, "", *self._notes()])

    def to_terminal(self) -> str:
        header, rows = self.cells()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            for cells in [header, *rows]
        ]
        title = f"{self.card.name}: {_config_line(self.config)}"
        return "\n".join([title, *lines, *self._notes()])

    def _norse_metric(self) -> float | None:
        for row in self.rows:
            if row.stage == "norse":
                return row.metrics.get(self.card.metric)
        return None

    def _notes(self) -> list[str]:
        return [
            *[f"energy/latency of {line}" for line in _bases(self.rows)],
            f"agreement: output entries within {AGREE_TOLERANCE:g} x max|norse output| "
            "of norse's; rel. error: RMS(output - norse) / RMS(norse)",
        ]


def parse_stage(stage: str) -> tuple[str, str | None]:
    """``"lava-fixed"`` -> ``("lava", "fixed")``; unknown names list the known ones."""
    if stage not in STAGES:
        raise SpikeforgeError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    backend, _, precision = stage.partition("-")
    return backend, precision or None


def evaluate(
    name: str,
    stages: Sequence[str] = DEFAULT_STAGES,
    n: int = 100,
    seed: int = 0,
    weight_planes: int = 2,
    calibration_samples: int = CALIBRATION_SAMPLES,
    hardware: str | Path = "loihi2",
    checkpoint: str | Path | None = None,
    show_progress: bool = True,
) -> StageTable:
    """Measure zoo model ``name`` on ``n`` held-out samples at each of ``stages``.

    ``checkpoint`` replaces the shipped one (e.g. after ``spikeforge train NAME -o``).
    The emulator runs on its default device (CUDA when available).
    """
    model = get(name)
    card: ModelCard = model.CARD
    for stage in stages:
        parse_stage(stage)
    module = in_float64(load_trained(name) if checkpoint is None else load_checkpoint(checkpoint))
    data = model.make_data("test", n, seed=seed)
    calibration = model.make_data("train", calibration_samples, seed=seed).inputs
    compiled = export_and_compile(module, card, calibration, weight_planes)
    target = load_hardware(hardware)
    inputs = np.asarray(data.inputs, dtype=np.float64)
    norse_out = run_norse(module, torch.as_tensor(inputs)).numpy()
    config = {
        "n": len(data),
        "steps": int(inputs.shape[1]),
        "dt": card.dt,
        "seed": seed,
        "calibration_samples": calibration_samples,
        "weight_planes": weight_planes,
        "hardware": target.name,
        "stages": list(stages),
    }
    rows = []
    for stage in stages:
        backend, precision = parse_stage(stage)
        if stage == "norse":
            row = _norse_row(module, inputs, norse_out)
        elif stage == "reference":
            row = _reference_row(compiled, inputs)
        else:
            row = _hardware_row(stage, compiled, inputs, target, backend, precision, show_progress)
        row.metrics = dict(model.metrics(row.outputs, data))
        row.agreement, row.rel_error = output_agreement(row.outputs, norse_out, AGREE_TOLERANCE)
        rows.append(row)
    return StageTable(card=card, config=config, rows=rows)


def export_and_compile(
    module: torch.nn.Module, card: ModelCard, calibration: np.ndarray, weight_planes: int = 2
) -> CompiledNet:
    """Export to a real NIR file and read it back, as a user's pipeline would; then compile
    with fixed-point scales calibrated on ``calibration`` inputs."""
    graph = to_nir(module, torch.zeros(card.input_shape, dtype=torch.float64), dt=card.dt)
    with tempfile.TemporaryDirectory(prefix="spikeforge-zoo-") as tmp:
        path = Path(tmp) / f"{card.name}.nir"
        write_nir(graph, path)
        ir = load_nir(path)
    return compile_network(ir, weight_planes=weight_planes, calibration=calibrate_on(calibration))


def _norse_row(module: torch.nn.Module, inputs: np.ndarray, outputs: np.ndarray) -> StageResult:
    stats = norse_stats(module, inputs)
    return _cpu_row("norse", stats, outputs)


def _reference_row(compiled: CompiledNet, inputs: np.ndarray) -> StageResult:
    network = compiled.network
    spiking = [n for n, p in network.populations.items() if p.spiking]
    run(compiled, inputs[:1, :2], backend="reference")  # warm-up: torch's lazy initialisation
    start = time.perf_counter()
    result = run(compiled, inputs, backend="reference", record=spiking)
    wall = time.perf_counter() - start
    flat = {n: a.reshape(*a.shape[:2], -1) for n, a in result.spikes.items()}
    flat[next(iter(network.inputs))] = inputs.reshape(*inputs.shape[:2], -1)
    return _cpu_row("reference", network_stats(network, flat, wall), result.output)


def _cpu_row(stage: str, stats, outputs: np.ndarray) -> StageResult:
    return StageResult(
        stage=stage,
        label=LABELS[stage],
        basis=f"CPU wall time; dense ops x {si(MAC_ENERGY.value, 'J')}/MAC "
        f"({MAC_ENERGY.kind}, {MAC_ENERGY.source})",
        spikes=stats.spikes,
        synaptic_ops=stats.synaptic_ops,
        energy=Figure(stats.conventional_energy_j, "J", MAC_ENERGY.kind),
        latency=Figure(stats.wall_s_per_sample, "s", "measured"),
        wall_s_per_sample=stats.wall_s_per_sample,
        outputs=outputs,
    )


def _hardware_row(
    stage: str,
    compiled: CompiledNet,
    inputs: np.ndarray,
    hardware,
    backend: str,
    precision: str,
    show_progress: bool,
) -> StageResult:
    plan = compiled.plan(precision)
    placement = place(plan, hardware)
    name = next(iter(compiled.network.inputs))
    start = time.perf_counter()
    activity, result = count_run(
        compiled, {name: inputs}, placement, backend, precision, show_progress=show_progress
    )
    wall = time.perf_counter() - start
    cost = estimate(activity, placement, hardware)
    return StageResult(
        stage=stage,
        label=LABELS[stage],
        basis=f"activity counted on {backend}, priced by the {hardware.name} model "
        f"on {len(placement.cores)} core{'s' if len(placement.cores) != 1 else ''}",
        spikes=sum(activity.per_inference(p)["spikes"] for p in plan.populations),
        synaptic_ops=activity.total("synaptic_ops"),
        energy=cost.energy["total"],
        latency=cost.latency["per_inference"],
        wall_s_per_sample=wall / len(inputs),
        outputs=result.output,
    )


def _metric_keys(rows: list[StageResult]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row.metrics if k not in keys]
    return keys


def _bases(rows: list[StageResult]) -> list[str]:
    """``"stage, stage: basis"``, one entry per distinct basis."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        if row.basis:
            groups.setdefault(row.basis, []).append(row.stage)
    return [f"{', '.join(stages)}: {basis}" for basis, stages in groups.items()]


def _number(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3g}"


def _figure(figure: Figure | None) -> str:
    if figure is None:
        return "n/a"
    return f"{si(figure.value, figure.unit)} ({figure.kind[:4]}.)"


def _config_line(config: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if k != "stages")
