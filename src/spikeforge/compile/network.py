"""The normalised network: populations joined by delayed synaptic matrices.

This is what every backend executes. It is produced from the IR graph by collapsing
each chain of stateless maps (Affine, Conv, pooling, Flatten, Scale, Delay) between
two populations into one weight matrix per (source, delay), folding each
population's input gain (r, w_in, dt/tau) into the weights and its maps' constant
terms into a per-neuron bias. A population whose whole input is one convolution
keeps it as a :class:`~spikeforge.compile.convolution.ConvConnection` instead
(:mod:`spikeforge.compile.convolution` says when). Nothing here is approximate: it
is the same arithmetic, reassociated, in float64. Matrices stay sparse throughout,
and one that is large and mostly zeros is kept sparse (:mod:`spikeforge.ir.weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from spikeforge.compile.convolution import ConvConnection, conv_connection, conv_input
from spikeforge.errors import SpikeforgeError
from spikeforge.ir import maps
from spikeforge.ir.nir_import import infer_shapes
from spikeforge.ir.nodes import (
    DelayMap,
    Graph,
    InputNode,
    NeuronNode,
    NeuronParams,
    OutputNode,
    Shape,
)
from spikeforge.ir.weights import Weights, compact, is_identity, nonzeros, scale_rows


@dataclass(kw_only=True)
class Population(NeuronParams):
    """One population of :class:`NeuronParams`, flattened (every array ``[size]``), named.

    Its node's ``gain`` and ``input_delay`` are folded into the incoming weights and
    delays. ``current_bias`` is added to ``u`` every step from step ``bias_onset`` on
    (steps counted from 0): the bias of an Affine map feeding the population.
    """

    name: str
    current_bias: np.ndarray
    bias_onset: int

    @property
    def standard(self) -> bool:
        """Whether Lava's own LIF runs it: reset to value on the spike, v > theta, one spike."""
        return self.reset == "to_value" and self.threshold == ">" and not self.multi_spike

    @property
    def start(self) -> np.ndarray:
        return np.zeros(self.size) if self.v_init is None else self.v_init


@dataclass
class Connection:
    """``post.u += weight @ pre[t - delay]``; ``pre`` is an input or a population.

    ``weight`` is CSR where it is large and mostly zeros (:mod:`spikeforge.ir.weights`).
    """

    pre: str
    post: str
    weight: Weights
    delay: int


@dataclass
class Readout:
    """An output: ``sum(weight @ pre[t - delay]) + bias`` over its terms, computed on the host.

    Most outputs are one population passed through unchanged (``direct_source``);
    a trailing linear readout (e.g. ``Linear`` after the last population) is
    evaluated on the host from the recorded activity, exactly.
    """

    name: str
    shape: Shape
    terms: list[Connection]
    bias: np.ndarray

    @property
    def direct_source(self) -> str | None:
        if len(self.terms) != 1 or np.any(self.bias):
            return None
        term = self.terms[0]
        return term.pre if term.delay == 0 and is_identity(term.weight) else None


@dataclass
class Split:
    """A source population run as several (:mod:`spikeforge.compile.split`).

    ``parts`` are populations of the network holding consecutive runs of its neurons,
    so concatenating them in this order gives the source population's neurons back,
    reshaped to ``shape``.
    """

    shape: Shape
    parts: list[str]


@dataclass
class Network:
    """A normalised network; ``inputs`` maps each input name to its shape.

    ``splits`` names the source populations that run as several populations (one
    per run of equal decays), so that recordings can be returned as the source's.
    """

    dt: float
    inputs: dict[str, Shape]
    populations: dict[str, Population]
    connections: list[Connection | ConvConnection]
    readouts: dict[str, Readout]
    metadata: dict[str, object] = field(default_factory=dict)
    splits: dict[str, Split] = field(default_factory=dict)

    def size_of(self, name: str) -> int:
        if name in self.inputs:
            return int(np.prod(self.inputs[name]))
        return self.populations[name].size

    def incoming(self, post: str) -> list[Connection | ConvConnection]:
        return [c for c in self.connections if c.post == post]

    @property
    def max_delay(self) -> int:
        delays = [c.delay for c in self.connections]
        delays += [t.delay for r in self.readouts.values() for t in r.terms]
        return max(delays, default=0)


@dataclass
class _Expr:
    """An affine function of stateful sources: ``sum(W @ src[t - d]) + bias``."""

    terms: dict[tuple[str, int], sp.csr_matrix]
    bias: np.ndarray

    def shifted(self, delay: int) -> _Expr:
        if delay == 0:
            return self
        return _Expr({(s, d + delay): w for (s, d), w in self.terms.items()}, self.bias)

    def __add__(self, other: _Expr) -> _Expr:
        terms = dict(self.terms)
        for key, w in other.terms.items():
            terms[key] = terms[key] + w if key in terms else w
        return _Expr(terms, self.bias + other.bias)


@dataclass
class _Outputs:
    """Each node's output as an expression in its sources, computed once per node.

    An object rather than a recursive closure: a closure that calls itself is a
    reference cycle, which would hold the graph and every weight product until the
    garbage collector ran (at 10^8 synapses, gigabytes through the passes that follow).
    """

    graph: Graph
    shapes: dict[str, Shape]
    memo: dict[str, _Expr] = field(default_factory=dict)

    def __call__(self, name: str) -> _Expr:
        if name in self.memo:
            return self.memo[name]
        node = self.graph.nodes[name]
        n = int(np.prod(self.shapes[name]))
        if isinstance(node, (InputNode, NeuronNode)):
            result = _Expr({(name, 0): sp.identity(n, format="csr")}, np.zeros(n))
        else:
            total = _sum_inputs(self.graph, name, self)
            in_shape = self.shapes[self.graph.in_edges(name)[0].pre]
            result = total if isinstance(node, OutputNode) else _apply_map(node, in_shape, total)
        self.memo[name] = result
        return result


def normalize(graph: Graph) -> Network:
    """Collapse the IR graph into populations and delayed connections."""
    shapes = infer_shapes(graph)
    expr = _Outputs(graph, shapes)

    populations: dict[str, Population] = {}
    connections: list[Connection | ConvConnection] = []
    for name, node in graph.neurons().items():
        gain = node.gain.ravel()
        conv = _convolution(graph, name, node, shapes)
        if conv is not None:
            connections.append(conv[0])
            populations[name] = _population(name, node, gain * conv[1])
            continue
        incoming = _sum_inputs(graph, name, expr).shifted(node.input_delay)
        for (pre, delay), w in sorted(incoming.terms.items()):
            weight = compact(scale_rows(sp.csr_array(w), gain))
            if nonzeros(weight):
                connections.append(Connection(pre=pre, post=name, weight=weight, delay=delay))
        populations[name] = _population(name, node, gain * incoming.bias)
    readouts = {}
    for name, node in graph.outputs().items():
        total = _sum_inputs(graph, name, expr)
        terms = [
            Connection(pre=pre, post=name, weight=compact(w), delay=delay)
            for (pre, delay), w in sorted(total.terms.items())
        ]
        readouts[name] = Readout(name=name, shape=node.shape, terms=terms, bias=total.bias)
    inputs = {name: node.shape for name, node in graph.inputs().items()}
    return Network(
        dt=graph.dt,
        inputs=inputs,
        populations=populations,
        connections=connections,
        readouts=readouts,
        metadata=dict(graph.metadata),
    )


def _convolution(
    graph: Graph, name: str, node: NeuronNode, shapes: dict[str, Shape]
) -> tuple[ConvConnection, np.ndarray] | None:
    """The population's whole input as one convolution and its constant term (per
    neuron, before the gain), where it is one (:mod:`spikeforge.compile.convolution`);
    None keeps the dense matrix."""
    found = conv_input(graph, name, shapes)
    if found is None or not np.any(found[2].weight):
        return None
    pre, delay, kernel, out_shape = found
    conv = conv_connection(
        pre, name, delay + node.input_delay, kernel, node.gain.ravel(), (shapes[pre], out_shape)
    )
    bias = np.repeat(kernel.bias, int(np.prod(out_shape[1:])))
    return None if conv is None else (conv, bias)


def _sum_inputs(graph: Graph, name: str, expr) -> _Expr:
    edges = graph.in_edges(name)
    if not edges:
        raise SpikeforgeError(f"node '{name}' receives no input")
    total = expr(edges[0].pre).shifted(edges[0].delay)
    for edge in edges[1:]:
        total = total + expr(edge.pre).shifted(edge.delay)
    return total


def _apply_map(node, in_shape: Shape, source: _Expr) -> _Expr:
    if isinstance(node, DelayMap):
        steps = np.broadcast_to(node.steps.ravel(), source.bias.shape)
        terms: dict[tuple[str, int], sp.csr_matrix] = {}
        for extra in np.unique(steps):
            mask = sp.diags((steps == extra).astype(np.float64)).tocsr()
            for (src, d), w in source.terms.items():
                key = (src, d + int(extra))
                part = mask @ w
                terms[key] = terms[key] + part if key in terms else part
        return _Expr(terms, source.bias)
    mat, bias = maps.matrix(node, in_shape)
    return _Expr({k: (mat @ w).tocsr() for k, w in source.terms.items()}, mat @ source.bias + bias)


def _population(name: str, node: NeuronNode, current_bias: np.ndarray) -> Population:
    du = node.du.ravel()
    v_bias = node.v_bias.ravel().copy()
    onset = node.input_delay
    # A constant input current stays a current even where du = 1 (where folding it
    # into v_bias would be exact in source time): on Loihi every population runs
    # ``latency`` >= 1 hardware steps before its source step 0, and a voltage bias
    # acts during those steps too, so the neuron would enter source time already
    # charged. The bias source delivers the current from step ``bias_onset`` exactly.
    return Population(
        name=name,
        kind=node.kind,
        shape=node.shape,
        du=du,
        dv=node.dv.ravel(),
        v_bias=v_bias,
        current_bias=current_bias,
        bias_onset=onset,
        v_th=None if node.v_th is None else node.v_th.ravel(),
        v_reset=node.v_reset.ravel(),
        reset=node.reset,
        threshold=node.threshold,
        multi_spike=node.multi_spike,
        v_init=None if node.v_init is None else node.v_init.ravel().astype(np.float64),
    )
