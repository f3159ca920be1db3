"""The ``spikeforge`` command: export, compile, run, and the subcommands of other packages.

Subcommands living elsewhere (profiling, the model zoo, netx) are modules listed in
``COMMAND_MODULES``; each has ``register(subparsers)`` that adds its parsers and sets
``handler`` with ``set_defaults``. They reuse the option groups and loaders below.

Every user error ends in one line on stderr and a non-zero exit, never a
traceback (set ``SPIKEFORGE_DEBUG=1`` to see one), and no output file is left
behind: artefacts are written atomically, only after everything succeeded.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from spikeforge.atomic import atomic_path
from spikeforge.choices import BACKENDS, WEIGHT_PLANES
from spikeforge.errors import SpikeforgeError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1

#: Modules that add subcommands through ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "spikeforge.export.netx_command",
    "spikeforge.profile.command",
    "spikeforge.models.command",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SpikeforgeError as exc:
        # One line, even when the message embeds a multi-line one (torch's load_state_dict).
        message = " ".join(str(exc).split())
        print(f"spikeforge {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("spikeforge: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("SPIKEFORGE_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"spikeforge {args.command}: internal error: {type(exc).__name__}: {first} "
            "(set SPIKEFORGE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line too (no usage block above it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spikeforge",
        description="Deploy spiking networks from norse / NIR to Loihi 2 through Lava.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    export = sub.add_parser(
        "export",
        help="export a norse checkpoint or a trained zoo model to NIR",
        description="Export a norse checkpoint (spikeforge.checkpoint.save_checkpoint), or a "
        "zoo model by name (spikeforge models), to NIR.",
    )
    export.add_argument(
        "checkpoint",
        type=Path,
        metavar="CHECKPOINT|MODEL",
        help="checkpoint (factory, kwargs and state_dict) or zoo model name",
    )
    export.add_argument("-o", "--output", type=Path, required=True, help="NIR file to write")
    export.add_argument(
        "--input-shape",
        default=None,
        help="shape of one time step of one sample, e.g. 20 or 1,8,8 (checkpoints only)",
    )
    export.add_argument(
        "--dt", type=float, default=None, help="time step in seconds (default: the cells' dt)"
    )
    export.set_defaults(handler=_cmd_export)

    comp = sub.add_parser(
        "compile",
        help="compile a NIR graph for Loihi 2",
        description="Import a NIR graph, schedule, lower and quantise it; write a .sfnet.",
    )
    comp.add_argument("graph", type=Path, help="NIR file")
    comp.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help=".sfnet file to write (required, except to only print a netx .net's plan)",
    )
    add_import_options(comp)
    comp.add_argument(
        "--precision",
        choices=("float", "fixed"),
        default="fixed",
        help="default precision when the network is run (both plans are kept; a netx .net "
        "at fixed is netx's own integers, at float the file imported as a graph)",
    )
    add_compile_options(comp)
    add_netx_options(comp)
    comp.set_defaults(handler=_cmd_compile, parser=comp)

    run = sub.add_parser(
        "run",
        help="run a NIR graph or compiled network",
        description="Run on the reference simulator or Lava; write outputs to .npz.",
    )
    run.add_argument("network", type=Path, help="NIR file, .sfnet or netx .net")
    run.add_argument(
        "--input",
        type=Path,
        default=None,
        help=".npy of shape [batch, time, *shape] or [time, *shape] (spikes)",
    )
    run.add_argument(
        "--input-bias",
        type=Path,
        default=None,
        help="netx input neuron layer: .npy of its bias_mant per sample, [*shape] or "
        "[batch, *shape] in netx's (W, H, C) order (lava, emulator)",
    )
    run.add_argument("--steps", type=int, default=None, help="steps to run a bias-driven input for")
    run.add_argument("-o", "--output", type=Path, required=True, help=".npz file to write")
    run.add_argument("--backend", choices=BACKENDS, default="reference")
    run.add_argument("--precision", choices=("float", "fixed"), default=None)
    run.add_argument(
        "--device",
        default=None,
        help="emulator only: cpu or cuda (default: cuda when available)",
    )
    run.add_argument(
        "--record",
        nargs="+",
        default=[],
        metavar="NODE",
        help="populations whose spikes and v to save",
    )
    run.add_argument(
        "--raw-timing",
        action="store_true",
        help="keep hardware steps instead of aligning to source time",
    )
    add_import_options(run)
    add_compile_options(run)
    add_netx_options(run)
    run.set_defaults(handler=_cmd_run)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def add_import_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dt", type=float, default=None, help="time step in seconds, if the graph has none"
    )
    parser.add_argument(
        "--cuba-order",
        choices=("new", "previous"),
        default="new",
        help="CubaLIF integrates v with the new (norse, snnTorch) or previous (NIR ref.) current",
    )
    parser.add_argument(
        "--reset",
        choices=("to_value", "subtract"),
        default="to_value",
        help="how the graph's neurons reset (NIR: to v_reset)",
    )


def add_compile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weight-planes",
        type=int,
        choices=WEIGHT_PLANES,
        default=2,
        help="8-bit synapse processes per weight matrix (2: ~15-bit weights at twice the "
        "memory; 3: fractions summed before rounding, for chaotic recurrent networks)",
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


def load_array(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise SpikeforgeError(f"{what} {path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise SpikeforgeError(f"{what} {path}: not a readable .npy array ({exc})") from None


def compiled_from_args(args: argparse.Namespace, precision: str = "fixed"):
    from spikeforge.compile import NetxOptions, load_or_compile

    calibration = load_array(args.calibrate, "calibration input") if args.calibrate else None
    netx = NetxOptions(getattr(args, "reset_interval", None), getattr(args, "reset_offset", 0))
    return load_or_compile(
        args.graph if hasattr(args, "graph") else args.network,
        dt=args.dt,
        cuba_order=args.cuba_order,
        reset=args.reset,
        netx=netx,
        precision=precision,
        weight_planes=args.weight_planes,
        calibration=calibration,
        allow_timing_divergence=args.allow_timing_divergence,
    )


def _cmd_export(args: argparse.Namespace) -> int:
    import torch

    from spikeforge.checkpoint import load_checkpoint
    from spikeforge.export import to_nir, write_nir
    from spikeforge.models.command import export_source
    from spikeforge.models.zoo import ZOO

    if not args.checkpoint.is_file() and str(args.checkpoint) in ZOO:
        if args.input_shape is not None:
            raise SpikeforgeError(f"zoo model {args.checkpoint} has its input shape; drop it")
        module, shape, model_dt = export_source(str(args.checkpoint))
        dt = args.dt if args.dt is not None else model_dt
    else:
        if not args.checkpoint.is_file():
            raise SpikeforgeError(
                f"checkpoint {args.checkpoint}: no such file, and not a zoo model "
                f"(the zoo: {', '.join(ZOO)})"
            )
        if args.input_shape is None:
            raise SpikeforgeError(f"checkpoint {args.checkpoint}: --input-shape is required")
        try:
            shape = tuple(int(s) for s in args.input_shape.split(","))
        except ValueError:
            raise SpikeforgeError(
                f"--input-shape {args.input_shape!r}: expected integers like 1,8,8"
            ) from None
        module = load_checkpoint(args.checkpoint)
        dt = args.dt if args.dt is not None else _module_dt(module)
    graph = to_nir(module, torch.zeros(shape), dt=dt)
    write_nir(graph, args.output)
    print(f"wrote {args.output}: {len(graph.nodes)} nodes, dt = {dt:g} s")
    return 0


def _module_dt(module) -> float:
    steps = {
        float(m.dt) for m in module.modules() if isinstance(getattr(m, "dt", None), (int, float))
    }
    if len(steps) > 1:
        raise SpikeforgeError(
            f"the module's cells use different dt values {sorted(steps)}; pass --dt"
        )
    if not steps:
        raise SpikeforgeError("the module has no cell with a dt; pass --dt SECONDS")
    return steps.pop()


def _cmd_compile(args: argparse.Namespace) -> int:
    from spikeforge.compile import save
    from spikeforge.compile.summary import summarize

    if args.graph.suffix == ".sfnet":
        raise SpikeforgeError(f"{args.graph} is already compiled; compile takes a NIR graph")
    netx = args.graph.suffix == ".net" and args.precision == "fixed"
    if args.output is None and not netx:  # only a netx plan may be compiled just to print it
        args.parser.error("the following arguments are required: -o/--output")
    compiled = compiled_from_args(args, precision=args.precision)
    if args.output is not None:
        save(compiled, args.output)  # before printing: an error leaves stdout empty
    if compiled.fixed_source is not None:
        from spikeforge.compile.netx_plan import describe

        print(describe(compiled.fixed_source))
    else:
        print(summarize(compiled))
    if args.output is not None:
        print(f"wrote {args.output}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from spikeforge.runtimes import run

    if args.backend == "loihi2":
        from spikeforge.runtimes.loihi2 import require_lava_loihi

        require_lava_loihi()  # before loading or compiling anything: no chip, no run
    if (args.input is None) == (args.input_bias is None):
        raise SpikeforgeError(
            "pass --input (spikes) or, for a netx input neuron layer, --input-bias with --steps"
        )
    inputs = load_array(args.input, "input") if args.input is not None else None
    bias = load_array(args.input_bias, "input bias") if args.input_bias is not None else None
    # A netx file compiles to its own fixed-point plan unless the float model is asked for.
    float_wanted = args.precision == "float" or args.backend == "reference"
    compiled = compiled_from_args(args, precision="float" if float_wanted else "fixed")
    result = run(
        compiled,
        inputs,
        backend=args.backend,
        precision=args.precision,
        record=args.record,
        raw_timing=args.raw_timing,
        show_progress=True,
        device=args.device,
        input_bias=bias,
        steps=args.steps,
    )
    arrays = {"output": result.output} if len(result.outputs) == 1 else {}
    arrays.update(
        {f"output.{k}": v for k, v in result.outputs.items()} if len(result.outputs) > 1 else {}
    )
    arrays.update({f"{k}.spikes": v for k, v in result.spikes.items()})
    arrays.update({f"{k}.v": v for k, v in result.v.items()})
    try:
        with atomic_path(args.output) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError as exc:
        raise SpikeforgeError(f"cannot write {args.output}: {exc}") from exc
    # A non-spiking readout (an LI voltage) is no spike count.
    spiking = len(result.outputs) == 1 and bool(np.isin(result.output, (0.0, 1.0)).all())
    spikes = int(np.sum(result.output)) if spiking else None
    print(
        f"wrote {args.output}: {', '.join(f'{k} {list(v.shape)}' for k, v in arrays.items())}"
        + (f"; {spikes} output spikes" if spikes is not None else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
