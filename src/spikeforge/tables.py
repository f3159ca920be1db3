"""Print named rows of figures from a script, through the one table renderer."""

from __future__ import annotations

from collections.abc import Mapping

from spikeforge.profile.render import figure_table, to_terminal


def print_figure_table(title: str, rows: Mapping[str, Mapping[str, float]]) -> None:
    """:func:`~spikeforge.profile.render.figure_table` on the terminal, after a blank line."""
    print("\n" + to_terminal(figure_table(title, rows)))
