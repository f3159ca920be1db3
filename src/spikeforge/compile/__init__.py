"""Compiler passes: normalise, schedule, lower, quantise; and the compiled-network file."""

from __future__ import annotations

from pathlib import Path

from spikeforge.compile.compiled import CompiledNet, compile_network, load, save
from spikeforge.ir.nir_import import CubaOrder, load_nir
from spikeforge.ir.nodes import ResetMode

SFNET_SUFFIX = ".sfnet"


def load_or_compile(
    path: str | Path,
    dt: float | None = None,
    cuba_order: CubaOrder = "new",
    reset: ResetMode = "to_value",
    **compile_options: object,
) -> CompiledNet:
    """A ``.sfnet`` is loaded as is; anything else is read as NIR and compiled."""
    path = Path(path)
    if path.suffix == SFNET_SUFFIX:
        return load(path)
    graph = load_nir(path, dt=dt, cuba_order=cuba_order, reset=reset)
    return compile_network(graph, **compile_options)


__all__ = ["CompiledNet", "compile_network", "load", "load_or_compile", "save"]
