"""Reproduce source timing on Loihi, where every synapse adds one step.

A Lava ``Dense`` delivers at step t+1 what it received at step t, so a population
``k`` synapses from the input runs ``k`` steps behind the source model. We give
every population a *latency* ``L`` (hardware step = source step + L) and every
connection an extra delay so that, for a source delay ``d``::

    extra = d + L(post) - L(pre) - 1  >= 0

Latencies are the longest paths under edge weight ``1 - d`` (Bellman-Ford), which
makes every compensating delay as small as possible where paths of different
length meet. A cycle whose source delay is shorter than its length (a zero-delay
edge inside a loop) has no solution: it is refused unless the caller accepts the
divergence, in which case those edges run one step late and are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from spikeforge.compile.network import Network
from spikeforge.errors import SpikeforgeError, TimingError

#: Loihi 2 synapses delay by 0..63 steps beyond the inherent one (6-bit field).
MAX_EXTRA_DELAY = 63
BIAS_SOURCE = "__bias__"
#: Prefix of the always-spiking neurons that make a fixed-point synapse process round.
PACEMAKER = "__pacemaker__"


@dataclass
class Timing:
    """Latency of every population and the extra hardware delay of every connection.

    ``extra_delay[i]`` belongs to ``network.connections[i]``; ``late`` lists the
    connections (as indices) that run one step later than the source model.
    """

    latency: dict[str, int]
    extra_delay: list[int]
    late: list[int] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not self.late

    def bias_extra_delay(self, network: Network, population: str) -> int:
        """Extra delay of the always-on bias source (latency 0) into ``population``."""
        onset = network.populations[population].bias_onset
        return onset + self.latency[population] - 1


def schedule(network: Network, allow_divergence: bool = False) -> Timing:
    """Latencies and compensating delays for ``network`` (see the module docstring)."""
    late: set[int] = set()
    latency = _latencies(network, [c.delay for c in network.connections])
    if latency is None and allow_divergence:
        late = _late_connections(network)
        effective = [c.delay + (i in late) for i, c in enumerate(network.connections)]
        latency = _latencies(network, effective)
    if latency is None:
        cycle = _offending_cycle(network)
        raise TimingError(
            f"source timing cannot be reproduced on Loihi: the loop {' -> '.join(cycle)} "
            "contains a zero-delay (feed-forward) connection, but every Loihi synapse takes "
            "at least one step; pass --allow-timing-divergence (allow_divergence=True) to "
            "compile it with those connections one step late"
        )
    effective = [c.delay + (i in late) for i, c in enumerate(network.connections)]
    extra = []
    for conn, delay in zip(network.connections, effective, strict=True):
        value = delay + latency[conn.post] - latency[conn.pre] - 1
        if value > MAX_EXTRA_DELAY:
            raise SpikeforgeError(
                f"connection {conn.pre} -> {conn.post} needs a delay of {value} steps; "
                f"Loihi synapses allow at most {MAX_EXTRA_DELAY} "
                f"(exceeded by {value - MAX_EXTRA_DELAY})"
            )
        extra.append(value)
    timing = Timing(latency=latency, extra_delay=extra, late=sorted(late))
    for name, pop in network.populations.items():
        if pop.current_bias.any() and timing.bias_extra_delay(network, name) > MAX_EXTRA_DELAY:
            raise SpikeforgeError(
                f"population '{name}' sits {timing.latency[name]} steps deep; its bias source "
                f"would need a delay beyond {MAX_EXTRA_DELAY} steps"
            )
    return timing


def _latencies(network: Network, delays: list[int]) -> dict[str, int] | None:
    """Longest-path latencies under weights ``1 - delay``; None if a loop makes them unbounded."""
    latency = {name: 0 for name in network.inputs}
    latency.update({name: 1 for name in network.populations})
    for _ in range(len(network.populations) + 1):
        changed = False
        for conn, delay in zip(network.connections, delays, strict=True):
            need = latency[conn.pre] + 1 - delay
            if need > latency[conn.post]:
                latency[conn.post] = need
                changed = True
        if not changed:
            return latency
    return None


def _graph(network: Network) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(network.populations)
    for conn in network.connections:
        if conn.pre in network.populations:
            g.add_edge(conn.pre, conn.post)
    return g


def _late_connections(network: Network) -> set[int]:
    """Zero-delay connections inside loops: the ones that must run a step late."""
    component = {}
    for idx, members in enumerate(nx.strongly_connected_components(_graph(network))):
        for name in members:
            component[name] = idx
    return {
        i
        for i, c in enumerate(network.connections)
        if c.delay == 0 and c.pre in network.populations and component[c.pre] == component[c.post]
    }


def _offending_cycle(network: Network) -> list[str]:
    g = _graph(network)
    late = _late_connections(network)
    for i in sorted(late):
        conn = network.connections[i]
        path = nx.shortest_path(g, conn.post, conn.pre)
        return [conn.pre, *path]
    return sorted(network.populations)
