"""The seed model zoo: one deployable model per seed paper, behind one contract.

Every zoo model is a module ``spikeforge.models.<name>`` that provides:

* ``CARD: ModelCard`` — name, paper, one-line description, the task metric;
* ``build(**kwargs) -> torch.nn.Module`` — the untrained norse network. It steps one
  time step at a time, ``out, state = module(x_t, state)`` with ``x_t`` of shape
  ``[batch, *CARD.input_shape]`` (the same calling convention as
  :func:`spikeforge.models.examples.run_norse`), and exports through
  :func:`spikeforge.export.to_nir`. Its timing is Loihi-compatible by construction
  where the paper allows, so deployment is exact rather than approximate;
* ``make_data(split, n, seed=0) -> Dataset`` — deterministic synthetic (or
  PyPI-shipped) data; ``split`` is ``"train"`` or ``"test"``, and the two never
  share samples; inputs are 0/1 spikes ``[n, time, *input_shape]`` (Loihi takes spikes);
* ``train(show_progress=True, seed=0) -> torch.nn.Module`` — surrogate-gradient BPTT
  in norse (or the paper's analytic construction), a few minutes on a 2-core CPU; the
  module has ``build()``'s default architecture, so :func:`save_trained` can store it
  with the recipe ``build()``;
* ``metrics(outputs, data) -> dict[str, float]`` — from the network's outputs
  ``[n, time, *output_shape]`` (any backend, aligned to source time); the first key is
  ``CARD.metric``.

The trained weights ship as ``checkpoints/<name>.pt`` (written with
:func:`spikeforge.checkpoint.save_checkpoint`, factory ``spikeforge.models.<name>:build``),
so compiling and running a zoo model never needs training first.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from spikeforge.checkpoint import load_checkpoint, save_checkpoint
from spikeforge.errors import SpikeforgeError

CHECKPOINTS = Path(__file__).parent / "checkpoints"

#: name -> module, in the order ``spikeforge models`` lists them.
ZOO: dict[str, str] = {
    "digits_csnn": "spikeforge.models.digits_csnn",
    "lowrank_ei": "spikeforge.models.lowrank_ei",
    "covariance_direction": "spikeforge.models.covariance_direction",
    "motor_srnn": "spikeforge.models.motor_srnn",
    "poisson_vae": "spikeforge.models.poisson_vae",
    "dae_nr": "spikeforge.models.dae_nr",
}


@dataclass(frozen=True)
class ModelCard:
    """What a zoo model is and how it is judged."""

    name: str
    paper: str
    description: str
    metric: str
    higher_is_better: bool
    dt: float
    input_shape: tuple[int, ...]
    #: Unit of the metric as printed (e.g. ``"%"``, ``"deg"``); empty when dimensionless.
    unit: str = ""


@dataclass
class Dataset:
    """Inputs ``[n, time, *input_shape]`` (0/1 spikes) and whatever targets the metric needs."""

    inputs: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, n: int) -> Dataset:
        return Dataset(self.inputs[:n], self.targets[:n])


def get(name: str) -> ModuleType:
    """The zoo model's module; an unknown name lists the zoo."""
    if name not in ZOO:
        raise SpikeforgeError(f"no zoo model {name!r} (the zoo: {', '.join(ZOO)})")
    return importlib.import_module(ZOO[name])


def checkpoint_path(name: str) -> Path:
    return CHECKPOINTS / f"{name}.pt"


def load_trained(name: str) -> torch.nn.Module:
    """The shipped trained network (``spikeforge train NAME`` rewrites it)."""
    get(name)
    path = checkpoint_path(name)
    if not path.is_file():
        raise SpikeforgeError(
            f"zoo model {name!r} has no trained checkpoint at {path}; run `spikeforge train {name}`"
        )
    return load_checkpoint(path)


def save_trained(name: str, module: torch.nn.Module, path: str | Path | None = None) -> Path:
    """Write ``module`` (from ``train``) as a checkpoint, atomically; default: the shipped one."""
    get(name)
    target = checkpoint_path(name) if path is None else Path(path)
    save_checkpoint(module, f"{ZOO[name]}:build", {}, target)
    return target
