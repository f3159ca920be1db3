"""Checkpoints of norse modules: how to rebuild the module, plus its weights.

norse modules cannot be pickled whole (their parameter pytrees are not importable
classes), so a spikeforge checkpoint stores the *recipe* — a factory name
``"package.module:function"`` and its keyword arguments — and the ``state_dict``.

A checkpoint is data from somewhere else, so it never decides what code runs: the
factory name it stores is only looked up in :data:`BUILTIN_FACTORIES` (spikeforge's
own zoo and example networks), and anything else is refused with the name shown
unless the caller passes the factory itself (``--factory FILE.py:function`` on the
command line, ``factory=`` in Python): then the user, not the file, chose the code.
The file is read with ``torch.load(weights_only=True)`` (no pickled objects), and
its kwargs must be plain, bounded data.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from spikeforge.atomic import atomic_path
from spikeforge.errors import SpikeforgeError

KEYS = ("factory", "kwargs", "state_dict")

#: The factories a checkpoint may name by itself: the zoo's ``build`` functions and
#: the example networks (``tests/test_security_checkpoint.py`` keeps this in step
#: with ``models.zoo.ZOO`` and ``models.examples.EXAMPLES``; listed as strings so
#: this bottom module imports nothing above it until a name is allowed).
BUILTIN_FACTORIES: frozenset[str] = frozenset(
    [
        *(
            f"spikeforge.models.{name}:build"
            for name in (
                "digits_csnn",
                "lowrank_ei",
                "covariance_direction",
                "motor_srnn",
                "poisson_vae",
                "dae_nr",
            )
        ),
        *(
            f"spikeforge.models.examples:{name}"
            for name in ("lif_mlp", "lifbox_mlp", "recurrent", "iaf_mlp", "conv_net")
        ),
    ]
)

#: Bounds on a checkpoint's kwargs: sizes of real models are far below them; a
#: factory asked for 10^12 neurons would allocate before any check of ours.
MAX_KWARG_INT = 1 << 20
MAX_KWARG_ITEMS = 64
MAX_KWARG_STR = 256

Factory = Callable[..., torch.nn.Module]


def save_checkpoint(
    module: torch.nn.Module, factory: str, kwargs: dict[str, Any], path: str | Path
) -> None:
    """Write ``{factory, kwargs, state_dict}`` atomically.

    ``factory(**kwargs)`` must rebuild ``module``'s architecture.
    """
    with atomic_path(path) as tmp:
        torch.save({"factory": factory, "kwargs": kwargs, "state_dict": module.state_dict()}, tmp)


def load_checkpoint(path: str | Path, factory: Factory | None = None) -> torch.nn.Module:
    """Rebuild the module and load its weights; errors name the file and cause.

    Without ``factory`` the checkpoint's own factory name must be in
    :data:`BUILTIN_FACTORIES`; with it, that callable builds the module whatever the
    file names.
    """
    path = Path(path)
    if not path.is_file():
        raise SpikeforgeError(
            f"checkpoint {path}: {'a directory' if path.is_dir() else 'no such file'}"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SpikeforgeError(f"checkpoint {path}: cannot be read ({exc})") from exc
    if _is_state_dict(data):  # torch.save(module.state_dict()): the user names the factory
        if factory is None:
            raise SpikeforgeError(
                f"checkpoint {path}: a plain state_dict; say which function builds the "
                "module: --factory model.py:make_net (factory= in Python)"
            )
        data = {"factory": None, "kwargs": {}, "state_dict": data}
    if not isinstance(data, dict) or any(k not in data for k in KEYS):
        raise SpikeforgeError(
            f"checkpoint {path}: expected a dict with keys {', '.join(KEYS)} "
            "(write it with spikeforge.checkpoint.save_checkpoint)"
        )
    build = factory if factory is not None else _resolve(path, data["factory"])
    kwargs = data["kwargs"]
    _check_kwargs(path, kwargs)
    try:
        inspect.signature(build).bind(**kwargs)
    except TypeError as exc:
        raise SpikeforgeError(
            f"checkpoint {path}: kwargs {sorted(kwargs)} do not fit the factory ({exc})"
        ) from exc
    state = data["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise SpikeforgeError(f"checkpoint {path}: state_dict must map names to tensors")
    try:
        module = build(**kwargs)
        module.load_state_dict(state)
    except Exception as exc:
        raise SpikeforgeError(f"checkpoint {path}: cannot rebuild the module ({exc})") from exc
    return module.eval()


def _is_state_dict(data: object) -> bool:
    """A bare ``module.state_dict()``: names to tensors, none of a checkpoint's keys."""
    return (
        isinstance(data, dict)
        and bool(data)
        and not set(KEYS) & set(data)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items())
    )


def factory_from_spec(spec: str) -> Factory:
    """The user's own factory, ``FILE.py:function`` or ``package.module:function``.

    Only for names the *user* typed (``--factory``): this imports and so runs that code.
    """
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr.isidentifier():
        raise SpikeforgeError(f"--factory {spec!r}: expected FILE.py:function or module:function")
    try:
        if module_name.endswith(".py"):
            file = Path(module_name)
            if not file.is_file():
                raise SpikeforgeError(f"--factory {spec!r}: {file}: no such file")
            module_spec = importlib.util.spec_from_file_location(file.stem, file)
            if module_spec is None or module_spec.loader is None:
                raise SpikeforgeError(f"--factory {spec!r}: {file} cannot be imported")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        found = getattr(module, attr)
    except SpikeforgeError:
        raise
    except Exception as exc:
        raise SpikeforgeError(f"--factory {spec!r} cannot be loaded ({exc})") from exc
    if not callable(found):
        raise SpikeforgeError(f"--factory {spec!r} is not callable")
    return found


def _resolve(path: Path, spec: object) -> Factory:
    if not isinstance(spec, str) or spec not in BUILTIN_FACTORIES:
        shown = repr(spec)[:200]
        raise SpikeforgeError(
            f"checkpoint {path}: factory {shown} is not one of spikeforge's own "
            "(zoo and example networks); a checkpoint cannot choose code to run. If you "
            "trust that code, pass it yourself: --factory FILE.py:function"
        )
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _check_kwargs(path: Path, kwargs: object) -> None:
    """Plain data only: str keys; int, finite float, bool, str, None, or short lists of them."""
    if not isinstance(kwargs, dict) or len(kwargs) > MAX_KWARG_ITEMS:
        raise SpikeforgeError(
            f"checkpoint {path}: kwargs must be a dict of at most {MAX_KWARG_ITEMS} entries"
        )
    for key, value in kwargs.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise SpikeforgeError(f"checkpoint {path}: kwarg name {key!r} is not an identifier")
        items = value if isinstance(value, (list, tuple)) else [value]
        if len(items) > MAX_KWARG_ITEMS:
            raise SpikeforgeError(
                f"checkpoint {path}: kwarg {key} has {len(items)} items, limit {MAX_KWARG_ITEMS}"
            )
        for item in items:
            _check_scalar(path, key, item)


def _check_scalar(path: Path, key: str, item: object) -> None:
    if item is None or isinstance(item, bool):
        return
    if isinstance(item, int):
        if abs(item) > MAX_KWARG_INT:
            raise SpikeforgeError(
                f"checkpoint {path}: kwarg {key} = {item} exceeds the limit of {MAX_KWARG_INT}"
            )
        return
    if isinstance(item, float):
        if not math.isfinite(item) or abs(item) > MAX_KWARG_INT:
            raise SpikeforgeError(
                f"checkpoint {path}: kwarg {key} = {item} is not a finite number "
                f"within ±{MAX_KWARG_INT}"
            )
        return
    if isinstance(item, str):
        if len(item) > MAX_KWARG_STR:
            raise SpikeforgeError(
                f"checkpoint {path}: kwarg {key} is a string of {len(item)} characters, "
                f"limit {MAX_KWARG_STR}"
            )
        return
    raise SpikeforgeError(
        f"checkpoint {path}: kwarg {key} has type {type(item).__name__}; only int, float, "
        "bool, str, None and short lists of them are allowed"
    )
