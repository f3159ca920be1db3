"""Conventions without a framework to run: presets, the IR's rules, refusals, the CLI.

The frameworks whose exporters cannot be installed beside the pinned stack (sinabs
3.1 pins nir <= 1.0.4; SpikingJelly's PyPI release has no NIR export; Rockpool and
Spyx are absent) make no exactness claim here (tests/test_frameworks_fixtures.py
measures each against its own simulation; SpikingJelly's on graphs written per its
repository exporter's mapping). What is tested is that each rule
(inclusive threshold, subtract on the spike step, multi-spike counts, IF with
dt*r, start at v_reset) does what :mod:`spikeforge.ir.nodes` says, independently of
the importer (literal numpy loops), and that the fixed-point SfLif models Lava runs
equal the emulator bit for bit.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

from spikeforge.cli import main
from spikeforge.compile.compiled import compile_network
from spikeforge.compile.network import normalize
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.conventions import PRESETS, Conventions, preset
from spikeforge.ir.nir_import import from_nir
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import run_reference

N_IN, N = 5, 4


def _if_graph(theta: float = 2.0, r: float = 1.0, metadata: dict | None = None) -> nir.NIRGraph:
    """Identity weights into IF neurons: integer inputs reach theta exactly."""
    return nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([N])),
            "w": nir.Linear(weight=np.eye(N)),
            "if": nir.IF(r=np.full(N, r), v_threshold=np.full(N, theta)),
            "out": nir.Output(output_type=np.array([N])),
        },
        edges=[("in", "w"), ("w", "if"), ("if", "out")],
        metadata={"dt": 1.0, **(metadata or {})},
    )


def _lif_graph(seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    return nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([N_IN])),
            "w": nir.Linear(weight=rng.normal(0.6, 0.5, (N, N_IN))),
            "lif": nir.LIF(
                tau=np.full(N, 5e-3),
                r=np.ones(N),
                v_leak=np.zeros(N),
                v_threshold=np.full(N, 0.5),
                v_reset=np.zeros(N),
            ),
            "out": nir.Output(output_type=np.array([N])),
        },
        edges=[("in", "w"), ("w", "lif"), ("lif", "out")],
        metadata={"dt": 1e-3},
    )


def _if_loop(x: np.ndarray, theta: float, gain: float, conv: Conventions) -> np.ndarray:
    """The IR's per-step rule for IF (dv = 0), written out for one neuron array."""
    v = np.zeros(x.shape[1:])
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        v = v + gain * x[t]
        if conv.multi_spike:
            z = np.where(v > 0, np.trunc(v / theta), 0.0)
        else:
            z = (v >= theta if conv.threshold == ">=" else v > theta).astype(float)
        v = v - z * theta if conv.reset == "subtract" else np.where(z > 0, 0.0, v)
        out[t] = z
    return out


@pytest.mark.parametrize("framework", ["nir", "rockpool", "sinabs", "spikingjelly"])
def test_if_rules_follow_the_ir_equations(framework):
    """Integer input hits theta exactly: '>' and '>=' differ, multi-spike counts."""
    conv = PRESETS[framework]
    x = np.random.default_rng(1).integers(0, 5, (40, N)).astype(float)
    graph = from_nir(_if_graph(), convention=framework)
    out = run_reference(normalize(graph), x).output
    gain = 1.0  # dt = 1: SpikingJelly's dt*r equals r here
    np.testing.assert_array_equal(out, _if_loop(x, 2.0, gain, conv))
    assert (out > 1).any() == conv.multi_spike


def test_spikingjelly_if_adds_dt_times_r_and_starts_at_v_reset():
    g = _if_graph(r=1 / 1e-4)
    g.metadata = {}
    with pytest.warns(UserWarning, match="spikingjelly's exporter"):
        graph = from_nir(g, convention="spikingjelly")
    node = graph.nodes["if"]
    np.testing.assert_allclose(node.gain, 1.0)
    np.testing.assert_array_equal(node.v_init, node.v_reset)


@pytest.mark.parametrize(
    "overrides",
    [
        {"threshold": ">="},
        {"reset": "subtract"},
        {"reset": "subtract", "threshold": ">="},
        {"reset": "subtract_next"},
        {"reset": "zero_next"},
    ],
)
def test_sflif_rules_exact_in_float_and_bit_exact_in_fixed_on_lava(overrides):
    """Inclusive threshold and each reset: IF with integer input meets theta exactly,
    so the inclusive rule is exercised at v == theta (v > vth-1 on Loihi's integers)."""
    graph = from_nir(_if_graph(), **overrides)
    x = np.random.default_rng(2).integers(0, 2, (1, 30, N)).astype(float)
    compiled = compile_network(graph)
    ref = run(compiled, x, "reference").output
    assert 0 < ref.sum() < ref.size
    np.testing.assert_array_equal(run(compiled, x, "emulator", "float", device="cpu").output, ref)
    emu = run(compiled, x, "emulator", "fixed", record=["if"], raw_timing=True, device="cpu")
    np.testing.assert_array_equal(run(compiled, x, "emulator", "fixed", device="cpu").output, ref)
    if overrides == {"reset": "subtract", "threshold": ">="}:  # one Lava run per precision
        lava = run(compiled, x, "lava", "fixed", record=["if"], raw_timing=True)
        np.testing.assert_array_equal(emu.spikes["if"], lava.spikes["if"])
        np.testing.assert_array_equal(emu.v["if"], lava.v["if"])
        np.testing.assert_array_equal(run(compiled, x, "lava", "float").output, ref)


def test_exponential_decay_is_one_minus_exp():
    graph = from_nir(_lif_graph(), decay="exp")
    np.testing.assert_allclose(graph.nodes["lif"].dv, 1 - np.exp(-1e-3 / 5e-3))


def test_multi_spike_counts_exact_at_threshold_multiples_and_bit_exact_on_lava():
    """Integer input puts v on exact multiples of theta, where trunc(v/theta) steps:
    every backend must count as the IR does; Lava's fixed_pt SfLif (counts as graded
    payloads) equals the emulator in spikes and voltages."""
    # Each input spike adds 2.5 thresholds: counts of 2 and 3, v on 0.5 exactly.
    graph = from_nir(_if_graph(theta=0.5, r=1.25), convention="sinabs")
    x = np.random.default_rng(2).integers(0, 2, (1, 30, N)).astype(float)
    compiled = compile_network(graph)
    ref = run(compiled, x, "reference").output
    np.testing.assert_array_equal(ref[0], _if_loop(x[0], 0.5, 1.25, PRESETS["sinabs"]))
    assert ref.max() == 3
    np.testing.assert_array_equal(run(compiled, x, "emulator", "float", device="cpu").output, ref)
    emu = run(compiled, x, "emulator", "fixed", record=["if"], raw_timing=True, device="cpu")
    np.testing.assert_array_equal(run(compiled, x, "emulator", "fixed", device="cpu").output, ref)
    lava = run(compiled, x, "lava", "fixed", record=["if"], raw_timing=True)
    np.testing.assert_array_equal(emu.spikes["if"], lava.spikes["if"])
    np.testing.assert_array_equal(emu.v["if"], lava.v["if"])


def test_metadata_naming_the_framework_selects_its_preset():
    graph = from_nir(_if_graph(metadata={"framework": "sinabs"}))
    assert graph.nodes["if"].multi_spike and graph.nodes["if"].threshold == ">="
    assert "sinabs" in graph.metadata["conventions"]


def test_preset_dt_is_used_with_a_warning_when_the_graph_has_none():
    g = _lif_graph()
    g.metadata = {}
    with pytest.warns(UserWarning, match="snntorch's exporter"):
        graph = from_nir(g, convention="snntorch")
    assert graph.dt == 1e-4


def test_bad_convention_values_are_one_line_errors():
    with pytest.raises(SpikeforgeError, match="unknown framework 'keras'"):
        preset("keras")
    with pytest.raises(SpikeforgeError, match="threshold = '=>'"):
        Conventions(threshold="=>")
    with pytest.raises(SpikeforgeError, match="multi_spike needs reset 'subtract'"):
        from_nir(_if_graph(), multi_spike=True)


def test_cli_compile_names_conventions_and_microcode_and_multi_spike_runs_everywhere(
    tmp_path, capsys
):
    path = tmp_path / "if.nir"
    nir.write(path, _if_graph())
    code = main(
        [
            "compile",
            str(path),
            "-o",
            str(tmp_path / "a.sfnet"),
            "--from",
            "rockpool",
            "--dt",
            "1",
            "--no-multi-spike",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "conventions (rockpool): reset subtract, fire at v >= theta" in out
    assert "population 'if'" in out and "microcoded neuron" in out
    x = np.random.default_rng(3).integers(0, 3, (20, N)).astype(float)
    np.save(tmp_path / "x.npy", x)
    args = ["run", str(path), "--input", str(tmp_path / "x.npy"), "--from", "sinabs"]
    assert main([*args, "-o", str(tmp_path / "o.npz"), "--backend", "reference"]) == 0
    counts = np.load(tmp_path / "o.npz")["output"]
    np.testing.assert_array_equal(counts, _if_loop(x, 2.0, 1.0, PRESETS["sinabs"]))
    spikes = (x > 0).astype(float)  # Loihi backends take spikes
    np.save(tmp_path / "s.npy", spikes)
    args = ["run", str(path), "--input", str(tmp_path / "s.npy"), "--from", "sinabs"]
    assert main([*args, "-o", str(tmp_path / "p.npz"), "--backend", "emulator"]) == 0
    np.testing.assert_array_equal(
        np.load(tmp_path / "p.npz")["output"], _if_loop(spikes, 2.0, 1.0, PRESETS["sinabs"])
    )
    capsys.readouterr()
    assert main(["compile", str(path), "-o", str(tmp_path / "m.sfnet"), "--from", "sinabs"]) == 0
    out = capsys.readouterr().out
    assert "multi-spike counts sent as" in out and "microcoded neuron" in out


def test_a_dt_other_than_the_frameworks_exporter_dt_is_warned_about():
    g = _lif_graph()
    g.metadata = {}
    with pytest.warns(UserWarning, match=r"dt = 0.001 s, but snntorch's exporter.*10x"):
        from_nir(g, dt=1e-3, convention="snntorch")


def test_cli_decay_bits_holds_time_constants_twelve_bits_round_and_says_so(tmp_path, capsys):
    """dt/tau = 0.2 is 819.2/4096: ``--decay-bits 24`` holds it as 3355443/2^24 in an
    SfLif, says so, and netx export, the loihi2 backend and a compiled file refuse."""
    from spikeforge.compile import load

    path = tmp_path / "lif.nir"
    nir.write(path, _lif_graph())
    wide = tmp_path / "wide.sfnet"
    assert main(["compile", str(path), "-o", str(wide), "--decay-bits", "24"]) == 0
    out = capsys.readouterr().out
    assert "population 'lif': 24-bit decays: simulated by spikeforge's SfLif" in out
    assert "24-bit decays in 1 population(s)" in out
    lif = load(wide).fixed_plan.populations["lif"]
    assert (lif.decay_bits, lif.dv) == (24, round(0.2 * 2**24)) and not lif.standard
    x = (np.random.default_rng(0).random((1, 5, N_IN)) < 0.3).astype(float)
    np.save(tmp_path / "x.npy", x)
    given = ["--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.npz")]
    given += ["--decay-bits", "24"]
    assert main(["run", str(wide), *given]) == 2
    assert "--decay-bits cannot apply to an already compiled network" in capsys.readouterr().err
    assert main(["export-netx", str(wide), "-o", str(tmp_path / "w.net")]) == 2
    err = capsys.readouterr().err
    assert "population 'lif': 24-bit decays" in err and "12-bit decays" in err
    assert not (tmp_path / "w.net").exists()
    with pytest.raises(SpikeforgeError, match=r"24-bit decays.*microcoded neuron"):
        run(load(wide), x, "loihi2")


def test_api_deploys_wide_decays_and_the_profile_says_their_cost_is_estimated():
    """``deploy(..., decay_bits=24)`` compiles the SfLif; the profile prices its neuron
    updates as the standard neuron's and says so, naming the population."""
    import spikeforge
    from spikeforge.profile.report import helper_notes

    x = (np.random.default_rng(1).random((2, 20, N_IN)) < 0.3).astype(float)
    net = spikeforge.deploy(_lif_graph(), x, decay_bits=24, time_axis=1)
    assert net.compiled.fixed_plan.populations["lif"].decay_bits == 24
    notes = helper_notes(net.profile(x, time_axis=1).profile)
    assert any("(lif)" in n and "microcoded neuron" in n and "an estimate" in n for n in notes)
    narrow = spikeforge.deploy(_lif_graph(), x, time_axis=1)
    assert not any("microcoded" in n for n in helper_notes(narrow.profile(x, time_axis=1).profile))
