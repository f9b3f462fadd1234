"""Plain text at a fixed width: word wrapping, and a box-drawn table whose column widths the caller chose.

The terminal table decides its own column widths (no figure is ever split), so it needs no layout engine: this
module draws rich's heavy-head box around cells already sized, wraps only the cells of columns that may wrap,
and colours with plain SGR codes. It writes 10,000 rows in a fraction of a second, where rich's Table measures
every cell again (about a millisecond a row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

RESET = "\x1b[0m"
STYLES = {
    "bold": "1",
    "dim": "2",
    "italic": "3",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
}


def styled(text: str, style: str, color: bool) -> str:
    """``text`` in ``style`` (space-separated names of :data:`STYLES`) as SGR codes, or as it is without colour."""
    if not color or not style or not text:
        return text
    codes = ";".join(STYLES[name] for name in style.split())
    return f"\x1b[{codes}m{text}{RESET}"


ONE_CELL = frozenset(map(chr, [*range(0x20, 0x7F), *map(ord, "×−→←·…≤≥⊕⊗‖—–²√±µ½αβγσ⇔≈≠≡⌊⌋✓✗")]))
"""Printable ASCII and the symbols convcalc writes, each one cell wide by rich's own measure (a test holds them
to ``cell_len``; rich's width tables are imported only for a text with another character)."""


def cell_width(text: str) -> int:
    """The cells ``text`` takes in a terminal, as rich's ``cell_len`` says: a text of one-cell characters only
    (nearly every cell of a table) is measured by its length, in C, instead of by a Python call per cell.

    >>> cell_width("conv1"), cell_width("3×3×64"), cell_width("卷积")
    (5, 6, 4)
    """
    if ONE_CELL.issuperset(text):
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def measure_for(text: str) -> Callable[[str], int]:
    """How to measure ``text`` and its parts: ``len`` where every character is one cell (nearly every text
    convcalc writes; one check for the whole text), else :func:`cell_width`."""
    return len if ONE_CELL.issuperset(text) else cell_width


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines at most ``width`` cells wide, broken at spaces; a word longer than a line is cut.

    >>> wrap("height and width: (10 − 3)/2 + 1 = 4.5", 20)
    ['height and width:', '(10 − 3)/2 + 1 = 4.5']
    >>> wrap("conv2_block1_0_conv ×2", 8)
    ['conv2_bl', 'ock1_0_c', 'onv ×2']
    """
    if cell_width(text) <= width and "\n" not in text and not text.startswith(" "):
        return [text]  # most cells: one line, as the words would leave it (they drop leading spaces only)
    return wrap_words(text, width)


def wrap_words(text: str, width: int) -> list[str]:
    """:func:`wrap` word by word, which it skips for a text that fits on one line."""
    measure = measure_for(text.replace("\n", " "))  # the line breaks are split off, never measured
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if measure(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            pieces = _chopped(word, width) if measure(word) > width else [word]
            lines.extend(pieces[:-1])
            line = pieces[-1]
        lines.append(line)
    return lines


def _chopped(word: str, width: int) -> list[str]:
    """``word`` cut into pieces at most ``width`` cells wide (rich's ``chop_cells``)."""
    from rich.cells import chop_cells

    return chop_cells(word, width)


def pad(text: str, width: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` cells, on the left when ``right``-aligned."""
    gap = " " * max(0, width - cell_width(text))
    return gap + text if right else text + gap


def center(text: str, width: int) -> str:
    """``text`` centred in ``width`` cells (the extra space on the right, as rich does)."""
    gap = max(0, width - cell_width(text))
    return " " * (gap // 2) + text + " " * (gap - gap // 2)


class GridColumn(NamedTuple):
    """A column of the grid: its header, its width in cells, its alignment, and whether its cells may wrap."""

    header: str
    width: int
    right: bool = False
    wraps: bool = False


class GridRow(NamedTuple):
    """One row's cell texts and the style of the whole row (``"dim italic"`` for a run heading)."""

    cells: Sequence[str]
    style: str = ""


def one_line(cells: Sequence[str], columns: Sequence[GridColumn]) -> bool:
    """Whether a row's cells take one line each as they are, with one cell a character: every cell of a
    wrapping column fits its width and starts with no space (what :func:`wrap` leaves alone), and every
    character is in :data:`ONE_CELL` (so no line break either), where a string's length is its width."""
    return ONE_CELL.issuperset("".join(cells)) and all(
        len(text) <= column.width and not text.startswith(" ")
        for text, column in zip(cells, columns, strict=True)
        if column.wraps
    )


def _lines_of(cells: Sequence[str], columns: Sequence[GridColumn]) -> list[list[str]]:
    """Each cell as its lines (wrapping only where the column allows), every cell as tall as the tallest."""
    stacks = [wrap(text, c.width) if c.wraps else [text] for text, c in zip(cells, columns, strict=True)]
    height = max(len(stack) for stack in stacks)
    return [stack + [""] * (height - len(stack)) for stack in stacks]


def grid(
    columns: Sequence[GridColumn],
    rows: Sequence[GridRow],
    *,
    title: str = "",
    caption: str = "",
    color: bool = False,
) -> list[str]:
    """The table as lines: title, heavy-head box, header, rows, caption (rich's ``box.HEAVY_HEAD`` look)."""
    width = sum(c.width for c in columns) + 3 * len(columns) + 1
    rules = ["━" * (c.width + 2) for c in columns]
    lines: list[str] = []
    if title:
        lines.extend(styled(center(line, width), "bold", color) for line in wrap(title, width))
    lines.append("┏" + "┳".join(rules) + "┓")
    for parts in zip(*_lines_of([c.header for c in columns], columns), strict=True):
        texts = (styled(pad(t, c.width, c.right), "bold", color) for t, c in zip(parts, columns, strict=True))
        lines.append("┃ " + " ┃ ".join(texts) + " ┃")
    lines.append("┡" + "╇".join(rules) + "┩")
    for row in rows:
        if one_line(row.cells, columns):  # most rows: padded in C, no wrapping, no width lookups
            texts = (t.rjust(c.width) if c.right else t.ljust(c.width) for t, c in zip(row.cells, columns, strict=True))
            if color and row.style:
                texts = (styled(text, row.style, color) for text in texts)
            lines.append("│ " + " │ ".join(texts) + " │")
            continue
        for parts in zip(*_lines_of(row.cells, columns), strict=True):
            texts = (styled(pad(t, c.width, c.right), row.style, color) for t, c in zip(parts, columns, strict=True))
            lines.append("│ " + " │ ".join(texts) + " │")
    lines.append("└" + "┴".join("─" * (c.width + 2) for c in columns) + "┘")
    if caption:
        lines.extend(styled(center(line, width), "dim", color) for line in wrap(caption, width))
    return lines
