"""The compiled network: the pipeline's product, and its one-file ``.sfnet`` format.

A ``.sfnet`` (format version 4) is a zip (numpy ``.npz``) holding a JSON header and
one ``.npy`` member per array. It stores the *plans themselves* — the float and
fixed-point :class:`~spikeforge.compile.lower.LoihiPlan` with every quantised
integer, the timing, the quantisation report — beside the normalised network the
reference runtime and the reports read, serialised field by field from the
dataclasses (:mod:`spikeforge.compile.codec`). Loading never re-runs lowering or the
quantiser, so a file keeps meaning the same plan when those passes change.

Loading is defensive: members are checked for declared size before they are read,
only members the header refers to are read, and every field is validated (types,
shapes, Loihi widths, names that refer to existing populations, bounded delays and
latencies) with the file, field, value and limit named.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from spikeforge.compile import sfnet_checks
from spikeforge.compile.codec import Encoder, decode
from spikeforge.compile.lower import LoihiPlan, Precision, lower
from spikeforge.compile.network import Network
from spikeforge.compile.quantize import QuantReport, quantize
from spikeforge.compile.timing import Timing, schedule
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.nodes import Graph
from spikeforge.limits import require_fits
from spikeforge.loihi_format import DECAY_SHIFT
from spikeforge.npy_guard import read_header, read_npy

FORMAT = "spikeforge.sfnet"
FORMAT_VERSION = 4
#: Version 3 is version 4 without convolutional connections in the network: its
#: connections are all dense and stored untagged, and are read as such.
V3 = 3
HEADER = "__header__"
#: A header is text describing a few populations; 16 MiB is far beyond any real one.
MAX_HEADER_BYTES = 16 << 20

#: Runs the float reference on calibration inputs and returns each population's peak
#: state; supplied by a higher layer (the compiler does not run networks itself).
Calibrate = Callable[[Network], dict[str, np.ndarray]]


@dataclass
class CompiledNet:
    """A network scheduled for Loihi, with its float and fixed-point plans."""

    network: Network
    timing: Timing
    #: None for a netx ``.net`` compiled from the file's own fixed-point integers: that
    #: plan is the fixed plan unchanged, and its float model is the file imported as a
    #: graph (``--precision float``), not a plan of this object.
    float_plan: LoihiPlan | None
    fixed_plan: LoihiPlan
    quant_report: list[QuantReport]
    precision: Precision = "fixed"
    allow_timing_divergence: bool = False
    weight_planes: int = 2
    peaks: dict[str, np.ndarray] | None = None
    #: Bits of the fixed-point decays where 12 bits do not hold a time constant exactly
    #: (:func:`spikeforge.compile.quantize.decay_width`); above 12 such populations run
    #: as SfLif, on the chip a microcoded neuron.
    decay_bits: int = DECAY_SHIFT

    def plan(self, precision: str | None = None) -> LoihiPlan:
        precision = precision or self.precision
        if precision not in ("float", "fixed"):
            raise SpikeforgeError(f"precision must be 'float' or 'fixed', got {precision!r}")
        if precision == "float" and self.float_plan is None:
            raise SpikeforgeError(
                "this network was compiled from a netx file's own fixed-point integers; "
                "its float model is the netx file imported as a graph (--precision float)"
            )
        return self.float_plan if precision == "float" else self.fixed_plan

    def with_weight_planes(self, weight_planes: int) -> CompiledNet:
        """The same network quantised again into ``weight_planes`` planes, with the same
        calibrated peaks (the fixed plan is derived state: never change the count alone)."""
        return self._requantized(weight_planes, self.decay_bits)

    def with_decay_bits(self, decay_bits: int) -> CompiledNet:
        """The same network quantised again with ``decay_bits``-bit decays."""
        return self._requantized(self.weight_planes, decay_bits)

    def _requantized(self, weight_planes: int, decay_bits: int) -> CompiledNet:
        if self.float_plan is None:
            raise SpikeforgeError(
                "a netx file's fixed-point plan is the file's own integers; it is not re-quantised"
            )
        fixed_plan, report = quantize(self.float_plan, weight_planes, self.peaks, decay_bits)
        return replace(
            self,
            fixed_plan=fixed_plan,
            quant_report=report,
            weight_planes=weight_planes,
            decay_bits=decay_bits,
        )

    @property
    def output_latency(self) -> dict[str, int]:
        """Hardware steps between an input and each output's first possible response."""
        result = {}
        for name, readout in self.network.readouts.items():
            sources = [t.pre for t in readout.terms if t.pre in self.network.populations]
            result[name] = max((self.timing.latency[s] for s in sources), default=0)
        return result


def compile_network(
    source: Graph | Network,
    precision: Precision = "fixed",
    allow_timing_divergence: bool = False,
    weight_planes: int = 2,
    calibration: Calibrate | None = None,
    decay_bits: int = DECAY_SHIFT,
) -> CompiledNet:
    """Run the passes: normalise (if given a graph), split per-neuron decays, schedule,
    lower, quantise.

    ``calibration`` (e.g. :func:`spikeforge.runtimes.reference.calibrate_on` of some
    inputs) returns the peak states of the float network; quantisation then scales
    each population to them instead of the worst case (see
    :func:`spikeforge.compile.quantize.quantize`). ``decay_bits`` above 12 holds time
    constants that Loihi's 12-bit decays round in wider fractions (a microcoded neuron).
    """
    from spikeforge.compile.network import normalize
    from spikeforge.compile.split import split_decays

    network = split_decays(normalize(source) if isinstance(source, Graph) else source)
    timing = schedule(network, allow_divergence=allow_timing_divergence)
    peaks = None if calibration is None else calibration(network)
    float_plan = lower(network, timing)
    fixed_plan, report = quantize(float_plan, weight_planes, peaks, decay_bits)
    return CompiledNet(
        network,
        timing,
        float_plan,
        fixed_plan,
        report,
        precision,
        allow_timing_divergence,
        weight_planes,
        peaks,
        decay_bits,
    )


def save(compiled: CompiledNet, path: str | Path) -> None:
    """Write ``compiled`` to ``path`` atomically."""
    from spikeforge.atomic import atomic_path

    encoder = Encoder()
    body = encoder.encode(compiled, CompiledNet, "net")
    header = {"format": FORMAT, "version": FORMAT_VERSION, "compiled": body}
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **{HEADER: np.array(json.dumps(header))}, **encoder.arrays)
    except OSError as exc:
        raise SpikeforgeError(f"cannot write compiled network to {path}: {exc}") from exc


def load(path: str | Path) -> CompiledNet:
    """Read a ``.sfnet``; a file that is not one, or of another version, is refused clearly."""
    path = Path(path)
    if not path.is_file():
        raise SpikeforgeError(f"{path}: {'a directory' if path.is_dir() else 'no such file'}")
    try:
        with zipfile.ZipFile(path) as archive:
            header = _read_header(archive, path)
            arrays = _read_arrays(archive, header, path)
    except SpikeforgeError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
    ) as exc:
        # zipfile and zlib raise their own types on damaged data
        raise SpikeforgeError(
            f"{path}: not a spikeforge compiled network ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        compiled = decode(header["compiled"], CompiledNet, "net", arrays, "compiled")
        sfnet_checks.check_compiled(compiled)
    except SpikeforgeError as exc:
        raise SpikeforgeError(f"{path}: corrupt compiled network: {exc}") from exc
    return compiled


def _read_header(archive: zipfile.ZipFile, path: Path) -> dict:
    member = f"{HEADER}.npy"
    if member not in archive.namelist():
        raise SpikeforgeError(f"{path}: not a spikeforge compiled network (no {HEADER})")
    info = archive.getinfo(member)
    if info.file_size > MAX_HEADER_BYTES:
        raise SpikeforgeError(
            f"{path}: header of {info.file_size:,} bytes exceeds {MAX_HEADER_BYTES:,}"
        )
    with archive.open(info) as fh:
        raw = _read_text_npy(fh, info.file_size, path)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise SpikeforgeError(
            f"{path}: not a spikeforge compiled network (header is not JSON: {type(exc).__name__})"
        ) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SpikeforgeError(f"{path}: not a spikeforge compiled network")
    if header.get("version") not in (V3, FORMAT_VERSION) or isinstance(header.get("version"), bool):
        raise SpikeforgeError(
            f"{path}: written in .sfnet format version {header.get('version')!r}, this spikeforge "
            f"reads version {FORMAT_VERSION} (and still reads version {V3}); compile the source "
            "graph again"
        )
    if "compiled" not in header:
        raise SpikeforgeError(f"{path}: corrupt compiled network: header has no 'compiled'")
    if header["version"] == V3:
        _tag_v3_connections(header["compiled"])
    return header


def _tag_v3_connections(compiled: object) -> None:
    """Tag a version-3 network's connections as the dense ``Connection`` they all are
    (version 4 stores a connection as either kind); anything malformed is left for
    decoding to name."""
    network = compiled.get("network") if isinstance(compiled, dict) else None
    connections = network.get("connections") if isinstance(network, dict) else None
    if isinstance(connections, list):
        network["connections"] = [{"kind": "Connection", "value": c} for c in connections]


def _read_text_npy(fh, size: int, path: Path) -> str:
    """The header member: a 0-d unicode ``.npy`` (checked, not unpickled)."""
    shape, _, dtype = read_header(fh, f"{path}: not a spikeforge compiled network")
    if shape != () or dtype.kind != "U" or dtype.itemsize > size:
        raise SpikeforgeError(f"{path}: not a spikeforge compiled network (header is {dtype})")
    data = fh.read(dtype.itemsize)
    return np.frombuffer(data, dtype=dtype, count=1)[0].item()


def _read_arrays(archive: zipfile.ZipFile, header: dict, path: Path) -> dict[str, np.ndarray]:
    """Only the members the header names, each size-checked before it is read."""
    wanted = _referenced(header["compiled"])
    infos = {
        i.filename[: -len(".npy")]: i for i in archive.infolist() if i.filename.endswith(".npy")
    }
    require_fits(
        sum(infos[k].file_size for k in wanted if k in infos), f"{path}: the arrays it names"
    )
    arrays = {}
    for key in wanted:
        if key not in infos:
            continue  # decode names the field that refers to it
        with archive.open(infos[key]) as fh:
            arrays[key] = read_npy(fh, infos[key].file_size, f"{path}: member {key}")
    return arrays


def _referenced(node: object) -> set[str]:
    """Every string in the header that looks like an array key (``net/...``)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and item.startswith("net/"):
            found.add(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
