"""Read one ``.npy`` array (a file, or a member of an ``.npz``/``.sfnet``) safely.

``numpy.load`` trusts the header: it allocates whatever shape the header declares
before reading a byte of data (10^9 x 12 x 4 float64 from a 100-byte file), falls
back to unpickling for anything that is not ``.npy`` ("pickled data" for an HDF5
file), and accepts complex, object and structured dtypes. Here the header is parsed
first and the array refused, with its name, unless it is a plain real numeric array
whose declared size matches the bytes actually present and fits the memory limit.
"""

from __future__ import annotations

import tokenize
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from spikeforge.errors import SpikeforgeError
from spikeforge.limits import require_fits

MAGIC = b"\x93NUMPY"
#: bool, signed and unsigned integers, floats: what a network or an input can hold.
REAL_KINDS = "biuf"


def read_header(fh: BinaryIO, failure: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` header at ``fh``'s position.

    numpy parses the header's Python literal itself; whatever that parser raises on
    hostile bytes becomes one SpikeforgeError starting with ``failure``.
    """
    try:
        version = npy_format.read_magic(fh)
        return npy_format._read_array_header(fh, version)
    except (ValueError, SyntaxError, TypeError, EOFError, tokenize.TokenError) as exc:
        raise SpikeforgeError(f"{failure} ({exc})") from exc


def read_npy(fh: BinaryIO, available: int, where: str) -> np.ndarray:
    """The array in ``fh`` (``available`` bytes long); errors start with ``where``."""
    head = fh.read(len(MAGIC))
    if head != MAGIC:
        hint = " (an HDF5 file: NIR or netx?)" if head.startswith(b"\x89HDF") else ""
        raise SpikeforgeError(f"{where}: not a readable .npy array{hint}")
    fh.seek(0)
    shape, fortran, dtype = read_header(fh, f"{where}: damaged .npy header")
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in REAL_KINDS:
        raise SpikeforgeError(
            f"{where}: dtype {dtype} is not a real number type (bool, int, float)"
        )
    count = 1
    for extent in shape:
        count *= int(extent)
    nbytes = count * dtype.itemsize
    require_fits(nbytes, f"{where}: array of shape {tuple(shape)} {dtype}")
    if nbytes > available - fh.tell():
        raise SpikeforgeError(
            f"{where}: header declares shape {tuple(shape)} ({nbytes:,} bytes) but the file "
            f"holds {max(available - fh.tell(), 0):,} bytes of data (truncated?)"
        )
    data = fh.read(nbytes)
    if len(data) != nbytes:
        raise SpikeforgeError(f"{where}: truncated ({len(data):,} of {nbytes:,} bytes)")
    array = np.frombuffer(data, dtype=dtype, count=count)
    order = "F" if fortran else "C"
    return array.reshape(shape, order=order).copy()
