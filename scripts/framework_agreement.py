"""Agreement of spikeforge with other frameworks' own simulations of their own NIR exports.

For each framework and setting: build a small network in that framework, export it
with the framework's own NIR exporter, import it with ``--from FRAMEWORK``, and run
random spike input (4 samples x 150 steps) through the framework itself and through
spikeforge's reference, emulator (float, and fixed with 2 weight planes, the compiler's
default, and with 3) and, with ``--lava``, Lava's simulator. Agreement is the share of
output entries that are equal. A setting spikeforge refuses prints the reason instead;
multi-spike rows (sinabs' and Rockpool's defaults) note the width of the graded
payloads their counts cross Loihi in.

The column "decays rounded" is the float64 reference with nothing changed but each
population's ``du``/``dv``, replaced by the 12-bit decays the fixed-point plan holds:
how far Loihi's decay format alone moves the network, which no scale or weight
plane can recover. The last column holds the decays in 24 bits instead
(``--decay-bits 24``: spikeforge's SfLif, on the chip a microcoded neuron), with
three weight planes.

    PYTHONPATH=src python scripts/framework_agreement.py [--lava]

snnTorch runs here. Frameworks that cannot be installed beside the pinned stack
(sinabs and Rockpool pin nir <= 1.0.4) are measured against fixtures their own
exporters and simulations wrote in their own venvs
(``scripts/framework_fixtures/*_fixtures.py`` -> ``tests/data/frameworks/``).
SpikingJelly has no released exporter: its fixtures' NIR is written by
``spikingjelly_fixtures.py`` per its repository exporter's mapping (the manifest's
``nir_written_by``), ``y`` by SpikingJelly 0.0.0.0.14's own simulation.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir

from spikeforge.compile.compiled import CompiledNet, compile_network
from spikeforge.compile.network import Network, normalize
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.conventions import ConventionWarning
from spikeforge.ir.nir_import import load_nir
from spikeforge.loihi_format import DECAY_BITS_MAX, DU_OFFSET
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import calibrate_on, run_reference

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "frameworks"
N_IN, N_HID, N_OUT = 12, 10, 6
SAMPLES, STEPS = 4, 150
#: Fixed-point columns: the compiler's default weight planes, and the third plane.
PLANES = (2, 3)
#: The last column: three planes and decays this wide (``--decay-bits``, SfLif).
WIDE_DECAYS = DECAY_BITS_MAX
WIDE_COLUMN = f"fixed, 3 planes, {WIDE_DECAYS}-bit decays"


@dataclass(frozen=True)
class Case:
    """One framework setting: a factory for the module and the input shape of one step."""

    framework: str
    setting: str
    build: Callable[[int], torch.nn.Module]
    input_shape: tuple[int, ...] = (N_IN,)
    #: How the spikeforge side reads it (a --from preset and overrides).
    convention: str = "snntorch"
    overrides: tuple[tuple[str, object], ...] = ()
    #: Export with a batch of one and ``ignore_dims=[0]``: the path by which
    #: snnTorch 1.0 exports a conv net (an unbatched sample breaks at Flatten, a
    #: batched one without ignore_dims in nir's shape inference).
    batched_export: bool = False


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """snnTorch's forward spike function ``(mem - thr > 0)``, keeping the dtype."""
    return (x > 0).to(x.dtype)


def _neuron(kind: str, n: int, seed: int, **extra: object) -> torch.nn.Module:
    """An snnTorch neuron with per-neuron tensors (its exporter needs them)."""
    g = torch.Generator().manual_seed(seed)
    beta = extra.pop("beta", torch.full((n,), 0.9))
    kwargs = {
        "beta": beta,
        "threshold": 0.4 + 0.6 * torch.rand(n, generator=g),
        "init_hidden": True,
        "spike_grad": heaviside,
        **extra,
    }
    if kind == "leaky":
        return snn.Leaky(**kwargs)
    if kind == "synaptic":
        return snn.Synaptic(alpha=torch.full((n,), 0.7), **kwargs)
    if kind == "rleaky":
        return snn.RLeaky(all_to_all=True, linear_features=n, **kwargs)
    if kind == "rsynaptic":
        return snn.RSynaptic(
            alpha=torch.full((n,), 0.7), all_to_all=True, linear_features=n, **kwargs
        )
    raise ValueError(kind)


def _mlp(kind: str, bias: bool = True, **extra: object) -> Callable[[int], torch.nn.Module]:
    def build(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Sequential(
            torch.nn.Linear(N_IN, N_HID, bias=bias),
            _neuron(kind, N_HID, seed, **dict(extra)),
            torch.nn.Linear(N_HID, N_OUT, bias=bias),
            _neuron("leaky", N_OUT, seed + 1, **{k: v for k, v in extra.items() if k != "beta"}),
        )

    return build


def _scaled_mlp(kind: str, **extra: object) -> Callable[[int], torch.nn.Module]:
    """The MLP with its weights doubled, so that the hidden layer fires often."""
    inner = _mlp(kind, **extra)

    def build(seed: int) -> torch.nn.Module:
        net = inner(seed)
        with torch.no_grad():
            for layer in (net[0], net[2]):
                layer.weight.mul_(2.0)
        return net

    return build


def _conv() -> Callable[[int], torch.nn.Module]:
    """Conv2d + Leaky + AvgPool2d + Flatten + Linear + Leaky on (1, 8, 8) inputs."""

    def build(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        conv, linear = torch.nn.Conv2d(1, 2, 3), torch.nn.Linear(18, N_OUT)
        with torch.no_grad():  # enough drive that both layers fire
            conv.weight.mul_(4.0)
            linear.weight.mul_(12.0)
        return torch.nn.Sequential(
            conv,
            snn.Leaky(
                beta=torch.full((2, 6, 6), 0.9),
                threshold=0.4 + 0.6 * torch.rand((2, 6, 6), generator=g),
                init_hidden=True,
                spike_grad=heaviside,
            ),
            torch.nn.AvgPool2d(2),
            torch.nn.Flatten(),
            linear,
            _neuron("leaky", N_OUT, seed + 1),
        )

    return build


CASES: list[Case] = [
    Case("snntorch", "Leaky, defaults (subtract, reset_delay), MLP + bias", _mlp("leaky")),
    Case("snntorch", "Leaky, defaults, MLP no bias", _scaled_mlp("leaky", bias=False)),
    Case("snntorch", "Synaptic, defaults", _mlp("synaptic")),
    Case("snntorch", "RLeaky, defaults (recurrent)", _mlp("rleaky")),
    Case("snntorch", "RSynaptic, defaults (recurrent)", _mlp("rsynaptic")),
    Case(
        "snntorch",
        "Leaky, reset zero (reset_delay)",
        _mlp("leaky", reset_mechanism="zero"),
        overrides=(("reset", "zero_next"),),
    ),
    Case(
        "snntorch",
        "Synaptic, reset zero (reset_delay)",
        _mlp("synaptic", reset_mechanism="zero"),
        overrides=(("reset", "zero_next"),),
    ),
    Case(
        "snntorch",
        "RLeaky, reset zero (reset_delay)",
        _mlp("rleaky", reset_mechanism="zero"),
        overrides=(("reset", "zero_next"),),
    ),
    Case(
        "snntorch",
        "Leaky, reset zero, reset_delay=False",
        _mlp("leaky", reset_mechanism="zero", reset_delay=False),
        overrides=(("reset", "to_value"),),
    ),
    Case(
        "snntorch",
        "Leaky, a beta per neuron",
        _mlp("leaky", beta=torch.linspace(0.8, 0.95, N_HID)),
    ),
    Case(
        "snntorch",
        "Leaky, Conv2d + AvgPool2d + Flatten + Linear (batched sample, ignore_dims=[0])",
        _conv(),
        input_shape=(1, 8, 8),
        batched_export=True,
    ),
]


def spike_input(seed: int, shape: tuple[int, ...] = (N_IN,), p: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((SAMPLES, STEPS, *shape)) < p).astype(np.float64)


def simulate_snntorch(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The module itself, stepped in float64: output spikes ``[batch, time, n]``."""
    net = net.double()
    out = np.zeros((x.shape[0], x.shape[1], N_OUT))
    with torch.no_grad():
        for b in range(x.shape[0]):
            for module in net.modules():
                if isinstance(module, snn.SpikingNeuron):
                    module.reset_mem()  # reset_hidden() leaves RSynaptic's spk
            for t in range(x.shape[1]):
                out[b, t] = net(torch.as_tensor(x[b, t : t + 1]))[0].numpy()
    return out


def export(case: Case, seed: int, directory: Path) -> tuple[torch.nn.Module, Path]:
    net = case.build(seed)
    if case.batched_export:
        graph = export_to_nir(net.float(), torch.zeros(1, *case.input_shape), ignore_dims=[0])
    else:
        graph = export_to_nir(net.float(), torch.zeros(case.input_shape))
    path = directory / "net.nir"
    nir.write(path, graph)
    return net, path


def load(case: Case, path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConventionWarning)
        return load_nir(path, convention=case.convention, **dict(case.overrides))


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


def decays_rounded(compiled: CompiledNet) -> Network:
    """The compiled (split) network with each population's ``du``/``dv`` replaced by
    the decays of its fixed-point plan (12-bit: ``u *= (4096 - du - 1) / 4096``,
    ``v *= (4096 - dv) / 4096``), everything else exact."""
    populations = {}
    for name, pop in compiled.network.populations.items():
        fixed = compiled.fixed_plan.populations[name]
        populations[name] = replace(
            pop,
            du=np.full_like(pop.du, (fixed.du + DU_OFFSET) / 2**fixed.decay_bits),
            dv=np.full_like(pop.dv, fixed.dv / 2**fixed.decay_bits),
        )
    return replace(compiled.network, populations=populations)


def fixed_rows(compiled: CompiledNet, x: np.ndarray, agree) -> dict[str, float]:
    """Agreement of the decay-rounded reference and of the emulator at fixed point with
    each of :data:`PLANES` weight planes (the same calibrated peaks), and with three
    planes and :data:`WIDE_DECAYS`-bit decays."""
    row = {"decays rounded": agree(run_reference(decays_rounded(compiled), x).output)}
    for planes in PLANES:
        out = run(compiled.with_weight_planes(planes), x, "emulator", "fixed", device="cpu")
        row[f"fixed, {planes} planes"] = agree(out.output)
    wide = compiled.with_decay_bits(WIDE_DECAYS).with_weight_planes(max(PLANES))
    row[WIDE_COLUMN] = agree(run(wide, x, "emulator", "fixed", device="cpu").output)
    return row


def measure(case: Case, seed: int = 0, lava: bool = False) -> dict[str, float | str]:
    """Agreement with the framework per spikeforge backend, or the refusal."""
    with tempfile.TemporaryDirectory() as tmp:
        net, path = export(case, seed, Path(tmp))
        graph = load(case, path)
    x = spike_input(seed + 100, case.input_shape)
    truth = simulate_snntorch(net, x)
    row: dict[str, float | str] = {"spikes": float(truth.mean())}
    row["reference"] = agreement(run_reference(normalize(graph), x).output, truth)
    try:
        compiled = compile_network(graph)
    except SpikeforgeError as exc:
        row["refused"] = str(exc)
        return row
    row["emulator float"] = agreement(
        run(compiled, x, "emulator", "float", device="cpu").output, truth
    )
    row.update(fixed_rows(compiled, x, lambda out: agreement(out, truth)))
    if lava:
        row["Lava float"] = agreement(run(compiled, x, "lava", "float").output, truth)
    return row


@dataclass(frozen=True)
class Fixture:
    """A network another framework exported and simulated in its own venv (``FIXTURES``)."""

    framework: str
    name: str
    setting: str
    convention: str
    overrides: tuple[tuple[str, object], ...]

    @property
    def nir_path(self) -> Path:
        return FIXTURES / self.framework / f"{self.name}.nir"

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """The input and the framework's own output, as float64."""
        with np.load(FIXTURES / self.framework / f"{self.name}.npz") as f:
            return f["x"].astype(np.float64), f["y"].astype(np.float64)

    def load(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConventionWarning)
            return load_nir(self.nir_path, convention=self.convention, **dict(self.overrides))


def calibration_input(shape: tuple[int, ...], samples: int = 16) -> np.ndarray:
    """Unseen random spikes of the test input's rate, for ``--calibrate``.

    An IF neuron has no leak, so its worst-case voltage bound is far beyond what it
    reaches; scaling to observed ranges is what a user does with ``--calibrate``.
    """
    rng = np.random.default_rng(7)
    return (rng.random((samples, STEPS, *shape)) < 0.3).astype(np.float64)


def calibration(shape: tuple[int, ...]):
    """``compile_network``'s calibration: the float reference's peaks on
    :func:`calibration_input`."""
    return calibrate_on(calibration_input(shape))


def fixtures() -> list[Fixture]:
    """Every case of every ``FIXTURES/*/manifest.json``."""
    found = []
    for manifest in sorted(FIXTURES.glob("*/manifest.json")):
        spec = json.loads(manifest.read_text())
        for case in spec["cases"]:
            found.append(
                Fixture(
                    spec["framework"],
                    case["name"],
                    case["setting"],
                    case["convention"],
                    tuple(sorted(case["overrides"].items())),
                )
            )
    return found


def measure_fixture(fix: Fixture, lava: bool = False) -> dict[str, float | str]:
    """Agreement of each spikeforge backend with the framework's recorded output."""
    graph = fix.load()
    x, truth = fix.data()

    def agree(out: np.ndarray) -> float:
        return agreement(out.reshape(truth.shape), truth)

    row: dict[str, float | str] = {"spikes": float(truth.mean())}
    row["reference"] = agree(run_reference(normalize(graph), x).output)
    try:
        compiled = compile_network(graph, calibration=calibration(x.shape[2:]))
    except SpikeforgeError as exc:
        row["refused"] = str(exc)
        return row
    row["emulator float"] = agree(run(compiled, x, "emulator", "float", device="cpu").output)
    row.update(fixed_rows(compiled, x, agree))
    bits = sorted({p.num_message_bits for p in compiled.fixed_plan.populations.values()} - {0})
    if bits:  # multi-spike counts cross as graded payloads
        row["note"] = f"counts as {'/'.join(map(str, bits))}-bit graded payloads"
    if lava:
        row["Lava float"] = agree(run(compiled, x, "lava", "float").output)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lava", action="store_true", help="also run Lava's simulator (slow)")
    args = parser.parse_args()
    columns = [
        "reference",
        "emulator float",
        *(["Lava float"] if args.lava else []),
        "decays rounded",
        *(f"fixed, {planes} planes" for planes in PLANES),
        WIDE_COLUMN,
    ]
    print("| framework | setting | " + " | ".join(columns) + " | note |")
    print("|---|---|" + "---|" * len(columns) + "---|")
    for case in CASES:
        row = measure(case, lava=args.lava)
        cells = [
            f"{100 * row[c]:.2f} %" if isinstance(row.get(c), float) else "refused" for c in columns
        ]
        note = row.get("refused", "")
        print(f"| {case.framework} | {case.setting} | " + " | ".join(cells) + f" | {note} |")
    for fix in fixtures():
        row = measure_fixture(fix, lava=args.lava)
        cells = [
            f"{100 * row[c]:.2f} %" if isinstance(row.get(c), float) else "refused" for c in columns
        ]
        note = row.get("refused", row.get("note", ""))
        print(f"| {fix.framework} | {fix.setting} | " + " | ".join(cells) + f" | {note} |")


if __name__ == "__main__":
    main()
