"""Compiler passes: normalise, schedule, lower, quantise; and the compiled-network file."""

from __future__ import annotations

from pathlib import Path

from spikeforge.compile.compiled import CompiledNet, compile_network, load, save
from spikeforge.compile.netx_plan import NetxOptions, load_netx_plan
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.netx_import import NETX_SUFFIX, load_netx
from spikeforge.ir.nir_import import CubaOrder, load_nir
from spikeforge.ir.nodes import ResetMode

SFNET_SUFFIX = ".sfnet"


def load_or_compile(
    path: str | Path,
    dt: float | None = None,
    cuba_order: CubaOrder = "new",
    reset: ResetMode = "to_value",
    netx: NetxOptions | None = None,
    **compile_options: object,
) -> CompiledNet:
    """A ``.sfnet`` is loaded as is; a netx ``.net`` or anything else (NIR) is compiled.

    A netx file at ``precision="fixed"`` (the default) is netx's own fixed-point plan
    (:mod:`spikeforge.compile.netx_plan`, options ``netx``); at ``"float"`` it is
    imported as a graph and compiled like NIR, the file's integers read as reals.
    """
    path = Path(path)
    netx_options = netx is not None and netx != NetxOptions()
    if path.suffix == NETX_SUFFIX:
        if (cuba_order, reset) != ("new", "to_value"):
            raise SpikeforgeError(
                f"{path}: --cuba-order and --reset apply to NIR graphs; a netx file fixes both"
            )
        if compile_options.get("precision", "fixed") == "fixed":
            if compile_options.get("calibration") is not None:
                raise SpikeforgeError(
                    f"{path}: --calibrate: a netx file is already fixed point, nothing to calibrate"
                )
            return load_netx_plan(path, netx)
        if netx_options:
            raise SpikeforgeError(
                f"{path}: --reset-interval/--reset-offset apply to the fixed-point netx plan, "
                "not to --precision float"
            )
        return compile_network(load_netx(path, dt=dt), **compile_options)
    if netx_options:
        raise SpikeforgeError(f"{path}: --reset-interval/--reset-offset apply to netx files")
    if path.suffix == SFNET_SUFFIX:
        return load(path)
    graph = load_nir(path, dt=dt, cuba_order=cuba_order, reset=reset)
    return compile_network(graph, **compile_options)


__all__ = ["CompiledNet", "NetxOptions", "compile_network", "load", "load_or_compile", "save"]
