"""How compile time, memory, placement and emulator throughput grow with the network.

Random CubaLIF networks built as NIR graphs, feed-forward (a chain of equal layers)
and recurrent (one input layer, one self-connected population), with sparse random
weights (``--fan-in`` non-zeros per neuron and matrix). The graphs hold their
weights as scipy CSR matrices, which spikeforge's importer keeps sparse (a NIR file
holds dense arrays: 10^5 neurons would need 19-37 GiB of them). Per size: seconds
and peak resident memory of every compiler pass (import, normalise, split, schedule,
lower, quantise, place), the cores and chips Loihi 2 needs, then the emulator's
sample-steps/s at batch 1, 32 and 256 with its peak memory. A size whose estimated
compile peak exceeds ``--max-gib`` is reported, not attempted; so is an emulator run
whose estimated peak does. ``--profile`` also counts activity on the placed plan
(an :class:`ActivityCounter` fed by the emulator at batch 1 and 8): the seconds its
tables take to build, the seconds of the counted run beside the uncounted one, and
the peak memory of both, which is what ``spikeforge profile`` adds to a run.

    .venv/bin/python scripts/bench_scale.py [--sizes 1000 10000 100000] [--kinds ff rec]
        [--steps 5] [--max-gib 8] [--profile]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import nir
import numpy as np
import scipy.sparse as sp
import torch

from bench_emulator import peak_memory
from spikeforge.compile.lower import LoihiPlan, lower
from spikeforge.compile.network import normalize
from spikeforge.compile.placement import Placement
from spikeforge.compile.quantize import quantize
from spikeforge.compile.split import split_decays
from spikeforge.compile.timing import schedule
from spikeforge.errors import SpikeforgeError
from spikeforge.ir import from_nir
from spikeforge.limits import MAX_BYTES_VARIABLE
from spikeforge.profile import load_hardware, place
from spikeforge.profile.counters import ActivityCounter
from spikeforge.runtimes.emulator import Emulator

LAYERS = 4
#: Resident bytes per synapse at the compiler's peak (the whole process's, source graph
#: included), measured at 10^6 neurons (README: 60-64): what ``--max-gib`` compares
#: against before a size is built.
BYTES_PER_SYNAPSE = 65
#: The emulator's peak at batch 256 per synapse, measured at 10^5 neurons (README).
EMULATOR_BYTES_PER_SYNAPSE = 190
#: Chips the placement may use: enough for 10^8 synapses at Loihi 2's core limits.
MAX_CHIPS = 1024


def _sparse(rng: np.random.Generator, rows: int, cols: int, fan_in: int) -> sp.csr_array:
    """``rows x cols`` CSR, ``fan_in`` random columns per row, scaled to fire a little.

    Sorted draws with repetition plus ``0, 1, 2, ...`` are distinct sorted columns, so
    the matrix is built canonical without a dense draw.
    """
    fan_in = min(fan_in, cols)
    picks = np.sort(rng.integers(0, cols - fan_in + 1, (rows, fan_in)), axis=1)
    picks += np.arange(fan_in)
    values = rng.normal(0.4, 0.6, (rows, fan_in)) / np.sqrt(fan_in)
    # int32 indices, as scipy itself would choose for this many entries (int64 ones would
    # add a third to the source graph's memory).
    indptr = np.arange(rows + 1, dtype=np.int32) * fan_in
    return sp.csr_array(
        (values.ravel(), picks.ravel().astype(np.int32), indptr), shape=(rows, cols)
    )


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
    parser.add_argument("--kinds", nargs="+", choices=("ff", "rec"), default=["ff", "rec"])
    parser.add_argument("--fan-in", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--max-gib", type=float, default=8.0, help="skip larger estimated peaks")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", action="store_true", help="count activity on the placement")
    args = parser.parse_args()
    device = torch.device(args.device)
    # One guard: spikeforge's own refusal of large matrices follows --max-gib.
    os.environ[MAX_BYTES_VARIABLE] = str(int(args.max_gib * 2**30))
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.1f}")
    # As many chips as a size needs: the placement reports how many it used.
    hardware = load_hardware("loihi2")
    hardware = hardware.with_values(hardware.name, {"topology.chips": MAX_CHIPS})
    for kind in args.kinds:
        for neurons in args.sizes:
            width = neurons // LAYERS if kind == "ff" else neurons // 2
            matrices = LAYERS if kind == "ff" else 3  # input, forward and recurrent
            synapses = matrices * width * args.fan_in
            label = f"{kind:3s} {neurons:>7d} neurons {synapses:>9d} synapses"
            estimate = synapses * BYTES_PER_SYNAPSE / 2**30
            if estimate > args.max_gib:
                print(f"{label}: skipped, estimated peak {estimate:.0f} GiB > --max-gib")
                continue
            source = random_graph(kind, neurons, args.fan_in)
            passes: list[tuple[str, float, float]] = []
            with peak_memory(torch.device("cpu")) as peak:
                graph = _timed(passes, "import", from_nir, source)
                network = _timed(passes, "normalise", normalize, graph)
                del graph, source
                network = _timed(passes, "split", split_decays, network)
                timing = _timed(passes, "schedule", schedule, network)
                float_plan = _timed(passes, "lower", lower, network, timing)
                del network  # the quantiser reads the float plan only
                plan, _ = _timed(passes, "quantise", quantize, float_plan, 2, None)
                del float_plan
                try:
                    placement = _timed(passes, "place", place, plan, hardware)
                    where = f"{len(placement.cores)} cores, {placement.chips_used} chip(s)"
                except SpikeforgeError as exc:
                    placement = None
                    where = f"does not place: {exc}"
            total, cpu = (sum(p[i] for p in passes) for i in (1, 2))
            times = ", ".join(f"{name} {wall:.2f}" for name, wall, _ in passes)
            print(
                f"{label}: compile {total:.2f} s wall, {cpu:.2f} s CPU ({times}); "
                f"peak {peak.mib:.0f} MiB above the "
                f"source graph, process {_max_rss_gib():.2f} GiB so far; {where}"
            )
            estimate = synapses * EMULATOR_BYTES_PER_SYNAPSE / 2**30
            if estimate > args.max_gib:
                print(f"{'':>{len(label)}s}  emulator skipped: estimated peak {estimate:.0f} GiB")
            else:
                _emulate(plan, device, width, args.steps, len(label))
            if args.profile and placement is not None:
                _profile(plan, placement, device, width, args.steps, len(label))
            del plan, placement


def _emulate(plan: LoihiPlan, device: torch.device, width: int, steps: int, indent: int) -> None:
    """Sample-steps/s and peak memory of the emulator at batch 1, 32 and 256."""
    emulator = Emulator(plan, device, fuse=True)
    rng = np.random.default_rng(1)
    for batch in (1, 32, 256):
        spikes = rng.random((batch, steps, width), dtype=np.float32) < 0.1
        # Warm-up as long as the timed run: the update compiles once per batch 1 or
        # more and per thread count, and the thread trials try both.
        emulator.run({"input": spikes}, steps, [], [])
        with peak_memory(device) as peak:
            start = time.perf_counter()
            emulator.run({"input": spikes}, steps, [], [])
            took = time.perf_counter() - start
        print(
            f"{'':>{indent}s}  emulator b={batch:<3d} {batch * steps / took:9.0f} "
            f"sample-steps/s, peak {peak.mib:.0f} MiB"
        )


def _profile(
    plan: LoihiPlan,
    placement: Placement,
    device: torch.device,
    width: int,
    steps: int,
    indent: int,
) -> None:
    """Seconds and peak memory of counting activity on the placed plan at batch 1 and 8:
    the counter's tables, then the emulator's run with and without it observing."""
    emulator = Emulator(plan, device, fuse=True)
    rng = np.random.default_rng(1)
    for batch in (1, 8):
        spikes = {"input": rng.random((batch, steps, width), dtype=np.float32) < 0.1}
        emulator.run(spikes, steps, [], [])  # warm-up, as in _emulate
        start = time.perf_counter()
        emulator.run(spikes, steps, [], [])
        alone = time.perf_counter() - start
        with peak_memory(device) as peak:
            start = time.perf_counter()
            counter = ActivityCounter(plan, placement)
            tables = time.perf_counter() - start
            emulator.run(spikes, steps, [], [], on_step=counter)
            counted = time.perf_counter() - start - tables
            counter.result()
        print(
            f"{'':>{indent}s}  profile b={batch}: tables {tables:.2f} s, run {counted:.2f} s "
            f"counted vs {alone:.2f} s alone, peak {peak.mib:.0f} MiB"
        )
        del counter


def _max_rss_gib() -> float:
    """The process's largest resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _timed(passes: list[tuple[str, float, float]], name: str, work, *args):
    """``work(*args)``, recording its wall and CPU seconds (on a shared machine the wall
    time is the CPU time plus waiting for a core)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = work(*args)
    passes.append((name, time.perf_counter() - start, time.process_time() - cpu))
    return out


if __name__ == "__main__":
    main()
