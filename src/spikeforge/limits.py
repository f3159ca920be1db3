"""How much memory one input may make spikeforge allocate, and how to raise it.

Hostile or mistaken files declare sizes (an ``.npy`` header, an HDF5 dataspace, a
graph of 10^5 neurons densely connected); every reader estimates the bytes a
declaration would cost and refuses it *before* allocating, naming the figure, the
limit and the variable that raises it.
"""

from __future__ import annotations

import os

from spikeforge.errors import SpikeforgeError

#: Environment variable that raises :data:`DEFAULT_MAX_BYTES` (a whole number of bytes).
MAX_BYTES_VARIABLE = "SPIKEFORGE_MAX_BYTES"

#: 2 GiB: a full Loihi 2 chip's 120 M synapses as float64 are ~1 GB, PilotNet's
#: largest weight array is 2560 x 100; a bomb asks for orders of magnitude more.
DEFAULT_MAX_BYTES = 2 << 30


def max_bytes() -> int:
    """The limit in bytes, from :data:`MAX_BYTES_VARIABLE` or the default."""
    raw = os.environ.get(MAX_BYTES_VARIABLE)
    if raw is None:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError as exc:
        raise SpikeforgeError(f"{MAX_BYTES_VARIABLE}={raw!r} is not a whole number") from exc
    if value <= 0:
        raise SpikeforgeError(f"{MAX_BYTES_VARIABLE}={value} must be positive")
    return value


def require_fits(nbytes: int, what: str) -> None:
    """Refuse ``what`` if it would take more than :func:`max_bytes` bytes."""
    limit = max_bytes()
    if nbytes > limit:
        raise SpikeforgeError(
            f"{what} needs {nbytes:,} bytes ({nbytes / 2**30:.3g} GiB), more than the limit "
            f"of {limit:,} bytes (raise it with {MAX_BYTES_VARIABLE}=BYTES)"
        )
