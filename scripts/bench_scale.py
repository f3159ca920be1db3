"""How compile time, memory and emulator throughput grow with the network.

Random CubaLIF networks built as NIR graphs, feed-forward (a chain of equal layers)
and recurrent (one input layer, one self-connected population), with sparse random
weights (``--fan-in`` non-zeros per neuron and matrix). Per size: seconds and peak
resident memory of every compiler pass (normalise, split, schedule, lower, quantise),
then the emulator's sample-steps/s at batch 1, 32 and 256 with its peak memory. A
size whose dense matrices would not fit in ``--max-gib`` is reported, not attempted:
every pass still stores weights dense.

    .venv/bin/python scripts/bench_scale.py [--sizes 1000 10000 100000] [--steps 50]
"""

from __future__ import annotations

import argparse
import os
import time

import nir
import numpy as np
import torch

from bench_emulator import peak_memory
from spikeforge.compile.lower import lower
from spikeforge.compile.network import normalize
from spikeforge.compile.quantize import quantize
from spikeforge.compile.split import split_decays
from spikeforge.compile.timing import schedule
from spikeforge.ir import from_nir
from spikeforge.runtimes.emulator import Emulator

LAYERS = 4


def _sparse(rng: np.random.Generator, rows: int, cols: int, fan_in: int) -> np.ndarray:
    """``rows x cols`` with ``fan_in`` random non-zeros per row, scaled to fire a little."""
    weights = np.zeros((rows, cols), np.float32)
    picks = rng.random((rows, cols)).argpartition(min(fan_in, cols) - 1, axis=1)[:, :fan_in]
    weights[np.arange(rows)[:, None], picks] = rng.normal(0.4, 0.6, picks.shape) / np.sqrt(fan_in)
    return weights


def _lif(n: int) -> nir.CubaLIF:
    ones = np.ones(n)
    return nir.CubaLIF(
        tau_syn=5e-3 * ones, tau_mem=1e-2 * ones, r=ones, v_leak=0 * ones,
        v_threshold=0.1 * ones, v_reset=0 * ones,
    )  # fmt: skip


def random_graph(kind: str, neurons: int, fan_in: int, seed: int = 0) -> nir.NIRGraph:
    """A feed-forward chain of LAYERS layers, or an input layer plus a recurrent one."""
    rng = np.random.default_rng(seed)
    width = neurons // LAYERS if kind == "ff" else neurons // 2
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(np.array([width]))}
    edges = []
    previous = "input"
    for i in range(LAYERS if kind == "ff" else 2):
        nodes[f"fc{i}"] = nir.Linear(_sparse(rng, width, width, fan_in))
        nodes[f"lif{i}"] = _lif(width)
        edges += [(previous, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        previous = f"lif{i}"
    if kind == "rec":
        nodes["rec"] = nir.Linear(_sparse(rng, width, width, fan_in))
        edges += [(previous, "rec"), ("rec", previous)]
    nodes["output"] = nir.Output(np.array([width]))
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--fan-in", type=int, default=100)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--max-gib", type=float, default=4.0, help="skip larger dense weights")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    cpu = torch.device("cpu")
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.1f}")
    for kind in ("ff", "rec"):
        for neurons in args.sizes:
            width = neurons // LAYERS if kind == "ff" else neurons // 2
            matrices = LAYERS if kind == "ff" else 2
            synapses = matrices * width * args.fan_in
            dense_gib = matrices * width * width * 8 / 2**30
            label = f"{kind:3s} {neurons:>7d} neurons {synapses:>9d} synapses"
            if dense_gib > args.max_gib:
                print(f"{label}: skipped, dense float64 weights alone {dense_gib:.0f} GiB")
                continue
            passes = []
            with peak_memory(cpu) as peak:
                start = time.perf_counter()
                graph = from_nir(random_graph(kind, neurons, args.fan_in))
                passes.append(("import", time.perf_counter() - start))
                network = _timed(passes, "normalise", normalize, graph)
                network = _timed(passes, "split", split_decays, network)
                timing = _timed(passes, "schedule", schedule, network)
                float_plan = _timed(passes, "lower", lower, network, timing)
                plan, _ = _timed(passes, "quantise", quantize, float_plan, 2, None)
            times = ", ".join(f"{name} {seconds:.2f}" for name, seconds in passes)
            print(f"{label}: compile s: {times}; peak {peak.mib:.0f} MiB")
            emulator = Emulator(plan, device, fuse=True)
            rng = np.random.default_rng(1)
            for batch in (1, 32, 256):
                spikes = (rng.random((batch, args.steps, width)) < 0.1).astype(np.float64)
                emulator.run({"input": spikes[:2, :3]}, 3, [], [])  # warm-up (compilation)
                with peak_memory(device) as peak:
                    start = time.perf_counter()
                    emulator.run({"input": spikes}, args.steps, [], [])
                    took = time.perf_counter() - start
                print(
                    f"{'':>{len(label)}s}  emulator b={batch:<3d} {batch * args.steps / took:9.0f} "
                    f"sample-steps/s, peak {peak.mib:.0f} MiB"
                )


def _timed(passes: list[tuple[str, float]], name: str, work, *args):
    start = time.perf_counter()
    out = work(*args)
    passes.append((name, time.perf_counter() - start))
    return out


if __name__ == "__main__":
    main()
