"""The SpikingJelly fixtures are SpikingJelly's own: rebuilt and simulated here, live.

SpikingJelly 0.0.0.0.14 installs beside the pinned stack (a test dependency), but no
release exports NIR, so ``tests/data/frameworks/spikingjelly/`` holds graphs that
``scripts/framework_fixtures/spikingjelly_fixtures.py`` wrote by its repository
exporter's mapping. Here every case's module is built again, simulated by
SpikingJelly itself and traced again: its outputs must equal the stored ``y`` and
its graph the stored ``.nir``, entry for entry, so the comparisons in
``tests/test_frameworks_fixtures.py`` are against SpikingJelly's simulation, not a
stale or hand-made file.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

from script_module import load_script  # tests/ is on sys.path

sj = load_script("framework_fixtures/spikingjelly_fixtures")
CASES = {entry.name: (entry, build, shape) for entry, build, shape in sj.CASES}
FIXTURES = sj.DATA / "spikingjelly"


@pytest.mark.parametrize("name", sorted(CASES))
def test_stored_outputs_are_spikingjellys_own_simulation(name):
    _, build, _ = CASES[name]
    with np.load(FIXTURES / f"{name}.npz") as data:
        x, y = data["x"].astype(np.float64), data["y"]
    np.testing.assert_array_equal(sj.simulate(build(), x), y)


@pytest.mark.parametrize("name", sorted(CASES))
def test_stored_graph_is_the_one_traced_from_the_module(name):
    _, build, shape = CASES[name]
    stored = nir.read(FIXTURES / f"{name}.nir")
    traced = sj.export(build(), shape)
    assert sorted(stored.edges) == sorted(traced.edges)
    assert stored.nodes.keys() == traced.nodes.keys()
    for key, node in traced.nodes.items():
        assert type(stored.nodes[key]) is type(node), key
        for field, value in node.to_dict().items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(stored.nodes[key].to_dict()[field], value, key)
