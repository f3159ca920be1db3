"""spikeforge.export: real norse modules -> NIR, checked field by field and on disk."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import nir
import norse.torch as snn
import numpy as np
import pytest
import torch
from norse.torch.functional.iaf import IAFParameters
from norse.torch.functional.leaky_integrator import LIParameters
from norse.torch.functional.leaky_integrator_box import LIBoxParameters
from norse.torch.functional.lif_box import LIFBoxParameters
from norse.torch.functional.reset import reset_subtract

from spikeforge.errors import SpikeforgeError
from spikeforge.export import SumPool2d, to_nir, write_nir

DT = 0.002  # not norse's default 0.001, so a dt mix-up cannot pass unnoticed
# Exactly representable in float32, and all different, so swapped fields show up.
TAU_SYN_INV, TAU_MEM_INV = 200.0, 50.0
V_LEAK, V_TH, V_RESET = 0.25, 0.75, -0.5
TAU_SYN, TAU_MEM = 1 / TAU_SYN_INV, 1 / TAU_MEM_INV  # 0.005 s, 0.02 s

LIF_P = snn.LIFParameters(
    tau_syn_inv=torch.tensor(TAU_SYN_INV),
    tau_mem_inv=torch.tensor(TAU_MEM_INV),
    v_leak=torch.tensor(V_LEAK),
    v_th=torch.tensor(V_TH),
    v_reset=torch.tensor(V_RESET),
)
LI_P = LIParameters(
    tau_syn_inv=torch.tensor(TAU_SYN_INV),
    tau_mem_inv=torch.tensor(TAU_MEM_INV),
    v_leak=torch.tensor(V_LEAK),
)


def lif() -> snn.LIFCell:
    return snn.LIFCell(LIF_P, dt=DT)


def lif_box(**extra: object) -> snn.LIFBoxCell:
    p = LIFBoxParameters(
        tau_mem_inv=torch.tensor(TAU_MEM_INV),
        v_leak=torch.tensor(V_LEAK),
        v_th=torch.tensor(V_TH),
        v_reset=torch.tensor(V_RESET),
        **extra,
    )
    return snn.LIFBoxCell(p, dt=DT)


def iaf() -> snn.IAFCell:
    return snn.IAFCell(IAFParameters(v_th=torch.tensor(V_TH), v_reset=torch.tensor(V_RESET)))


def li() -> snn.LICell:
    return snn.LICell(LI_P, dt=DT)


def li_box() -> snn.LIBoxCell:
    p = LIBoxParameters(tau_mem_inv=torch.tensor(TAU_MEM_INV), v_leak=torch.tensor(V_LEAK))
    return snn.LIBoxCell(p, dt=DT)


def recurrent(autapses: bool = False) -> snn.LIFRecurrentCell:
    return snn.LIFRecurrentCell(4, 6, LIF_P, autapses=autapses, dt=DT)


# --- the networks of the brief ------------------------------------------------------


def mlp() -> torch.nn.Module:
    return snn.SequentialState(
        torch.nn.Linear(10, 5), lif(), torch.nn.Linear(5, 3, bias=False), lif()
    )


def recurrent_net() -> torch.nn.Module:
    return snn.SequentialState(recurrent(), torch.nn.Linear(6, 2), li())


def iaf_net() -> torch.nn.Module:
    return snn.SequentialState(torch.nn.Linear(10, 4), iaf())


def lif_box_net() -> torch.nn.Module:
    return snn.SequentialState(torch.nn.Linear(10, 4), lif_box())


def li_readout() -> torch.nn.Module:
    return snn.SequentialState(torch.nn.Linear(10, 4), lif(), torch.nn.Linear(4, 2), li())


def conv_net() -> torch.nn.Module:
    return snn.SequentialState(
        torch.nn.Conv2d(1, 4, 3, padding=1, bias=False),  # (4, 8, 8)
        lif(),
        SumPool2d(2),  # (4, 4, 4)
        torch.nn.Flatten(),  # (64,)
        torch.nn.Linear(64, 3),
        lif(),
    )


NETWORKS = {
    "mlp": (mlp, (10,)),
    "recurrent": (recurrent_net, (4,)),
    "iaf": (iaf_net, (10,)),
    "lif_box": (lif_box_net, (10,)),
    "li_readout": (li_readout, (10,)),
    "conv": (conv_net, (1, 8, 8)),
}


# --- helpers --------------------------------------------------------------------------


def fields(node: nir.NIRNode) -> dict[str, object]:
    """A node's stored parameters (what nir.write writes), without derived types."""
    return {
        f.name: getattr(node, f.name)
        for f in dataclasses.fields(node)
        if f.name not in ("input_type", "output_type", "metadata")
    }


def assert_numpy_only(graph: nir.NIRGraph) -> None:
    for name, node in graph.nodes.items():
        assert not isinstance(node, nir.NIRGraph), f"nested graph {name}"
        for key, value in fields(node).items():
            assert not isinstance(value, torch.Tensor), f"{name}.{key} is a torch tensor"
            if isinstance(node, nir.Input | nir.Output | nir.Flatten | nir.Conv2d):
                continue  # shapes / geometry are ints
            if isinstance(node, nir.SumPool2d | nir.AvgPool2d):
                assert isinstance(value, np.ndarray) and value.dtype == np.int64, key
                assert value.shape == (2,), key
            else:
                assert isinstance(value, np.ndarray), f"{name}.{key}: {type(value)}"
                assert value.dtype in (np.float32, np.float64), f"{name}.{key}: {value.dtype}"


def assert_io(graph: nir.NIRGraph, in_shape: tuple[int, ...], out_shape: tuple[int, ...]):
    assert [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)] == ["input"]
    assert [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)] == ["output"]
    np.testing.assert_array_equal(graph.nodes["input"].input_type["input"], in_shape)
    np.testing.assert_array_equal(graph.nodes["output"].output_type["output"], out_shape)


def chain(*names: str) -> set[tuple[str, str]]:
    return set(itertools.pairwise(names))


def types(graph: nir.NIRGraph) -> dict[str, type]:
    return {name: type(node) for name, node in graph.nodes.items()}


def assert_cuba_lif(node: nir.NIRNode, shape: tuple[int, ...]) -> None:
    assert isinstance(node, nir.CubaLIF)
    expected = {
        "tau_syn": TAU_SYN,  # 1 / tau_syn_inv, in seconds, not dt / tau_syn_inv
        "tau_mem": TAU_MEM,
        "r": 1.0,
        "v_leak": V_LEAK,
        "v_threshold": V_TH,
        "v_reset": V_RESET,
        "w_in": TAU_SYN / DT,  # 2.5: norse's full current jump i += x
    }
    for key, value in expected.items():
        array = getattr(node, key)
        assert array.shape == shape, key
        np.testing.assert_allclose(array, value, rtol=1e-12, err_msg=key)


def assert_weights(array: np.ndarray, tensor: torch.Tensor) -> None:
    assert isinstance(array, np.ndarray)
    np.testing.assert_array_equal(array, tensor.detach().numpy())


# --- networks -----------------------------------------------------------------------


def test_mlp_graph():
    net = mlp()
    graph = to_nir(net, torch.rand(10), DT)
    assert types(graph) == {
        "input": nir.Input,
        "0": nir.Affine,
        "1": nir.CubaLIF,
        "2": nir.Linear,
        "3": nir.CubaLIF,
        "output": nir.Output,
    }
    assert set(graph.edges) == chain("input", "0", "1", "2", "3", "output")
    assert graph.metadata == {"dt": DT, "source": "norse", "exporter": "spikeforge"}
    assert_weights(graph.nodes["0"].weight, net[0].weight)
    assert_weights(graph.nodes["0"].bias, net[0].bias)
    assert_weights(graph.nodes["2"].weight, net[2].weight)
    assert_cuba_lif(graph.nodes["1"], (5,))
    assert_cuba_lif(graph.nodes["3"], (3,))
    assert_io(graph, (10,), (3,))
    assert_numpy_only(graph)


def test_batched_sample_gives_the_unbatched_graph():
    net = mlp()
    graph = to_nir(net, torch.rand(7, 10), DT)
    assert_io(graph, (10,), (3,))
    assert_cuba_lif(graph.nodes["1"], (5,))
    conv = to_nir(conv_net(), torch.rand(2, 1, 8, 8), DT)
    assert_io(conv, (1, 8, 8), (3,))


def test_recurrent_cell_is_a_flat_cycle():
    net = recurrent_net()
    graph = to_nir(net, torch.rand(4), DT)
    assert types(graph) == {
        "input": nir.Input,
        "0.input_linear": nir.Linear,
        "0.lif": nir.CubaLIF,
        "0.recurrent_linear": nir.Linear,
        "1": nir.Affine,
        "2": nir.CubaLI,
        "output": nir.Output,
    }
    assert set(graph.edges) == {
        ("input", "0.input_linear"),
        ("0.input_linear", "0.lif"),
        ("0.lif", "0.recurrent_linear"),
        ("0.recurrent_linear", "0.lif"),
        ("0.lif", "1"),
        ("1", "2"),
        ("2", "output"),
    }
    assert len(graph.edges) == 7  # no duplicates
    assert_weights(graph.nodes["0.input_linear"].weight, net[0].input_weights)
    assert_weights(graph.nodes["0.recurrent_linear"].weight, net[0].recurrent_weights)
    assert graph.nodes["0.input_linear"].weight.shape == (6, 4)
    assert_cuba_lif(graph.nodes["0.lif"], (6,))
    assert_io(graph, (4,), (2,))
    assert_numpy_only(graph)


@pytest.mark.parametrize("autapses", [False, True])
def test_recurrent_autapses(autapses):
    cell = recurrent(autapses)
    weights = to_nir(cell, torch.rand(4), DT).nodes["0.recurrent_linear"].weight
    assert (np.diag(weights) == 0).all() == (not autapses)
    assert_weights(weights, cell.recurrent_weights)


def test_recurrent_weights_are_what_norse_multiplies_with():
    # norse zeroes autapses once in __init__, not in forward: a diagonal loaded later
    # is used as-is, so the export must carry the stored matrix.
    cell = recurrent(autapses=False)
    state = cell.state_dict()
    state["recurrent_weights"] = torch.randn(6, 6)
    cell.load_state_dict(state)
    assert (cell.recurrent_weights.diagonal() != 0).all()
    graph = to_nir(cell, torch.rand(4), DT)

    z = torch.ones(1, 6)
    prev = snn.LIFState(z=z, v=torch.zeros(1, 6), i=torch.zeros(1, 6))
    with torch.no_grad():
        _, after = cell(torch.zeros(1, 4), prev)
    w_rec = graph.nodes["0.recurrent_linear"].weight
    expected = (w_rec @ z[0].numpy()) * (1 - DT / graph.nodes["0.lif"].tau_syn)
    np.testing.assert_allclose(after.i[0].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_iaf_net():
    graph = to_nir(iaf_net(), torch.rand(10), DT)
    assert types(graph) == {"input": nir.Input, "0": nir.Affine, "1": nir.IF, "output": nir.Output}
    node = graph.nodes["1"]
    np.testing.assert_array_equal(node.r, np.ones(4))
    np.testing.assert_array_equal(node.v_threshold, np.full(4, V_TH))
    np.testing.assert_array_equal(node.v_reset, np.full(4, V_RESET))
    assert set(graph.edges) == chain("input", "0", "1", "output")
    assert graph.metadata["dt"] == DT
    assert_numpy_only(graph)


def test_lif_box_net():
    graph = to_nir(lif_box_net(), torch.rand(10), DT)
    node = graph.nodes["1"]
    assert isinstance(node, nir.LIF)
    np.testing.assert_allclose(node.tau, np.full(4, TAU_MEM), rtol=1e-12)
    np.testing.assert_array_equal(node.r, np.ones(4))
    np.testing.assert_array_equal(node.v_leak, np.full(4, V_LEAK))
    np.testing.assert_array_equal(node.v_threshold, np.full(4, V_TH))
    np.testing.assert_array_equal(node.v_reset, np.full(4, V_RESET))
    assert set(graph.edges) == chain("input", "0", "1", "output")
    assert_numpy_only(graph)


def test_lif_box_subtractive_reset_is_refused():
    net = snn.SequentialState(torch.nn.Linear(10, 4), lif_box(reset_method=reset_subtract))
    with pytest.raises(SpikeforgeError, match=r"'1' \(LIFBoxCell\).*reset_subtract"):
        to_nir(net, torch.rand(10), DT)


def test_li_readout():
    graph = to_nir(li_readout(), torch.rand(10), DT)
    assert types(graph)["3"] is nir.CubaLI
    node = graph.nodes["3"]
    np.testing.assert_allclose(node.tau_syn, np.full(2, TAU_SYN), rtol=1e-12)
    np.testing.assert_allclose(node.tau_mem, np.full(2, TAU_MEM), rtol=1e-12)
    np.testing.assert_allclose(node.w_in, np.full(2, TAU_SYN / DT), rtol=1e-12)
    np.testing.assert_array_equal(node.r, np.ones(2))
    np.testing.assert_array_equal(node.v_leak, np.full(2, V_LEAK))
    assert set(graph.edges) == chain("input", "0", "1", "2", "3", "output")
    assert_io(graph, (10,), (2,))
    assert_numpy_only(graph)


def test_conv_net():
    net = conv_net()
    graph = to_nir(net, torch.rand(1, 8, 8), DT)
    assert types(graph) == {
        "input": nir.Input,
        "0": nir.Conv2d,
        "1": nir.CubaLIF,
        "2": nir.SumPool2d,
        "3": nir.Flatten,
        "4": nir.Affine,
        "5": nir.CubaLIF,
        "output": nir.Output,
    }
    assert set(graph.edges) == chain("input", "0", "1", "2", "3", "4", "5", "output")
    conv = graph.nodes["0"]
    assert tuple(conv.input_shape) == (8, 8)
    assert_weights(conv.weight, net[0].weight)
    np.testing.assert_array_equal(conv.bias, np.zeros(4))
    assert tuple(conv.padding) == (1, 1) and tuple(conv.stride) == (1, 1)
    assert_cuba_lif(graph.nodes["1"], (4, 8, 8))  # per neuron of the conv's output
    pool = graph.nodes["2"]
    for key in ("kernel_size", "stride"):
        np.testing.assert_array_equal(getattr(pool, key), [2, 2])
    np.testing.assert_array_equal(pool.padding, [0, 0])
    flat = graph.nodes["3"]
    assert (flat.start_dim, flat.end_dim) == (0, 2)
    np.testing.assert_array_equal(flat.input_type["input"], [4, 4, 4])
    np.testing.assert_array_equal(flat.output_type["output"], [64])
    assert_cuba_lif(graph.nodes["5"], (3,))
    assert_io(graph, (1, 8, 8), (3,))
    assert_numpy_only(graph)


def test_plain_module_uses_attribute_names():
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(10, 5)
            self.lif1 = lif()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z, _ = self.lif1(self.fc1(x))
            return z

    graph = to_nir(Net(), torch.rand(10), DT)
    assert set(graph.nodes) == {"input", "fc1", "lif1", "output"}
    assert set(graph.edges) == chain("input", "fc1", "lif1", "output")


def test_nested_containers_use_dotted_paths():
    net = snn.SequentialState(torch.nn.Sequential(torch.nn.Linear(10, 5)), lif())
    graph = to_nir(net, torch.rand(10), DT)
    assert set(graph.edges) == chain("input", "0.0", "1", "output")


# --- every supported module on its own ------------------------------------------------


@pytest.mark.parametrize(
    ("make", "shape", "expected"),
    [
        (lambda: torch.nn.Linear(10, 3), (10,), nir.Affine),
        (lambda: torch.nn.Linear(10, 3, bias=False), (10,), nir.Linear),
        (lambda: torch.nn.Conv2d(2, 3, 3), (2, 6, 6), nir.Conv2d),
        (lambda: torch.nn.Flatten(), (2, 3, 4), nir.Flatten),
        (lambda: torch.nn.AvgPool2d(2), (2, 6, 6), nir.AvgPool2d),
        (lambda: torch.nn.LPPool2d(1, 2), (2, 6, 6), nir.SumPool2d),
        (lambda: SumPool2d(3), (2, 6, 6), nir.SumPool2d),
        (lif, (5,), nir.CubaLIF),
        (lif_box, (5,), nir.LIF),
        (li, (5,), nir.CubaLI),
        (li_box, (5,), nir.LI),
        (iaf, (5,), nir.IF),
        (recurrent, (4,), nir.CubaLIF),
    ],
)
def test_each_supported_module(make, shape, expected):
    module = make()
    graph = to_nir(module, torch.rand(*shape), DT)
    layers = {k: n for k, n in graph.nodes.items() if not isinstance(n, nir.Input | nir.Output)}
    if isinstance(module, snn.LIFRecurrentCell):
        assert set(layers) == {"0.input_linear", "0.lif", "0.recurrent_linear"}
        layers = {"0": layers["0.lif"]}
    assert list(layers) == ["0"] and isinstance(layers["0"], expected)
    with torch.no_grad():
        out = module(torch.rand(1, *shape))
    out = out[0] if isinstance(out, tuple) else out
    assert_io(graph, shape, tuple(out.shape[1:]))
    assert graph.metadata["dt"] == DT
    assert_numpy_only(graph)


def test_neuron_parameters_broadcast_per_neuron():
    p = LIF_P._replace(v_th=torch.tensor([0.5, 0.75, 1.0]))
    graph = to_nir(snn.LIFCell(p, dt=DT), torch.rand(3), DT)
    np.testing.assert_array_equal(graph.nodes["0"].v_threshold, [0.5, 0.75, 1.0])
    np.testing.assert_array_equal(graph.nodes["0"].v_leak, np.full(3, V_LEAK))


@pytest.mark.parametrize(
    ("flatten", "start", "end", "out"),
    [
        (torch.nn.Flatten(), 0, 2, [24]),
        (torch.nn.Flatten(2), 1, 2, [2, 12]),
        (torch.nn.Flatten(1, 2), 0, 1, [6, 4]),
        (torch.nn.Flatten(-2, -1), 1, 2, [2, 12]),
    ],
)
def test_flatten_dims_become_unbatched(flatten, start, end, out):
    node = to_nir(flatten, torch.rand(2, 3, 4), DT).nodes["0"]
    assert (node.start_dim, node.end_dim) == (start, end)
    np.testing.assert_array_equal(node.input_type["input"], [2, 3, 4])
    np.testing.assert_array_equal(node.output_type["output"], out)


def test_flattening_the_batch_is_refused():
    with pytest.raises(SpikeforgeError, match="batch"):
        to_nir(torch.nn.Flatten(0), torch.rand(2, 3), DT)


@pytest.mark.parametrize(
    ("kwargs", "padding"),
    [
        ({"kernel_size": 3, "padding": "same"}, (1, 1)),
        ({"kernel_size": 3, "padding": "valid"}, (0, 0)),
        ({"kernel_size": 3, "padding": (2, 1)}, (2, 1)),
        ({"kernel_size": 3, "padding": "same", "dilation": 2}, (2, 2)),
    ],
)
def test_conv_padding_is_integers(kwargs, padding):
    conv = torch.nn.Conv2d(2, 3, **kwargs)
    node = to_nir(conv, torch.rand(2, 7, 7), DT).nodes["0"]
    assert tuple(int(p) for p in node.padding) == padding
    with torch.no_grad():
        out_shape = conv(torch.rand(1, 2, 7, 7)).shape[1:]
    np.testing.assert_array_equal(node.output_type["output"], out_shape)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize(
    ("module", "match"),
    [
        (torch.nn.Conv2d(2, 3, 4, padding="same"), "asymmetric"),
        (torch.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), "padding_mode"),
        (torch.nn.AvgPool2d(2, ceil_mode=True), "ceil_mode"),
        (torch.nn.AvgPool2d(2, padding=1, count_include_pad=False), "count_include_pad"),
        (torch.nn.LPPool2d(2, 2), "norm_type"),
    ],
)
def test_inexact_layer_options_are_refused(module, match):
    with pytest.raises(SpikeforgeError, match=match):
        to_nir(module, torch.rand(2, 7, 7), DT)


def test_avg_pool_geometry():
    node = to_nir(torch.nn.AvgPool2d((2, 3), stride=1, padding=1), torch.rand(2, 7, 7), DT)
    pool = node.nodes["0"]
    np.testing.assert_array_equal(pool.kernel_size, [2, 3])
    np.testing.assert_array_equal(pool.stride, [1, 1])
    np.testing.assert_array_equal(pool.padding, [1, 1])


def test_sum_pool_module_sums():
    x = torch.rand(2, 3, 6, 6)
    expected = x.unfold(2, 2, 2).unfold(3, 2, 2).sum(dim=(-1, -2))
    torch.testing.assert_close(SumPool2d(2)(x), expected)
    strided = SumPool2d(2, stride=1)
    assert strided.stride == (1, 1)
    torch.testing.assert_close(strided(x), x.unfold(2, 2, 1).unfold(3, 2, 1).sum(dim=(-1, -2)))


# --- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name", "type_name"),
    [
        (snn.SequentialState(torch.nn.Linear(10, 4), torch.nn.ReLU()), "1", "ReLU"),
        (snn.SequentialState(torch.nn.Linear(10, 4), snn.LIFAdExCell()), "1", "LIFAdExCell"),
        (snn.SequentialState(snn.LIF(), torch.nn.Linear(10, 4)), "0", "LIF"),
        (torch.nn.Sequential(torch.nn.Dropout(), torch.nn.Linear(10, 4)), "0", "Dropout"),
    ],
)
def test_unsupported_module_is_named(module, name, type_name):
    with pytest.raises(SpikeforgeError, match=rf"'{name}' \({type_name}\)") as error:
        to_nir(module, torch.rand(10), DT)
    assert "LIFCell" in str(error.value)  # lists what is supported


def test_untraceable_forward_is_a_spikeforge_error():
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(10, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.fc(x))

    with pytest.raises(SpikeforgeError, match="trace"):
        to_nir(Net(), torch.rand(10), DT)


def test_dt_must_match_the_cells():
    with pytest.raises(SpikeforgeError, match=r"'1' \(LIFCell\).*dt=0.002.*dt=0.001"):
        to_nir(mlp(), torch.rand(10), 0.001)


def test_sample_of_the_wrong_rank_is_refused():
    with pytest.raises(SpikeforgeError, match="does not fit"):
        to_nir(mlp(), torch.rand(2, 3, 10), DT)


# --- files ----------------------------------------------------------------------------


def assert_same_graph(a: nir.NIRGraph, b: nir.NIRGraph) -> None:
    assert types(a) == types(b)
    assert set(a.edges) == set(b.edges) and len(a.edges) == len(b.edges)
    assert a.metadata == b.metadata
    assert float(b.metadata["dt"]) == DT
    for name, node in a.nodes.items():
        other = b.nodes[name]
        for key, value in fields(node).items():
            stored = fields(other)[key]
            np.testing.assert_array_equal(stored, value, err_msg=f"{name}.{key}")
            if isinstance(value, np.ndarray) and isinstance(stored, np.ndarray):
                assert stored.dtype == value.dtype, f"{name}.{key}"
        for side in ("input_type", "output_type"):
            for key, shape in getattr(node, side).items():
                np.testing.assert_array_equal(getattr(other, side)[key], shape)


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_round_trip(tmp_path: Path, network: str):
    make, shape = NETWORKS[network]
    graph = to_nir(make(), torch.rand(*shape), DT)
    first = tmp_path / "first.nir"
    assert write_nir(graph, first) == first
    read = nir.read(first)
    assert_same_graph(graph, read)
    second = tmp_path / "second.nir"
    write_nir(read, second)
    assert_same_graph(graph, nir.read(second))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.nir", "second.nir"]


def torch_graph() -> nir.NIRGraph:
    """What norse's own to_nir produces: torch tensors inside the nodes."""
    layer = torch.nn.Linear(3, 2)
    nodes = {
        "input": nir.Input(input_type=np.array([3])),
        "fc": nir.Affine(weight=layer.weight.detach(), bias=layer.bias.detach()),
        "output": nir.Output(output_type=np.array([2])),
    }
    return nir.NIRGraph(nodes, [("input", "fc"), ("fc", "output")], type_check=False)


def test_torch_tensors_are_refused_before_writing(tmp_path: Path):
    target = tmp_path / "net.nir"
    with pytest.raises(SpikeforgeError, match=r"'fc' \(Affine\) field 'weight'"):
        write_nir(torch_graph(), target)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path: Path):
    target = tmp_path / "net.nir"
    good = to_nir(mlp(), torch.rand(10), DT)
    write_nir(good, target)
    before = target.read_bytes()
    # An object h5py cannot store: nir.write fails after writing part of the file.
    bad = to_nir(mlp(), torch.rand(10), DT)
    bad.metadata["unstorable"] = object()
    with pytest.raises(SpikeforgeError, match="cannot write"):
        write_nir(bad, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.nir"]

    fresh = tmp_path / "fresh.nir"
    with pytest.raises(SpikeforgeError):
        write_nir(bad, fresh)
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["net.nir"]


def test_unwritable_directory_is_a_spikeforge_error(tmp_path: Path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    target = blocker / "net.nir"
    with pytest.raises(SpikeforgeError, match="cannot write"):
        write_nir(to_nir(mlp(), torch.rand(10), DT), target)
    assert not target.exists()
