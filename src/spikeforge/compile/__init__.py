"""Compiler passes: normalise, schedule, lower, quantise; and the compiled-network file."""

from __future__ import annotations

from pathlib import Path

from spikeforge.compile.compiled import CompiledNet, compile_network, load, save
from spikeforge.compile.network import Network, normalize
from spikeforge.errors import SpikeforgeError
from spikeforge.filekind import check_network_file
from spikeforge.ir.conventions import Conventions
from spikeforge.ir.netx_import import NETX_SUFFIX, load_netx
from spikeforge.ir.nir_import import CubaOrder, load_nir
from spikeforge.ir.nodes import Graph, ResetMode

SFNET_SUFFIX = ".sfnet"


def load_or_compile(
    path: str | Path,
    dt: float | None = None,
    cuba_order: CubaOrder | None = None,
    reset: ResetMode | None = None,
    convention: Conventions | str | None = None,
    overrides: dict[str, object] | None = None,
    **compile_options: object,
) -> CompiledNet:
    """A ``.sfnet`` is loaded as is; a netx ``.net`` or anything else (NIR) is compiled.

    ``convention`` (a framework preset) and ``overrides`` (single convention fields)
    say how a NIR graph is discretised (:mod:`spikeforge.ir.conventions`).
    """
    path = Path(path)
    check_network_file(path)
    if path.suffix == SFNET_SUFFIX:
        return load(path)
    graph = load_graph(path, dt, cuba_order, reset, convention, overrides)
    try:
        return compile_network(graph, **compile_options)
    except SpikeforgeError as exc:  # compile errors name the population; add the file
        raise type(exc)(f"{path}: {exc}") from exc


def load_graph(
    path: str | Path,
    dt: float | None = None,
    cuba_order: CubaOrder | None = None,
    reset: ResetMode | None = None,
    convention: Conventions | str | None = None,
    overrides: dict[str, object] | None = None,
) -> Graph:
    """A netx ``.net`` or NIR file as an IR graph, without compiling it for Loihi."""
    path = Path(path)
    check_network_file(path)
    if path.suffix == SFNET_SUFFIX:
        raise SpikeforgeError(f"{path} is compiled; a graph is a NIR or netx file")
    if path.suffix == NETX_SUFFIX:
        if (cuba_order, reset, convention) != (None, None, None) or overrides:
            raise SpikeforgeError(
                f"{path}: --from, --cuba-order, --reset and the other convention options apply "
                "to NIR graphs; a netx file fixes both the reset and the order"
            )
        return load_netx(path, dt=dt)
    return load_nir(
        path, dt=dt, cuba_order=cuba_order, reset=reset, convention=convention, **(overrides or {})
    )


def load_network(path: str | Path, **import_options: object) -> Network:
    """A graph normalised for the reference simulator: nothing Loihi cannot do is refused."""
    return normalize(load_graph(path, **import_options))


__all__ = [
    "CompiledNet",
    "compile_network",
    "load",
    "load_graph",
    "load_network",
    "load_or_compile",
    "save",
]
