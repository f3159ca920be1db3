"""The ``spikeforge`` command line: export -> compile -> run, and every user error.

Most tests call :func:`spikeforge.cli.main` in-process (fast); the subprocess tests
prove that what reaches a real terminal is one line and no traceback. Every user
error must exit 2, print exactly one line ``spikeforge CMD: error: ...`` on stderr
naming what was wrong and where, and leave no output (nor temporary) file behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch

from spikeforge.checkpoint import save_checkpoint
from spikeforge.cli import main
from spikeforge.compile import load
from spikeforge.models.examples import lif_mlp, run_norse

DT = 1e-3
N_IN, N = 4, 3


# --------------------------------------------------------------------------- helpers


def _graph(
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    tau_syn: np.ndarray | None = None,
    tau_mem: np.ndarray | None = None,
    v_threshold: np.ndarray | None = None,
    v_reset: np.ndarray | None = None,
    metadata: dict | None = None,
    type_check: bool = True,
) -> nir.NIRGraph:
    """in (4) -> fc (Affine) -> lif (CubaLIF, 3 neurons) -> out, dt/tau exact in 12 bits."""
    weight = np.full((N, N_IN), 0.5) if weight is None else weight
    nodes = {
        "in": nir.Input(input_type={"input": np.array([N_IN])}),
        "fc": nir.Affine(weight=weight, bias=np.zeros(weight.shape[0]) if bias is None else bias),
        "lif": nir.CubaLIF(
            tau_syn=np.full(N, 4e-3) if tau_syn is None else tau_syn,
            tau_mem=np.full(N, 8e-3) if tau_mem is None else tau_mem,
            r=np.ones(N),
            v_leak=np.zeros(N),
            v_threshold=np.full(N, 0.1) if v_threshold is None else v_threshold,
            v_reset=np.zeros(N) if v_reset is None else v_reset,
            w_in=np.ones(N),
        ),
        "out": nir.Output(output_type={"output": np.array([N])}),
    }
    return nir.NIRGraph(
        nodes=nodes,
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")],
        metadata={"dt": DT} if metadata is None else metadata,
        type_check=type_check,
    )


def _write(path: Path, graph: nir.NIRGraph) -> Path:
    nir.write(path, graph)
    return path


def _spikes(shape: tuple[int, ...], seed: int = 0, p: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < p).astype(np.float64)


def _leftovers(directory: Path) -> list[str]:
    """Temporary files of atomic writes (``.NAME.XXXX.tmp``) left in ``directory``."""
    return sorted(p.name for p in directory.glob(".*.tmp"))


def _user_error(capsys: pytest.CaptureFixture[str], argv: list[str], output: Path) -> str:
    """Run ``main(argv)``, check the user-error contract, return the message line."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"spikeforge {argv[0]}: error: "), lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert not output.exists(), f"{output} left behind"
    assert _leftovers(output.parent) == []
    return lines[0]


def _ok(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.fixture()
def good_nir(tmp_path: Path) -> Path:
    return _write(tmp_path / "good.nir", _graph())


@pytest.fixture()
def spikes_npy(tmp_path: Path) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, _spikes((2, 10, N_IN)))
    return path


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Checkpoint of the lif_mlp example -> ``export`` -> ``compile``, done once."""
    root = tmp_path_factory.mktemp("pipeline")
    module = lif_mlp()
    ckpt, graph, net = root / "mlp.pt", root / "mlp.nir", root / "mlp.sfnet"
    save_checkpoint(module, "spikeforge.models.examples:lif_mlp", {}, ckpt)
    texts = {}
    for command, argv in (
        ("export", ["export", str(ckpt), "-o", str(graph), "--input-shape", "20"]),
        ("compile", ["compile", str(graph), "-o", str(net)]),
    ):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        assert code == 0, err.getvalue()
        texts[command] = out.getvalue()
    return {
        "root": root,
        "module": module,
        "ckpt": ckpt,
        "nir": graph,
        "sfnet": net,
        "export_out": texts["export"],
        "compile_out": texts["compile"],
    }


# ------------------------------------------------------------------- success paths


def test_export_writes_nir_with_dt(pipeline: dict) -> None:
    path = pipeline["nir"]
    assert path.is_file()
    assert f"wrote {path}: 6 nodes, dt = 0.001 s" in pipeline["export_out"]
    graph = nir.read(path)
    assert float(graph.metadata["dt"]) == DT
    assert isinstance(graph.nodes["1"], nir.CubaLIF)
    assert isinstance(graph.nodes["3"], nir.CubaLIF)
    assert graph.nodes["1"].tau_mem.shape == (30,)
    assert _leftovers(path.parent) == []


def test_compile_prints_summary(pipeline: dict) -> None:
    out = pipeline["compile_out"]
    assert pipeline["sfnet"].is_file()
    assert "latency" in out
    assert re.search(r"^1\s+CubaLIF\s+30\s+600\s+1\b", out, re.M), out
    assert re.search(r"^3\s+CubaLIF\s+5\s+150\s+2\b", out, re.M), out
    assert "total: 2 populations, 35 neurons, 750 synapses" in out
    assert "output latency (hardware steps behind source): output 2" in out
    assert out.rstrip().endswith(f"wrote {pipeline['sfnet']}")


def test_compile_with_three_planes_names_its_pacemakers(
    pipeline: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = tmp_path / "three.sfnet"
    out = _ok(capsys, ["compile", str(pipeline["nir"]), "-o", str(net), "--weight-planes", "3"])
    # One pacemaker per presynaptic source of a fraction plane: the input and layer 1.
    assert "weight planes 3 with 2 pacemaker(s) making sums round" in out
    # Helpers share a core with what they feed when it has room: named, not own rows.
    assert len(set(re.findall(r"__pacemaker__\S*\[\d+\]", out))) == 2, out
    assert load(net).weight_planes == 3


def test_run_reference_matches_norse_and_records(
    pipeline: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = _spikes((3, 30, 20), seed=1, p=0.4)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    text = _ok(
        capsys,
        [
            "run",
            str(pipeline["sfnet"]),
            "--input",
            str(tmp_path / "x.npy"),
            "-o",
            str(out),
            "--record",
            "1",
        ],
    )
    assert f"wrote {out}" in text
    with np.load(out) as data:
        assert sorted(data.files) == ["1.spikes", "1.v", "output"]
        output, spikes, v = data["output"], data["1.spikes"], data["1.v"]
    assert output.shape == (3, 30, 5)
    assert spikes.shape == v.shape == (3, 30, 30)
    assert set(np.unique(output)) <= {0.0, 1.0} and output.sum() > 0
    assert f"; {int(output.sum())} output spikes" in text
    assert spikes.sum() > 0 and np.abs(v).max() > 0
    expected = run_norse(pipeline["module"], torch.tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_array_equal(output, expected)
    assert _leftovers(tmp_path) == []

    # The NIR file runs the same as the compiled network it came from.
    out_nir = tmp_path / "out_nir.npz"
    _ok(
        capsys,
        ["run", str(pipeline["nir"]), "--input", str(tmp_path / "x.npy"), "-o", str(out_nir)],
    )
    with np.load(out_nir) as data:
        assert data.files == ["output"]
        np.testing.assert_array_equal(data["output"], output)


def test_run_of_a_voltage_readout_reports_no_spike_count(
    tmp_path: Path, spikes_npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = _graph()
    graph.nodes["lif"] = nir.LI(
        tau=np.full(N, 8e-3), r=np.ones(N), v_leak=np.zeros(N)
    )  # fmt: skip
    path = _write(tmp_path / "li.nir", graph)
    out = tmp_path / "li.npz"
    text = _ok(capsys, ["run", str(path), "--input", str(spikes_npy), "-o", str(out)])
    with np.load(out) as data:
        assert not np.isin(data["output"], (0.0, 1.0)).all()  # voltages, not spikes
    assert f"wrote {out}" in text and "output spikes" not in text


def test_run_lava_float_equals_reference(
    pipeline: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "x.npy", _spikes((1, 20, 20), seed=2, p=0.5))
    ref, lava, raw = tmp_path / "ref.npz", tmp_path / "lava.npz", tmp_path / "raw.npz"
    net, x = str(pipeline["sfnet"]), str(tmp_path / "x.npy")
    _ok(capsys, ["run", net, "--input", x, "-o", str(ref)])
    _ok(
        capsys,
        ["run", net, "--input", x, "-o", str(lava), "--backend", "lava", "--precision", "float"],
    )
    _ok(
        capsys,
        [
            "run",
            net,
            "--input",
            x,
            "-o",
            str(raw),
            "--backend",
            "lava",
            "--precision",
            "float",
            "--raw-timing",
        ],
    )
    with np.load(ref) as r, np.load(lava) as a, np.load(raw) as b:
        expected, got, raw_out = r["output"], a["output"], b["output"]
    assert expected.shape == got.shape == (1, 20, 5)
    assert expected.sum() > 0
    np.testing.assert_array_equal(got, expected)
    # Raw hardware time: the output runs 2 steps behind (see the compile summary).
    assert raw_out.shape == (1, 22, 5)
    np.testing.assert_array_equal(raw_out[:, 2:], expected)
    assert not raw_out[:, :2].any()


@pytest.mark.parametrize("command", [None, "export", "compile", "run"])
def test_help(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"] if command is None else [command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spikeforge")
    if command == "run":
        for option in ("--backend", "--precision", "--record", "--raw-timing", "--dt"):
            assert option in out
    if command == "compile":
        assert "--precision" in out and "--dt" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "spikeforge: error: the following arguments are required: COMMAND"),
        (["compile", "g.nir"], "the following arguments are required: -o"),
        (["compile", "g.nir", "-o", "n.sfnet", "--dt"], "argument --dt: expected one argument"),
        (
            ["run", "g.nir", "--input", "x.npy", "-o", "o.npz", "--backend", "gpu"],
            "argument --backend: invalid choice: 'gpu'",
        ),
        (["compile", "g.nir", "-o", "n.sfnet", "--dt", "x"], "argument --dt: invalid float value"),
    ],
)
def test_usage_errors_are_one_line(argv, expected, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert expected in lines[0]
    assert lines[0].startswith(f"spikeforge {argv[0]}: error: " if argv else "spikeforge: error: ")
    assert "--help" in lines[0]


# ------------------------------------------------------------------ bad NIR files


def test_not_hdf5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.nir"
    bad.write_text("this is not HDF5\n")
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(bad), "-o", str(out)], out)
    assert f"{bad}: not a readable NIR file" in msg


def test_truncated_nir(good_nir: Path, tmp_path: Path, capsys) -> None:
    data = good_nir.read_bytes()
    cut = tmp_path / "cut.nir"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(cut), "-o", str(out)], out)
    assert f"{cut}: not a readable NIR file" in msg
    assert "truncated" in msg


def test_missing_nir(tmp_path: Path, spikes_npy: Path, capsys) -> None:
    out = tmp_path / "out.npz"
    missing = tmp_path / "nope.nir"
    msg = _user_error(
        capsys, ["run", str(missing), "--input", str(spikes_npy), "-o", str(out)], out
    )
    assert f"{missing}: no such file" in msg


@pytest.mark.parametrize(
    ("field", "index", "value"),
    [("weight", (1, 2), np.nan), ("weight", (0, 3), np.inf), ("bias", (2,), -np.inf)],
)
def test_non_finite_parameters(tmp_path: Path, capsys, field, index, value) -> None:
    weight, bias = np.full((N, N_IN), 0.5), np.zeros(N)
    (weight if field == "weight" else bias)[index] = value
    path = _write(tmp_path / "bad.nir", _graph(weight=weight, bias=bias))
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(path), "-o", str(out)], out)
    assert f"{path}: node 'fc' (Affine): parameter {field} has 1 non-finite value(s)" in msg
    assert f"at index {index}" in msg
    assert str(value) in msg


def test_weight_shape_mismatch_with_neuron_count(tmp_path: Path, capsys) -> None:
    graph = _graph(weight=np.full((N - 1, N_IN), 0.5), type_check=False)
    path = _write(tmp_path / "bad.nir", graph)
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(path), "-o", str(out)], out)
    assert f"{path}: node 'lif' (CubaLIF) has {N} neurons" in msg
    assert f"receives input of shape ({N - 1},) from node 'fc'" in msg


def test_weight_shape_mismatch_with_input(tmp_path: Path, capsys) -> None:
    graph = _graph(weight=np.full((N, N_IN + 1), 0.5), type_check=False)
    path = _write(tmp_path / "bad.nir", graph)
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(path), "-o", str(out)], out)
    assert f"{path}: node 'fc': weight expects input of shape ({N_IN + 1},)" in msg
    assert f"receives ({N_IN},)" in msg


def test_unknown_node_type(good_nir: Path, tmp_path: Path, capsys) -> None:
    with h5py.File(good_nir, "r+") as f:
        assert f["node/nodes/lif/type"][()] == b"CubaLIF"
        del f["node/nodes/lif/type"]
        f["node/nodes/lif/type"] = b"Bogus"
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(good_nir), "-o", str(out)], out)
    assert f"{good_nir}: node 'lif' has type Bogus" in msg
    assert "not support" in msg and "CubaLIF" in msg


def test_missing_dt(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "nodt.nir", _graph(metadata={}))
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(path), "-o", str(out)], out)
    assert f"{path}: " in msg and "no 'dt'" in msg and "--dt" in msg
    # ... and with --dt it compiles.
    assert "dt = 0.001 s" in _ok(capsys, ["compile", str(path), "-o", str(out), "--dt", "1e-3"])
    assert out.is_file()


@pytest.mark.parametrize("dt", ["0", "-0.001", "nan", "inf"])
def test_non_positive_dt(tmp_path: Path, capsys, dt: str) -> None:
    path = _write(tmp_path / "nodt.nir", _graph(metadata={}))
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(path), "-o", str(out), "--dt", dt], out)
    assert f"{path}: dt must be a positive number of seconds" in msg


def test_dt_contradicts_stored(good_nir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(good_nir), "-o", str(out), "--dt", "2e-3"], out)
    assert f"{good_nir}: --dt 0.002 contradicts the dt 0.001" in msg
    # The same dt as stored is fine.
    _ok(capsys, ["compile", str(good_nir), "-o", str(out), "--dt", "0.001"])
    assert out.is_file()


def test_negative_tau_mem(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "bad.nir", _graph(tau_mem=np.full(N, -8e-3)))
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(path), "-o", str(out)], out)
    assert f"{path}: node 'lif' (CubaLIF): tau_mem must be > 0 seconds" in msg


def test_tau_shorter_than_dt(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "bad.nir", _graph(tau_syn=np.full(N, 1e-4)))
    out = tmp_path / "net.sfnet"
    msg = _user_error(capsys, ["compile", str(path), "-o", str(out)], out)
    assert f"{path}: node 'lif' (CubaLIF): tau_syn = 0.0001 s is shorter than dt = 0.001 s" in msg


def test_threshold_not_above_reset_lava(tmp_path: Path, spikes_npy: Path, capsys) -> None:
    graph = _graph(v_threshold=np.full(N, 0.2), v_reset=np.array([0.0, 0.2, 0.1]))
    path = _write(tmp_path / "bad.nir", graph)
    out = tmp_path / "out.npz"
    argv = ["run", str(path), "--input", str(spikes_npy), "-o", str(out), "--backend", "lava"]
    msg = _user_error(capsys, argv, out)
    assert (
        "population 'lif' (CubaLIF): v_threshold (0.2) must exceed v_reset (0.2) (neuron 1)" in msg
    )


def test_compile_refuses_sfnet(pipeline: dict, tmp_path: Path, capsys) -> None:
    out = tmp_path / "again.sfnet"
    msg = _user_error(capsys, ["compile", str(pipeline["sfnet"]), "-o", str(out)], out)
    assert f"{pipeline['sfnet']} is already compiled" in msg


# ------------------------------------------------------------------- bad run inputs


def test_input_wrong_shape(good_nir: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 10, N_IN + 1)))
    out = tmp_path / "out.npz"
    argv = ["run", str(good_nir), "--input", str(tmp_path / "x.npy"), "-o", str(out)]
    msg = _user_error(capsys, argv, out)
    assert "input 'in': expected shape [batch, time, 4] or [time, 4], got [2, 10, 5]" in msg


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_input_not_finite(good_nir: Path, tmp_path: Path, capsys, value: float) -> None:
    x = np.zeros((2, 10, N_IN))
    x[1, 3, 2] = value
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    argv = ["run", str(good_nir), "--input", str(tmp_path / "x.npy"), "-o", str(out)]
    msg = _user_error(capsys, argv, out)
    assert "input 'in': contains NaN or infinite values" in msg


def test_lava_non_binary_input(good_nir: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "x.npy", np.full((1, 5, N_IN), 0.5))
    out = tmp_path / "out.npz"
    argv = [
        "run",
        str(good_nir),
        "--input",
        str(tmp_path / "x.npy"),
        "-o",
        str(out),
        "--backend",
        "lava",
    ]
    msg = _user_error(capsys, argv, out)
    assert "input 'in': the Lava backend feeds inputs as spikes, so values must be 0 or 1" in msg


def test_missing_input_file(good_nir: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.npy"
    out = tmp_path / "out.npz"
    msg = _user_error(capsys, ["run", str(good_nir), "--input", str(missing), "-o", str(out)], out)
    assert f"input {missing}: no such file" in msg


@pytest.mark.parametrize("name", ["x.txt", "x.csv"])
def test_input_not_npy(good_nir: Path, tmp_path: Path, capsys, name: str) -> None:
    bad = tmp_path / name
    np.savetxt(bad, np.zeros((10, N_IN)))
    out = tmp_path / "out.npz"
    msg = _user_error(capsys, ["run", str(good_nir), "--input", str(bad), "-o", str(out)], out)
    assert f"input {bad}: not a readable .npy array" in msg


def test_record_unknown_node(good_nir: Path, spikes_npy: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.npz"
    argv = [
        "run",
        str(good_nir),
        "--input",
        str(spikes_npy),
        "-o",
        str(out),
        "--record",
        "lif",
        "nope",
    ]
    msg = _user_error(capsys, argv, out)
    assert "cannot record 'nope': not a population" in msg
    assert re.search(r"populations: \[?'?lif'?\]?\)", msg), msg
    # Recording the real population works.
    _ok(
        capsys,
        ["run", str(good_nir), "--input", str(spikes_npy), "-o", str(out), "--record", "lif"],
    )
    with np.load(out) as data:
        assert sorted(data.files) == ["lif.spikes", "lif.v", "output"]
        assert data["lif.v"].shape == (2, 10, N)


def test_run_emulator_equals_lava_fixed(
    pipeline: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "x.npy", _spikes((2, 20, 20), seed=3, p=0.4))
    net, x = str(pipeline["sfnet"]), str(tmp_path / "x.npy")
    outs = {}
    for backend in ("lava", "emulator"):
        outs[backend] = tmp_path / f"{backend}.npz"
        argv = ["run", net, "--input", x, "-o", str(outs[backend]), "--backend", backend]
        _ok(capsys, [*argv, "--record", "1", "--raw-timing"])
    with np.load(outs["lava"]) as a, np.load(outs["emulator"]) as b:
        assert a.files == b.files
        assert a["output"].sum() > 0
        for key in a.files:
            np.testing.assert_array_equal(b[key], a[key], err_msg=key)


@pytest.mark.parametrize(
    ("device", "expected"),
    [("gpu0", "device 'gpu0': not a torch device"), ("meta", "runs on cpu or cuda")],
)
def test_run_emulator_bad_device(
    good_nir: Path, spikes_npy: Path, tmp_path: Path, capsys, device, expected
) -> None:
    out = tmp_path / "out.npz"
    argv = ["run", str(good_nir), "--input", str(spikes_npy), "-o", str(out), "--backend"]
    assert expected in _user_error(capsys, [*argv, "emulator", "--device", device], out)


def test_device_is_refused_off_the_emulator(
    good_nir: Path, spikes_npy: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out.npz"
    argv = ["run", str(good_nir), "--input", str(spikes_npy), "-o", str(out), "--device", "cpu"]
    assert "--device applies to the emulator backend" in _user_error(capsys, argv, out)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--precision", "fixed"], "the reference backend simulates in float64"),
        (["--raw-timing"], "--raw-timing applies to the hardware backends"),
    ],
)
def test_reference_rejects_hardware_options(
    good_nir: Path, spikes_npy: Path, tmp_path: Path, capsys, extra, expected
) -> None:
    out = tmp_path / "out.npz"
    argv = ["run", str(good_nir), "--input", str(spikes_npy), "-o", str(out), *extra]
    assert expected in _user_error(capsys, argv, out)


@pytest.mark.parametrize("command", ["compile", "run"])
def test_unwritable_output(good_nir: Path, spikes_npy: Path, tmp_path: Path, capsys, command):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    out = blocker / ("net.sfnet" if command == "compile" else "out.npz")
    argv = ["compile", str(good_nir), "-o", str(out)]
    if command == "run":
        argv = ["run", str(good_nir), "--input", str(spikes_npy), "-o", str(out)]
    msg = _user_error(capsys, argv, out)
    assert f"cannot write {'compiled network to ' if command == 'compile' else ''}{out}" in msg
    assert _leftovers(tmp_path) == []


def test_output_is_a_directory(good_nir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "net.sfnet"
    out.mkdir()
    code = main(["compile", str(good_nir), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikeforge compile: error: cannot write")
    assert out.is_dir() and list(out.iterdir()) == []
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------- export


def test_export_missing_checkpoint(tmp_path: Path, capsys) -> None:
    out = tmp_path / "g.nir"
    ckpt = tmp_path / "none.pt"
    msg = _user_error(capsys, ["export", str(ckpt), "-o", str(out), "--input-shape", "20"], out)
    assert f"checkpoint {ckpt}: no such file" in msg


def test_export_bad_input_shape(pipeline: dict, tmp_path: Path, capsys) -> None:
    out = tmp_path / "g.nir"
    argv = ["export", str(pipeline["ckpt"]), "-o", str(out), "--input-shape", "twenty"]
    msg = _user_error(capsys, argv, out)
    assert "--input-shape 'twenty': expected integers" in msg


def test_export_not_a_checkpoint(tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "junk.pt"
    ckpt.write_text("junk")
    out = tmp_path / "g.nir"
    msg = _user_error(capsys, ["export", str(ckpt), "-o", str(out), "--input-shape", "20"], out)
    assert f"checkpoint {ckpt}: cannot be read" in msg


def test_export_checkpoint_of_other_architecture(tmp_path: Path, capsys) -> None:
    # torch's load_state_dict error spans several lines; the CLI still prints one.
    ckpt = tmp_path / "wide.pt"
    save_checkpoint(lif_mlp(), "spikeforge.models.examples:lif_mlp", {"n_hidden": 31}, ckpt)
    out = tmp_path / "g.nir"
    msg = _user_error(capsys, ["export", str(ckpt), "-o", str(out), "--input-shape", "20"], out)
    assert f"checkpoint {ckpt}: cannot rebuild the module" in msg
    assert "size mismatch for 0.weight" in msg and "size mismatch for 2.weight" in msg


# ------------------------------------------------------------- a real terminal


def _command() -> list[str]:
    script = Path(sys.executable).parent / "spikeforge"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "spikeforge.cli"]


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SPIKEFORGE_DEBUG", None)
    return env


def test_subprocess_console_script_no_traceback(tmp_path: Path) -> None:
    weight = np.full((N, N_IN), 0.5)
    weight[2, 1] = np.nan
    path = _write(tmp_path / "nan.nir", _graph(weight=weight))
    out = tmp_path / "net.sfnet"
    proc = subprocess.run(
        [*_command(), "compile", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == [lines[0]] and lines[0].startswith("spikeforge compile: error: "), proc.stderr
    assert "node 'fc' (Affine): parameter weight" in lines[0]
    assert proc.stdout == ""
    assert not out.exists() and _leftovers(tmp_path) == []


def test_subprocess_module_run_bad_input(tmp_path: Path) -> None:
    path = _write(tmp_path / "good.nir", _graph())
    np.save(tmp_path / "x.npy", np.zeros((2, 10, N_IN + 3)))
    out = tmp_path / "out.npz"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spikeforge.cli",
            "run",
            str(path),
            "--input",
            str(tmp_path / "x.npy"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikeforge run: error: "), proc.stderr
    assert "got [2, 10, 7]" in lines[0]
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("option", [["--synapse", "unscaled"], ["--fires-on", "previous"]])
def test_run_refuses_convention_options_on_a_compiled_network(
    pipeline: dict, spikes_npy: Path, tmp_path: Path, capsys, option: list[str]
) -> None:
    """Every convention option shapes the import, so on a ``.sfnet`` it would be ignored."""
    out = tmp_path / "out.npz"
    argv = ["run", str(pipeline["sfnet"]), "--input", str(spikes_npy), "-o", str(out), *option]
    msg = _user_error(capsys, argv, out)
    assert "cannot apply to an already compiled network" in msg
