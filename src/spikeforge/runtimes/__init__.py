"""Backends behind one call: ``run(compiled, inputs, backend=..., precision=...)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from spikeforge.choices import BACKENDS
from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError
from spikeforge.runtimes.options import RunOptions
from spikeforge.runtimes.result import (
    RunResult,
    StepObserver,
    expand_splits,
    join_splits,
    warn_if_silent,
)


def run(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray] | None,
    backend: str = "reference",
    precision: str | None = None,
    record: Iterable[str] = (),
    raw_timing: bool = False,
    show_progress: bool = False,
    on_step: StepObserver | None = None,
    device: str | None = None,
    input_bias: np.ndarray | None = None,
    steps: int | None = None,
) -> RunResult:
    """Run ``compiled`` on ``inputs`` (``[batch, time, *shape]`` or ``[time, *shape]``).

    ``reference`` is the float64 ground truth and has no hardware timing;
    ``lava`` is Lava's CPU simulator at ``precision`` (default: the compiled one);
    ``emulator`` reproduces Lava's process models batched in torch (``device``: cpu or
    cuda, default cuda when available). ``on_step`` (e.g. a
    :class:`spikeforge.profile.ActivityCounter`) is called once per step with every
    spike source's ``[batch, n]`` spikes: hardware steps on the Loihi backends,
    source steps on the reference. A netx network whose input layer has a neuron is
    driven by ``input_bias`` (``[batch, *shape]``, netx's W, H, C order) for ``steps``
    steps instead (``inputs`` None). ``record`` may name a population the compiler
    split by decays (:mod:`spikeforge.compile.split`): it comes back whole. The
    keywords are those of :class:`RunOptions`, which the backends take as one value.
    """
    requested = list(record)
    options = RunOptions(
        precision=precision, record=expand_splits(compiled.network, requested),
        raw_timing=raw_timing, show_progress=show_progress, on_step=on_step, device=device,
        input_bias=input_bias, steps=steps,
    )  # fmt: skip
    result = _run(compiled, inputs, backend, options)
    warn_if_silent(compiled.network, result)
    return join_splits(compiled.network, result, requested)


def _run(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray] | None,
    backend: str,
    options: RunOptions,
) -> RunResult:
    """:func:`run` on the populations the backends know (split ones as their parts)."""
    bias_driven = options.input_bias is not None or options.steps is not None
    if bias_driven and backend not in ("lava", "emulator"):
        raise SpikeforgeError(f"--input-bias and --steps apply to lava and emulator, not {backend}")
    if options.device is not None and backend != "emulator":
        raise SpikeforgeError(f"--device applies to the emulator backend, not {backend}")
    if backend == "reference":
        from spikeforge.runtimes.reference import run_reference

        if options.precision not in (None, "float"):
            raise SpikeforgeError("the reference backend simulates in float64; drop --precision")
        if options.raw_timing:
            raise SpikeforgeError(
                "the reference backend runs in source time; --raw-timing applies to the "
                "hardware backends (lava, emulator, loihi2)"
            )
        return run_reference(
            compiled.network, inputs, options, compiled.plan("float").uses_bias_source
        )
    if backend == "lava":
        from spikeforge.runtimes.lava import run_lava

        return run_lava(compiled, inputs, options)
    if backend == "emulator":
        from spikeforge.runtimes.emulator import run_emulator

        return run_emulator(compiled, inputs, options)
    if backend == "loihi2":
        from spikeforge.runtimes.loihi2 import run_loihi2

        return run_loihi2(compiled, inputs, options)
    raise SpikeforgeError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")


__all__ = ["BACKENDS", "RunOptions", "RunResult", "run"]
