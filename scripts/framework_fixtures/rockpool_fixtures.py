"""Rockpool 3.1.0's own NIR exports and simulations, for tests/data/frameworks/rockpool/.

Rockpool's ``nir`` extra requires ``nir <= 1.0.4``, so it cannot be installed beside
spikeforge's pinned nir 1.0.8. Recreate the venv used (torch 2.3.1, numpy 1.26.4 and
scipy taken from spikeforge's venv; nirtorch 1.0, because nirtorch 2.0.5 calls
``NIRGraph(type_check=...)``, which nir 1.0.4 lacks)::

    python3.10 -m venv /tmp/venv-rockpool
    /tmp/venv-rockpool/bin/pip install --no-deps rockpool==3.1.0 nir==1.0.4 nirtorch==1.0
    echo /work/main/.venv/lib/python3.10/site-packages \
        > /tmp/venv-rockpool/lib/python3.10/site-packages/zz_main_venv.pth
    /tmp/venv-rockpool/bin/python scripts/framework_fixtures/rockpool_fixtures.py

Each network is Rockpool's ``Sequential`` of ``LinearTorch`` and ``LIFTorch`` (dt
1 ms, its default), stepped by Rockpool itself in float32 (its spike functions
return float32), all samples as one batch; outputs are Rockpool's spike counts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import nir
import rockpool
import torch
from rockpool.nn.combinators import Sequential
from rockpool.nn.modules import LIFTorch, LinearTorch
from rockpool.nn.modules.torch.nir import to_nir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, Entry, save_case, spike_input, write_manifest

N_IN, N_HID, N_OUT = 12, 10, 6


def mlp(gain: float, **lif: object) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1)
        net = Sequential(
            LinearTorch((N_IN, N_HID), has_bias=True),
            LIFTorch(
                N_HID,
                tau_mem=0.01 + 0.03 * torch.rand(N_HID, generator=g),
                tau_syn=0.004 + 0.01 * torch.rand(N_HID, generator=g),
                threshold=0.5 + torch.rand(N_HID, generator=g),
                **lif,
            ),
            LinearTorch((N_HID, N_OUT)),
            LIFTorch(N_OUT, tau_mem=0.02, tau_syn=0.008, threshold=1.0, **lif),
        )
        with torch.no_grad():
            net[0].weight.mul_(gain)
            net[2].weight.mul_(gain)
        return net

    return build


CASES: list[tuple[Entry, Callable[[], torch.nn.Module]]] = [
    (
        Entry("lif_mlp", "LIFTorch, defaults (multiple spikes per step), MLP + bias", "rockpool"),
        mlp(0.2),
    ),
    (
        Entry(
            "lif_mlp_single",
            "LIFTorch, max_spikes_per_dt=1",
            "rockpool",
            {"multi_spike": False},
        ),
        mlp(0.25, max_spikes_per_dt=1.0),
    ),
]


def main() -> None:
    folder = DATA / "rockpool"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (entry, build) in enumerate(CASES):
        net = build()
        nir.write(folder / f"{entry.name}.nir", to_nir(net))
        x = spike_input(200 + i, (N_IN,))
        with torch.no_grad():
            net.reset_state()
            y, _, _ = net(torch.as_tensor(x, dtype=torch.float32))
        y = y.numpy()
        save_case("rockpool", entry, x, y)
        print(f"{entry.name}: mean count {y.mean():.3f}, max {y.max():.0f}")
    write_manifest(
        "rockpool",
        [entry for entry, _ in CASES],
        {"rockpool": rockpool.__version__, "nir": nir.version, "torch": torch.__version__},
    )


if __name__ == "__main__":
    main()
