"""The README's main job: a trained zoo model taken to Loihi 2 and profiled at every stage.

It goes the way a user would, through the command line: ``spikeforge export`` the
shipped checkpoint to a NIR file, ``spikeforge compile`` it for Loihi 2 (fixed-point
scales calibrated on training inputs; the summary shows quantisation error and the
placement on cores), ``spikeforge run`` held-out samples on Lava's bit-accurate CPU
simulator, and finally the stage table: the task metric, agreement with norse,
spikes, synaptic ops, energy and latency per inference at norse -> reference -> Lava
float -> Lava fixed point -> the bit-exact emulator.

    .venv/bin/python scripts/demo.py [MODEL] [N_SAMPLES]     (default: digits_csnn 40)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from spikeforge.atomic import atomic_path
from spikeforge.cli import main as cli
from spikeforge.models import zoo
from spikeforge.models.stages import DEFAULT_STAGES, evaluate

WORK = Path("out") / "demo"
RUN_SAMPLES = 4


def step(title: str, argv: list[str]) -> None:
    print(f"\n$ spikeforge {' '.join(argv)}    # {title}", flush=True)
    code = cli(argv)
    if code != 0:
        sys.exit(code)


def main(argv: list[str]) -> None:
    name = argv[0] if argv else "digits_csnn"
    n = int(argv[1]) if len(argv) > 1 else 40
    model = zoo.get(name)
    print(f"{name}: {model.CARD.description}\npaper: {model.CARD.paper}")
    WORK.mkdir(parents=True, exist_ok=True)
    graph, net = WORK / f"{name}.nir", WORK / f"{name}.sfnet"
    held_out, calibration = WORK / "test_inputs.npy", WORK / "calibration_inputs.npy"
    for path, data in (
        (held_out, model.make_data("test", RUN_SAMPLES).inputs),
        (calibration, model.make_data("train", 32).inputs),
    ):
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.asarray(data, dtype=np.float64))
    step("trained norse model -> NIR", ["export", name, "-o", str(graph)])
    step("NIR -> Loihi 2", ["compile", str(graph), "-o", str(net), "--calibrate", str(calibration)])
    step(
        "held-out samples on Lava's bit-accurate simulator",
        ["run", str(net), "--input", str(held_out), "-o", str(WORK / "lava_fixed.npz"),
         "--backend", "lava", "--precision", "fixed"],
    )  # fmt: skip
    print(f"\nstage table on {n} held-out samples (Lava runs one sample at a time):", flush=True)
    table = evaluate(name, stages=DEFAULT_STAGES, n=n)
    print(table.to_terminal())
    with atomic_path(WORK / f"{name}_stages.md") as tmp:
        tmp.write_text(table.to_markdown())
    print(f"\nwrote {WORK / f'{name}_stages.md'}")


if __name__ == "__main__":
    main(sys.argv[1:])
