"""Whole data sets and deployment sweeps, sharded by sample over a Ray cluster (local by default).

Lava's CPU simulator runs about one sample per second per process, so a real test
set takes hours on one core. This package splits the samples by index into shards,
runs each shard where Ray puts it (:mod:`~spikeforge.cluster.executor`), caches every
finished shard under a content hash (:mod:`~spikeforge.cluster.cache`), and pools the
shards' raw counts and per-sample outputs (:mod:`~spikeforge.cluster.shard`) before
anything is divided, so that N workers give the single-process result number for number.

Ray is an optional extra (``pip install 'spikeforge[cluster]'``) and is imported only
when a run actually asks for more than one worker or for a cluster address.

Layering: this package sits above ``models`` and below the command line. The core
(spec, grid, shard, cache, executor) imports ``profile`` and below;
:mod:`~spikeforge.cluster.runner` plugs into the stage engine
(:func:`spikeforge.profile.stages.measure`, ``hardware_runner``), which ``evaluate`` and
``profile`` call; the ``sweep`` sources also use the model zoo.
"""

from spikeforge.cluster.spec import ClusterSpec

__all__ = ["ClusterSpec"]
