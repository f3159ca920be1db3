"""sinabs 3.1.3's own NIR exports and simulations, for tests/data/frameworks/sinabs/.

sinabs 3.1.3 requires ``nir <= 1.0.4``, so it cannot be installed beside spikeforge's
pinned nir 1.0.8. Recreate the venv used (torch 2.3.1, numpy 1.26.4 and matplotlib
taken from spikeforge's venv, so its own nir 1.0.4 shadows the pinned one)::

    python3.10 -m venv /tmp/venv-sinabs
    /tmp/venv-sinabs/bin/pip install --no-deps sinabs==3.1.3 nir==1.0.4 nirtorch==2.0.5 pbr
    echo /work/main/.venv/lib/python3.10/site-packages \
        > /tmp/venv-sinabs/lib/python3.10/site-packages/zz_main_venv.pth
    /tmp/venv-sinabs/bin/python scripts/framework_fixtures/sinabs_fixtures.py

Each network is stepped by sinabs itself in float32, its own dtype (its spike
functions return float32, so a float64 module fails at the next layer), through its
``*Squeeze`` layers, batch 1, one sample at a time from reset states; outputs are
sinabs' spike counts.

sinabs writes ``None`` for a Conv2d's ``input_shape`` and a Flatten's ``input_type``,
on which ``nir.write`` itself fails (h5py: "One of data, shape or dtype must be
specified"), so a conv network cannot be saved as exported. :func:`write` is
``nir.write`` leaving those empty entries out; nothing else is changed (the file
still lacks them, and ``nir.read`` reads a missing entry back as ``None``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import nir
import numpy as np
import sinabs
import sinabs.activation as sa
import sinabs.layers as sl
import torch
from sinabs.nir import to_nir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, Entry, save_case, spike_input, write_manifest

N_IN, N_HID, N_OUT = 12, 10, 6
CONV_IN = (2, 8, 8)


def _neuron(kind: str, n_seed: int, **kw: object) -> torch.nn.Module:
    g = torch.Generator().manual_seed(n_seed)
    threshold = float(0.8 + 0.6 * torch.rand(1, generator=g))
    if kind == "iaf":
        return sl.IAFSqueeze(batch_size=1, spike_threshold=threshold, **kw)
    return sl.LIFSqueeze(batch_size=1, tau_mem=8.0, spike_threshold=threshold, **kw)


def mlp(
    kind: str, bias: bool = True, gain: float = 5.0, **kw: object
) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(N_IN, N_HID, bias=bias),
            _neuron(kind, 1, **kw),
            torch.nn.Linear(N_HID, N_OUT, bias=bias),
            _neuron(kind, 2, **kw),
        )
        with torch.no_grad():
            net[0].weight.mul_(gain)
            net[2].weight.mul_(gain)
        return net

    return build


def conv(**kw: object) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(2, 4, 3, padding=1, bias=False),
            _neuron("iaf", 1, **kw),
            sl.SumPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 4 * 4, N_OUT),
            _neuron("iaf", 2, **kw),
        )
        with torch.no_grad():
            net[0].weight.mul_(4.0)
            net[4].weight.mul_(3.0)
        return net

    return build


SINGLE = {"spike_fn": sa.SingleSpike}
RESET = {"spike_fn": sa.SingleSpike, "reset_fn": sa.MembraneReset()}
CASES: list[tuple[Entry, Callable[[], torch.nn.Module], tuple[int, ...]]] = [
    (
        Entry("iaf_mlp", "IAF, defaults (MultiSpike, MembraneSubtract), MLP + bias", "sinabs"),
        mlp("iaf"),
        (N_IN,),
    ),
    (
        Entry("iaf_mlp_nobias", "IAF, defaults, MLP without bias", "sinabs"),
        mlp("iaf", bias=False),
        (N_IN,),
    ),
    (
        Entry("lif_mlp", "LIF, defaults (norm_input), MLP + bias", "sinabs"),
        mlp("lif", gain=40.0),
        (N_IN,),
    ),
    (
        Entry("iaf_single", "IAF, SingleSpike, MembraneSubtract", "sinabs", {"multi_spike": False}),
        mlp("iaf", **SINGLE),
        (N_IN,),
    ),
    (
        Entry("lif_single", "LIF, SingleSpike, MembraneSubtract", "sinabs", {"multi_spike": False}),
        mlp("lif", gain=40.0, **SINGLE),
        (N_IN,),
    ),
    (
        Entry(
            "iaf_reset",
            "IAF, SingleSpike, MembraneReset",
            "sinabs",
            {"multi_spike": False, "reset": "to_value"},
        ),
        mlp("iaf", **RESET),
        (N_IN,),
    ),
    (
        Entry("conv", "IAF, defaults, Conv2d + SumPool2d + Flatten + Linear", "sinabs"),
        conv(),
        CONV_IN,
    ),
    (
        Entry(
            "conv_single",
            "IAF, SingleSpike, Conv2d + SumPool2d + Flatten + Linear",
            "sinabs",
            {"multi_spike": False},
        ),
        conv(**SINGLE),
        CONV_IN,
    ),
]


def write(path: Path, graph: nir.NIRGraph) -> None:
    """``nir.write`` (nir 1.0.4, ``serialization.py``) skipping ``None`` entries."""

    def write_recursive(group: h5py.Group, node: dict) -> None:
        for k, v in node.items():
            if v is None or (k == "metadata" and v == {}):
                continue
            if isinstance(v, str):
                group.create_dataset(k, data=v, dtype=h5py.string_dtype())
            elif isinstance(v, np.ndarray):
                group.create_dataset(k, data=v, dtype=v.dtype)
            elif isinstance(v, dict):
                write_recursive(group.create_group(str(k)), v)
            else:
                group.create_dataset(k, data=v)

    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=nir.version)
        write_recursive(f.create_group("node"), graph.to_dict())


def simulate(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """sinabs steps the whole sequence: a Squeeze layer reads ``[time, ...]`` (batch 1)."""
    outs = []
    with torch.no_grad():
        for sample in x:
            for module in net.modules():
                if isinstance(module, sl.StatefulLayer):
                    module.reset_states()
            outs.append(net(torch.as_tensor(sample, dtype=torch.float32)).numpy())
    return np.stack(outs)


def main() -> None:
    folder = DATA / "sinabs"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (entry, build, shape) in enumerate(CASES):
        net = build()
        graph = to_nir(net, torch.zeros(1, *shape))
        write(folder / f"{entry.name}.nir", graph)
        x = spike_input(100 + i, shape)
        y = simulate(net, x)
        save_case("sinabs", entry, x, y)
        print(f"{entry.name}: mean count {y.mean():.3f}, max {y.max():.0f}")
    write_manifest(
        "sinabs",
        [entry for entry, _, _ in CASES],
        {"sinabs": sinabs.__version__, "nir": nir.version, "torch": torch.__version__},
    )


if __name__ == "__main__":
    main()
