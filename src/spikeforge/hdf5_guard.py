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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py

from spikeforge.errors import SpikeforgeError

#: Environment variable that raises :attr:`Hdf5Limits.max_dataset_bytes` (bytes).
MAX_BYTES_VARIABLE = "SPIKEFORGE_MAX_DATASET_BYTES"


@dataclass(frozen=True)
class Hdf5Limits:
    """What one network file may declare; generous for real networks, small for bombs.

    PilotNet's largest weight array is 2560 x 100; a full Loihi 2 chip's 120 M synapses
    as float64 are ~1 GB, hence the 2 GiB default per dataset.
    """

    max_dataset_bytes: int = 2 << 30
    max_objects: int = 200_000
    max_depth: int = 32

    @classmethod
    def from_environment(cls) -> Hdf5Limits:
        raw = os.environ.get(MAX_BYTES_VARIABLE)
        if raw is None:
            return cls()
        try:
            value = int(raw)
        except ValueError:
            raise SpikeforgeError(f"{MAX_BYTES_VARIABLE}={raw!r} is not a whole number") from None
        if value <= 0:
            raise SpikeforgeError(f"{MAX_BYTES_VARIABLE}={value} must be positive")
        return cls(max_dataset_bytes=value)


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

    Only a regular file is opened (a FIFO or device would block or stream forever).
    Messages name the object, not the file: every reader prefixes its file's path
    and words h5py's OSError for a file that is not HDF5 in its own terms.
    """
    path = Path(path)
    if not path.is_file():
        raise SpikeforgeError(
            ("a directory" if path.is_dir() else "not a regular file")
            if path.exists()
            else "no such file"
        )
    with h5py.File(path, "r") as handle:  # OSError (not HDF5) is the caller's to word
        check_hdf5_tree(handle)
        yield handle
