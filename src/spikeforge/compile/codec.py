"""Dataclasses to JSON plus arrays and back, driven by the *expected* types, not the file.

The ``.sfnet`` format stores the compiled plans as they are, field by field, so a
file is decoded against the type hints of the dataclasses it must contain: the file
never names a class to build (a union of dataclasses is tagged with the member's
name, and only members of that union are accepted). Every value is checked against
its annotation (int is int and not bool, float is finite or ±inf, never NaN; arrays
are real and finite; literals are among their choices) and, once a dataclass is
built, against its own rules: a registered validator (:func:`register`) or its
``validate()`` method. A field added to a plan dataclass is carried without touching
this module, as long as it is annotated with the types handled here.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

import numpy as np
import scipy.sparse as sp

from spikeforge.errors import SpikeforgeError

#: Largest integer a header may hold (JSON readers other than Python lose precision beyond).
MAX_INT = 2**53
#: Longest name (population, input, readout) a header may hold.
MAX_NAME = 256
#: A weight matrix, dense or CSR (:mod:`spikeforge.ir.weights`): stored as one array,
#: or as CSR's three arrays and the shape.
_MATRICES = {np.ndarray, sp.csr_array}

Validator = Callable[[Any, str], None]
_VALIDATORS: dict[type, Validator] = {}


def register(cls: type) -> Callable[[Validator], Validator]:
    """Decorator: ``fn(instance, where)`` checks a decoded ``cls``; raises SpikeforgeError."""

    def add(fn: Validator) -> Validator:
        _VALIDATORS[cls] = fn
        return fn

    return add


class Encoder:
    """Collects arrays (``key -> array``) while turning a value into JSON."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, value: Any, hint: Any, key: str) -> Any:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if value is None:
            return None
        if dataclasses.is_dataclass(hint):
            return {
                f.name: self.encode(getattr(value, f.name), kind, f"{key}/{f.name}")
                for f, kind in _fields(hint)
            }
        if origin in (Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            if len(members) == 1:
                return self.encode(value, members[0], key)
            if set(members) == _MATRICES:
                return self.encode(value, type(value) if sp.issparse(value) else np.ndarray, key)
            chosen = next(m for m in members if dataclasses.is_dataclass(m) and type(value) is m)
            return {"kind": chosen.__name__, "value": self.encode(value, chosen, key)}
        if hint is np.ndarray:
            self.arrays[key] = np.asarray(value)
            return key
        if hint is sp.csr_array:
            parts = {"data": value.data, "indices": value.indices, "indptr": value.indptr}
            for part, array in parts.items():
                self.arrays[f"{key}/{part}"] = array
            return {"csr": {part: f"{key}/{part}" for part in parts}, "shape": list(value.shape)}
        if origin is dict:
            return {
                k: self.encode(v, args[1], f"{key}/{i}") for i, (k, v) in enumerate(value.items())
            }
        if origin in (list, tuple):
            inner = args[0] if args else Any
            return [
                self.encode(
                    v, args[i] if origin is tuple and args[-1] is not ... else inner, f"{key}/{i}"
                )
                for i, v in enumerate(value)
            ]
        if hint is object or hint is Any:
            return _plain(value)
        if isinstance(value, np.generic):
            return value.item()
        return value


def decode(data: Any, hint: Any, key: str, arrays: dict[str, np.ndarray], where: str) -> Any:
    """``data`` as an instance of ``hint``; ``where`` names the field in every error."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if data is None:
            if len(members) < len(args):
                return None
            raise SpikeforgeError(f"{where} is missing (null)")
        if len(members) == 1:
            return decode(data, members[0], key, arrays, where)
        if set(members) == _MATRICES:
            chosen = sp.csr_array if isinstance(data, dict) else np.ndarray
            return decode(data, chosen, key, arrays, where)
        by_name = {m.__name__: m for m in members if dataclasses.is_dataclass(m)}
        if not isinstance(data, dict) or data.get("kind") not in by_name:
            raise SpikeforgeError(f"{where}: expected one of {sorted(by_name)} tagged with 'kind'")
        return decode(data.get("value"), by_name[data["kind"]], key, arrays, where)
    if data is None:
        raise SpikeforgeError(f"{where} is missing (null)")
    if dataclasses.is_dataclass(hint):
        if not isinstance(data, dict):
            raise SpikeforgeError(f"{where}: expected an object, got {_kind(data)}")
        unknown = set(data) - {f.name for f, _ in _fields(hint)}
        if unknown:
            raise SpikeforgeError(f"{where}: unknown field(s) {sorted(unknown)[:5]}")
        values = {}
        for f, kind in _fields(hint):
            if f.name not in data:
                if (f.default, f.default_factory) != (dataclasses.MISSING, dataclasses.MISSING):
                    # A field added since the file was written. Every such field's default
                    # means "as before" (a flat shape, no periodic reset, no split), so the
                    # file keeps its meaning; a field whose default would change a stored
                    # plan's meaning must come with a FORMAT_VERSION bump instead.
                    continue
                raise SpikeforgeError(f"{where}.{f.name} is missing")
            values[f.name] = decode(
                data[f.name], kind, f"{key}/{f.name}", arrays, f"{where}.{f.name}"
            )
        instance = _construct(hint, values, where)
        validator = _VALIDATORS.get(hint)
        if validator is not None:
            validator(instance, where)
        if callable(getattr(instance, "validate", None)):
            instance.validate()
        return instance
    if hint is np.ndarray:
        if not isinstance(data, str) or data not in arrays:
            raise SpikeforgeError(f"{where}: array member {_short(data)} is not in the file")
        array = arrays[data]
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise SpikeforgeError(f"{where}: non-finite value {array[index]} at index {index}")
        return array
    if hint is sp.csr_array:
        return _decode_csr(data, arrays, where)
    if origin is dict:
        if not isinstance(data, dict):
            raise SpikeforgeError(f"{where}: expected an object, got {_kind(data)}")
        return {
            _name(k, f"{where} key"): decode(v, args[1], f"{key}/{i}", arrays, f"{where}[{k!r}]")
            for i, (k, v) in enumerate(data.items())
        }
    if origin in (list, tuple):
        if not isinstance(data, list):
            raise SpikeforgeError(f"{where}: expected a list, got {_kind(data)}")
        fixed = origin is tuple and args and args[-1] is not ...
        if fixed and len(data) != len(args):
            raise SpikeforgeError(f"{where}: expected {len(args)} entries, got {len(data)}")
        items = [
            decode(v, args[i] if fixed else args[0], f"{key}/{i}", arrays, f"{where}[{i}]")
            for i, v in enumerate(data)
        ]
        return tuple(items) if origin is tuple else items
    if origin is Literal:
        if data not in args or type(data) is not type(args[0]):
            raise SpikeforgeError(f"{where} = {_short(data)}: must be one of {list(args)}")
        return data
    if hint is bool:
        if not isinstance(data, bool):
            raise SpikeforgeError(f"{where} = {_short(data)}: must be true or false")
        return data
    if hint is int:
        if not isinstance(data, int) or isinstance(data, bool) or abs(data) > MAX_INT:
            raise SpikeforgeError(f"{where} = {_short(data)}: must be a whole number within ±2^53")
        return data
    if hint is float:
        # An int stays an int: fixed-point plans keep integers in float-annotated fields.
        ok = isinstance(data, (int, float)) and not isinstance(data, bool)
        if (
            not ok
            or (isinstance(data, float) and math.isnan(data))
            or (isinstance(data, int) and abs(data) > MAX_INT)
        ):
            raise SpikeforgeError(f"{where} = {_short(data)}: must be a number (not NaN)")
        return data
    if hint is str:
        return _name(data, where)
    if hint is object or hint is Any:
        return data
    raise SpikeforgeError(f"{where}: no decoder for type {hint!r}")  # a plan type we do not know


def _decode_csr(data: Any, arrays: dict[str, np.ndarray], where: str) -> sp.csr_array:
    """A CSR matrix from its three arrays, refused unless canonical (sorted, in range):
    the quantiser and the runtimes read its entries as a dense matrix's non-zeros."""
    if not isinstance(data, dict) or set(data) != {"csr", "shape"}:
        raise SpikeforgeError(f"{where}: expected a CSR matrix {{csr, shape}}")
    shape = decode(data["shape"], tuple[int, int], "", arrays, f"{where}.shape")
    if min(shape) < 0:
        raise SpikeforgeError(f"{where}.shape = {list(shape)}: must not be negative")
    parts = data["csr"]
    if not isinstance(parts, dict) or set(parts) != {"data", "indices", "indptr"}:
        raise SpikeforgeError(f"{where}.csr: expected the arrays data, indices, indptr")
    values, indices, indptr = (
        decode(parts[p], np.ndarray, "", arrays, f"{where}.csr.{p}")
        for p in ("data", "indices", "indptr")
    )
    for name, array in (("indices", indices), ("indptr", indptr)):
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise SpikeforgeError(f"{where}.csr.{name}: must be a 1-D integer array")
    if values.ndim != 1 or values.dtype.kind not in "iuf" or len(values) != len(indices):
        raise SpikeforgeError(
            f"{where}.csr.data: must be a 1-D real array of {len(indices)} entries (one per index)"
        )
    rows, cols = shape
    if len(indptr) != rows + 1 or indptr[0] != 0 or indptr[-1] != len(indices):
        raise SpikeforgeError(
            f"{where}.csr.indptr: must hold {rows + 1} offsets from 0 to {len(indices)}"
        )
    if np.any(np.diff(indptr) < 0):
        raise SpikeforgeError(f"{where}.csr.indptr: offsets must not decrease")
    if len(indices) and (indices.min() < 0 or indices.max() >= cols):
        raise SpikeforgeError(f"{where}.csr.indices: column indices must lie in 0..{cols - 1}")
    starts = np.zeros(len(indices), dtype=bool)
    starts[indptr[:-1][np.diff(indptr) > 0]] = True
    if np.any((np.diff(indices.astype(np.int64), prepend=-1) <= 0) & ~starts):
        raise SpikeforgeError(f"{where}.csr.indices: must increase strictly within each row")
    return sp.csr_array((values, indices, indptr), shape=shape)


def _fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def _construct(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build without running ``__post_init__`` side effects twice: init fields, then the rest."""
    init = {f.name: values[f.name] for f in dataclasses.fields(cls) if f.init and f.name in values}
    instance = cls(**init)
    for f in dataclasses.fields(cls):
        if not f.init:
            setattr(instance, f.name, values[f.name])
    return instance


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise SpikeforgeError(
            f"{where} = {_short(value)}: must be a non-empty string of at most "
            f"{MAX_NAME} characters"
        )
    return value


def _plain(value: Any) -> Any:
    """Metadata as JSON: arrays to lists, numpy scalars to Python, bytes to text."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _kind(value: Any) -> str:
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
