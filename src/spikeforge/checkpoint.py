"""Checkpoints of norse modules: how to rebuild the module, plus its weights.

norse modules cannot be pickled whole (their parameter pytrees are not importable
classes), so a spikeforge checkpoint stores the *recipe* — an importable factory
``"package.module:function"`` and its keyword arguments — and the ``state_dict``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from spikeforge.atomic import atomic_path
from spikeforge.errors import SpikeforgeError

KEYS = ("factory", "kwargs", "state_dict")


def save_checkpoint(
    module: torch.nn.Module, factory: str, kwargs: dict[str, Any], path: str | Path
) -> None:
    """Write ``{factory, kwargs, state_dict}`` atomically.

    ``factory(**kwargs)`` must rebuild ``module``'s architecture.
    """
    with atomic_path(path) as tmp:
        torch.save({"factory": factory, "kwargs": kwargs, "state_dict": module.state_dict()}, tmp)


def load_checkpoint(path: str | Path) -> torch.nn.Module:
    """Rebuild the module from its factory and load its weights; errors name the file and cause."""
    path = Path(path)
    if not path.is_file():
        raise SpikeforgeError(f"checkpoint {path}: no such file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SpikeforgeError(f"checkpoint {path}: cannot be read ({exc})") from None
    if not isinstance(data, dict) or any(k not in data for k in KEYS):
        raise SpikeforgeError(
            f"checkpoint {path}: expected a dict with keys {', '.join(KEYS)} "
            "(write it with spikeforge.checkpoint.save_checkpoint)"
        )
    factory = _resolve(path, data["factory"])
    try:
        module = factory(**data["kwargs"])
        module.load_state_dict(data["state_dict"])
    except Exception as exc:
        raise SpikeforgeError(f"checkpoint {path}: cannot rebuild the module ({exc})") from None
    return module.eval()


def _resolve(path: Path, spec: object):
    if not isinstance(spec, str) or ":" not in spec:
        raise SpikeforgeError(
            f"checkpoint {path}: factory must be 'package.module:function', got {spec!r}"
        )
    module_name, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SpikeforgeError(
            f"checkpoint {path}: factory {spec!r} cannot be imported ({exc})"
        ) from None
