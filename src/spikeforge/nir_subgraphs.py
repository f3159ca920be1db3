"""Nested NIR graphs inlined: one flat graph of nodes and edges.

snnTorch writes recurrent layers, and nirtorch traces norse's recurrent cells, as
``NIRGraph`` nodes inside the graph. The NIR importer and spikeforge's own exporter
both need the flat graph, so the inlining (and the check that a subgraph can be wired
in at all) lives here once, below both.
"""

from __future__ import annotations

from collections.abc import Mapping

import nir

from spikeforge.errors import SpikeforgeError

Edges = list[tuple[str, str]]


def flatten_subgraphs(
    graph_nodes: Mapping[str, nir.NIRNode], graph_edges: Edges, prefix: str = ""
) -> tuple[dict[str, nir.NIRNode], Edges]:
    """Every nested ``NIRGraph`` replaced by its inner nodes, named ``<path>.<inner>``.

    An edge into a subgraph goes to what its ``Input`` feeds, an edge out of one comes
    from what feeds its ``Output``; the subgraph's own ``Input``/``Output`` nodes go.
    Duplicate edges are dropped (NIR refuses them).
    """
    nodes: dict[str, nir.NIRNode] = {}
    edges: Edges = []
    boundary: dict[str, tuple[list[str], list[str]]] = {}
    for name, node in graph_nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = flatten_subgraphs(node.nodes, node.edges, prefix=f"{full}.")
            ins = [k for k, v in sub_nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in sub_nodes.items() if isinstance(v, nir.Output)]
            if not ins or not outs:
                raise SpikeforgeError(
                    f"subgraph '{full}' has {len(ins)} Input and {len(outs)} Output nodes; "
                    "it needs at least one of each to be wired into the graph"
                )
            boundary[full] = (ins, outs)
            added = sub_nodes
        else:
            added = {full: node}
        for key, value in added.items():
            if key in nodes:
                raise SpikeforgeError(
                    f"node name '{key}' occurs twice once subgraphs are inlined (a node named "
                    "with a '.' collides with a nested one); rename one of them"
                )
            nodes[key] = value
        if isinstance(node, nir.NIRGraph):
            edges.extend(sub_edges)
    for pre, post in graph_edges:
        pre_full, post_full = f"{prefix}{pre}", f"{prefix}{post}"
        pre_ends = _end(pre_full, boundary, side=1)
        post_ends = _end(post_full, boundary, side=0)
        edges.extend((a, b) for a in pre_ends for b in post_ends)
    # Drop the subgraphs' own Input/Output nodes, wiring their neighbours through.
    for ins, outs in boundary.values():
        for inner in ins + outs:
            sources = [a for a, b in edges if b == inner]
            targets = [b for a, b in edges if a == inner]
            edges = [(a, b) for a, b in edges if inner not in (a, b)]
            edges.extend((a, b) for a in sources for b in targets)
            del nodes[inner]
    return nodes, list(dict.fromkeys(edges))


def _end(name: str, boundary: Mapping[str, tuple[list[str], list[str]]], side: int) -> list[str]:
    """An edge to a subgraph means its Input node(s); from a subgraph, its Output node(s)."""
    return boundary[name][side] if name in boundary else [name]
