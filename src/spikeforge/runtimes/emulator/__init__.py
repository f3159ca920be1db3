"""spikeforge's own Loihi emulator: Lava's process models, batched in torch, CPU or CUDA.

Bit-exact with Lava's ``fixed_pt`` models (``PyLifModelBitAcc``, ``PyDenseModelBitAcc``,
``PyDelayDenseModelBitAcc``) and equal to its ``floating_pt`` models up to float
summation order, but runs the whole batch at once instead of one OS process per
Lava process per sample.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError
from spikeforge.progress import progress_bar
from spikeforge.runtimes.emulator.engine import Emulator
from spikeforge.runtimes.options import DEFAULT_OPTIONS, RunOptions
from spikeforge.runtimes.result import (
    RunResult,
    checked_record,
    hardware_result,
    prepare_drive,
    readout_sources,
)

DEFAULT_CHUNK = 1024


def run_emulator(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray] | None,
    options: RunOptions = DEFAULT_OPTIONS,
    chunk: int = DEFAULT_CHUNK,
    watch_all: bool = False,
    fuse: bool | None = None,
) -> RunResult:
    """Run ``compiled`` on the emulator; the result has the layout of the Lava backend's.

    ``options.device`` defaults to CUDA when available and ``options.precision`` to the
    compiled one. Samples run ``chunk`` at a time, which bounds memory;
    ``options.on_step`` sees every hardware step's spikes (``[chunk, n]`` per source)
    and ``watch_all`` keeps every spiking population's raster. A netx network whose
    input layer has a neuron takes ``input_bias`` (``[batch, *shape]``) and ``steps``
    instead of ``inputs``. ``fuse`` compiles the fixed-point neuron update into one
    kernel (True), runs it op by op (False) or decides by the run's size (None).
    """
    network = compiled.network
    plan = compiled.plan(options.precision)
    record = checked_record(network, options.record)
    raw_timing = options.raw_timing
    drive = prepare_drive(
        network, plan, inputs, options.input_bias, options.steps, raw_timing, "emulator"
    )
    flat, batch, steps = drive.flat, drive.batch, drive.steps
    if chunk < 1:
        raise SpikeforgeError(f"chunk must be a positive number of samples, got {chunk}")
    device = _device(options.device)
    emulator = Emulator(plan, device, fuse)
    watch = set(readout_sources(network)) | set(record)
    if watch_all:
        watch |= {n for n, p in plan.populations.items() if p.spiking}
    watch = sorted(watch)
    # A bias-driven run has no source time: it runs exactly the steps asked for.
    total_steps = steps if drive.bias else steps + max((plan.latency[n] for n in watch), default=0)
    record_v = sorted(n for n in watch if n in record or not plan.populations[n].spiking)
    spikes: dict[str, list[np.ndarray]] = {n: [] for n in watch}
    volts: dict[str, list[np.ndarray]] = {n: [] for n in record_v}
    with progress_bar(
        f"emulator {plan.precision} ({device.type})",
        total=-(-batch // chunk) * total_steps,
        enabled=options.show_progress,
    ) as bar:
        for start in range(0, batch, chunk):
            part = {name: arr[start : start + chunk] for name, arr in flat.items()}
            bias = {name: arr[start : start + chunk] for name, arr in drive.bias.items()}
            s, v = emulator.run(
                part, total_steps, watch, record_v, options.on_step, bar.update, bias
            )
            for n in watch:
                spikes[n].append(s[n])
            for n in record_v:
                volts[n].append(v[n])
    return hardware_result(
        network,
        plan,
        flat,
        {n: _joined(parts) for n, parts in spikes.items()},
        {n: _joined(parts) for n, parts in volts.items()},
        total_steps,
        record,
        raw_timing,
        drive.added_batch,
        (batch, steps),
    )


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The chunks' arrays as one; a single chunk's as it is (a copy of a float64 raster
    cost as much as a small network's whole run)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _device(name: str | torch.device | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise SpikeforgeError(f"device {name!r}: not a torch device (try cpu or cuda)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpikeforgeError(f"device {name!r}: torch sees no CUDA device on this machine")
    if device.type not in ("cpu", "cuda"):
        raise SpikeforgeError(f"device {name!r}: the emulator runs on cpu or cuda")
    return device


__all__ = ["Emulator", "run_emulator"]
