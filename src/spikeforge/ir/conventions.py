"""How a framework discretises NIR's neurons: every choice NIR leaves open, named.

NIR fixes the continuous-time equations of its neurons but not how a framework
steps them: when and how a spiking neuron resets, whether it fires at ``v > theta``
or ``v >= theta``, whether the decay is a forward-Euler step or the exact
exponential, how IF integrates its input, where the voltage starts, and whether a
step can carry more than one spike. The same graph file therefore means different
networks in different frameworks. A :class:`Conventions` states all of these; one
preset per framework (``PRESETS``, measured against each framework's own
simulation, see ``scripts/framework_agreement.py``) is what ``--from FRAMEWORK``
selects, and every field can be overridden on its own.

Reset modes (``theta`` the threshold; see :mod:`spikeforge.ir.nodes` for the step):

* ``to_value``: on the spike step, ``v = v_reset`` (norse, NIR, SpikingJelly);
* ``subtract``: on the spike step, ``v -= theta`` (times the spike count with
  multi-spike; sinabs' MembraneSubtract, Rockpool);
* ``subtract_next``: at the next step, after the decay, ``v -= theta``: snnTorch's
  default (``reset_delay=True``: ``mem[t+1] = beta*mem[t] + x - theta*spk[t]``);
* ``zero_next``: the next step's ``v`` is set to 0 (``v_reset``) after it
  integrates, so that step's input to the membrane is lost (the synaptic current
  keeps it): snnTorch's ``Synaptic``/``RLeaky``/``RSynaptic`` with
  ``reset_mechanism="zero"`` and ``reset_delay=True`` (``synaptic.py:271-286``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from spikeforge.errors import SpikeforgeError

ResetMode = Literal["to_value", "subtract", "subtract_next", "zero_next"]
Threshold = Literal[">", ">="]
Decay = Literal["euler", "exp"]
IfInput = Literal["r", "dt_r"]
VInit = Literal["zero", "v_reset"]
CubaOrder = Literal["new", "previous"]
Synapse = Literal["scaled", "unscaled"]
FiresOn = Literal["new", "previous"]

RESET_MODES: tuple[str, ...] = ("to_value", "subtract", "subtract_next", "zero_next")
THRESHOLDS: tuple[str, ...] = (">", ">=")
DECAYS: tuple[str, ...] = ("euler", "exp")
IF_INPUTS: tuple[str, ...] = ("r", "dt_r")
V_INITS: tuple[str, ...] = ("zero", "v_reset")
CUBA_ORDERS: tuple[str, ...] = ("new", "previous")
SYNAPSES: tuple[str, ...] = ("scaled", "unscaled")
FIRES_ON: tuple[str, ...] = ("new", "previous")


class ConventionWarning(UserWarning):
    """A choice made for the user (a repaired export, an assumed dt): one line, shown."""


@dataclass(frozen=True)
class Conventions:
    """Every discretisation choice NIR leaves open (module docstring).

    ``synapse`` is how CubaLIF's current takes its input: ``scaled`` as NIR's
    equations discretise (``i += du*w_in*x``, ``v`` integrates ``dv*r*i``), or
    ``unscaled`` as Rockpool's ``LIFTorch`` steps (``i = (1-du)*(i + w_in*x)``,
    ``v = (1-dv)*v + i + v_leak``; its exporter writes ``r`` only to encode dt).
    ``dt`` is the time step the framework's exporter assumes when the graph
    records none (``None``: it must be given). ``fires_on = "previous"``: a step's
    spike is decided on the membrane before that step's update (Spyx: ``spikes =
    H(V - theta); V = beta*V + x - spikes*theta``), which is the ``subtract_next``
    neuron's spike one step later.
    """

    framework: str = "nir"
    reset: ResetMode = "to_value"
    threshold: Threshold = ">"
    decay: Decay = "euler"
    if_input: IfInput = "r"
    v_init: VInit = "zero"
    multi_spike: bool = False
    cuba_order: CubaOrder = "new"
    synapse: Synapse = "scaled"
    fires_on: FiresOn = "new"
    dt: float | None = None

    def __post_init__(self) -> None:
        for name, allowed in (
            ("reset", RESET_MODES), ("threshold", THRESHOLDS), ("decay", DECAYS),
            ("if_input", IF_INPUTS), ("v_init", V_INITS), ("cuba_order", CUBA_ORDERS),
            ("synapse", SYNAPSES), ("fires_on", FIRES_ON),
        ):  # fmt: skip
            value = getattr(self, name)
            if value not in allowed:
                raise SpikeforgeError(
                    f"convention {name} = {value!r} is not one of {', '.join(allowed)}"
                )
        if self.multi_spike and self.reset != "subtract":
            raise SpikeforgeError(
                f"convention multi_spike needs reset 'subtract' (each spike removes one "
                f"threshold), got reset {self.reset!r}"
            )

    def with_overrides(self, **changes: object) -> Conventions:
        """This preset with the fields that are not ``None`` in ``changes`` replaced."""
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given) if given else self

    def describe(self) -> str:
        """One line for ``compile``'s summary."""
        dt = "from the graph" if self.dt is None else f"{self.dt:g} s by default"
        return (
            f"conventions ({self.framework}): reset {self.reset}, fire at v {self.threshold} "
            f"theta, {self.decay} decay, IF adds {self.if_input.replace('_', '*')}*x, v starts "
            f"at {self.v_init}, {'multi' if self.multi_spike else 'single'} spike, CubaLIF "
            f"integrates the {self.cuba_order} current, {self.synapse} synaptic input, fires "
            f"on the {self.fires_on} membrane, dt {dt}"
        )


#: The defaults of each framework's neurons as their own simulators step them.
PRESETS: dict[str, Conventions] = {
    # spikeforge's exporter: norse's LIF/CubaLIF step, reset to value, strict threshold.
    "norse": Conventions(framework="norse"),
    # NIR itself (and spikeforge without --from): the same.
    "nir": Conventions(framework="nir"),
    # snnTorch 1.0 Leaky/Synaptic/RLeaky/RSynaptic defaults: subtract, reset_delay=True;
    # export_nir.py hard-codes dt = 1e-4 (tau = dt/(1-beta), r = tau/dt).
    "snntorch": Conventions(framework="snntorch", reset="subtract_next", dt=1e-4),
    # sinabs 3.1 IAF/LIF defaults: MultiSpike, MembraneSubtract, v >= theta, exp(-dt/tau).
    "sinabs": Conventions(
        framework="sinabs",
        reset="subtract",
        threshold=">=",
        decay="exp",
        multi_spike=True,
        dt=1.0,
    ),
    # Rockpool 3.1 LIFTorch defaults: StepPWL emits floor(v/theta) spikes (at most
    # max_spikes_per_dt = 2**16) at v >= theta and subtracts them; exp decays, unscaled
    # synaptic input; dt 1 ms (LIFTorch's default).
    "rockpool": Conventions(
        framework="rockpool",
        reset="subtract",
        threshold=">=",
        decay="exp",
        multi_spike=True,
        synapse="unscaled",
        dt=1e-3,
    ),
    # Spyx 0.1.20 LIF: fires on the previous membrane (H(V - theta), strict), then
    # V = beta*V + x - spikes*theta; dt 1 ms as its to_nir default is given here.
    "spyx": Conventions(framework="spyx", reset="subtract_next", fires_on="previous", dt=1e-3),
    # SpikingJelly LIFNode/IFNode (0.0.0.0.14 measured, tests/data/frameworks/spikingjelly):
    # hard reset to v_reset, v >= theta, v starts at v_reset; its repository's exporter
    # (no released one) writes IF r = 1/dt for dv/dt = r*x, so one step adds dt*r*x.
    "spikingjelly": Conventions(
        framework="spikingjelly", threshold=">=", if_input="dt_r", v_init="v_reset", dt=1e-4
    ),
}
FRAMEWORKS: tuple[str, ...] = tuple(PRESETS)


def preset(framework: str) -> Conventions:
    """The preset for ``framework``; unknown names are an error listing the known ones."""
    try:
        return PRESETS[framework]
    except KeyError:
        raise SpikeforgeError(
            f"unknown framework {framework!r} for --from (known: {', '.join(FRAMEWORKS)})"
        ) from None


def from_metadata(metadata: dict[str, object]) -> Conventions | None:
    """The preset named by a graph's metadata (``framework`` or ``source``), if any."""
    for key in ("framework", "source"):
        value = metadata.get(key)
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str) and value.lower() in PRESETS:
            return PRESETS[value.lower()]
    return None
