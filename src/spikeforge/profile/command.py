"""``spikeforge profile NETWORK --input X.npy [--hardware FILE] -o DIR``: the stage-wise report."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikeforge.choices import BACKENDS
from spikeforge.cli_common import (
    add_compile_options,
    add_factory_option,
    add_import_options,
    add_layout_options,
    add_netx_options,
    compiled_from_args,
    factory_from_args,
    load_array,
)
from spikeforge.errors import SpikeforgeError

#: The decoders of spikeforge.profile.task, named here so that --help needs no torch.
DECODER_NAMES = ("max-count", "max-voltage", "last-voltage")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="profile every stage: spikes, synaptic ops, energy, latency, placement",
        description=(
            "Run a NIR graph or compiled network on an input and report, per stage "
            "(norse source, NIR reference, compiled float, compiled fixed), agreement, "
            "spikes, synaptic ops, energy, estimated hardware latency and simulation wall "
            "time per inference on a hardware model, and with --labels the task metric; "
            "writes DIR/report.html (self-contained), DIR/report.md with PNG figures and "
            "DIR/profile.json."
        ),
    )
    parser.add_argument("network", type=Path, help="NIR file or .sfnet")
    parser.add_argument(
        "--input",
        type=Path,
        default=None,
        help=".npy spikes [batch, time, *shape] (--time-first: [time, batch, *shape])",
    )
    parser.add_argument(
        "--input-bias",
        type=Path,
        default=None,
        help="netx input neuron layer driven by its bias (PilotNet): .npy [*shape] or "
        "[batch, *shape] in netx's (W, H, C) order, in place of --input; needs --steps",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="hardware steps to run a bias-driven input for"
    )
    parser.add_argument(
        "--device", default=None, help="emulator only: cpu or cuda (default: cuda when available)"
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
        choices=[*[b for b in BACKENDS if b != "loihi2"], "both"],
        default="emulator",
        help="where the compiled stages run (reference: float stage only; both: emulator "
        "and lava, with --input-bias only)",
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
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        metavar="Y.npy",
        help="labels for the task metric per stage: integer classes [batch] (accuracy) or "
        "float targets (relative error)",
    )
    parser.add_argument(
        "--decoder",
        choices=DECODER_NAMES,
        default="max-count",
        help="how an output becomes a prediction: spikes summed over time, the largest or "
        "the last value, each neuron; the prediction is the highest-scoring neuron",
    )
    parser.add_argument(
        "--neurobench",
        action="store_true",
        help="also write DIR/neurobench.json in NeuroBench's results format",
    )
    add_layout_options(parser)
    add_factory_option(parser)
    add_import_options(parser)
    add_compile_options(parser)
    add_netx_options(parser)
    # cluster seam: --workers / --cluster / --shard-size (spikeforge.cluster)
    from spikeforge.cluster.spec import add_cluster_options

    add_cluster_options(parser)
    parser.set_defaults(handler=_cmd_profile)


def _cmd_profile(args: argparse.Namespace) -> int:
    from spikeforge.api import CompiledModel
    from spikeforge.progress import stage

    if args.backend == "reference" and args.precision == "both":
        raise SpikeforgeError(
            "the reference backend gives the float stage only; pass --precision float, "
            "or --backend lava/emulator for the fixed-point stage"
        )
    # cluster seam: with --workers N > 1 or --cluster, the compiled stages run sharded on Ray.
    from spikeforge.cluster.spec import runner_from_args

    if (args.input is None) == (args.input_bias is None):
        raise SpikeforgeError(
            "pass --input (spikes) or, for a netx input neuron layer, --input-bias with --steps"
        )
    if args.input_bias is not None:
        return _profile_bias_driven(args)
    if args.steps is not None or args.backend == "both":
        raise SpikeforgeError("--steps and --backend both apply to --input-bias")
    runner = runner_from_args(args)
    inputs = load_array(args.input, "input")
    labels = load_array(args.labels, "labels") if args.labels is not None else None
    source = None
    if args.source is not None:
        from spikeforge.checkpoint import load_checkpoint

        source = load_checkpoint(args.source, factory_from_args(args))
    with stage(0, 0, f"loading {args.network} (a graph is compiled first)"):
        compiled = compiled_from_args(args)
    net = CompiledModel(compiled, args.hardware, source=source, path=args.network)
    report = net.profile(
        inputs,
        labels=labels,
        decoder=args.decoder,
        backend=args.backend,
        precision=args.precision,
        time_axis=args.time_axis,
        raster=args.raster,
        show_progress=True,
        hardware_runner=runner,
    )
    report.inputs = str(args.input)
    written = report.write(args.output, neurobench=args.neurobench)
    print(report)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _profile_bias_driven(args: argparse.Namespace) -> int:
    """``--input-bias``: the fixed-point plan only, in raw hardware steps (no reference)."""
    from spikeforge.api import CompiledModel
    from spikeforge.progress import stage

    if args.labels is not None or args.source is not None:
        raise SpikeforgeError("--labels and --source do not apply to --input-bias")
    bias = load_array(args.input_bias, "input bias")
    with stage(0, 0, f"loading {args.network}"):
        compiled = compiled_from_args(args)
    net = CompiledModel(compiled, args.hardware, path=args.network)
    report = net.profile(
        input_bias=bias, steps=args.steps, backend=args.backend, precision=args.precision,
        raster=args.raster, show_progress=True, device=args.device,
    )  # fmt: skip
    report.inputs = str(args.input_bias)
    written = report.write(args.output, neurobench=args.neurobench)
    print(report)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
