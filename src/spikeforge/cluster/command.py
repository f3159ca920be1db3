"""``spikeforge sweep NET_OR_MODEL --grid KEY=V1,V2 ... -o DIR``: choices over a data set."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikeforge.cluster.grid import GRID_KEYS
from spikeforge.cluster.spec import add_cluster_options, spec_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a grid of deployment choices over a data set, on a Ray cluster",
        description=(
            "Compile and run a network at every point of a grid of deployment choices over "
            "a whole data set, sharded by sample (in this process, over --workers on a local "
            "Ray, or on --cluster); write DIR/sweep.md and DIR/sweep.json (task metric, "
            "agreement, spikes, synaptic ops, energy, latency per point) and DIR/pareto.png. "
            "Finished shards are cached under DIR/shards, so a rerun computes only what is "
            "missing."
        ),
    )
    parser.add_argument(
        "network", metavar="NET_OR_MODEL", help="NIR file, netx .net, .sfnet or zoo model name"
    )
    parser.add_argument(
        "--input", type=Path, default=None, help=".npy spikes [batch, time, *shape] (files only)"
    )
    parser.add_argument(
        "--labels", type=Path, default=None, help=".npy integer class per sample: accuracy"
    )
    parser.add_argument(
        "--grid",
        nargs="+",
        default=[],
        metavar="KEY=V1,V2",
        help=f"values to sweep; keys: {', '.join(GRID_KEYS)}",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="sweep directory")
    parser.add_argument(
        "-n", type=int, default=None, help="samples (zoo: held-out samples, default 100)"
    )
    parser.add_argument("--seed", type=int, default=0, help="zoo data seed")
    parser.add_argument(
        "--dt", type=float, default=None, help="time step in seconds, if the graph has none"
    )
    add_cluster_options(parser)
    parser.set_defaults(handler=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from spikeforge.cli_common import load_array
    from spikeforge.cluster.grid import Point, parse_grid
    from spikeforge.cluster.sources import open_source
    from spikeforge.cluster.sweep import remove_stale, run_sweep, to_terminal, write_sweep

    spec = spec_from_args(args)
    parse_grid(args.grid, Point())  # a typo in the grid fails before any data is loaded
    inputs = load_array(args.input, "input") if args.input is not None else None
    labels = load_array(args.labels, "labels") if args.labels is not None else None
    source = open_source(args.network, load_array, inputs, labels, args.n, args.seed, args.dt)
    points, varied = parse_grid(args.grid, source.defaults)
    remove_stale(args.output)
    result = run_sweep(
        source, points, varied, spec, args.output, args.shard_size, show_progress=True
    )
    written = write_sweep(result, args.output)
    print(to_terminal(result))
    print(
        f"{result.computed_shards} shards computed, {result.cached_shards} cached; "
        f"wrote {', '.join(str(p) for p in written)}"
    )
    return 0
