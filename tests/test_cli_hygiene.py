"""The command line as a new user meets it: --version, defaults in --help, inspect,
train's refusal to overwrite, wrong-kind files, explicit input layout, labels and
decoders in profile, a --source that is another model, and logs without bars.

Everything runs through ``spikeforge.cli.main`` on the example networks and the
emulator; expected values come from running norse directly.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeforge.checkpoint import save_checkpoint
from spikeforge.cli import _parser, main
from spikeforge.models.examples import lif_mlp
from spikeforge.runtimes.norse import in_float64, run_norse
from spikeforge.version import VERSION

README = Path(__file__).resolve().parents[1] / "README.md"


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # --version and --help exit through argparse
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def graph(tmp_path: Path) -> Path:
    checkpoint = tmp_path / "mlp.pt"
    save_checkpoint(lif_mlp(), "spikeforge.models.examples:lif_mlp", {}, checkpoint)
    path = tmp_path / "mlp.nir"
    code, _, err = _run("export", str(checkpoint), "-o", str(path))  # no --input-shape
    assert code == 0, err
    return path


def test_version() -> None:
    code, out, _ = _run("--version")
    assert code == 0 and out.strip() == f"spikeforge {VERSION}"


def test_every_help_shows_the_defaults() -> None:
    """Every option with a non-trivial default says it in --help."""
    parser = _parser()
    sub = next(a for a in parser._actions if a.choices and "profile" in a.choices)
    for name, command in sub.choices.items():
        text = command.format_help()
        for action in command._actions:
            if action.help and action.default not in (None, False, argparse_suppress()) and (
                action.option_strings
            ):
                assert f"(default: {action.default})" in " ".join(text.split()), (
                    name,
                    action.dest,
                )


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


def test_inspect_lists_the_names_record_takes(graph: Path, tmp_path: Path) -> None:
    code, out, err = _run("inspect", str(graph))
    assert code == 0, err
    lines = out.splitlines()
    rows = [line.split() for line in lines if re.match(r"^\d+\s+CubaLIF", line)]
    assert [(r[0], r[2], r[3]) for r in rows] == [("1", "30", "30"), ("3", "5", "5")]
    assert "inputs: input [20]" in out and "outputs: output [5]" in out
    x = tmp_path / "x.npy"
    np.save(x, np.ones((1, 8, 20), dtype=np.float32))
    code, out, err = _run(
        "run", str(graph), "--input", str(x), "-o", str(tmp_path / "o.npz"),
        "--backend", "emulator", "--record", rows[0][0], "--batch-first",
    )  # fmt: skip
    assert code == 0, err
    assert np.load(tmp_path / "o.npz")[f"{rows[0][0]}.spikes"].shape == (1, 8, 30)


def test_train_writes_only_where_told(tmp_path: Path) -> None:
    code, _, err = _run("train", "digits_csnn")
    assert code == 2 and "pass -o CKPT.pt" in err and "--force" in err
    existing = tmp_path / "mine.pt"
    existing.write_bytes(b"keep me")
    code, _, err = _run("train", "digits_csnn", "-o", str(existing))
    assert code == 2 and "exists; pass --force" in err
    assert existing.read_bytes() == b"keep me"


def test_a_pytorch_file_given_as_a_network_says_what_to_run(tmp_path: Path) -> None:
    weights = tmp_path / "weights.pt"
    torch.save(lif_mlp().state_dict(), weights)
    for argv in (
        ["compile", str(weights), "-o", str(tmp_path / "n.sfnet")],
        ["inspect", str(weights)],
    ):
        code, _, err = _run(*argv)
        assert code == 2
        assert "this is a PyTorch checkpoint: run spikeforge export first" in err
        lines = err.strip().splitlines()  # the error is one line; others are progress
        assert [line for line in lines if not line.startswith("spikeforge: stage")] == lines[-1:]
    assert not (tmp_path / "n.sfnet").exists()


def test_time_first_runs_as_time_first_and_unsaid_warns(graph: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    batch_first = (rng.random((4, 30, 20)) < 0.3).astype(np.float32)
    time_first = tmp_path / "tf.npy"
    np.save(time_first, np.swapaxes(batch_first, 0, 1))
    out = tmp_path / "o.npz"
    code, _, err = _run(
        "run", str(graph), "--input", str(time_first), "-o", str(out),
        "--time-first", "--backend", "emulator", "--precision", "float",
    )  # fmt: skip
    assert code == 0, err
    expected = run_norse(in_float64(lif_mlp()), torch.as_tensor(batch_first, dtype=torch.float64))
    np.testing.assert_array_equal(np.load(out)["output"], expected.numpy())
    # Unsaid, it warns (on stderr, as "spikeforge: warning: ..."; pytest captures it here).
    with pytest.warns(UserWarning, match=r"read batch-first: 30 samples x 4 steps.*--time-first"):
        code, _, err = _run("run", str(graph), "--input", str(time_first), "-o", str(out))
    assert code == 0


def test_profile_with_labels_and_a_wrong_source(graph: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = (rng.random((6, 20, 20)) < 0.3).astype(np.float32)
    y = rng.integers(0, 5, 6)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    source = tmp_path / "src.pt"
    save_checkpoint(lif_mlp(), "spikeforge.models.examples:lif_mlp", {}, source)
    report = tmp_path / "rep"
    code, _, err = _run(
        "profile", str(graph), "--input", str(tmp_path / "x.npy"), "--batch-first",
        "--labels", str(tmp_path / "y.npy"), "--decoder", "max-count", "--source", str(source),
        "-o", str(report), "--neurobench",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads((report / "profile.json").read_text())
    norse_out = run_norse(in_float64(lif_mlp()), torch.as_tensor(x, dtype=torch.float64)).numpy()
    expected = 100 * np.mean(norse_out.sum(axis=1).argmax(axis=1) == y)
    by_stage = {s["stage"]: s for s in data["stages"]}
    assert by_stage["norse"]["metrics"]["accuracy"] == pytest.approx(expected)
    assert data["task"]["name"] == "accuracy" and data["task"]["decoder"] == "max-count"
    assert by_stage["norse"]["hardware_latency_per_inference"] is None
    assert by_stage["emulator-fixed"]["hardware_latency_per_inference"]["kind"] == "estimated"
    bench = json.loads((report / "neurobench.json").read_text())["stages"]
    assert bench["norse"]["classification_accuracy"] == pytest.approx(expected / 100)
    assert set(bench["emulator-fixed"]["synaptic_operations"]) == {
        "Effective_MACs", "Effective_ACs", "Dense",
    }  # fmt: skip
    # Progress in a log: whole lines (slow stages only), never carriage-return bar updates.
    assert "\r" not in err
    assert all(line.startswith("spikeforge: ") for line in err.splitlines())
    other = tmp_path / "other.pt"
    save_checkpoint(lif_mlp(n_in=12), "spikeforge.models.examples:lif_mlp", {"n_in": 12}, other)
    code, _, err = _run(
        "profile", str(graph), "--input", str(tmp_path / "x.npy"), "--batch-first",
        "--source", str(other), "-o", str(tmp_path / "rep2"),
    )  # fmt: skip
    assert code == 2 and "does not take the network's input shape [20]" in err
    assert not (tmp_path / "rep2").exists()


def test_slow_steps_say_so_in_one_line_and_quick_ones_stay_silent(capsys) -> None:
    import time

    from spikeforge.progress import stage

    with stage(2, 3, "compiling", after_s=0.05):
        time.sleep(0.3)
    with stage(3, 3, "placing", after_s=0.5):
        pass
    time.sleep(0.6)  # the cancelled timer of the quick step must not fire late
    assert capsys.readouterr().err == "spikeforge: stage 2/3: compiling\n"


def test_a_plain_state_dict_needs_and_takes_a_factory(tmp_path: Path) -> None:
    weights = tmp_path / "weights.pt"
    torch.save(lif_mlp().state_dict(), weights)
    out = tmp_path / "m.nir"
    code, _, err = _run("export", str(weights), "-o", str(out))
    assert code == 2 and "a plain state_dict" in err and "--factory model.py:make_net" in err
    assert not out.exists()
    code, _, err = _run(
        "export", str(weights), "--factory", "spikeforge.models.examples:lif_mlp", "-o", str(out)
    )
    assert code == 0, err
    assert "inputs: input [20]" in _run("inspect", str(out))[1]


def test_no_progress_bar_in_a_log() -> None:
    """A bar's carriage-return updates belong on a terminal only (stderr here is a buffer)."""
    from spikeforge.progress import progress

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert sum(progress(range(50), "steps", enabled=True)) == sum(range(50))
    assert err.getvalue() == ""


def test_readme_command_line_quick_start(tmp_path: Path, monkeypatch) -> None:
    """The README's command-line quick start, command by command, on its own model.py."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(
        "import norse.torch as norse, torch\n\n\n"
        "def make_net():\n"
        "    torch.manual_seed(0)\n"
        "    return norse.SequentialState(\n"
        "        torch.nn.Linear(64, 32), norse.LIFCell(dt=1e-3),\n"
        "        torch.nn.Linear(32, 10), norse.LICell(dt=1e-3),\n"
        "    )\n"
    )
    from spikeforge.checkpoint import factory_from_spec

    torch.save(factory_from_spec("model.py:make_net")().state_dict(), "weights.pt")
    rng = np.random.default_rng(0)
    np.save("x.npy", (rng.random((8, 20, 64)) < 0.2).astype(np.float32))
    np.save("y.npy", rng.integers(0, 10, 8))
    text = README.read_text()
    block = re.search(r"```sh\n(.*?)```", text[text.index("On the command line, from the"):], re.S)
    commands = block.group(1).replace("\\\n", " ").splitlines()
    for line in commands:
        argv = line.split("#")[0].split()
        assert argv[0] == "spikeforge"
        code, _, err = _run(*argv[1:])
        assert code == 0, (line, err)
    assert "accuracy" in (tmp_path / "report" / "report.html").read_text()
