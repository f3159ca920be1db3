"""spikeforge: deploy spiking networks from norse / NIR to Loihi 2 through Lava, exactly.

The Python API (:mod:`spikeforge.api`)::

    net = spikeforge.deploy(module, x_train[:32], dt=1e-3)
    report = net.profile(x_test, labels=y_test, decoder="max-count")
    report.write("report/")

It is imported on first use, so ``import spikeforge`` (and the CLI's start) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from spikeforge.errors import SpikeforgeError
from spikeforge.version import VERSION as __version__

#: Names re-exported lazily from spikeforge.api.
_API = ("CompiledModel", "PopulationInfo", "Report", "deploy", "load")

__all__ = ["SpikeforgeError", "__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("spikeforge.api"), name)
    raise AttributeError(f"module 'spikeforge' has no attribute {name!r}")
