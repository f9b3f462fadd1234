"""The rich terminal table: one row per layer (runs of repeats folded), totals, then the findings."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from convcalc.analysis import NetworkFacts
from convcalc.checked import CheckedSpec
from convcalc.findings import Severity
from convcalc.report.common import DEFAULT_OPTIONS, DEFAULT_WIDTH, RenderOptions, totals_lines
from convcalc.report.rows import Column, Row, RunHeading, table_rows, visible_columns
from convcalc.text import printable

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
DROP_ORDER = (
    "start",
    "jump",
    "biases",
    "weights",
    "neurons",
    "type",
    "from",
    "share",
    "macs",
    "shapes",
    "rf",
    "params",
)
"""While the table is wider than the terminal, columns go in this order (by key); "shapes" gives way to the
output volume alone and "params" to params in K/M. The index, the name, F S P K and the params always stay."""
WRAPPING_FLOOR = {"layer": 12, "from": 12}
"""Columns that may wrap, and how narrow they may get: a name folds, F S P K wraps between its settings. A
figure or a shape never wraps: rich would split ``2,359,808`` into ``2,359,80`` / ``8``."""
LAST_FLOOR = {"layer": 8, "from": 8}
"""The floors of the narrowest attempt (long names then take three lines)."""
FOLD_NOTE = "×n: a run of n repeated layers or blocks in one row; its figures are per layer, its share all n"


def _cells(row: Row, keep: list[Column]) -> list[str]:
    """The row's text per kept column; a run heading fills the first two (index and layer are never dropped)."""
    if isinstance(row, RunHeading):
        return [row.span, row.caption] + [""] * (len(keep) - 2)
    return [row.cell(column.key) for column in keep]


def build_table(rows: list[Row], checked: CheckedSpec, keep: list[Column], widths: list[int]) -> Table:
    """The rich table with these columns at these widths."""
    facts = checked.facts
    title = f"{printable(facts.name)} — {printable(checked.file)}" if facts.name else printable(checked.file)
    folded = any(isinstance(row, RunHeading) for row in rows)
    table = Table(title=Text(title, style="bold"), header_style="bold", caption=FOLD_NOTE if folded else None)
    for slot, column in enumerate(keep):
        wraps = column.key in WRAPPING_FLOOR or column.key == "settings"
        table.add_column(
            column.header,
            justify="right" if column.right else "left",
            overflow="fold" if wraps else "ellipsis",
            no_wrap=not wraps,
            width=widths[slot],
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


def _floors(rows: list[Row], keep: list[Column], natural: list[int], floor: dict[str, int]) -> list[int]:
    """How narrow each column may get: a wrapping column to its floor (F S P K: its longest setting, such as
    ``K=2048``), every other column to its widest cell."""
    floors = list(natural)
    for slot, column in enumerate(keep):
        if column.key in floor:
            floors[slot] = min(natural[slot], floor[column.key])
        elif column.key == "settings":
            words = [word for row in rows for word in _cells(row, keep)[slot].split()]
            floors[slot] = max([cell_len(column.header), *map(cell_len, words)])
    return floors


def table_width(widths: list[int]) -> int:
    """Characters a table with these column widths takes: cells, one space each side, and the borders."""
    return sum(widths) + 3 * len(widths) + 1


def fit_columns(rows: list[Row], facts: NetworkFacts, width: int) -> tuple[list[Column], list[int]]:
    """The columns and their widths for a table at most ``width`` wide. Each column at its widest cell,
    dropping DROP_ORDER's columns one by one until the table fits; only then wrapping columns narrowed towards
    their floors; only then params in K/M (wrapped or not). Narrower than all that, the table is wider than
    asked: nothing is ever split."""
    kept = DROP_ORDER[:-1]  # params is abbreviated only after wrapping has been tried
    attempts: list[tuple[tuple[str, ...], dict[str, int] | None]] = [(kept[:i], None) for i in range(len(kept) + 1)]
    attempts += [(kept, WRAPPING_FLOOR), (DROP_ORDER, None), (DROP_ORDER, WRAPPING_FLOOR), (DROP_ORDER, LAST_FLOOR)]
    for dropped, floor in attempts:
        keep = visible_columns(facts, dropped)
        natural = column_widths(rows, keep)
        widths = natural if floor is None else _floors(rows, keep, natural, floor)
        if table_width(widths) <= width:
            return keep, _widened(widths, natural, width - table_width(widths))
    return keep, widths


def _widened(floors: list[int], natural: list[int], spare: int) -> list[int]:
    """``floors`` with ``spare`` characters given back, left column first, each up to its natural width."""
    widths = list(floors)
    for slot, (floor, wanted) in enumerate(zip(floors, natural, strict=True)):
        grow = min(spare, wanted - floor)
        widths[slot] += grow
        spare -= grow
    return widths


def fitted_table(checked: CheckedSpec, console: Console, fold: bool) -> Table:
    """The table with as many columns as fit the console (see :func:`fit_columns`)."""
    rows = table_rows(checked, fold)
    keep, widths = fit_columns(rows, checked.facts, console.width)
    return build_table(rows, checked, keep, widths)


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
