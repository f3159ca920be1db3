"""A weight matrix as the values it stores, so that quantisation is one code for both storages.

The quantiser's arithmetic is per entry (scale, floor, clip), per row (the rounding
that keeps each neuron's summed input) or per column (a pacemaker's channel). On a
dense matrix every entry is stored; on a CSR matrix only the non-zeros, in the same
row-major order. A zero weight quantises to zero whatever happens around it, so
running the same arithmetic over the stored entries gives a CSR matrix exactly the
integers the dense matrix gets, at a cost proportional to its non-zeros. Row and
column sums are sequential in that order (``np.bincount``, ``np.add.accumulate``):
adding a zero changes no float sum, so they too are identical for both storages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from spikeforge.ir.weights import Weights, canonical, is_sparse


@dataclass
class _Structure:
    """Where the stored entries sit; ``indptr`` None: dense, every entry stored."""

    shape: tuple[int, int]
    indptr: np.ndarray | None
    indices: np.ndarray | None
    cache: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self) -> np.ndarray:
        if "rows" not in self.cache:
            counts = (
                np.full(self.shape[0], self.shape[1])
                if self.indptr is None
                else np.diff(self.indptr)
            )
            # int32 where it fits: this array is as long as the matrix has entries.
            dtype = np.int32 if self.shape[0] < 2**31 else np.int64
            self.cache["rows"] = np.repeat(np.arange(self.shape[0], dtype=dtype), counts)
        return self.cache["rows"]

    def cols(self) -> np.ndarray:
        if "cols" not in self.cache:
            self.cache["cols"] = (
                np.tile(np.arange(self.shape[1]), self.shape[0])
                if self.indices is None
                else self.indices
            )
        return self.cache["cols"]


@dataclass
class Entries:
    """``values``: the stored entries of a ``structure.shape`` matrix, row-major."""

    values: np.ndarray
    structure: _Structure

    @classmethod
    def of(cls, weights: Weights) -> Entries:
        if is_sparse(weights):
            csr = weights if weights.has_sorted_indices else canonical(weights.copy())
            structure = _Structure(csr.shape, csr.indptr, csr.indices)
            return cls(np.asarray(csr.data, np.float64), structure)
        matrix = np.asarray(weights, np.float64)
        return cls(matrix.ravel(), _Structure(matrix.shape, None, None))

    @property
    def sparse(self) -> bool:
        return self.structure.indptr is not None

    @property
    def rows(self) -> np.ndarray:
        return self.structure.rows()

    @property
    def cols(self) -> np.ndarray:
        return self.structure.cols()

    def like(self, values: np.ndarray) -> Entries:
        """Other values at the same places."""
        return replace(self, values=values)

    def row_sums(self, values: np.ndarray) -> np.ndarray:
        """Per row, the sequential sum of ``values`` (one per stored entry)."""
        if not self.sparse:
            return np.add.accumulate(values.reshape(self.structure.shape), axis=1)[:, -1]
        return np.bincount(self.rows, weights=values, minlength=self.structure.shape[0])

    def col_sums(self, values: np.ndarray) -> np.ndarray:
        """Per column, the sequential sum of ``values`` over rows in order."""
        if not self.sparse:
            return np.add.accumulate(values.reshape(self.structure.shape), axis=0)[-1]
        return np.bincount(self.cols, weights=values, minlength=self.structure.shape[1])

    def with_column(self, column: int) -> Entries:
        """These entries plus a stored zero at ``column`` in every row lacking one."""
        if not self.sparse:
            return self
        rows, cols = self.rows, self.cols
        n_rows = self.structure.shape[0]
        missing = np.flatnonzero(np.bincount(rows[cols == column], minlength=n_rows) == 0)
        if not len(missing):
            return self
        all_rows = np.concatenate([rows, missing])
        all_cols = np.concatenate([cols, np.full(len(missing), column, dtype=cols.dtype)])
        order = np.lexsort((all_cols, all_rows))
        values = np.concatenate([self.values, np.zeros(len(missing))])[order]
        counts = np.bincount(all_rows, minlength=n_rows)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(self.structure.indptr.dtype)
        return Entries(values, _Structure(self.structure.shape, indptr, all_cols[order]))

    def matrix(self, dtype: type = np.int64) -> Weights:
        """The values as a matrix of the original storage (CSR without stored zeros)."""
        values = self.values.astype(dtype)
        if not self.sparse:
            return values.reshape(self.structure.shape)
        s = self.structure
        return canonical(sp.csr_array((values, s.indices.copy(), s.indptr.copy()), shape=s.shape))
