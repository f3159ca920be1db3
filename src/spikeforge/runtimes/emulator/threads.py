"""How many CPU threads the emulator's steps use: measured on the run's own first steps.

A fixed rule (one thread below some product size) was wrong both ways: waking torch's
pool costs more than small ops take, and on a loaded machine a pool thread that is not
scheduled stalls every op (poisson_vae ran 8.6x faster on one thread), while a large
matrix product does gain from the pool. Timing the first steps both ways is cheap (a
few steps of hundreds) and answers for this network, batch, device and machine load.
The choice cannot change results: integer sums are exact in any order, and float plans
promise Lava's results only up to summation order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

#: Timed steps per thread count; the first step of a run (allocation, kernel
#: compilation) is never timed. Switching is itself slow (``set_num_threads`` took
#: up to 40 ms on the loaded machine), so each option's steps run back to back and
#: an emulator keeps its choice per batch size.
TRIALS = 2


@dataclass
class ThreadPolicy:
    """Alternates thread counts over the first steps, then keeps the fastest."""

    options: tuple[int, ...]
    times: dict[int, float] = field(default_factory=dict)
    chosen: int | None = None
    _started: float = 0.0
    _current: int = 0

    @classmethod
    def for_device(cls, device: torch.device) -> ThreadPolicy:
        threads = torch.get_num_threads()
        if device.type != "cpu" or threads == 1:
            return cls(options=(threads,), chosen=threads)
        return cls(options=(1, threads))

    def begin_step(self, t: int) -> None:
        """Set the thread count for step ``t`` (from 0) and start its clock."""
        if self.chosen is not None:
            self._current = self.chosen
        else:  # step 0 untimed, then TRIALS steps per option, one switch per option
            self._current = self.options[min(max(t - 1, 0) // TRIALS, len(self.options) - 1)]
        if torch.get_num_threads() != self._current:
            torch.set_num_threads(self._current)
        self._started = time.perf_counter()

    def end_step(self, t: int) -> None:
        """Stop the clock of step ``t``; after the trials, choose."""
        if self.chosen is not None or t == 0:
            return
        took = time.perf_counter() - self._started
        self.times[self._current] = min(self.times.get(self._current, took), took)
        if t >= TRIALS * len(self.options):
            self.chosen = min(self.times, key=self.times.__getitem__)


_POLICIES: dict[tuple, ThreadPolicy] = {}


def shared_policy(work: tuple, device: torch.device) -> ThreadPolicy:
    """The process's policy for one kind of work (``work``: the layout's sizes and the
    batch), so that only the first run of it pays for the trials: ``run_emulator``
    builds an emulator per call, and repeated short runs spent more time switching
    threads (4 switches of up to 10 ms each under load) than stepping."""
    key = (*work, device.type, torch.get_num_threads())
    return _POLICIES.setdefault(key, ThreadPolicy.for_device(device))
