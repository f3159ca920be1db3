"""Where dt comes from, and what a wrong one looks like after a run.

Rockpool records no dt but writes ``r = tau_mem*exp(-dt/tau_mem)/dt``
(``rockpool/nn/modules/torch/nir.py``), so its file determines dt; a sinabs graph
(time in steps, dt 1) read at ``--dt 1e-4`` runs silent, which is warned about.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest

from spikeforge.compile.compiled import compile_network
from spikeforge.ir.conventions import ConventionWarning
from spikeforge.ir.nir_import import from_nir, load_nir
from spikeforge.ir.repairs import rockpool_dt
from spikeforge.runtimes import run
from spikeforge.runtimes.result import SilentNetworkWarning

FIXTURES = Path(__file__).resolve().parent / "data" / "frameworks"


def _rockpool_graph() -> nir.NIRGraph:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nir.read(FIXTURES / "rockpool" / "lif_mlp_single.nir", type_check=False)


def test_rockpool_dt_is_recovered_from_the_r_its_exporter_wrote():
    with pytest.warns(ConventionWarning, match=r"dt = 0\.001 s recovered from the r"):
        graph = load_nir(FIXTURES / "rockpool" / "lif_mlp_single.nir", convention="rockpool")
    assert graph.dt == 1e-3  # what the fixture script ran Rockpool with


def test_rockpool_dt_other_than_its_default_is_read_from_r():
    graph = _rockpool_graph()
    nodes = dict(graph.nodes)
    for name, node in graph.nodes.items():
        if isinstance(node, nir.CubaLIF):
            tau = np.asarray(node.tau_mem, np.float32)
            r = (tau * np.exp(-np.float32(2.5e-4) / tau) / np.float32(2.5e-4)).astype(np.float32)
            nodes[name] = dataclasses.replace(node, r=r)
    rewritten = nir.NIRGraph(nodes=nodes, edges=graph.edges, type_check=False)
    assert rockpool_dt(rewritten) == 2.5e-4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConventionWarning)
        assert from_nir(rewritten, convention="rockpool").dt == 2.5e-4
        assert from_nir(rewritten, convention="rockpool", dt=1e-3).dt == 1e-3  # --dt wins


def test_neurons_that_disagree_on_dt_leave_it_to_the_preset():
    graph = _rockpool_graph()
    nodes = {
        name: dataclasses.replace(node, r=np.asarray(node.r) * np.linspace(1, 2, node.r.size))
        if isinstance(node, nir.CubaLIF)
        else node
        for name, node in graph.nodes.items()
    }
    assert rockpool_dt(nir.NIRGraph(nodes=nodes, edges=graph.edges, type_check=False)) is None


def test_a_run_where_no_output_ever_spikes_warns_about_dt():
    path = FIXTURES / "sinabs" / "lif_single.nir"
    with np.load(FIXTURES / "sinabs" / "lif_single.npz") as f:
        x = f["x"].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConventionWarning)
        right = compile_network(load_nir(path, convention="sinabs", multi_spike=False))
        wrong = compile_network(load_nir(path, convention="sinabs", multi_spike=False, dt=1e-4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentNetworkWarning)
        assert run(right, x, "reference").output.any()
    with pytest.warns(SilentNetworkWarning, match=r"dt = 0\.0001 s.*check --dt"):
        out = run(wrong, x, "emulator", "float", device="cpu").output
    assert not out.any()
