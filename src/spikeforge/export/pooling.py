"""A sum-pooling module, because neither torch nor norse has one.

NIR's ``SumPool2d`` is the pooling that neuromorphic targets implement (adding spikes
needs no division). Building a network from this module lets it export to exactly that
node instead of an ``AvgPool2d`` whose 1/k² scaling the target would have to fake.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IntPair = int | tuple[int, int]


def pair(value: IntPair) -> tuple[int, int]:
    """Return ``value`` as a pair of ints (torch's convention for 2-d sizes)."""
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


class SumPool2d(torch.nn.Module):
    """Sum over each ``kernel_size`` window; ``stride`` defaults to ``kernel_size``.

    Computed as ``avg_pool2d * (kh * kw)`` so it runs on any torch device and accepts
    batched ``(N, C, H, W)`` as well as unbatched ``(C, H, W)`` input.
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None) -> None:
        super().__init__()
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride) if stride is not None else self.kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        return F.avg_pool2d(x, self.kernel_size, self.stride) * (kh * kw)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
