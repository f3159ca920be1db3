"""Option groups and loaders shared by ``spikeforge``'s subcommands.

:mod:`spikeforge.cli` loads the subcommand modules (``*/command.py``); they and it
take their common options from here, so no subcommand imports the entry point that
imports it.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spikeforge.choices import WEIGHT_PLANES
from spikeforge.errors import SpikeforgeError
from spikeforge.loihi_format import DECAY_BITS_MAX, DECAY_SHIFT
from spikeforge.npy_guard import read_npy

if TYPE_CHECKING:  # the CLI builds its parser without loading the compiler
    from spikeforge.compile.compiled import CompiledNet


def add_import_options(parser: argparse.ArgumentParser) -> None:
    """How a NIR graph is discretised: a framework preset and each of its choices."""
    from spikeforge.ir import conventions as c

    parser.add_argument(
        "--dt", type=float, default=None, help="time step in seconds, if the graph has none"
    )
    parser.add_argument(
        "--from",
        dest="framework",
        choices=c.FRAMEWORKS,
        default=None,
        help="simulate the graph as this framework does (default: the framework its metadata "
        "names, else NIR/norse); the options below override single choices",
    )
    # One (choices, help) per convention choice; every one defaults to the preset's.
    choices = {
        "--cuba-order": (
            c.CUBA_ORDERS,
            "CubaLIF integrates v with the new (norse, snnTorch) or previous (NIR ref.) current",
        ),
        "--reset": (
            c.RESET_MODES,
            "to v_reset or subtract theta on the spike step; subtract after the decay or "
            "zero the whole step at the next step (snnTorch's reset_delay)",
        ),
        "--threshold": (c.THRESHOLDS, "fire at v > theta or v >= theta"),
        "--decay": (
            c.DECAYS,
            "forward Euler (dt/tau) or the exact exponential (1 - exp(-dt/tau))",
        ),
        "--if-input": (c.IF_INPUTS, "IF adds r*x or dt*r*x per step"),
        "--v-init": (c.V_INITS, "the voltage starts at 0 or v_reset"),
        "--synapse": (
            c.SYNAPSES,
            "CubaLIF input scaled by NIR's du*w_in and dv*r, or unscaled (Rockpool)",
        ),
        "--fires-on": (
            c.FIRES_ON,
            "a spike is decided on the new membrane or on the previous one (Spyx)",
        ),
    }
    for flag, (values, text) in choices.items():
        parser.add_argument(flag, choices=values, default=None, help=text)
    parser.add_argument(
        "--multi-spike",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a step emits floor(v/theta) spikes (sinabs' MultiSpike) instead of one",
    )


def import_options(args: argparse.Namespace) -> dict[str, object]:
    """The keyword arguments of :func:`spikeforge.compile.load_graph` from the options."""
    overrides = {
        key: getattr(args, key) for key in CONVENTION_OVERRIDES if getattr(args, key) is not None
    }
    return {
        "dt": args.dt,
        "cuba_order": args.cuba_order,
        "reset": args.reset,
        "convention": args.framework,
        "overrides": overrides,
    }


def add_compile_options(parser: argparse.ArgumentParser) -> None:
    add_weight_planes_option(parser)
    parser.add_argument(
        "--decay-bits",
        type=int,
        choices=range(DECAY_SHIFT, DECAY_BITS_MAX + 1),
        default=None,
        metavar=f"{{{DECAY_SHIFT}..{DECAY_BITS_MAX}}}",
        help=f"bits of the fixed-point decays ({DECAY_SHIFT}, the default: Loihi's LIF); "
        "wider holds time constants 12 bits round, as spikeforge's SfLif (on the chip a "
        "microcoded neuron)",
    )
    parser.add_argument(
        "--calibrate", type=Path, default=None, help=".npy input to calibrate fixed-point scales on"
    )
    parser.add_argument(
        "--allow-timing-divergence",
        action="store_true",
        help="compile loops with zero-delay edges, one step late (reported)",
    )


def add_netx_options(parser: argparse.ArgumentParser) -> None:
    """netx's ``reset_interval``/``reset_offset`` (``LIFReset``), for netx files only."""
    parser.add_argument(
        "--reset-interval",
        type=int,
        default=None,
        help="netx files: reset every neuron every N steps (netx's LIFReset)",
    )
    parser.add_argument(
        "--reset-offset",
        type=int,
        default=0,
        help="netx files: phase of that reset (netx's reset_offset)",
    )


def add_weight_planes_option(parser: argparse.ArgumentParser) -> None:
    """``--weight-planes``, for every command that compiles (``evaluate`` has no graph file)."""
    parser.add_argument(
        "--weight-planes",
        type=int,
        choices=WEIGHT_PLANES,
        default=None,
        help="8-bit synapse processes per weight matrix (2, the default: ~15-bit weights at "
        "twice the memory; 3: fractions summed before rounding, for chaotic recurrent networks)",
    )


def add_layout_options(parser: argparse.ArgumentParser) -> None:
    """``--time-first`` / ``--batch-first``: where the input's time axis is.

    Unsaid, a batched input is read batch-first with a warning naming both readings
    (norse's own convention is time-first), see :func:`spikeforge.api.batch_first`.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--time-first",
        dest="time_axis",
        action="store_const",
        const=0,
        default=None,
        help="the input is [time, batch, *shape] (norse's convention)",
    )
    group.add_argument(
        "--batch-first",
        dest="time_axis",
        action="store_const",
        const=1,
        help="the input is [batch, time, *shape] (assumed, with a warning, when neither is given)",
    )


def seconds(text: str) -> float:
    """argparse type for a time step: a finite positive number (``nan``, ``-1`` refused)."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from exc
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite positive number of seconds")
    return value


def add_factory_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--factory",
        default=None,
        metavar="FILE.py:FUNCTION",
        help="your own function that builds the checkpoint's module (runs that code); "
        "without it only spikeforge's zoo and example factories are accepted",
    )


def factory_from_args(args: argparse.Namespace):
    """The user's ``--factory`` callable, or None (the checkpoint's must then be built in)."""
    from spikeforge.checkpoint import factory_from_spec

    return None if args.factory is None else factory_from_spec(args.factory)


def load_array(path: Path, what: str) -> np.ndarray:
    """A real, non-empty ``.npy`` array; its header is checked before any allocation.

    (Finiteness is the runtimes' check, which names the network's input.)"""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below, after the checks
    except FileNotFoundError as exc:
        raise SpikeforgeError(f"{what} {path}: no such file") from exc
    except IsADirectoryError as exc:
        raise SpikeforgeError(f"{what} {path}: is a directory, not a .npy file") from exc
    except OSError as exc:
        raise SpikeforgeError(f"{what} {path}: cannot be opened ({exc.strerror})") from exc
    with fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SpikeforgeError(f"{what} {path}: not a regular file")
        array = read_npy(fh, info.st_size, f"{what} {path}")
    if array.size == 0:
        raise SpikeforgeError(f"{what} {path}: shape {array.shape} holds no samples or steps")
    return array


#: Options that shape compilation, and so cannot apply to an already compiled ``.sfnet``.
COMPILE_ONLY_OPTIONS = (
    "dt", "calibrate", "weight_planes", "decay_bits", "allow_timing_divergence",
)  # fmt: skip
#: Import options whose default is ``None`` (the convention options included).
#: Import options that are single convention choices (``load_graph``'s ``overrides``).
CONVENTION_OVERRIDES = (
    "threshold", "decay", "if_input", "v_init", "multi_spike", "synapse", "fires_on",
)  # fmt: skip
#: Every option that shapes how a graph is read: meaningless for a compiled ``.sfnet``.
IMPORT_ONLY_OPTIONS = ("framework", "cuba_order", "reset", *CONVENTION_OVERRIDES)


def compiled_from_args(args: argparse.Namespace, precision: str = "fixed") -> CompiledNet:
    """The network the options name: a NIR graph compiled with them, or a .sfnet loaded."""
    from spikeforge.compile import SFNET_SUFFIX, load_or_compile

    source = args.graph if hasattr(args, "graph") else args.network
    if source.suffix == SFNET_SUFFIX:
        given = [
            f"--{name.replace('_', '-')}"
            for name in COMPILE_ONLY_OPTIONS
            if getattr(args, name, None)
        ]
        given += [
            "--from" if name == "framework" else f"--{name.replace('_', '-')}"
            for name in IMPORT_ONLY_OPTIONS
            if getattr(args, name, None) is not None
        ]
        if given:
            raise SpikeforgeError(
                f"{source}: {', '.join(given)} cannot apply to an already compiled network "
                "(they shape compilation); compile the source graph with them instead"
            )
    calibration = None
    if args.calibrate:
        from spikeforge.runtimes.reference import calibrate_on

        calibration = calibrate_on(load_array(args.calibrate, "calibration input"))
    from spikeforge.compile import NetxOptions

    netx = NetxOptions(getattr(args, "reset_interval", None), getattr(args, "reset_offset", 0))
    return load_or_compile(
        source,
        **import_options(args),
        netx=netx,
        precision=precision,
        weight_planes=args.weight_planes or 2,
        decay_bits=args.decay_bits or DECAY_SHIFT,
        calibration=calibration,
        allow_timing_divergence=args.allow_timing_divergence,
    )
