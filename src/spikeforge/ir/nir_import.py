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
from spikeforge.ir.repairs import read_graph, repair

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
    if not path.is_file():
        raise SpikeforgeError(f"{path}: no such file")
    _check_node_types(path)
    try:
        graph = read_graph(path)
    except Exception as exc:  # nir raises bare KeyError/ValueError/OSError on bad files
        raise SpikeforgeError(f"{path}: not a readable NIR file ({_describe(exc)})") from None
    try:
        return from_nir(graph, dt, cuba_order, reset, convention, **overrides)
    except SpikeforgeError as exc:
        raise type(exc)(f"{path}: {exc}") from None


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
    nodes, nir_edges = _flatten(graph)
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
    return shapes


def _check_node_types(path: Path) -> None:
    """Name an unknown node before nir.read dies on it with 'Unknown unit type'."""
    try:
        with checked_hdf5(path) as f:
            _check_group(f["node"], prefix="")
    except SpikeforgeError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except Exception as exc:
        raise SpikeforgeError(f"{path}: not a readable NIR file ({_describe(exc)})") from None


def _check_group(group: h5py.Group, prefix: str) -> None:
    for name, child in group["nodes"].items():
        node_type = child["type"][()].decode() if "type" in child else "<missing>"
        if node_type not in _KNOWN_TYPES:
            raise UnsupportedError(
                f"node '{prefix}{name}' has type {node_type}, which spikeforge does not "
                f"support (supported: {SUPPORTED})"
            )
        if node_type == "NIRGraph":
            _check_group(child, prefix=f"{prefix}{name}.")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _resolve_dt(graph: nir.NIRGraph, dt: float | None, conv: Conventions) -> float:
    stored = (graph.metadata or {}).get("dt")
    if stored is not None:
        stored = float(np.asarray(stored))
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


def _flatten(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict, list[tuple[str, str]]]:
    """Inline nested NIRGraph nodes (snnTorch writes recurrent layers as subgraphs)."""
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    boundary: dict[str, tuple[list[str], list[str]]] = {}
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(node, prefix=f"{full}.")
            ins = [k for k, v in sub_nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in sub_nodes.items() if isinstance(v, nir.Output)]
            boundary[full] = (ins, outs)
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
        else:
            nodes[full] = node
    for pre, post in graph.edges:
        pre_full, post_full = f"{prefix}{pre}", f"{prefix}{post}"
        pre_ends = _resolve_end(pre_full, boundary, side=1)
        post_ends = _resolve_end(post_full, boundary, side=0)
        edges.extend((a, b) for a in pre_ends for b in post_ends)
    # Drop the subgraphs' own Input/Output nodes, wiring their neighbours through.
    for ins, outs in boundary.values():
        for inner in ins + outs:
            sources = [a for a, b in edges if b == inner]
            targets = [b for a, b in edges if a == inner]
            edges = [(a, b) for a, b in edges if inner not in (a, b)]
            edges.extend((a, b) for a in sources for b in targets)
            del nodes[inner]
    return nodes, list(dict.fromkeys(edges))


def _resolve_end(name: str, boundary: dict, side: int) -> list[str]:
    """An edge to a subgraph means its Input node(s); from a subgraph, its Output node(s)."""
    return boundary[name][side] if name in boundary else [name]


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


def _arr(name: str, node: nir.NIRNode, field: str, shape: Shape | None = None) -> np.ndarray:
    """A parameter as a finite float64 array, broadcast to ``shape``; errors name node and field."""
    raw = getattr(node, field, None)
    if raw is None:
        raise SpikeforgeError(f"node '{name}' ({type(node).__name__}): parameter {field} missing")
    try:
        value = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpikeforgeError(
            f"node '{name}' ({type(node).__name__}): parameter {field} is not numeric"
        ) from None
    bad = ~np.isfinite(value)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise SpikeforgeError(
            f"node '{name}' ({type(node).__name__}): parameter {field} has "
            f"{int(bad.sum())} non-finite value(s), first {value[where]} at index {where}"
        )
    if shape is not None:
        try:
            value = np.broadcast_to(value, shape).copy()
        except ValueError:
            raise SpikeforgeError(
                f"node '{name}' ({type(node).__name__}): parameter {field} has shape "
                f"{value.shape}, expected {shape}"
            ) from None
    return value


def _neuron_shape(name: str, node: nir.NIRNode, field: str) -> Shape:
    value = np.asarray(getattr(node, field))
    if value.ndim == 0:
        raise SpikeforgeError(
            f"node '{name}' ({type(node).__name__}): parameter {field} is a scalar; "
            "NIR neuron parameters must be per-neuron arrays (the shape defines the population)"
        )
    return tuple(int(s) for s in value.shape)


def _tau_step(
    name: str, node: nir.NIRNode, field: str, shape: Shape, dt: float, conv: Conventions
) -> np.ndarray:
    """The decay per step: ``dt/tau`` (Euler; refuses ``tau < dt``) or ``1-exp(-dt/tau)``."""
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
        weight = _arr(name, node, "weight")
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
            stride=_pair(name, "stride", node.stride),
            padding=_pair(name, "padding", padding),
            dilation=_pair(name, "dilation", node.dilation),
            groups=int(node.groups),
        )
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        return Pool2dMap(
            mode="sum" if isinstance(node, nir.SumPool2d) else "avg",
            kernel_size=_pair(name, "kernel_size", node.kernel_size),
            stride=_pair(name, "stride", node.stride),
            padding=_pair(name, "padding", node.padding),
        )
    if isinstance(node, nir.Flatten):
        return FlattenMap(start_dim=int(node.start_dim), end_dim=int(node.end_dim))
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
        return DelayMap(steps=rounded.astype(np.int64))
    raise UnsupportedError(
        f"node '{name}' has type {kind}, which spikeforge does not support (supported: {SUPPORTED})"
    )


def _io_shape(name: str, types: object) -> Shape:
    value = next(iter(types.values())) if isinstance(types, dict) else types
    if value is None:
        raise SpikeforgeError(f"node '{name}': Input/Output node without a shape")
    shape = tuple(int(s) for s in np.atleast_1d(np.asarray(value)))
    if any(s <= 0 for s in shape):
        raise SpikeforgeError(f"node '{name}': shape {shape} has non-positive dimensions")
    return shape


def _pair(name: str, field: str, value: object) -> tuple[int, int]:
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2:
        raise SpikeforgeError(f"node '{name}': {field} must have 1 or 2 entries, got {arr}")
    return int(arr[0]), int(arr[1])
