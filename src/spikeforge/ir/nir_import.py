"""Import a NIR graph — ours or any other framework's — into spikeforge's IR.

NIR leaves the discretisation open, so every choice is explicit here instead of a
hidden assumption: ``dt`` (graph metadata, the user, or the framework's exporter
default; else refused, because every time constant depends on it) and the
framework's :class:`~spikeforge.ir.conventions.Conventions` (reset, threshold
comparison, decay, IF integration, initial voltage, multi-spike, CubaLIF order).
``convention`` names a preset (``"snntorch"``, ...) or gives one; without it a graph
whose metadata names its framework is read with that preset, any other with NIR's
(norse's) own. ``cuba_order`` and ``reset`` override the preset's.

Per neuron type (``dv`` from ``tau_mem``, ``du`` from ``tau_syn``: ``dt/tau`` with
forward Euler, ``1 - exp(-dt/tau)`` with the exact exponential; see
:mod:`spikeforge.ir.nodes` for the form):

============  ====  =======  ======================  ===============
NIR type      du    dv       gain                    v_bias
============  ====  =======  ======================  ===============
LIF, LI       1     dv       dv * r                  dv * v_leak
CubaLIF/LI    du    dv       dv * r * du * w_in      dv * v_leak
 (unscaled)   du    dv       (1 - du) * w_in         v_leak
IF            1     0        r  (or dt * r)          0
============  ====  =======  ======================  ===============

IF follows the frameworks that write it (norse, sinabs): one step adds ``r * x``;
SpikingJelly's exporter writes ``r = 1/dt`` for ``dv/dt = r x``, one step ``dt * r * x``.
snnTorch's delayed zero reset (``zero_next``) zeroes the whole next step of a
``Synaptic``/``RLeaky``, but a ``Leaky`` only carries a zeroed membrane into it,
which is reset to value: so ``zero_next`` applies to CubaLIF and to LIF populations
in a loop, and a feed-forward LIF resets to value (the same spikes).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import h5py
import nir
import numpy as np
import scipy.sparse as sp

from spikeforge.errors import SpikeforgeError, UnsupportedError
from spikeforge.hdf5_guard import checked_hdf5
from spikeforge.ir import maps
from spikeforge.ir.conventions import (
    Conventions,
    ConventionWarning,
    CubaOrder,
    from_metadata,
    preset,
)
from spikeforge.ir.nodes import (
    AffineMap,
    Conv2dMap,
    DelayMap,
    Edge,
    FlattenMap,
    Graph,
    InputNode,
    NeuronNode,
    Node,
    OutputNode,
    Pool2dMap,
    ResetMode,
    ScaleMap,
    Shape,
)
from spikeforge.ir.repairs import fill_shape_fields, repair, rockpool_dt
from spikeforge.ir.weights import Weights, compact, is_sparse, wants_sparse
from spikeforge.limits import require_fits
from spikeforge.nir_subgraphs import flatten_subgraphs

#: Largest magnitude of any parameter: far beyond any physical network (voltages,
#: weights, time constants in seconds), small enough that the quantiser's products
#: stay finite in float64.
MAX_MAGNITUDE = 1e12
#: Bytes of one stored CSR entry in the memory estimate: float64 value, int32 column,
#: and as much again for the copy a pass makes while building the next.
CSR_BYTES = 24
#: Longest Delay node in steps (Loihi 2's DelayDense holds 0-63 per synapse).
MAX_DELAY_STEPS = 1 << 16

SUPPORTED = (
    "Input, Output, Affine, Linear, Scale, LIF, CubaLIF, IF, LI, CubaLI, "
    "Conv2d, SumPool2d, AvgPool2d, Flatten, Delay, NIRGraph (nested)"
)
_KNOWN_TYPES = {
    "Input", "Output", "Affine", "Linear", "Scale", "LIF", "CubaLIF", "IF", "LI", "CubaLI",
    "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Delay", "NIRGraph",
}  # fmt: skip


def load_nir(
    path: str | Path,
    dt: float | None = None,
    cuba_order: CubaOrder | None = None,
    reset: ResetMode | None = None,
    convention: Conventions | str | None = None,
    **overrides: object,
) -> Graph:
    """Read a NIR file and import it; every failure is a SpikeforgeError naming the file."""
    path = Path(path)
    graph = _read_checked(path)
    try:
        return from_nir(graph, dt, cuba_order, reset, convention, **overrides)
    except SpikeforgeError as exc:
        raise type(exc)(f"{path}: {exc}") from exc


def _read_checked(path: Path) -> nir.NIRGraph:
    """``nir.read``, but from the one handle :func:`checked_hdf5` opened and checked.

    Reading the path a second time would let the file be swapped between the check
    and the read; here the bytes checked are the bytes parsed.
    """
    try:
        with checked_hdf5(path) as f:
            if "node" not in f:
                raise SpikeforgeError("no 'node' group (not a NIR file)")
            _check_group(f["node"], prefix="")
            data = nir.serialization.hdf2dict(f["node"])
        if "type_check" in data:
            raise SpikeforgeError("the graph has a 'type_check' entry, which NIR reserves")
        data["type_check"] = False
        fill_shape_fields(data)
        with warnings.catch_warnings():  # nir divides by a zero stride, say, before we see it
            warnings.simplefilter("ignore")
            graph = nir.dict2NIRNode(data)
    except SpikeforgeError as exc:
        unreadable = str(exc).startswith("not an HDF5 file")
        raise type(exc)(
            f"{path}: {'not a readable NIR file: ' if unreadable else ''}{exc}"
        ) from exc
    except Exception as exc:  # nir raises bare KeyError/ValueError/OSError on bad files
        raise SpikeforgeError(f"{path}: not a readable NIR file ({_describe(exc)})") from exc
    if not isinstance(graph, nir.NIRGraph):
        raise SpikeforgeError(f"{path}: the top node is a {type(graph).__name__}, not a NIRGraph")
    return graph


def resolve_conventions(
    graph: nir.NIRGraph,
    convention: Conventions | str | None = None,
    cuba_order: CubaOrder | None = None,
    reset: ResetMode | None = None,
    **overrides: object,
) -> Conventions:
    """The preset asked for, or the one the graph's metadata names, or NIR's; overridden.

    ``overrides`` are :class:`Conventions` fields; ``None`` values keep the preset's.
    """
    if isinstance(convention, str):
        base = preset(convention)
    elif convention is not None:
        base = convention
    else:
        base = from_metadata(dict(graph.metadata or {})) or preset("nir")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Conventions)}
    if unknown:
        raise SpikeforgeError(f"unknown convention option(s) {', '.join(sorted(unknown))}")
    return base.with_overrides(cuba_order=cuba_order, reset=reset, **overrides)


def from_nir(
    graph: nir.NIRGraph,
    dt: float | None = None,
    cuba_order: CubaOrder | None = None,
    reset: ResetMode | None = None,
    convention: Conventions | str | None = None,
    **overrides: object,
) -> Graph:
    """Import an in-memory NIR graph (see the module docstring for the conventions)."""
    conv = resolve_conventions(graph, convention, cuba_order, reset, **overrides)
    graph = repair(graph, conv)
    dt = _resolve_dt(graph, dt, conv)
    nodes, nir_edges = flatten_subgraphs(graph.nodes, graph.edges)
    ir_nodes: dict[str, Node] = {}
    for name, node in nodes.items():
        ir_nodes[name] = _convert(name, node, dt, conv)
    for pre, post in nir_edges:
        for end in (pre, post):
            if end not in ir_nodes:
                raise SpikeforgeError(f"edge ({pre!r}, {post!r}) names unknown node {end!r}")
    if conv.cuba_order == "previous":
        for name, node in nodes.items():
            if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
                ir_nodes[name].input_delay = 1
    _feed_forward_zero_reset_to_value(ir_nodes, nodes, nir_edges)
    edges = _delay_edges(ir_nodes, nir_edges)
    if conv.fires_on == "previous":
        edges = [_fired_late(e, ir_nodes[e.pre]) for e in edges]
    metadata = {k: v for k, v in (graph.metadata or {}).items() if k != "dt"}
    metadata["conventions"] = conv.describe()
    result = Graph(nodes=ir_nodes, edges=edges, dt=dt, metadata=metadata)
    infer_shapes(result)
    return result


def _fired_late(edge: Edge, pre: Node) -> Edge:
    """A spike decided on the previous membrane leaves one step after the IR's."""
    if isinstance(pre, NeuronNode) and pre.spiking:
        return dataclasses.replace(edge, delay=edge.delay + 1)
    return edge


def _feed_forward_zero_reset_to_value(
    ir_nodes: dict[str, Node], nodes: dict[str, nir.NIRNode], nir_edges: list[tuple[str, str]]
) -> None:
    """``zero_next`` on a plain LIF outside any loop is snnTorch's ``Leaky``: reset to value.

    ``Leaky`` zeroes the carried membrane before integrating the next input
    (``leaky.py:245``), which is what a reset to 0 on the spike step gives; only
    ``Synaptic`` (CubaLIF) and ``RLeaky`` (a LIF in a loop) lose the next step's input.
    """
    succ: dict[str, set[str]] = {}
    for pre, post in nir_edges:
        succ.setdefault(pre, set()).add(post)
    for name, node in ir_nodes.items():
        if not isinstance(node, NeuronNode) or node.reset != "zero_next":
            continue
        if not isinstance(nodes[name], nir.LIF):
            continue
        seen, stack = set(), list(succ.get(name, ()))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(succ.get(current, ()))
        if name not in seen:
            node.reset = "to_value"


def infer_shapes(graph: Graph) -> dict[str, Shape]:
    """Propagate shapes from the inputs; every mismatch is an error naming the node."""
    shapes: dict[str, Shape] = {}
    if not graph.inputs():
        raise SpikeforgeError("graph has no Input node")
    if not graph.outputs():
        raise SpikeforgeError("graph has no Output node")
    pending = dict(graph.nodes)
    while pending:
        progressed = False
        for name, node in list(pending.items()):
            sources = graph.in_edges(name)
            if isinstance(node, InputNode):
                if sources:
                    raise SpikeforgeError(f"Input node '{name}' has incoming edges")
                shapes[name] = node.shape
            elif isinstance(node, NeuronNode):
                # Its own shape is known up front (that is what breaks loops); the
                # shapes of its inputs are checked once all are known, below.
                shapes[name] = node.shape
            else:
                if not sources:
                    raise SpikeforgeError(f"node '{name}' receives no input")
                if any(e.pre not in shapes for e in sources):
                    continue
                in_shapes = {shapes[e.pre] for e in sources}
                if len(in_shapes) > 1:
                    raise SpikeforgeError(
                        f"node '{name}' receives inputs of different shapes {sorted(in_shapes)}"
                    )
                in_shape = in_shapes.pop()
                if isinstance(node, OutputNode):
                    if int(np.prod(node.shape)) != int(np.prod(in_shape)):
                        raise SpikeforgeError(
                            f"Output node '{name}' declares shape {node.shape} "
                            f"but receives {in_shape}"
                        )
                    shapes[name] = in_shape
                else:
                    if isinstance(node, (Conv2dMap, Pool2dMap)):
                        _check_geometry(name, node, in_shape)
                    shapes[name] = maps.output_shape(name, node, in_shape)
            del pending[name]
            progressed = True
        if not progressed:
            names = ", ".join(sorted(pending))
            raise SpikeforgeError(
                f"nodes {names} form a loop of stateless maps with no neuron (an algebraic "
                "loop) or are not reachable from an Input"
            )
    for name, node in graph.nodes.items():
        if not isinstance(node, NeuronNode):
            continue
        if not graph.in_edges(name):
            raise SpikeforgeError(f"node '{name}' ({node.kind}) receives no input")
        for edge in graph.in_edges(name):
            if shapes[edge.pre] != node.shape:
                raise SpikeforgeError(
                    f"node '{name}' ({node.kind}) has {node.size} neurons of shape "
                    f"{node.shape} but receives input of shape {shapes[edge.pre]} "
                    f"from node '{edge.pre}'"
                )
    _check_memory(graph, shapes)
    return shapes


def _check_geometry(name: str, node: Conv2dMap | Pool2dMap, in_shape: Shape) -> None:
    """Refuse a window that does not fit its input before torch is asked to apply it."""
    if len(in_shape) != 3:
        raise SpikeforgeError(
            f"node '{name}': expects a (channels, height, width) input, receives {in_shape}"
        )
    if isinstance(node, Conv2dMap):
        kernel = tuple(int(k) for k in node.weight.shape[2:])
        dilation = node.dilation
    else:
        kernel, dilation = node.kernel_size, (1, 1)
        for axis in range(2):
            if node.padding[axis] > kernel[axis] // 2:
                raise SpikeforgeError(
                    f"node '{name}': padding {node.padding} exceeds half the kernel {kernel}"
                )
    for axis, label in enumerate(("height", "width")):
        extent = in_shape[1 + axis] + 2 * node.padding[axis]
        span = dilation[axis] * (kernel[axis] - 1) + 1
        if span > extent:
            raise SpikeforgeError(
                f"node '{name}': kernel {kernel} (dilation {dilation}) spans {span} along "
                f"{label}, larger than the padded input's {extent} (input {in_shape})"
            )


def _check_memory(graph: Graph, shapes: dict[str, Shape]) -> None:
    """Estimate the matrices normalisation builds; refuse before allocating.

    Every population (and output) gets one matrix from each input or population it
    reaches through stateless maps: dense float64, or CSR where it is fed only by
    sparse Affine maps straight from its sources (:func:`_sparse_entries`); a
    convolution or pooling map is computed by applying it to an identity basis of
    its input.
    """
    size = {name: int(np.prod(shape)) for name, shape in shapes.items()}
    total = 0
    for name, node in graph.nodes.items():
        if isinstance(node, (Conv2dMap, Pool2dMap)):
            n_in = size[graph.in_edges(name)[0].pre]
            total += n_in * (n_in + size[name]) * 8
        if isinstance(node, (NeuronNode, OutputNode)):
            entries = size[name] * sum(size[s] for s in _sources(graph, name))
            stored = _sparse_entries(graph, name)
            sparse = stored is not None and wants_sparse((entries,), stored)
            total += CSR_BYTES * stored if sparse else entries * 8
    require_fits(total, "the network's synaptic matrices")


def _sparse_entries(graph: Graph, name: str) -> int | None:
    """Stored entries of ``name``'s matrices if every input reaches it through one CSR
    Affine map, or directly (an identity); None where a denser path may build them."""
    stored = 0
    for edge in graph.in_edges(name):
        node = graph.nodes[edge.pre]
        if isinstance(node, (InputNode, NeuronNode)):
            stored += int(np.prod(node.shape))
            continue
        feeds = graph.in_edges(edge.pre)
        direct = all(isinstance(graph.nodes[e.pre], (InputNode, NeuronNode)) for e in feeds)
        if not (isinstance(node, AffineMap) and is_sparse(node.weight) and direct):
            return None
        stored += node.weight.nnz * len(feeds)
    return stored


def _sources(graph: Graph, name: str) -> set[str]:
    """Inputs and populations that reach ``name`` through stateless maps only."""
    found: set[str] = set()
    seen: set[str] = set()
    stack = [e.pre for e in graph.in_edges(name)]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if isinstance(graph.nodes[current], (InputNode, NeuronNode)):
            found.add(current)
        else:
            stack.extend(e.pre for e in graph.in_edges(current))
    return found


def _check_group(group: h5py.Group, prefix: str) -> None:
    """Check node types as the file states them, before nir's reader interprets them.

    An unknown type is named (nir would die with 'Unknown unit type'), and a nested
    graph must have its own Input and Output nodes: nir's reader silently adds them
    to a graph that has none, wiring it up in a way the file never said.
    """
    if not isinstance(group.get("nodes"), h5py.Group):
        raise SpikeforgeError(f"graph '{prefix.rstrip('.') or '<top>'}' has no 'nodes' group")
    types: set[str] = set()
    for name, child in group["nodes"].items():
        if not isinstance(child, h5py.Group):
            raise SpikeforgeError(f"node '{prefix}{name}' is not a group")
        raw = child["type"][()] if isinstance(child.get("type"), h5py.Dataset) else b"<missing>"
        node_type = raw.decode(errors="replace") if isinstance(raw, bytes) else repr(raw)
        if node_type not in _KNOWN_TYPES:
            raise UnsupportedError(
                f"node '{prefix}{name}' has type {node_type}, which spikeforge does not "
                f"support (supported: {SUPPORTED})"
            )
        types.add(node_type)
        if node_type == "NIRGraph":
            _check_group(child, prefix=f"{prefix}{name}.")
    if prefix and not {"Input", "Output"} <= types:
        raise SpikeforgeError(
            f"subgraph '{prefix.rstrip('.')}' has no Input or no Output node of its own "
            "(it cannot be wired into the graph as written)"
        )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _resolve_dt(graph: nir.NIRGraph, dt: float | None, conv: Conventions) -> float:
    stored = (graph.metadata or {}).get("dt")
    if stored is not None:
        stored = _real_scalar(stored, "the dt recorded in the graph's metadata")
    if dt is not None:
        dt = _real_scalar(dt, "--dt")
    if dt is None and stored is None and conv.framework == "rockpool":
        stored = rockpool_dt(graph)
        if stored is not None:
            warnings.warn(
                f"rockpool's exporter records no dt; dt = {stored:g} s recovered from the "
                "r = tau_mem*exp(-dt/tau_mem)/dt it writes",
                ConventionWarning,
                stacklevel=3,
            )
    if dt is None and stored is None and conv.dt is not None:
        warnings.warn(
            f"the graph records no dt; using {conv.dt:g} s, what {conv.framework}'s exporter "
            "assumes (give --dt to override)",
            ConventionWarning,
            stacklevel=3,
        )
        dt = conv.dt
    if dt is None and stored is None:
        raise SpikeforgeError(
            "the graph does not record its time step (no 'dt' in its metadata): "
            "pass it with --dt SECONDS (the NIR paper used 1e-4)"
        )
    if dt is not None and stored is not None and not math.isclose(dt, stored, rel_tol=1e-9):
        raise SpikeforgeError(
            f"--dt {dt} contradicts the dt {stored} recorded in the graph's metadata"
        )
    value = float(dt if dt is not None else stored)
    if not math.isfinite(value) or value <= 0:
        raise SpikeforgeError(f"dt must be a positive number of seconds, got {value}")
    if conv.dt is not None and not math.isclose(value, conv.dt, rel_tol=1e-6):
        warnings.warn(
            f"dt = {value:g} s, but {conv.framework}'s exporter writes its time constants for "
            f"dt = {conv.dt:g} s: every decay per step is {value / conv.dt:.3g}x what "
            f"{conv.framework} simulates (likely a wrong --dt)",
            ConventionWarning,
            stacklevel=3,
        )
    return value


def _real_scalar(value: object, what: str) -> float:
    """One real number (not a string, bool or complex); anything else is refused."""
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "iuf":
        raise SpikeforgeError(f"{what} must be one real number, got {_short(value)}")
    result = float(array.reshape(()))
    if not math.isfinite(result) or result <= 0:
        raise SpikeforgeError(f"dt must be a positive number of seconds ({what}), got {result}")
    return result


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _delay_edges(nodes: dict[str, Node], nir_edges: list[tuple[str, str]]) -> list[Edge]:
    """Give every edge that closes a cycle one step of delay (depth-first from the inputs)."""
    succ: dict[str, list[str]] = {name: [] for name in nodes}
    for pre, post in nir_edges:
        succ[pre].append(post)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 on the stack, 2 finished
    roots = [n for n, v in nodes.items() if isinstance(v, InputNode)]
    roots += [n for n in nodes if n not in roots]
    for root in roots:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succ[child])))
    return [Edge(pre, post, delay=int((pre, post) in back)) for pre, post in nir_edges]


def _weight(name: str, node: nir.Affine | nir.Linear) -> Weights:
    """An Affine/Linear weight, CSR where :func:`~spikeforge.ir.weights.compact` says so.

    A NIR file holds dense arrays, so the choice is made here, on the one float64
    copy the import makes anyway; a graph built in memory may hand over a scipy
    sparse matrix, which is checked on its non-zeros and never densified.
    """
    if not is_sparse(node.weight):
        return compact(_arr(name, node, "weight"))
    weight = sp.csr_array(node.weight, dtype=np.float64)
    _check_values(name, type(node).__name__, "weight", weight.data)  # the rest are zeros
    return compact(weight)


def _arr(name: str, node: nir.NIRNode, field: str, shape: Shape | None = None) -> np.ndarray:
    """A parameter as a finite float64 array, broadcast to ``shape``; errors name node and field."""
    raw = getattr(node, field, None)
    if raw is None:
        raise SpikeforgeError(f"node '{name}' ({type(node).__name__}): parameter {field} missing")
    try:
        original = np.asarray(raw)
    except (TypeError, ValueError) as exc:
        raise SpikeforgeError(
            f"node '{name}' ({type(node).__name__}): parameter {field} is not numeric"
        ) from exc
    if original.dtype.kind not in "biuf":
        raise SpikeforgeError(
            f"node '{name}' ({type(node).__name__}): parameter {field} has dtype "
            f"{original.dtype}; a real number type (int, float) is required"
        )
    value = original.astype(np.float64)
    _check_values(name, type(node).__name__, field, value)
    if shape is not None:
        try:
            value = np.broadcast_to(value, shape).copy()
        except ValueError as exc:
            raise SpikeforgeError(
                f"node '{name}' ({type(node).__name__}): parameter {field} has shape "
                f"{value.shape}, expected {shape}"
            ) from exc
    return value


def _check_values(name: str, kind: str, field: str, value: np.ndarray) -> None:
    """Refuse non-finite values and magnitudes beyond :data:`MAX_MAGNITUDE`."""
    bad = ~np.isfinite(value)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise SpikeforgeError(
            f"node '{name}' ({kind}): parameter {field} has "
            f"{int(bad.sum())} non-finite value(s), first {value[where]} at index {where}"
        )
    if value.size and np.abs(value).max() > MAX_MAGNITUDE:
        where = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(value)), value.shape))
        raise SpikeforgeError(
            f"node '{name}' ({kind}): parameter {field} = {value[where]:g} at "
            f"index {where} exceeds the magnitude limit {MAX_MAGNITUDE:g}"
        )


def _neuron_shape(name: str, node: nir.NIRNode, field: str) -> Shape:
    value = np.asarray(getattr(node, field))
    if value.ndim == 0:
        raise SpikeforgeError(
            f"node '{name}' ({type(node).__name__}): parameter {field} is a scalar; "
            "NIR neuron parameters must be per-neuron arrays (the shape defines the population)"
        )
    if value.size == 0:
        raise SpikeforgeError(f"node '{name}' ({type(node).__name__}): parameter {field} is empty")
    return tuple(int(s) for s in value.shape)


def _tau_step(
    name: str, node: nir.NIRNode, field: str, shape: Shape, dt: float, conv: Conventions
) -> np.ndarray:
    """The decay per step: ``dt/tau`` (Euler; refuses ``tau < dt``) or ``1-exp(-dt/tau)``."""
    with np.errstate(over="ignore", divide="ignore"):  # a 1e-320 s tau is refused below
        return _checked_tau_step(name, node, field, shape, dt, conv)


def _checked_tau_step(
    name: str, node: nir.NIRNode, field: str, shape: Shape, dt: float, conv: Conventions
) -> np.ndarray:
    tau = _arr(name, node, field, shape)
    if (tau <= 0).any():
        raise SpikeforgeError(
            f"node '{name}' ({type(node).__name__}): {field} must be > 0 seconds, "
            f"min is {tau.min():g}"
        )
    if conv.decay == "exp":
        return -np.expm1(-dt / tau)
    if (tau < dt).any():
        raise SpikeforgeError(
            f"node '{name}' ({type(node).__name__}): {field} = {tau.min():g} s is shorter than "
            f"dt = {dt:g} s (dt/tau = {dt / tau.min():.3g} > 1 overshoots; check dt or tau units)"
        )
    return dt / tau


def _firing(name: str, node: nir.NIRNode, shape: Shape, conv: Conventions) -> dict[str, object]:
    """The NeuronNode fields of a spiking node: threshold, reset, firing rule, start."""
    v_th, v_reset = _threshold(name, node, shape)
    return {
        "v_th": v_th,
        "v_reset": v_reset,
        "reset": conv.reset,
        "threshold": conv.threshold,
        "multi_spike": conv.multi_spike,
        "v_init": v_reset.copy() if conv.v_init == "v_reset" else None,
    }


def _silent(shape: Shape) -> dict[str, object]:
    """The NeuronNode fields of a non-spiking (leaky-integrator) node."""
    return {"v_th": None, "v_reset": np.zeros(shape)}


def _threshold(name: str, node: nir.NIRNode, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    v_th = _arr(name, node, "v_threshold", shape)
    v_reset = (
        _arr(name, node, "v_reset", shape)
        if getattr(node, "v_reset", None) is not None
        else np.zeros(shape)
    )
    return v_th, v_reset


def _convert(name: str, node: nir.NIRNode, dt: float, conv: Conventions) -> Node:
    kind = type(node).__name__
    if isinstance(node, nir.Input):
        return InputNode(_io_shape(name, node.input_type))
    if isinstance(node, nir.Output):
        return OutputNode(_io_shape(name, node.output_type))
    if isinstance(node, (nir.LIF, nir.LI)):
        shape = _neuron_shape(name, node, "tau")
        dv = _tau_step(name, node, "tau", shape, dt, conv)
        firing = _firing(name, node, shape, conv) if isinstance(node, nir.LIF) else _silent(shape)
        return NeuronNode(
            kind=kind,
            shape=shape,
            du=np.ones(shape),
            dv=dv,
            gain=dv * _arr(name, node, "r", shape),
            v_bias=dv * _arr(name, node, "v_leak", shape),
            **firing,
        )
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        shape = _neuron_shape(name, node, "tau_mem")
        du = _tau_step(name, node, "tau_syn", shape, dt, conv)
        dv = _tau_step(name, node, "tau_mem", shape, dt, conv)
        firing = (
            _firing(name, node, shape, conv) if isinstance(node, nir.CubaLIF) else _silent(shape)
        )
        w_in = _arr(name, node, "w_in", shape)
        unscaled = conv.synapse == "unscaled"
        return NeuronNode(
            kind=kind,
            shape=shape,
            du=du,
            dv=dv,
            gain=(1 - du) * w_in if unscaled else dv * _arr(name, node, "r", shape) * du * w_in,
            v_bias=(1.0 if unscaled else dv) * _arr(name, node, "v_leak", shape),
            **firing,
        )
    if isinstance(node, nir.IF):
        shape = _neuron_shape(name, node, "v_threshold")
        r = _arr(name, node, "r", shape)
        return NeuronNode(
            kind=kind,
            shape=shape,
            du=np.ones(shape),
            dv=np.zeros(shape),
            gain=dt * r if conv.if_input == "dt_r" else r,
            v_bias=np.zeros(shape),
            **_firing(name, node, shape, conv),
        )
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = _weight(name, node)
        if weight.ndim != 2:
            raise SpikeforgeError(
                f"node '{name}' ({kind}): weight must be 2-D (out, in), has shape {weight.shape}"
            )
        bias = (
            _arr(name, node, "bias", (weight.shape[0],))
            if isinstance(node, nir.Affine)
            else np.zeros(weight.shape[0])
        )
        return AffineMap(weight=weight, bias=bias)
    if isinstance(node, nir.Scale):
        return ScaleMap(scale=_arr(name, node, "scale"))
    if isinstance(node, nir.Conv2d):
        weight = _arr(name, node, "weight")
        if weight.ndim != 4:
            raise SpikeforgeError(
                f"node '{name}' (Conv2d): weight must be 4-D, has shape {weight.shape}"
            )
        padding = node.padding
        if isinstance(padding, str):
            raise UnsupportedError(
                f"node '{name}' (Conv2d): string padding {padding!r} is not supported; "
                "export explicit integer padding"
            )
        return Conv2dMap(
            weight=weight,
            bias=_arr(name, node, "bias", (weight.shape[0],)),
            stride=_pair(name, "stride", node.stride, minimum=1),
            padding=_pair(name, "padding", padding, minimum=0),
            dilation=_pair(name, "dilation", node.dilation, minimum=1),
            groups=_groups(name, node.groups, weight.shape),
        )
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        return Pool2dMap(
            mode="sum" if isinstance(node, nir.SumPool2d) else "avg",
            kernel_size=_pair(name, "kernel_size", node.kernel_size, minimum=1),
            stride=_pair(name, "stride", node.stride, minimum=1),
            padding=_pair(name, "padding", node.padding, minimum=0),
        )
    if isinstance(node, nir.Flatten):
        (start,) = _integers(name, "start_dim", node.start_dim, minimum=None, count=1)
        (end,) = _integers(name, "end_dim", node.end_dim, minimum=None, count=1)
        return FlattenMap(start_dim=start, end_dim=end)
    if isinstance(node, nir.Delay):
        seconds = _arr(name, node, "delay")
        steps = seconds / dt
        rounded = np.round(steps)
        if (np.abs(steps - rounded) > 1e-6 * np.maximum(1.0, np.abs(steps))).any() or (
            rounded < 0
        ).any():
            raise UnsupportedError(
                f"node '{name}' (Delay): delays must be non-negative whole multiples of "
                f"dt = {dt:g} s; got {seconds.ravel()[:5]} s"
            )
        if rounded.size and rounded.max() > MAX_DELAY_STEPS:
            raise SpikeforgeError(
                f"node '{name}' (Delay): delay of {rounded.max():g} steps exceeds the limit "
                f"of {MAX_DELAY_STEPS} steps"
            )
        return DelayMap(steps=rounded.astype(np.int64))
    raise UnsupportedError(
        f"node '{name}' has type {kind}, which spikeforge does not support (supported: {SUPPORTED})"
    )


def _io_shape(name: str, types: object) -> Shape:
    value = next(iter(types.values()), None) if isinstance(types, dict) else types
    if value is None:
        raise SpikeforgeError(f"node '{name}': Input/Output node without a shape")
    return _integers(name, "shape", value, minimum=1)


def _integers(
    name: str, field: str, value: object, minimum: int | None, count: int | None = None
) -> tuple[int, ...]:
    """Whole numbers exactly (4.7, '4', True and 1e300 are refused, not coerced)."""
    arr = np.atleast_1d(np.asarray(value))
    if arr.ndim != 1 or arr.dtype.kind not in "iuf" or (count is not None and arr.size != count):
        raise SpikeforgeError(
            f"node '{name}': {field} must be {count or 'a list of'} whole number(s), "
            f"got {_short(value)}"
        )
    if arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
        raise SpikeforgeError(f"node '{name}': {field} must be whole numbers, got {_short(value)}")
    if arr.size and np.abs(arr.astype(np.float64)).max() > 1 << 31:
        raise SpikeforgeError(f"node '{name}': {field} {_short(value)} exceeds 2^31")
    ints = tuple(int(v) for v in arr)
    if minimum is not None and any(v < minimum for v in ints):
        raise SpikeforgeError(f"node '{name}': {field} {ints} must be >= {minimum}")
    return ints


def _pair(name: str, field: str, value: object, minimum: int) -> tuple[int, int]:
    ints = _integers(name, field, value, minimum)
    if len(ints) == 1:
        ints = ints * 2
    if len(ints) != 2:
        raise SpikeforgeError(f"node '{name}': {field} must have 1 or 2 entries, got {ints}")
    return ints[0], ints[1]


def _groups(name: str, value: object, weight_shape: tuple[int, ...]) -> int:
    (groups,) = _integers(name, "groups", value, minimum=1, count=1)
    if weight_shape[0] == 0 or weight_shape[1] == 0 or weight_shape[0] % groups:
        raise SpikeforgeError(
            f"node '{name}' (Conv2d): weight shape {weight_shape} does not fit groups = {groups} "
            "(output channels must be a positive multiple of groups)"
        )
    return groups
