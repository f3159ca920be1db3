"""``spikeforge models``, ``spikeforge train NAME`` and ``spikeforge evaluate NAME``.

``spikeforge export NAME -o NAME.nir`` is the core ``export`` command, which accepts a
zoo model name in place of a checkpoint (see :func:`export_source`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from spikeforge.cli_common import add_weight_planes_option
from spikeforge.errors import SpikeforgeError

if TYPE_CHECKING:  # the CLI imports this module on every call; torch loads only when used
    import torch

#: Backends an evaluation can run on (``loihi2`` needs the chip; ``spikeforge run`` has it).
EVALUATE_BACKENDS = ("reference", "lava", "emulator")


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser(
        "models",
        help="list the model zoo",
        description="List the zoo's models: name, what it is, and the paper it reproduces.",
    )
    models.set_defaults(handler=_cmd_models)

    train = subparsers.add_parser(
        "train",
        help="train a zoo model and write its checkpoint",
        description="Train a zoo model (surrogate-gradient BPTT in norse, or the paper's "
        "construction) and write its checkpoint atomically.",
    )
    train.add_argument("name", help="zoo model (see spikeforge models)")
    train.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="CKPT",
        help="checkpoint to write; required unless --force (an existing file needs --force)",
    )
    train.add_argument(
        "--force",
        action="store_true",
        help="overwrite an existing -o file, or without -o the installed package's shipped "
        "checkpoint (which evaluate and export use)",
    )
    train.add_argument("--seed", type=int, default=0, help="training seed")
    train.set_defaults(handler=_cmd_train)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="measure a zoo model at every stage: norse, reference, Lava, emulator",
        description="Export a zoo model to NIR, compile it, run the held-out set at each "
        "stage, and print its task metric, agreement with norse, spikes, synaptic ops, "
        "energy and latency per stage.",
    )
    evaluate.add_argument("name", help="zoo model (see spikeforge models)")
    evaluate.add_argument(
        "--backend",
        nargs="+",
        choices=EVALUATE_BACKENDS,
        default=["reference", "lava"],
        help="backends to run after norse (default: reference lava)",
    )
    evaluate.add_argument(
        "--precision",
        nargs="+",
        choices=("float", "fixed"),
        default=["float", "fixed"],
        help="precisions for lava and emulator (the reference is always float64)",
    )
    evaluate.add_argument("-n", type=int, default=100, help="held-out samples (default 100)")
    evaluate.add_argument("--seed", type=int, default=0, help="data seed")
    add_weight_planes_option(evaluate)
    evaluate.add_argument(
        "--calibration-samples",
        type=int,
        default=None,
        help="training samples that calibrate the fixed-point scales (default 32)",
    )
    evaluate.add_argument(
        "--hardware", default="loihi2", metavar="NAME|FILE", help="hardware model for energy"
    )
    evaluate.add_argument(
        "--checkpoint", type=Path, default=None, help="use this checkpoint, not the shipped one"
    )
    # cluster seam: --workers / --cluster / --shard-size (spikeforge.cluster)
    from spikeforge.cluster.spec import add_cluster_options

    add_cluster_options(evaluate)
    evaluate.set_defaults(handler=_cmd_evaluate)


def export_source(name: str) -> tuple[torch.nn.Module, tuple[int, ...], float]:
    """The trained zoo model ``name``: module, shape of one input step, dt."""
    from spikeforge.models.zoo import get, load_trained

    module = load_trained(name)
    card = get(name).CARD
    return module, tuple(card.input_shape), card.dt


def _cmd_models(args: argparse.Namespace) -> int:
    from spikeforge.models.zoo import ZOO, checkpoint_path, get

    rows = []
    for name in ZOO:
        try:
            card = get(name).CARD
        except ImportError as exc:
            rows.append((name, f"(cannot be imported: {exc})", ""))
            continue
        trained = "" if checkpoint_path(name).is_file() else " [no trained checkpoint]"
        rows.append((name, card.description + trained, card.paper))
    width = max(len(r[0]) for r in rows)
    for name, description, paper in rows:
        print(f"{name:<{width}}  {description}")
        if paper:
            print(f"{'':<{width}}  paper: {paper}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from spikeforge.models.zoo import checkpoint_path, get, save_trained

    model = get(args.name)
    if args.output is None and not args.force:
        raise SpikeforgeError(
            f"pass -o CKPT.pt for the trained {args.name}, or --force to overwrite the "
            f"shipped checkpoint {checkpoint_path(args.name)}"
        )
    if args.output is not None and args.output.exists() and not args.force:
        raise SpikeforgeError(f"{args.output} exists; pass --force to overwrite it")
    module = model.train(show_progress=True, seed=args.seed)
    try:
        path = save_trained(args.name, module, args.output)
    except OSError as exc:
        target = args.output or checkpoint_path(args.name)
        raise SpikeforgeError(f"cannot write checkpoint {target}: {exc}") from exc
    print(f"wrote {path}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from spikeforge.models.stages import CALIBRATION_SAMPLES, evaluate

    calibration = (
        CALIBRATION_SAMPLES if args.calibration_samples is None else args.calibration_samples
    )
    if args.n < 1:
        raise SpikeforgeError(f"-n must be at least 1, got {args.n}")
    if calibration < 1:
        raise SpikeforgeError(f"--calibration-samples must be at least 1, got {calibration}")
    stages = ["norse"]
    for backend in dict.fromkeys(args.backend):
        if backend == "reference":
            stages.append("reference")
        else:
            stages += [f"{backend}-{p}" for p in dict.fromkeys(args.precision)]
    # cluster seam: with --workers N > 1 or --cluster, the Loihi stages run sharded on Ray.
    from spikeforge.cluster.spec import runner_from_args

    runner = runner_from_args(args)
    table = evaluate(
        args.name,
        stages=stages,
        n=args.n,
        seed=args.seed,
        weight_planes=args.weight_planes or 2,
        calibration_samples=calibration,
        hardware=args.hardware,
        checkpoint=args.checkpoint,
        show_progress=True,
        hardware_runner=runner,
    )
    print(table.to_terminal())
    return 0
