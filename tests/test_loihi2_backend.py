"""The loihi2 backend without Intel's lava-loihi (the normal case): it fails at once, clearly.

lava-loihi is not public, so this suite cannot reach a chip; hw_tests/ does that.
What is checked here is that every way in — the Python API and the command line —
stops before doing any work, with one line naming what is missing and how to get it,
and that the measured figures the backend reports are computed as documented.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from spikeforge.compile import compile_network
from spikeforge.errors import SpikeforgeError
from spikeforge.export import to_nir, write_nir
from spikeforge.ir import from_nir
from spikeforge.models.examples import EXAMPLES
from spikeforge.runtimes import run
from spikeforge.runtimes.loihi2 import (
    INRC_URL,
    ChipMeasurement,
    MeasuredRunResult,
    _combined,
    lava_loihi_missing,
)

without_lava_loihi = pytest.mark.skipif(
    lava_loihi_missing() is None, reason="lava-loihi is installed: hw_tests/ covers the chip"
)


def _assert_explains(message: str) -> None:
    assert "lava-loihi" in message
    assert "No module named 'lava.utils.loihi2_profiler'" in message
    assert "Neuromorphic Research Community" in message and INRC_URL in message
    assert "--backend lava" in message


@pytest.fixture(scope="module")
def compiled():
    factory, shape = EXAMPLES["iaf_mlp"]
    return compile_network(from_nir(to_nir(factory(), torch.zeros(shape), dt=1e-3)))


@without_lava_loihi
def test_run_refuses_before_looking_at_the_inputs(compiled):
    """Inputs that every other backend would reject: the missing chip is reported first."""
    with pytest.raises(SpikeforgeError) as info:
        run(compiled, np.full((3, 7), 0.5), backend="loihi2")
    _assert_explains(str(info.value))


@without_lava_loihi
def test_cli_refuses_before_loading_the_network(tmp_path):
    """A subprocess, as a user runs it: one line, exit 2, no traceback, no output file."""
    result = subprocess.run(
        [sys.executable, "-m", "spikeforge.cli", "run", str(tmp_path / "absent.sfnet"),
         "--input", str(tmp_path / "absent.npy"), "-o", str(tmp_path / "out.npz"),
         "--backend", "loihi2"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "SPIKEFORGE_DEBUG": ""},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("spikeforge run: error: the loihi2 backend runs on a Loihi 2")
    _assert_explains(result.stderr)
    assert list(tmp_path.iterdir()) == []


@without_lava_loihi
def test_cli_refuses_a_real_network_too(tmp_path):
    factory, shape = EXAMPLES["iaf_mlp"]
    write_nir(to_nir(factory(), torch.zeros(shape), dt=1e-3), tmp_path / "g.nir")
    np.save(tmp_path / "x.npy", np.zeros((5, *shape)))
    from spikeforge.cli import main

    args = ["run", tmp_path / "g.nir", "--input", tmp_path / "x.npy", "-o", tmp_path / "o.npz"]
    assert main([str(a) for a in [*args, "--backend", "loihi2"]]) == 2
    assert not (tmp_path / "o.npz").exists()


def _measurement(time_per_step: float, power: float, static: float, cores: int) -> ChipMeasurement:
    return ChipMeasurement(
        steps=100,
        time_per_step=time_per_step,
        total_power=power,
        static_power=static,
        synaptic_ops=1000,
        neuron_updates=500,
        spikes_out=20,
        cores=cores,
        memory_utilisation=0.25,
    )


def test_measured_figures_per_inference():
    """Energy per inference = mean power x time per step x steps, as the PilotNet benchmark
    tutorial computes it; averaged over samples; every figure is kind 'measured'."""
    runs = [_measurement(10e-6, 0.5, 0.3, 2), _measurement(30e-6, 0.7, 0.3, 2)]
    result = MeasuredRunResult(outputs={}, measurements=runs)
    figures = result.figures()
    assert {f.kind for f in vars(figures).values()} == {"measured"}
    assert figures.time_per_inference.value == pytest.approx((1e-3 + 3e-3) / 2)
    assert figures.energy_per_inference.value == pytest.approx((0.5e-3 + 2.1e-3) / 2)
    assert figures.dynamic_energy_per_inference.value == pytest.approx((0.2e-3 + 1.2e-3) / 2)
    assert figures.energy_per_inference.unit == "J"


def test_separately_run_parts_add_up():
    """A network in two unconnected parts is two chip runs per sample: time and energy add."""
    parts = [_measurement(10e-6, 0.5, 0.3, 2), _measurement(30e-6, 0.7, 0.3, 6)]
    whole = _combined(parts)
    assert whole.time_per_inference == pytest.approx(sum(p.time_per_inference for p in parts))
    assert whole.energy_per_inference == pytest.approx(sum(p.energy_per_inference for p in parts))
    assert whole.synaptic_ops == 2000 and whole.cores == 8
    assert whole.memory_utilisation == pytest.approx(0.25)
