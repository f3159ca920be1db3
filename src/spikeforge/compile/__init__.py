"""Compiler passes: normalise, schedule, lower, quantise; and the compiled-network file."""

from __future__ import annotations

from pathlib import Path

from spikeforge.compile.compiled import CompiledNet, compile_network, load, save
from spikeforge.compile.network import Network, normalize
from spikeforge.compile.netx_plan import NetxOptions, load_netx_plan
from spikeforge.errors import SpikeforgeError
from spikeforge.filekind import check_network_file
from spikeforge.ir.conventions import Conventions
from spikeforge.ir.netx_import import NETX_SUFFIX, load_netx
from spikeforge.ir.nir_import import CubaOrder, load_nir
from spikeforge.ir.nodes import Graph, ResetMode
from spikeforge.loihi_format import DECAY_SHIFT

SFNET_SUFFIX = ".sfnet"


def load_or_compile(
    path: str | Path,
    dt: float | None = None,
    cuba_order: CubaOrder | None = None,
    reset: ResetMode | None = None,
    convention: Conventions | str | None = None,
    overrides: dict[str, object] | None = None,
    netx: NetxOptions | None = None,
    **compile_options: object,
) -> CompiledNet:
    """A ``.sfnet`` is loaded as is; a netx ``.net`` or anything else (NIR) is compiled.

    ``convention`` (a framework preset) and ``overrides`` (single convention fields)
    say how a NIR graph is discretised (:mod:`spikeforge.ir.conventions`). A netx
    file at ``precision="fixed"`` (the default) is netx's own fixed-point plan
    (:mod:`spikeforge.compile.netx_plan`, options ``netx``); at ``"float"`` it is
    imported as a graph and compiled like NIR, the file's integers read as reals.
    """
    path = Path(path)
    check_network_file(path)
    netx_options = netx is not None and netx != NetxOptions()
    if path.suffix == SFNET_SUFFIX:
        if netx_options:
            raise SpikeforgeError(f"{path}: --reset-interval/--reset-offset apply to netx files")
        return load(path)
    if path.suffix == NETX_SUFFIX and compile_options.get("precision", "fixed") == "fixed":
        _refuse_conventions(path, cuba_order, reset, convention, overrides)
        if compile_options.get("calibration") is not None:
            raise SpikeforgeError(
                f"{path}: --calibrate: a netx file is already fixed point, nothing to calibrate"
            )
        if compile_options.get("decay_bits", DECAY_SHIFT) != DECAY_SHIFT:
            raise SpikeforgeError(
                f"{path}: --decay-bits: a netx file's decays are its own {DECAY_SHIFT}-bit "
                "integers (--precision float reads them as reals)"
            )
        return load_netx_plan(path, netx)
    if netx_options:
        raise SpikeforgeError(
            f"{path}: --reset-interval/--reset-offset apply to a netx file's fixed-point plan"
            + (", not to --precision float" if path.suffix == NETX_SUFFIX else "")
        )
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
        _refuse_conventions(path, cuba_order, reset, convention, overrides)
        return load_netx(path, dt=dt)
    return load_nir(
        path, dt=dt, cuba_order=cuba_order, reset=reset, convention=convention, **(overrides or {})
    )


def _refuse_conventions(
    path: Path,
    cuba_order: CubaOrder | None,
    reset: ResetMode | None,
    convention: Conventions | str | None,
    overrides: dict[str, object] | None,
) -> None:
    if (cuba_order, reset, convention) != (None, None, None) or overrides:
        raise SpikeforgeError(
            f"{path}: --from, --cuba-order, --reset and the other convention options apply "
            "to NIR graphs; a netx file fixes both the reset and the order"
        )


def load_network(path: str | Path, **import_options: object) -> Network:
    """A graph normalised for the reference simulator: nothing Loihi cannot do is refused."""
    return normalize(load_graph(path, **import_options))


__all__ = [
    "CompiledNet",
    "NetxOptions",
    "compile_network",
    "load",
    "load_graph",
    "load_network",
    "load_or_compile",
    "save",
]
