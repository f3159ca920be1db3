"""One validation of a netx ``.net``'s ``layer`` group, shared by both readers.

The float import (:mod:`spikeforge.ir.netx_import`) and the fixed-point plan
(:mod:`spikeforge.compile.netx_plan`) read the same file differently, but a value
that is not a number, not finite, complex, out of Loihi's widths or of the wrong
arity is wrong for both: :func:`checked_layers` refuses it once, before either
reader looks at a value, with one line naming the layer, the field, the value and
the limit. Structure (which layers follow which, shapes that fit each other) stays
with the readers, which know the layer chain.
"""

from __future__ import annotations

import math

import h5py
import numpy as np

from spikeforge.errors import SpikeforgeError, UnsupportedError
from spikeforge.loihi_format import (
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    DECAY_UNITY,
    MAX_SYNAPSE_DELAY,
    NETX_NEVER_SPIKES,
    STATE_BITS,
    WEIGHT_MAX,
    WEIGHT_MIN,
)

#: Neurons per layer spikeforge allocates for (PilotNet's largest has 39,600).
MAX_LAYER_NEURONS = 1 << 22
#: ``refDelay`` is ignored by netx and Lava's LIF; it must still be a sane step count.
MAX_REF_DELAY = 1 << 16
#: A layer's shape: ``(n,)`` or ``(C, H, W)``.
SHAPE_SIZES = (1, 3)
#: Conv geometry: one number for both axes, or (H, W).
PAIR_SIZES = (1, 2)

#: Whole-number fields of a layer and their inclusive ranges.
_LAYER_INTS = {
    "weight": (WEIGHT_MIN, WEIGHT_MAX),
    "weight_rec": (WEIGHT_MIN, WEIGHT_MAX),
    "delay": (0, MAX_SYNAPSE_DELAY),
    "stride": (1, MAX_LAYER_NEURONS),
    "padding": (0, MAX_LAYER_NEURONS),
    "dilation": (1, MAX_LAYER_NEURONS),
    "groups": (1, MAX_LAYER_NEURONS),
    "inFeatures": (1, MAX_LAYER_NEURONS),
    "outFeatures": (1, MAX_LAYER_NEURONS),
}
_SCALARS = ("groups", "inFeatures", "outFeatures")
#: A CUBA/LOIHI neuron's fields (``iDecay``/``vDecay`` over DECAY_UNITY; ``vThMant`` up
#: to netx's never-spiking default).
_CUBA_INTS = {
    "iDecay": (0, DECAY_UNITY),
    "vDecay": (0, DECAY_UNITY),
    "vThMant": (0, NETX_NEVER_SPIKES),
    "refDelay": (0, MAX_REF_DELAY),
    "gradedSpike": (0, 1),
    "messageBits": (0, STATE_BITS),
}
CUBA_TYPES = ("CUBA", "LOIHI")
#: Why each range is what it is, for the refusal.
_WHY = {
    "weight": "Loihi's 8-bit weight mantissa",
    "weight_rec": "Loihi's 8-bit weight mantissa",
    "delay": "netx clamps delays to 62",
    "bias": "Loihi's 13-bit bias mantissa",
    "neuron iDecay": f"a 12-bit decay over {DECAY_UNITY}",
    "neuron vDecay": f"a 12-bit decay over {DECAY_UNITY}",
    "neuron vThMant": "17-bit threshold; 2^17 never spikes",
}


def checked_layers(handle: h5py.File) -> list[h5py.Group]:
    """The layer groups ``0..n-1`` in order, every value validated; also the
    ``spikeforge`` metadata group export-netx writes (finite numbers only)."""
    layers = handle["layer"]
    if not isinstance(layers, h5py.Group):
        raise SpikeforgeError("'layer' is not a group: not a netx network description")
    keys = sorted(int(k) for k in layers if k.isdigit())
    if not keys:
        raise SpikeforgeError("the 'layer' group holds no layers")
    if keys != list(range(len(keys))):
        raise SpikeforgeError(f"layers must be numbered 0..{len(keys) - 1}, got {keys}")
    groups = [layers[str(k)] for k in keys]
    for i, group in enumerate(groups):
        if not isinstance(group, h5py.Group):
            raise SpikeforgeError(f"layer {i} is not a group")
        _check_layer(group, i)
    if "spikeforge" in handle:
        _check_finite_tree(handle["spikeforge"], "spikeforge metadata", text_ok=False)
    return groups


def layer_type(group: h5py.Group, where: int | str, key: str = "type") -> str:
    """A text field (a layer's or neuron's ``type``): ASCII, non-empty."""
    label = f"layer {where}" if isinstance(where, int) else where
    if key not in group or not isinstance(group[key], h5py.Dataset):
        raise SpikeforgeError(f"{label} has no '{key}'")
    value = group[key][()]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "SOU" or value.size == 0:
            raise SpikeforgeError(f"{label}: {key} must be text, got {value.dtype} {value.shape}")
        value = value.ravel()[0]
    if isinstance(value, bytes):
        text = value.decode("ascii", "replace")
    elif isinstance(value, str):
        text = value
    else:
        raise SpikeforgeError(f"{label}: {key} must be text, got {value!r}")
    if not text or not text.isascii() or not text.isprintable():
        raise SpikeforgeError(f"{label}: {key} {text!r} is not a name")
    return text


def integers(value: np.ndarray, where: str, key: str) -> np.ndarray:
    """Real, finite whole numbers (a netx file is fixed point), as int64."""
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise UnsupportedError(f"{where}: {key} of dtype {value.dtype}, expected real numbers")
    as_float = value.astype(np.float64)
    if not np.isfinite(as_float).all():
        raise UnsupportedError(f"{where}: {key} is not finite")
    if np.any(as_float != np.round(as_float)):
        raise UnsupportedError(f"{where}: {key} holds non-integers; a netx file is fixed point")
    if as_float.size and np.abs(as_float).max() > np.iinfo(np.int64).max / 2:
        raise UnsupportedError(f"{where}: {key} {np.abs(as_float).max():g} out of range")
    return as_float.astype(np.int64)


def within(values: np.ndarray, low: int, high: int, where: str, key: str) -> None:
    """``values`` in ``[low, high]``, or one line naming the offending value and the limit."""
    if values.size and (values.min() < low or values.max() > high):
        bad = int(values.min() if values.min() < low else values.max())
        why = f" ({_WHY[key]})" if key in _WHY else ""
        raise UnsupportedError(f"{where}: {key} = {bad} outside [{low}, {high}]{why}")


def _check_layer(group: h5py.Group, i: int) -> None:
    kind = layer_type(group, i)
    where = f"layer {i} ({kind})"
    if "weight" in group and isinstance(group["weight"], h5py.Group):
        raise UnsupportedError(f"{where}: complex weights (resonate-and-fire networks)")
    if "shape" in group:
        shape = integers(_read(group, "shape", where), where, "shape").ravel()
        if shape.size not in SHAPE_SIZES or shape.min() < 1:
            raise UnsupportedError(
                f"{where}: shape {shape.tolist()}, expected (n,) or (C, H, W) >= 1"
            )
        if math.prod(int(s) for s in shape) > MAX_LAYER_NEURONS:
            raise UnsupportedError(
                f"{where}: shape {shape.tolist()} has more than {MAX_LAYER_NEURONS} neurons"
            )
    for key, (low, high) in _LAYER_INTS.items():
        if key not in group:
            continue
        values = integers(_read(group, key, where), where, key)
        if key in _SCALARS and values.size != 1:
            raise UnsupportedError(f"{where}: {key} must be one number, got shape {values.shape}")
        if key in ("stride", "padding", "dilation") and values.size not in PAIR_SIZES:
            raise UnsupportedError(f"{where}: {key} must be 1 or 2 numbers, got {values.size}")
        within(values, low, high, where, key)
    if "bias" in group:
        bias = _read(group, "bias", where)
        if bias.dtype.kind not in "biuf" or not np.isfinite(bias.astype(np.float64)).all():
            raise UnsupportedError(f"{where}: bias must be finite real numbers ({bias.dtype})")
        within(np.trunc(bias.astype(np.float64)), BIAS_MANT_MIN, BIAS_MANT_MAX, where, "bias")
    if "neuron" in group:
        _check_neuron(group["neuron"], where)


def _check_neuron(neuron: h5py.Group, where: str) -> None:
    if not isinstance(neuron, h5py.Group):
        raise SpikeforgeError(f"{where}: 'neuron' is not a group")
    kind = layer_type(neuron, f"{where} neuron")
    if kind in CUBA_TYPES:
        for key, (low, high) in _CUBA_INTS.items():
            if key not in neuron:
                continue
            values = integers(_read(neuron, key, where), where, f"neuron {key}")
            if values.size != 1:
                raise UnsupportedError(
                    f"{where}: neuron {key} must be one number, got shape {values.shape}"
                )
            within(values, low, high, where, f"neuron {key}")
    _check_finite_tree(neuron, f"{where} neuron", text_ok=True)


def _check_finite_tree(group: h5py.Group, where: str, text_ok: bool) -> None:
    """Every numeric dataset below ``group`` real and finite; text only where ``text_ok``
    (other neuron types' fields are read by their own readers)."""
    for key in group:
        item = group[key]
        if isinstance(item, h5py.Group):
            _check_finite_tree(item, f"{where}/{key}", text_ok)
            continue
        value = np.asarray(item[()])
        if text_ok and value.dtype.kind in "SOU":
            continue
        if value.dtype.kind not in "biuf" or not np.isfinite(value.astype(np.float64)).all():
            raise UnsupportedError(f"{where}: {key} must be finite real numbers ({value.dtype})")


def _read(group: h5py.Group, key: str, where: str) -> np.ndarray:
    item = group[key]
    if not isinstance(item, h5py.Dataset):
        raise SpikeforgeError(f"{where}: '{key}' is not a dataset")
    return np.asarray(item[()])
