"""The rich terminal table: one row per layer (runs of repeats folded), totals, then the findings."""

from __future__ import annotations

from typing import TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from convcalc.checking import CheckedSpec
from convcalc.findings import Severity
from convcalc.report.common import COLUMNS, input_row, layer_rows, printable, totals_lines, visible_columns

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
OPTIONAL_COLUMNS = ("start", "jump", "biases", "weights", "type", "neurons", "share", "MACs")
"""Dropped in this order when the terminal is too narrow: never truncate a name or a figure."""


def build_table(
    rows: list[list[str] | tuple[str, str]], checked: CheckedSpec, keep: list[int], widths: list[int] | None = None
) -> Table:
    """The rich table; with ``widths`` (the table fits as it is) rich need not measure every cell again."""
    facts = checked.facts
    title = f"{printable(facts.name)} — {printable(checked.file)}" if facts.name else printable(checked.file)
    table = Table(title=Text(title, style="bold"), header_style="bold")
    for slot, i in enumerate(keep):
        header, justify = COLUMNS[i]
        table.add_column(header, justify=justify, overflow="fold", width=widths[slot] if widths else None)
    for row in rows:
        if isinstance(row, tuple):
            cells = [Text(row[0], style="dim"), Text(row[1], style="dim italic")]
            cells += [Text("")] * (len(keep) - 2)
            table.add_row(*cells)
        else:
            table.add_row(*(Text(row[i]) for i in keep))
    return table


def column_widths(rows: list[list[str] | tuple[str, str]], keep: list[int]) -> list[int]:
    """The widest cell of each kept column (a folded run's heading row spans the first two)."""
    widths = [cell_len(COLUMNS[i][0]) for i in keep]
    for row in rows:
        cells = list(row) + [""] * (len(COLUMNS) - 2) if isinstance(row, tuple) else row
        for slot, i in enumerate(keep):
            widths[slot] = max(widths[slot], cell_len(cells[i]))
    return widths


def fitted_table(checked: CheckedSpec, console: Console, fold: bool) -> Table:
    """The table with as many columns as fit the console, dropping OPTIONAL_COLUMNS in order."""
    rows: list[list[str] | tuple[str, str]] = [input_row(checked.facts), *layer_rows(checked, fold)]
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


def _totals(checked: CheckedSpec) -> Text:
    return Text("\n".join(totals_lines(checked)))


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


def summary_line(results: list[CheckedSpec]) -> Text:
    counts = {severity: 0 for severity in Severity}
    for checked in results:
        for finding in checked.findings:
            counts[finding.severity] += 1
    parts = [f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts.items()]
    style = "bold red" if counts[Severity.ERROR] else "yellow" if counts[Severity.WARNING] else "green"
    return Text(", ".join(parts), style=style)


def render(results: list[CheckedSpec], out: TextIO, *, fold: bool = True, width: int | None = None) -> None:
    """Print every spec's table, totals and findings, then a one-line summary."""
    console = Console(file=out, width=width, highlight=False, emoji=False, markup=False, soft_wrap=False)
    if width is None and not console.is_terminal:
        console.width = 200  # a pipe or CI log: room for every column rather than 80
    for checked in results:
        console.print(fitted_table(checked, console, fold))
        console.print(_totals(checked))
        if checked.findings:
            console.print()
            console.print(findings_text(checked), end="")
        console.print()
    console.print(summary_line(results))
