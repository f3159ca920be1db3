"""``spikeforge export-netx``: write a network in lava-dl's netx HDF5 format."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikeforge.cli_common import add_compile_options, add_import_options, compiled_from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export-netx",
        help="write a network as lava-dl netx HDF5 (.net)",
        description=(
            "Compile a NIR graph (or load a .sfnet) and write its fixed-point network in the "
            "format lava.lib.dl.netx.hdf5.Network loads. Feed-forward chains of spiking "
            "layers only (self-recurrent layers included); weights are stored in 8 bits "
            "without exponent, so layers are rescaled where the compiled ones use more. "
            "A netx plan (a .net, or a .sfnet holding one) is written back as its own "
            "integers: biases, input neuron layers, conv, delays and SDNN included."
        ),
    )
    parser.add_argument("network", type=Path, help="NIR file, netx .net or .sfnet")
    parser.add_argument("-o", "--output", type=Path, required=True, help=".net file to write")
    add_import_options(parser)
    add_compile_options(parser)
    parser.set_defaults(handler=_cmd_export_netx)


def _cmd_export_netx(args: argparse.Namespace) -> int:
    from spikeforge.targets.netx import describe, write_netx

    compiled = compiled_from_args(args)
    if compiled.float_plan is None:  # a netx file's own plan: its integers, written back
        from spikeforge.targets.netx_replan import write_netx_plan

        print(write_netx_plan(compiled, args.output))
        print(f"wrote {args.output} (lava.lib.dl.netx.hdf5.Network)")
        return 0
    exported = write_netx(compiled, args.output)
    print(describe(exported))
    print(f"wrote {args.output}: {len(exported.layers)} layers (lava.lib.dl.netx.hdf5.Network)")
    return 0
