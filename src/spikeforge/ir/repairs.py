"""Repairs of other frameworks' NIR exports, each made only where the graph leaves no doubt.

Exporters leave out what their own importer does not need. Each repair here names
the exporter it answers, fills in only a value the rest of the graph determines,
and says so in one :class:`~spikeforge.ir.conventions.ConventionWarning` line:

* sinabs 3.1 writes a Conv2d without ``input_shape`` and a Flatten without
  ``input_type`` (``sinabs/nir.py``); nir 1.0.8's reader then fails on the missing
  required field. spikeforge never reads either (every shape is propagated from the
  Input node), so :func:`read_graph` reads such a file with them empty.
* sinabs' LIF carries a scalar ``tau``/``v_threshold`` (one per layer); the
  population's size is the output size of the Affine/Linear that feeds it.
* Rockpool 3.1 writes its Input with the sample's batch dimension (``(1, n)``);
  dropped where the Affine/Linear it feeds takes ``n`` inputs. Its exporter also
  omits the ``LIFTorch`` bias and recurrent weights ``w_rec`` (and leaves ``w_in``
  at NIR's default 1); those are lost from the file, so nothing can restore them.
  It records no ``dt`` but writes ``r`` from it: :func:`rockpool_dt` recovers it.
* Spyx 0.1.20 writes Haiku's ``(in, out)`` weight matrices untransposed (NIR's are
  ``(out, in)``; its exporter always does), and an LIF's ``r`` as its decay
  ``beta`` where Spyx adds the input unscaled; ``tau = dt/(1 - beta)`` then holds
  for every neuron with one ``dt``, which identifies the file (and gives ``r =
  tau/dt = 1/(1 - beta)``). Its exporter writes ``v_threshold = 1`` whatever the
  LIF's ``threshold``: that is lost from the file.

Framework-specific repairs run only under that framework's ``--from`` preset.
"""

from __future__ import annotations

import dataclasses
import warnings

import nir
import numpy as np

from spikeforge.ir.conventions import Conventions, ConventionWarning

#: Shape fields an exporter may leave out, which spikeforge derives from the Input.
_SHAPE_FIELDS = {"Conv1d": "input_shape", "Conv2d": "input_shape", "Flatten": "input_type"}
_NEURON_FIELDS = ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")


def fill_shape_fields(data: dict) -> None:
    """Let a node dict whose only fault is a missing shape field be read without it.

    ``data`` is a NIR graph as ``nir.serialization.hdf2dict`` reads it; each missing
    entry of :data:`_SHAPE_FIELDS` becomes ``None`` (spikeforge takes every shape from
    the Input node), with one warning naming the nodes.
    """
    filled = _fill_shape_fields(data, "")
    if filled:
        warnings.warn(
            f"{', '.join(filled)} written without their input shape (as sinabs' exporter "
            "does); shapes are taken from the Input node",
            ConventionWarning,
            stacklevel=3,
        )


def _fill_shape_fields(data: dict, prefix: str) -> list[str]:
    """Set each missing entry of :data:`_SHAPE_FIELDS` to ``None``; the names of those nodes."""
    filled: list[str] = []
    for name, node in (data.get("nodes") or {}).items():
        kind = node.get("type")
        if kind == "NIRGraph":
            filled += _fill_shape_fields(node, f"{prefix}{name}.")
        elif kind in _SHAPE_FIELDS and _SHAPE_FIELDS[kind] not in node:
            node[_SHAPE_FIELDS[kind]] = None
            filled.append(f"{kind} '{prefix}{name}'")
    return filled


def repair(graph: nir.NIRGraph, conv: Conventions) -> nir.NIRGraph:
    """``graph`` with the repairs its framework's exporter needs (module docstring)."""
    if conv.framework == "sinabs":
        return _broadcast_scalar_neurons(graph, conv.framework)
    if conv.framework == "rockpool":
        return _drop_input_batch(graph, conv.framework)
    if conv.framework == "spyx":
        return _spyx(graph)
    return graph


def _spyx(graph: nir.NIRGraph) -> nir.NIRGraph:
    """Transpose Spyx's weights; give its LIF ``r = 1/(1 - beta)`` where ``r`` is ``beta``."""
    nodes = dict(graph.nodes)
    fixed: list[str] = []
    for name, node in graph.nodes.items():
        if isinstance(node, (nir.Affine, nir.Linear)):
            nodes[name] = dataclasses.replace(node, weight=np.asarray(node.weight).T)
            fixed.append(f"weights of '{name}' transposed")
        elif isinstance(node, nir.LIF):
            tau, r = np.asarray(node.tau, float), np.asarray(node.r, float)
            dt = tau * (1 - r)
            if np.all((r > 0) & (r < 1)) and np.allclose(dt, dt.flat[0], rtol=1e-5):
                nodes[name] = dataclasses.replace(node, r=1 / (1 - r))
                fixed.append(f"r of '{name}' (written as beta) set to 1/(1 - beta)")
    if not fixed:
        return graph
    warnings.warn(f"spyx's exporter: {'; '.join(fixed)}", ConventionWarning, stacklevel=4)
    return _rebuilt(graph, nodes)


def _drop_input_batch(graph: nir.NIRGraph, framework: str) -> nir.NIRGraph:
    """Input shapes ``(1, n)`` read as ``(n,)`` where every map they feed takes ``n``."""
    nodes = dict(graph.nodes)
    repaired: list[str] = []
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.Input):
            continue
        shape = np.atleast_1d(np.asarray(node.input_type["input"])).astype(int)
        if shape.size < 2 or shape[0] != 1:
            continue
        targets = [graph.nodes[post] for pre, post in graph.edges if pre == name]
        if not targets or not all(
            isinstance(t, (nir.Affine, nir.Linear))
            and np.shape(t.weight)[1] == int(np.prod(shape))
            for t in targets
        ):
            continue
        nodes[name] = nir.Input(input_type={"input": shape[1:]})
        repaired.append(f"'{name}' {tuple(int(s) for s in shape)}")
    if not repaired:
        return graph
    warnings.warn(
        f"{framework}'s exporter keeps the sample's batch dimension: Input {', '.join(repaired)} "
        "read without it",
        ConventionWarning,
        stacklevel=4,
    )
    return _rebuilt(graph, nodes)


def rockpool_dt(graph: nir.NIRGraph) -> float | None:
    """The dt Rockpool's exporter wrote into ``r``, where every CubaLIF agrees on one.

    Rockpool 3.1 writes ``r = tau_mem * exp(-dt/tau_mem) / dt``
    (``rockpool/nn/modules/torch/nir.py``, ``LIFTorch``), so with ``a = dt/tau_mem``,
    ``r = exp(-a)/a``, which falls strictly with ``a``: one ``a`` per neuron, found by
    bisection, rounded to the six digits float32 keeps. ``None`` when there is no
    such node or the neurons disagree beyond float32 (the file was not written so).
    """
    found: list[np.ndarray] = []
    for node in graph.nodes.values():
        if isinstance(node, nir.CubaLIF):
            r, tau = (np.asarray(v, np.float64).ravel() for v in (node.r, node.tau_mem))
            if not (np.all(r > 0) and np.all(tau > 0)):
                return None
            found.append(_inverse_exp_over(r) * tau)
    if not found:
        return None
    dts = np.concatenate(found)
    if not np.allclose(dts, dts[0], rtol=1e-4):
        return None
    # r is float32 in the file: six significant digits give back the dt Rockpool ran.
    return float(f"{np.median(dts):.6g}")


def _inverse_exp_over(r: np.ndarray) -> np.ndarray:
    """``a > 0`` with ``exp(-a)/a = r`` (strictly falling from infinity to 0), per entry."""
    low, high = np.full(r.shape, 1e-12), np.full(r.shape, 1e3)
    for _ in range(200):
        mid = np.sqrt(low * high)
        above = np.exp(-mid) / mid > r
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    return np.sqrt(low * high)


def _rebuilt(graph: nir.NIRGraph, nodes: dict[str, nir.NIRNode]) -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes=nodes, edges=list(graph.edges), metadata=dict(graph.metadata or {}), type_check=False
    )


def _broadcast_scalar_neurons(graph: nir.NIRGraph, framework: str) -> nir.NIRGraph:
    """Give a neuron with scalar parameters the size of the Affine/Linear feeding it."""
    nodes = dict(graph.nodes)
    repaired: list[str] = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            nodes[name] = _broadcast_scalar_neurons(node, framework)
            continue
        fields = [f for f in _NEURON_FIELDS if getattr(node, f, None) is not None]
        if not fields or any(np.ndim(getattr(node, f)) != 0 for f in fields):
            continue
        sources = [graph.nodes[pre] for pre, post in graph.edges if post == name]
        if len(sources) != 1 or not isinstance(sources[0], (nir.Affine, nir.Linear)):
            continue  # no single map that fixes the size: left to the importer's refusal
        size = int(np.shape(sources[0].weight)[0])
        values = {f: np.full(size, float(getattr(node, f))) for f in fields}
        nodes[name] = dataclasses.replace(node, **values)
        repaired.append(f"'{name}'")
    if not repaired:
        return graph
    warnings.warn(
        f"{framework}'s exporter writes one scalar per layer: neuron node(s) "
        f"{', '.join(repaired)} sized by the Affine/Linear that feeds each",
        ConventionWarning,
        stacklevel=4,
    )
    return _rebuilt(graph, nodes)
