"""Tables that fit the terminal: a column too wide for it is cut, its text ending in "…";
when cutting is not enough, the columns least needed are left out, and the table says
which (``--json`` has everything)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NO_TERMINAL_WIDTH = 200
"""The width when the output goes to no terminal and ``COLUMNS`` is not set: programs
and people with wide windows read it, so lines are not folded at 80 columns."""

_BORDER = 3
"""Columns a table spends on each of its columns besides the text: a rule and a space
either side (and one more rule at the end)."""


def terminal_width() -> int:
    """``COLUMNS``, else the width of the terminal the output goes to, else
    :data:`NO_TERMINAL_WIDTH`."""
    columns = shutil.get_terminal_size(fallback=(0, 0)).columns
    return columns if columns > 0 else NO_TERMINAL_WIDTH


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    cut_to: int | None = None
    """The narrowest the column may be cut to; ``None``: never cut (run ids and times
    are copied whole)."""
    drop: int = 0
    """When cutting is not enough, the columns of highest ``drop`` are left out first
    (as is one with no text in any of the rows); 0: always shown."""


def fitted_table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int | None = None,
) -> Any:
    """A Rich table of ``rows`` (cells in Rich markup) at most ``width`` columns wide
    (default: the terminal's)."""
    from rich.table import Table
    from rich.text import Text

    cells = [[Text.from_markup(cell) for cell in row] for row in rows]
    natural = [
        max([len(column.header), *(row[i].cell_len for row in cells)])
        for i, column in enumerate(columns)
    ]
    least = [
        n if c.cut_to is None else min(n, c.cut_to) for n, c in zip(natural, columns, strict=True)
    ]
    room = (width or terminal_width()) - 1
    empty = {
        i for i, c in enumerate(columns) if cells and c.drop and not any(r[i].plain for r in cells)
    }
    shown = [i for i in range(len(columns)) if i not in empty]
    left_out = []
    for i in sorted((i for i in shown if columns[i].drop), key=lambda i: -columns[i].drop):
        if sum(least[j] + _BORDER for j in shown) <= room:
            break
        shown.remove(i)
        left_out.append(columns[i].header)
    widths = {i: natural[i] for i in shown}
    excess = sum(w + _BORDER for w in widths.values()) - room
    # A character at a time off the widest column that may be cut: the cut falls on
    # the longest texts, and short columns stay whole. In a terminal too narrow even
    # for that, the widest columns of all are cut (a cut run id is still its prefix).
    while excess > 0:
        cuttable = [i for i in shown if widths[i] > least[i]] or [i for i in shown if widths[i] > 1]
        if not cuttable:
            break
        widths[max(cuttable, key=lambda i: widths[i])] -= 1
        excess -= 1
    caption = f"not shown, too narrow: {', '.join(left_out)}" if left_out else None
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for i in shown:
        table.add_column(columns[i].header, width=widths[i], no_wrap=True, overflow="ellipsis")
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    return table
