"""Throughput of the emulator against Lava's CPU simulator, side by side, same networks.

For each network: Lava ``fixed_pt`` runs a few samples one by one (as spikeforge's
Lava backend must: one process graph per sample, compile included, since that is
what a user waits for); the emulator runs the same samples at batch 1 and then a
large batch. Throughput is sample-steps per second (hardware steps). Spikes of the
samples both ran are compared for equality before any figure is printed.

    .venv/bin/python scripts/bench_emulator.py [--batch 256] [--steps 100] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from spikeforge.compile import compile_network
from spikeforge.compile.compiled import CompiledNet
from spikeforge.export import to_nir
from spikeforge.ir import from_nir
from spikeforge.models import zoo
from spikeforge.models.examples import EXAMPLES
from spikeforge.runtimes import RunResult, run


def networks(names: list[str] | None) -> dict[str, tuple[CompiledNet, tuple[int, ...]]]:
    """The spine's test networks, then every zoo model that has a trained checkpoint."""
    out = {}
    for name, (factory, shape) in EXAMPLES.items():
        if names is None or name in names:
            graph = to_nir(factory(), torch.zeros(shape), dt=1e-3)
            out[name] = (compile_network(from_nir(graph)), shape)
    for name in zoo.ZOO:
        if (names is None or name in names) and zoo.checkpoint_path(name).is_file():
            model = zoo.get(name)
            module = zoo.load_trained(name)
            shape = model.CARD.input_shape
            graph = to_nir(module, torch.zeros(shape), dt=model.CARD.dt)
            out[name] = (compile_network(from_nir(graph)), shape)
    return out


def timed(compiled: CompiledNet, inputs: np.ndarray, **kwargs) -> tuple[RunResult, float]:
    start = time.perf_counter()
    result = run(compiled, inputs, precision="fixed", raw_timing=True, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="emulator batch size")
    parser.add_argument("--steps", type=int, default=100, help="input steps per sample")
    parser.add_argument("--lava-samples", type=int, default=3, help="samples run on Lava")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--networks", nargs="+", default=None)
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    header = (
        f"{'network':22s} {'neurons':>7s} {'hw steps':>8s} {'lava s-s/s':>11s} "
        f"{'emu b=1':>10s} {f'emu b={args.batch}':>12s} {'b=1 ratio':>9s} "
        f"{f'b={args.batch} ratio':>11s}  spikes"
    )
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for name, (compiled, shape) in networks(args.networks).items():
        inputs = (rng.random((args.batch, args.steps, *shape)) < 0.2).astype(np.float64)
        pops = sorted(n for n, p in compiled.network.populations.items() if p.spiking)
        lava, t_lava = timed(compiled, inputs[: args.lava_samples], backend="lava", record=pops)
        emu = dict(backend="emulator", device=device, record=pops)
        timed(compiled, inputs[:1], **emu)  # warm-up: torch kernels, CUDA context
        _, t_one = timed(compiled, inputs[:1], **emu)
        many, t_many = timed(compiled, inputs, **emu)
        exact = all(
            np.array_equal(many.spikes[p][: args.lava_samples], lava.spikes[p]) for p in pops
        )
        steps = lava.steps
        lava_rate = args.lava_samples * steps / t_lava
        one_rate = steps / t_one
        many_rate = args.batch * steps / t_many
        neurons = sum(p.size for p in compiled.network.populations.values())
        print(
            f"{name:22s} {neurons:7d} {steps:8d} {lava_rate:11.0f} {one_rate:10.0f} "
            f"{many_rate:12.0f} {one_rate / lava_rate:8.1f}x {many_rate / lava_rate:10.0f}x  "
            f"{'identical' if exact else 'DIFFER'}"
        )


if __name__ == "__main__":
    main()
