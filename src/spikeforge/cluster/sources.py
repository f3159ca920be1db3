"""What a sweep deploys: a NIR graph, a netx ``.net``, a ``.sfnet``, or a zoo model by name.

A zoo model brings its held-out set, its task metric and its norse outputs (the
source every point's agreement is measured against), and is compiled as
``spikeforge evaluate`` compiles it (``calibrate=train``: scales calibrated on its
training inputs). A file brings nothing but the network: inputs come from
``--input``, an accuracy from ``--labels`` (argmax of the output summed over time),
and agreement is with the graph's own float64 reference. A ``.sfnet`` is already
compiled, so the grid cannot vary its compile settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from spikeforge.cluster.grid import COMPILE_KEYS, Point
from spikeforge.cluster.sweep import SweepSource
from spikeforge.compile import SFNET_SUFFIX, load, load_or_compile
from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError


def open_source(
    target: str,
    load_array: Callable[[Path, str], np.ndarray],
    inputs: np.ndarray | None,
    labels: np.ndarray | None,
    n: int | None,
    seed: int = 0,
    dt: float | None = None,
) -> SweepSource:
    """``target`` as a sweep source; ``load_array(path, what)`` reads calibration ``.npy``."""
    path = Path(target)
    if path.is_file():
        if inputs is None:
            raise SpikeforgeError(f"{target}: --input X.npy is required for a network file")
        return _file_source(path, _first(inputs, n, "input"), labels, n, dt, load_array)
    from spikeforge.models.zoo import ZOO

    if target in ZOO:
        if inputs is not None or labels is not None:
            raise SpikeforgeError(
                f"zoo model {target} brings its held-out set; drop --input/--labels "
                "(or export it and sweep the NIR file)"
            )
        return _zoo_source(target, 100 if n is None else n, seed, load_array)
    raise SpikeforgeError(
        f"{target}: no such file, and not a zoo model (the zoo: {', '.join(ZOO)})"
    )


def _first(array: np.ndarray, n: int | None, what: str) -> np.ndarray:
    if n is not None:
        if n < 1:
            raise SpikeforgeError(f"-n must be at least 1, got {n}")
        if n > len(array):
            raise SpikeforgeError(f"-n {n}: the {what} has only {len(array)} samples")
        return array[:n]
    return array


def _file_source(
    path: Path,
    inputs: np.ndarray,
    labels: np.ndarray | None,
    n: int | None,
    dt: float | None,
    load_array: Callable[[Path, str], np.ndarray],
) -> SweepSource:
    metric = None
    if labels is not None:
        labels = _first(np.asarray(labels), n, "labels")
        if labels.shape != (len(inputs),) or not np.issubdtype(labels.dtype, np.integer):
            raise SpikeforgeError(
                f"--labels: expected {len(inputs)} integer class labels, got dtype "
                f"{labels.dtype} and shape {list(labels.shape)}"
            )
        metric = _accuracy(labels)
    if path.suffix == SFNET_SUFFIX:
        net = load(path)

        def compile_point(point: Point) -> CompiledNet:
            return net

        fixed = COMPILE_KEYS
    else:

        def compile_point(point: Point) -> CompiledNet:
            calibration = None
            if point.calibrate == "train":
                raise SpikeforgeError(
                    "calibrate=train needs a zoo model; give a .npy file of calibration inputs"
                )
            if point.calibrate != "none":
                calibration = load_array(Path(point.calibrate), "calibration input")
            return load_or_compile(
                path,
                dt=dt,
                **point.import_options(),
                weight_planes=point.weight_planes,
                decay_bits=point.decay_bits,
                calibration=calibration,
            )

        fixed = ()
    return SweepSource(
        name=path.name,
        inputs=inputs,
        defaults=Point(),
        compile=compile_point,
        metric=metric,
        metric_name="accuracy" if metric else "agreement",
        metric_unit="%" if metric else "",
        fixed_keys=fixed,
    )


def _accuracy(labels: np.ndarray):
    """Accuracy with the max-count decoder: the profile's task metric (one definition)."""
    from spikeforge.profile.task import score_outputs

    def accuracy(outputs: np.ndarray) -> float:
        return score_outputs([outputs], labels, "max-count")[1][0]

    return accuracy


def _zoo_source(
    name: str, n: int, seed: int, load_array: Callable[[Path, str], np.ndarray]
) -> SweepSource:
    import torch

    from spikeforge.models.stages import CALIBRATION_SAMPLES, export_and_compile
    from spikeforge.models.zoo import get, load_trained
    from spikeforge.runtimes.norse import in_float64, run_norse

    if n < 1:
        raise SpikeforgeError(f"-n must be at least 1, got {n}")
    model = get(name)
    card = model.CARD
    module = in_float64(load_trained(name))
    data = model.make_data("test", n, seed=seed)
    inputs = np.asarray(data.inputs, dtype=np.float64)

    def compile_point(point: Point) -> CompiledNet:
        if point.calibrate == "train":
            calibration = model.make_data("train", CALIBRATION_SAMPLES, seed=seed).inputs
        elif point.calibrate == "none":
            calibration = None
        else:
            calibration = load_array(Path(point.calibrate), "calibration input")
        return export_and_compile(
            module, card, calibration, point.weight_planes, point.decay_bits
        )

    return SweepSource(
        name=name,
        inputs=inputs,
        defaults=Point(calibrate="train"),
        compile=compile_point,
        truth=run_norse(module, torch.as_tensor(inputs)).numpy(),
        metric=lambda outputs: model.metrics(outputs, data)[card.metric],
        metric_name=card.metric,
        metric_unit=card.unit,
        higher_is_better=card.higher_is_better,
        fixed_keys=("convention", "cuba_order", "reset"),
    )
