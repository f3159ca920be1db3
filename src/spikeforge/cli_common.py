"""Option groups and loaders shared by ``spikeforge``'s subcommands.

:mod:`spikeforge.cli` loads the subcommand modules (``*/command.py``); they and it
take their common options from here, so no subcommand imports the entry point that
imports it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spikeforge.choices import WEIGHT_PLANES
from spikeforge.errors import SpikeforgeError

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
    parser.add_argument(
        "--cuba-order",
        choices=c.CUBA_ORDERS,
        default=None,
        help="CubaLIF integrates v with the new (norse, snnTorch) or previous (NIR ref.) current",
    )
    parser.add_argument(
        "--reset",
        choices=c.RESET_MODES,
        default=None,
        help="to v_reset or subtract theta on the spike step; subtract after the decay or "
        "zero the whole step at the next step (snnTorch's reset_delay)",
    )
    parser.add_argument(
        "--threshold", choices=c.THRESHOLDS, default=None, help="fire at v > theta or v >= theta"
    )
    parser.add_argument(
        "--decay",
        choices=c.DECAYS,
        default=None,
        help="forward Euler (dt/tau) or the exact exponential (1 - exp(-dt/tau))",
    )
    parser.add_argument(
        "--if-input", choices=c.IF_INPUTS, default=None, help="IF adds r*x or dt*r*x per step"
    )
    parser.add_argument(
        "--v-init", choices=c.V_INITS, default=None, help="the voltage starts at 0 or v_reset"
    )
    parser.add_argument(
        "--synapse",
        choices=c.SYNAPSES,
        default=None,
        help="CubaLIF input scaled by NIR's du*w_in and dv*r, or unscaled (Rockpool)",
    )
    parser.add_argument(
        "--fires-on",
        choices=c.FIRES_ON,
        default=None,
        help="a spike is decided on the new membrane or on the previous one (Spyx)",
    )
    parser.add_argument(
        "--multi-spike",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a step emits floor(v/theta) spikes (sinabs' MultiSpike) instead of one",
    )


def import_options(args: argparse.Namespace) -> dict[str, object]:
    """The keyword arguments of :func:`spikeforge.compile.load_graph` from the options."""
    overrides = {
        key: getattr(args, key)
        for key in (
            "threshold",
            "decay",
            "if_input",
            "v_init",
            "multi_spike",
            "synapse",
            "fires_on",
        )
        if getattr(args, key) is not None
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
        "--calibrate", type=Path, default=None, help=".npy input to calibrate fixed-point scales on"
    )
    parser.add_argument(
        "--allow-timing-divergence",
        action="store_true",
        help="compile loops with zero-delay edges, one step late (reported)",
    )


def add_weight_planes_option(parser: argparse.ArgumentParser) -> None:
    """``--weight-planes``, for every command that compiles (``evaluate`` has no graph file)."""
    parser.add_argument(
        "--weight-planes",
        type=int,
        choices=WEIGHT_PLANES,
        default=2,
        help="8-bit synapse processes per weight matrix (2: ~15-bit weights at twice the "
        "memory; 3: fractions summed before rounding, for chaotic recurrent networks)",
    )


def load_array(path: Path, what: str) -> np.ndarray:
    """A .npy file as an array; a missing or unreadable file is a user error naming it."""
    if not path.is_file():
        raise SpikeforgeError(f"{what} {path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise SpikeforgeError(f"{what} {path}: not a readable .npy array ({exc})") from None


def compiled_from_args(args: argparse.Namespace, precision: str = "fixed") -> CompiledNet:
    """The network the options name: a NIR graph compiled with them, or a .sfnet loaded."""
    from spikeforge.compile import load_or_compile

    calibration = load_array(args.calibrate, "calibration input") if args.calibrate else None
    return load_or_compile(
        args.graph if hasattr(args, "graph") else args.network,
        **import_options(args),
        precision=precision,
        weight_planes=args.weight_planes,
        calibration=calibration,
        allow_timing_divergence=args.allow_timing_divergence,
    )
