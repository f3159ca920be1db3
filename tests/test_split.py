"""Populations with per-neuron decays, split into Lava processes of equal (du, dv).

The framework fixtures (Spyx's default beta per neuron, Rockpool's taus per neuron
with one spike a step, snnTorch with a beta per neuron: ``test_frameworks_*``) check
agreement with each framework; here: the split itself is the same network (recorded
state reassembled in neuron order equals the unsplit reference exactly), it survives
``.sfnet``, it is capped, and Lava runs it (float equal to snnTorch, ``fixed_pt``
bit-exact with the emulator).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from script_module import load_script  # tests/ is on sys.path
from spikeforge.compile.compiled import compile_network, load, save
from spikeforge.compile.network import normalize
from spikeforge.compile.split import split_decays
from spikeforge.errors import UnsupportedError
from spikeforge.runtimes import run
from spikeforge.runtimes.options import RunOptions
from spikeforge.runtimes.reference import run_reference

fa = load_script("framework_agreement")
#: Two runs of equal beta in the hidden layer (5 + 5 neurons): two LIF processes.
TWO_BETAS = fa.Case(
    "snntorch",
    "Leaky, two betas",
    fa._mlp("leaky", beta=torch.tensor([0.8] * 5 + [0.95] * 5)),
)


def _exported(case, tmp_path):
    net, path = fa.export(case, 0, tmp_path)
    x = fa.spike_input(100, case.input_shape)
    return fa.load(case, path), x, fa.simulate_snntorch(net, x)


def test_split_records_the_population_whole_and_in_neuron_order(tmp_path):
    case = next(c for c in fa.CASES if c.setting == "Leaky, a beta per neuron")
    graph, x, _ = _exported(case, tmp_path)
    whole = run_reference(normalize(graph), x, RunOptions(record=["1"]))
    compiled = compile_network(graph)
    split = run(compiled, x, "reference", record=["1"])
    assert set(split.spikes) == {"1"} and split.spikes["1"].any()
    np.testing.assert_array_equal(split.spikes["1"], whole.spikes["1"])
    # Voltages: the same float64 sums, but BLAS orders a (1 x 12) block's products
    # differently from the whole (10 x 12) matrix's: equal to the last few ulps.
    np.testing.assert_allclose(split.v["1"], whole.v["1"], rtol=0, atol=1e-12)
    emulated = run(compiled, x, "emulator", "float", record=["1"], device="cpu")
    np.testing.assert_array_equal(emulated.spikes["1"], whole.spikes["1"])


def test_split_parts_follow_runs_of_equal_decays_and_survive_sfnet(tmp_path):
    graph, x, truth = _exported(TWO_BETAS, tmp_path)
    compiled = compile_network(graph)
    assert compiled.network.splits["1"].parts == ["1#0", "1#1"]
    assert {p.size for n, p in compiled.network.populations.items() if n.startswith("1#")} == {5}
    save(compiled, tmp_path / "net.sfnet")
    loaded = load(tmp_path / "net.sfnet")
    assert loaded.network.splits["1"].shape == (10,)
    np.testing.assert_array_equal(run(loaded, x, "emulator", "float", device="cpu").output, truth)


def test_more_distinct_decays_than_the_cap_are_refused_with_the_count(tmp_path):
    case = next(c for c in fa.CASES if c.setting == "Leaky, a beta per neuron")
    graph, _, _ = _exported(case, tmp_path)
    with pytest.raises(UnsupportedError, match=r"population '1'.*10 different time constants"):
        split_decays(normalize(graph), max_parts=4)


def test_lava_runs_the_parts_float_exact_and_fixed_pt_bit_exact_with_the_emulator(tmp_path):
    graph, x, truth = _exported(TWO_BETAS, tmp_path)
    x, truth = x[:1, :60], truth[:1, :60]
    compiled = compile_network(graph)
    np.testing.assert_array_equal(run(compiled, x, "lava", "float").output, truth)
    lava = run(compiled, x, "lava", "fixed", record=["1"], raw_timing=True)
    emu = run(compiled, x, "emulator", "fixed", record=["1"], raw_timing=True, device="cpu")
    assert lava.spikes["1"].any()
    np.testing.assert_array_equal(emu.spikes["1"], lava.spikes["1"])
    np.testing.assert_array_equal(emu.v["1"], lava.v["1"])
    np.testing.assert_array_equal(emu.output, lava.output)
