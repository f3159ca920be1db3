"""The source model as a runtime: a norse module stepped over time, in float64 when compared.

Every stage of a profile is measured against the norse module it came from, so the
profiler (below the model zoo) needs to run one; it lives here, beside the other
ways spikeforge runs a network.
"""

from __future__ import annotations

import torch


def run_norse(module: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Step a norse cell network over ``[batch, time, *shape]``; returns ``[batch, time, *out]``."""
    state = None
    outputs = []
    with torch.no_grad():
        for t in range(inputs.shape[1]):
            out, state = module(inputs[:, t], state)
            outputs.append(out)
    return torch.stack(outputs, dim=1)


def in_float64(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` computing in float64 throughout, for comparison with the float64 reference.

    ``Module.double()`` misses norse's neuron parameters (tensors in a named tuple
    ``cell.p``, not registered parameters), so ``dt * tau_mem_inv`` would stay a float32
    product: a 1e-8 relative difference from the reference whenever ``dt/tau`` is not
    exact in float32 (e.g. ``tau = 10 ms``).
    """
    module = module.double().eval()
    for cell in module.modules():
        p = getattr(cell, "p", None)
        if isinstance(p, tuple) and hasattr(p, "_fields"):
            cell.p = type(p)(
                *(v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
                  for v in p)
            )  # fmt: skip
    return module
