"""Backends behind one call: ``run(compiled, inputs, backend=..., precision=...)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from spikeforge.choices import BACKENDS
from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError
from spikeforge.runtimes.result import (
    RunResult,
    StepObserver,
    expand_splits,
    join_splits,
    warn_if_silent,
)


def run(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray],
    backend: str = "reference",
    precision: str | None = None,
    record: Iterable[str] = (),
    raw_timing: bool = False,
    show_progress: bool = False,
    counter: StepObserver | None = None,
    device: str | None = None,
) -> RunResult:
    """Run ``compiled`` on ``inputs`` (``[batch, time, *shape]`` or ``[time, *shape]``).

    ``reference`` is the float64 ground truth and has no hardware timing;
    ``lava`` is Lava's CPU simulator at ``precision`` (default: the compiled one);
    ``emulator`` reproduces Lava's process models batched in torch (``device``: cpu or
    cuda, default cuda when available). ``counter`` (e.g. a
    :class:`spikeforge.profile.ActivityCounter`) is called once per step with every
    spike source's ``[batch, n]`` spikes: hardware steps on the Loihi backends,
    source steps on the reference. ``record`` may name a population the compiler
    split by decays (:mod:`spikeforge.compile.split`): it comes back whole.
    """
    requested = list(record)
    record = expand_splits(compiled.network, requested)
    result = _run(compiled, inputs, backend, precision, record, raw_timing, show_progress,
                  counter, device)  # fmt: skip
    warn_if_silent(compiled.network, result)
    return join_splits(compiled.network, result, requested)


def _run(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray],
    backend: str,
    precision: str | None,
    record: list[str],
    raw_timing: bool,
    show_progress: bool,
    counter: StepObserver | None,
    device: str | None,
) -> RunResult:
    """:func:`run` on the populations the backends know (split ones as their parts)."""
    if device is not None and backend != "emulator":
        raise SpikeforgeError(f"--device applies to the emulator backend, not {backend}")
    if backend == "reference":
        from spikeforge.runtimes.reference import run_reference

        if precision not in (None, "float"):
            raise SpikeforgeError("the reference backend simulates in float64; drop --precision")
        if raw_timing:
            raise SpikeforgeError(
                "the reference backend runs in source time; --raw-timing applies to the "
                "hardware backends (lava, emulator, loihi2)"
            )
        return run_reference(
            compiled.network, inputs, record, counter, compiled.float_plan.uses_bias_source
        )
    if backend == "lava":
        from spikeforge.runtimes.lava import run_lava

        return run_lava(
            compiled,
            inputs,
            precision or compiled.precision,
            record,
            raw_timing,
            show_progress,
            counter,
        )
    if backend == "emulator":
        from spikeforge.runtimes.emulator import run_emulator

        return run_emulator(
            compiled,
            inputs,
            precision or compiled.precision,
            record,
            raw_timing,
            show_progress,
            device=device,
            on_step=counter,
        )
    if backend == "loihi2":
        from spikeforge.runtimes.loihi2 import run_loihi2

        return run_loihi2(
            compiled, inputs, precision or "fixed", record, raw_timing, show_progress, counter
        )
    raise SpikeforgeError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")


__all__ = ["BACKENDS", "RunResult", "run"]
