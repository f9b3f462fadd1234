"""The rich terminal table: one row per layer (runs of repeats folded), totals, then the findings."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from convcalc.checked import CheckedSpec
from convcalc.findings import Severity
from convcalc.report.common import DEFAULT_OPTIONS, RenderOptions, totals_lines
from convcalc.report.rows import Column, Row, RunHeading, table_rows, visible_columns
from convcalc.text import printable

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
OPTIONAL_COLUMNS = ("start", "jump", "biases", "weights", "type", "neurons", "share", "macs")
"""Dropped in this order (by key) when the terminal is too narrow: never truncate a name or a figure."""
DEFAULT_WIDTH = 200
"""Width when not writing to a terminal (a pipe, a CI log, a file): room for every column."""


def _cells(row: Row, keep: list[Column]) -> list[str]:
    """The row's text per kept column; a run heading fills the first two (index and layer are never dropped)."""
    if isinstance(row, RunHeading):
        return [row.span, row.caption] + [""] * (len(keep) - 2)
    return [row.cell(column.key) for column in keep]


def build_table(rows: list[Row], checked: CheckedSpec, keep: list[Column], widths: list[int] | None = None) -> Table:
    """The rich table; with ``widths`` (the table fits as it is) rich need not measure every cell again."""
    facts = checked.facts
    title = f"{printable(facts.name)} — {printable(checked.file)}" if facts.name else printable(checked.file)
    table = Table(title=Text(title, style="bold"), header_style="bold")
    for slot, column in enumerate(keep):
        table.add_column(
            column.header,
            justify="right" if column.right else "left",
            overflow="fold",
            width=widths[slot] if widths else None,
        )
    for row in rows:
        cells = _cells(row, keep)
        if isinstance(row, RunHeading):
            table.add_row(Text(cells[0], style="dim"), Text(cells[1], style="dim italic"), *map(Text, cells[2:]))
        else:
            table.add_row(*map(Text, cells))
    return table


def column_widths(rows: list[Row], keep: list[Column]) -> list[int]:
    """The widest cell of each kept column."""
    widths = [cell_len(column.header) for column in keep]
    for row in rows:
        for slot, text in enumerate(_cells(row, keep)):
            widths[slot] = max(widths[slot], cell_len(text))
    return widths


def fitted_table(checked: CheckedSpec, console: Console, fold: bool) -> Table:
    """The table with as many columns as fit the console, dropping OPTIONAL_COLUMNS in order."""
    rows = table_rows(checked, fold)
    dropped: tuple[str, ...] = ()
    keep = visible_columns(checked.facts)
    widths = column_widths(rows, keep)
    for column in OPTIONAL_COLUMNS:
        if sum(widths) + 3 * len(keep) + 1 <= console.width:  # cells, padding and borders
            return build_table(rows, checked, keep, widths)
        dropped += (column,)
        keep = visible_columns(checked.facts, dropped)
        widths = column_widths(rows, keep)
    return build_table(rows, checked, keep)  # still too wide: let rich wrap the cells


def findings_text(checked: CheckedSpec) -> Text:
    """The findings, one block each: location, code, severity, layer, message, then the fixes."""
    text = Text()
    for finding in checked.findings:
        position = checked.position(finding)
        where = f"{printable(checked.file)}:{position[0]}:{position[1]}" if position else printable(checked.file)
        text.append(f"{where} ")
        text.append(finding.code, style=SEVERITY_STYLE[finding.severity])
        text.append(f" {finding.severity.value} ", style=SEVERITY_STYLE[finding.severity])
        text.append(f"{printable(checked.layer_label(finding))}: ", style="bold")
        text.append(printable(finding.message))
        text.append("\n")
        for fix in finding.fixes:
            text.append(f"    fix: {printable(fix.title)}\n", style="green")
    return text


def summary_line(results: Sequence[CheckedSpec]) -> Text:
    counts = {severity: 0 for severity in Severity}
    for checked in results:
        for finding in checked.findings:
            counts[finding.severity] += 1
    parts = [f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts.items()]
    style = "bold red" if counts[Severity.ERROR] else "yellow" if counts[Severity.WARNING] else "green"
    return Text(", ".join(parts), style=style)


def render(results: Sequence[CheckedSpec], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """Every spec's table, totals and findings, then a one-line summary."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=options.width or DEFAULT_WIDTH,
        force_terminal=options.color,
        no_color=not options.color,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )
    for checked in results:
        console.print(fitted_table(checked, console, options.fold))
        console.print(Text("\n".join(totals_lines(checked))))
        if checked.findings:
            console.print()
            console.print(findings_text(checked), end="")
        console.print()
    console.print(summary_line(results))
    return buffer.getvalue()
