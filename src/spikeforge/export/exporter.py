"""``to_nir``: trace a norse / torch network into a flat, typed, numpy-only NIR graph.

Tracing is nirtorch's ``torch_to_nir`` (torch.fx). It handles norse's stateful modules
once it is told which types return ``(output, state)`` (``stateful_modules``) and the
``state`` argument is pinned to ``None`` (``concrete_args``): fx then records the
tuple unpacking as ``getitem`` nodes, and nirtorch follows index 0 and drops the state.
So no hand-written walker is needed; ``SequentialState``, ``torch.nn.Sequential`` and
plain modules calling their children in order all trace.

What nirtorch 2.6 does not do, and this module adds:

* shapes: nirtorch never runs the network. We run the sample once with hooks and
  record each layer's unbatched input/output shape (neuron parameters are broadcast
  per neuron, ``Conv2d``/``Flatten`` need their input shape).
* names: nirtorch names nodes after fx nodes (``"_0"``, ``"fc1_lin"``), and the Input
  after the forward's first parameter (``"input_tensor"``). We rename to module paths,
  ``"input"`` and ``"output"``.
* clear errors: unsupported modules raise :class:`SpikeforgeError` naming path and type
  (nirtorch raises a bare ``KeyError`` or a generic ``ValueError``).
* flat graph: ``LIFRecurrentCell`` converts to a sub-graph; it is inlined with its
  nodes prefixed by the module path.
* metadata: ``dt`` and provenance are stored in ``NIRGraph.metadata``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import nir
import nirtorch
import numpy as np
import torch
from nirtorch.torch_tracer import NIRTorchTracer
from norse.torch import SequentialState

from spikeforge.errors import SpikeforgeError
from spikeforge.export.norse_map import (
    INPUT_RANK,
    MODULE_MAP,
    STATEFUL,
    ExportContext,
    Shape,
    supported_types,
)
from spikeforge.nir_subgraphs import flatten_subgraphs


def _check_tensors(module: torch.nn.Module) -> None:
    """Refuse NaN, infinite or complex parameters and buffers (including norse's ``p``
    tuples): NIR would carry them into a graph that imports as a different network."""
    named = list(module.state_dict().items())
    for path, cell in module.named_modules():
        p = getattr(cell, "p", None)
        if isinstance(p, tuple) and hasattr(p, "_fields"):
            named += [(f"{path}.p.{k}", v) for k, v in zip(p._fields, p, strict=True)]
    for name, value in named:
        if not isinstance(value, torch.Tensor) or value.dtype == torch.bool:
            continue
        if value.is_complex():
            raise SpikeforgeError(f"parameter {name}: complex values ({value.dtype}); refused")
        if value.is_floating_point() and not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise SpikeforgeError(f"parameter {name}: {bad} NaN or infinite value(s); refused")


def to_nir(module: torch.nn.Module, sample_input: torch.Tensor, dt: float) -> nir.NIRGraph:
    """Export ``module`` to NIR, with ``dt`` (seconds per step) in the graph metadata.

    ``sample_input`` is one time step of one sample, unbatched (e.g. ``(10,)`` or
    ``(C, H, W)``). A batched ``(batch, *shape)`` sample is also accepted when the first
    layer fixes the input rank (``Linear``, ``Conv2d``, pooling, ``LIFRecurrentCell``).
    The network is run once on the sample, under ``torch.no_grad``, to learn every
    layer's shape. norse cells keep no state between calls, so this has no effect beyond
    what any norse forward has (``IAFCell`` sets ``requires_grad`` on its ``p.v_reset``).

    Raises:
        SpikeforgeError: for any module that cannot be exported exactly, naming its path
            and type, or when the sample does not fit the network.
    """
    dt = _check_dt(dt)
    _check_tensors(module)
    if not isinstance(sample_input, torch.Tensor):
        raise SpikeforgeError(
            f"sample_input must be a torch.Tensor, got {type(sample_input).__name__}"
        )
    parameter = next(module.parameters(), None)
    if parameter is not None:
        sample_input = sample_input.to(parameter.device)
    if not sample_input.is_floating_point():
        sample_input = sample_input.to(torch.float32)  # e.g. bool/int spike tensors
    if type(module) in MODULE_MAP:
        # nirtorch returns a bare node for a leaf root; wrapping gives a graph with the
        # single layer named "0", like the first layer of any SequentialState.
        module = SequentialState(module)
    ctx = ExportContext(dt=dt, names={id(m): name for name, m in module.named_modules() if name})
    sample = _unbatched_sample(module, sample_input, ctx)
    output_shape = _record_shapes(module, sample, ctx)
    traced, produced = _trace(module, ctx)

    nested: dict[str, nir.NIRNode] = {
        "input": nir.Input(input_type=np.array(sample.shape)),
        **_rename(traced, produced),
        "output": nir.Output(output_type=np.array(output_shape)),
    }
    nodes, edges = flatten_subgraphs(nested, _renamed_edges(traced, produced))
    metadata = {"dt": dt, "source": "norse", "exporter": "spikeforge"}
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)
    except (ValueError, AssertionError, NotImplementedError) as exc:
        raise SpikeforgeError(f"the exported NIR graph fails NIR's type check: {exc}") from exc


def infer_input_shape(module: torch.nn.Module) -> tuple[int, ...] | None:
    """The shape of one input step when the first layer fixes it, else None.

    A ``Linear`` (or a recurrent cell's ``input_size``) first fixes it: ``(in_features,)``.
    A first ``Conv2d`` fixes only the channels, not the image size, so the user must
    say it. "First" is registration order, which is call order in a sequential model.
    """
    for child in module.modules():
        if isinstance(child, torch.nn.Linear):
            return (child.in_features,)
        size = getattr(child, "input_size", None)
        if isinstance(size, (int, torch.Tensor)) and next(child.parameters(), None) is not None:
            return (int(size),)
        if isinstance(child, torch.nn.Conv2d):
            return None
    return None


def module_dt(module: torch.nn.Module) -> float:
    """The time step the module's cells use (all must agree); the exporter's default dt."""
    steps = {
        float(m.dt) for m in module.modules() if isinstance(getattr(m, "dt", None), (int, float))
    }
    if len(steps) > 1:
        raise SpikeforgeError(
            f"the module's cells use different dt values {sorted(steps)}; pass --dt"
        )
    if not steps:
        raise SpikeforgeError("the module has no cell with a dt; pass --dt SECONDS")
    return steps.pop()


def _check_dt(dt: float) -> float:
    try:
        value = float(dt)
    except (TypeError, ValueError) as exc:
        raise SpikeforgeError(f"dt must be a number of seconds, got {dt!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise SpikeforgeError(f"dt must be finite and > 0, got {dt!r}")
    return value


# --- running the sample -------------------------------------------------------------


class _FirstLayer(Exception):
    """Aborts the probe run at the first layer, before it computes anything."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module


def _is_unsupported(module: torch.nn.Module, name: str, tracer: NIRTorchTracer) -> bool:
    """A module fx would not trace into (a leaf) that the map cannot convert."""
    if type(module) in MODULE_MAP:
        return False
    return tracer.is_leaf_module(module, name) or next(module.children(), None) is None


def _unsupported_error(module: torch.nn.Module, ctx: ExportContext) -> SpikeforgeError:
    return SpikeforgeError(
        f"cannot export {ctx.label(module)}: {type(module).__qualname__} is not supported; "
        f"supported types are {supported_types()}"
    )


def _run(
    root: torch.nn.Module, x: torch.Tensor, ctx: ExportContext, pre: Any, post: Any = None
) -> Any:
    """Run ``root(x)`` with ``pre``/``post`` hooks on every layer; checks unsupported ones."""
    tracer = NIRTorchTracer(tuple(MODULE_MAP))
    handles = []

    def guard(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        raise _unsupported_error(module, ctx)

    for name, module in root.named_modules():
        if type(module) in MODULE_MAP:
            handles.append(module.register_forward_pre_hook(pre))
            if post is not None:
                handles.append(module.register_forward_hook(post))
        elif name and _is_unsupported(module, name, tracer):
            handles.append(module.register_forward_pre_hook(guard))
    try:
        with torch.no_grad():
            return root(x)
    except (SpikeforgeError, _FirstLayer):
        raise
    except Exception as exc:
        raise SpikeforgeError(
            f"running {type(root).__name__} on a sample of shape {tuple(x.shape)} failed: {exc}"
        ) from exc
    finally:
        for handle in handles:
            handle.remove()


def _unbatched_sample(
    root: torch.nn.Module, sample: torch.Tensor, ctx: ExportContext
) -> torch.Tensor:
    """Drop a batch dimension if the first layer's fixed rank shows there is one."""

    def stop(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        raise _FirstLayer(module)

    sample = sample.detach()
    try:
        _run(root, sample, ctx, pre=stop)
        return sample  # no layer ran: nothing to learn the rank from
    except _FirstLayer as found:
        first = found.module
    rank = INPUT_RANK.get(type(first))
    if rank is None or sample.dim() == rank:
        return sample
    if sample.dim() == rank + 1:
        return sample[0]
    raise SpikeforgeError(
        f"sample_input of shape {tuple(sample.shape)} does not fit {ctx.label(first)}, "
        f"which takes {rank}-d unbatched (or {rank + 1}-d batched) input"
    )


def _tensor(value: Any) -> torch.Tensor | None:
    """The data tensor of a layer's output: stateful layers return ``(output, state)``."""
    if isinstance(value, tuple) and value:
        value = value[0]
    return value if isinstance(value, torch.Tensor) else None


def _record_shapes(root: torch.nn.Module, sample: torch.Tensor, ctx: ExportContext) -> Shape:
    """Run a batch of one; store each layer's unbatched shapes; return the output shape."""

    def pre(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if id(module) in ctx.in_shapes:
            raise SpikeforgeError(
                f"cannot export {ctx.label(module)}: it is applied more than once, "
                "but a NIR node stands for exactly one application"
            )
        ctx.in_shapes[id(module)] = tuple(args[0].shape[1:])

    def post(module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> None:
        ctx.out_shapes[id(module)] = tuple(_tensor(output).shape[1:])

    result = _tensor(_run(root, sample.unsqueeze(0), ctx, pre=pre, post=post))
    if result is None:
        raise SpikeforgeError(
            f"{type(root).__name__} must return a tensor (or a tuple of tensor and state)"
        )
    return tuple(result.shape[1:])


# --- tracing with nirtorch ----------------------------------------------------------


def _concrete_args(root: torch.nn.Module) -> dict[str, Any] | None:
    """Pin every forward argument after the data (e.g. ``state=None``) to its default."""
    parameters = list(inspect.signature(root.forward).parameters.values())[1:]
    missing = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    if missing:
        raise SpikeforgeError(
            f"{type(root).__name__}.forward needs arguments besides the input: {missing}"
        )
    return {p.name: p.default for p in parameters} or None


def _trace(root: torch.nn.Module, ctx: ExportContext) -> tuple[nir.NIRGraph, dict[int, str]]:
    """nirtorch trace; also returns ``id(nir node) -> module path`` for renaming."""
    produced: dict[int, str] = {}

    def converter(convert: Any) -> Any:
        def run(module: torch.nn.Module) -> nir.NIRNode:
            node = convert(module, ctx)
            produced[id(node)] = ctx.name(module)
            return node

        return run

    module_map = {cls: converter(convert) for cls, convert in MODULE_MAP.items()}
    try:
        traced = nirtorch.torch_to_nir(
            root,
            module_map,
            default_dict=None,
            type_check=False,
            stateful_modules=set(STATEFUL),
            concrete_args=_concrete_args(root),
        )
    except SpikeforgeError:
        raise
    except Exception as exc:
        raise SpikeforgeError(
            f"cannot trace {type(root).__name__} with torch.fx (nirtorch): {exc}. Forward may "
            f"only call supported modules in sequence (and add their outputs); supported types "
            f"are {supported_types()}"
        ) from exc
    return traced, produced


def _rename(traced: nir.NIRGraph, produced: dict[int, str]) -> dict[str, nir.NIRNode]:
    """Layer nodes keyed by module path; nirtorch's own Input/Output are dropped."""
    inputs = [n for n in traced.nodes.values() if isinstance(n, nir.Input)]
    outputs = [n for n in traced.nodes.values() if isinstance(n, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise SpikeforgeError(
            f"the network must have one input and one output, traced {len(inputs)} and "
            f"{len(outputs)}"
        )
    return {
        produced[id(node)]: node
        for node in traced.nodes.values()
        if not isinstance(node, nir.Input | nir.Output)
    }


def _renamed_edges(traced: nir.NIRGraph, produced: dict[int, str]) -> list[tuple[str, str]]:
    """nirtorch's edges in the new names; subgraphs are still nodes here."""
    names = {}
    for fx_name, node in traced.nodes.items():
        if isinstance(node, nir.Input):
            names[fx_name] = "input"
        elif isinstance(node, nir.Output):
            names[fx_name] = "output"
        else:
            names[fx_name] = produced[id(node)]
    # nirtorch may repeat an edge; NIR rejects duplicates
    return list(dict.fromkeys((names[a], names[b]) for a, b in traced.edges))
