"""Write tests/data/reference_v3.sfnet and the emulator output it must keep producing.

Run once per .sfnet format version (``python scripts/make_reference_sfnet.py``); the
two files are committed, and ``tests/test_sfnet.py`` checks that every later
spikeforge loads the file and runs it, on the bit-exact emulator, to exactly the
stored spikes: a change to lowering or quantisation cannot silently change what an
existing file means. The network is the recurrent example (a cycle, a delayed
recurrent connection, calibrated scales, three weight planes with pacemakers), so
the file exercises every plan field the format carries.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from spikeforge.atomic import atomic_path
from spikeforge.compile import compile_network, save
from spikeforge.export import to_nir
from spikeforge.ir import from_nir
from spikeforge.models.examples import EXAMPLES, random_spikes
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import calibrate_on

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
NAME = "recurrent"
SAMPLES, STEPS = 2, 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args()
    factory, shape = EXAMPLES[NAME]
    inputs, calibration = random_spikes(NAME, SAMPLES, STEPS)
    graph = from_nir(to_nir(factory(), torch.zeros(shape), dt=1e-3))
    compiled = compile_network(graph, weight_planes=3, calibration=calibrate_on(calibration))
    args.out.mkdir(parents=True, exist_ok=True)
    save(compiled, args.out / "reference_v3.sfnet")
    result = run(
        compiled,
        inputs,
        backend="emulator",
        precision="fixed",
        device="cpu",
        record=list(compiled.network.populations),
    )
    arrays = {"input": inputs.astype(np.uint8), "output": result.output}
    arrays.update({f"{k}.spikes": v for k, v in result.spikes.items()})
    arrays.update({f"{k}.v": v for k, v in result.v.items()})
    with atomic_path(args.out / "reference_v3_expected.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    print(f"wrote {args.out}/reference_v3.sfnet and reference_v3_expected.npz")


if __name__ == "__main__":
    main()
