"""Open an HDF5 file (NIR, netx ``.net``) so that it can make us read nothing but itself.

HDF5 lets a file point outside itself: external storage (a dataset whose bytes live in
another file, e.g. ``/etc/shadow`` or a FIFO that blocks forever), external links to
other HDF5 files, virtual datasets assembled from other files, and soft links that
can form cycles. A network description needs none of these, so :func:`checked_hdf5`
walks the whole file *before any dataset is read* and refuses each of them, and
refuses datasets whose declared size (after decompression) exceeds a limit, and
files with absurdly many objects or nesting. Every refusal names the file and the
object.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py

from spikeforge.errors import SpikeforgeError
from spikeforge.limits import DEFAULT_MAX_BYTES, MAX_BYTES_VARIABLE, max_bytes


@dataclass(frozen=True)
class Hdf5Limits:
    """What one network file may declare; generous for real networks, small for bombs.

    PilotNet's largest weight array is 2560 x 100; a full Loihi 2 chip's 120 M synapses
    as float64 are ~1 GB, hence the 2 GiB default per dataset.
    """

    max_dataset_bytes: int = DEFAULT_MAX_BYTES
    max_objects: int = 200_000
    max_depth: int = 32

    @classmethod
    def from_environment(cls) -> Hdf5Limits:
        """The defaults, with the per-dataset limit of :mod:`spikeforge.limits`."""
        return cls(max_dataset_bytes=max_bytes())


def _check_dataset(dataset: h5py.Dataset, where: str, limits: Hdf5Limits) -> None:
    if dataset.external:
        raise SpikeforgeError(f"{where}: dataset stored in external files; refused")
    if dataset.is_virtual:
        raise SpikeforgeError(f"{where}: virtual dataset (data from other files); refused")
    if dataset.shape is None:  # an empty (null) dataspace holds nothing
        return
    size = 1
    for extent in dataset.shape:
        size *= int(extent)
    nbytes = size * max(int(dataset.dtype.itemsize), 1)
    if nbytes > limits.max_dataset_bytes:
        raise SpikeforgeError(
            f"{where}: dataset of shape {tuple(dataset.shape)} ({nbytes} bytes) exceeds the "
            f"limit of {limits.max_dataset_bytes} bytes (raise it with {MAX_BYTES_VARIABLE})"
        )


def check_hdf5_tree(root: h5py.Group, limits: Hdf5Limits | None = None) -> None:
    """Refuse links out of the file, external or virtual storage and oversized datasets."""
    limits = limits or Hdf5Limits.from_environment()
    count = 0
    stack: list[tuple[h5py.Group, int]] = [(root, 0)]
    while stack:
        group, depth = stack.pop()
        if depth > limits.max_depth:
            raise SpikeforgeError(f"{group.name}: nested deeper than {limits.max_depth} groups")
        for key in group:
            count += 1
            if count > limits.max_objects:
                raise SpikeforgeError(f"more than {limits.max_objects} objects in the file")
            where = f"{group.name.rstrip('/')}/{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise SpikeforgeError(f"{where}: external link to {link.filename!r}; refused")
            if isinstance(link, h5py.SoftLink):
                raise SpikeforgeError(f"{where}: soft link to {link.path!r}; refused")
            item = group[key]
            if isinstance(item, h5py.Dataset):
                _check_dataset(item, where, limits)
            elif isinstance(item, h5py.Group):
                stack.append((item, depth + 1))
        count += len(group.attrs)
        if count > limits.max_objects:
            raise SpikeforgeError(f"more than {limits.max_objects} objects in the file")


@contextlib.contextmanager
def checked_hdf5(path: str | os.PathLike[str]) -> Iterator[h5py.File]:
    """Open ``path`` read-only after :func:`check_hdf5_tree`.

    The file is opened once, without blocking, and must then be a regular file (a
    FIFO or device would block or stream forever); h5py reads from that very
    descriptor, so the file checked is the file read even if the path is swapped
    meanwhile. Messages name the object, not the file: every reader prefixes its path.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise SpikeforgeError("no such file") from exc
    except IsADirectoryError as exc:
        raise SpikeforgeError("a directory, not a file") from exc
    except OSError as exc:
        raise SpikeforgeError(f"cannot be opened ({exc.strerror})") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise SpikeforgeError(
            "a directory, not a file" if stat.S_ISDIR(mode) else "not a regular file"
        )
    with os.fdopen(fd, "rb") as raw:
        try:
            handle = h5py.File(raw, "r")
        except OSError as exc:
            raise SpikeforgeError(f"not an HDF5 file ({exc})") from exc
        with handle:
            check_hdf5_tree(handle)
            yield handle
