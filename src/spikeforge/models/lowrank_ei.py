"""lowrank_ei: a rank-1-per-population E/I spiking network approximating a non-convex function.

Podlaski & Machens (Neural Computation 2024) read every neuron's threshold as a
*boundary* in the space of the input ``x`` and the latent readouts ``y_E = D_E . r_E``
and ``y_I = D_I . r_I`` (``r``: spike trains filtered with the membrane leak). With
rank-1 connectivity per population, inhibitory thresholds form a stable boundary
(``y_I`` is pushed up to it), excitatory ones an unstable boundary, and the network
sits at their intersection. If each population's boundary is a max of lines — a
convex function of ``x`` — the intersection is a *difference* of two convex
functions, which can approximate any smooth 1-D function. Here, with ``a < c``::

    E neuron k fires when  h_k(x) + a y_E - b y_I > 0     (W_EE = a D_E >= 0, W_EI = -b D_I <= 0)
    I neuron i fires when  g_i(x) + c y_E - d y_I > 0     (W_IE = c D_E >= 0, W_II = -d D_I <= 0)
    => y_E = (H(x)/b - G(x)/d) / (c/d - a/b),  H = max_k h_k,  G = max_i g_i

``H`` and ``G`` are read off the target's piecewise-linear interpolation: every knot
where the slope rises adds an E line, every knot where it falls adds an I line.
There is no gradient training.

Deploying it on Loihi exactly forces two choices, both documented where they are made:

* The paper's voltage ``V = F x + E D r`` must keep its memory of past spikes, but
  Loihi resets the membrane to a value, which would erase it at every spike. So the
  paper's voltage lives in the synaptic *current* (``tau_syn`` = the paper's 10 ms
  leak, never reset), the membrane is instantaneous (``tau_mem = dt``, ``v = u`` each
  step) and only compares ``u`` with the threshold; the self-connection on the
  diagonal of the rank-1 matrices plays the reset, as in the paper.
* Every recurrent synapse delays by one step, so the time step is a fortieth of the
  leak (``dt/tau = 100/4096``, exact in Loihi's 12-bit decay). What discretisation
  still does (spikes land a whole step late, each latent rides a sawtooth above its
  boundary) is, to within 0.02, an affine distortion of the output; it is removed by
  :data:`CORRECTION_PASSES` deterministic passes that measure it on the network's
  own steady state and re-aim the knot values (see :func:`train`).

The input ``x(t)`` reaches the chip as spikes of two excitatory channels, ``x`` and
``1 - x`` (:func:`encode`), so every input weight is non-negative and Dale's law holds
for every presynaptic neuron on the chip, inputs included.
"""

from __future__ import annotations

import norse.torch as norse
import numpy as np
import torch

from spikeforge.compile.lower import LoihiPlan
from spikeforge.errors import SpikeforgeError
from spikeforge.loihi_format import DECAY_UNITY
from spikeforge.models.examples import run_norse
from spikeforge.models.zoo import Dataset, ModelCard
from spikeforge.progress import progress

#: The leak of the paper (100/s), rounded so that dt/tau = 100/DECAY_UNITY exactly
#: (Loihi's 12-bit decay).
TAU = 10.24e-3
DT = TAU * 100 / DECAY_UNITY
ALPHA = 100 / DECAY_UNITY

CARD = ModelCard(
    name="lowrank_ei",
    paper="Podlaski & Machens, Approximating nonlinear functions with latent boundaries in "
    "low-rank excitatory-inhibitory spiking networks, Neural Computation 36(5) 2024",
    description="rank-1 E/I LIF network (Dale's law, analytic boundaries) computing "
    "0.6 + 0.4 sin(2 pi x) of a spike-coded input ramp",
    metric="rmse",
    higher_is_better=False,
    dt=DT,
    input_shape=(16,),
)

#: Spike-coded input: ``CHANNEL`` neurons carry x, as many carry 1 - x.
CHANNEL = 8
#: Input spikes per step, summed over a channel, when its value is 1.
SPIKES_PER_UNIT = 4.0
#: Steps held at the ramp's start while the network settles (not scored), then the ramp.
LEAD_STEPS = 123
RAMP_STEPS = 492
#: Held-out ramps span at least this much of [0, 1].
MIN_SPAN = 0.5
SPLIT_STREAMS = {"train": 0, "test": 1}

#: Interpolation knots of the target on [0, 1] (10 segments: RMS interpolation error 0.010).
SEGMENTS = 10
#: Slope changes smaller than this add no line (the inflection at x = 0.5).
SLOPE_TOLERANCE = 1e-6
#: Latent gains: E excites E (a), I inhibits E (b), E excites I (c), I inhibits I (d).
#: a/b < c/d makes the boundaries' intersection stable (inhibition-stabilised).
A_EE, B_EI, C_IE, D_II = 0.1, 1.0, 0.5, 1.0
#: Latent jump per spike of an E / I neuron (the decoders D_E, D_I).
D_E, D_I = 0.03, 0.03
#: Smallest value of y_I on [0, 1]: the I population must fire everywhere to hold its boundary.
MARGIN = 0.2
#: A bound held by spikes sits on average half a jump above it; lower the I lines to match.
I_SAWTOOTH = -0.5 * D_I
#: Distance of each neuron's input drive above zero at its line's lowest point.
DRIVE_FLOOR = 0.1
CORRECTION_PASSES = 2
CORRECTION_GRID = 41
#: Steps per knot in a correction pass; the mean of the second half is the steady state.
SETTLE_STEPS = 820


def target(x: np.ndarray | float) -> np.ndarray:
    """The non-convex function the network computes: concave on [0, 1/2], convex on [1/2, 1]."""
    return 0.6 + 0.4 * np.sin(2 * np.pi * np.asarray(x, dtype=np.float64))


def knots() -> np.ndarray:
    """The interpolation knots of the target on [0, 1]."""
    return np.linspace(0.0, 1.0, SEGMENTS + 1)


def _knot_roles() -> np.ndarray:
    """+1 where the target's slope rises (an E line), -1 where it falls (I), 0 neither.

    Fixed by the target itself, so the network's size does not depend on the correction.
    """
    points = knots()
    rises = np.diff(np.diff(target(points)) / np.diff(points))
    roles = np.zeros(len(rises), dtype=np.int64)
    roles[rises > SLOPE_TOLERANCE] = 1
    roles[rises < -SLOPE_TOLERANCE] = -1
    return roles


N_EXC = 1 + int((_knot_roles() == 1).sum())
N_INH = 1 + int((_knot_roles() == -1).sum())
N_NEURONS = N_EXC + N_INH


def _max_of_lines(changes: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Lines ``(slope, offset)`` whose max is ``sum_j changes_j * relu(x - at_j)``."""
    lines = [(0.0, 0.0)]
    slope = offset = 0.0
    for change, knot in zip(changes, at, strict=True):
        slope += change
        offset -= change * knot
        lines.append((slope, offset))
    return np.array(lines)


def _evaluate_lines(lines: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.max(lines[:, :1] * x[None, :] + lines[:, 1:], axis=0)


def boundaries(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E lines (of H) and I lines (of G), rows ``(slope, offset)``, for knot ``values``.

    ``values`` interpolated linearly is ``f0 + s0 x + (convex part) - (concave part)``;
    with ``kappa = 1 / (c/d - a/b)`` the fixed point ``y_E = kappa (H/b - G/d)`` equals it
    for ``H = b/kappa (f0 + s0 x + convex)`` and ``G = d/kappa concave``. A common linear
    term added to both (``b L`` and ``d L``) leaves ``y_E`` unchanged; it is chosen to make
    ``y_I = (G + c y_E)/d`` as flat as possible with minimum :data:`MARGIN`, so that the
    I population needs few spikes.
    """
    points = knots()
    roles = _knot_roles()
    slopes = np.diff(values) / np.diff(points)
    changes = np.diff(slopes)
    inner = points[1:-1]
    # A correction pass may nudge a slope change across zero; it then adds nothing.
    convex = np.maximum(changes[roles == 1], 0.0)
    concave = np.maximum(-changes[roles == -1], 0.0)
    kappa = 1.0 / (C_IE / D_II - A_EE / B_EI)
    h = _max_of_lines(convex, inner[roles == 1]) * (B_EI / kappa)
    h[:, 0] += B_EI / kappa * slopes[0]
    h[:, 1] += B_EI / kappa * values[0]
    g = _max_of_lines(concave, inner[roles == -1]) * (D_II / kappa)
    xs = np.linspace(0.0, 1.0, 201)
    y_inh = (_evaluate_lines(g, xs) + C_IE * np.interp(xs, points, values)) / D_II
    tilt, level = np.polyfit(xs, y_inh, 1)
    level -= MARGIN - (y_inh - tilt * xs - level).min()
    h -= B_EI * np.array([tilt, level])
    g -= D_II * np.array([tilt, level])
    g[:, 1] += D_II * I_SAWTOOTH
    return h, g


def construct(values: np.ndarray) -> dict[str, np.ndarray]:
    """Input, recurrent and readout weights for knot ``values``, thresholds normalised to 1.

    A neuron with line ``p x + q`` receives ``T + p x + q`` from the input, split between
    the x channel (weight ``T + p + q``) and the 1 - x channel (``T + q``); ``T`` is the
    smallest threshold that keeps both non-negative. Dividing the neuron's whole row by
    ``T`` then gives threshold 1 with identical spikes (its current is linear in the row).
    """
    h, g = boundaries(values)
    lines = np.concatenate([h, g])
    decoders = np.concatenate([np.full(N_EXC, D_E), np.full(N_INH, D_I)])
    from_exc = np.concatenate([np.full(N_EXC, A_EE), np.full(N_INH, C_IE)])
    from_inh = np.concatenate([np.full(N_EXC, -B_EI), np.full(N_INH, -D_II)])
    recurrent = np.concatenate(
        [np.outer(from_exc, decoders[:N_EXC]), np.outer(from_inh, decoders[N_EXC:])], axis=1
    )
    slope, offset = lines[:, 0], lines[:, 1]
    threshold = np.maximum(0.0, np.maximum(-offset, -(slope + offset))) + DRIVE_FLOOR
    on, off = threshold + slope + offset, threshold + offset
    # The synaptic current integrates x with gain 1/ALPHA; one channel's spikes sum to
    # SPIKES_PER_UNIT * x per step.
    per_spike = ALPHA / SPIKES_PER_UNIT
    inputs = np.concatenate(
        [np.repeat(on[:, None], CHANNEL, axis=1), np.repeat(off[:, None], CHANNEL, axis=1)], axis=1
    )
    readout = np.zeros((1, N_NEURONS))
    readout[0, :N_EXC] = decoders[:N_EXC]
    return {
        "input": per_spike * inputs / threshold[:, None],
        "recurrent": recurrent / threshold[:, None],
        "readout": readout,
    }


def neuron_signs() -> np.ndarray:
    """+1 for each excitatory neuron, -1 for each inhibitory one (Dale's law), in order."""
    return np.concatenate([np.ones(N_EXC), -np.ones(N_INH)])


def build(n_exc: int = N_EXC, n_inh: int = N_INH) -> torch.nn.Module:
    """The architecture with all weights zero: they come from :func:`construct`, not from training.

    ``tau_mem = dt`` makes the membrane a per-step copy of the current (module docstring);
    the LI readout filters the E spikes with the latent's own leak.
    """
    lif = norse.LIFRecurrentCell(
        2 * CHANNEL,
        n_exc + n_inh,
        norse.LIFParameters(
            tau_syn_inv=torch.tensor(1.0 / TAU),
            tau_mem_inv=torch.tensor(1.0 / DT),
            v_th=torch.tensor(1.0),
        ),
        dt=DT,
        autapses=True,
    )
    readout = torch.nn.Linear(n_exc + n_inh, 1, bias=False)
    module = norse.SequentialState(
        lif,
        readout,
        norse.LICell(
            norse.LIParameters(
                tau_syn_inv=torch.tensor(1.0 / TAU), tau_mem_inv=torch.tensor(1.0 / DT)
            ),
            dt=DT,
        ),
    )
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
    return module


def network(values: np.ndarray) -> torch.nn.Module:
    """The float64 network :func:`construct` gives for knot ``values`` (no correction)."""
    return _load(build().double(), construct(values))


def _load(module: torch.nn.Module, weights: dict[str, np.ndarray]) -> torch.nn.Module:
    lif, readout = module[0], module[1]
    with torch.no_grad():
        lif.input_weights.copy_(torch.as_tensor(weights["input"]))
        lif.recurrent_weights.copy_(torch.as_tensor(weights["recurrent"]))
        readout.weight.copy_(torch.as_tensor(weights["readout"]))
    return module


def encode(x: np.ndarray) -> np.ndarray:
    """Deterministic spikes ``[n, time, 16]`` whose leak-filtered sum is ``x`` (and ``1 - x``).

    The synaptic current low-passes its input, so the channels carry ``x + tau dx/dt``
    (discretised exactly for this leak), whose filtered value is ``x`` itself. Each of a
    channel's neurons is a sigma-delta encoder with its own phase, so the channel's
    summed spikes track the rate with an error below one spike per step.
    """
    x = np.asarray(x, dtype=np.float64)
    lead = np.diff(x, axis=1, prepend=x[:, :1]) * (1 - ALPHA) / ALPHA
    spikes = np.zeros((*x.shape, 2 * CHANNEL), dtype=np.float32)
    for channel, value in enumerate((x + lead, 1.0 - x - lead)):
        rate = np.clip(value, 0.0, None) * SPIKES_PER_UNIT / CHANNEL
        charge = np.broadcast_to((np.arange(CHANNEL) + 0.5) / CHANNEL, (len(x), CHANNEL)).copy()
        for t in range(x.shape[1]):
            charge += rate[:, t, None]
            fired = charge >= 1.0
            charge[fired] -= 1.0
            spikes[:, t, channel * CHANNEL : (channel + 1) * CHANNEL] = fired
    return spikes


def ramps(split: str, n: int, seed: int = 0) -> np.ndarray:
    """``x(t)`` of ``n`` ramps ``[n, LEAD_STEPS + RAMP_STEPS]``: hold at x0, then go to x1."""
    if split not in SPLIT_STREAMS:
        raise SpikeforgeError(f"lowrank_ei: split must be 'train' or 'test', got {split!r}")
    if n < 1:
        raise SpikeforgeError(f"lowrank_ei: n must be at least 1, got {n}")
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split], 4])
    ends = np.empty((n, 2))
    for i in range(n):
        while True:
            ends[i] = rng.random(2)
            if abs(ends[i, 1] - ends[i, 0]) >= MIN_SPAN:
                break
    progress_ = np.linspace(0.0, 1.0, RAMP_STEPS)
    ramp = ends[:, :1] + (ends[:, 1:] - ends[:, :1]) * progress_[None, :]
    return np.concatenate([np.repeat(ends[:, :1], LEAD_STEPS, axis=1), ramp], axis=1)


def make_data(split: str, n: int = 64, seed: int = 0) -> Dataset:
    """Held-out ramps, spike-coded; targets ``f(x(t))`` ``[n, time]``.

    Train and test draw from separate seeded streams (never the same ramp); ramp ``i``
    does not depend on ``n``. The first :data:`LEAD_STEPS` are not scored (settling).
    """
    x = ramps(split, n, seed)
    return Dataset(inputs=encode(x), targets=target(x))


def metrics(outputs: np.ndarray, data: Dataset) -> dict[str, float]:
    """RMSE of the readout against ``f(x(t))`` after the settling steps; bias and NRMSE too."""
    if np.shape(outputs)[1] <= LEAD_STEPS:
        raise SpikeforgeError(
            f"lowrank_ei: outputs have {np.shape(outputs)[1]} steps; the first {LEAD_STEPS} "
            "are settling and not scored"
        )
    y = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)[:, LEAD_STEPS:]
    truth = np.asarray(data.targets[: len(outputs)], dtype=np.float64)[:, LEAD_STEPS:]
    error = y - truth
    rmse = float(np.sqrt(np.mean(error**2)))
    return {"rmse": rmse, "bias": float(error.mean()), "nrmse": rmse / float(truth.std())}


def steady_state(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The network's mean output for constant inputs ``x`` (second half of the run)."""
    held = np.repeat(np.asarray(x, dtype=np.float64)[:, None], SETTLE_STEPS, axis=1)
    out = run_norse(module, torch.as_tensor(encode(held), dtype=torch.float64))
    return out[:, SETTLE_STEPS // 2 :, 0].mean(dim=1).numpy()


def train(show_progress: bool = True, seed: int = 0) -> torch.nn.Module:
    """Construct the weights: analytic boundaries, then the discretisation correction.

    Deterministic (``seed`` is accepted for the zoo's interface and has no effect).
    The network's steady state over x is, to within 0.02, an affine distortion of the
    target (gain about 0.86: spikes arrive a step late and each latent rides a
    sawtooth above its boundary). Each pass measures it on :data:`CORRECTION_GRID`
    points and aims the knot values so that the distortion maps them onto the target.
    """
    del seed
    points = knots()
    grid = np.linspace(0.0, 1.0, CORRECTION_GRID)
    values = target(points)
    passes = progress(
        range(CORRECTION_PASSES + 1), desc="construct lowrank_ei", enabled=show_progress
    )
    for index in passes:
        module = network(values)
        if index < CORRECTION_PASSES:
            design = np.stack([np.ones(CORRECTION_GRID), target(grid)], axis=1)
            offset, gain = np.linalg.lstsq(design, steady_state(module, grid), rcond=None)[0]
            values = values + (target(points) - (offset + gain * target(points))) / gain
    return module.float().eval()


def dale_violations(plan: LoihiPlan, population: str, source: str | None = None) -> dict:
    """Synapses of ``plan`` from ``source`` into ``population`` whose sign breaks Dale's law.

    ``source`` defaults to the population itself (the recurrent synapses). Counted twice:
    per synapse process as stored on the chip, and for the effective weight (the sum
    of a matrix's weight planes ``w << weight_exp``, without a pacemaker's column), which
    is what a spike delivers.
    """
    source = population if source is None else source
    signs = neuron_signs() if source == population else np.ones(plan.inputs[source])
    planes = [s for s in plan.synapses if s.pre == source and s.post == population]
    if not planes:
        raise SpikeforgeError(f"the plan has no synapses {source} -> {population}")
    wrong_sign = [int((w.weights * signs[None, :] < 0).sum()) for w in planes]
    effective = sum(w.routes()[0][1].astype(np.float64) * 2.0**w.weight_exp for w in planes)
    return {
        "planes": len(planes),
        "synapses": int(planes[0].weights.size),
        "per_plane": wrong_sign,
        "effective": int((effective * signs[None, :] < 0).sum()),
    }
