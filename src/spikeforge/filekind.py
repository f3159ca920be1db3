"""What kind of file a path holds, read from its first bytes, so a wrong one is named.

A network file (NIR or netx HDF5, or a ``.sfnet`` zip) given something else fails
deep inside h5py ("file signature not found") or numpy; the user needs to hear what
the file *is* and which command turns it into what was asked for.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from spikeforge.errors import SpikeforgeError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
#: torch.save's legacy (non-zip) format starts with a pickle protocol 2 opcode.
PICKLE_MAGIC = b"\x80\x02"


def file_kind(path: Path) -> str:
    """``"hdf5"``, ``"sfnet"``, ``"pytorch"``, ``"npy"``, ``"zip"`` or ``"unknown"``."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(PICKLE_MAGIC):
        return "pytorch"
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "unknown"
        if any(n.endswith("data.pkl") for n in names):
            return "pytorch"
        return "sfnet" if "__header__.npy" in names else "zip"
    return "unknown"


def check_network_file(path: str | Path) -> None:
    """Refuse, in one line saying what to run instead, a file that is no network.

    Missing files and unknown contents pass through: the loader's own message
    (naming the file) is the better one there.
    """
    path = Path(path)
    if not path.is_file():
        return
    kind = file_kind(path)
    if kind == "pytorch":
        raise SpikeforgeError(
            f"{path}: this is a PyTorch checkpoint: run spikeforge export first "
            f"(spikeforge export {path} --factory model.py:make_net -o {path.stem}.nir), "
            "or spikeforge.deploy(module, ...) in Python"
        )
    if kind == "npy":
        raise SpikeforgeError(
            f"{path}: this is a numpy array (an input?), not a network: pass a NIR file, "
            "a netx .net or a compiled .sfnet"
        )
    if kind == "hdf5" and path.suffix == ".sfnet":
        raise SpikeforgeError(
            f"{path}: this is an HDF5 file (NIR or netx) named .sfnet: rename it to .nir "
            "or .net, or compile it with spikeforge compile"
        )
    if kind == "sfnet" and path.suffix != ".sfnet":
        raise SpikeforgeError(
            f"{path}: this is a compiled spikeforge network (.sfnet), not a NIR graph: "
            "rename it to .sfnet"
        )
