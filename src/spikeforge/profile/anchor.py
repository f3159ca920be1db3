"""The hardware model's figures beside the silicon measurement it was calibrated on.

A model with a ``[calibration]`` section was fitted to one measured run (Loihi 2:
PilotNet LIF, MEASURED.md). When a profile runs that network — as many neurons and
as many steps per inference as the calibration names — the report sets the model's
cores, throughput and dynamic and total energy per inference beside the measured
ones, with ratios. Energy and time agree by construction (the per-event figures were
fitted to them), so the table checks the fit and the counting, it does not validate
the model; the cores come from spikeforge's placement, which was not fitted to them.
For any other network the report shows the measured figures as the calibration
anchor only: there is nothing of that network to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass

from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.hardware import Hardware
from spikeforge.compile.placement import Placement, cores_per_population
from spikeforge.profile.energy import CostReport


@dataclass(frozen=True)
class AnchorRow:
    """One figure: the measurement, and the model's on this run when it is that network."""

    figure: str
    unit: str
    measured: float
    model: float | None

    @property
    def ratio(self) -> float | None:
        return None if self.model is None or not self.measured else self.model / self.measured

    def as_dict(self) -> dict[str, object]:
        return {"figure": self.figure, "unit": self.unit, "measured": self.measured,
                "model": self.model, "ratio": self.ratio}  # fmt: skip


@dataclass(frozen=True)
class Anchor:
    """The calibration measurement and, if this run is of that network, the model's figures."""

    #: True when the profiled network has the calibration network's neurons and steps.
    matches: bool
    #: Where the measurement comes from (the calibration's dynamic energy source).
    source: str
    rows: list[AnchorRow]

    def as_dict(self) -> dict[str, object]:
        return {"matches": self.matches, "source": self.source,
                "rows": [r.as_dict() for r in self.rows]}  # fmt: skip


def anchor(
    hardware: Hardware, compiled: CompiledNet, cost: CostReport, cores: int, steps: int
) -> Anchor | None:
    """The calibration anchor of ``hardware`` against this run (module docstring);
    None when the model has no calibration."""
    cal = hardware.calibration
    if not cal:
        return None
    matches = is_calibration_network(hardware, compiled, steps)
    step_time = cal["step_time"].value
    time = cost.latency.per_inference.value
    measured = [
        ("cores", "core", cal["cores"].value, float(cores)),
        ("throughput", "1/s", 1.0 / (step_time * cal["steps"].value),
         1.0 / time if time > 0 else float("inf")),
        ("time per step", "s", step_time, time / steps if steps else 0.0),
        ("dynamic energy / inference", "J", cal["dynamic_energy"].value,
         cost.energy.dynamic.value),
        ("total energy / inference", "J", cal["total_energy"].value, cost.energy.total.value),
    ]  # fmt: skip
    rows = [AnchorRow(f, u, m, model if matches else None) for f, u, m, model in measured]
    return Anchor(matches, cal["dynamic_energy"].source, rows)


def is_calibration_network(hardware: Hardware, compiled: CompiledNet, steps: int | None) -> bool:
    """Whether ``compiled`` is the network ``hardware``'s calibration was measured on: as
    many neurons and, when ``steps`` is known (a profile; not a compile), as many steps."""
    cal = hardware.calibration
    if not cal:
        return False
    neurons = sum(p.size for p in compiled.network.populations.values())
    return neurons == cal["neurons"].value and (steps is None or steps == cal["steps"].value)


def layer_cores_table(
    hardware: Hardware, compiled: CompiledNet, placement: Placement, steps: int | None = None
) -> str | None:
    """spikeforge's cores per layer beside Intel's compiler's on the calibration run
    (``[calibration] layer_cores``), with ratios and totals; None for any other network
    or a model without that table. A layer only one side has shows "-" on the other."""
    vendor = hardware.calibration_layer_cores
    if vendor is None or not is_calibration_network(hardware, compiled, steps):
        return None
    ours = cores_per_population(placement)
    layers = [*ours, *(layer for layer in vendor.value if layer not in ours)]

    def row(layer: str, mine: int | None, theirs: int | None) -> str:
        ratio = f"{mine / theirs:.2f}" if mine is not None and theirs else "-"
        return (
            f"{layer:<20} {'-' if mine is None else mine:>11} "
            f"{'-' if theirs is None else theirs:>18} {ratio:>7}"
        )

    lines = [
        f"cores per layer, spikeforge on {hardware.name} vs Intel's compiler "
        f"({vendor.kind}: {vendor.source}):",
        f"{'layer':<20} {'spikeforge':>11} {f'Intel ({vendor.kind})':>18} {'ratio':>7}",
        *(row(layer, ours.get(layer), vendor.value.get(layer)) for layer in layers),
        row("total", len(placement.cores), vendor.total),
    ]
    return "\n".join(lines)
