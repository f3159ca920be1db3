"""A population's input kept as one convolution instead of a collapsed matrix.

:func:`spikeforge.compile.network.normalize` collapses every chain of maps between
two populations into one matrix per (source, delay). Where that chain is one NIR
``Conv2d``, optionally after a pooling it composes with, read from one
(C, H, W)-shaped input or population and nothing else, the matrix is a convolution:
its kernel has a few hundred weights where the matrix has millions of entries, and
Lava's ``Conv`` process and the emulator's conv kernels run it as such. A pooling
alone is a grouped convolution with a box kernel and is kept the same way.

A pooling before a convolution composes into one convolution (stride ``S * s``,
padding ``P * s + p``, the kernel dilated by ``D * s`` and summed over the pooling
window) exactly when the pooled values the convolution reads from its own zero
padding would be zero anyway: no pooling window next to the image reaches into it
(``k <= s + p`` where the convolution pads, and the last window ends beyond the
image where the convolution reads past it). Otherwise, and for anything else (a
Flatten, Scale or Delay in the chain, a second source, a 1-D shape, a gain that
differs within a channel), the input stays the dense matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from spikeforge.ir import maps
from spikeforge.ir.nodes import Conv2dMap, Graph, InputNode, NeuronNode, Pool2dMap, Shape

Pair = tuple[int, int]


@dataclass
class ConvConnection:
    """``post.u += conv2d(pre[t - delay], kernel)`` in NIR's (C, H, W) convention.

    ``kernel`` is torch's ``(C_out, C_in / groups, kH, kW)`` with the post
    population's input gain folded in; geometry pairs are (H, W). Lowering turns it
    into Lava's (W, H, C) layout (:func:`spikeforge.compile.lower.conv_synapses`).
    """

    pre: str
    post: str
    kernel: np.ndarray
    in_shape: Shape
    out_shape: Shape
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int
    delay: int

    @cached_property
    def weight(self) -> np.ndarray:
        """The same ``[post, pre]`` matrix the dense path builds, for the passes that
        need one (the float64 reference, decay splitting, reports); computed once."""
        node = Conv2dMap(
            self.kernel, np.zeros(len(self.kernel)), self.stride, self.padding,
            self.dilation, self.groups,
        )  # fmt: skip
        return maps.matrix(node, self.in_shape)[0].toarray()


@dataclass
class _Kernel:
    """A convolution being assembled from a chain of maps (torch layout, (H, W) pairs)."""

    weight: np.ndarray
    bias: np.ndarray
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int


def conv_input(
    graph: Graph, name: str, shapes: dict[str, Shape]
) -> tuple[str, int, _Kernel, Shape] | None:
    """``(source, delay, kernel, output shape)`` when population ``name`` reads exactly
    one convolution chain (module docstring), else None."""
    node, delay = _single_input(graph, name)
    if node is None:
        return None
    chain = []
    while isinstance(graph.nodes[node], (Conv2dMap, Pool2dMap)) and len(chain) < 2:
        chain.append(node)
        node, more = _single_input(graph, node)
        if node is None:
            return None
        delay += more
    source = graph.nodes[node]
    if not chain or not isinstance(source, (InputNode, NeuronNode)) or len(shapes[node]) != 3:
        return None
    kernel = _as_kernel(graph.nodes[chain[-1]], shapes[node])
    if len(chain) == 2:
        outer = graph.nodes[chain[0]]
        if not isinstance(outer, Conv2dMap) or isinstance(graph.nodes[chain[1]], Conv2dMap):
            return None
        kernel = _after_pool(outer, kernel, shapes[node], shapes[chain[1]])
    return None if kernel is None else (node, delay, kernel, shapes[chain[0]])


def conv_connection(
    pre: str, post: str, delay: int, kernel: _Kernel, gain: np.ndarray, shapes: tuple[Shape, Shape]
) -> ConvConnection | None:
    """The connection with ``gain`` (the post population's, per neuron) folded into the
    kernel, or None when the gain differs within a channel (no kernel expresses that)."""
    per_channel = gain.reshape(shapes[1][0], -1)
    if not np.all(per_channel == per_channel[:, :1]):
        return None
    folded = kernel.weight * per_channel[:, 0, None, None, None]
    return ConvConnection(
        pre, post, folded, shapes[0], shapes[1], kernel.stride, kernel.padding,
        kernel.dilation, kernel.groups, delay,
    )  # fmt: skip


def _single_input(graph: Graph, name: str) -> tuple[str | None, int]:
    edges = graph.in_edges(name)
    return (edges[0].pre, edges[0].delay) if len(edges) == 1 else (None, 0)


def _as_kernel(node: Conv2dMap | Pool2dMap, in_shape: Shape) -> _Kernel:
    if isinstance(node, Conv2dMap):
        return _Kernel(
            np.asarray(node.weight, np.float64), np.asarray(node.bias, np.float64).ravel(),
            tuple(node.stride), tuple(node.padding), tuple(node.dilation), node.groups,
        )  # fmt: skip
    channels = in_shape[0]
    value = 1.0 if node.mode == "sum" else 1.0 / (node.kernel_size[0] * node.kernel_size[1])
    box = np.full((channels, 1, *node.kernel_size), value)
    return _Kernel(
        box, np.zeros(channels), tuple(node.stride), tuple(node.padding), (1, 1), channels
    )


def _after_pool(conv: Conv2dMap, pool: _Kernel, image: Shape, pooled: Shape) -> _Kernel | None:
    """``conv`` applied after the pooling ``pool`` as one convolution, or None where the
    composition is not exact (module docstring)."""
    k = pool.weight.shape[2:]
    weight = np.asarray(conv.weight, np.float64)
    size = [(weight.shape[2 + a] - 1) * conv.dilation[a] * pool.stride[a] + k[a] for a in (0, 1)]
    for a in (0, 1):
        s, p, n, n_pool = pool.stride[a], pool.padding[a], image[1 + a], pooled[1 + a]
        reads_low = conv.padding[a] > 0
        n_out = (n_pool + 2 * conv.padding[a] - conv.dilation[a] * (weight.shape[2 + a] - 1)
                 - 1) // conv.stride[a] + 1  # fmt: skip
        last = (
            (n_out - 1) * conv.stride[a]
            - conv.padding[a]
            + conv.dilation[a] * (weight.shape[2 + a] - 1)
        )
        if (reads_low and k[a] > s + p) or (last >= n_pool and n_pool * s - p < n):
            return None
    composed = np.zeros((*weight.shape[:2], *size))
    step = (conv.dilation[0] * pool.stride[0], conv.dilation[1] * pool.stride[1])
    box = pool.weight[0, 0]
    for i in range(weight.shape[2]):
        for j in range(weight.shape[3]):
            rows = slice(i * step[0], i * step[0] + k[0])
            cols = slice(j * step[1], j * step[1] + k[1])
            composed[:, :, rows, cols] += weight[:, :, i, j, None, None] * box
    return _Kernel(
        composed,
        np.asarray(conv.bias, np.float64).ravel(),
        (conv.stride[0] * pool.stride[0], conv.stride[1] * pool.stride[1]),
        (conv.padding[0] * pool.stride[0] + pool.padding[0],
         conv.padding[1] * pool.stride[1] + pool.padding[1]),
        (1, 1),
        conv.groups,
    )  # fmt: skip
