"""scripts/bench_sanafe.py and loihi1_sanafe.toml against the real SANA-FE.

Skipped where SANA-FE is not installed (it is a test extra only where a wheel exists).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from spikeforge.profile import load_hardware
from spikeforge.profile.hardware import HARDWARE_DIR

sanafe = pytest.importorskip("sanafe", reason="SANA-FE not installed (pip install -e '.[bench]')")

REPO = Path(__file__).resolve().parents[1]
PICO = 1e-12


def _unit_attributes() -> dict[str, dict[str, float]]:
    core = sanafe.load_loihi().tiles[0].cores[0]
    units = {u.name: u.model_info.model_attributes for u in core.pipeline_hw[:6]}
    units["loihi_in"] = {
        "energy": core.axon_in[0].metrics.energy_message_in,
        "latency": core.axon_in[0].metrics.latency_message_in,
    }
    units["loihi_out"] = {
        "energy": core.axon_out[0].metrics.energy_message_out,
        "latency": core.axon_out[0].metrics.latency_message_out,
    }
    return units


def test_loihi1_sanafe_toml_has_sanafes_calibrated_figures():
    """Every calibrated number equals SANA-FE's own (catches drift on a SANA-FE upgrade)."""
    hw = load_hardware("loihi1_sanafe")
    units = _unit_attributes()
    synapse, lif = units["loihi_dense_synapse"], units["loihi_lif"]
    expected_energy = {
        "synaptic_op": synapse["energy_process_spike"],
        "neuron_update_inactive": lif["energy_access_neuron"],
        "neuron_update_active": lif["energy_access_neuron"] + lif["energy_update_neuron"],
        "spike_out": lif["energy_spike_out"],
        "message": units["loihi_out"]["energy"] + units["loihi_in"]["energy"],
    }
    expected_latency = {
        "synaptic_op": synapse["latency_process_spike"],
        "neuron_update_inactive": lif["latency_access_neuron"],
        "neuron_update_active": lif["latency_access_neuron"] + lif["latency_update_neuron"],
        "spike_out": lif["latency_spike_out"],
        "message": units["loihi_out"]["latency"],
    }
    for key, value in expected_energy.items():
        assert hw.energy[key].value == pytest.approx(value, rel=1e-12), key
        assert hw.energy[key].kind == "calibrated", key
    for key, value in expected_latency.items():
        assert hw.latency[key].value == pytest.approx(value, rel=1e-12), key
        assert hw.latency[key].kind == "calibrated", key
    # Mesh and sync figures are not exposed by SANA-FE's Python API: read its file.
    text = files("sanafe.examples").joinpath("loihi.yaml").read_text()

    def yaml_number(key: str) -> float:
        return float(re.search(rf"^\s*{key}:\s*(\S+)", text, re.MULTILINE).group(1))

    for ours, theirs in (("hop_east_west", "east"), ("hop_north_south", "north")):
        assert hw.energy[ours].value == pytest.approx(yaml_number(f"energy_{theirs}_hop"))
        assert hw.latency[ours].value == pytest.approx(yaml_number(f"latency_{theirs}_hop"))
    table = re.search(r"latency_sync:\s*\{([^}]*)\}", text).group(1)
    steps = {int(k): float(v) for k, v in re.findall(r"(\d+):\s*([\d.e+-]+)", table)}
    for tiles in range(1, hw.tiles_x * hw.tiles_y + 1):
        sanafe_sync = steps[max(k for k in steps if k <= tiles)]  # SANA-FE's table lookup
        assert hw.barrier.at(tiles) == pytest.approx(sanafe_sync, rel=1e-12), tiles


def test_bench_matches_sanafe_count_for_count(tmp_path):
    """One small network spread over two tiles, run by the benchmark script end to end.

    iaf_mlp has no synaptic-current decay, no bias and no delays, so SANA-FE's LIF
    reproduces Lava's fixed point exactly: spikes must agree entry for entry. With one
    weight plane both models define synaptic events, messages and hops identically, so
    on the same spikes those counts and the synapse and network energies are equal. The
    soma energies differ by exactly one term: SANA-FE also counts a neuron as updated
    while its potential is non-zero, spikeforge only when it receives input or fires.
    """
    hardware = (HARDWARE_DIR / "loihi1_sanafe.toml").read_text()
    small = hardware.replace("neurons = { value = 1024", "neurons = { value = 8")
    assert small != hardware
    (tmp_path / "small_cores.toml").write_text(small)
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        str(REPO / "scripts" / "bench_sanafe.py"),
        "--networks",
        "iaf_mlp",
        "--samples",
        "1",
        "--steps",
        "20",
        "--backend",
        "lava",
        "--weight-planes",
        "1",
        "--hardware",
        str(tmp_path / "small_cores.toml"),
        "--json",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "iaf_mlp" in done.stdout
    (net,) = json.loads(out.read_text())["networks"]
    assert net["tiles"] == net["sanafe_tiles"] == 2
    assert net["spikes"]["sanafe"] == net["spikes"]["spikeforge"] > 0
    assert net["spikes"]["raster_entries_differing"] == 0
    theirs = net["per_inference"]["sanafe"]
    ours = net["per_inference"]["spikeforge_on_sanafe_spikes"]
    assert theirs["hops"] > 0
    for count in ("synaptic_ops", "spikes", "messages", "hops"):
        assert ours[count] == theirs[count], count
    for category in ("synapse", "network"):
        assert ours[category] == pytest.approx(theirs[category], rel=1e-9), category
    # The same tiles in use, so the same barrier; SANA-FE's simple timing model has no
    # message queues, so its work per step can only be the shorter of its two.
    assert ours["barrier"] == pytest.approx(theirs["barrier"], rel=1e-12)
    assert 0 < theirs["work_simple"] <= theirs["work"]
    assert ours["work_simple"] == ours["work"] > 0
    extra_updates = theirs["active_updates"] - ours["active_updates"]
    update_energy = load_hardware("loihi1_sanafe").energy
    per_update = (
        update_energy["neuron_update_active"].value - update_energy["neuron_update_inactive"].value
    )
    assert extra_updates >= 0
    assert theirs["soma"] - ours["soma"] == pytest.approx(extra_updates * per_update, rel=1e-9)
    assert per_update == pytest.approx(21.6 * PICO)
