"""What a run keeps of its steps: watched columns of the neuron axis, on the device.

One copy per step and span instead of one per population: populations are
consecutive on the neuron axis, so the watched ones (every spiking population, in a
profiling or benchmark run) merge into a few spans. Buffers are batch-major, as a
:class:`RunResult` is, so the float64 arrays are made at the end by one numpy
conversion per population that reads memory in order (a step-major buffer made that
conversion a transposition, slower than all the steps' writes saved).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch


def merged_spans(rows: list[slice]) -> list[slice]:
    """``rows`` merged into spans: neighbours join across a gap no wider than what the
    span already holds, so unwatched neurons never more than double what is kept."""
    spans: list[slice] = []
    for row in sorted(rows, key=lambda s: s.start):
        if spans and row.start - spans[-1].stop <= spans[-1].stop - spans[-1].start:
            spans[-1] = slice(spans[-1].start, max(spans[-1].stop, row.stop))
        else:
            spans.append(row)
    return spans


class Recording:
    """``[batch, steps, span]`` buffers over merged spans of the neuron axis."""

    def __init__(
        self,
        rows: Mapping[str, slice],
        dtypes: Mapping[str, torch.dtype],
        steps: int,
        batch: int,
        device: torch.device,
    ) -> None:
        """``rows``: each recorded population's neurons; ``dtypes``: what it holds (a
        span takes float64 if any of its populations needs it)."""
        self.spans = merged_spans(list(rows.values()))
        self.where: dict[str, tuple[int, slice]] = {}
        span_dtypes: list[torch.dtype] = []
        for index, span in enumerate(self.spans):
            members = [n for n, r in rows.items() if span.start <= r.start < span.stop]
            for name in members:
                r = rows[name]
                self.where[name] = (index, slice(r.start - span.start, r.stop - span.start))
            kinds = {dtypes[n] for n in members}
            span_dtypes.append(torch.float64 if torch.float64 in kinds else kinds.pop())
        # Every step is written: no need to zero.
        self.buffers = [
            torch.empty(batch, steps, s.stop - s.start, dtype=d, device=device)
            for s, d in zip(self.spans, span_dtypes, strict=True)
        ]

    def write(self, t: int, values: torch.Tensor) -> None:
        """Keep step ``t`` of ``values`` ``[batch, neurons]``."""
        for span, buffer in zip(self.spans, self.buffers, strict=True):
            buffer[:, t] = values[:, span]

    def arrays(self) -> dict[str, np.ndarray]:
        """Each population's ``[batch, steps, n]`` as float64 on the host."""
        return {
            name: self.buffers[index][:, :, cols].cpu().numpy().astype(np.float64, order="C")
            for name, (index, cols) in self.where.items()
        }
