"""One table model, rendered for the terminal and for Markdown.

Everything spikeforge prints as a table — the stage table of ``profile`` and
``evaluate``, the report's breakdowns, the scripts' measurement tables — is built
as a :class:`Table` of already formatted cells and rendered by :func:`to_terminal`
or :func:`to_markdown`, so the two can never disagree on a column. Another format
(HTML) is one more function over the same :class:`Table`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from spikeforge.compile.hardware import Quantity

_PREFIXES = [(1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, "")]


@dataclass
class Table:
    """Formatted cells; the first ``label_columns`` columns are labels (left-aligned)."""

    header: list[str]
    rows: list[list[str]]
    title: str = ""
    notes: list[str] = field(default_factory=list)
    label_columns: int = 1


def to_terminal(table: Table) -> str:
    """Aligned columns, the title above and the notes below."""
    widths = [max(len(r[i]) for r in [table.header, *table.rows]) for i in range(len(table.header))]
    lines = [
        "  ".join(
            c.ljust(w) if i < table.label_columns else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in [table.header, *table.rows]
    ]
    return "\n".join([*([table.title] if table.title else []), *lines, *table.notes])


def to_markdown(table: Table) -> str:
    """A pipe table, the title as a paragraph above it and the notes below."""
    lines = [f"{table.title}", ""] if table.title else []
    lines += ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table.rows]
    return "\n".join([*lines, *(["", *table.notes] if table.notes else [])])


def figure_table(title: str, rows: Mapping[str, Mapping[str, float]]) -> Table:
    """Named rows of numbers (4 significant digits); columns are the first row's keys."""
    columns = list(next(iter(rows.values())))
    return Table(
        header=["", *columns],
        rows=[[name, *[f"{row[c]:.4g}" for c in columns]] for name, row in rows.items()],
        title=title,
    )


def si(value: float, unit: str) -> str:
    """``1.2e-7, 'J'`` -> ``'120 nJ'``."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g} {unit}"
    scale, prefix = _PREFIXES[0]
    for s, p in _PREFIXES:
        if abs(value) >= s:
            scale, prefix = s, p
    if abs(value) >= 1e3 and unit not in ("J", "s", "W"):
        return f"{value:.3g} {unit}"
    return f"{value / scale:.3g} {prefix}{unit}"


def quantity(q: Quantity | None) -> str:
    """``'948 nJ (esti.)'``: the value and, abbreviated, how far to trust it."""
    if q is None:
        return "n/a"
    return f"{si(q.value, q.unit)} ({q.kind[:4]}.)"


def number(value: float | None) -> str:
    """4 significant digits, 3 past 1e5; ``n/a`` for a missing or non-finite value."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3g}"


def share(value: float | None) -> str:
    """A share as a percentage with two decimals; blank where it does not apply."""
    return "" if value is None else f"{100 * value:.2f} %"
