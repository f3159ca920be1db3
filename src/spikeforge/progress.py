"""Progress bars for anything that takes more than a couple of seconds.

tqdm's default lock is a multiprocessing lock, and creating one fixes Python's
multiprocessing start method; Lava sets the method itself when its runtime is first
imported and fails if it is already fixed. Every bar here therefore uses a thread
lock, so a bar shown before Lava is imported (the emulator's, say) cannot break a
later Lava run in the same process.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

tqdm.set_lock(threading.RLock())


#: A step still running after this many seconds says so (one line on stderr).
SLOW_S = 2.0


@contextmanager
def stage(
    step: int, total: int, what: str, enabled: bool = True, after_s: float = SLOW_S
) -> Iterator[None]:
    """Around a step that may take seconds: ``spikeforge: stage 2/3: compiling``.

    The line appears only if the step is still running after ``after_s``, so a quick
    step (or a quick one-line error) leaves stderr as it was; unlike a bar it never
    rewrites itself, so a log file gets one line per slow step. ``total`` 0 is a step
    outside any numbered sequence (the line is then just ``spikeforge: what``).
    """
    if not enabled:
        yield
        return
    line = f"spikeforge: stage {step}/{total}: {what}" if total else f"spikeforge: {what}"
    timer = threading.Timer(after_s, lambda: print(line, file=sys.stderr, flush=True))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def progress(
    items: Iterable[T], desc: str, enabled: bool = True, total: int | None = None
) -> Iterator[T]:
    """Iterate with a bar on stderr when enabled (the CLI enables it; tests do not)."""
    if not enabled:
        yield from items
        return
    yield from progress_bar(desc, total=total, enabled=True, iterable=items)


def progress_bar(
    desc: str, total: int | None = None, enabled: bool = True, iterable: Iterable | None = None
) -> tqdm:
    """A bar to ``update`` by hand (or iterate), on stderr, gone when it closes.

    Only on a terminal: redirected to a log, a bar's ``\r`` updates are dozens of
    lines of noise, so callers mark their slow steps with :func:`stage` instead.
    """
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        disable=not (enabled and sys.stderr.isatty()),
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
