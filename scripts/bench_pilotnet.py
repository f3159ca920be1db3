"""Intel's PilotNet LIF, end to end: netx on Lava against spikeforge, bit for bit.

Runs ``../shared/anchors/pilotnet_lif/network.net`` (relative to the repository root)
with ``image.npy`` as the input layer's bias for 16 steps, with the benchmark's
``reset_interval=16, reset_offset=3``, three ways:

1. lava-dl's own ``netx.hdf5.Network`` on Lava ``fixed_pt`` (the ground truth);
2. spikeforge's emulator (``--backend emulator --precision fixed --raw-timing``);
3. spikeforge's Lava runtime (its own process graph: Conv, Dense, LIFReset).

It prints, per layer, whether spikes and voltages agree on every entry, and the
compile time, peak memory (this process's max RSS, Lava's worker processes not
included; each run in its own subprocess) and run time of each. Exits non-zero on
any disagreement. Figures are printed, never asserted elsewhere.

    .venv/bin/python scripts/bench_pilotnet.py [--steps 16] [--write-digest FILE]

``--write-digest`` also stores netx's per-layer digests (``tests/netx_reference.py``
``layer_digests``); ``tests/data/pilotnet_netx_digest.json`` was written so, and CI's
PilotNet test compares the emulator against it (the live netx run is opt-in there).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = ROOT.parent / "shared" / "anchors" / "pilotnet_lif"
RESET = {"reset_interval": 16, "reset_offset": 3}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(which: str, steps: int, out: Path) -> None:
    """One measured run in this (fresh) process; writes every layer's spikes and v."""
    image = np.load(ANCHOR / "image.npy")
    start = time.perf_counter()
    if which == "netx":
        sys.path.insert(0, str(ROOT / "tests"))
        from netx_reference import run_netx

        compile_s = 0.0
        spikes, volts = run_netx(ANCHOR / "network.net", steps, bias=image, **RESET)
    else:
        from spikeforge.compile import NetxOptions, load_or_compile
        from spikeforge.runtimes import run

        compiled = load_or_compile(ANCHOR / "network.net", netx=NetxOptions(**RESET))
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        names = list(compiled.fixed_plan.populations)
        result = run(
            compiled, None, backend=which, precision="fixed", record=names, raw_timing=True,
            input_bias=image, steps=steps, device="cpu" if which == "emulator" else None,
        )  # fmt: skip
        spikes = [result.spikes[n].reshape(steps, -1) for n in names]
        volts = [result.v[n].reshape(steps, -1) for n in names]
    run_s = time.perf_counter() - start
    arrays = {f"s{i}": s for i, s in enumerate(spikes)} | {f"v{i}": v for i, v in enumerate(volts)}
    np.savez(out, **arrays)
    print(json.dumps({"compile_s": compile_s, "run_s": run_s, "peak_mib": _peak_mib()}))


def _write_digest(path: Path, truth: dict[str, np.ndarray], layers: int, steps: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from netx_reference import layer_digests
    from spikeforge.atomic import atomic_path

    digests = layer_digests(
        [truth[f"s{i}"] for i in range(layers)], [truth[f"v{i}"] for i in range(layers)]
    )
    record = {"steps": steps, **RESET, "input_bias": "image.npy", "layers": digests}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"wrote netx's digests to {path}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--write-digest", type=Path, metavar="FILE",
                        help="also write netx's per-layer digests (JSON) to FILE")
    parser.add_argument("--child", choices=("netx", "emulator", "lava"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.steps, args.out)
        return 0
    if not (ANCHOR / "network.net").is_file():
        print(f"PilotNet anchor not found at {ANCHOR}", file=sys.stderr)
        return 2
    figures, data = {}, {}
    for which in ("netx", "emulator", "lava"):
        out = Path(f"/tmp/bench_pilotnet_{which}.npz")
        proc = subprocess.run(
            [sys.executable, __file__, "--child", which, "--steps", str(args.steps), "--out", out],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode:
            print(f"{which} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            return 1
        figures[which] = json.loads(proc.stdout.strip().splitlines()[-1])
        with np.load(out) as arrays:
            data[which] = {k: arrays[k] for k in arrays.files}
    truth = data["netx"]
    layers = len(truth) // 2
    if args.write_digest:
        _write_digest(args.write_digest, truth, layers, args.steps)
    print(f"PilotNet LIF, image.npy as input bias, {args.steps} steps, reset 16/3, raw steps")
    print(f"{'netx #':<8} {'neurons':>8} {'netx spikes':>11}  emulator s/v   lava s/v")
    exact = True
    for i in range(layers):
        marks = []
        for which in ("emulator", "lava"):
            s = np.array_equal(data[which][f"s{i}"], truth[f"s{i}"])
            v = np.array_equal(data[which][f"v{i}"], truth[f"v{i}"])
            exact &= s and v
            marks.append(f"{'=' if s else 'X'}/{'=' if v else 'X'}")
        n = truth[f"s{i}"].shape[1]
        print(f"{i:<8} {n:>8} {int(truth[f's{i}'].sum()):>11}  {marks[0]:>12} {marks[1]:>10}")
    for which, f in figures.items():
        agree = "ground truth" if which == "netx" else ("bit-exact" if exact else "DIFFERS")
        print(
            f"{which:<9} compile {f['compile_s']:6.2f} s  run {f['run_s']:7.2f} s  "
            f"peak RSS {f['peak_mib']:7.0f} MiB  ({agree})"
        )
    print("all layers, spikes and voltages, every step: " + ("EQUAL" if exact else "DIFFERENT"))
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
