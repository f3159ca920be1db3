"""``--grid key=v1,v2 ...``: the deployment choices a sweep varies, as typed points.

Every point is the cross product of the given values over the defaults of the rest.
Values are checked here, before anything is compiled or run, so that a typo costs
one line and no cluster time.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

from spikeforge.choices import WEIGHT_PLANES
from spikeforge.errors import SpikeforgeError
from spikeforge.ir import conventions
from spikeforge.loihi_format import DECAY_BITS_MAX, DECAY_SHIFT

#: A convention setting left to the graph (its metadata's framework, else NIR/norse).
AUTO = "auto"

#: Backends a sweep runs a deployment on (the float64 reference is the yardstick).
SWEEP_BACKENDS = ("emulator", "lava")
_CHOICES: dict[str, tuple[str, ...]] = {
    "backend": SWEEP_BACKENDS,
    "precision": ("float", "fixed"),
    "weight_planes": tuple(str(p) for p in WEIGHT_PLANES),
    "decay_bits": tuple(str(b) for b in range(DECAY_SHIFT, DECAY_BITS_MAX + 1)),
    "convention": (AUTO, *conventions.FRAMEWORKS),
    "cuba_order": (AUTO, *conventions.CUBA_ORDERS),
    "reset": (AUTO, *conventions.RESET_MODES),
}
#: Settings that change the compiled network (the rest only change how it runs).
COMPILE_KEYS = ("weight_planes", "decay_bits", "calibrate", "convention", "cuba_order", "reset")


@dataclass(frozen=True)
class Point:
    """One deployment: how the network is compiled, on what it runs, priced by which model.

    ``calibrate`` is ``none``, ``train`` (a zoo model's training inputs) or a ``.npy``
    path; ``hardware`` a shipped hardware model's name or a ``.toml`` path;
    ``convention`` a framework preset (``--from``), ``cuba_order`` and ``reset`` single
    choices over it, each ``auto`` to leave it to the graph.
    """

    backend: str = "emulator"
    precision: str = "fixed"
    weight_planes: int = 2
    decay_bits: int = DECAY_SHIFT
    hardware: str = "loihi2"
    calibrate: str = "none"
    convention: str = AUTO
    cuba_order: str = AUTO
    reset: str = AUTO

    def compile_settings(self) -> tuple[object, ...]:
        return tuple(getattr(self, k) for k in COMPILE_KEYS)

    def import_options(self) -> dict[str, str | None]:
        """``load_or_compile``'s convention arguments (None: the graph decides)."""
        return {
            "convention": None if self.convention == AUTO else self.convention,
            "cuba_order": None if self.cuba_order == AUTO else self.cuba_order,
            "reset": None if self.reset == AUTO else self.reset,
        }

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def label(self, keys: Sequence[str]) -> str:
        shown = keys or ("backend", "precision")
        return " ".join(f"{k}={getattr(self, k)}" for k in shown)


GRID_KEYS = tuple(f.name for f in fields(Point))


def parse_grid(items: Sequence[str], defaults: Point) -> tuple[list[Point], list[str]]:
    """The grid's points (in the order given) and the keys it varies."""
    values: dict[str, list[str]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not raw.strip():
            raise SpikeforgeError(f"--grid {item!r}: expected KEY=VALUE[,VALUE...]")
        if key not in GRID_KEYS:
            raise SpikeforgeError(
                f"--grid {item!r}: unknown key {key!r} (keys: {', '.join(GRID_KEYS)})"
            )
        if key in values:
            raise SpikeforgeError(f"--grid: {key} is given twice; list its values once")
        options = [v.strip() for v in raw.split(",")]
        if any(not v for v in options) or len(set(options)) != len(options):
            raise SpikeforgeError(f"--grid {item!r}: empty or repeated value")
        allowed = _CHOICES.get(key)
        for value in options:
            if allowed is not None and value not in allowed:
                raise SpikeforgeError(f"--grid {key}={value}: not one of {', '.join(allowed)}")
        values[key] = options
    points = []
    for combination in itertools.product(*values.values()):
        chosen = dict(zip(values, combination, strict=True))
        for key in ("weight_planes", "decay_bits"):
            if key in chosen:
                chosen[key] = int(chosen[key])
        points.append(replace(defaults, **chosen))
    return points, [k for k, v in values.items() if len(v) > 1]
