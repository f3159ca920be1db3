"""The compiled network: the pipeline's product, and its one-file ``.sfnet`` format.

A ``.sfnet`` is a zip (numpy ``.npz``) holding a JSON header — format version,
populations, connections, readouts, schedule, options — and one array per weight
or parameter. The Loihi plans are rebuilt on load from these by the same
deterministic passes; the format version changes whenever those passes would
produce a different plan, so an old file is refused instead of silently changing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeforge.compile.lower import LoihiPlan, Precision, lower
from spikeforge.compile.network import Connection, Network, Population, Readout
from spikeforge.compile.quantize import QuantReport, quantize
from spikeforge.compile.timing import Timing, schedule
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.nodes import Graph

FORMAT = "spikeforge.sfnet"
FORMAT_VERSION = 2


@dataclass
class CompiledNet:
    """A network scheduled for Loihi, with its float and fixed-point plans."""

    network: Network
    timing: Timing
    precision: Precision = "fixed"
    allow_timing_divergence: bool = False
    weight_planes: int = 2
    peaks: dict[str, np.ndarray] | None = None
    #: A plan that is already fixed point (a netx ``.net``'s own integers): used as
    #: the fixed plan unchanged, nothing re-quantised, and there is no float plan.
    fixed_source: LoihiPlan | None = None
    float_plan: LoihiPlan = field(init=False)
    fixed_plan: LoihiPlan = field(init=False)
    quant_report: list[QuantReport] = field(init=False)

    def __post_init__(self) -> None:
        if self.fixed_source is not None:
            self.fixed_plan, self.quant_report = self.fixed_source, []
            return
        self.float_plan = lower(self.network, self.timing)
        self.fixed_plan, self.quant_report = quantize(
            self.float_plan, self.weight_planes, self.peaks
        )

    def plan(self, precision: str | None = None) -> LoihiPlan:
        precision = precision or self.precision
        if precision not in ("float", "fixed"):
            raise SpikeforgeError(f"precision must be 'float' or 'fixed', got {precision!r}")
        if precision == "float" and self.fixed_source is not None:
            raise SpikeforgeError(
                "this network was compiled from a netx file's own fixed-point integers; "
                "its float model is the netx file imported as a graph (--precision float)"
            )
        return self.float_plan if precision == "float" else self.fixed_plan

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
    calibration: np.ndarray | dict[str, np.ndarray] | None = None,
) -> CompiledNet:
    """Run the passes: normalise (if given a graph), schedule, lower, quantise.

    ``calibration`` inputs (``[batch, time, *shape]``) are run through the reference
    simulation first; quantisation then scales each population to its observed
    state range instead of the worst case (see :func:`spikeforge.compile.quantize.quantize`).
    """
    from spikeforge.compile.network import normalize
    from spikeforge.runtimes.reference import run_reference

    network = normalize(source) if isinstance(source, Graph) else source
    timing = schedule(network, allow_divergence=allow_timing_divergence)
    peaks = None if calibration is None else run_reference(network, calibration).peaks
    return CompiledNet(network, timing, precision, allow_timing_divergence, weight_planes, peaks)


def save(compiled: CompiledNet, path: str | Path) -> None:
    """Write ``compiled`` to ``path`` atomically."""
    from spikeforge.atomic import atomic_path

    if compiled.fixed_source is not None:
        raise SpikeforgeError(
            f"cannot write {path}: .sfnet version {FORMAT_VERSION} stores the compiler's "
            "inputs, not a netx file's own fixed-point plan; run the .net file directly"
        )
    arrays: dict[str, np.ndarray] = {}

    def put(key: str, value: np.ndarray | None) -> str | None:
        if value is None:
            return None
        arrays[key] = np.asarray(value)
        return key

    net = compiled.network
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "precision": compiled.precision,
        "allow_timing_divergence": compiled.allow_timing_divergence,
        "weight_planes": compiled.weight_planes,
        "dt": net.dt,
        "inputs": {k: list(v) for k, v in net.inputs.items()},
        "metadata": {k: _jsonable(v) for k, v in net.metadata.items()},
        "populations": [
            {
                "name": p.name,
                "kind": p.kind,
                "shape": list(p.shape),
                "reset": p.reset,
                "bias_onset": p.bias_onset,
                **{
                    f: put(f"pop/{i}/{f}", getattr(p, f))
                    for f in ("du", "dv", "v_bias", "current_bias", "v_th", "v_reset")
                },
            }
            for i, p in enumerate(net.populations.values())
        ],
        "connections": [
            {"pre": c.pre, "post": c.post, "delay": c.delay, "weight": put(f"conn/{i}", c.weight)}
            for i, c in enumerate(net.connections)
        ],
        "readouts": [
            {
                "name": r.name,
                "shape": list(r.shape),
                "bias": put(f"readout/{i}/bias", r.bias),
                "terms": [
                    {"pre": t.pre, "delay": t.delay, "weight": put(f"readout/{i}/{j}", t.weight)}
                    for j, t in enumerate(r.terms)
                ],
            }
            for i, r in enumerate(net.readouts.values())
        ],
        "peaks": None
        if compiled.peaks is None
        else {name: put(f"peaks/{i}", p) for i, (name, p) in enumerate(compiled.peaks.items())},
        "timing": {
            "latency": compiled.timing.latency,
            "extra_delay": compiled.timing.extra_delay,
            "late": compiled.timing.late,
        },
    }
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, __header__=np.array(json.dumps(header)), **arrays)
    except OSError as exc:
        raise SpikeforgeError(f"cannot write compiled network to {path}: {exc}") from exc


def load(path: str | Path) -> CompiledNet:
    """Read a ``.sfnet``; a file that is not one, or of another version, is refused clearly."""
    path = Path(path)
    if not path.is_file():
        raise SpikeforgeError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["__header__"]))
            arrays = {k: data[k] for k in data.files if k != "__header__"}
    except Exception as exc:  # zipfile, zlib, numpy and json each raise their own types
        raise SpikeforgeError(
            f"{path}: not a spikeforge compiled network ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SpikeforgeError(f"{path}: not a spikeforge compiled network")
    if header.get("version") != FORMAT_VERSION:
        raise SpikeforgeError(
            f"{path}: written in .sfnet format version {header.get('version')!r}, this spikeforge "
            f"reads version {FORMAT_VERSION}; compile the source graph again"
        )
    try:
        return _from_header(header, arrays)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise SpikeforgeError(f"{path}: corrupt compiled network ({exc!r})") from None


def _from_header(header: dict, arrays: dict[str, np.ndarray]) -> CompiledNet:
    def get(key: str | None) -> np.ndarray | None:
        return None if key is None else arrays[key]

    populations = {}
    for p in header["populations"]:
        populations[p["name"]] = Population(
            name=p["name"],
            kind=p["kind"],
            shape=tuple(p["shape"]),
            reset=p["reset"],
            bias_onset=p["bias_onset"],
            **{f: get(p[f]) for f in ("du", "dv", "v_bias", "current_bias", "v_th", "v_reset")},
        )
    connections = [
        Connection(c["pre"], c["post"], get(c["weight"]), c["delay"]) for c in header["connections"]
    ]
    readouts = {
        r["name"]: Readout(
            name=r["name"],
            shape=tuple(r["shape"]),
            terms=[
                Connection(t["pre"], r["name"], get(t["weight"]), t["delay"]) for t in r["terms"]
            ],
            bias=get(r["bias"]),
        )
        for r in header["readouts"]
    }
    network = Network(
        dt=header["dt"],
        inputs={k: tuple(v) for k, v in header["inputs"].items()},
        populations=populations,
        connections=connections,
        readouts=readouts,
        metadata=header["metadata"],
    )
    t = header["timing"]
    timing = Timing(latency=t["latency"], extra_delay=t["extra_delay"], late=t["late"])
    return CompiledNet(
        network,
        timing,
        header["precision"],
        header["allow_timing_divergence"],
        header["weight_planes"],
        None if header["peaks"] is None else {k: get(v) for k, v in header["peaks"].items()},
    )


def _jsonable(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
