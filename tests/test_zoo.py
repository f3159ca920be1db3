"""Every zoo model: deterministic data, export -> NIR file -> compile -> Lava fixed point,
the reference equal to norse, and the zoo's command line (on digits_csnn).

The fixed-point runs are deliberately short (2 samples, :data:`SHORT` steps) and on the
emulator, which tests/test_emulator.py holds bit-exact with Lava on every zoo model:
they prove that the shipped checkpoint deploys and produces outputs of the right
shape. How close fixed point comes to norse over a whole held-out set is
``scripts/zoo_table.py``'s job.
"""

from __future__ import annotations

import functools
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from spikeforge.checkpoint import load_checkpoint
from spikeforge.cli import main
from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.hardware import Quantity
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.nir_import import load_nir
from spikeforge.models.stages import Config, StageTable, export_and_compile
from spikeforge.models.zoo import ZOO, checkpoint_path, get, load_trained, save_trained
from spikeforge.profile.agreement import Agreement
from spikeforge.profile.stages import StageRow, parse_stage
from spikeforge.runtimes import run
from spikeforge.runtimes.norse import in_float64, run_norse

#: Steps of the short fixed-point run.
SHORT = 20
#: Reference vs norse: both float64, so they differ only in summation order.
AGREE_TOLERANCE = 1e-9
NAMES = list(ZOO)


@functools.cache
def _deployed(name: str) -> tuple[torch.nn.Module, CompiledNet]:
    """The shipped model in float64 and its compiled network (calibrated on 4 train samples)."""
    model = get(name)
    module = in_float64(load_trained(name))
    calibration = model.make_data("train", 4, seed=0).inputs
    return module, export_and_compile(module, model.CARD, calibration)


def _norse(module: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    return run_norse(module, torch.as_tensor(np.asarray(inputs, dtype=np.float64))).numpy()


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("name", NAMES)
def test_card_and_checkpoint(name: str) -> None:
    model = get(name)
    card = model.CARD
    assert card.name == name
    assert card.description and card.paper and card.metric
    assert checkpoint_path(name).is_file(), f"{name} ships no trained checkpoint"
    assert checkpoint_path(name).stat().st_size < 2 * 2**20, "checkpoint over 2 MB"


@pytest.mark.parametrize("name", NAMES)
def test_data_is_deterministic_spikes_and_splits_are_disjoint(name: str) -> None:
    model = get(name)
    n = 6
    train, again = model.make_data("train", n, seed=0), model.make_data("train", n, seed=0)
    test = model.make_data("test", n, seed=0)
    assert np.array_equal(train.inputs, again.inputs)
    assert np.array_equal(train.targets, again.targets)
    assert np.array_equal(test.inputs, model.make_data("test", n, seed=0).inputs)
    assert not np.array_equal(test.inputs, model.make_data("test", n, seed=1).inputs), (
        "the seed does not change the data"
    )
    for data in (train, test):
        assert len(data) == n
        assert data.inputs.shape[0] == n and data.inputs.shape[2:] == model.CARD.input_shape
        assert np.isin(data.inputs, (0, 1)).all(), "inputs must be 0/1 spikes"
        assert data.inputs.any(), "no input spikes at all"
    train_rows = {row.tobytes() for row in train.inputs}
    assert not any(row.tobytes() in train_rows for row in test.inputs), "test repeats train"


@pytest.mark.parametrize("name", NAMES)
def test_export_compile_and_short_fixed_run(name: str) -> None:
    module, compiled = _deployed(name)
    inputs = get(name).make_data("test", 2, seed=0).inputs[:, :SHORT]
    expected = _norse(module, inputs)
    result = run(compiled, inputs, backend="emulator", precision="fixed", device="cpu")
    assert result.output.shape == expected.shape
    assert np.isfinite(result.output).all()


@pytest.mark.parametrize("name", NAMES)
def test_reference_equals_norse(name: str) -> None:
    """The float64 reference reproduces the trained norse model on held-out samples."""
    module, compiled = _deployed(name)
    data = get(name).make_data("test", 4, seed=0)
    expected = _norse(module, data.inputs)
    got = run(compiled, data.inputs, backend="reference").output
    scale = np.abs(expected).max(initial=0.0) or 1.0
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= AGREE_TOLERANCE * scale
    metrics = get(name).metrics(got, data)
    assert next(iter(metrics)) == get(name).CARD.metric
    # Outputs agree to 1e-9 of their scale, so metrics computed from them agree to far
    # better than 1e-6 (a decision flip would change them by a whole sample's share).
    assert metrics == pytest.approx(get(name).metrics(expected, data), rel=1e-6, abs=1e-9)


def test_save_trained_round_trips(tmp_path: Path) -> None:
    module = load_trained("digits_csnn")
    path = save_trained("digits_csnn", module, tmp_path / "copy.pt")
    copy = load_checkpoint(path)
    for (key, a), (_, b) in zip(
        module.state_dict().items(), copy.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), key


# --------------------------------------------------------------------------- stage table


def test_parse_stage() -> None:
    assert parse_stage("lava-fixed") == ("lava", "fixed")
    assert parse_stage("norse") == ("norse", None)
    with pytest.raises(SpikeforgeError, match="unknown stage 'lava-double'"):
        parse_stage("lava-double")


def test_stage_table_renders_metrics_and_deltas() -> None:
    card = get("digits_csnn").CARD
    nj = Quantity(1e-9, "J", "estimated", "test")

    def row(stage: str, metrics: dict[str, float], agreement: Agreement) -> StageRow:
        return StageRow(stage, "basis", agreement, 1.0, 2.0, nj, nj, 0.1, metrics=metrics)

    rows = [
        row("norse", {"accuracy": 90.0, "margin": 0.5}, Agreement(1.0, None, 0.0)),
        row("lava-fixed", {"accuracy": 88.5, "margin": 0.25}, Agreement(0.995, None, 0.1)),
    ]
    config = Config(2, 10, 1e-3, 0, 4, 2, "loihi2", ("norse", "lava-fixed"))
    table = StageTable(card, config, rows)
    rendered = table.table()
    header, cells = rendered.header, rendered.rows
    assert header[:5] == ["stage", "accuracy (%)", "Δ vs norse", "margin", "spikes equal"]
    assert cells[0][1:5] == ["90", "", "0.5", "100.00 %"]
    assert cells[1][1:5] == ["88.5", "-1.5", "0.25", "99.50 %"]
    assert "decisions" not in header, "spiking outputs are not compared by decisions"
    assert "Lava Loihi2SimCfg fixed_pt" in table.to_terminal()
    markdown = table.to_markdown().splitlines()
    assert markdown[0] == "| " + " | ".join(header) + " |"
    assert markdown[3] == "| " + " | ".join(cells[1]) + " |"
    assert table.metric("lava-fixed") == 88.5


# --------------------------------------------------------------------------- command line


def _ok(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def _user_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"spikeforge {argv[0]}: error: "), captured.err
    return lines[0]


def test_cli_models_lists_the_zoo(capsys: pytest.CaptureFixture[str]) -> None:
    out = _ok(capsys, ["models"])
    for name in ZOO:
        assert any(line.startswith(name) for line in out.splitlines()), name
    card = get("digits_csnn").CARD
    assert card.description in out
    assert f"paper: {card.paper}" in out


def test_cli_evaluate_prints_the_metric_per_stage(capsys: pytest.CaptureFixture[str]) -> None:
    n = 3
    argv = ["evaluate", "digits_csnn", "-n", str(n), "--backend", "reference", "lava"]
    out = _ok(capsys, [*argv, "--precision", "fixed"])
    model = get("digits_csnn")
    data = model.make_data("test", n, seed=0)
    accuracy = model.metrics(_norse(in_float64(load_trained("digits_csnn")), data.inputs), data)
    lines = out.splitlines()
    rows = {label: next(line for line in lines if line.startswith(label)) for label in
            ("norse (source, float64)", "reference (NIR -> IR, float64)",
             "Lava Loihi2SimCfg fixed_pt")}  # fmt: skip
    assert "accuracy (%)" in lines[1]
    assert rows["norse (source, float64)"].split()[3] == f"{accuracy['accuracy']:.4g}"
    assert not any("floating_pt" in line for line in lines), "float stage ran without --precision"


def test_cli_evaluate_refuses_unknown_models_and_bad_n(capsys: pytest.CaptureFixture[str]) -> None:
    msg = _user_error(capsys, ["evaluate", "mnist_mlp", "-n", "2"])
    assert "no zoo model 'mnist_mlp'" in msg and "digits_csnn" in msg
    msg = _user_error(capsys, ["evaluate", "digits_csnn", "-n", "0"])
    assert "-n must be at least 1" in msg
    msg = _user_error(capsys, ["evaluate", "digits_csnn", "-n", "100000", "--backend", "reference"])
    assert "digits_csnn" in msg and "100000" in msg


def test_cli_export_zoo_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "digits.nir"
    text = _ok(capsys, ["export", "digits_csnn", "-o", str(out)])
    assert f"wrote {out}" in text
    graph = nir.read(out)
    assert {type(node).__name__ for node in graph.nodes.values()} >= {"Conv2d", "CubaLIF"}
    assert load_nir(out).dt == get("digits_csnn").CARD.dt


def test_cli_export_unknown_name_lists_the_zoo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "x.nir"
    msg = _user_error(capsys, ["export", "mnist_mlp", "-o", str(out)])
    assert "not a zoo model" in msg and ", ".join(ZOO) in msg
    msg = _user_error(capsys, ["export", "digits_csnn", "-o", str(out), "--input-shape", "64"])
    assert "drop --input-shape" in msg
    assert not out.exists()
