"""The conventional baseline, counted by hand: convolutions as convolutions, stated DRAM
traffic, CPU and GPU device classes (estimated, with sources), batch 1 per inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.profile.source_stats import CPU, DEVICES, GPU, norse_stats

STEPS = 2


class _Stateless(torch.nn.Module):
    """A norse-style ``(out, state) = module(x, state)`` around one layer."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, state: object) -> tuple[torch.Tensor, None]:
        return self.layer(x), None


def _stats(layer: torch.nn.Module, shape: tuple[int, ...], batch: int = 1):
    torch.nn.init.constant_(layer.weight, 0.5)
    return norse_stats(_Stateless(layer), np.ones((batch, STEPS, *shape), dtype=np.float32))


def test_a_convolution_counts_its_kernel_over_the_output_not_the_unrolled_matrix():
    stats = _stats(torch.nn.Conv2d(1, 1, 3, bias=False), (1, 5, 5))
    # 3x3 outputs x 9 taps = 81 MACs per step (the unrolled 25 -> 9 matrix would be 225).
    assert stats.dense_ops == 81 * STEPS
    assert stats.weight_bytes == 9 * 4  # the kernel, once per inference
    assert stats.activation_bytes == (25 + 9) * 4 * STEPS  # input read, output written
    cpu = stats.conventional(CPU)
    assert cpu["arithmetic_j"] == pytest.approx(162 * 91.8e-12)
    assert cpu["memory_j"] == pytest.approx((36 + 272) * 160e-12)
    assert stats.conventional_energy_j == pytest.approx(cpu["total_j"])


def test_a_dense_layer_and_batch_one_per_inference():
    stats = _stats(torch.nn.Linear(4, 3, bias=False), (4,), batch=3)
    assert stats.dense_ops == 12 * STEPS  # per inference, whatever the batch
    assert stats.weight_bytes == 12 * 4  # read once per inference: batch 1 pays it all
    assert stats.activation_bytes == (4 + 3) * 4 * STEPS
    gpu = stats.conventional(GPU)
    assert gpu["total_j"] == pytest.approx(24 * 41e-12 + (48 + 56) * 31.2e-12)


def test_every_device_figure_is_an_estimate_with_a_source():
    for device in DEVICES:
        for q in (device.mac, device.byte):
            assert q.kind == "estimated" and q.unit == "J" and q.source
