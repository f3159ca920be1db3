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
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

tqdm.set_lock(threading.RLock())


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
    """A bar to ``update`` by hand (or iterate), on stderr, gone when it closes."""
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        disable=not enabled,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
