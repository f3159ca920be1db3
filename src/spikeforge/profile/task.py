"""The task metric of a user's own model: decode each stage's output and score it on labels.

Agreement (:mod:`spikeforge.profile.agreement`) says how close a stage is to the
source model; the task metric says how well it does the job — what a user asks
first ("how much accuracy is lost in fixed point?"). A *decoder* turns an output
``[batch, time, *shape]`` into per-sample scores ``[batch, n]``:

* ``max-count``: spikes summed over time (a spiking output's rate code);
* ``max-voltage``: the largest value each neuron reached (a voltage readout);
* ``last-voltage``: the value on the last step (a readout that integrates);
* or any callable ``output -> predictions``.

Integer labels ``[batch]`` make it a classification: the prediction is the
highest-scoring neuron and the metric is **accuracy (%)**. Float labels shaped like
the scores make it a regression, scored by **rel. error** RMS(pred - y) / RMS(y).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from spikeforge.errors import SpikeforgeError
from spikeforge.profile.agreement import relative_error
from spikeforge.profile.stages import Profile

Decoder = Callable[[np.ndarray], np.ndarray]
#: A user's own task metric: ``metric(predictions, labels) -> float``.
Metric = Callable[[np.ndarray, np.ndarray], float]
ACCURACY = "accuracy"
REGRESSION = "rel. error vs labels"


def _flat(output: np.ndarray) -> np.ndarray:
    output = np.asarray(output, dtype=np.float64)
    return output.reshape(*output.shape[:2], -1)


DECODERS: dict[str, Decoder] = {
    "max-count": lambda out: _flat(out).sum(axis=1),
    "max-voltage": lambda out: _flat(out).max(axis=1),
    "last-voltage": lambda out: _flat(out)[:, -1],
}


def get_decoder(decoder: str | Decoder) -> Decoder:
    """A decoder by name, or the callable itself; unknown names list the known ones."""
    if callable(decoder):
        return decoder
    if decoder not in DECODERS:
        raise SpikeforgeError(
            f"unknown decoder {decoder!r} (decoders: {', '.join(DECODERS)}, or a Python callable)"
        )
    return DECODERS[decoder]


@dataclass(frozen=True)
class TaskMetric:
    """How a stage's output is scored against labels: its name, unit and, for a
    user's metric, the function (``None``: accuracy or relative error, by name)."""

    name: str
    unit: str
    decoder: str
    function: Metric | None = None

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "unit": self.unit, "decoder": self.decoder}

    def score(self, predictions: np.ndarray, labels: np.ndarray) -> float:
        if self.function is not None:
            return float(self.function(predictions, labels))
        if self.name == ACCURACY:
            if predictions.ndim == 2:
                predictions = predictions.argmax(axis=1)
            return float(100.0 * np.mean(predictions.reshape(labels.shape) == labels))
        return relative_error(predictions, labels)


def metric_for(
    labels: np.ndarray, decoder: str | Decoder = "max-count", function: Metric | None = None
) -> TaskMetric:
    """Classification for integer class labels ``[batch]``, regression for float labels;
    a user's ``function`` is named after itself."""
    shown = decoder if isinstance(decoder, str) else getattr(decoder, "__name__", "custom")
    if function is not None:
        return TaskMetric(getattr(function, "__name__", "metric"), "", shown, function)
    if np.issubdtype(labels.dtype, np.integer) and labels.ndim == 1:
        return TaskMetric(ACCURACY, "%", shown)
    if np.issubdtype(labels.dtype, np.floating):
        return TaskMetric(REGRESSION, "", shown)
    raise SpikeforgeError(
        f"labels: expected integer class indices [batch] or float targets, got dtype "
        f"{labels.dtype} with shape {list(labels.shape)}"
    )


def add_task_metric(
    profile: Profile,
    labels: np.ndarray,
    decoder: str | Decoder = "max-count",
    function: Metric | None = None,
) -> TaskMetric:
    """Score every stage of ``profile`` on ``labels``: the metric becomes each row's
    first metric and the profile's headline (``profile.task``)."""
    outputs = list(profile.compiled.network.readouts)
    if len(outputs) != 1:
        raise SpikeforgeError(
            f"labels score a network's one output; this one has {len(outputs)}: {outputs}"
        )
    metric, values = score_outputs([row.output for row in profile.rows], labels, decoder, function)
    for row, value in zip(profile.rows, values, strict=True):
        row.metrics = {metric.name: value, **row.metrics}
    profile.task = metric
    return metric


def score_outputs(
    outputs: Sequence[np.ndarray],
    labels: np.ndarray,
    decoder: str | Decoder = "max-count",
    function: Metric | None = None,
) -> tuple[TaskMetric, list[float]]:
    """The task metric of each output (one per stage) on ``labels``, and which metric it is."""
    labels = np.asarray(labels)
    decode = get_decoder(decoder)
    metric = metric_for(labels, decoder, function)
    values = []
    for output in outputs:
        if len(labels) != len(output):
            raise SpikeforgeError(
                f"labels: {len(labels)} entries for {len(output)} samples (is the input "
                "time-first? pass time_axis=0 / --time-first)"
            )
        predictions = np.asarray(decode(output))
        if metric.name == REGRESSION and predictions.shape != labels.shape:
            raise SpikeforgeError(
                f"labels: {list(labels.shape)} float targets, but the decoder gives "
                f"{list(predictions.shape)} predictions"
            )
        values.append(metric.score(predictions, labels))
    return metric, values
