"""A zoo model measured at every stage of deployment: norse -> reference -> Lava / emulator.

:func:`evaluate` is the real pipeline plus the model's own metric: export the shipped
checkpoint to a NIR *file*, :func:`~spikeforge.ir.nir_import.load_nir` it back,
compile (fixed-point scales calibrated on training inputs), measure the held-out set
at each stage with the profiler's one engine (:func:`spikeforge.profile.stages.measure`:
agreement with norse, spikes, synaptic ops, energy, latency), and add to each row
the model's task metrics (``module.metrics``). norse runs in float64, like the
reference, so that the two can be compared exactly.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spikeforge.checkpoint import load_checkpoint
from spikeforge.compile import compile_network
from spikeforge.compile.compiled import CompiledNet
from spikeforge.export import to_nir, write_nir
from spikeforge.ir.nir_import import load_nir
from spikeforge.loihi_format import DECAY_SHIFT
from spikeforge.models.zoo import ModelCard, get, load_trained
from spikeforge.profile.hardware import load_hardware
from spikeforge.profile.render import Table, to_markdown, to_terminal
from spikeforge.profile.report import stage_table
from spikeforge.profile.stages import HardwareRunner, StageRow, measure, parse_stage
from spikeforge.runtimes.norse import in_float64
from spikeforge.runtimes.reference import calibrate_on

DEFAULT_STAGES = ("norse", "reference", "lava-float", "lava-fixed", "emulator-fixed")
#: Training inputs whose reference run sets the fixed-point scales.
CALIBRATION_SAMPLES = 32


@dataclass
class Config:
    """What produced a :class:`StageTable`."""

    n: int
    steps: int
    dt: float
    seed: int
    calibration_samples: int
    weight_planes: int
    hardware: str
    stages: tuple[str, ...]

    def line(self) -> str:
        shown = {k: v for k, v in vars(self).items() if k != "stages"}
        return ", ".join(f"{k}={v}" for k, v in shown.items())


@dataclass
class StageTable:
    """A zoo model's stages, with the configuration that produced them."""

    card: ModelCard
    config: Config
    rows: list[StageRow]

    def row(self, stage: str) -> StageRow:
        for row in self.rows:
            if row.stage == stage:
                return row
        raise KeyError(stage)

    def metric(self, stage: str) -> float:
        """The card's task metric at ``stage``."""
        return self.row(stage).metrics[self.card.metric]

    def table(self, title: str = "") -> Table:
        return stage_table(self.rows, title=title, metric=self.card.metric, unit=self.card.unit)

    def to_markdown(self) -> str:
        return to_markdown(self.table())

    def to_terminal(self) -> str:
        return to_terminal(self.table(title=f"{self.card.name}: {self.config.line()}"))


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
    hardware_runner: HardwareRunner | None = None,
) -> StageTable:
    """Measure zoo model ``name`` on ``n`` held-out samples at each of ``stages``.

    ``checkpoint`` replaces the shipped one (e.g. after ``spikeforge train NAME -o``).
    The emulator runs on its default device (CUDA when available). ``hardware_runner``
    (cluster seam): see :func:`spikeforge.profile.stages.measure`.
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
    profile = measure(
        compiled, inputs, target, stages, module=module, show_progress=show_progress,
        hardware_runner=hardware_runner,
    )  # fmt: skip
    for row in profile.rows:
        row.metrics = dict(model.metrics(row.output, data))
    config = Config(
        n=len(data),
        steps=int(inputs.shape[1]),
        dt=card.dt,
        seed=seed,
        calibration_samples=calibration_samples,
        weight_planes=weight_planes,
        hardware=target.name,
        stages=tuple(stages),
    )
    return StageTable(card=card, config=config, rows=profile.rows)


def export_and_compile(
    module: torch.nn.Module,
    card: ModelCard,
    calibration: np.ndarray,
    weight_planes: int = 2,
    decay_bits: int = DECAY_SHIFT,
) -> CompiledNet:
    """Export to a real NIR file and read it back, as a user's pipeline would; then compile
    with fixed-point scales calibrated on ``calibration`` inputs."""
    graph = to_nir(module, torch.zeros(card.input_shape, dtype=torch.float64), dt=card.dt)
    with tempfile.TemporaryDirectory(prefix="spikeforge-zoo-") as tmp:
        path = Path(tmp) / f"{card.name}.nir"
        write_nir(graph, path)
        ir = load_nir(path)
    return compile_network(
        ir, weight_planes=weight_planes, calibration=calibrate_on(calibration),
        decay_bits=decay_bits,
    )  # fmt: skip
