"""Small norse networks covering every construct the spine supports.

They double as test fixtures and checkpoint factories (``spikeforge.models.examples:NAME``).
Time constants are chosen so that ``dt/tau`` is a multiple of 1/4096 — exactly
representable in Loihi's 12-bit decays — because a deployable model should be
Loihi-compatible by construction; weights are seeded so every call is reproducible.
"""

from __future__ import annotations

import norse.torch as norse
import numpy as np
import torch

from spikeforge.export import SumPool2d

# Re-exported: the examples are stepped and compared in float64 with these.
from spikeforge.runtimes.norse import in_float64 as in_float64
from spikeforge.runtimes.norse import run_norse as run_norse

DT = 1e-3
#: dt/tau_syn = 1/4 and dt/tau_mem = 1/8: exact in 12 bits.
TAU_SYN_INV = 250.0
TAU_MEM_INV = 125.0


def _lif_params(v_th: float) -> norse.LIFParameters:
    return norse.LIFParameters(
        tau_syn_inv=torch.tensor(TAU_SYN_INV),
        tau_mem_inv=torch.tensor(TAU_MEM_INV),
        v_th=torch.tensor(v_th),
    )


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)


def lif_mlp(n_in: int = 20, n_hidden: int = 30, n_out: int = 5, seed: int = 0) -> torch.nn.Module:
    """Linear (with bias) -> LIFCell -> Linear (with bias) -> LIFCell."""
    _seeded(seed)
    return norse.SequentialState(
        torch.nn.Linear(n_in, n_hidden),
        norse.LIFCell(_lif_params(0.3), dt=DT),
        torch.nn.Linear(n_hidden, n_out),
        norse.LIFCell(_lif_params(0.3), dt=DT),
    )


def lifbox_mlp(
    n_in: int = 20, n_hidden: int = 30, n_out: int = 5, seed: int = 1
) -> torch.nn.Module:
    """Linear -> LIFBoxCell (no synaptic current) -> Linear -> LIFBoxCell."""
    _seeded(seed)
    params = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(TAU_MEM_INV), v_th=torch.tensor(0.1))
    return norse.SequentialState(
        torch.nn.Linear(n_in, n_hidden, bias=False),
        norse.LIFBoxCell(params, dt=DT),
        torch.nn.Linear(n_hidden, n_out, bias=False),
        norse.LIFBoxCell(params, dt=DT),
    )


def recurrent(n_in: int = 20, n_hidden: int = 25, n_out: int = 5, seed: int = 2) -> torch.nn.Module:
    """LIFRecurrentCell (a cycle) -> Linear -> LIFCell."""
    _seeded(seed)
    return norse.SequentialState(
        norse.LIFRecurrentCell(n_in, n_hidden, _lif_params(0.3), dt=DT),
        torch.nn.Linear(n_hidden, n_out, bias=False),
        norse.LIFCell(_lif_params(0.3), dt=DT),
    )


def iaf_mlp(n_in: int = 20, n_hidden: int = 30, n_out: int = 5, seed: int = 3) -> torch.nn.Module:
    """Linear -> IAFCell -> Linear -> IAFCell (no leak)."""
    _seeded(seed)
    params = norse.IAFParameters(v_th=torch.tensor(0.5))
    return norse.SequentialState(
        torch.nn.Linear(n_in, n_hidden, bias=False),
        norse.IAFCell(params, dt=DT),
        torch.nn.Linear(n_hidden, n_out, bias=False),
        norse.IAFCell(params, dt=DT),
    )


def conv_net(channels: int = 4, n_out: int = 5, seed: int = 4) -> torch.nn.Module:
    """Conv2d -> LIFCell -> SumPool2d -> Flatten -> Linear -> LIFCell on (1, 8, 8) input."""
    _seeded(seed)
    return norse.SequentialState(
        torch.nn.Conv2d(1, channels, kernel_size=3, bias=False),
        norse.LIFCell(_lif_params(0.3), dt=DT),
        SumPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(channels * 3 * 3, n_out, bias=False),
        norse.LIFCell(_lif_params(0.3), dt=DT),
    )


#: name -> (factory, shape of one input step)
EXAMPLES = {
    "lif_mlp": (lif_mlp, (20,)),
    "lifbox_mlp": (lifbox_mlp, (20,)),
    "recurrent": (recurrent, (20,)),
    "iaf_mlp": (iaf_mlp, (20,)),
    "conv_net": (conv_net, (1, 8, 8)),
}


def random_spikes(
    name: str, batch: int, steps: int, calibration_batch: int = 4, rate: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded Bernoulli spike inputs for the example ``name``, and separate calibration inputs.

    Fixed-point scales are calibrated on the second array, never on the first, so a
    measurement on the first is one on unseen data; the tests and
    ``scripts/fixed_agreement.py`` draw from the same seeds.
    """
    shape = EXAMPLES[name][1]
    rng = np.random.default_rng(sum(map(ord, name)))
    inputs = (rng.random((batch, steps, *shape)) < rate).astype(np.float64)
    calibration = (rng.random((calibration_batch, steps, *shape)) < rate).astype(np.float64)
    return inputs, calibration
