"""Compiler passes: normalise, schedule, lower, quantise; and the compiled-network file."""

from __future__ import annotations

from pathlib import Path

from spikeforge.compile.compiled import CompiledNet, compile_network, load, save
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
    **compile_options: object,
) -> CompiledNet:
    """A ``.sfnet`` is loaded as is; a netx ``.net`` or anything else (NIR) is compiled."""
    path = Path(path)
    if path.suffix == SFNET_SUFFIX:
        return load(path)
    if path.suffix == NETX_SUFFIX:
        if (cuba_order, reset) != ("new", "to_value"):
            raise SpikeforgeError(
                f"{path}: --cuba-order and --reset apply to NIR graphs; a netx file fixes both"
            )
        source = load_netx(path, dt=dt)
    else:
        source = load_nir(path, dt=dt, cuba_order=cuba_order, reset=reset)
    try:
        return compile_network(source, **compile_options)
    except SpikeforgeError as exc:  # compile errors name the population; add the file
        raise type(exc)(f"{path}: {exc}") from exc


__all__ = ["CompiledNet", "compile_network", "load", "load_or_compile", "save"]
