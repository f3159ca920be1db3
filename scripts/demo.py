"""The README's main job: a norse network exported, compiled for Loihi 2, run on Lava, compared.

Uses the shipped example network (the zoo's trained models are not in yet) so that
it needs no training: export to NIR -> compile (float and fixed point) -> run on the
reference simulator and Lava's CPU simulator -> a stage table of agreement and spikes.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spikeforge.checkpoint import save_checkpoint
from spikeforge.cli import main as cli
from spikeforge.compile import load
from spikeforge.models.examples import EXAMPLES, run_norse
from spikeforge.runtimes import run

MODEL = "conv_net"
STEPS = 100
BATCH = 4


def stage_table(work: Path) -> None:
    factory, shape = EXAMPLES[MODEL]
    rng = np.random.default_rng(0)
    inputs = (rng.random((BATCH, STEPS, *shape)) < 0.2).astype(np.float32)
    np.save(work / "input.npy", inputs)
    np.save(work / "calibration.npy", (rng.random((4, STEPS, *shape)) < 0.2).astype(np.float32))
    checkpoint = work / f"{MODEL}.pt"
    save_checkpoint(factory(), f"spikeforge.models.examples:{MODEL}", {}, checkpoint)
    steps = [
        ["export", str(checkpoint), "-o", str(work / f"{MODEL}.nir"),
         "--input-shape", ",".join(map(str, shape))],
        ["compile", str(work / f"{MODEL}.nir"), "-o", str(work / f"{MODEL}.sfnet"),
         "--calibrate", str(work / "calibration.npy")],
    ]  # fmt: skip
    for argv in steps:
        print(f"\n$ spikeforge {' '.join(argv)}")
        if cli(argv) != 0:
            sys.exit(1)
    compiled = load(work / f"{MODEL}.sfnet")
    source = run_norse(factory().double(), torch.as_tensor(inputs, dtype=torch.float64)).numpy()
    rows = [("norse (source, float64)", source, 0.0)]
    for label, backend, precision in [
        ("reference (IR, float64)", "reference", None),
        ("Lava Loihi2SimCfg floating_pt", "lava", "float"),
        ("Lava Loihi2SimCfg fixed_pt", "lava", "fixed"),
    ]:
        start = time.perf_counter()
        result = run(compiled, inputs, backend=backend, precision=precision, show_progress=True)
        rows.append((label, result.output, time.perf_counter() - start))
    print(f"\nstage table: {MODEL}, {BATCH} samples x {STEPS} steps, random input spikes")
    print(f"{'stage':<32} {'output spikes':>13} {'agree w/ norse':>15} {'exact':>6} {'wall s':>7}")
    for label, output, seconds in rows:
        agree = float((output == source).mean())
        exact = "yes" if np.array_equal(output, source) else "no"
        print(f"{label:<32} {int(output.sum()):>13} {agree:>15.4f} {exact:>6} {seconds:>7.2f}")


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/demo")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        stage_table(Path(scratch))
