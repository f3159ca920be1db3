"""Backends behind one call: ``run(compiled, inputs, backend=..., precision=...)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError
from spikeforge.runtimes.names import BACKENDS
from spikeforge.runtimes.result import RunResult


def run(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray],
    backend: str = "reference",
    precision: str | None = None,
    record: Iterable[str] = (),
    raw_timing: bool = False,
    show_progress: bool = False,
) -> RunResult:
    """Run ``compiled`` on ``inputs`` (``[batch, time, *shape]`` or ``[time, *shape]``).

    ``reference`` is the float64 ground truth and has no hardware timing;
    ``lava`` is Lava's CPU simulator at ``precision`` (default: the compiled one).
    """
    if backend == "reference":
        from spikeforge.runtimes.reference import run_reference

        if precision not in (None, "float"):
            raise SpikeforgeError("the reference backend simulates in float64; drop --precision")
        if raw_timing:
            raise SpikeforgeError(
                "the reference backend runs in source time; --raw-timing applies to lava"
            )
        return run_reference(compiled.network, inputs, record)
    if backend == "lava":
        from spikeforge.runtimes.lava import run_lava

        return run_lava(
            compiled,
            inputs,
            precision or compiled.precision,
            record,
            raw_timing,
            show_progress,
        )
    raise SpikeforgeError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")


__all__ = ["BACKENDS", "RunResult", "run"]
