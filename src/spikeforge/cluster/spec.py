"""Where shards run: in this process, on a local Ray instance, or on an existing Ray cluster.

Kept free of Ray imports so that the command line can offer ``--workers`` and
``--cluster`` (and check them) without loading Ray when neither is given.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spikeforge.errors import SpikeforgeError

if TYPE_CHECKING:
    from spikeforge.cluster.runner import ShardedRunner


@dataclass(frozen=True)
class ClusterSpec:
    """``workers``: CPUs of a local Ray instance; ``address``: an existing cluster's address.

    Neither (or ``workers=1``) runs every shard in this process, without Ray.
    """

    workers: int | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise SpikeforgeError(f"--workers must be at least 1, got {self.workers}")
        if self.workers is not None and self.address is not None:
            raise SpikeforgeError(
                "--workers starts a local Ray instance and --cluster joins an existing one; "
                "pass one of them"
            )
        if self.address is not None and not self.address.strip():
            raise SpikeforgeError("--cluster needs a Ray address (e.g. ray://HOST:10001 or auto)")

    @property
    def uses_ray(self) -> bool:
        return self.address is not None or (self.workers or 1) > 1

    def describe(self) -> str:
        if self.address is not None:
            return f"Ray cluster at {self.address}"
        if self.uses_ray:
            return f"local Ray, {self.workers} workers"
        return "this process"


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` / ``--cluster ADDRESS``, shared by evaluate, profile and sweep."""
    group = parser.add_argument_group("cluster (Ray; pip install 'spikeforge[cluster]')")
    group.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="shard the samples over a local Ray instance with N worker processes",
    )
    group.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="shard the samples over an existing Ray cluster (ray://HOST:PORT, HOST:PORT, auto)",
    )
    group.add_argument(
        "--shard-size",
        type=int,
        default=None,
        metavar="N",
        help="samples per shard (default: 8 on Lava, 256 on the emulator and reference)",
    )


def spec_from_args(args: argparse.Namespace) -> ClusterSpec | None:
    """The cluster the options ask for, or None when they ask for nothing (no Ray)."""
    if getattr(args, "shard_size", None) is not None and args.shard_size < 1:
        raise SpikeforgeError(f"--shard-size must be at least 1, got {args.shard_size}")
    spec = ClusterSpec(workers=args.workers, address=args.cluster)
    return spec if spec.uses_ray else None


def runner_from_args(args: argparse.Namespace) -> ShardedRunner | None:
    """The engine's hardware runner for ``--workers``/``--cluster``; None runs as before."""
    spec = spec_from_args(args)
    if spec is None:
        if args.shard_size is not None:
            raise SpikeforgeError(
                "--shard-size applies to a sharded run: give --workers N (N > 1) or "
                "--cluster ADDRESS"
            )
        return None
    from spikeforge.cluster.runner import ShardedRunner

    return ShardedRunner(spec, args.shard_size, show_progress=True)
