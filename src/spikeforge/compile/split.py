"""Split populations with per-neuron time constants into parts of equal decays.

Lava's ``LIF`` (and the chip's neuron group) takes one ``du`` and one ``dv`` per
process, but snnTorch (a ``beta`` per neuron), Rockpool (``tau_mem``/``tau_syn``
per neuron) and Spyx (a ``beta`` per neuron by default) train one per neuron.
Neurons of a population do not interact within it, so a population is exactly
the union of its neurons split into any parts: each run of consecutive neurons
with the same ``(du, dv)`` becomes its own population (``NAME#k``), every
connection is cut into the blocks between parts (rows where the part receives,
columns where it sends), and readouts read the parts' columns. Runs of
*consecutive* neurons keep the parts in neuron order, so recordings are
reassembled by concatenation (:class:`~spikeforge.compile.network.Split`).

Each part is a Lava process and a neuron group on a core, so the number of parts
per population is capped (:data:`MAX_PARTS`) and a population beyond it refused
with the count named.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from spikeforge.compile.convolution import ConvConnection
from spikeforge.compile.network import Connection, Network, Population, Readout, Split
from spikeforge.errors import UnsupportedError
from spikeforge.ir.weights import Weights, compact, nonzeros

#: Most parts one population is split into: each costs a Lava process, a neuron
#: group on a core and a synapse process per connection block.
MAX_PARTS = 32
#: Separates a source population's name from its part's index.
PART_SEPARATOR = "#"


def split_decays(network: Network, max_parts: int = MAX_PARTS) -> Network:
    """``network`` with each population of non-uniform ``(du, dv)`` split (module docstring)."""
    runs = {name: _runs(pop) for name, pop in network.populations.items()}
    runs = {name: bounds for name, bounds in runs.items() if len(bounds) > 1}
    if not runs:
        return network
    for name, bounds in runs.items():
        if len(bounds) > max_parts:
            pop = network.populations[name]
            raise UnsupportedError(
                f"population '{name}' ({pop.kind}): {len(bounds)} different time constants "
                f"(du, dv) in consecutive neurons would need {len(bounds)} Lava LIF processes "
                f"(one neuron group each), more than the {max_parts} allowed; Lava's LIF takes "
                "one du/dv per process. Share time constants within groups of neurons, or use "
                "the reference backend"
            )
    pieces = {name: _pieces(name, bounds) for name, bounds in runs.items()}
    populations: dict[str, Population] = {}
    for name, pop in network.populations.items():
        for part, rows in pieces.get(name, [(name, slice(None))]):
            populations[part] = pop if part == name else _part(pop, part, rows)
    # A convolution between unsplit populations stays one; one into or out of a split
    # population is cut into dense blocks like any matrix.
    connections = [
        conn
        if isinstance(conn, ConvConnection) and not {conn.pre, conn.post} & pieces.keys()
        else Connection(pre, post, block, conn.delay)
        for conn in network.connections
        for pre, post, block in _blocks(conn, pieces)
        if nonzeros(block)
    ]
    readouts = {
        name: Readout(name, readout.shape, _split_terms(readout, pieces), readout.bias)
        for name, readout in network.readouts.items()
    }
    splits = dict(network.splits)
    for name, parts in pieces.items():
        splits[name] = Split(network.populations[name].shape, [part for part, _ in parts])
    return dataclasses.replace(
        network,
        populations=populations,
        connections=connections,
        readouts=readouts,
        splits=splits,
    )


def _split_terms(readout: Readout, pieces: dict[str, list[tuple[str, slice]]]) -> list[Connection]:
    """A readout's terms, one per part of a split source (all kept: the host sums them)."""
    return [
        Connection(pre, readout.name, block, term.delay)
        for term in readout.terms
        for pre, _, block in _blocks(term, pieces)
    ]


def _runs(pop: Population) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of consecutive neurons with equal ``(du, dv)``."""
    change = (pop.du[1:] != pop.du[:-1]) | (pop.dv[1:] != pop.dv[:-1])
    edges = [0, *(np.flatnonzero(change) + 1).tolist(), pop.size]
    return list(itertools.pairwise(edges))


def _pieces(name: str, bounds: list[tuple[int, int]]) -> list[tuple[str, slice]]:
    return [(f"{name}{PART_SEPARATOR}{k}", slice(a, b)) for k, (a, b) in enumerate(bounds)]


def _part(pop: Population, name: str, rows: slice) -> Population:
    """The neurons ``rows`` of ``pop`` as a population of their own."""
    size = rows.stop - rows.start

    def cut(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[rows].copy()

    return dataclasses.replace(
        pop,
        name=name,
        shape=(size,),
        du=cut(pop.du),
        dv=cut(pop.dv),
        v_bias=cut(pop.v_bias),
        current_bias=cut(pop.current_bias),
        v_th=cut(pop.v_th),
        v_reset=cut(pop.v_reset),
        v_init=cut(pop.v_init),
    )


def _blocks(
    conn: Connection | ConvConnection, pieces: dict[str, list[tuple[str, slice]]]
) -> list[tuple[str, str, Weights]]:
    """``conn``'s weight cut into (pre part, post part, block) by both ends' parts."""
    whole = [(conn.post, slice(None))]
    return [
        (pre, post, compact(conn.weight[rows, cols]))
        for post, rows in pieces.get(conn.post, whole)
        for pre, cols in pieces.get(conn.pre, [(conn.pre, slice(None))])
    ]
