"""Wall time of sharded runs on 1 and 2 workers, and a projection to 10^4 samples on 32 workers.

Two workloads on the zoo's ``digits_csnn`` (held-out digits, compiled as
``spikeforge evaluate`` compiles it):

* a Lava ``fixed_pt`` evaluation of ``--lava-samples`` samples (default 64), in this
  process (no Ray) and on a local Ray with 2 workers;
* an emulator sweep (weight planes 1, 2, 3 x float, fixed) over ``--sweep-samples``
  samples (default 320; the test split has 360), the same two ways.

Before any time is printed, the 2-worker result is checked equal to the 1-worker
one (outputs and every activity count), so the speed-up is for the same answer.

Projection (printed, never asserted): a shard's cost is measured as worker seconds
per sample on the 2-worker run (so it includes each shard's set-up, e.g. Lava's
process-graph compile); 10^4 samples on 32 workers then take
``ray start-up + ceil(shards / 32) x shard size x s/sample``, i.e. linear scaling
with one worker per core, as long as the inputs fit in the object store, and with
no cost for shipping them (one ``ray.put``; a real cluster adds its network time).

    .venv/bin/python scripts/bench_cluster.py [--lava-samples N] [--sweep-samples N] [--only X]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from spikeforge.cluster.executor import DEFAULT_SHARD_SIZE, DEFAULT_SHARD_SIZE_OTHER, run_compiled
from spikeforge.cluster.shard import RunSettings
from spikeforge.cluster.spec import ClusterSpec
from spikeforge.models.stages import CALIBRATION_SAMPLES, export_and_compile
from spikeforge.models.zoo import get, load_trained
from spikeforge.profile import load_hardware
from spikeforge.runtimes.norse import in_float64

MODEL = "digits_csnn"
TARGET_SAMPLES = 10_000
TARGET_WORKERS = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lava-samples", type=int, default=64)
    parser.add_argument("--sweep-samples", type=int, default=320, help="at most 360 (test split)")
    parser.add_argument("--only", choices=("lava", "sweep"), default=None)
    args = parser.parse_args()

    model = get(MODEL)
    module = in_float64(load_trained(MODEL))
    calibration = model.make_data("train", CALIBRATION_SAMPLES).inputs
    hardware = load_hardware("loihi2")
    nets = {p: export_and_compile(module, model.CARD, calibration, p) for p in (1, 2, 3)}

    if args.only != "sweep":
        lava_inputs = model.make_data("test", args.lava_samples).inputs
        lava_runs = [(nets[2], RunSettings("lava", "fixed", hardware))]
        bench("Lava fixed_pt evaluation", lava_runs, lava_inputs, DEFAULT_SHARD_SIZE["lava"])
    if args.only == "lava":
        return

    sweep_inputs = model.make_data("test", args.sweep_samples).inputs
    sweep_runs = [
        (nets[p], RunSettings("emulator", precision, hardware))
        for p in (1, 2, 3)
        for precision in ("float", "fixed")
    ]
    bench("emulator sweep (6 points)", sweep_runs, sweep_inputs, DEFAULT_SHARD_SIZE_OTHER // 4)


def bench(title: str, runs: list, inputs: np.ndarray, shard_size: int) -> None:
    n = len(inputs)
    print(f"\n{title}: {MODEL}, {n} samples x {len(runs)} job(s), shards of {shard_size}")
    walls = {}
    results = {}
    for label, spec in (
        ("1 worker (this process)", None),
        ("2 workers (local Ray)", ClusterSpec(2)),
    ):
        start = time.perf_counter()
        results[label] = run_compiled(runs, inputs, spec, None, shard_size)
        walls[label] = time.perf_counter() - start
    one, two = results.values()
    for a, b in zip(one.pooled, two.pooled, strict=True):
        for k in a.outputs:
            np.testing.assert_array_equal(a.outputs[k], b.outputs[k])
        for k in a.activity.populations:
            np.testing.assert_array_equal(a.activity.populations[k], b.activity.populations[k])
        np.testing.assert_array_equal(a.activity.cores, b.activity.cores)
    print("  2 workers == 1 worker: outputs and activity identical")
    for label, wall in walls.items():
        print(f"  {label:<26} {wall:8.1f} s wall  ({n * len(runs) / wall:8.2f} samples/s)")
    speed_up = walls["1 worker (this process)"] / walls["2 workers (local Ray)"]
    print(f"  speed-up on 2 workers: {speed_up:.2f}x")
    worker_s = sum(p.worker_s for p in two.pooled) / (n * len(runs))
    startup = ray_startup()
    shards = math.ceil(TARGET_SAMPLES / shard_size) * len(runs)
    projected = startup + math.ceil(shards / TARGET_WORKERS) * shard_size * worker_s
    print(
        f"  projected {TARGET_SAMPLES} samples on {TARGET_WORKERS} workers: {projected:.0f} s "
        f"(= {startup:.1f} s Ray start-up + ceil({shards} shards / {TARGET_WORKERS}) x "
        f"{shard_size} samples x {worker_s:.4f} worker s/sample measured on 2 workers; "
        f"1 worker would take {TARGET_SAMPLES * len(runs) * worker_s:.0f} s)"
    )


def ray_startup() -> float:
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    took = time.perf_counter() - start
    ray.shutdown()
    return took


if __name__ == "__main__":
    main()
