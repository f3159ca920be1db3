"""The module map: one converter per supported torch / norse module type.

The parameter conventions here are fixed by the rest of the toolchain (the NIR
importer and the Loihi compiler read them back); they are not free choices:

* NIR time constants are times: ``tau = 1 / tau_inv``. (norse 1.1.0's own
  ``to_nir`` writes ``dt / tau_inv``, i.e. a time constant in steps.)
* norse adds a layer's input to the synaptic current as a full jump (``i += x``),
  whereas NIR's ``CubaLIF``/``CubaLI`` integrate ``tau_syn di/dt = -i + w_in x``. One
  Euler step adds ``dt / tau_syn * w_in * x``, which equals ``x`` only for
  ``w_in = tau_syn / dt``.
* Every parameter is a numpy array (torch tensors break ``nir.write``); neuron
  parameters are broadcast to one value per neuron of the layer's unbatched shape.

A converter gets the module and an :class:`ExportContext` (dt, module names and the
unbatched shapes recorded by running the sample through the network) and returns a
NIR node. ``LIFRecurrentCell`` returns a small ``NIRGraph`` which the exporter
flattens into the top-level graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from norse.torch import IAFCell, LIBoxCell, LICell, LIFBoxCell, LIFCell, LIFRecurrentCell
from norse.torch.functional.reset import reset_value

from spikeforge.errors import SpikeforgeError
from spikeforge.export.pooling import SumPool2d, pair

Shape = tuple[int, ...]


@dataclass
class ExportContext:
    """What a converter needs besides the module: dt, names and recorded shapes.

    Shapes are unbatched and keyed by ``id(module)``; they come from one real forward
    pass, so they are what the module actually consumed and produced.
    """

    dt: float
    names: dict[int, str]
    in_shapes: dict[int, Shape] = field(default_factory=dict)
    out_shapes: dict[int, Shape] = field(default_factory=dict)

    def name(self, module: torch.nn.Module) -> str:
        """The module's attribute path in the exported network (e.g. ``"0"``, ``"fc1"``)."""
        return self.names.get(id(module), "<root>")

    def label(self, module: torch.nn.Module) -> str:
        """``'path' (Type)``: how error messages name a module."""
        return f"module '{self.name(module)}' ({type(module).__name__})"

    def in_shape(self, module: torch.nn.Module) -> Shape:
        return self._shape(self.in_shapes, module)

    def out_shape(self, module: torch.nn.Module) -> Shape:
        return self._shape(self.out_shapes, module)

    def _shape(self, shapes: dict[int, Shape], module: torch.nn.Module) -> Shape:
        if id(module) not in shapes:
            raise SpikeforgeError(
                f"{self.label(module)} was not called when the sample input was run "
                "through the network, so its shape is unknown"
            )
        return shapes[id(module)]


Converter = Callable[[torch.nn.Module, ExportContext], nir.NIRNode]


def _refuse(module: torch.nn.Module, ctx: ExportContext, why: str) -> SpikeforgeError:
    return SpikeforgeError(f"cannot export {ctx.label(module)}: {why}")


def _weight(tensor: torch.Tensor) -> np.ndarray:
    """A numpy copy (``.numpy()`` alone would alias torch memory that training mutates)."""
    return tensor.detach().cpu().numpy().copy()


def _float64(value: Any) -> np.ndarray:
    # Tensors keep their exact float32 values; python floats are not rounded via float32.
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().astype(np.float64)
    return np.asarray(value, dtype=np.float64)


def _per_neuron(
    module: torch.nn.Module, ctx: ExportContext, what: str, value: Any, shape: Shape
) -> np.ndarray:
    """``value`` broadcast to one float64 entry per neuron of ``shape``."""
    array = _float64(value)
    try:
        return np.broadcast_to(array, shape).copy()
    except ValueError as exc:
        raise _refuse(
            module, ctx, f"{what} of shape {array.shape} does not broadcast to the layer {shape}"
        ) from exc


def _tau(
    module: torch.nn.Module, ctx: ExportContext, what: str, inverse: Any, shape: Shape
) -> np.ndarray:
    """Time constant ``1 / tau_inv`` per neuron; refuses non-positive inverses."""
    inv = _per_neuron(module, ctx, what, inverse, shape)
    if not np.all(np.isfinite(inv) & (inv > 0)):
        raise _refuse(module, ctx, f"{what} must be finite and > 0, got {inv.min()}..{inv.max()}")
    return 1.0 / inv


def _check_dt(module: torch.nn.Module, ctx: ExportContext) -> None:
    """norse cells integrate with their own ``dt``; a different export dt would silently
    describe other dynamics than the ones the network was trained with."""
    module_dt = float(module.dt)
    if not math.isclose(module_dt, ctx.dt, rel_tol=1e-9):
        raise _refuse(
            module, ctx, f"it integrates with dt={module_dt} but the export asked for dt={ctx.dt}"
        )


def _check_rank(module: torch.nn.Module, ctx: ExportContext, rank: int, layout: str) -> Shape:
    shape = ctx.in_shape(module)
    if len(shape) != rank:
        raise _refuse(module, ctx, f"expects unbatched input {layout}, got shape {shape}")
    return shape


# --- torch layers -----------------------------------------------------------------


def linear(module: torch.nn.Linear, ctx: ExportContext) -> nir.NIRNode:
    """``Affine`` with bias, ``Linear`` without (NIR has no implicit zero bias)."""
    _check_rank(module, ctx, 1, "(features,)")
    if module.bias is None:
        return nir.Linear(weight=_weight(module.weight))
    return nir.Affine(weight=_weight(module.weight), bias=_weight(module.bias))


def _conv_padding(module: torch.nn.Conv2d, ctx: ExportContext) -> tuple[int, int]:
    """Integer padding; string paddings are resolved because the compiler wants ints."""
    if module.padding == "valid":
        return (0, 0)
    if module.padding == "same":
        # torch pads 'same' asymmetrically (extra row/column at the end) when the total
        # is odd; NIR's integer padding is symmetric, so only even totals are exact.
        totals = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size, strict=True)]
        if any(total % 2 for total in totals):
            raise _refuse(
                module, ctx, f"padding='same' needs asymmetric padding {totals} (odd total)"
            )
        return (totals[0] // 2, totals[1] // 2)
    return pair(module.padding)


def conv2d(module: torch.nn.Conv2d, ctx: ExportContext) -> nir.NIRNode:
    if module.padding_mode != "zeros":
        raise _refuse(module, ctx, f"padding_mode={module.padding_mode!r}; NIR pads with zeros")
    _, height, width = _check_rank(module, ctx, 3, "(C, H, W)")
    weight = _weight(module.weight)
    bias = (
        _weight(module.bias)
        if module.bias is not None
        else np.zeros(module.out_channels, dtype=weight.dtype)
    )
    return nir.Conv2d(
        input_shape=(height, width),
        weight=weight,
        stride=pair(module.stride),
        padding=_conv_padding(module, ctx),
        dilation=pair(module.dilation),
        groups=int(module.groups),
        bias=bias,
    )


def flatten(module: torch.nn.Flatten, ctx: ExportContext) -> nir.NIRNode:
    """torch's dims count the batch dimension; NIR's graph is unbatched, so shift by one.

    Dims are written non-negative: NIR 1.0.8's ``calc_flatten_output`` only
    special-cases ``end_dim == -1`` and miscomputes other negative end dims.
    """
    shape = ctx.in_shape(module)
    batched_rank = len(shape) + 1
    start = module.start_dim % batched_rank - 1
    end = module.end_dim % batched_rank - 1
    if start < 0:
        raise _refuse(module, ctx, "it flattens the batch dimension into the features")
    return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start, end_dim=end)


def _pool_geometry(
    module: torch.nn.Module, ctx: ExportContext, kernel: Any, stride: Any, padding: Any
) -> dict[str, np.ndarray]:
    _check_rank(module, ctx, 3, "(C, H, W)")
    if getattr(module, "ceil_mode", False):
        raise _refuse(module, ctx, "ceil_mode=True changes the output size; NIR floors")
    return {
        "kernel_size": np.array(pair(kernel), dtype=np.int64),
        "stride": np.array(pair(kernel if stride is None else stride), dtype=np.int64),
        "padding": np.array(pair(padding), dtype=np.int64),
    }


def avg_pool2d(module: torch.nn.AvgPool2d, ctx: ExportContext) -> nir.NIRNode:
    if module.divisor_override is not None:
        raise _refuse(module, ctx, "divisor_override is not representable in NIR")
    geometry = _pool_geometry(module, ctx, module.kernel_size, module.stride, module.padding)
    if not module.count_include_pad and geometry["padding"].any():
        raise _refuse(module, ctx, "count_include_pad=False with padding is not representable")
    return nir.AvgPool2d(**geometry)


def lp_pool2d(module: torch.nn.LPPool2d, ctx: ExportContext) -> nir.NIRNode:
    """``LPPool2d`` with ``norm_type=1`` is (signed) sum pooling."""
    if float(module.norm_type) != 1.0:
        raise _refuse(module, ctx, f"norm_type={module.norm_type}; only 1 (sum pooling) maps")
    return nir.SumPool2d(**_pool_geometry(module, ctx, module.kernel_size, module.stride, 0))


def sum_pool2d(module: SumPool2d, ctx: ExportContext) -> nir.NIRNode:
    return nir.SumPool2d(**_pool_geometry(module, ctx, module.kernel_size, module.stride, 0))


# --- norse neurons ----------------------------------------------------------------


def _cuba_lif(module: LIFCell | LIFRecurrentCell, ctx: ExportContext, shape: Shape) -> nir.CubaLIF:
    p = module.p
    tau_syn = _tau(module, ctx, "tau_syn_inv", p.tau_syn_inv, shape)
    return nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=_tau(module, ctx, "tau_mem_inv", p.tau_mem_inv, shape),
        r=np.ones(shape),
        v_leak=_per_neuron(module, ctx, "v_leak", p.v_leak, shape),
        v_threshold=_per_neuron(module, ctx, "v_th", p.v_th, shape),
        v_reset=_per_neuron(module, ctx, "v_reset", p.v_reset, shape),
        w_in=tau_syn / ctx.dt,
    )


def lif_cell(module: LIFCell, ctx: ExportContext) -> nir.NIRNode:
    _check_dt(module, ctx)
    return _cuba_lif(module, ctx, ctx.out_shape(module))


def lif_recurrent_cell(module: LIFRecurrentCell, ctx: ExportContext) -> nir.NIRNode:
    """The cell as a cycle: input_linear -> lif -> recurrent_linear -> lif.

    The recurrent weights are exported exactly as stored, because that is what norse's
    forward (``lif_step``) multiplies with. ``autapses=False`` does *not* mask them in
    forward: norse zeroes the diagonal once in ``SNNRecurrentCell.__init__`` and then only
    masks gradients, so a later load of a non-zero diagonal is used by norse as-is.
    """
    _check_dt(module, ctx)
    _check_rank(module, ctx, 1, "(features,)")
    shape = ctx.out_shape(module)
    nodes = {
        "input": nir.Input(input_type=np.array(ctx.in_shape(module))),
        "input_linear": nir.Linear(weight=_weight(module.input_weights)),
        "lif": _cuba_lif(module, ctx, shape),
        "recurrent_linear": nir.Linear(weight=_weight(module.recurrent_weights)),
        "output": nir.Output(output_type=np.array(shape)),
    }
    edges = [
        ("input", "input_linear"),
        ("input_linear", "lif"),
        ("lif", "recurrent_linear"),
        ("recurrent_linear", "lif"),
        ("lif", "output"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def lif_box_cell(module: LIFBoxCell, ctx: ExportContext) -> nir.NIRNode:
    _check_dt(module, ctx)
    p = module.p
    if getattr(p, "reset_method", reset_value) is not reset_value:
        method = getattr(p.reset_method, "__name__", repr(p.reset_method))
        raise _refuse(module, ctx, f"reset_method={method}; NIR's LIF resets to v_reset")
    shape = ctx.out_shape(module)
    return nir.LIF(
        tau=_tau(module, ctx, "tau_mem_inv", p.tau_mem_inv, shape),
        r=np.ones(shape),
        v_leak=_per_neuron(module, ctx, "v_leak", p.v_leak, shape),
        v_threshold=_per_neuron(module, ctx, "v_th", p.v_th, shape),
        v_reset=_per_neuron(module, ctx, "v_reset", p.v_reset, shape),
    )


def li_cell(module: LICell, ctx: ExportContext) -> nir.NIRNode:
    _check_dt(module, ctx)
    p = module.p
    shape = ctx.out_shape(module)
    tau_syn = _tau(module, ctx, "tau_syn_inv", p.tau_syn_inv, shape)
    return nir.CubaLI(
        tau_syn=tau_syn,
        tau_mem=_tau(module, ctx, "tau_mem_inv", p.tau_mem_inv, shape),
        r=np.ones(shape),
        v_leak=_per_neuron(module, ctx, "v_leak", p.v_leak, shape),
        w_in=tau_syn / ctx.dt,
    )


def li_box_cell(module: LIBoxCell, ctx: ExportContext) -> nir.NIRNode:
    _check_dt(module, ctx)
    p = module.p
    shape = ctx.out_shape(module)
    return nir.LI(
        tau=_tau(module, ctx, "tau_mem_inv", p.tau_mem_inv, shape),
        r=np.ones(shape),
        v_leak=_per_neuron(module, ctx, "v_leak", p.v_leak, shape),
    )


def iaf_cell(module: IAFCell, ctx: ExportContext) -> nir.NIRNode:
    """norse's IAF adds the input per step and ignores its dt, so there is no dt to check."""
    p = module.p
    shape = ctx.out_shape(module)
    return nir.IF(
        r=np.ones(shape),
        v_threshold=_per_neuron(module, ctx, "v_th", p.v_th, shape),
        v_reset=_per_neuron(module, ctx, "v_reset", p.v_reset, shape),
    )


MODULE_MAP: dict[type[torch.nn.Module], Converter] = {
    torch.nn.Linear: linear,
    torch.nn.Conv2d: conv2d,
    torch.nn.Flatten: flatten,
    torch.nn.AvgPool2d: avg_pool2d,
    torch.nn.LPPool2d: lp_pool2d,
    SumPool2d: sum_pool2d,
    LIFCell: lif_cell,
    LIFRecurrentCell: lif_recurrent_cell,
    LIFBoxCell: lif_box_cell,
    LICell: li_cell,
    LIBoxCell: li_box_cell,
    IAFCell: iaf_cell,
}
"""Exact types (no subclasses: a subclass may change the dynamics)."""

STATEFUL: frozenset[type[torch.nn.Module]] = frozenset(
    {LIFCell, LIFRecurrentCell, LIFBoxCell, LICell, LIBoxCell, IAFCell}
)
"""Types whose forward returns ``(output, state)``; nirtorch must follow only index 0."""

INPUT_RANK: dict[type[torch.nn.Module], int] = {
    torch.nn.Linear: 1,
    LIFRecurrentCell: 1,
    torch.nn.Conv2d: 3,
    torch.nn.AvgPool2d: 3,
    torch.nn.LPPool2d: 3,
    SumPool2d: 3,
}
"""Unbatched input rank of layers that fix it; lets ``to_nir`` spot a batched sample."""


def supported_types() -> str:
    """Comma-separated qualified names of the supported module types, for messages."""
    packages = {"torch": "torch.nn", "norse": "norse.torch", "spikeforge": "spikeforge.export"}
    return ", ".join(
        f"{packages[cls.__module__.split('.')[0]]}.{cls.__qualname__}" for cls in MODULE_MAP
    )
