"""``spikeforge profile NETWORK --input X.npy [--hardware FILE] -o DIR``: the stage-wise report."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikeforge.choices import BACKENDS
from spikeforge.cli_common import (
    add_compile_options,
    add_factory_option,
    add_import_options,
    compiled_from_args,
    factory_from_args,
    load_array,
)
from spikeforge.errors import SpikeforgeError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="profile every stage: spikes, synaptic ops, energy, latency, placement",
        description=(
            "Run a NIR graph or compiled network on an input and report, per stage "
            "(norse source, NIR reference, compiled float, compiled fixed), agreement, "
            "spikes, synaptic ops, energy and latency per inference on a hardware model; "
            "writes DIR/profile.json and DIR/report.md with PNG figures."
        ),
    )
    parser.add_argument("network", type=Path, help="NIR file or .sfnet")
    parser.add_argument(
        "--input", type=Path, required=True, help=".npy spikes [batch, time, *shape]"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="report directory")
    parser.add_argument(
        "--hardware",
        default="loihi2",
        metavar="NAME|FILE",
        help="hardware model: a shipped name (loihi2, loihi1, ...) or a .toml file",
    )
    parser.add_argument(
        "--backend",
        choices=[b for b in BACKENDS if b != "loihi2"],
        default="emulator",
        help="where the compiled stages run (reference: float stage only)",
    )
    parser.add_argument(
        "--precision",
        choices=("float", "fixed", "both"),
        default="both",
        help="which compiled stages to run",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        metavar="CKPT",
        help="norse checkpoint of the source model, for the norse stage",
    )
    parser.add_argument(
        "--raster", nargs="+", default=None, metavar="POP", help="populations to draw"
    )
    add_factory_option(parser)
    add_import_options(parser)
    add_compile_options(parser)
    # cluster seam: --workers / --cluster / --shard-size (spikeforge.cluster)
    from spikeforge.cluster.spec import add_cluster_options

    add_cluster_options(parser)
    parser.set_defaults(handler=_cmd_profile)


def _cmd_profile(args: argparse.Namespace) -> int:
    from spikeforge.profile.hardware import load_hardware
    from spikeforge.profile.report import summary_table, write_report
    from spikeforge.profile.stages import PRECISIONS, hardware_stage, measure

    hardware = load_hardware(args.hardware)
    inputs = load_array(args.input, "input")
    compiled = compiled_from_args(args)
    module = None
    if args.source is not None:
        from spikeforge.checkpoint import load_checkpoint
        from spikeforge.runtimes.norse import in_float64

        module = in_float64(load_checkpoint(args.source, factory_from_args(args)))
    if inputs.ndim == len(next(iter(compiled.network.inputs.values()))) + 1:
        inputs = inputs[None]  # one unbatched sample
    precisions = PRECISIONS if args.precision == "both" else (args.precision,)
    if args.backend == "reference" and args.precision == "both":
        raise SpikeforgeError(
            "the reference backend gives the float stage only; pass --precision float, "
            "or --backend lava/emulator for the fixed-point stage"
        )
    stages = ["norse"] if module is not None else []
    stages += ["reference", *[hardware_stage(args.backend, p) for p in precisions]]
    # cluster seam: with --workers N > 1 or --cluster, the compiled stages run sharded on Ray.
    from spikeforge.cluster.spec import runner_from_args

    runner = runner_from_args(args)
    profile = measure(
        compiled,
        inputs,
        hardware,
        stages,
        module=module,
        raster=args.raster,
        show_progress=True,
        hardware_runner=runner,
    )
    written = write_report(profile, args.output, str(args.network), str(args.input))
    print(summary_table(profile))
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
