"""A hardware model as data: topology, per-core limits, per-event energy and latency.

Placement on cores (a compile pass) reads the topology and limits; the profile's
estimator reads the energies and latencies. The TOML files that hold these numbers,
their schema and their validation are :mod:`spikeforge.profile.hardware`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from spikeforge.errors import SpikeforgeError

#: From most to least trustworthy (reports label a figure with the weakest that fed it).
KINDS = ("measured", "calibrated", "specified", "estimated")


@dataclass(frozen=True)
class Quantity:
    """A number with its unit, how far to trust it (``kind``, one of :data:`KINDS`) and its source.

    A hardware model's entries are Quantities, and so is every figure derived from
    them (an energy per inference is labelled with the weakest kind that fed it), so
    an estimate cannot pass for a measurement anywhere it travels.
    """

    value: float
    unit: str
    kind: str
    source: str
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return _documented(self)


def _documented(entry: Quantity | Barrier | LayerCores) -> dict[str, object]:
    """A hardware number as JSON: its fields in order, the note only when there is one."""
    result = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(entry).items()}
    if not result["note"]:
        del result["note"]
    return result


@dataclass(frozen=True)
class Barrier:
    """End-of-step synchronisation time as a function of the number of tiles in use."""

    tiles: tuple[float, ...]
    value: tuple[float, ...]
    unit: str
    kind: str
    source: str
    note: str = ""

    def at(self, tiles: int) -> float:
        return float(np.interp(tiles, self.tiles, self.value))

    def as_dict(self) -> dict[str, object]:
        return _documented(self)


@dataclass(frozen=True)
class LayerCores:
    """Cores per layer the vendor's compiler used on the calibration network, keyed by
    spikeforge population (``[calibration] layer_cores``; Loihi 2: Intel's placement of
    PilotNet LIF, MEASURED.md), with the same provenance as a :class:`Quantity`."""

    value: dict[str, int]
    unit: str
    kind: str
    source: str
    note: str = ""

    @property
    def total(self) -> int:
        return sum(self.value.values())

    def as_dict(self) -> dict[str, object]:
        return _documented(self)


@dataclass(frozen=True)
class Hardware:
    """A parsed, validated hardware model (see the module docstring for the schema)."""

    name: str
    description: str
    path: Path | None
    topology: dict[str, Quantity]
    limits: dict[str, Quantity]
    energy: dict[str, Quantity]
    latency: dict[str, Quantity]
    barrier: Barrier
    power: dict[str, Quantity] = field(default_factory=dict)
    #: The measurement the model was fitted to and spikeforge's counts on it (optional).
    calibration: dict[str, Quantity] = field(default_factory=dict)
    #: The calibration run's cores per layer (optional, only with a calibration).
    calibration_layer_cores: LayerCores | None = None

    @property
    def chips(self) -> int:
        return int(self.topology["chips"].value)

    @property
    def tiles_x(self) -> int:
        return int(self.topology["tiles_x"].value)

    @property
    def tiles_y(self) -> int:
        return int(self.topology["tiles_y"].value)

    @property
    def cores_per_tile(self) -> int:
        return int(self.topology["cores_per_tile"].value)

    @property
    def cores_per_chip(self) -> int:
        return self.tiles_x * self.tiles_y * self.cores_per_tile

    @property
    def total_cores(self) -> int:
        return self.chips * self.cores_per_chip

    def limit(self, key: str) -> int:
        return int(self.limits[key].value)

    def entries(self) -> dict[str, Quantity | Barrier | LayerCores]:
        """Every number, keyed ``section.key`` (for reports)."""
        result: dict[str, Quantity | Barrier | LayerCores] = {}
        for section in ("topology", "limits", "energy", "latency", "power", "calibration"):
            for key, quantity in getattr(self, section).items():
                result[f"{section}.{key}"] = quantity
        result["latency.barrier"] = self.barrier
        if self.calibration_layer_cores is not None:
            result["calibration.layer_cores"] = self.calibration_layer_cores
        return result

    def with_values(self, name: str, values: Mapping[str, float]) -> Hardware:
        """A variant with some numbers changed, e.g. ``{"limits.neurons": 64}`` (what-if studies).

        Changed entries keep their unit and say in their source that they were changed.
        """
        sections = {
            s: dict(getattr(self, s))
            for s in ("topology", "limits", "energy", "latency", "power", "calibration")
        }
        for key, value in values.items():
            section, _, entry = key.partition(".")
            if entry not in sections.get(section, {}):
                raise SpikeforgeError(f"hardware {self.name}: no entry {key!r} to change")
            old = sections[section][entry]
            sections[section][entry] = replace(
                old, value=float(value), source=f"changed from {old.value:g} ({old.source})"
            )
        return replace(self, name=name, path=None, **sections)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "path": None if self.path is None else str(self.path),
            "entries": {key: q.as_dict() for key, q in self.entries().items()},
        }
