"""spikeforge.ir.nir_import: real snnTorch exports, hand-built NIR graphs, refusals.

Three kinds of check:

* snnTorch's own NIR export (``snntorch.export_to_nir``) is read back from disk,
  compiled, and run on the reference and on Lava floating point, which must agree
  exactly; where snnTorch's discrete dynamics are the same as NIR's, the reference
  must also agree with stepping the snnTorch module itself.
* Hand-built NIR graphs (dt in their metadata) are compared with literal numpy
  loops of the NIR equations, so the discretisation conventions of the module
  docstring (``cuba_order``, IF, LI, delays, maps) are pinned down independently of
  the importer's canonical form.
* Everything spikeforge cannot reproduce is refused with the node or population named.

snnTorch details found while writing these (snntorch 1.0.0, nirtorch 2.6):

* ``export_nir.py:68/95/136`` hard-code ``dt = 1e-4`` (``tau = dt / (1 - beta)``,
  ``r = tau / dt``, ``w_in = tau_syn / dt``) but write no dt into the graph, so a
  load without ``dt=1e-4`` must be refused rather than guessed.
* Reset timing: with the default ``reset_delay=True`` the reset is decided from the
  previous step's membrane (``neurons.py:102-107`` ``mem_reset`` at
  ``leaky.py:209``). For ``Leaky`` with ``reset_mechanism="zero"`` this only
  changes what ``mem`` *reports* (the unreset value on a spike step,
  ``leaky.py:245-247`` zeroes it one step later, before integrating): spikes are
  those of NIR's reset-to-value. For ``Synaptic`` and ``RLeaky`` the delayed zero
  reset zeroes the whole *next* step's membrane, input included
  (``synaptic.py:271-286``, ``rleaky.py:405-408``): an extra refractory step that
  NIR cannot express. With ``reset_delay=False`` (``leaky.py:222-229``) all three
  reset on the spike step and match NIR exactly; those are the cases compared.
* The default ``reset_mechanism="subtract"`` with ``reset_delay=True`` subtracts the
  threshold one step late, after the decay (``leaky.py:242-243``: ``mem[t+1] =
  beta*mem[t] + x - thr``): spikeforge's ``reset="subtract_next"`` (``--from
  snntorch``), where ``reset="subtract"`` subtracts on the spike step
  (``beta*(mem[t] - thr)``). Both run as spikeforge's SfLif on Lava.
* The spike condition is strict, ``mem - threshold > 0`` (``surrogate.py:190``),
  as in spikeforge. The surrogate returns float32 spikes even for a float64
  module, which breaks a float64 ``RLeaky`` (``rleaky.py:398`` feeds them to its
  float64 recurrent Linear), so the float64 comparisons pass a dtype-preserving
  Heaviside as ``spike_grad``.
* ``RLeaky`` is exported as a ``NIRGraph`` (``export_nir.py:147``), but nirtorch
  inlines it into the top-level graph as nodes ``'1.lif'`` and ``'1.w_rec'``
  (``nirtorch/to_nir.py:81-101``), so nested NIRGraph nodes are tested by hand.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch.export_nir import export_to_nir

from spikeforge.compile.compiled import compile_network
from spikeforge.compile.network import normalize
from spikeforge.errors import SpikeforgeError, UnsupportedError
from spikeforge.ir.nir_import import from_nir, load_nir
from spikeforge.runtimes import run
from spikeforge.runtimes.options import RunOptions
from spikeforge.runtimes.reference import run_reference

SNNTORCH_DT = 1e-4  # what snnTorch's exporter assumes (export_nir.py:68)
DT = 1e-3  # the hand-built graphs: not snnTorch's, so a dt mix-up shows
N_IN, N = 8, 6


# ---------------------------------------------------------------- helpers


def _write(tmp_path: Path, graph: nir.NIRGraph, name: str = "net") -> Path:
    path = tmp_path / f"{name}.nir"
    nir.write(path, graph)
    return path


def _spike_train(seed: int, steps: int, n: int, p: float = 0.4) -> np.ndarray:
    return (np.random.default_rng(seed).random((steps, n)) < p).astype(np.float64)


def _heaviside(x: torch.Tensor) -> torch.Tensor:
    """snnTorch's forward spike function, but keeping the dtype (see module docstring)."""
    return (x > 0).to(x.dtype)


def _snntorch_net(
    kind: str, reset_delay: bool, seed: int, one_tau: bool = False, **extra: object
) -> torch.nn.Sequential:
    """Linear + one snnTorch layer, every neuron parameter a per-neuron tensor.

    Thresholds always differ across neurons; decay rates too unless ``one_tau``
    (Lava's LIF takes one du and dv per layer).
    """
    torch.manual_seed(seed)
    kwargs = {
        "beta": torch.full((N,), 0.9) if one_tau else torch.linspace(0.8, 0.95, N),
        "threshold": torch.linspace(0.3, 0.8, N),
        "init_hidden": True,
        "reset_mechanism": "zero",
        "reset_delay": reset_delay,
        **extra,
    }
    if kind == "leaky":
        cell = snn.Leaky(**kwargs)
    elif kind == "synaptic":
        alpha = torch.full((N,), 0.6) if one_tau else torch.linspace(0.5, 0.7, N)
        cell = snn.Synaptic(alpha=alpha, **kwargs)
    else:
        cell = snn.RLeaky(all_to_all=True, linear_features=N, **kwargs)
    return torch.nn.Sequential(torch.nn.Linear(N_IN, N), cell)


def _step_snntorch(net: torch.nn.Sequential, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the module itself one step at a time: spikes and (reported) membrane."""
    cell = net[1]
    cell.reset_mem()
    spikes, mem = [], []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out = net(torch.as_tensor(x[t : t + 1], dtype=torch.float64))
            spikes.append(out[0].numpy().copy())
            mem.append(cell.mem[0].numpy().copy())
    return np.array(spikes), np.array(mem)


def _population(graph) -> str:
    (name,) = graph.neurons()
    return name


def _reference(graph, x: np.ndarray, record: tuple[str, ...] = ()):
    return run_reference(normalize(graph), x, RunOptions(record=record))


def _io(n: int | tuple[int, ...]) -> tuple[nir.Input, nir.Output]:
    shape = np.atleast_1d(np.array(n))
    return nir.Input(input_type=shape), nir.Output(output_type=shape)


def _chain(
    *nodes: tuple[str, nir.NIRNode],
    n_in: int | tuple[int, ...],
    n_out: int,
    dt: float | None = DT,
) -> nir.NIRGraph:
    """Input -> nodes... -> Output as a NIRGraph, dt in its metadata."""
    inp, _ = _io(n_in)
    _, out = _io(n_out)
    names = ["input", *(name for name, _ in nodes), "output"]
    return nir.NIRGraph(
        nodes={"input": inp, **dict(nodes), "output": out},
        edges=list(itertools.pairwise(names)),
        metadata={} if dt is None else {"dt": dt},
    )


def _cuba_params(rng: np.random.Generator, variant: str) -> dict[str, np.ndarray]:
    """CubaLIF parameters: one tau per layer (Lava), everything else per neuron."""
    p = {
        "tau_syn": np.full(N, 5e-3),
        "tau_mem": np.full(N, 1e-2),
        "r": rng.uniform(1.5, 2.5, N),
        "w_in": rng.uniform(0.8, 1.6, N),
        "v_threshold": rng.uniform(0.4, 0.9, N),
        "v_leak": np.zeros(N),
        "v_reset": np.zeros(N),
    }
    if variant == "leak_and_reset":
        p["v_leak"] = rng.uniform(0.05, 0.3, N)
        p["v_reset"] = rng.uniform(-0.4, -0.1, N)
    elif variant == "reset_only":
        p["v_reset"] = rng.uniform(-0.4, -0.1, N)
    return p


def _cuba_graph(seed: int, variant: str, bias: bool) -> tuple[nir.NIRGraph, dict]:
    rng = np.random.default_rng(seed)
    weight = rng.normal(0.0, 0.6, (N, N_IN))
    b = rng.normal(0.1, 0.1, N) if bias else np.zeros(N)
    p = _cuba_params(rng, variant)
    syn = nir.Affine(weight=weight, bias=b) if bias else nir.Linear(weight=weight)
    graph = _chain(("fc", syn), ("cuba", nir.CubaLIF(**p)), n_in=N_IN, n_out=N)
    return graph, {"weight": weight, "bias": b, **p}


def _cuba_loop(x: np.ndarray, p: dict, order: str) -> tuple[np.ndarray, np.ndarray]:
    """NIR's CubaLIF by forward Euler, written out literally: spikes and v after reset."""
    du, dv = DT / p["tau_syn"], DT / p["tau_mem"]
    i = np.zeros(N)
    v = np.zeros(N)
    spikes, volts = np.zeros((len(x), N)), np.zeros((len(x), N))
    for t in range(len(x)):
        i_prev = i
        i = (1 - du) * i + du * p["w_in"] * (p["weight"] @ x[t] + p["bias"])
        drive = i if order == "new" else i_prev
        v = v + dv * (p["v_leak"] - v + p["r"] * drive)
        z = v > p["v_threshold"]
        v = np.where(z, p["v_reset"], v)
        spikes[t], volts[t] = z, v
    return spikes, volts


def _assert_some_spikes(spikes: np.ndarray) -> None:
    """A comparison is only meaningful if neurons both spike and stay silent."""
    assert 0 < spikes.sum() < spikes.size, f"degenerate activity: {spikes.sum()} of {spikes.size}"


# ------------------------------------------------------ 1. snnTorch exports


@pytest.mark.parametrize(
    ("kind", "neuron_type", "population"),
    [("leaky", nir.LIF, "1"), ("synaptic", nir.CubaLIF, "1"), ("rleaky", nir.LIF, "1.lif")],
)
def test_snntorch_export_runs_identically_on_reference_and_lava_float(
    tmp_path, kind, neuron_type, population
):
    """snnTorch export (float32, Linear with bias) -> file -> compile: Lava float == reference.

    The Linear bias is a constant current: it must act from source step 0 on, not
    during the steps the hardware runs before source time (Lava's pre-roll).
    """
    net = _snntorch_net(kind, reset_delay=False, seed=3, one_tau=True)
    exported = export_to_nir(net, torch.zeros(N_IN))
    assert isinstance(exported.nodes[population], neuron_type)
    path = _write(tmp_path, exported, kind)

    graph = load_nir(path, dt=SNNTORCH_DT)
    assert graph.dt == SNNTORCH_DT
    if kind == "rleaky":
        recurrent = [e for e in graph.edges if e.post == "1.lif" and e.pre == "1.w_rec"]
        assert [e.delay for e in recurrent] == [1]
    compiled = compile_network(graph, precision="float")
    x = _spike_train(seed=4, steps=40, n=N_IN)[None]
    ref = run(compiled, x, backend="reference", record=[population])
    lava = run(compiled, x, backend="lava", precision="float", record=[population])

    _assert_some_spikes(ref.output)
    np.testing.assert_array_equal(lava.output, ref.output)
    np.testing.assert_array_equal(lava.spikes[population], ref.spikes[population])
    np.testing.assert_allclose(lava.v[population], ref.v[population], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["leaky", "synaptic", "rleaky"])
def test_snntorch_reset_on_spike_step_matches_snntorch_itself(tmp_path, kind):
    """Zero reset with ``reset_delay=False``: the reference steps exactly as snnTorch.

    Leaky: ``mem = beta*mem + x``; Synaptic: ``syn = alpha*syn + x``, ``mem = beta*mem
    + syn``; RLeaky: ``mem = beta*mem + x + W_rec @ spk[t-1] + b_rec``; spike if ``mem >
    threshold``, then ``mem = 0`` on the same step. In float64 throughout.
    """
    net = _snntorch_net(kind, reset_delay=False, seed=5, spike_grad=_heaviside).double()
    path = _write(tmp_path, export_to_nir(net, torch.zeros(N_IN, dtype=torch.float64)), kind)
    graph = load_nir(path, dt=SNNTORCH_DT)
    population = _population(graph)
    x = _spike_train(seed=6, steps=60, n=N_IN)

    result = _reference(graph, x, record=(population,))
    spikes, mem = _step_snntorch(net, x)

    _assert_some_spikes(spikes)
    np.testing.assert_array_equal(result.spikes[population], spikes)
    np.testing.assert_array_equal(result.output, spikes)
    # dt/tau recovers 1 - beta only to rounding (tau = dt / (1 - beta) in the file)
    np.testing.assert_allclose(result.v[population], mem, rtol=1e-9, atol=1e-12)


def test_snntorch_leaky_delayed_zero_reset_differs_only_in_reported_membrane(tmp_path):
    """Leaky's default ``reset_delay=True``: same spikes; mem is reported before its reset.

    On a spike step snnTorch reports the unreset membrane (above threshold) and zeroes
    it at the start of the next step; spikeforge's v is already the reset value.
    """
    net = _snntorch_net("leaky", reset_delay=True, seed=7, spike_grad=_heaviside).double()
    path = _write(tmp_path, export_to_nir(net, torch.zeros(N_IN, dtype=torch.float64)))
    graph = load_nir(path, dt=SNNTORCH_DT)
    x = _spike_train(seed=8, steps=60, n=N_IN)

    result = _reference(graph, x, record=("1",))
    spikes, mem = _step_snntorch(net, x)

    _assert_some_spikes(spikes)
    np.testing.assert_array_equal(result.spikes["1"], spikes)
    fired = spikes.astype(bool)
    assert (mem[fired] > net[1].threshold.numpy()[np.nonzero(fired)[1]]).all()
    np.testing.assert_array_equal(result.v["1"][fired], 0.0)
    np.testing.assert_allclose(result.v["1"][~fired], mem[~fired], rtol=1e-9, atol=1e-12)


def test_snntorch_default_subtractive_reset_compiles_to_spikeforge_neuron(tmp_path):
    """snnTorch's default reset subtracts the threshold; Lava's LIF cannot, SfLif can
    (exactness against snnTorch itself: tests/test_frameworks_snntorch.py)."""
    torch.manual_seed(9)
    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, N),
        snn.Leaky(beta=torch.full((N,), 0.9), threshold=torch.full((N,), 0.5), init_hidden=True),
    )
    assert net[1].reset_mechanism == "subtract"
    path = _write(tmp_path, export_to_nir(net, torch.zeros(N_IN)))
    graph = load_nir(path, dt=SNNTORCH_DT, reset="subtract")
    assert graph.nodes["1"].reset == "subtract"
    compiled = compile_network(graph)
    assert compiled.float_plan.populations["1"].reset == "subtract"
    assert not compiled.float_plan.populations["1"].standard


# ---------------------------------------------------------------- 2. dt


def test_missing_dt_is_refused_with_the_option_named(tmp_path):
    """snnTorch writes no dt: the user must give it; a contradicting dt is refused too."""
    net = _snntorch_net("leaky", reset_delay=False, seed=10)
    path = _write(tmp_path, export_to_nir(net, torch.zeros(N_IN)), "no_dt")
    with pytest.raises(SpikeforgeError, match=r"no_dt\.nir.*--dt"):
        load_nir(path)

    graph, _ = _cuba_graph(seed=11, variant="plain", bias=False)
    graph.metadata = {}
    with pytest.raises(SpikeforgeError, match="--dt"):
        from_nir(graph)
    graph.metadata = {"dt": DT}
    assert from_nir(graph).dt == DT
    with pytest.raises(SpikeforgeError, match="contradicts"):
        from_nir(graph, dt=2 * DT)


# ------------------------------------------------------- 3. CubaLIF orders


@pytest.mark.parametrize("order", ["new", "previous"])
@pytest.mark.parametrize(
    ("variant", "bias"), [("plain", True), ("leak_and_reset", False)], ids=["bias", "leak_reset"]
)
def test_cubalif_matches_nir_equations(tmp_path, order, variant, bias):
    """Input -> Affine/Linear -> CubaLIF -> Output against NIR's equations by hand.

    ``new``: v integrates this step's current (norse, snnTorch); ``previous``: the
    current of the step before (NIR's reference), the bias included.
    """
    graph, p = _cuba_graph(seed=12, variant=variant, bias=bias)
    x = _spike_train(seed=13, steps=80, n=N_IN)
    imported = load_nir(_write(tmp_path, graph), cuba_order=order)
    assert imported.dt == DT

    result = _reference(imported, x, record=("cuba",))
    spikes, volts = _cuba_loop(x, p, order)

    _assert_some_spikes(spikes)
    np.testing.assert_array_equal(result.spikes["cuba"], spikes)
    np.testing.assert_array_equal(result.output, spikes)
    np.testing.assert_allclose(result.v["cuba"], volts, rtol=1e-12, atol=1e-12)
    # the two orders really are different networks (so the test can tell them apart)
    other = _cuba_loop(x, p, "previous" if order == "new" else "new")[1]
    assert not np.allclose(other, volts, rtol=1e-6)


@pytest.mark.parametrize("order", ["new", "previous"])
def test_cubalif_nonzero_reset_on_lava_float(tmp_path, order):
    """v_reset != 0 (and per-neuron v_th): lowering shifts v by v_reset, exactly."""
    graph, p = _cuba_graph(seed=14, variant="reset_only", bias=True)
    imported = load_nir(_write(tmp_path, graph), cuba_order=order)
    compiled = compile_network(imported, precision="float")
    x = _spike_train(seed=15, steps=40, n=N_IN)[None]
    ref = run(compiled, x, record=["cuba"])
    lava = run(compiled, x, backend="lava", precision="float", record=["cuba"])

    _assert_some_spikes(ref.output)
    np.testing.assert_array_equal(ref.spikes["cuba"][0], _cuba_loop(x[0], p, order)[0])
    np.testing.assert_array_equal(lava.output, ref.output)
    np.testing.assert_allclose(lava.v["cuba"], ref.v["cuba"], rtol=1e-9, atol=1e-12)


def test_cubalif_leak_is_refused_for_lava(tmp_path):
    """v_leak != 0 with a synaptic current would act during Lava's pipeline-fill steps."""
    graph, _ = _cuba_graph(seed=14, variant="leak_and_reset", bias=False)
    with pytest.raises(UnsupportedError, match=r"population 'cuba'.*v_leak"):
        compile_network(load_nir(_write(tmp_path, graph)), precision="float")


def test_lif_leak_and_bias_on_lava_float_are_exact(tmp_path):
    """Without synaptic current the leak and Affine bias travel via the delayed bias neuron."""
    rng = np.random.default_rng(16)
    w, b = rng.normal(0, 0.5, (N, N_IN)), rng.normal(0.2, 0.1, N)
    p = {
        "tau": np.full(N, 8e-3),
        "r": rng.uniform(1.0, 3.0, N),
        "v_leak": rng.uniform(-0.1, 0.2, N),
        "v_threshold": rng.uniform(0.3, 0.8, N),
        "v_reset": rng.uniform(-0.3, 0.0, N),
    }
    graph = _chain(("fc", nir.Affine(weight=w, bias=b)), ("lif", nir.LIF(**p)), n_in=N_IN, n_out=N)
    compiled = compile_network(load_nir(_write(tmp_path, graph)), precision="float")
    x = _spike_train(seed=17, steps=40, n=N_IN)[None]
    ref = run(compiled, x, record=["lif"])
    lava = run(compiled, x, backend="lava", precision="float", record=["lif"])
    _assert_some_spikes(ref.output)
    np.testing.assert_array_equal(lava.output, ref.output)
    np.testing.assert_allclose(lava.v["lif"], ref.v["lif"], rtol=1e-9, atol=1e-12)


# ------------------------------------------------------ 4. other node types


def test_lif_matches_nir_equations(tmp_path):
    """LIF: v += dt/tau (v_leak - v + r (W x + b)); strict threshold; reset to v_reset."""
    rng = np.random.default_rng(20)
    w, b = rng.normal(0, 0.5, (N, N_IN)), rng.normal(0.2, 0.1, N)
    p = {
        "tau": rng.uniform(2e-3, 2e-2, N),  # may vary per neuron in the reference
        "r": rng.uniform(1.0, 3.0, N),
        "v_leak": rng.uniform(-0.1, 0.2, N),
        "v_threshold": rng.uniform(0.3, 0.8, N),
        "v_reset": rng.uniform(-0.3, 0.0, N),
    }
    graph = _chain(("fc", nir.Affine(weight=w, bias=b)), ("lif", nir.LIF(**p)), n_in=N_IN, n_out=N)
    x = _spike_train(seed=21, steps=80, n=N_IN)
    result = _reference(load_nir(_write(tmp_path, graph)), x, record=("lif",))

    v, spikes, volts = np.zeros(N), np.zeros((80, N)), np.zeros((80, N))
    for t in range(80):
        v = v + DT / p["tau"] * (p["v_leak"] - v + p["r"] * (w @ x[t] + b))
        z = v > p["v_threshold"]
        v = np.where(z, p["v_reset"], v)
        spikes[t], volts[t] = z, v
    _assert_some_spikes(spikes)
    np.testing.assert_array_equal(result.output, spikes)
    np.testing.assert_allclose(result.v["lif"], volts, rtol=1e-12, atol=1e-12)


def test_scale_and_if_add_r_times_input_per_step(tmp_path):
    """Scale multiplies elementwise; IF integrates without leak: v += r * x each step."""
    rng = np.random.default_rng(22)
    scale = rng.uniform(0.2, 1.0, N_IN)
    r = rng.uniform(0.5, 1.5, N_IN)
    v_th, v_reset = rng.uniform(1.0, 2.0, N_IN), rng.uniform(-0.5, 0.0, N_IN)
    graph = _chain(
        ("scale", nir.Scale(scale=scale)),
        ("if", nir.IF(r=r, v_threshold=v_th, v_reset=v_reset)),
        n_in=N_IN,
        n_out=N_IN,
    )
    x = _spike_train(seed=23, steps=60, n=N_IN)
    result = _reference(load_nir(_write(tmp_path, graph)), x, record=("if",))

    v, spikes, volts = np.zeros(N_IN), np.zeros((60, N_IN)), np.zeros((60, N_IN))
    for t in range(60):
        v = v + r * (scale * x[t])
        z = v > v_th
        v = np.where(z, v_reset, v)
        spikes[t], volts[t] = z, v
    _assert_some_spikes(spikes)
    np.testing.assert_array_equal(result.output, spikes)
    np.testing.assert_allclose(result.v["if"], volts, rtol=1e-12, atol=1e-12)


def test_li_output_is_its_membrane(tmp_path):
    """Linear -> LIF -> Linear -> LI: the output is the LI voltage, every step."""
    rng = np.random.default_rng(24)
    w1, w2 = rng.normal(0, 0.8, (N, N_IN)), rng.normal(0, 0.8, (3, N))
    lif = {
        "tau": np.full(N, 5e-3),
        "r": np.full(N, 2.0),
        "v_leak": np.zeros(N),
        "v_threshold": np.full(N, 0.3),
    }
    li = {"tau": rng.uniform(4e-3, 1e-2, 3), "r": rng.uniform(0.5, 2.0, 3), "v_leak": np.zeros(3)}
    li["v_leak"][0] = 0.1
    graph = _chain(
        ("fc1", nir.Linear(weight=w1)),
        ("lif", nir.LIF(**lif)),
        ("fc2", nir.Linear(weight=w2)),
        ("li", nir.LI(**li)),
        n_in=N_IN,
        n_out=3,
    )
    x = _spike_train(seed=25, steps=60, n=N_IN)
    result = _reference(load_nir(_write(tmp_path, graph)), x, record=("li",))

    v1, v2, hidden, out = np.zeros(N), np.zeros(3), np.zeros((60, N)), np.zeros((60, 3))
    for t in range(60):
        v1 = v1 + DT / lif["tau"] * (-v1 + lif["r"] * (w1 @ x[t]))
        z = v1 > lif["v_threshold"]
        v1 = np.where(z, 0.0, v1)
        v2 = v2 + DT / li["tau"] * (li["v_leak"] - v2 + li["r"] * (w2 @ z))
        hidden[t], out[t] = z, v2
    _assert_some_spikes(hidden)
    assert "li" not in result.spikes  # non-spiking
    np.testing.assert_allclose(result.output, out, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(result.v["li"], result.output)


def test_delay_node_is_whole_steps_per_element(tmp_path):
    """Delay of k*dt seconds is k steps (per element); not a multiple of dt: refused."""
    steps = np.array([0, 1, 3, 2, 0, 5, 1, 4])
    graph = _chain(
        ("delay", nir.Delay(delay=steps * DT)),
        ("relay", nir.IF(r=np.ones(N_IN), v_threshold=np.full(N_IN, 0.5), v_reset=np.zeros(N_IN))),
        n_in=N_IN,
        n_out=N_IN,
    )
    x = _spike_train(seed=26, steps=30, n=N_IN)
    result = _reference(load_nir(_write(tmp_path, graph)), x)
    expected = np.zeros_like(x)
    for i, k in enumerate(steps):
        expected[k:, i] = x[: len(x) - k, i]
    np.testing.assert_array_equal(result.output, expected)

    graph.nodes["delay"] = nir.Delay(delay=np.where(steps == 3, 2.5, steps) * DT)
    with pytest.raises(UnsupportedError, match=r"'delay' \(Delay\).*whole multiples"):
        load_nir(_write(tmp_path, graph, "bad_delay"))


def test_conv_pool_flatten_equal_torch_functional(tmp_path):
    """Conv2d (stride, padding, bias) -> AvgPool2d (padding) -> SumPool2d -> Flatten.

    Read through an LI with tau = dt and r = 1, whose voltage is then exactly its input
    of the step, so the output is the maps' value, compared with torch's operators.
    """
    rng = np.random.default_rng(27)
    c_in, hw = 2, 7
    weight, bias = rng.normal(0, 1, (3, c_in, 3, 3)), rng.normal(0, 1, 3)
    pair = np.array  # NIR stores pairs as arrays
    nodes = (
        ("conv", nir.Conv2d(input_shape=None, weight=weight, stride=pair([2, 2]),
                            padding=pair([1, 1]), dilation=pair([1, 1]), groups=1, bias=bias)),
        ("avg", nir.AvgPool2d(kernel_size=pair([2, 2]), stride=pair([1, 1]),
                              padding=pair([1, 1]))),
        ("sum", nir.SumPool2d(kernel_size=pair([2, 2]), stride=pair([2, 2]),
                              padding=pair([0, 0]))),
        ("flat", nir.Flatten(input_type=None, start_dim=0, end_dim=-1)),
        ("li", nir.LI(tau=np.full(12, DT), r=np.ones(12), v_leak=np.zeros(12))),
    )  # fmt: skip
    graph = _chain(*nodes, n_in=(c_in, hw, hw), n_out=12)
    x = rng.normal(0, 1, (5, c_in, hw, hw))
    imported = load_nir(_write(tmp_path, graph))
    result = _reference(imported, x)

    t = torch.as_tensor(x)
    y = F.conv2d(t, torch.as_tensor(weight), torch.as_tensor(bias), stride=2, padding=1)
    y = F.avg_pool2d(y, 2, stride=1, padding=1)  # count_include_pad=True, torch's default
    y = F.avg_pool2d(y, 2, stride=2, divisor_override=1)  # a sum pool
    expected = y.flatten(1).numpy()
    assert expected.shape == (5, 12)
    np.testing.assert_allclose(result.output, expected, rtol=1e-12, atol=1e-12)


def test_nested_nirgraph_is_inlined(tmp_path):
    """A recurrent layer as a nested NIRGraph equals the same layer written flat."""
    rng = np.random.default_rng(28)
    w, w_rec = rng.normal(0, 0.8, (N, N_IN)), rng.normal(0, 0.5, (N, N))
    b_rec = rng.normal(0, 0.1, N)

    def lif() -> nir.LIF:
        return nir.LIF(
            tau=np.full(N, 4e-3), r=np.full(N, 2.0), v_leak=np.zeros(N),
            v_threshold=np.full(N, 0.4), v_reset=np.zeros(N),
        )  # fmt: skip

    inner_in, inner_out = _io(N)
    sub = nir.NIRGraph(
        nodes={"input": inner_in, "lif": lif(), "rec": nir.Affine(weight=w_rec, bias=b_rec),
               "output": inner_out},
        edges=[("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
    )  # fmt: skip
    nested = _chain(("fc", nir.Linear(weight=w)), ("sub", sub), n_in=N_IN, n_out=N)
    flat = _chain(("fc", nir.Linear(weight=w)), ("lif", lif()), n_in=N_IN, n_out=N)
    flat.nodes["rec"] = nir.Affine(weight=w_rec, bias=b_rec)
    flat.edges += [("lif", "rec"), ("rec", "lif")]

    g_nested = load_nir(_write(tmp_path, nested, "nested"))
    g_flat = load_nir(_write(tmp_path, flat, "flat"))
    assert set(g_nested.nodes) == {"input", "fc", "sub.lif", "sub.rec", "output"}
    assert {(e.pre, e.post, e.delay) for e in g_nested.edges} == {
        ("input", "fc", 0), ("fc", "sub.lif", 0), ("sub.lif", "sub.rec", 0),
        ("sub.rec", "sub.lif", 1), ("sub.lif", "output", 0),
    }  # fmt: skip
    x = _spike_train(seed=29, steps=50, n=N_IN)
    out_nested = _reference(g_nested, x).output
    _assert_some_spikes(out_nested)
    np.testing.assert_array_equal(out_nested, _reference(g_flat, x).output)


def test_unsupported_node_types_are_named(tmp_path):
    """A node type spikeforge has no semantics for is refused with its name and type."""
    threshold = _chain(("thr", nir.Threshold(threshold=np.ones(N_IN))), n_in=N_IN, n_out=N_IN)
    with pytest.raises(UnsupportedError, match=r"node 'thr' has type Threshold"):
        load_nir(_write(tmp_path, threshold, "threshold"))

    inner_in, inner_out = _io(N_IN)
    sub = nir.NIRGraph(
        nodes={"input": inner_in, "integ": nir.I(r=np.ones(N_IN)), "output": inner_out},
        edges=[("input", "integ"), ("integ", "output")],
    )
    nested = _chain(("sub", sub), n_in=N_IN, n_out=N_IN)
    with pytest.raises(UnsupportedError, match=r"node 'sub\.integ' has type I\b"):
        load_nir(_write(tmp_path, nested, "nested_i"))
    with pytest.raises(UnsupportedError, match=r"node 'sub\.integ' has type I\b"):
        from_nir(nested)


@pytest.mark.parametrize("field", ["tau_mem", "tau_syn"])
def test_time_constant_varying_within_a_layer_is_split(tmp_path, field):
    """One Lava LIF holds one (du, dv): N different time constants become N parts
    (compile/split.py; their exactness is tests/test_split.py's)."""
    graph, _ = _cuba_graph(seed=30, variant="plain", bias=False)
    setattr(graph.nodes["cuba"], field, np.linspace(4e-3, 2e-2, N))
    compiled = compile_network(load_nir(_write(tmp_path, graph)))
    assert compiled.network.splits["cuba"].parts == [f"cuba#{k}" for k in range(N)]
    assert "cuba" not in compiled.fixed_plan.populations


def test_lif_tau_varying_within_a_layer_is_split(tmp_path):
    p = {
        "tau": np.linspace(4e-3, 2e-2, N), "r": np.ones(N), "v_leak": np.zeros(N),
        "v_threshold": np.ones(N),
    }  # fmt: skip
    graph = _chain(("fc", nir.Linear(weight=np.ones((N, N_IN)))), ("lif", nir.LIF(**p)),
                   n_in=N_IN, n_out=N)  # fmt: skip
    compiled = compile_network(load_nir(_write(tmp_path, graph)))
    assert len(compiled.network.splits["lif"].parts) == N


def test_loop_of_maps_only_is_an_algebraic_loop(tmp_path):
    """Affine -> Affine -> back, with no neuron in the loop: no step can be computed."""
    inp, out = _io(N)
    graph = nir.NIRGraph(
        nodes={
            "input": inp,
            "a": nir.Affine(weight=np.eye(N), bias=np.zeros(N)),
            "b": nir.Affine(weight=0.5 * np.eye(N), bias=np.zeros(N)),
            "output": out,
        },
        edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")],
        metadata={"dt": DT},
    )
    with pytest.raises(SpikeforgeError, match=r"nodes a, b.*algebraic loop"):
        load_nir(_write(tmp_path, graph))


def test_leaky_integrator_feeding_a_population_is_refused(tmp_path):
    """LI has no spikes to send: it can only be an output on Loihi."""
    li = nir.LI(tau=np.full(N, 5e-3), r=np.ones(N), v_leak=np.zeros(N))
    lif = nir.LIF(tau=np.full(N, 5e-3), r=np.ones(N), v_leak=np.zeros(N),
                  v_threshold=np.ones(N), v_reset=np.zeros(N))  # fmt: skip
    graph = _chain(
        ("fc", nir.Linear(weight=np.ones((N, N_IN)))),
        ("li", li),
        ("fc2", nir.Linear(weight=np.eye(N))),
        ("lif", lif),
        n_in=N_IN,
        n_out=N,
    )
    imported = load_nir(_write(tmp_path, graph))
    _reference(imported, _spike_train(seed=31, steps=5, n=N_IN))  # fine in source semantics
    with pytest.raises(UnsupportedError, match=r"population 'li' \(LI\) is non-spiking.*'lif'"):
        compile_network(imported)
