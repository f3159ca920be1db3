"""``spikeforge inspect NET``: a compiled network's populations, by the names ``--record`` takes."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikeforge.cli_common import add_import_options, compiled_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="list a network's populations: names, kinds, shapes, latency, cores",
        description="Compile (or load) a network and list its inputs, populations and "
        "outputs: the names run --record and profile --raster take, each population's "
        "kind, shape, neurons, latency in hardware steps and the Loihi cores holding it.",
    )
    parser.add_argument("network", type=Path, help="NIR file, netx .net or .sfnet")
    parser.add_argument(
        "--hardware", default="loihi2", metavar="NAME|FILE", help="hardware model for placement"
    )
    add_import_options(parser)
    parser.set_defaults(handler=_cmd_inspect, weight_planes=2, decay_bits=None, calibrate=None,
                        allow_timing_divergence=False)  # fmt: skip


def _cmd_inspect(args: argparse.Namespace) -> int:
    from spikeforge.api import CompiledModel
    from spikeforge.profile.render import Table, to_terminal

    net = CompiledModel(compiled_from_args(args), args.hardware, path=args.network)
    network = net.compiled.network
    rows = [
        [
            p.name, p.kind, "x".join(map(str, p.shape)), str(p.neurons),
            "yes" if p.spiking else "no", str(p.latency), ", ".join(map(str, p.cores)),
        ]
        for p in net.populations
    ]  # fmt: skip
    table = Table(
        ["population", "kind", "shape", "neurons", "spiking", "latency", "cores"],
        rows,
        title=f"{args.network}: dt = {network.dt:g} s, on {net.hardware.name}",
        notes=[
            "inputs: " + ", ".join(f"{n} {list(s)}" for n, s in network.inputs.items()),
            "outputs: " + ", ".join(f"{n} {list(r.shape)}" for n, r in network.readouts.items()),
            "latency: hardware steps behind the source; record any population by name "
            "(spikeforge run --record NAME, profile --raster NAME)",
        ],
        label_columns=2,
    )
    print(to_terminal(table))
    return 0
