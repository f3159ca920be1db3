"""The ``spikeforge`` command: export, compile, run, and the subcommands of other packages.

Subcommands living elsewhere (profiling, the model zoo, netx) are modules listed in
``COMMAND_MODULES``; each has ``register(subparsers)`` that adds its parsers and sets
``handler`` with ``set_defaults``. They reuse the option groups and loaders of
:mod:`spikeforge.cli_common` (not this module, which imports them).

Every user error ends in one line on stderr and a non-zero exit, never a
traceback (set ``SPIKEFORGE_DEBUG=1`` to see one), and no output file is left
behind: artefacts are written atomically, only after everything succeeded.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import stat
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from spikeforge.atomic import atomic_path
from spikeforge.choices import BACKENDS
from spikeforge.cli_common import (
    add_compile_options,
    add_factory_option,
    add_import_options,
    add_layout_options,
    add_netx_options,
    compiled_from_args,
    factory_from_args,
    import_options,
    load_array,
    seconds,
)
from spikeforge.errors import SpikeforgeError
from spikeforge.progress import stage
from spikeforge.version import VERSION

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1

#: Modules that add subcommands through ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "spikeforge.targets.netx_command",
    "spikeforge.profile.command",
    "spikeforge.models.command",
    "spikeforge.inspect_command",
    "spikeforge.cluster.command",  # cluster: spikeforge sweep
)

#: Subcommands whose ``-o`` names a directory to write into, not a file.
DIRECTORY_OUTPUTS = frozenset({"profile", "sweep"})


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"spikeforge: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning
    parser = _parser()
    args = parser.parse_args(argv)
    debug = bool(os.environ.get("SPIKEFORGE_DEBUG"))
    try:
        check_output_path(args)
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except SpikeforgeError as exc:
        if debug:
            traceback.print_exc()
        # One line, even when the message embeds a multi-line one (torch's load_state_dict).
        message = " ".join(str(exc).split())
        _report(f"spikeforge {args.command}: error: {message}")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _report("spikeforge: interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`spikeforge compile ... | head`): not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _report(
            f"spikeforge {args.command}: internal error: {type(exc).__name__}: {first} "
            "(set SPIKEFORGE_DEBUG=1 for the traceback)"
        )
        return EXIT_INTERNAL_ERROR


def _report(line: str) -> None:
    with contextlib.suppress(BrokenPipeError):
        print(line, file=sys.stderr)


def check_output_path(args: argparse.Namespace) -> None:
    """Refuse an ``-o`` that is an input, a symlink, a device, FIFO or (for files) a directory.

    Runs before any work: nothing the user named is overwritten except the ``-o``
    target, and that only by an atomic rename once everything succeeded.
    """
    output = getattr(args, "output", None)
    if output is None:
        return
    output = Path(output)
    if output.is_symlink():
        raise SpikeforgeError(f"-o {output}: is a symbolic link; name the file itself")
    if output.exists():
        mode = output.stat().st_mode
        wants_dir = args.command in DIRECTORY_OUTPUTS
        if wants_dir and not stat.S_ISDIR(mode):
            raise SpikeforgeError(f"-o {output}: exists and is not a directory")
        if not wants_dir and not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (device, FIFO?)"
            raise SpikeforgeError(f"cannot write {output}: it is {kind}; name a file to write")
    for name, value in vars(args).items():
        for candidate in value if isinstance(value, list) else [value]:
            if name != "output" and isinstance(candidate, Path) and _same_file(output, candidate):
                raise SpikeforgeError(
                    f"-o {output} is also the input {candidate} ({name.replace('_', '-')}); "
                    "refusing to overwrite an input"
                )


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line too (no usage block above it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spikeforge",
        description="Deploy spiking networks from norse / NIR to Loihi 2 through Lava.",
    )
    parser.add_argument("--version", action="version", version=f"spikeforge {VERSION}")
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
        help="shape of one time step of one sample, e.g. 20 or 1,8,8 (checkpoints only; "
        "inferred from a first Linear layer when omitted)",
    )
    export.add_argument(
        "--dt", type=seconds, default=None, help="time step in seconds (default: the cells' dt)"
    )
    add_factory_option(export)
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
    add_layout_options(run)
    add_import_options(run)
    add_compile_options(run)
    add_netx_options(run)
    run.set_defaults(handler=_cmd_run)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _show_defaults(parser, sub)
    return parser


def _show_defaults(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> None:
    """Every ``--help`` shows each option's default, whichever module added the command."""
    for command in [parser, *sub.choices.values()]:
        command.formatter_class = argparse.ArgumentDefaultsHelpFormatter


def _cmd_export(args: argparse.Namespace) -> int:
    import torch

    from spikeforge.checkpoint import load_checkpoint
    from spikeforge.export import to_nir, write_nir
    from spikeforge.export.exporter import module_dt
    from spikeforge.models.command import export_source
    from spikeforge.models.zoo import ZOO

    if not args.checkpoint.is_file() and str(args.checkpoint) in ZOO:
        if args.input_shape is not None or args.factory is not None:
            raise SpikeforgeError(
                f"zoo model {args.checkpoint} has its input shape and factory; drop "
                "--input-shape and --factory"
            )
        module, shape, model_dt = export_source(str(args.checkpoint))
        dt = args.dt if args.dt is not None else model_dt
    else:
        if not args.checkpoint.is_file():
            raise SpikeforgeError(
                f"checkpoint {args.checkpoint}: no such file, and not a zoo model "
                f"(the zoo: {', '.join(ZOO)})"
            )
        module = load_checkpoint(args.checkpoint, factory_from_args(args))
        shape = _export_shape(args, module)
        dt = args.dt if args.dt is not None else module_dt(module)
    with stage(1, 1, f"tracing the module and writing {args.output}"):
        graph = to_nir(module, torch.zeros(shape), dt=dt)
        write_nir(graph, args.output)
    print(f"wrote {args.output}: {len(graph.nodes)} nodes, dt = {dt:g} s")
    return 0


def _export_shape(args: argparse.Namespace, module) -> tuple[int, ...]:
    """``--input-shape``, or the first layer's when it fixes it (a Linear's in_features)."""
    from spikeforge.export import infer_input_shape

    if args.input_shape is not None:
        return _input_shape(args.input_shape)
    shape = infer_input_shape(module)
    if shape is None:
        raise SpikeforgeError(
            f"checkpoint {args.checkpoint}: the first layer does not fix the input shape "
            "(not a Linear); pass --input-shape, e.g. 1,8,8"
        )
    return shape


#: Largest ``--input-shape`` one export may trace (one step of one sample).
MAX_EXPORT_INPUT = 1 << 24


def _input_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError as exc:
        raise SpikeforgeError(f"--input-shape {text!r}: expected integers like 1,8,8") from exc
    if any(s < 1 for s in shape) or math.prod(shape) > MAX_EXPORT_INPUT:
        raise SpikeforgeError(
            f"--input-shape {text!r}: every extent must be >= 1 and the product at most "
            f"{MAX_EXPORT_INPUT}"
        )
    return shape


def _cmd_compile(args: argparse.Namespace) -> int:
    from spikeforge.compile import save
    from spikeforge.compile.lower import microcode_notes
    from spikeforge.compile.summary import summarize
    from spikeforge.profile.hardware import load_hardware

    hardware = load_hardware("loihi2")

    if args.graph.suffix == ".sfnet":
        raise SpikeforgeError(f"{args.graph} is already compiled; compile takes a NIR graph")
    netx = args.graph.suffix == ".net" and args.precision == "fixed"
    if args.output is None and not netx:  # only a netx plan may be compiled just to print it
        args.parser.error("the following arguments are required: -o/--output")
    with stage(1, 2, f"compiling {args.graph}: import, schedule, lower, quantise"):
        compiled = compiled_from_args(args, precision=args.precision)
        if args.output is not None:
            save(compiled, args.output)  # before printing: an error leaves stdout empty
    if compiled.float_plan is None:  # a netx file's own fixed-point plan
        from spikeforge.compile.netx_plan import describe
        from spikeforge.compile.summary import placement_section

        print(describe(compiled.fixed_plan))
        print(placement_section(compiled, hardware))
        _print_layer_cores(compiled, hardware, args)
    else:
        with stage(2, 2, "placing on Loihi 2 cores"):
            summary = summarize(compiled, hardware)
        print(summary)
        _print_layer_cores(compiled, hardware, args)
        conventions = compiled.network.metadata.get("conventions")
        if conventions:
            print(conventions)
        for note in microcode_notes(compiled.fixed_plan):
            print(note)
    if args.output is not None:
        print(f"wrote {args.output}")
    return 0


def _print_layer_cores(compiled, hardware, args: argparse.Namespace) -> None:
    """For the network ``hardware`` was calibrated on (PilotNet LIF on Loihi 2), its cores
    per layer beside Intel's compiler's; nothing for any other network or if it does not fit."""
    from spikeforge.compile.placement import place
    from spikeforge.profile.anchor import is_calibration_network, layer_cores_table

    steps = getattr(args, "reset_interval", None)
    if not is_calibration_network(hardware, compiled, steps):
        return
    try:
        placement = place(compiled.fixed_plan, hardware)
    except SpikeforgeError:
        return  # the placement section above already said why it does not fit
    table = layer_cores_table(hardware, compiled, placement, steps)
    if table is not None:
        print(table)


def _cmd_run(args: argparse.Namespace) -> int:
    if args.backend == "loihi2":
        from spikeforge.runtimes.loihi2 import require_lava_loihi

        require_lava_loihi()  # before loading or compiling anything: no chip, no run
    if (args.input is None) == (args.input_bias is None):
        raise SpikeforgeError(
            "pass --input (spikes) or, for a netx input neuron layer, --input-bias with --steps"
        )
    if args.input_bias is not None:
        result = _run_bias_driven(args, load_array(args.input_bias, "input bias"))
    elif args.backend == "reference" and args.network.suffix != ".sfnet":
        result = _run_reference_directly(args, load_array(args.input, "input"))
    else:
        result = _run_compiled(args, load_array(args.input, "input"))
    _write_outputs(args, result)
    return 0


def _run_bias_driven(args: argparse.Namespace, bias: np.ndarray):
    """A netx network whose input layer is driven through its bias (no input spikes)."""
    from spikeforge.runtimes import run

    compiled = compiled_from_args(args, precision=args.precision or "fixed")
    return run(
        compiled,
        None,
        backend=args.backend,
        precision=args.precision,
        record=args.record,
        raw_timing=args.raw_timing,
        show_progress=True,
        device=args.device,
        input_bias=bias,
        steps=args.steps,
    )


def _run_reference_directly(args: argparse.Namespace, inputs: np.ndarray):
    """The reference simulates the graph itself: what Loihi cannot run, it still can."""
    from spikeforge.compile import load_network
    from spikeforge.runtimes.options import RunOptions
    from spikeforge.runtimes.reference import run_reference

    if args.device is not None:
        raise SpikeforgeError("--device applies to the emulator backend, not reference")
    if args.precision not in (None, "float"):
        raise SpikeforgeError("the reference backend simulates in float64; drop --precision")
    if args.raw_timing:
        raise SpikeforgeError(
            "the reference backend runs in source time; --raw-timing applies to the "
            "hardware backends (lava, emulator, loihi2)"
        )
    network = load_network(args.network, **import_options(args))
    inputs = _layout(args, inputs, network.inputs)
    return run_reference(network, inputs, RunOptions(record=args.record))


def _layout(args: argparse.Namespace, inputs: np.ndarray, shapes: dict) -> np.ndarray:
    """The input batch-first, as ``--time-first`` / ``--batch-first`` (or a warning) says."""
    from spikeforge.api import batch_first

    if len(shapes) != 1:
        return inputs
    (shape,) = shapes.values()
    return batch_first(inputs, shape, args.time_axis)


def _run_compiled(args: argparse.Namespace, inputs: np.ndarray):
    from spikeforge.runtimes import run

    # A netx file compiles to its own fixed-point plan unless the float model is asked for.
    compiled = compiled_from_args(args, precision=args.precision or "fixed")
    if args.steps is not None:
        raise SpikeforgeError("--steps applies to --input-bias; spike inputs set their own length")
    return run(
        compiled,
        _layout(args, inputs, compiled.network.inputs),
        backend=args.backend,
        precision=args.precision,
        record=args.record,
        raw_timing=args.raw_timing,
        show_progress=True,
        device=args.device,
    )


def _write_outputs(args: argparse.Namespace, result) -> None:
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


if __name__ == "__main__":
    sys.exit(main())
