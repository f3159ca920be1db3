"""Stateless maps as matrices: shapes and the exact linear operator of each map node.

Every stateless NIR node (Affine, Linear, Scale, Conv2d, pooling, Flatten) is linear
plus a constant, so any chain of them between two populations collapses into one
synaptic matrix. Computing each map's matrix once, in float64 and by applying the
very torch operator to a basis, guarantees the collapsed matrix is the same operator
the source framework applies, with no re-implementation of convolution arithmetic.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from spikeforge.errors import SpikeforgeError
from spikeforge.ir.nodes import (
    AffineMap,
    Conv2dMap,
    DelayMap,
    FlattenMap,
    MapNode,
    Pool2dMap,
    ScaleMap,
    Shape,
)


def output_shape(name: str, node: MapNode, in_shape: Shape) -> Shape:
    """The output shape of ``node`` for an input of ``in_shape``; a clear error if they misfit."""
    if isinstance(node, AffineMap):
        n_out, n_in = node.weight.shape
        if in_shape != (n_in,):
            raise SpikeforgeError(
                f"node '{name}': weight expects input of shape ({n_in},), receives {in_shape}"
            )
        return (n_out,)
    if isinstance(node, (ScaleMap, DelayMap)):
        own = node.scale.shape if isinstance(node, ScaleMap) else node.steps.shape
        if own not in ((), (1,), in_shape):
            raise SpikeforgeError(
                f"node '{name}': parameter shape {own} does not match input shape {in_shape}"
            )
        return in_shape
    if isinstance(node, FlattenMap):
        rank = len(in_shape)
        if not all(-rank <= d < rank for d in (node.start_dim, node.end_dim)):
            raise SpikeforgeError(
                f"node '{name}': flatten dims {node.start_dim}..{node.end_dim} out of range "
                f"for input shape {in_shape}"
            )
        start, end = node.start_dim % rank, node.end_dim % rank
        if start > end:
            raise SpikeforgeError(
                f"node '{name}': flatten dims {node.start_dim}..{node.end_dim} invalid "
                f"for input shape {in_shape}"
            )
        return (*in_shape[:start], int(np.prod(in_shape[start : end + 1])), *in_shape[end + 1 :])
    if isinstance(node, (Conv2dMap, Pool2dMap)):
        if len(in_shape) != 3:
            raise SpikeforgeError(
                f"node '{name}': expects a (channels, height, width) input, receives {in_shape}"
            )
        if isinstance(node, Conv2dMap):
            c_in = node.weight.shape[1] * node.groups
            if in_shape[0] != c_in:
                raise SpikeforgeError(
                    f"node '{name}': weight expects {c_in} input channels, receives {in_shape[0]}"
                )
        out = _apply(node, torch.zeros((1, *in_shape), dtype=torch.float64))
        return tuple(int(s) for s in out.shape[1:])
    raise SpikeforgeError(f"node '{name}': {type(node).__name__} is not a map")


def matrix(node: MapNode, in_shape: Shape) -> tuple[sp.csr_matrix, np.ndarray]:
    """The map as ``y = M @ x + b`` on flattened (C-order) vectors; DelayMap is the identity."""
    n_in = int(np.prod(in_shape))
    if isinstance(node, AffineMap):
        return sp.csr_matrix(node.weight, dtype=np.float64), node.bias.astype(np.float64).ravel()
    if isinstance(node, ScaleMap):
        scale = np.broadcast_to(node.scale.astype(np.float64).ravel(), (n_in,))
        return sp.diags(scale).tocsr(), np.zeros(n_in)
    if isinstance(node, (FlattenMap, DelayMap)):
        return sp.identity(n_in, format="csr"), np.zeros(n_in)
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
    no_bias = _apply(node, basis, with_bias=False)
    mat = sp.csr_matrix(no_bias.reshape(n_in, -1).T.numpy())
    mat.eliminate_zeros()
    bias = _apply(node, torch.zeros((1, *in_shape), dtype=torch.float64)).reshape(-1).numpy()
    return mat, bias


def _apply(node: Conv2dMap | Pool2dMap, x: torch.Tensor, with_bias: bool = True) -> torch.Tensor:
    """Apply the torch operator the source frameworks use, in float64."""
    if isinstance(node, Conv2dMap):
        bias = torch.as_tensor(node.bias, dtype=torch.float64) if with_bias else None
        return torch.nn.functional.conv2d(
            x,
            torch.as_tensor(node.weight, dtype=torch.float64),
            bias,
            stride=node.stride,
            padding=node.padding,
            dilation=node.dilation,
            groups=node.groups,
        )
    out = torch.nn.functional.avg_pool2d(
        x, node.kernel_size, node.stride, node.padding, count_include_pad=True
    )
    if node.mode == "sum":
        out = out * float(node.kernel_size[0] * node.kernel_size[1])
    return out
