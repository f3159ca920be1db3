"""Security properties that are not one hostile file (those are in tests/test_fuzz.py)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikeforge import checkpoint
from spikeforge.checkpoint import BUILTIN_FACTORIES, load_checkpoint, save_checkpoint
from spikeforge.cli import main
from spikeforge.errors import SpikeforgeError
from spikeforge.models.examples import EXAMPLES, lif_mlp
from spikeforge.models.zoo import ZOO

SRC = Path(__file__).resolve().parent.parent / "src" / "spikeforge"


def test_builtin_factories_are_exactly_zoo_and_examples() -> None:
    expected = {f"{module}:build" for module in ZOO.values()}
    expected |= {f"spikeforge.models.examples:{name}" for name in EXAMPLES}
    assert expected == BUILTIN_FACTORIES


def test_user_factory_from_file_is_used(tmp_path: Path) -> None:
    """--factory FILE.py:function builds a checkpoint whose own factory is not allowed."""
    (tmp_path / "mine.py").write_text(
        "from spikeforge.models.examples import lif_mlp\n"
        "def make(n_hidden=30):\n    return lif_mlp(n_hidden=n_hidden)\n"
    )
    ckpt = tmp_path / "c.pt"
    save_checkpoint(lif_mlp(n_hidden=7), "mine:make", {"n_hidden": 7}, ckpt)
    with pytest.raises(SpikeforgeError, match="'mine:make' is not one of spikeforge's own"):
        load_checkpoint(ckpt)
    factory = checkpoint.factory_from_spec(f"{tmp_path / 'mine.py'}:make")
    module = load_checkpoint(ckpt, factory)
    assert module[0].out_features == 7
    code = main(
        ["export", str(ckpt), "-o", str(tmp_path / "g.nir"), "--input-shape", "20", "--factory",
         f"{tmp_path / 'mine.py'}:make"]
    )  # fmt: skip
    assert code == 0 and (tmp_path / "g.nir").is_file()


def test_checkpoint_loader_never_unpickles(tmp_path: Path) -> None:
    """A pickled object (not weights) is refused by weights_only loading, not executed."""

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"factory": Boom(), "kwargs": {}, "state_dict": {}}, tmp_path / "p.pt")
    with pytest.raises(SpikeforgeError, match="cannot be read"):
        load_checkpoint(tmp_path / "p.pt")
    assert not (tmp_path / "pwned").exists()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


ABOVE_IR = ("spikeforge.compile", "spikeforge.runtimes", "spikeforge.profile", "spikeforge.models")
ABOVE_COMPILE = (*ABOVE_IR[1:], "spikeforge.cli")


@pytest.mark.parametrize(
    "module,forbidden",
    [("ir", ABOVE_IR)]
    + [(f"compile/{m}.py", ABOVE_COMPILE) for m in ("compiled", "codec", "sfnet_checks")],
)
def test_layers_import_downward_only(module: str, forbidden: tuple[str, ...]) -> None:
    """(compile/summary.py still imports profile.placement: the profile refactor's to move.)"""
    target = SRC / module
    for path in target.rglob("*.py") if target.is_dir() else [target]:
        bad = {m for m in _imports(path) if m.startswith(forbidden)}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_debug_shows_user_error_traceback(tmp_path: Path) -> None:
    """SPIKEFORGE_DEBUG=1 prints the traceback of a user error too, then the one line."""
    env = {**os.environ, "SPIKEFORGE_DEBUG": "1", "PYTHONPATH": str(SRC.parent)}
    argv = [sys.executable, "-m", "spikeforge.cli", "compile", str(tmp_path / "no.nir"), "-o",
            str(tmp_path / "o.sfnet")]  # fmt: skip
    debug = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr and "no such file" in debug.stderr.splitlines()[-1]
    env.pop("SPIKEFORGE_DEBUG")
    plain = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert plain.returncode == 2 and len(plain.stderr.splitlines()) == 1


def test_internal_bug_is_not_a_corrupt_file(tmp_path: Path, monkeypatch) -> None:
    """A bug inside the passes surfaces as an internal error with its cause, not as
    'corrupt compiled network' (loading no longer runs the passes at all)."""
    import spikeforge.compile.compiled as compiled_module
    from spikeforge.export import to_nir, write_nir

    factory, shape = EXAMPLES["lif_mlp"]
    graph = write_nir(to_nir(factory(), torch.zeros(shape), dt=1e-3), tmp_path / "g.nir")

    def broken(*args, **kwargs):
        raise IndexError("bug in quantize")

    monkeypatch.setattr(compiled_module, "quantize", broken)
    assert main(["compile", str(graph), "-o", str(tmp_path / "o.sfnet")]) == 1
    assert not (tmp_path / "o.sfnet").exists()
