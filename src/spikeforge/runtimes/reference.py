"""The ground truth: the normalised network simulated in float64 torch, exactly as written.

Every other stage (Lava float, Lava fixed point, the emulator) is measured against
this; for a norse export it equals running the norse module itself.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from spikeforge.compile.network import Network, Population
from spikeforge.errors import SpikeforgeError
from spikeforge.runtimes.matrices import device_matrix, times
from spikeforge.runtimes.options import DEFAULT_OPTIONS, RunOptions
from spikeforge.runtimes.result import (
    RunResult,
    checked_record,
    compute_readouts,
    prepare_inputs,
    readout_sources,
    replay_steps,
    squeeze_batch,
)


def evaluation_order(network: Network) -> list[str]:
    """Populations ordered so that zero-delay sources are computed first within a step."""
    deps = {name: set() for name in network.populations}
    for conn in network.connections:
        if conn.delay == 0 and conn.pre in network.populations:
            deps[conn.post].add(conn.pre)
    order: list[str] = []
    done: set[str] = set()
    while deps:
        ready = [n for n, d in deps.items() if d <= done]
        if not ready:
            raise SpikeforgeError(
                f"populations {sorted(deps)} feed each other with zero delay (algebraic loop)"
            )
        for name in ready:
            order.append(name)
            done.add(name)
            del deps[name]
    return order


def fire(v: torch.Tensor, v_th: torch.Tensor, pop: Population) -> torch.Tensor:
    """Spikes (float64) of one step: ``v > theta`` or ``v >= theta``, or a count.

    The count is sinabs' MultiSpike, ``(v > 0) * trunc(v / theta)``, in that form
    so that it equals sinabs' own arithmetic.
    """
    if pop.multi_spike:
        return torch.where(v > 0, torch.div(v, v_th, rounding_mode="trunc"), 0.0)
    above = v >= v_th if pop.threshold == ">=" else v > v_th
    return above.to(torch.float64)


def calibrate_on(inputs: np.ndarray | Mapping[str, np.ndarray]):
    """A ``calibration`` for :func:`spikeforge.compile.compile_network`: the float
    reference's peak states on ``inputs`` (``[batch, time, *shape]``)."""

    def peaks(network: Network) -> dict[str, np.ndarray]:
        return run_reference(network, inputs).peaks

    return peaks


def run_reference(
    network: Network,
    inputs: np.ndarray | Mapping[str, np.ndarray],
    options: RunOptions = DEFAULT_OPTIONS,
    bias_source: bool = False,
) -> RunResult:
    """Simulate ``network`` on ``[batch, time, *shape]`` inputs; record ``options.record``.

    ``options.on_step`` is replayed every source step's spikes after the run, with an
    always-on ``BIAS_SOURCE`` when ``bias_source`` (the compiled plan has one), so the
    float model's activity is counted like the hardware's. The other options are the
    hardware backends' (:func:`spikeforge.runtimes.run` refuses them here).
    """
    record = checked_record(network, options.record)
    on_step = options.on_step
    flat, added_batch = prepare_inputs(network, inputs)
    batch, steps = next(iter(flat.values())).shape[:2]
    keep = readout_sources(network) | set(record)
    if on_step is not None:
        keep |= {n for n, p in network.populations.items() if p.spiking}
    order = evaluation_order(network)
    history = network.max_delay + 1

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float64))

    pops = network.populations
    signal = {
        n: torch.zeros(history, batch, network.size_of(n), dtype=torch.float64)
        for n in [*flat, *pops]
    }
    u = {n: torch.zeros(batch, p.size, dtype=torch.float64) for n, p in pops.items()}
    v = {n: tensor(p.start).expand(batch, -1).clone() for n, p in pops.items()}
    # Spikes of the previous step, for the resets that act one step late.
    pending = {n: torch.zeros(batch, p.size, dtype=torch.float64) for n, p in pops.items()}
    incoming = {
        n: [
            (c.pre, c.delay, device_matrix(c.weight, torch.float64, torch.device("cpu")))
            for c in network.incoming(n)
        ]
        for n in pops
    }
    params = {
        n: {
            "du": tensor(p.du), "dv": tensor(p.dv), "v_bias": tensor(p.v_bias),
            "i_bias": tensor(p.current_bias),
            "v_th": None if p.v_th is None else tensor(p.v_th), "v_reset": tensor(p.v_reset),
        }
        for n, p in pops.items()
    }  # fmt: skip
    trace_s = {n: np.zeros((batch, steps, pops[n].size)) for n in keep if n in pops}
    trace_v = {n: np.zeros((batch, steps, pops[n].size)) for n in record}
    peaks = {n: torch.zeros(3, p.size, dtype=torch.float64) for n, p in pops.items()}
    for t in range(steps):
        slot = t % history
        for name, arr in flat.items():
            signal[name][slot] = tensor(arr[:, t])
        for name in order:
            p, pop = params[name], pops[name]
            x = torch.zeros(batch, pop.size, dtype=torch.float64)
            for pre, delay, w_t in incoming[name]:
                if delay <= t:
                    x = x + times(signal[pre][(t - delay) % history], w_t)
            if t >= pop.bias_onset:
                x = x + p["i_bias"]
            u[name] = (1 - p["du"]) * u[name] + x
            v[name] = (1 - p["dv"]) * v[name] + u[name] + p["v_bias"]
            if pop.reset == "subtract_next":
                v[name] = v[name] - p["v_th"] * pending[name]
            elif pop.reset == "zero_next":
                late = pending[name].bool()
                v[name] = torch.where(late, p["v_reset"].expand_as(v[name]), v[name])
            peaks[name] = torch.maximum(
                peaks[name],
                torch.stack([u[name].abs(), v[name] - p["v_reset"], p["v_reset"] - v[name]]).amax(
                    dim=1
                ),
            )
            if p["v_th"] is None:
                out = v[name]
            else:
                out = fire(v[name], p["v_th"], pop)
                if pop.reset == "to_value":
                    v[name] = torch.where(out.bool(), p["v_reset"], v[name])
                elif pop.reset == "subtract":
                    v[name] = v[name] - out * p["v_th"]
                else:
                    pending[name] = out
            signal[name][slot] = out
            if name in trace_s:
                trace_s[name][:, t] = out.numpy()
            if name in trace_v:
                trace_v[name][:, t] = v[name].numpy()
    if on_step is not None:
        spiking = {n: trace for n, trace in trace_s.items() if pops[n].spiking}
        replay_steps(flat, spiking, steps, bias_source, on_step)
    signals = {**flat, **trace_s}
    outputs = compute_readouts(network, signals)
    result = RunResult(
        outputs=outputs,
        spikes={
            n: trace_s[n].reshape(batch, steps, *pops[n].shape) for n in record if pops[n].spiking
        },
        v={n: trace_v[n].reshape(batch, steps, *pops[n].shape) for n in record},
        steps=steps,
        peaks={n: t.numpy() for n, t in peaks.items()},
    )
    return squeeze_batch(result) if added_batch else result
