"""What every framework fixture generator shares: the input, the file layout, the manifest.

Each generator runs in its framework's own virtualenv (the framework cannot be
installed beside spikeforge's pinned stack), builds small networks, writes each with
the framework's own NIR exporter and records the framework's own simulation of it.
It writes, under ``tests/data/frameworks/FRAMEWORK/``:

* ``NAME.nir``: the exporter's file, untouched;
* ``NAME.npz``: ``x`` the input ``[sample, step, ...]`` and ``y`` the framework's
  output ``[sample, step, ...]`` (spike counts), both small unsigned integers;
* ``manifest.json``: per case the setting as the README states it, the ``--from``
  preset and overrides spikeforge reads it with, and the package versions used
  (and ``nir_written_by`` where the ``.nir`` is not the framework's own export:
  SpikingJelly's released wheel has no exporter).

This module imports only numpy and the standard library, so every venv can use it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "frameworks"
SAMPLES, STEPS = 4, 150


@dataclass
class Entry:
    """One fixture: how the README names it and how spikeforge must read it."""

    name: str
    setting: str
    convention: str
    overrides: dict[str, object] = field(default_factory=dict)


def spike_input(seed: int, shape: tuple[int, ...], p: float = 0.3) -> np.ndarray:
    """Random binary spikes ``[SAMPLES, STEPS, *shape]`` (float64)."""
    rng = np.random.default_rng(seed)
    return (rng.random((SAMPLES, STEPS, *shape)) < p).astype(np.float64)


def save_case(framework: str, entry: Entry, x: np.ndarray, y: np.ndarray) -> None:
    """Write the simulation of one case (the generator writes the ``.nir`` itself)."""
    if np.any(y < 0) or np.any(y != np.round(y)) or y.max() > 255:
        raise ValueError(f"{entry.name}: outputs are not small spike counts")
    folder = DATA / framework
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / f"{entry.name}.npz", x=x.astype(np.uint8), y=y.astype(np.uint8))


def write_manifest(
    framework: str,
    entries: list[Entry],
    versions: dict[str, str],
    nir_written_by: str | None = None,
) -> None:
    """``nir_written_by``: who wrote the ``.nir`` files when not the framework's own
    exporter (stated in the manifest as ``nir_written_by``)."""
    folder = DATA / framework
    spec: dict[str, object] = {"framework": framework, "versions": versions}
    if nir_written_by is not None:
        spec["nir_written_by"] = nir_written_by
    spec["cases"] = [asdict(e) for e in entries]
    text = json.dumps(spec, indent=1)
    (folder / "manifest.json").write_text(text + "\n")
