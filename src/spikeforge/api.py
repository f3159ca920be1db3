"""The Python API: your own model to a compiled Loihi 2 network, run and profiled.

In the spirit of ``nengo_loihi.Simulator`` and lava-dl's ``netx.hdf5.Network``: one
call builds the deployable thing, and the object it returns runs and measures it::

    import spikeforge
    net = spikeforge.deploy(my_norse_module, x_train[:32], dt=1e-3)  # export, calibrate, compile
    print(net.summary())                       # populations, quantisation error, cores
    y = net.run(x_test, backend="emulator").output
    report = net.profile(x_test, labels=y_test, decoder="max-count")
    print(report)                              # task metric, agreement, spikes, energy per stage
    report.write("report/")                    # report.html, report.md, profile.json
    net.save("net.sfnet"); net = spikeforge.load("net.sfnet")

Inputs are ``[batch, time, *shape]`` (``time_axis=1``) or, norse's own convention,
``[time, batch, *shape]`` (``time_axis=0``). Left unsaid, batch-first is assumed and a
warning says so; labels that only fit the other order are an error. The command
line (``spikeforge export / compile / run / profile / inspect``) is a thin layer
over this module.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
import torch

from spikeforge.compile import SFNET_SUFFIX, compile_network, load_or_compile
from spikeforge.compile import save as save_compiled
from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.placement import Placement, place
from spikeforge.compile.summary import summarize
from spikeforge.errors import SpikeforgeError
from spikeforge.export import infer_input_shape, to_nir
from spikeforge.export.exporter import module_dt
from spikeforge.ir.nir_import import from_nir
from spikeforge.loihi_format import DECAY_SHIFT
from spikeforge.profile.hardware import Hardware, load_hardware
from spikeforge.profile.report import summary_table, write_report
from spikeforge.profile.stages import (
    PRECISIONS,
    HardwareRunner,
    Profile,
    StageRow,
    hardware_stage,
    measure,
    measure_bias_driven,
)
from spikeforge.profile.task import Decoder, Metric, add_task_metric
from spikeforge.progress import stage
from spikeforge.runtimes import RunResult, run
from spikeforge.runtimes.norse import in_float64, run_norse
from spikeforge.runtimes.reference import calibrate_on

ModelSource = torch.nn.Module | nir.NIRGraph | str | Path


@dataclass(frozen=True)
class PopulationInfo:
    """One population of a compiled network, as ``inspect`` lists it.

    ``name`` is what ``run(record=...)`` and ``--record`` take; ``latency`` is the
    hardware steps its spikes lag the source; ``cores`` the Loihi cores (fixed plan)
    holding its neurons.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    neurons: int
    spiking: bool
    latency: int
    cores: tuple[int, ...]


class CompiledModel:
    """A network compiled for Loihi 2: run it, profile it, save it, list its populations.

    Build one with :func:`deploy` or :func:`load`. ``source`` is the norse module it
    came from (None when loaded from a file): profiles then include a norse stage and
    compare every stage with it.
    """

    def __init__(
        self,
        compiled: CompiledNet,
        hardware: Hardware | str | Path = "loihi2",
        source: torch.nn.Module | None = None,
        path: Path | None = None,
    ) -> None:
        self.compiled = compiled
        self.hardware = hardware if isinstance(hardware, Hardware) else load_hardware(hardware)
        self.source = None if source is None else in_float64(copy.deepcopy(source))
        self.path = path
        if self.source is not None:
            check_source(self.source, compiled, "the source module")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one time step of one sample (the single input's)."""
        (shape,) = self.compiled.network.inputs.values()
        return tuple(shape)

    @property
    def placement(self) -> Placement:
        """The fixed-point plan placed on :attr:`hardware`'s cores."""
        return place(self.compiled.plan("fixed"), self.hardware)

    @property
    def populations(self) -> list[PopulationInfo]:
        """Every population: name (what ``record`` takes), kind, shape, latency, cores."""
        cores: dict[str, list[int]] = {}
        for core in self.placement.cores:
            for name in core.populations:
                cores.setdefault(name, []).append(core.index)
        net = self.compiled.network
        return [
            PopulationInfo(
                name=name,
                kind=pop.kind,
                shape=tuple(pop.shape),
                neurons=pop.size,
                spiking=pop.spiking,
                latency=self.compiled.timing.latency[name],
                cores=tuple(cores.get(name, ())),
            )
            for name, pop in net.populations.items()
        ]

    def summary(self) -> str:
        """What was built: populations, quantisation error, timing, placement on the cores."""
        return summarize(self.compiled, self.hardware)

    def run(
        self,
        x: np.ndarray | torch.Tensor,
        backend: str = "emulator",
        precision: str | None = None,
        record: Sequence[str] = (),
        time_axis: int | None = None,
        show_progress: bool = False,
        device: str | None = None,
    ) -> RunResult:
        """Run on ``backend`` (emulator, lava, reference, loihi2); outputs ``[batch, time, ...]``.

        ``precision`` defaults to the compiled one (fixed unless deployed otherwise);
        ``record`` names populations (:attr:`populations`) whose spikes and voltages to keep.

        >>> net.run(x, backend="lava", precision="fixed", record=["1"]).spikes["1"].shape
        """
        inputs = batch_first(x, self.input_shape, time_axis)
        return run(
            self.compiled, inputs, backend=backend, precision=precision, record=record,
            show_progress=show_progress, device=device,
        )  # fmt: skip

    def profile(
        self,
        x: np.ndarray | torch.Tensor | None = None,
        labels: np.ndarray | Sequence[float] | None = None,
        decoder: str | Decoder = "max-count",
        metric: Metric | None = None,
        backend: str = "emulator",
        precision: str = "both",
        time_axis: int | None = None,
        raster: Sequence[str] | None = None,
        show_progress: bool = False,
        hardware_runner: HardwareRunner | None = None,
        input_bias: np.ndarray | None = None,
        steps: int | None = None,
        device: str | None = None,
    ) -> Report:
        """Run every stage on ``x`` and measure it; with ``labels``, score the task per stage.

        Stages: norse (when the source module is known), the float64 reference, and
        the compiled plan at ``precision`` (float, fixed or both) on ``backend``.
        ``decoder`` (``max-count``, ``max-voltage``, ``last-voltage`` or a callable
        ``output -> predictions``) and ``labels`` give the task metric: accuracy for
        integer labels, relative error for float targets, or ``metric(predictions,
        labels) -> float``. ``hardware_runner`` runs the compiled stages elsewhere (the
        cluster's sharded runner, ``spikeforge.cluster``); by default, in this process.

        >>> report = net.profile(x, labels=y, decoder="max-count")
        >>> report.metric("emulator-fixed")  # accuracy (%) in bit-exact fixed point

        A netx network whose input layer is driven by its bias (PilotNet) takes
        ``input_bias`` (``[batch, *shape]`` or ``[*shape]``, netx's W, H, C order) and
        ``steps`` in place of ``x``: it has no spike input, hence no reference run, and
        profiles the fixed-point plan on ``backend`` (``"emulator"``, ``"lava"`` or
        ``"both"``) in raw hardware steps (:func:`~spikeforge.profile.stages.measure_bias_driven`).

        >>> net.profile(input_bias=image, steps=16)
        """
        if input_bias is not None:
            return self._profile_bias_driven(
                x, input_bias, steps, labels, backend, precision, raster, show_progress, device
            )
        if x is None:
            raise SpikeforgeError("profile needs inputs x, or input_bias= and steps= for a "
                                  "netx network driven through its input layer's bias")
        label_array = None if labels is None else np.asarray(labels)
        inputs = batch_first(x, self.input_shape, time_axis, label_array)
        if backend == "reference" and precision != "float":
            raise SpikeforgeError(
                "the reference backend gives the float stage only; pass precision='float' "
                "(--precision float), or backend lava/emulator for the fixed-point stage"
            )
        precisions = PRECISIONS if precision == "both" else (precision,)
        norse = self.source is not None and len(self.compiled.network.readouts) == 1
        stages = ["norse"] if norse else []
        stages += ["reference", *[hardware_stage(backend, p) for p in precisions]]
        profile = measure(
            self.compiled, inputs, self.hardware, stages,
            module=self.source if norse else None, raster=raster, show_progress=show_progress,
            hardware_runner=hardware_runner,
        )  # fmt: skip
        if label_array is not None:
            add_task_metric(profile, label_array, decoder, metric)
        return Report(profile, network=str(self.path or "<in memory>"))

    def _profile_bias_driven(
        self,
        x: np.ndarray | torch.Tensor | None,
        bias: np.ndarray,
        steps: int | None,
        labels: object,
        backend: str,
        precision: str,
        raster: Sequence[str] | None,
        show_progress: bool,
        device: str | None,
    ) -> Report:
        """:meth:`profile` of a bias-driven network; refuses what does not apply to it."""
        if x is not None:
            raise SpikeforgeError("pass inputs x or input_bias, not both")
        if labels is not None:
            raise SpikeforgeError("labels are not supported with input_bias (no task metric)")
        if precision == "float":
            raise SpikeforgeError("a bias-driven netx network runs its fixed-point plan only; "
                                  "drop precision='float'")  # fmt: skip
        if steps is None or steps < 1:
            raise SpikeforgeError(f"input_bias needs steps >= 1 (got {steps})")
        backends = ("emulator", "lava") if backend == "both" else (backend,)
        if any(b not in ("emulator", "lava") for b in backends):
            raise SpikeforgeError(
                f"input_bias runs on the emulator or lava backend (or both), not {backend}"
            )
        profile = measure_bias_driven(
            self.compiled, np.asarray(bias), steps, self.hardware, backends, raster=raster,
            device=device, show_progress=show_progress,
        )  # fmt: skip
        return Report(profile, network=str(self.path or "<in memory>"))

    def save(self, path: str | Path) -> Path:
        """Write the compiled network to a ``.sfnet`` (atomically); :func:`load` reads it back.

        The source module is not stored (norse modules do not pickle): a loaded network
        profiles without the norse stage unless ``load(..., source=module)``.
        """
        path = Path(path)
        if path.suffix != SFNET_SUFFIX:
            raise SpikeforgeError(f"{path}: a compiled network is saved as {SFNET_SUFFIX}")
        if self.path is not None and path.resolve() == self.path.resolve():
            raise SpikeforgeError(f"{path}: is this network's input file; choose another path")
        save_compiled(self.compiled, path)
        return path

    def __repr__(self) -> str:
        net = self.compiled.network
        return (
            f"CompiledModel({len(net.populations)} populations, inputs "
            f"{dict(net.inputs)}, dt={net.dt:g} s, on {self.hardware.name})"
        )


class Report:
    """A profile, with the task metric when labels were given; ``str()`` is the stage table."""

    def __init__(self, profile: Profile, network: str = "<in memory>", inputs: str = "<array>"):
        self.profile = profile
        self.network = network
        self.inputs = inputs

    @property
    def rows(self) -> list[StageRow]:
        return self.profile.rows

    def metric(self, stage: str) -> float:
        """The task metric (labels given) at ``stage``, e.g. ``"emulator-fixed"``."""
        if self.profile.task is None:
            raise SpikeforgeError("no task metric: profile with labels=...")
        return self.profile.row(stage).metrics[self.profile.task.name]

    def write(self, directory: str | Path, neurobench: bool = False) -> list[Path]:
        """``report.html``, ``report.md``, ``profile.json`` and figures into ``directory``;
        ``neurobench`` adds ``neurobench.json`` (NeuroBench's results format)."""
        return write_report(self.profile, directory, self.network, self.inputs, neurobench)

    def __str__(self) -> str:
        return summary_table(self.profile)


def deploy(
    model: ModelSource,
    sample_or_input_shape: np.ndarray | torch.Tensor | Sequence[int] | None = None,
    dt: float | None = None,
    hardware: str | Path = "loihi2",
    precision: str = "fixed",
    weight_planes: int = 2,
    decay_bits: int = DECAY_SHIFT,
    time_axis: int | None = None,
    allow_timing_divergence: bool = False,
    show_progress: bool = False,
    **import_options: object,
) -> CompiledModel:
    """Export (if a module), compile and place ``model`` for Loihi 2.

    ``model`` is a norse module, an in-memory ``nir.NIRGraph`` or a file (NIR ``.nir``,
    netx ``.net``, compiled ``.sfnet``). ``sample_or_input_shape`` is either the shape
    of one time step (``(64,)``; inferred from a first ``Linear`` when omitted) or
    sample inputs ``[batch, time, *shape]`` (see ``time_axis``), which also calibrate
    the fixed-point scales to the range the network really reaches. ``dt`` defaults
    to the module's cells' (or the graph's). ``import_options`` are those of
    :func:`spikeforge.compile.load_graph` (``convention="snntorch"``, ``reset=...``).
    ``decay_bits`` above 12 holds time constants that Loihi's 12-bit decays round in
    wider fractions (spikeforge's SfLif; on the chip, a microcoded neuron).

    >>> net = spikeforge.deploy(norse_module, x_train[:32], dt=1e-3)
    >>> net = spikeforge.deploy("model.nir", (1, 8, 8))
    """
    shape, calibration = _shape_and_sample(model, sample_or_input_shape, time_axis)
    options: dict[str, object] = dict(
        precision=precision, weight_planes=weight_planes, decay_bits=decay_bits,
        allow_timing_divergence=allow_timing_divergence,
        calibration=None if calibration is None else calibrate_on(calibration),
    )  # fmt: skip
    module = model if isinstance(model, torch.nn.Module) else None
    path = Path(model) if isinstance(model, (str, Path)) else None
    total = 3 if module is not None else 2
    if module is not None:
        if shape is None:
            raise SpikeforgeError(
                "cannot infer the input shape (the first layer is not a Linear): pass "
                "sample inputs [batch, time, *shape] or the shape of one step, e.g. (1, 8, 8)"
            )
        with stage(1, total, "exporting the module to NIR", show_progress):
            step_dt = module_dt(module) if dt is None else dt
            sample = torch.zeros(shape, dtype=next(module.parameters()).dtype)
            model = to_nir(module, sample, dt=step_dt)
    if not isinstance(model, nir.NIRGraph) and path is None:
        raise SpikeforgeError(
            f"deploy takes a torch module, a nir.NIRGraph or a file path, got "
            f"{type(model).__name__}"
        )
    with stage(total - 1, total, "compiling for Loihi 2", show_progress):
        if isinstance(model, nir.NIRGraph):
            compiled = compile_network(from_nir(model, dt=dt, **import_options), **options)
        else:
            compiled = load_or_compile(path, dt=dt, **import_options, **options)
    with stage(total, total, "placing on cores", show_progress):
        deployed = CompiledModel(compiled, hardware, source=module, path=path)
    if shape is not None and tuple(shape) != deployed.input_shape:
        raise SpikeforgeError(
            f"inputs of one step have shape {tuple(shape)} but the network takes "
            f"{deployed.input_shape}"
        )
    return deployed


def load(
    path: str | Path, hardware: str | Path = "loihi2", source: torch.nn.Module | None = None
) -> CompiledModel:
    """A saved ``.sfnet`` (or any network file :func:`deploy` takes) as a :class:`CompiledModel`.

    ``source`` is the norse module it was deployed from, for the norse stage of a
    profile; it is checked to fit the network's input and output shapes.
    """
    path = Path(path)
    return CompiledModel(load_or_compile(path), hardware, source=source, path=path)


def batch_first(
    x: np.ndarray | torch.Tensor,
    input_shape: Sequence[int],
    time_axis: int | None = None,
    labels: np.ndarray | None = None,
    name: str = "input",
) -> np.ndarray:
    """``x`` as ``[batch, time, *input_shape]``; ``time_axis`` says where time is.

    ``[time, *shape]`` is one sample and is returned as is, as is an array that fits
    neither layout (the runtime's input check names both shapes). A batched array
    whose layout was not given is read batch-first with a warning naming both
    readings; labels that only fit the time-first reading are an error rather than
    a silently wrong profile.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    shape = tuple(input_shape)
    rank = len(shape)
    if x.ndim != rank + 2 or x.shape[2:] != shape:
        return x  # one sample [time, *shape], or a misfit the runtime names with both shapes
    if time_axis is None:
        if labels is not None and len(labels) == x.shape[1] != x.shape[0]:
            raise SpikeforgeError(
                f"{name}: shape {list(x.shape)} with {len(labels)} labels is time-first "
                "[time, batch, ...]: pass time_axis=0 (--time-first)"
            )
        if x.shape[0] > 1 and x.shape[1] > 1:
            warnings.warn(
                f"{name} {list(x.shape)} read batch-first: {x.shape[0]} samples x "
                f"{x.shape[1]} steps; if it is time-first (norse's convention) pass "
                "time_axis=0 (--time-first); time_axis=1 (--batch-first) silences this",
                stacklevel=3,
            )
        time_axis = 1
    if time_axis not in (0, 1):
        raise SpikeforgeError(
            f"time_axis must be 0 (time-first) or 1 (batch-first), got {time_axis}"
        )
    return np.swapaxes(x, 0, 1) if time_axis == 0 else x


def check_source(module: torch.nn.Module, compiled: CompiledNet, what: str) -> None:
    """Refuse a source module that cannot be the network's: input or output shapes differ.

    One step of zeros is run through it; a module built for other inputs fails there
    (named), and one with another output size is caught by comparing shapes.
    """
    net = compiled.network
    if len(net.inputs) != 1 or len(net.readouts) != 1:
        return
    (shape,) = net.inputs.values()
    dtype = next(module.parameters(), torch.zeros((), dtype=torch.float64)).dtype
    try:
        out = run_norse(module, torch.zeros((1, 1, *shape), dtype=dtype))
    except Exception as exc:  # any torch shape error: the module is not this network's
        raise SpikeforgeError(
            f"{what} does not take the network's input shape {list(shape)} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    got = int(np.prod(out.shape[2:]))
    (readout,) = net.readouts.values()
    expected = int(np.prod(readout.shape))
    if got != expected:
        raise SpikeforgeError(
            f"{what} has {got} outputs but the network has {expected}: a different model?"
        )


def _shape_and_sample(
    model: ModelSource,
    given: np.ndarray | torch.Tensor | Sequence[int] | None,
    time_axis: int | None,
) -> tuple[tuple[int, ...] | None, np.ndarray | None]:
    """The shape of one input step, and the sample inputs (for calibration) if given."""
    if given is None:
        inferred = infer_input_shape(model) if isinstance(model, torch.nn.Module) else None
        return inferred, None
    if isinstance(given, (np.ndarray, torch.Tensor)):
        array = given.detach().cpu().numpy() if isinstance(given, torch.Tensor) else given
        if array.ndim < 3:
            raise SpikeforgeError(
                f"sample inputs: shape {list(array.shape)}; expected [batch, time, *shape] "
                "(or pass the shape of one step as a tuple, e.g. (64,))"
            )
        if time_axis is None:
            time_axis = 1  # a calibration sample's layout is documented, not guessed
        sample = np.swapaxes(array, 0, 1) if time_axis == 0 else array
        return tuple(sample.shape[2:]), np.asarray(sample, dtype=np.float64)
    try:
        return tuple(int(n) for n in given), None
    except (TypeError, ValueError):
        raise SpikeforgeError(
            f"sample_or_input_shape: expected an array or a shape like (64,), got {given!r}"
        ) from None
