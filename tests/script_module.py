"""A file of ``scripts/`` as a module, for the tests that check what the scripts compute.

Not a test module (no ``test_`` prefix); tests/ is on ``sys.path`` under pytest's
rootdir-less import, so ``from script_module import load_script`` finds it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py``, loaded once and registered as module ``name``.

    Registered before it runs because its dataclasses look their module up in
    ``sys.modules``; loaded once so that every test module shares its classes.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
