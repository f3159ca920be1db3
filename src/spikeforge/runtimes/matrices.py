"""Weight matrices on a torch device: dense transposed, or sparse CSR as they are.

Both runtimes multiply a batch of presynaptic activity ``[batch, pre]`` by a
``[post, pre]`` matrix every step. A dense matrix is kept transposed, so the product
is one ``active @ w_t``; a CSR matrix (:mod:`spikeforge.ir.weights`) becomes a torch
CSR tensor and the product ``(w @ active.T).T``, which costs its non-zeros. Integer
sums below 2^24 (float32) or 2^53 (float64) are exact in any order, so the emulator's
fixed-point sums are the same for either.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from spikeforge.ir.weights import Weights, is_sparse


def device_matrix(weights: Weights, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``weights`` transposed and dense ``[pre, post]``, or a CSR tensor ``[post, pre]``."""
    if not is_sparse(weights):
        return torch.as_tensor(np.asarray(weights).T.copy(), dtype=dtype, device=device)
    with warnings.catch_warnings():  # torch: "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.as_tensor(weights.indptr, dtype=torch.int64),
            torch.as_tensor(weights.indices, dtype=torch.int64),
            torch.as_tensor(weights.data, dtype=dtype),
            size=weights.shape,
        ).to(device)


def times(active: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``[batch, post]`` input from ``active`` ``[batch, pre]`` through a :func:`device_matrix`."""
    if matrix.layout == torch.sparse_csr:
        return (matrix @ active.T).T
    return active @ matrix


def abs_post_sums(matrix: torch.Tensor) -> np.ndarray:
    """Per post neuron, the sum of its ``|weight|`` in a :func:`device_matrix`."""
    if matrix.layout != torch.sparse_csr:
        return matrix.abs().sum(dim=0).cpu().numpy()
    counts = torch.diff(matrix.crow_indices()).cpu().numpy()
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    values = matrix.values().abs().double().cpu().numpy()
    return np.bincount(rows, weights=values, minlength=matrix.shape[0])
