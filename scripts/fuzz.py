"""Fuzz the ``spikeforge`` command line with hostile and malformed files and options.

Every case builds its files in a fresh directory (from a few valid artefacts made
once: NIR graphs, a ``.sfnet``, a netx ``.net``, a checkpoint, inputs) and runs the
CLI in a forked child with a time limit. Each outcome is classified:

* clean error: exit 2, one line on stderr naming the file or option;
* internal error: exit 1, a traceback, or any other exit (target 0);
* silent acceptance: exit 0 for a case that must be refused (target 0);
* code execution: the case's sentinel file appeared (target 0);
* read outside: a canary file beside the case, which the hostile file points at
  (HDF5 external storage, links, virtual datasets), was read (its atime moved; 0);
* input damaged: any file the case created changed, except the ``-o`` target (0);
* hang: the child ran past the limit (0).

``python scripts/fuzz.py --cases 2000`` prints the totals the README quotes;
``tests/test_fuzz.py`` runs a bounded sample of the same generators in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # forked children must not share thread pools

import h5py
import numpy as np
import torch

torch.set_num_threads(1)

#: What a case must do: be refused (exit 2), or either run or be refused (never crash).
REFUSE, EITHER = "refuse", "either"
SENTINEL = "pwned"
CANARY = "canary.secret"


@dataclass
class Case:
    """One hostile input: ``build(dir)`` writes its files and returns the CLI argv."""

    name: str
    category: str
    build: Callable[[Path], list[str]]
    expect: str = REFUSE
    fragment: str = ""  # a piece the error message must contain, when known


@dataclass
class Outcome:
    case: Case
    kind: str  # clean, accepted, internal, silent, exec, read_outside, damaged, hang
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Base:
    """Valid artefacts the mutations start from."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)


# ----------------------------------------------------------------------------- base files


def make_base(root: Path) -> Base:
    from spikeforge.checkpoint import save_checkpoint
    from spikeforge.compile import compile_network, save
    from spikeforge.export import to_nir, write_nir
    from spikeforge.ir import from_nir
    from spikeforge.models.examples import EXAMPLES
    from spikeforge.targets.netx import write_netx

    base = Base(root)
    for name in ("lif_mlp", "conv_net", "iaf_mlp", "recurrent"):
        factory, shape = EXAMPLES[name]
        module = factory()
        graph = to_nir(module, torch.zeros(shape), dt=1e-3)
        base.files[f"{name}.nir"] = write_nir(graph, root / f"{name}.nir")
        rng = np.random.default_rng(0)
        x = (rng.random((2, 8, *shape)) < 0.3).astype(np.float64)
        np.save(root / f"{name}.npy", x)
        base.files[f"{name}.npy"] = root / f"{name}.npy"
        save_checkpoint(module, f"spikeforge.models.examples:{name}", {}, root / f"{name}.pt")
        base.files[f"{name}.pt"] = root / f"{name}.pt"
        compiled = compile_network(from_nir(graph))
        save(compiled, root / f"{name}.sfnet")
        base.files[f"{name}.sfnet"] = root / f"{name}.sfnet"
        if name == "iaf_mlp":
            write_netx(compiled, root / "iaf_mlp.net")
            base.files["iaf_mlp.net"] = root / "iaf_mlp.net"
    _netx_conv_base(base)
    toml = Path(__import__("spikeforge.profile.hardware", fromlist=["x"]).HARDWARE_DIR)
    shutil.copy(toml / "loihi2.toml", root / "loihi2.toml")
    base.files["loihi2.toml"] = root / "loihi2.toml"
    return base


def _netx_conv_base(base: Base) -> None:
    """A netx conv -> flatten -> dense-with-delays file and its stored netx plan (.sfnet)."""
    from spikeforge.compile import save
    from spikeforge.compile.netx_plan import load_netx_plan

    rng = np.random.default_rng(1)
    layers = {
        "0/type": np.array([b"input"], "S10"),
        "0/shape": np.array([2, 5, 5]),
        "1/type": np.array([b"conv"], "S10"),
        "1/shape": np.array([4, 3, 3]),
        "1/weight": rng.integers(-20, 60, (4, 2, 3, 3)),
        "1/stride": np.array([1, 1]),
        "1/padding": np.array([0, 0]),
        "1/dilation": np.array([1, 1]),
        "1/groups": 1,
        "2/type": np.array([b"flatten"], "S10"),
        "3/type": np.array([b"dense"], "S10"),
        "3/shape": np.array([3]),
        "3/weight": rng.integers(-40, 80, (3, 36)),
        "3/delay": np.array([0, 2, 5]),
    }
    for i in (1, 3):
        layers |= {
            f"{i}/neuron/type": b"CUBA",
            f"{i}/neuron/iDecay": 1024,
            f"{i}/neuron/vDecay": 256,
            f"{i}/neuron/vThMant": 40,
        }
    path = base.root / "netx_conv.net"
    with h5py.File(path, "w") as handle:
        for key, value in layers.items():
            handle.create_dataset(f"layer/{key}", data=value)
    save(load_netx_plan(path), base.root / "netx_conv.sfnet")
    np.save(base.root / "netx_conv.npy", (rng.random((2, 8, 5, 5, 2)) < 0.3).astype(np.float64))
    for suffix in ("net", "sfnet", "npy"):
        base.files[f"netx_conv.{suffix}"] = base.root / f"netx_conv.{suffix}"


def copy(base: Base, name: str, d: Path, new: str | None = None) -> Path:
    target = d / (new or name)
    shutil.copy(base.files[name], target)
    return target


# ----------------------------------------------------------------------------- HDF5 mutation


def hdf5_datasets(path: Path) -> list[str]:
    found: list[str] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
    return found


def replace_dataset(path: Path, key: str, value: object) -> None:
    with h5py.File(path, "r+") as f:
        del f[key]
        if isinstance(value, np.ndarray) and value.dtype.kind == "U":
            value = value.astype("S")
        f[key] = value


def hostile_values(rng: random.Random, original: np.ndarray) -> list[tuple[str, object, str]]:
    """(label, value, expectation) for one dataset."""
    shape = original.shape
    numeric = original.dtype.kind in "biuf"
    values: list[tuple[str, object, str]] = [
        ("nan", np.full(shape, np.nan), REFUSE),
        ("inf", np.full(shape, np.inf), REFUSE),
        ("complex", np.full(shape, 1 + 1j), REFUSE),
        ("string", np.array(b"bogus"), REFUSE),
        ("1e308", np.full(shape, 1e308), EITHER),
        ("-1e308", np.full(shape, -1e308), EITHER),
        ("2^70", np.full(shape, 2.0**70), EITHER),
        ("zero", np.zeros(shape), EITHER),
        ("negative", -np.ones(shape), EITHER),
        ("empty", np.zeros((0,)), EITHER),
        ("scalar", np.array(1.0), EITHER),
        ("reshaped", np.ones((rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 3))), EITHER),
        ("tiny", np.full(shape, 1e-320), EITHER),
    ]
    if numeric and original.size:
        values.append(("fraction", original.astype(np.float64) + 0.5, EITHER))
        values.append(("bool", original.astype(bool), EITHER))
    return values


def _emulator_run(network: Path, x: Path, d: Path, *extra: str) -> list[str]:
    """``spikeforge run`` of ``network`` on ``x`` on the CPU emulator, writing into ``d``."""
    return [
        "run", str(network), "--input", str(x), "-o", str(d / "out.npz"),
        "--backend", "emulator", "--device", "cpu", *extra,
    ]  # fmt: skip


def _profile(base: Base, d: Path, *extra: str) -> list[str]:
    """``spikeforge profile`` of the base lif_mlp graph on its input, writing into ``d``."""
    g, x = copy(base, "lif_mlp.nir", d), copy(base, "lif_mlp.npy", d)
    return ["profile", str(g), "--input", str(x), "-o", str(d / "prof"), *extra]


def nir_mutation_cases(base: Base, rng: random.Random, count: int) -> list[Case]:
    cases = []
    graphs = ["lif_mlp.nir", "conv_net.nir", "recurrent.nir"]
    for i in range(count):
        graph = rng.choice(graphs)
        keys = [k for k in hdf5_datasets(base.files[graph]) if not k.endswith("/type")]
        key = rng.choice(keys)
        with h5py.File(base.files[graph], "r") as f:
            original = np.asarray(f[key][()])
        label, value, expect = rng.choice(hostile_values(rng, original))
        # Only node parameters and dt define the network; other metadata, the format
        # version and the declared input/output types (shapes are inferred) are inert.
        inert = not key.startswith("node/nodes/") and not key.endswith("metadata/dt")
        if inert or key.endswith(("_type/input", "_type/output")) or "_type" in key:
            expect = EITHER
        use_run = rng.random() < 0.3
        stem = graph.removesuffix(".nir")

        def build(d: Path, graph=graph, key=key, value=value, use_run=use_run, stem=stem):
            path = copy(base, graph, d, "case.nir")
            replace_dataset(path, key, value)
            if use_run:
                x = copy(base, f"{stem}.npy", d, "x.npy")
                return _emulator_run(path, x, d, "--precision", "fixed")
            return ["compile", str(path), "-o", str(d / "out.sfnet")]

        cases.append(Case(f"nir[{i}] {graph}:{key}={label}", "nir-mutation", build, expect))
    return cases


# ----------------------------------------------------------------------------- named cases


def _nir_graph(nodes: dict, edges: list, dt: object = 1e-3):
    import nir

    return nir.NIRGraph(
        nodes=nodes, edges=edges, metadata={} if dt is None else {"dt": dt}, type_check=False
    )


def _write_raw_nir(path: Path, graph) -> Path:
    import nir

    nir.write(path, graph)
    return path


def _lif(n: int, **over):
    import nir

    params = dict(
        tau=np.full(n, 0.01),
        r=np.ones(n),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        v_reset=np.zeros(n),
    )
    params.update(over)
    return nir.LIF(**params)


def _io(shape, out=False):
    import nir

    arr = {"output" if out else "input": np.array(shape)}
    return nir.Output(output_type=arr) if out else nir.Input(input_type=arr)


def _simple(d: Path, middle: dict, chain: list[str], in_shape=(3,), out_shape=None) -> Path:
    nodes = {"in": _io(in_shape), **middle, "out": _io(out_shape or (3,), out=True)}
    names = ["in", *chain, "out"]
    return _write_raw_nir(d / "case.nir", _nir_graph(nodes, list(itertools.pairwise(names))))


def _compile(path: Path, d: Path, *extra: str) -> list[str]:
    return ["compile", str(path), "-o", str(d / "out.sfnet"), *extra]


def _replace_in(base: Base, graph: str, suffix: str, value: object):
    """A copy of a base graph with the first dataset ending in ``suffix`` replaced."""

    def build(d: Path) -> list[str]:
        path = copy(base, graph, d, "case.nir")
        key = next(k for k in hdf5_datasets(path) if k.endswith(suffix))
        replace_dataset(path, key, value)
        return _compile(path, d)

    return build


def _sfnet_edit(edit: Callable[[dict, dict], None], net: str = "lif_mlp", run: bool = True):
    def build_factory(base: Base):
        def build(d: Path) -> list[str]:
            with np.load(base.files[f"{net}.sfnet"]) as data:
                header = json.loads(str(data["__header__"]))
                arrays = {k: data[k] for k in data.files if k != "__header__"}
            edit(header["compiled"], arrays)
            path = d / "case.sfnet"
            with open(path, "wb") as fh:
                np.savez_compressed(fh, __header__=np.array(json.dumps(header)), **arrays)
            if not run:
                return ["export-netx", str(path), "-o", str(d / "out.net")]
            x = copy(base, f"{net}.npy", d, "x.npy")
            return _emulator_run(path, x, d)

        return build

    return build_factory


FIRST, LAST = "<first>", "<last>"


def _set(path: tuple, value: object) -> Callable[[dict, dict], None]:
    """Set the header entry at ``path`` (keys; ints index lists; FIRST/LAST a dict's ends)."""

    def edit(compiled: dict, arrays: dict) -> None:
        node = compiled
        for i, part in enumerate(path):
            if part in (FIRST, LAST) and isinstance(node, dict):
                part = list(node)[0 if part == FIRST else -1]
            if i == len(path) - 1:
                node[part] = value
            else:
                node = node[part]

    return edit


def _array(key_part: str, make: Callable[[np.ndarray], np.ndarray]):
    def edit(compiled: dict, arrays: dict) -> None:
        key = next(k for k in arrays if key_part in k)
        arrays[key] = make(arrays[key])

    return edit


def named_cases(base: Base) -> list[Case]:
    import nir

    c: list[Case] = []

    def add(name, category, build, expect=REFUSE, fragment=""):
        c.append(Case(name, category, build, expect, fragment))

    # 1. code execution through checkpoints
    for factory, kwargs in [
        ("os:system", {"command": f"touch {SENTINEL}"}),
        ("subprocess:getoutput", {"cmd": f"touch {SENTINEL}"}),
        ("builtins:exec", {"source": f"open('{SENTINEL}','w')"}),
        ("spikeforge.models.training:train", {}),
        ("spikeforge.models.examples:lif_mlp.__globals__", {}),
        (["os", "system"], {}),
    ]:

        def build(d: Path, factory=factory, kwargs=kwargs) -> list[str]:
            torch.save({"factory": factory, "kwargs": kwargs, "state_dict": {}}, d / "evil.pt")
            return ["export", str(d / "evil.pt"), "-o", str(d / "e.nir"), "--input-shape", "20"]

        add(f"checkpoint factory {factory!r}", "code-execution", build, fragment="factory")
    for kwargs in [
        {"n_hidden": 10**12},
        {"n_hidden": "x" * 10000},
        {"n_hidden": 1e308},
        {"n_hidden": {"nested": 1}},
        {"bogus": 1},
    ]:

        def build(d: Path, kwargs=kwargs) -> list[str]:
            torch.save(
                {
                    "factory": "spikeforge.models.examples:lif_mlp",
                    "kwargs": kwargs,
                    "state_dict": {},
                },
                d / "k.pt",
            )
            return ["export", str(d / "k.pt"), "-o", str(d / "e.nir"), "--input-shape", "20"]

        add(f"checkpoint kwargs {str(kwargs)[:30]}", "code-execution", build, fragment="kwarg")

    def evil_profile(d: Path) -> list[str]:
        torch.save(
            {"factory": "os:system", "kwargs": {"command": f"touch {SENTINEL}"}, "state_dict": {}},
            d / "evil.pt",
        )
        return _profile(base, d, "--source", str(d / "evil.pt"), "--backend", "emulator")

    add("profile --source evil checkpoint", "code-execution", evil_profile, fragment="factory")

    def evil_evaluate(d: Path) -> list[str]:
        torch.save(
            {"factory": "os:system", "kwargs": {"command": f"touch {SENTINEL}"}, "state_dict": {}},
            d / "evil.pt",
        )
        return ["evaluate", "digits_csnn", "--checkpoint", str(d / "evil.pt"), "-n", "1"]

    add("evaluate --checkpoint evil", "code-execution", evil_evaluate, fragment="factory")

    def nan_state(d: Path) -> list[str]:
        from spikeforge.models.examples import lif_mlp

        module = lif_mlp()
        state = module.state_dict()
        first = next(k for k, v in state.items() if v.is_floating_point())
        state[first][0] = float("nan")
        torch.save(
            {"factory": "spikeforge.models.examples:lif_mlp", "kwargs": {}, "state_dict": state},
            d / "nan.pt",
        )
        return ["export", str(d / "nan.pt"), "-o", str(d / "e.nir"), "--input-shape", "20"]

    add("checkpoint with NaN weight exported", "values", nan_state, fragment="NaN")

    # 2. files outside: HDF5 external storage, links, virtual datasets, FIFOs
    def external(kind: str, suffix: str):
        def build(d: Path) -> list[str]:
            source = "lif_mlp.nir" if suffix == ".nir" else "iaf_mlp.net"
            path = copy(base, source, d, f"case{suffix}")
            keys = hdf5_datasets(path)
            key = next(k for k in keys if k.endswith("weight"))
            with h5py.File(path, "r+") as f:
                shape = f[key].shape
                del f[key]
                canary = str(d / CANARY)
                if kind == "external":
                    f.create_dataset(
                        key, shape=shape, dtype="<f8", external=[(canary, 0, h5py.h5f.UNLIMITED)]
                    )
                elif kind == "extlink":
                    f[key] = h5py.ExternalLink(canary, "/data")
                elif kind == "softlink":
                    f[key] = h5py.SoftLink("/" + key)
                elif kind == "virtual":
                    layout = h5py.VirtualLayout(shape=shape, dtype="<f8")
                    layout[...] = h5py.VirtualSource(canary, "data", shape=shape)
                    f.create_virtual_dataset(key, layout)
                elif kind == "bomb":
                    f.create_dataset(
                        key,
                        shape=(100_000, 100_000),
                        dtype="<f8",
                        chunks=(1000, 1000),
                        compression="gzip",
                    )
            return _compile(path, d) if suffix == ".nir" else _compile(path, d, "--dt", "1e-3")

        return build

    for kind in ("external", "extlink", "softlink", "virtual", "bomb"):
        for suffix in (".nir", ".net"):
            add(f"hdf5 {kind} in {suffix}", "read-outside", external(kind, suffix))

    def fifo(d: Path) -> list[str]:
        os.mkfifo(d / "g.nir")
        return _compile(d / "g.nir", d)

    add("FIFO as graph", "hang", fifo)

    def dir_graph(d: Path) -> list[str]:
        (d / "g.nir").mkdir()
        return _compile(d / "g.nir", d)

    add("directory as graph", "messages", dir_graph)

    # 3. outputs onto inputs, directories, devices, symlinks
    def out_is(kind: str):
        def build(d: Path) -> list[str]:
            g = copy(base, "lif_mlp.nir", d)
            x = copy(base, "lif_mlp.npy", d)
            s = copy(base, "lif_mlp.sfnet", d)
            pt = copy(base, "lif_mlp.pt", d)
            if kind == "compile-self":
                return ["compile", str(g), "-o", str(g)]
            if kind == "run-input":
                return ["run", str(g), "--input", str(x), "-o", str(x)]
            if kind == "run-network":
                return ["run", str(s), "--input", str(x), "-o", str(s)]
            if kind == "netx-self":
                return ["export-netx", str(s), "-o", str(s)]
            if kind == "export-ckpt":
                return ["export", str(pt), "-o", str(pt), "--input-shape", "20"]
            if kind == "calibrate":
                return ["compile", str(g), "-o", str(x), "--calibrate", str(x)]
            if kind == "directory":
                (d / "outdir").mkdir()
                return ["compile", str(g), "-o", str(d / "outdir")]
            if kind == "device":
                return ["compile", str(g), "-o", "/dev/null"]
            if kind == "symlink":
                os.symlink(g, d / "link.sfnet")
                return ["compile", str(g), "-o", str(d / "link.sfnet")]
            if kind == "hardlink":
                os.link(x, d / "same.npz")
                return ["run", str(g), "--input", str(x), "-o", str(d / "same.npz")]
            raise AssertionError(kind)

        return build

    for kind in (
        "compile-self",
        "run-input",
        "run-network",
        "netx-self",
        "export-ckpt",
        "calibrate",
        "directory",
        "device",
        "symlink",
        "hardlink",
    ):
        add(f"-o {kind}", "outputs", out_is(kind))

    # 4. geometry, quantiser overflow, types, sizes
    for label, suffix, value in [
        ("stride -1", "0/stride", np.array([-1, -1])),
        ("stride 0", "0/stride", np.array([0, 0])),
        ("stride 1.5", "0/stride", np.array([1.5, 1.5])),
        ("dilation 0", "/dilation", np.array([0, 0])),
        ("padding -1", "0/padding", np.array([-1, -1])),
        ("padding 'same'", "0/padding", np.array(b"same")),
        ("kernel > input", "0/weight", np.ones((4, 1, 12, 12))),
        ("0 channels", "0/weight", np.ones((0, 1, 3, 3))),
        ("groups 'a'", "/groups", np.array(b"a")),
        ("groups 0", "/groups", np.array(0)),
        ("groups 1.5", "/groups", np.array(1.5)),
        ("pool kernel 0", "/kernel_size", np.array([0, 0])),
        ("pool kernel 99", "/kernel_size", np.array([99, 99])),
        ("flatten start 1.5", "/start_dim", np.array(1.5)),
        ("flatten start 7", "/start_dim", np.array(7)),
    ]:
        add(f"conv_net {label}", "geometry", _replace_in(base, "conv_net.nir", suffix, value))
    for label, value in [
        ("[4.7]", np.array([4.7])),
        ("['a']", np.array([b"a"])),
        ("[0]", np.array([0])),
        ("[2^40]", np.array([2.0**40])),
    ]:
        add(
            f"Input shape {label}",
            "values",
            _replace_in(base, "lif_mlp.nir", "input/shape", value),
            fragment="shape",
        )
    for param in ("v_threshold", "r", "v_leak"):
        for value in (1e308, -1e308):

            def build(d: Path, param=param, value=value) -> list[str]:
                lif = _lif(3, **{param: np.full(3, value)})
                return _compile(_simple(d, {"lif": lif}, ["lif"]), d)

            add(f"LIF {param}={value:g}", "values", build, fragment=param)
    for value, expect in ((1e308, REFUSE), (np.nan, REFUSE), (1e30, REFUSE)):

        def build(d: Path, value=value) -> list[str]:
            aff = nir.Affine(weight=np.full((3, 3), value), bias=np.zeros(3))
            return _compile(_simple(d, {"a": aff, "lif": _lif(3)}, ["a", "lif"]), d)

        add(f"Affine weight {value:g}", "values", build, expect, fragment="weight")
    for dt in ("0.001", "abc", -1.0, float("nan"), 0.0, [1e-3, 2e-3], True):

        def build(d: Path, dt=dt) -> list[str]:
            g = _nir_graph(
                {"in": _io((3,)), "lif": _lif(3), "out": _io((3,), out=True)},
                [("in", "lif"), ("lif", "out")],
                dt=dt,
            )
            return _compile(_write_raw_nir(d / "case.nir", g), d)

        add(f"metadata dt={dt!r}", "values", build, fragment="dt")
    for opt in ("nan", "-1", "inf", "0"):

        def build(d: Path, opt=opt) -> list[str]:
            g = _nir_graph(
                {"in": _io((3,)), "lif": _lif(3), "out": _io((3,), out=True)},
                [("in", "lif"), ("lif", "out")],
                dt=None,
            )
            return _compile(_write_raw_nir(d / "case.nir", g), d, "--dt", opt)

        add(f"--dt {opt}", "options", build, fragment="dt")
    for start, end in ((7, 9), (-9, -1)):

        def build(d: Path, start=start, end=end) -> list[str]:
            flat = nir.Flatten(
                input_type={"input": np.array([3, 2, 2])}, start_dim=start, end_dim=end
            )
            nodes = {"in": _io((3, 2, 2)), "f": flat, "lif": _lif(12), "out": _io((12,), out=True)}
            edges = [("in", "f"), ("f", "lif"), ("lif", "out")]
            return _compile(_write_raw_nir(d / "case.nir", _nir_graph(nodes, edges)), d)

        add(f"Flatten dims {start}..{end}", "values", build)
    for delay in (1e300, -1e-3, 1.5e-3):

        def build(d: Path, delay=delay) -> list[str]:
            dl = nir.Delay(delay=np.full(3, delay))
            return _compile(_simple(d, {"dl": dl, "lif": _lif(3)}, ["dl", "lif"]), d)

        add(f"Delay {delay:g}", "values", build, fragment="Delay")

    def big_identity(d: Path) -> list[str]:
        # Through a Scale map: only an identity or a CSR Affine is estimated sparse, so
        # the import's estimate is the dense 10^10 entries and it refuses up front.
        scale = nir.Scale(scale=np.ones(100_000))
        nodes = {"sc": scale, "lif": _lif(100_000)}
        shape = (100_000,)
        return _compile(_simple(d, nodes, ["sc", "lif"], in_shape=shape, out_shape=shape), d)

    add(
        "Input(1e5)->Scale->LIF(1e5) dense bomb",
        "size",
        big_identity,
        fragment="SPIKEFORGE_MAX_BYTES",
    )

    def big_conv(d: Path) -> list[str]:
        conv = nir.Conv2d(
            input_shape=np.array([400, 400]),
            weight=np.ones((1, 1, 1, 1)),
            stride=1,
            padding=0,
            dilation=1,
            groups=1,
            bias=np.zeros(1),
        )
        shape = (1, 400, 400)
        lif = nir.LIF(
            tau=np.full(shape, 0.01),
            r=np.ones(shape),
            v_leak=np.zeros(shape),
            v_threshold=np.ones(shape),
            v_reset=np.zeros(shape),
        )
        return _compile(
            _simple(d, {"c": conv, "lif": lif}, ["c", "lif"], in_shape=shape, out_shape=shape), d
        )

    add("1x1 conv on 1x400x400", "size", big_conv, fragment="SPIKEFORGE_MAX_BYTES")

    def collision(d: Path) -> list[str]:
        sub = _nir_graph(
            {"in": _io((3,)), "lif": _lif(3), "out": _io((3,), out=True)},
            [("in", "lif"), ("lif", "out")],
        )
        nodes = {"in": _io((3,)), "sub": sub, "sub.lif": _lif(3), "out": _io((3,), out=True)}
        edges = [("in", "sub"), ("sub", "sub.lif"), ("sub.lif", "out")]
        return _compile(_write_raw_nir(d / "case.nir", _nir_graph(nodes, edges)), d)

    add("sub.lif collides with sub/lif", "values", collision, fragment="twice")

    def empty_sub(d: Path) -> list[str]:
        sub = _nir_graph({"lif": _lif(3)}, [])
        nodes = {"in": _io((3,)), "sub": sub, "lif": _lif(3), "out": _io((3,), out=True)}
        edges = [("in", "sub"), ("sub", "lif"), ("in", "lif"), ("lif", "out")]
        path = _write_raw_nir(d / "case.nir", _nir_graph(nodes, edges))
        with h5py.File(path, "r+") as f:  # nir's writer added them; a hostile file has none
            for name in list(f["node/nodes/sub/nodes"]):
                if name != "lif":
                    del f[f"node/nodes/sub/nodes/{name}"]
        return _compile(path, d)

    add("subgraph without Input/Output", "values", empty_sub, fragment="subgraph")

    # 5. inputs
    def npy(kind: str):
        def build(d: Path) -> list[str]:
            g = copy(base, "lif_mlp.nir", d)
            x = d / "x.npy"
            if kind == "header bomb":
                with open(x, "wb") as fh:
                    np.lib.format.write_array_header_1_0(
                        fh, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 12, 4)}
                    )
                    fh.write(b"\0" * 64)
            elif kind == "complex":
                np.save(x, np.ones((1, 4, 20), dtype=complex))
            elif kind == "zero samples":
                np.save(x, np.ones((0, 4, 20)))
            elif kind == "zero steps":
                np.save(x, np.ones((1, 0, 20)))
            elif kind == "object":
                np.save(x, np.array([None, 1], dtype=object), allow_pickle=True)
            elif kind == "nir as input":
                shutil.copy(g, x)
            elif kind == "directory":
                x.mkdir()
            elif kind == "nan":
                np.save(x, np.full((1, 4, 20), np.nan))
            elif kind == "strings":
                np.save(x, np.array([["a"] * 20] * 4))
            elif kind == "truncated":
                np.save(x, np.ones((2, 8, 20)))
                x.write_bytes(x.read_bytes()[:200])
            return ["run", str(g), "--input", str(x), "-o", str(d / "o.npz")]

        return build

    for kind in (
        "header bomb",
        "complex",
        "zero samples",
        "zero steps",
        "object",
        "nir as input",
        "directory",
        "nan",
        "strings",
        "truncated",
    ):
        for backend in ("reference", "emulator"):
            extra = ["--backend", "emulator", "--device", "cpu"] if backend == "emulator" else []

            def build(d: Path, kind=kind, extra=extra) -> list[str]:
                return npy(kind)(d) + extra

            add(f"input {kind} ({backend})", "inputs", build)

    # 6. TOML hardware files
    for kind, text in [
        ("not utf-8", b"schema = 1\nname = '\xff\xfe'\n"),
        ("nested", b"a = " + b"[" * 50_000 + b"]" * 50_000 + b"\n"),
        ("2^70", None),
        ("1e308", None),
    ]:

        def build(d: Path, kind=kind, text=text) -> list[str]:
            hw = copy(base, "loihi2.toml", d, "hw.toml")
            if text is not None:
                hw.write_bytes(text)
            else:
                value = str(2**70) if kind == "2^70" else "1e308"
                text = re.sub(r"value = [0-9.e+-]+", f"value = {value}", hw.read_text(), count=1)
                hw.write_text(text)
            return _profile(
                base, d, "--hardware", str(hw), "--backend", "emulator", "--precision", "fixed"
            )

        add(f"hardware TOML {kind}", "toml", build, fragment="hw.toml")

    # 7. .sfnet structure
    sfnet = [
        (
            "dt=-1",
            _set(
                (
                    "network",
                    "dt",
                ),
                -1.0,
            ),
            "dt",
        ),
        (
            "negative delay",
            _set(
                (
                    "network",
                    "connections",
                    0,
                    "value",
                    "delay",
                ),
                -1,
            ),
            "delay",
        ),
        (
            "fractional delay",
            _set(
                (
                    "network",
                    "connections",
                    0,
                    "value",
                    "delay",
                ),
                0.5,
            ),
            "delay",
        ),
        (
            "string delay",
            _set(
                (
                    "network",
                    "connections",
                    0,
                    "value",
                    "delay",
                ),
                "1",
            ),
            "delay",
        ),
        ("reset bogus", _set(("network", "populations", FIRST, "reset"), "bogus"), "reset"),
        (
            "unknown population",
            _set(
                (
                    "network",
                    "connections",
                    0,
                    "value",
                    "post",
                ),
                "nobody",
            ),
            "nobody",
        ),
        (
            "connection of an unknown kind",
            _set(("network", "connections", 0, "kind"), "os.system"),
            "kind",
        ),
        ("readout with no terms", _set(("network", "readouts", FIRST, "terms"), []), "terms"),
        ("latency 1e7", _set(("timing", "latency", LAST), 10**7), "latency"),
        (
            "extra delay 1e7",
            _set(
                (
                    "timing",
                    "extra_delay",
                    0,
                ),
                10**7,
            ),
            "extra_delay",
        ),
        ("weight_planes 9", _set(("weight_planes",), 9), "weight_planes"),
        ("precision bogus", _set(("precision",), "bogus"), "precision"),
        ("vth 2^40", _set(("fixed_plan", "populations", LAST, "vth"), 2**40), "vth"),
        ("du 5000", _set(("fixed_plan", "populations", LAST, "du"), 5000), "du"),
        (
            "weight_exp 99",
            _set(
                (
                    "fixed_plan",
                    "synapses",
                    0,
                    "weight_exp",
                ),
                99,
            ),
            "weight_exp",
        ),
        (
            "synapse pre unknown",
            _set(
                (
                    "fixed_plan",
                    "synapses",
                    0,
                    "pre",
                ),
                "ghost",
            ),
            "ghost",
        ),
        (
            "always_on out of range",
            _set(
                (
                    "fixed_plan",
                    "synapses",
                    0,
                    "always_on",
                ),
                10**6,
            ),
            "always_on",
        ),
        ("NaN threshold", _array("v_th", lambda a: np.full_like(a, np.nan)), "non-finite"),
        ("complex weight", _array("weight", lambda a: a.astype(complex)), "dtype"),
        ("wrong weight shape", _array("connections/0/weight", lambda a: a[:, :-1]), "shape"),
        (
            "fixed weights 1e6",
            _array("fixed_plan/synapses/0/weights", lambda a: np.full_like(a, 10**6)),
            "weights",
        ),
        (
            "fractional fixed weights",
            _array("fixed_plan/synapses/0/weights", lambda a: a.astype(float) + 0.5),
            "weights",
        ),
        ("string array", _array("v_th", lambda a: np.array(["x"] * a.size)), "dtype"),
        ("object dtype member", _array("v_th", lambda a: a.astype(object)), ""),
        (
            "header deep nest",
            _set(
                (
                    "network",
                    "metadata",
                ),
                None,
            ),
            "",
        ),
        ("inputs shape 0", _set(("network", "inputs", FIRST), [0]), "shape"),
        ("inputs shape 4.7", _set(("network", "inputs", FIRST), [4.7]), "input"),
        (
            "unknown field",
            _set(
                (
                    "network",
                    "bogus",
                ),
                1,
            ),
            "bogus",
        ),
        (
            "2^70 delay",
            _set(
                (
                    "network",
                    "connections",
                    0,
                    "value",
                    "delay",
                ),
                2**70,
            ),
            "delay",
        ),
    ]
    for label, edit, fragment in sfnet:
        expect = EITHER if label in ("header deep nest", "object dtype member") else REFUSE
        add(f"sfnet {label}", "sfnet", _sfnet_edit(edit)(base), expect, fragment)

    def duplicate_pop(compiled: dict, arrays: dict) -> None:
        pops = compiled["network"]["populations"]
        first = next(iter(pops.values()))
        pops["dup"] = dict(first)  # name field still says the first's name

    add("sfnet duplicate population", "sfnet", _sfnet_edit(duplicate_pop)(base))

    # A stored netx plan: its own fields (issue #17 follow-up).
    first_pop = ("fixed_plan", "populations", FIRST)
    netx_sfnet = [
        ("valid", lambda c, a: None, EITHER, ""),
        ("reset_interval=-1", _set((*first_pop, "reset_interval"), -1), REFUSE, "reset_interval"),
        ("reset_offset past interval", _set((*first_pop, "reset_interval"), 2), REFUSE, ""),
        ("conv stride 0", _set(("fixed_plan", "convolutions", 0, "stride"), [0, 1]), REFUSE,
         "stride"),
        ("conv weight 300", _array("convolutions/0/weight", lambda w: w * 0 + 300), REFUSE,
         "weight"),
        ("conv output shape", _set(("fixed_plan", "convolutions", 0, "output_shape"), [3, 2, 4]),
         REFUSE, "output_shape"),
        ("delays 70", _array("synapses/0/delays", lambda x: x + 70), REFUSE, "delays"),
        ("num_weight_bits 12", _set(("fixed_plan", "synapses", 0, "num_weight_bits"), 12), REFUSE,
         "num_weight_bits"),
        ("shape of wrong size", _set((*first_pop, "shape"), [4, 3, 5]), REFUSE, "shape"),
        ("latency 10^7", _set(("timing", "latency", LAST), 10**7), REFUSE, "latency"),
    ]  # fmt: skip
    for label, edit, expect, fragment in netx_sfnet:
        build = _sfnet_edit(edit, "netx_conv")(base)
        add(f"sfnet netx plan {label}", "sfnet", build, expect, fragment)

    def version_2(d: Path) -> list[str]:
        build = _sfnet_edit(lambda c, a: None)(base)
        argv = build(d)
        path = Path(argv[1])
        with np.load(path) as data:
            header = json.loads(str(data["__header__"]))
            arrays = {k: data[k] for k in data.files if k != "__header__"}
        header["version"] = 2
        with open(path, "wb") as fh:
            np.savez_compressed(fh, __header__=np.array(json.dumps(header)), **arrays)
        return argv

    add("sfnet version 2", "sfnet", version_2, fragment="version 2")

    def unused_member(d: Path) -> list[str]:
        argv = _sfnet_edit(lambda c, a: None)(base)(d)
        with (
            zipfile.ZipFile(argv[1], "a", compression=zipfile.ZIP_DEFLATED) as z,
            z.open("unused.npy", "w", force_zip64=True) as fh,
        ):
            chunk = b"\0" * (1 << 20)
            for _ in range(512):  # 512 MiB of zeros, ~0.5 MB compressed
                fh.write(chunk)
        return argv

    add("sfnet 512 MiB unused member", "waste", unused_member, EITHER)

    def deep_header(d: Path) -> list[str]:
        argv = _sfnet_edit(lambda c, a: None)(base)(d)
        path = Path(argv[1])
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files if k != "__header__"}
        text = (
            '{"format": "spikeforge.sfnet", "version": 3, "compiled": '
            + "[" * 50_000
            + "]" * 50_000
            + "}"
        )
        with open(path, "wb") as fh:
            np.savez_compressed(fh, __header__=np.array(text), **arrays)
        return argv

    add("sfnet header nested 50k deep", "sfnet", deep_header)

    def sfnet_options(opt: list[str]):
        def build(d: Path) -> list[str]:
            s, x = copy(base, "lif_mlp.sfnet", d), copy(base, "lif_mlp.npy", d)
            return ["run", str(s), "--input", str(x), "-o", str(d / "o.npz"), *opt]

        return build

    for opt in (
        ["--dt", "1e-3"],
        ["--weight-planes", "3"],
        ["--reset", "subtract"],
        ["--allow-timing-divergence"],
    ):
        add(f"sfnet with {' '.join(opt)}", "options", sfnet_options(opt), fragment=opt[0])

    # 8. pipes
    def broken_pipe(d: Path) -> list[str]:
        return [*_compile(copy(base, "lif_mlp.nir", d), d), "--__close-stdout__"]

    add("compile | head (closed stdout)", "pipes", broken_pipe, EITHER)
    return c


# ----------------------------------------------------------------------------- sfnet random


def sfnet_mutation_cases(base: Base, rng: random.Random, count: int) -> list[Case]:
    hostile: list[object] = [
        None,
        -1,
        0,
        0.5,
        10**7,
        2**70,
        -(2**70),
        1e308,
        "bogus",
        "",
        [],
        {},
        [1, 2],
        True,
        "x" * 300,
        float("inf"),
    ]
    cases = []
    for i in range(count):
        net = rng.choice(["lif_mlp", "recurrent", "iaf_mlp"])
        with np.load(base.files[f"{net}.sfnet"]) as data:
            header = json.loads(str(data["__header__"]))
        paths = list(_json_paths(header["compiled"], ()))
        path = rng.choice(paths)
        value = rng.choice(hostile)
        cases.append(
            Case(
                f"sfnet[{i}] {net}:{'.'.join(map(str, path))}={str(value)[:12]!r}",
                "sfnet-mutation",
                _sfnet_edit(_set(path, value), net)(base),
                EITHER,
            )
        )
    return cases


def _json_paths(node: object, prefix: tuple):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _json_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _json_paths(v, (*prefix, i))
    if prefix:
        yield prefix


# ----------------------------------------------------------------------------- netx random


def netx_mutation_cases(base: Base, rng: random.Random, count: int) -> list[Case]:
    keys = hdf5_datasets(base.files["iaf_mlp.net"])
    cases = []
    for i in range(count):
        key = rng.choice(keys)
        with h5py.File(base.files["iaf_mlp.net"], "r") as f:
            original = np.asarray(f[key][()])
        label, value, expect = rng.choice(hostile_values(rng, original))

        # Both readers: the fixed-point plan (default) and the float import.
        precision = "float" if i % 2 else "fixed"

        def build(d: Path, key=key, value=value, precision=precision) -> list[str]:
            path = copy(base, "iaf_mlp.net", d, "case.net")
            replace_dataset(path, key, value)
            return _compile(path, d, "--precision", precision)

        cases.append(Case(f"netx[{i}] {key}={label}", "netx-mutation", build, expect))
    return cases


def all_cases(base: Base, total: int, seed: int = 0) -> list[Case]:
    rng = random.Random(seed)
    named = named_cases(base)
    rest = max(total - len(named), 0)
    return (
        named
        + nir_mutation_cases(base, rng, rest // 2)
        + sfnet_mutation_cases(base, rng, rest // 4)
        + netx_mutation_cases(base, rng, rest - rest // 2 - rest // 4)
    )


# ----------------------------------------------------------------------------- running


def _digest(directory: Path, skip: set[Path]) -> dict[str, str]:
    result = {}
    for path in directory.rglob("*"):
        if path in skip or not path.is_file() or path.is_symlink() or path.name == CANARY:
            continue
        result[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def run_case(case: Case, workdir: Path, timeout: float) -> Outcome:
    d = Path(tempfile.mkdtemp(dir=workdir))
    canary = d / CANARY
    canary.write_bytes(b"SECRET" * 64)
    import h5py as _h5

    with _h5.File(d / "canary.h5", "w") as f:  # for external links: a valid HDF5 target
        f["data"] = np.ones(4)
    os.utime(canary, (time.time() - 10 * 86400, time.time()))
    before_atime = canary.stat().st_atime
    try:
        argv = case.build(d)
    except Exception as exc:  # the generator itself failed: report, do not count as ours
        return Outcome(case, "generator", f"{type(exc).__name__}: {exc}")
    close_stdout = "--__close-stdout__" in argv
    argv = [a for a in argv if a != "--__close-stdout__"]
    outputs = {Path(argv[i + 1]) for i, a in enumerate(argv) if a == "-o"}
    before = _digest(d, outputs)
    start = time.monotonic()
    err = d / ".stderr"
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.chdir(d)
            fd = os.open(err, os.O_WRONLY | os.O_CREAT)
            os.dup2(fd, 2)
            if close_stdout:
                r, w = os.pipe()
                os.close(r)
                os.dup2(w, 1)
            else:
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            # Rebind Python's streams too: under pytest they are capture objects, not fds.
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives until _exit
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            from spikeforge.cli import main

            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 99
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code if isinstance(code, int) else 98)
    deadline = start + timeout
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return Outcome(case, "hang", f"over {timeout:.0f} s", time.monotonic() - start)
    seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    stderr = err.read_text(errors="replace") if err.exists() else ""
    err.unlink(missing_ok=True)
    try:
        if (d / SENTINEL).exists():
            return Outcome(case, "exec", "sentinel file created", seconds)
        if canary.stat().st_atime != before_atime:
            return Outcome(case, "read_outside", "canary read", seconds)
        after = _digest(d, outputs)
        changed = [p for p in before if before[p] != after.get(p)]
        if changed:
            return Outcome(case, "damaged", ", ".join(changed), seconds)
        lines = stderr.strip().splitlines()
        if code == 0:
            kind = "silent" if case.expect == REFUSE else "accepted"
            return Outcome(case, kind, stderr.strip()[-200:], seconds)
        if code == 2 and len(lines) == 1 and "Traceback" not in stderr:
            if case.fragment and case.fragment not in lines[0]:
                return Outcome(
                    case, "clean", f"[fragment {case.fragment!r} missing] {lines[0]}", seconds
                )
            return Outcome(case, "clean", lines[0], seconds)
        return Outcome(case, "internal", f"exit {code}: {stderr.strip()[-300:]}", seconds)
    finally:
        shutil.rmtree(d, ignore_errors=True)


TARGET_ZERO = ("internal", "silent", "exec", "read_outside", "damaged", "hang", "generator")


def summarize(outcomes: list[Outcome]) -> dict[str, int]:
    counts = Counter(o.kind for o in outcomes)
    return {
        "cases": len(outcomes),
        "clean": counts["clean"],
        "accepted": counts["accepted"],
        **{k: counts[k] for k in TARGET_ZERO},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--show", type=int, default=30, help="failures to print")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "base").mkdir()
        base = make_base(root / "base")
        cases = all_cases(base, args.cases, args.seed)
        outcomes = []
        for i, case in enumerate(cases):
            outcomes.append(run_case(case, root, args.timeout))
            if (i + 1) % 100 == 0:
                print(f"{i + 1}/{len(cases)}: {summarize(outcomes)}", file=sys.stderr, flush=True)
    totals = summarize(outcomes)
    failures = [o for o in outcomes if o.kind in TARGET_ZERO]
    for o in failures[: args.show]:
        print(f"{o.kind:>12}  {o.case.category:<15} {o.case.name}: {o.detail}")
    unnamed = [o for o in outcomes if o.kind == "clean" and o.detail.startswith("[fragment")]
    by_category = Counter((o.case.category, o.kind) for o in outcomes)
    print(
        json.dumps(
            {
                "totals": totals,
                "clean_missing_fragment": len(unnamed),
                "by_category": {f"{c}/{k}": n for (c, k), n in sorted(by_category.items())},
            },
            indent=1,
        )
    )
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
