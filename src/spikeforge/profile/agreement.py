"""How a stage's outputs compare with the source model's, one definition per kind of output.

* **spike agreement** (spiking outputs): the share of output entries equal to the
  source's. Spikes are 0 or 1, so equality is the only meaningful comparison.
* **decision agreement** (voltage / readout outputs, e.g. an LI layer or a linear
  readout): the share of (sample, step) pairs whose largest output neuron is the
  source's; undefined (None) for a one-neuron output, which decides nothing.
* **relative error** (every output): RMS(output - source) / RMS(source), the absolute
  RMS when the source is all zero. For a readout this is the figure that says how
  close it is: equality of float voltages is not expected (5e-16 is agreement).

A stage is **exact** when its relative error is zero: every entry equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    """A stage against the source; a field is None where no output of that kind exists."""

    spike_agreement: float | None
    decision_agreement: float | None
    relative_error: float

    @property
    def exact(self) -> bool:
        return self.relative_error == 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready; a stage with nothing to compare with (NaN error) gives None."""
        error = self.relative_error if np.isfinite(self.relative_error) else None
        return {**vars(self), "relative_error": error, "exact": self.exact}


def spike_agreement(got: np.ndarray, expected: np.ndarray) -> float:
    """Share of entries of ``got`` equal to ``expected`` (1 for empty outputs)."""
    expected = np.asarray(expected)
    if not expected.size:
        return 1.0
    return float((np.asarray(got).reshape(expected.shape) == expected).mean())


def decision_agreement(got: np.ndarray, expected: np.ndarray) -> float | None:
    """Share of ``[batch, time]`` positions whose argmax over the output neurons matches."""
    expected = np.asarray(expected)
    neurons = int(np.prod(expected.shape[2:]))
    if neurons < 2 or not expected.size:
        return None
    flat = expected.reshape(*expected.shape[:2], neurons)
    mine = np.asarray(got).reshape(flat.shape)
    return float((mine.argmax(axis=-1) == flat.argmax(axis=-1)).mean())


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """RMS(got - expected) / RMS(expected); the absolute RMS when ``expected`` is all zero."""
    expected = np.asarray(expected, dtype=np.float64)
    if not expected.size:
        return 0.0
    got = np.asarray(got, dtype=np.float64).reshape(expected.shape)
    diff = float(np.sqrt(np.mean((got - expected) ** 2)))
    norm = float(np.sqrt(np.mean(expected**2)))
    return diff / norm if norm > 0 else diff


def compare(
    outputs: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    spiking: Mapping[str, bool],
) -> Agreement:
    """Every output in ``truth`` against ``outputs`` (cut to the truth's steps).

    ``spiking[name]`` says which outputs are spikes; the shares are taken over all
    entries (positions) of the outputs of that kind, the error over all outputs.
    """
    got = {n: np.asarray(outputs[n])[:, : t.shape[1]].reshape(t.shape) for n, t in truth.items()}
    spikes = [n for n in truth if spiking[n]]
    readouts = [n for n in truth if not spiking[n]]

    def joined(names: list[str], source: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(source[n], dtype=np.float64).ravel() for n in names])

    decisions = [
        (decision_agreement(got[n], truth[n]), int(np.prod(truth[n].shape[:2]))) for n in readouts
    ]
    decisions = [(share, weight) for share, weight in decisions if share is not None]
    names = list(truth)
    return Agreement(
        spike_agreement=spike_agreement(joined(spikes, got), joined(spikes, truth))
        if spikes
        else None,
        decision_agreement=(
            sum(s * w for s, w in decisions) / sum(w for _, w in decisions) if decisions else None
        ),
        relative_error=relative_error(joined(names, got), joined(names, truth)),
    )
