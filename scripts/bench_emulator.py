"""Throughput of the emulator against Lava's CPU simulator and float32 torch, same networks.

Per network, side by side in one run (sample-steps per second, hardware steps):

* **lava/sample**: Lava ``fixed_pt`` through spikeforge's Lava backend, samples one
  by one, build, compile and process spawn included: what a user waits for.
* **lava steady**: the same process graph built and run once, then timed on a
  second run of the same steps: Lava's own stepping rate, no compile, no spawn.
* **f32 limit**: plain float32 torch doing the same matrices (every projection and
  convolution of the emulator's layout) and a 4-op float LIF at the emulator's batch,
  on one thread and on all threads, the faster kept: what any exact emulator could
  at most hope for.
* **emu b=1 / b=B**: the emulator (fixed point, compiled neuron update) through
  ``run_emulator``, after a warm-up run that pays for compilation; **fused/eager**:
  how much faster than the same run with the update op by op.

Spikes of every population must be identical row by row (emulator at batch B against
Lava's samples, or without Lava against the emulator op by op on the CPU) before a
row is printed as "identical". Peak memory is the device's (CUDA) or the process's
resident set (CPU) above where the phase began. Every timing is the best of
``REPEAT`` runs, for every tool alike. Targets (issue #15): emulator at
batch 256 >= 1000x Lava steady-state and >= 50 % of the float32 limit; a missed
target prints the distance and the measured split of an emulator step.

    .venv/bin/python scripts/bench_emulator.py [--batch 256] [--steps 100] [--device cpu]
    .venv/bin/python scripts/bench_emulator.py --save-networks nets/      # .sfnet files
    python scripts/bench_emulator.py --networks-dir nets/ --device cuda --no-lava
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spikeforge.compile.compiled import CompiledNet, load, save
from spikeforge.runtimes import RunOptions
from spikeforge.runtimes.emulator import Emulator, run_emulator
from spikeforge.runtimes.emulator.layout import Layout

TARGET_LAVA = 1000.0
#: Every timing is the best of this many runs: on a shared machine a run's wall time
#: is mostly how long it was descheduled, and the best run is the least disturbed one.
REPEAT = 3
TARGET_F32 = 0.5


def networks(names: list[str] | None) -> dict[str, CompiledNet]:
    """The spine's test networks, then every zoo model that has a trained checkpoint
    (needs norse, NIR and Lava's weight utilities: the compiling machine)."""
    from spikeforge.compile import compile_network
    from spikeforge.export import to_nir
    from spikeforge.ir import from_nir
    from spikeforge.models import zoo
    from spikeforge.models.examples import EXAMPLES

    out = {}
    for name, (factory, shape) in EXAMPLES.items():
        if names is None or name in names:
            graph = to_nir(factory(), torch.zeros(shape), dt=1e-3)
            out[name] = compile_network(from_nir(graph))
    for name in zoo.ZOO:
        if (names is None or name in names) and zoo.checkpoint_path(name).is_file():
            model = zoo.get(name)
            graph = to_nir(
                zoo.load_trained(name), torch.zeros(model.CARD.input_shape), dt=model.CARD.dt
            )
            out[name] = compile_network(from_nir(graph))
    return out


def saved_networks(directory: Path, names: list[str] | None) -> dict[str, CompiledNet]:
    """Pre-compiled networks (``NAME.sfnet``): a machine without Lava or norse runs these."""
    return {
        path.stem: load(path)
        for path in sorted(directory.glob("*.sfnet"))
        if names is None or path.stem in names
    }


@dataclass
class Peak:
    """Peak memory of one phase, MiB above where it began."""

    mib: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_memory(device: torch.device):
    """CUDA: the allocator's peak; CPU: the resident set, sampled every millisecond."""
    peak = Peak()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        yield peak
        torch.cuda.synchronize()
        peak.mib = (torch.cuda.max_memory_allocated() - base) / 2**20
        return
    base = _rss()
    high = [base]

    def sample() -> None:
        while not peak._stop.wait(0.001):
            high[0] = max(high[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        peak._stop.set()
        sampler.join()
        peak.mib = (max(high[0], _rss()) - base) / 2**20


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def float32_limit(layout: Layout, batch: int, steps: int, device: torch.device) -> float:
    """Sample-steps/s of float32 torch doing the layout's products and a float LIF,
    the faster of one thread and all threads (CPU)."""
    n = layout.n_neurons
    weights = [(p.cols, p.rows, p.weight_t.float()) for p in layout.projections]
    convs = [(c, c.weight.float()) for c in layout.convolutions]
    best = 0.0
    options = (1, torch.get_num_threads()) if device.type == "cpu" else (None,)
    before = torch.get_num_threads()
    for threads in sorted(set(options), key=str):
        if threads is not None:
            torch.set_num_threads(threads)
        senders = (torch.rand(batch, layout.n_senders, device=device) < 0.1).float()
        u = torch.zeros(batch, n, device=device)
        v = torch.zeros(batch, n, device=device)
        keep, vth = torch.full((n,), 0.9, device=device), torch.full((n,), 0.5, device=device)
        a_in = torch.zeros(batch, n, device=device)
        for t in range(3 + REPEAT * steps):  # 3 warm-up steps, then REPEAT timed windows
            if t >= 3 and (t - 3) % steps == 0:
                _sync(device)
                start = time.perf_counter()
            a_in.zero_()
            for cols, rows, w in weights:
                a_in[:, rows] += senders.index_select(1, cols) @ w
            for conv, w in convs:
                out = F.conv2d(
                    conv.source.image(senders[:, conv.cols]),
                    w,
                    stride=conv.stride,
                    padding=conv.padding,
                    dilation=conv.dilation,
                    groups=conv.groups,
                )
                a_in[:, conv.rows] += conv.source.flat(out)
            u = u * keep + a_in
            v = v * keep + u
            fired = v > vth
            v = v.masked_fill(fired, 0.0)
            senders[:, layout.neurons_start :] = fired
            if t >= 3 and (t - 3) % steps == steps - 1:
                _sync(device)
                best = max(best, batch * steps / (time.perf_counter() - start))
    torch.set_num_threads(before)
    return best


def step_split(emulator: Emulator, batch: int, steps: int = 20) -> tuple[float, float]:
    """Seconds per step of the (compiled) neuron update and of synaptic delivery at
    ``batch``, on one thread and on all (CPU), the faster total kept as a run would."""
    layout, device = emulator.layout, emulator.device
    emulator.neurons.fuse(True)
    before = torch.get_num_threads()
    best = (float("inf"), float("inf"))
    for threads in sorted({1, before}) if device.type == "cpu" else [before]:
        torch.set_num_threads(threads)
        u = torch.zeros(batch, layout.n_neurons, dtype=torch.int64, device=device)
        v = u.clone()
        ring = emulator.new_ring(batch)
        senders = (torch.rand(batch, layout.n_senders, device=device) < 0.1).float()
        emulator.neurons.begin(batch)
        times = [0.0, 0.0]
        for t in range(steps + 2):
            _sync(device)
            a = time.perf_counter()
            u, v, _ = emulator.neurons.step(u, v, ring[0], t + 1)
            _sync(device)
            b = time.perf_counter()
            emulator._deliver(senders, ring, t)
            _sync(device)
            if t >= 2:
                times[0] += b - a
                times[1] += time.perf_counter() - b
        if sum(times) / steps < sum(best):
            best = (times[0] / steps, times[1] / steps)
    torch.set_num_threads(before)
    return best


@dataclass
class LavaFigures:
    per_sample: float
    steady: float
    spikes: dict[str, np.ndarray]


def lava_figures(compiled: CompiledNet, inputs: np.ndarray, pops: list[str]) -> LavaFigures:
    """Lava as a user waits (per sample, fresh graph) and Lava stepping (second run)."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer

    from spikeforge.runtimes import run
    from spikeforge.runtimes.lava import (
        build_process_graph,
        connect_source,
        connected_parts,
        input_buffer,
    )

    start = time.perf_counter()
    result = run(compiled, inputs, backend="lava", precision="fixed", raw_timing=True, record=pops)
    per_sample = len(inputs) * result.steps / (time.perf_counter() - start)
    plan = compiled.plan("fixed")
    steps = result.steps
    graph = build_process_graph(plan)
    for name, ports in graph.input_ports.items():
        data = input_buffer(plan, inputs[0].reshape(inputs.shape[1], -1), steps)
        shape = tuple(ports[0].shape) if ports else (plan.inputs[name],)
        source = RingBuffer(data=data.reshape(*shape, steps))
        for port in ports:
            connect_source(source.s_out, port)
    config = Loihi2SimCfg(select_tag="fixed_pt")
    stepping = 0.0
    for component in connected_parts(plan):
        anchor = graph.neurons[component[0]]
        try:
            anchor.run(condition=RunSteps(num_steps=steps), run_cfg=config)
            best = float("inf")
            for _ in range(REPEAT):
                start = time.perf_counter()
                anchor.run(condition=RunSteps(num_steps=steps), run_cfg=config)
                best = min(best, time.perf_counter() - start)
            stepping += best
        finally:
            anchor.stop()
    return LavaFigures(per_sample, steps / stepping, result.spikes)


def emulate(compiled, inputs, device, pops, fuse=True, repeat=1):
    """The emulator's result and its best wall time over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        options = RunOptions(raw_timing=True, device=device, record=pops)
        result = run_emulator(compiled, inputs, options, fuse=fuse)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="emulator batch size")
    parser.add_argument("--steps", type=int, default=100, help="input steps per sample")
    parser.add_argument("--lava-samples", type=int, default=3, help="samples run on Lava")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--networks", nargs="+", default=None)
    parser.add_argument("--networks-dir", type=Path, help="run NAME.sfnet files from here")
    parser.add_argument("--save-networks", type=Path, help="write NAME.sfnet files here, stop")
    parser.add_argument("--no-lava", action="store_true", help="emulator and float32 only")
    args = parser.parse_args()
    if args.networks_dir:
        nets = saved_networks(args.networks_dir, args.networks)
    else:
        nets = networks(args.networks)
    if args.save_networks:
        args.save_networks.mkdir(parents=True, exist_ok=True)
        for name, compiled in nets.items():
            save(compiled, args.save_networks / f"{name}.sfnet")
        print(f"wrote {len(nets)} networks to {args.save_networks}")
        return
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    loadavg = os.getloadavg()[0]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
        f"load average {loadavg:.1f}, batch {args.batch}, {args.steps} input steps"
    )
    b = args.batch
    header = (
        f"{'network':21s} {'neurons':>7s} {'steps':>5s} {'lava/sample':>11s} {'lava steady':>11s} "
        f"{'f32 limit':>10s} {'emu b=1':>9s} {f'emu b={b}':>10s} {'x steady':>9s} {'% f32':>6s} "
        f"{'emu MiB':>8s} {'fused/eager':>11s}  spikes"
    )
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    k = args.lava_samples
    for name, compiled in nets.items():
        shape = next(iter(compiled.network.inputs.values()))
        inputs = (rng.random((b, args.steps, *shape)) < 0.2).astype(np.float64)
        pops = sorted(n for n, p in compiled.network.populations.items() if p.spiking)
        lava = None if args.no_lava else lava_figures(compiled, inputs[:k], pops)
        # Warm-up: compilation (batch 1 is its own specialisation), CUDA context.
        emulate(compiled, inputs[:1], device, pops)
        emulate(compiled, inputs[:2], device, pops)
        _, t_one = emulate(compiled, inputs[:1], device, pops, repeat=REPEAT)
        with peak_memory(device) as peak:
            many, t_many = emulate(compiled, inputs, device, pops, repeat=REPEAT)
        emulate(compiled, inputs[:2], device, pops, fuse=False)
        _, t_eager = emulate(compiled, inputs, device, pops, fuse=False, repeat=REPEAT)
        reference = (
            lava.spikes
            if lava is not None
            else emulate(compiled, inputs[:k], torch.device("cpu"), pops, fuse=False)[0].spikes
        )
        exact = all(np.array_equal(many.spikes[p][:k], reference[p]) for p in pops)
        steps = many.steps
        emulator = Emulator(compiled.plan("fixed"), device, fuse=True)
        limit = float32_limit(emulator.layout, b, steps, device)
        one_rate, many_rate = steps / t_one, b * steps / t_many
        neurons = sum(p.size for p in compiled.network.populations.values())
        lava_cols = (
            f"{lava.per_sample:11.0f} {lava.steady:11.0f}" if lava else f"{'-':>11s} {'-':>11s}"
        )
        versus = f"{many_rate / lava.steady:8.0f}x" if lava else f"{'-':>9s}"
        print(
            f"{name:21s} {neurons:7d} {steps:5d} {lava_cols} {limit:10.0f} {one_rate:9.0f} "
            f"{many_rate:10.0f} {versus} {100 * many_rate / limit:5.1f}% {peak.mib:8.1f} "
            f"{t_eager / t_many:10.2f}x  "
            f"{'identical' if exact else 'DIFFER'}{'' if lava else ' (vs cpu op by op)'}"
        )
        missed = many_rate < TARGET_F32 * limit or (lava and many_rate < TARGET_LAVA * lava.steady)
        if missed:
            update, deliver = step_split(emulator, b)
            per_step = b / many_rate
            print(
                f"{'':21s} missed: {many_rate / limit:.2f} of f32 (target {TARGET_F32})"
                + (f", {many_rate / lava.steady:.0f}x of {TARGET_LAVA:.0f}x" if lava else "")
                + f"; a step {1e3 * per_step:.2f} ms: neuron update {1e3 * update:.2f} ms, "
                f"delivery {1e3 * deliver:.2f} ms, rest (input, recording, bookkeeping) "
                f"{1e3 * max(per_step - update - deliver, 0):.2f} ms"
            )


if __name__ == "__main__":
    main()
