"""Plain-text tables of named rows of figures, for scripts that print measurements."""

from __future__ import annotations

from collections.abc import Mapping


def figure_table(title: str, rows: Mapping[str, Mapping[str, float]], width: int = 24) -> str:
    """``title`` over one line per row; columns are the first row's keys, 4 significant digits."""
    columns = list(next(iter(rows.values())))
    label = max(len(name) for name in rows)
    lines = [title, " " * label + "".join(f"{c:>{width}}" for c in columns)]
    lines += [
        f"{name:<{label}}" + "".join(f"{row[c]:>{width}.4g}" for c in columns)
        for name, row in rows.items()
    ]
    return "\n".join(lines)


def print_figure_table(
    title: str, rows: Mapping[str, Mapping[str, float]], width: int = 26
) -> None:
    """:func:`figure_table`, printed after a blank line."""
    print("\n" + figure_table(title, rows, width))
