"""``write_nir``: write a NIR graph so that the file is complete or absent.

``nir.write`` (nir 1.0.8) stores ``NIRGraph.metadata`` as an HDF5 group
``node/metadata`` and ``nir.read`` restores it, so ``dt`` needs no side channel.
Values come back as numpy scalars (``dt`` as ``numpy.float64``) and strings as
``str``; use ``float(graph.metadata["dt"])`` after reading.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import nir
import torch

from spikeforge.atomic import atomic_path
from spikeforge.errors import SpikeforgeError


def write_nir(graph: nir.NIRGraph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` to ``path`` with ``nir.write``, atomically; return the path.

    The graph is checked first (torch tensors make ``nir.write`` fail half-way), then
    written to a temporary file beside ``path`` that replaces ``path`` only on success,
    so a failed write leaves any previous file untouched and no partial file behind.

    Raises:
        SpikeforgeError: if the graph holds something NIR cannot store (naming the node
            and field) or the file cannot be written.
    """
    if not isinstance(graph, nir.NIRGraph):
        raise SpikeforgeError(f"write_nir needs a nir.NIRGraph, got {type(graph).__name__}")
    _check_storable(graph, prefix="")
    target = Path(path)
    try:
        with atomic_path(target) as tmp:
            nir.write(tmp, graph)
    except Exception as exc:
        raise SpikeforgeError(f"cannot write NIR graph to {target}: {exc}") from exc
    return target


def _check_storable(graph: nir.NIRGraph, prefix: str) -> None:
    _check_value(graph.metadata, f"graph '{prefix or '<root>'}' metadata")
    for name, node in graph.nodes.items():
        label = f"node '{prefix}{name}' ({type(node).__name__})"
        if isinstance(node, nir.NIRGraph):
            _check_storable(node, prefix=f"{prefix}{name}.")
            continue
        for spec in dataclasses.fields(node):
            if spec.name not in ("input_type", "output_type"):
                _check_value(getattr(node, spec.name), f"{label} field '{spec.name}'")


def _check_value(value: Any, where: str) -> None:
    if isinstance(value, torch.Tensor):
        raise SpikeforgeError(
            f"{where} is a torch.Tensor; NIR files need numpy arrays (use .detach().numpy())"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_value(item, f"{where}[{key!r}]")
