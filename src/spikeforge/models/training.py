"""Surrogate-gradient BPTT for the zoo's classifiers: one loop, a fresh data draw per epoch.

Cross-entropy on the time-averaged output voltage (scaled by ``gain``, so the logits
span a useful range without large output weights, which would cost fixed-point
resolution on Loihi). Training runs on one thread: stepping a small network one time
step at a time is too fine-grained for torch's intra-op threads, and on a busy
2-core machine two threads were measured at 13 min where one takes 25 s (motor_srnn,
same weights bit for bit).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from spikeforge.models.zoo import Dataset
from spikeforge.progress import progress


def mean_output(module: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The module's output averaged over time, ``[batch, time, ...] -> [batch, ...]``."""
    state = None
    total = 0.0
    for t in range(inputs.shape[1]):
        out, state = module(inputs[:, t], state)
        total = total + out
    return total / inputs.shape[1]


def train_classifier(
    module: torch.nn.Module,
    draw: Callable[[int], Dataset],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    gain: float,
    desc: str,
    show_progress: bool = True,
) -> torch.nn.Module:
    """Adam with a cosine schedule; ``draw(epoch)`` gives that epoch's training set."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        optimiser = torch.optim.Adam(module.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
        for epoch in progress(range(epochs), desc=desc, enabled=show_progress):
            data = draw(epoch)
            inputs, targets = torch.as_tensor(data.inputs), torch.as_tensor(data.targets)
            order = torch.randperm(len(data))
            for start in range(0, len(data), batch_size):
                index = order[start : start + batch_size]
                logits = gain * mean_output(module, inputs[index])
                loss = torch.nn.functional.cross_entropy(logits, targets[index])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            schedule.step()
    finally:
        torch.set_num_threads(threads)
    return module.eval()
