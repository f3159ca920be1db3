"""Node types of spikeforge's intermediate graph, with their discrete-time meaning.

NIR describes continuous-time ODEs and leaves the discretisation to each framework;
that ambiguity is how the same Braille network scored 94 % in norse and 49 % through
Lava in the NIR paper. The IR therefore stores every population already discretised,
in one canonical per-step form, so that every later stage (reference simulation,
quantisation, Lava lowering) agrees on what the network *is*:

    x[t]  = sum of incoming maps, each reading its source at step t - delay
    u[t]  = (1 - du) * u[t-1] + gain * x[t]                  (du = 1: no current state)
    v[t]  = (1 - dv) * v[t-1] + u[t] + v_bias
    v[t] -= v_th * z[t-1]                                      (reset "subtract_next")
    z[t]  = v[t] > v_th   (threshold ">"; ">=": v[t] >= v_th)  (spiking populations only)
            floor(v[t] / v_th) where v[t] >= v_th               (multi_spike: a count)
    v[t]  = v_reset where z[t]          (reset "to_value")
            v[t] - v_th * z[t]          (reset "subtract")
    v[t]  = v_reset where z[t-1]                               (reset "zero_next")

``v`` starts at ``v_init`` (0 unless given), ``u`` at 0. The choices (reset, threshold,
multi-spike, the start, and how ``du``/``dv``/``gain`` came from NIR's time constants)
are a framework's conventions: :mod:`spikeforge.ir.conventions`.

All parameters are per neuron (arrays of the population's shape). ``v`` is in the
source model's units, so a recorded membrane trace is directly comparable with the
source framework's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from spikeforge.ir.conventions import ResetMode, Threshold
from spikeforge.ir.weights import Weights

Shape = tuple[int, ...]


@dataclass
class InputNode:
    """A network input; values arrive at the network once per step."""

    shape: Shape


@dataclass
class OutputNode:
    """A network output: the spikes (or, for non-spiking populations, voltages) it receives."""

    shape: Shape


@dataclass
class NeuronParams:
    """A population's per-neuron parameters in the canonical form of the module docstring.

    Declared once here and shared (by inheritance, so that ``pop.du`` reads as before
    and a stored ``.sfnet`` keeps its field names) by the IR's :class:`NeuronNode`,
    whose arrays have the population's shape, and the normalised network's
    :class:`spikeforge.compile.network.Population`, whose arrays are flattened: a
    parameter added to the canonical form reaches both.

    ``kind`` keeps the NIR type it was imported from, for messages and reports.
    ``v_th`` is ``None`` for non-spiking (leaky-integrator) populations.
    ``threshold``, ``multi_spike`` and ``v_init`` (``None``: 0) are the firing rule
    and start of the module docstring.
    """

    kind: str
    shape: Shape
    du: np.ndarray
    dv: np.ndarray
    v_bias: np.ndarray
    v_th: np.ndarray | None
    v_reset: np.ndarray
    reset: ResetMode = "to_value"
    threshold: Threshold = ">"
    multi_spike: bool = False
    v_init: np.ndarray | None = None

    @property
    def spiking(self) -> bool:
        return self.v_th is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(kw_only=True)
class NeuronNode(NeuronParams):
    """A population of the IR graph: :class:`NeuronParams` and how its input arrives.

    ``gain`` scales everything it receives; ``input_delay`` delays it, constant input
    included (1 under the NIR reference's "previous current" convention). Both are
    folded into the weights and bias when the graph is normalised.
    """

    gain: np.ndarray
    input_delay: int = 0


@dataclass
class AffineMap:
    """y = weight @ x + bias over a 1-D input (NIR Affine, or Linear with zero bias).

    ``weight`` is CSR where it is large and mostly zeros (:mod:`spikeforge.ir.weights`).
    """

    weight: Weights
    bias: np.ndarray


@dataclass
class ScaleMap:
    """y = scale * x, elementwise."""

    scale: np.ndarray


@dataclass
class Conv2dMap:
    """2-D convolution over a (C, H, W) input, as torch.nn.functional.conv2d."""

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


@dataclass
class Pool2dMap:
    """Sum or average pooling over a (C, H, W) input."""

    mode: Literal["sum", "avg"]
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass
class FlattenMap:
    """Reshape only; dims index the unbatched input."""

    start_dim: int
    end_dim: int


@dataclass
class DelayMap:
    """Per-element delay in whole time steps."""

    steps: np.ndarray


MapNode = AffineMap | ScaleMap | Conv2dMap | Pool2dMap | FlattenMap | DelayMap
Node = InputNode | OutputNode | NeuronNode | MapNode


@dataclass(frozen=True)
class Edge:
    """A connection between two nodes; ``delay`` steps between source and target.

    Edges inside a cycle that close it carry delay 1: a recurrent population reads
    its sources' spikes of the previous step (norse's ``z[t-1]``).
    """

    pre: str
    post: str
    delay: int = 0


@dataclass
class Graph:
    """The imported network: named nodes, delayed edges, the time step."""

    nodes: dict[str, Node]
    edges: list[Edge]
    dt: float
    metadata: dict[str, object] = field(default_factory=dict)

    def inputs(self) -> dict[str, InputNode]:
        return {k: n for k, n in self.nodes.items() if isinstance(n, InputNode)}

    def outputs(self) -> dict[str, OutputNode]:
        return {k: n for k, n in self.nodes.items() if isinstance(n, OutputNode)}

    def neurons(self) -> dict[str, NeuronNode]:
        return {k: n for k, n in self.nodes.items() if isinstance(n, NeuronNode)}

    def in_edges(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.post == name]

    def out_edges(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.pre == name]
