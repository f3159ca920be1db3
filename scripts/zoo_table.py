"""Measure every zoo model (or those named) at every stage and write docs/zoo.md.

    .venv/bin/python scripts/zoo_table.py [NAME ...] [-n N] [--stages S ...] [-o docs/zoo.md]

Each model's shipped checkpoint goes norse -> NIR file -> compile -> reference, Lava
floating_pt, Lava fixed_pt and the emulator, on its held-out set; the page has a
summary (task metric at norse and Lava fixed point) and one stage table per model,
with the command that produced it and its configuration (no dates, so a rerun with
the same versions gives the same page). A model that fails is reported on the page
with its error, and the script exits 1.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from importlib.metadata import version
from pathlib import Path

from spikeforge.atomic import atomic_path
from spikeforge.errors import SpikeforgeError
from spikeforge.models.stages import DEFAULT_STAGES, StageTable, evaluate
from spikeforge.models.zoo import ZOO, get
from spikeforge.profile.stages import STAGES

PACKAGES = ("spikeforge", "lava-nc", "norse", "nir", "torch", "numpy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(ZOO), metavar="NAME")
    parser.add_argument("-n", type=int, default=100, help="held-out samples per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(DEFAULT_STAGES))
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/zoo.md"))
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in ZOO]
    if unknown:
        parser.error(f"not in the zoo: {', '.join(unknown)} (the zoo: {', '.join(ZOO)})")

    tables: dict[str, StageTable | str] = {}
    for name in args.names:
        print(f"evaluating {name} ...", file=sys.stderr)
        try:
            tables[name] = evaluate(name, stages=args.stages, n=args.n, seed=args.seed)
        except (SpikeforgeError, ImportError) as exc:
            tables[name] = f"{type(exc).__name__}: {exc}"
    command = "python scripts/zoo_table.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    page = render(tables, command.strip(), args)
    with atomic_path(args.output) as tmp:
        tmp.write_text(page, encoding="utf-8")
    print(page)
    print(f"wrote {args.output}", file=sys.stderr)
    return 1 if any(isinstance(t, str) for t in tables.values()) else 0


def render(tables: dict[str, StageTable | str], command: str, args: argparse.Namespace) -> str:
    versions = ", ".join(f"{p} {version(p)}" for p in PACKAGES)
    lines = [
        "# The model zoo, stage by stage",
        "",
        f"Produced by `{command}` (seed {args.seed}, up to {args.n} held-out samples per "
        f"model; stages: {', '.join(args.stages)}).",
        f"Versions: {versions}.",
        "",
        "Energy and latency on Loihi 2 come from spikeforge's hardware model: Loihi 1's "
        "per-event figures scaled and calibrated on one network (Intel's PilotNet LIF "
        "measurement; Intel publishes no per-operation Loihi 2 figures), each figure labelled "
        "with the weakest kind of number that fed it; the norse and reference rows are a "
        "conventional CPU's dense-op energy (estimated) and have no hardware latency.",
        "",
        "## Summary",
        "",
        "| model | metric | norse | Lava fixed_pt | Δ (fixed − norse) | held-out samples |",
        "|---|---|---|---|---|---|",
    ]
    for name, table in tables.items():
        if isinstance(table, str):
            lines.append(f"| {name} | not evaluated: {table} | | | | |")
            continue
        lines.append(_summary_row(table))
    for name, table in tables.items():
        lines += ["", f"## {name}", ""]
        if isinstance(table, str):
            lines.append(f"Not evaluated: {table}")
            continue
        card = get(name).CARD
        direction = "higher" if card.higher_is_better else "lower"
        lines += [
            f"{card.description}. Paper: {card.paper}.",
            f"Metric: {card.metric} ({direction} is better).",
            "Configuration: " + table.config.line() + ".",
            "",
            table.to_markdown(),
        ]
    return "\n".join(lines) + "\n"


def _summary_row(table: StageTable) -> str:
    card = table.card
    unit = f" {card.unit}" if card.unit else ""

    def value(stage: str) -> float | None:
        try:
            row = table.row(stage)
        except KeyError:
            return None
        return row.metrics.get(card.metric)

    norse, fixed = value("norse"), value("lava-fixed")
    delta = "" if norse is None or fixed is None else f"{fixed - norse:+.3g}{unit}"
    shown = ["n/a" if v is None else f"{v:.4g}{unit}" for v in (norse, fixed)]
    cells = [card.name, card.metric, *shown, delta, str(table.config.n)]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
