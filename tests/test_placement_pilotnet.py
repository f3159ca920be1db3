"""PilotNet LIF placed on loihi2.toml against Intel's compiler (MEASURED.md's per-layer table).

Tolerance (issue #14): 74 cores +- 10 %, every layer within +- 1 core or +- 15 %.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spikeforge.compile.netx_plan import NetxOptions, load_netx_plan
from spikeforge.compile.placement import place
from spikeforge.profile import load_hardware

ANCHOR = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "pilotnet_lif"
INTEL = {"layer0": 13, "layer1": 25, "layer2": 13, "layer3": 3, "layer4": 3,
         "layer5": 2, "layer7": 12, "layer8": 1, "layer9": 1, "layer10": 1}  # fmt: skip


@pytest.mark.skipif(not (ANCHOR / "network.net").is_file(), reason="needs the PilotNet anchor")
def test_pilotnet_cores_per_layer_match_intels_compiler():
    plan = load_netx_plan(ANCHOR / "network.net", NetxOptions(16, 3)).plan("fixed")
    placement = place(plan, load_hardware("loihi2"))
    ours: dict[str, int] = {}
    for core in placement.cores:
        ours[core.populations[0]] = ours.get(core.populations[0], 0) + 1
    assert abs(len(placement.cores) - 74) <= 0.10 * 74
    for name, intel in INTEL.items():
        assert abs(ours[name] - intel) <= max(1, 0.15 * intel), name
    # Intel's block of the 99x32x24 layer: 4 rows of 32x24 neurons per core.
    first = next(c for c in placement.cores if c.populations[0] == "layer1")
    assert first.usage["neurons"] == 4 * 32 * 24
