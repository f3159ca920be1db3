"""The Python API (``spikeforge.deploy`` / ``CompiledModel`` / ``spikeforge.load``) on a
user's own norse networks, on the emulator (Lava is not under test here).

Expected values are computed independently: the norse module is run directly
(``run_norse``) and decoded / scored here with numpy, never read back from the API.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import norse.torch as norse
import numpy as np
import pytest
import torch

import spikeforge
from spikeforge import SpikeforgeError
from spikeforge.models.examples import lif_mlp, lifbox_mlp, recurrent
from spikeforge.runtimes.norse import in_float64, run_norse

README = Path(__file__).resolve().parents[1] / "README.md"


def _spikes(batch: int, steps: int, n: int, seed: int = 0, rate: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).random((batch, steps, n)) < rate).astype(np.float32)


def _norse(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    m = in_float64(module)
    return run_norse(m, torch.as_tensor(x, dtype=torch.float64)).numpy()


def _li_readout(seed: int = 5) -> torch.nn.Module:
    """A LIF hidden layer and a leaky-integrator (LI) readout: a voltage output."""
    torch.manual_seed(seed)
    p = norse.LIFParameters(tau_syn_inv=torch.tensor(250.0), tau_mem_inv=torch.tensor(125.0),
                            v_th=torch.tensor(0.3))  # fmt: skip
    li = norse.LIParameters(tau_syn_inv=torch.tensor(250.0), tau_mem_inv=torch.tensor(125.0))
    return norse.SequentialState(
        torch.nn.Linear(64, 32), norse.LIFCell(p, dt=1e-3),
        torch.nn.Linear(32, 10), norse.LICell(li, dt=1e-3),
    )  # fmt: skip


@pytest.mark.parametrize("factory", [lif_mlp, recurrent, lifbox_mlp])
def test_deploy_a_module_infers_the_shape_and_runs_like_norse(factory) -> None:
    """LIF MLP, LIFRecurrentCell and LIFBoxCell nets: float emulator = norse, spike for spike."""
    module = factory()
    net = spikeforge.deploy(module)  # no shape: the first layer's in_features
    assert net.input_shape == (20,)
    x = _spikes(3, 25, 20)
    out = net.run(x, backend="emulator", precision="float", time_axis=1).output
    np.testing.assert_array_equal(out, _norse(module, x))


def test_profile_accuracy_per_stage_matches_an_independent_count() -> None:
    module = lif_mlp()
    x = _spikes(12, 30, 20, seed=1)
    y = np.random.default_rng(2).integers(0, 5, 12)
    net = spikeforge.deploy(module, x, time_axis=1)
    report = net.profile(x, labels=y, decoder="max-count", time_axis=1)
    expected = 100 * np.mean(_norse(module, x).sum(axis=1).argmax(axis=1) == y)
    assert report.metric("norse") == pytest.approx(expected, abs=1e-12)
    # The reference and float emulator are exact on this network, so they score the same.
    assert report.metric("reference") == pytest.approx(expected, abs=1e-12)
    assert report.metric("emulator-float") == pytest.approx(expected, abs=1e-12)
    fixed = report.profile.row("emulator-fixed")
    fixed_expected = 100 * np.mean(fixed.output.sum(axis=1).argmax(axis=1) == y)
    assert report.metric("emulator-fixed") == pytest.approx(fixed_expected, abs=1e-12)
    text = str(report)
    assert "accuracy (%)" in text and "Δ vs norse" in text
    assert "hw latency/inf" in text and "sim wall s/sample" in text


def test_li_readout_agreement_is_decisions_and_a_small_error() -> None:
    """Defect 1: an LI readout's agreement is decisions (100 %) and a tiny relative error.

    Float stages: the reference and Lava float model are the source's arithmetic in
    another order, so 1e-9 bounds float64 rounding over 30 steps with margin. Fixed
    point: 8-bit weights (two planes) and 24-bit state keep the voltage within 2 % of
    the source's here; the decisions need not all survive, but most must (>= 90 %).
    """
    module = _li_readout()
    x = _spikes(10, 30, 64, seed=3, rate=0.2)
    net = spikeforge.deploy(module, x, time_axis=1)
    report = net.profile(x, time_axis=1)
    for stage in ("reference", "emulator-float"):
        agreement = report.profile.row(stage).agreement
        assert agreement.spike_agreement is None  # no spiking output to compare
        assert agreement.decision_agreement == 1.0
        assert agreement.relative_error < 1e-9
    fixed = report.profile.row("emulator-fixed").agreement
    assert fixed.relative_error < 2e-2
    assert fixed.decision_agreement >= 0.9


def test_regression_labels_give_relative_error_with_the_last_voltage() -> None:
    module = _li_readout()
    x = _spikes(6, 20, 64, seed=4, rate=0.2)
    targets = np.random.default_rng(5).normal(size=(6, 10))
    net = spikeforge.deploy(module, x, time_axis=1)
    report = net.profile(x, labels=targets, decoder="last-voltage", time_axis=1)
    last = _norse(module, x)[:, -1]
    expected = np.sqrt(np.mean((last - targets) ** 2)) / np.sqrt(np.mean(targets**2))
    assert report.profile.task.name == "rel. error vs labels"
    assert report.metric("norse") == pytest.approx(expected, rel=1e-12)


def test_custom_decoder_and_metric() -> None:
    module = lif_mlp()
    x = _spikes(8, 20, 20, seed=6)
    y = np.random.default_rng(7).integers(0, 5, 8)

    def first_spike(output: np.ndarray) -> np.ndarray:  # earliest-firing neuron wins
        fired = output.cumsum(axis=1) > 0
        return fired.sum(axis=1)

    def errors(pred: np.ndarray, labels: np.ndarray) -> float:
        return float(np.sum(pred.argmax(axis=1) != labels))

    net = spikeforge.deploy(module, x, time_axis=1)
    report = net.profile(x, labels=y, decoder=first_spike, metric=errors, time_axis=1)
    expected = float(np.sum(first_spike(_norse(module, x)).argmax(axis=1) != y))
    assert report.profile.task.name == "errors"
    assert report.metric("norse") == expected


def test_time_first_input_is_explicit_and_checked() -> None:
    """Defect 5: [time, batch, n] (norse's layout) runs as such when said; unsaid, a
    batched input warns; labels that only fit time-first are an error."""
    module = lif_mlp()
    net = spikeforge.deploy(module)
    x = _spikes(4, 30, 20, seed=8)
    time_first = np.swapaxes(x, 0, 1).copy()  # [30, 4, 20]
    a = net.run(x, precision="float", time_axis=1).output
    b = net.run(time_first, precision="float", time_axis=0).output
    np.testing.assert_array_equal(a, b)
    with pytest.warns(UserWarning, match="read batch-first: 30 samples x 4 steps"):
        net.run(time_first, precision="float")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.run(x, precision="float", time_axis=1)  # said: no warning
    with pytest.raises(SpikeforgeError, match="time-first"):
        net.profile(time_first, labels=np.zeros(4, dtype=int))


def test_save_load_round_trip_and_source_check(tmp_path: Path) -> None:
    module = lif_mlp()
    x = _spikes(2, 15, 20, seed=9)
    net = spikeforge.deploy(module, x, time_axis=1)
    path = net.save(str(tmp_path / "net.sfnet"))
    loaded = spikeforge.load(path)
    np.testing.assert_array_equal(
        loaded.run(x, time_axis=1).output, net.run(x, time_axis=1).output
    )
    with pytest.raises(SpikeforgeError, match="is this network's input file"):
        loaded.save(path)
    with pytest.raises(SpikeforgeError, match=r"\.sfnet"):
        net.save(tmp_path / "net.nir")
    # Defect 5: a different model as the source is refused, by input and by output shape.
    with pytest.raises(SpikeforgeError, match=r"does not take the network's input shape \[20\]"):
        spikeforge.load(path, source=_li_readout())
    with pytest.raises(SpikeforgeError, match="has 7 outputs but the network has 5"):
        spikeforge.load(path, source=lif_mlp(n_out=7))
    assert spikeforge.load(path, source=module).source is not None


def test_populations_name_what_record_takes() -> None:
    net = spikeforge.deploy(lif_mlp())
    pops = net.populations
    assert [p.name for p in pops] == list(net.compiled.network.populations)
    assert [p.neurons for p in pops] == [30, 5]
    assert all(p.cores for p in pops) and [p.latency for p in pops] == [1, 2]
    result = net.run(_spikes(1, 10, 20), record=[pops[0].name], time_axis=1)
    assert result.spikes[pops[0].name].shape == (1, 10, 30)


def test_spike_counts_exclude_pipeline_drain_steps() -> None:
    """Defect 6: drive hard enough that the network still fires after the input ends;
    the stage table's spikes are the source's window (equal to norse's), while the
    hardware activity, drain steps included, is larger."""
    module = lif_mlp()
    x = np.ones((2, 12, 20), dtype=np.float32)
    report = spikeforge.deploy(module).profile(x, precision="float", time_axis=1)
    norse_row, hw = report.profile.row("norse"), report.profile.row("emulator-float")
    assert hw.spikes == pytest.approx(norse_row.spikes, rel=1e-12)
    run = report.profile.runs["emulator-float"]
    plan = report.profile.compiled.plan("float")
    with_drain = sum(run.activity.per_inference(p).spikes for p in plan.populations)
    assert run.activity.steps > 12 and with_drain > hw.spikes
    assert norse_row.latency is None and hw.latency.kind == "estimated"


def test_write_report_takes_a_str_path(tmp_path: Path) -> None:
    """Defect 3: write_report crashed on a str path."""
    net = spikeforge.deploy(lif_mlp())
    report = net.profile(_spikes(2, 10, 20), precision="fixed", time_axis=1)
    written = report.write(str(tmp_path / "out"), neurobench=True)
    names = {p.name for p in written}
    assert {"report.html", "report.md", "profile.json", "neurobench.json"} <= names


def test_deploy_errors_are_one_line_and_say_how(tmp_path: Path) -> None:
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))
    with pytest.raises(SpikeforgeError, match="cannot infer the input shape"):
        spikeforge.deploy(conv)
    weights = tmp_path / "weights.pt"
    torch.save(lif_mlp().state_dict(), weights)
    with pytest.raises(SpikeforgeError, match="PyTorch checkpoint: run spikeforge export"):
        spikeforge.deploy(weights)
    with pytest.raises(SpikeforgeError, match=r"expected shape \[batch, time, 20\]"):
        spikeforge.deploy(lif_mlp()).run(np.zeros((2, 5, 21)))


def _readme_block(heading: str, language: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block under {heading}"
    return match.group(1)


def test_readme_quick_start_python(tmp_path: Path, monkeypatch) -> None:
    """The README's opening example, as written, end to end to report.html."""
    monkeypatch.chdir(tmp_path)
    code = _readme_block("## Quick start", "python")
    exec(compile(code, "README.md", "exec"), {})
    html = (tmp_path / "report" / "report.html").read_text()
    assert "accuracy" in html and "data:image/png;base64," in html
