"""Lava's sigma-delta processes for a plan's SDNN populations, built as netx builds them.

A population with ``sdn`` set becomes ``Delta``, ``SigmaDelta`` (ReLU, no cumulative
error) or ``Sigma`` from :mod:`lava.proc.sdn`, with netx's ``spike_exp``/``state_exp``
(Lava scales ``vth`` and ``bias`` by ``2^(spike_exp + state_exp)`` itself). Its ``v`` is
read from the process state :data:`STATE_VAR` names, as the emulator reports it.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.process import AbstractProcess
from lava.proc.sdn.process import ActivationMode, Delta, Sigma, SigmaDelta

from spikeforge.compile.lower import CorePopulation
from spikeforge.errors import UnsupportedError
from spikeforge.runtimes.emulator.sdn import STATE_VAR


def sdn_process(pop: CorePopulation, fixed: bool) -> AbstractProcess:
    """The Lava process of one sigma-delta population (fixed point, as netx runs them)."""
    if not fixed:
        raise UnsupportedError(
            f"population {pop.name}: sigma-delta (netx SDNN) layers run at fixed precision only"
        )
    shape = tuple(pop.shape) if pop.shape else (pop.size,)
    if pop.sdn == "sigma":
        return Sigma(shape=shape)
    exps = {"spike_exp": pop.spike_exp, "state_exp": pop.state_exp}
    if pop.sdn == "delta":
        return Delta(shape=shape, vth=int(pop.vth), **exps)
    bias = np.asarray(pop.bias_mant).astype(np.int32).reshape(shape)
    return SigmaDelta(
        shape=shape, vth=int(pop.vth), bias=bias, act_mode=ActivationMode.RELU, **exps
    )


def state_var(process: AbstractProcess, pop: CorePopulation):
    """The Lava Var reported as the population's ``v``."""
    return getattr(process, STATE_VAR[pop.sdn] if pop.sdn else "v")
