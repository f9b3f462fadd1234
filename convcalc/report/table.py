"""The rich terminal table: one row per layer (runs of repeats folded), totals, then the findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from convcalc.analysis import NetworkFacts
from convcalc.checked import CheckedSpec
from convcalc.findings import Severity
from convcalc.report.common import DEFAULT_OPTIONS, DEFAULT_WIDTH, RenderOptions, totals_lines
from convcalc.report.grid import GridColumn, GridRow, cell_width, grid, measure_for, styled, wrap
from convcalc.report.rows import COLUMN, COLUMNS, Column, Row, RunHeading, table_rows, visible_columns
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


class Measures(NamedTuple):
    """Every column's widest cell and (for F S P K) its longest word, measured once for all the attempts."""

    widest: dict[str, int]
    longest_setting: int

    @classmethod
    def of(cls, rows: list[Row]) -> Measures:
        # Column by column: each column's texts checked for one-cell characters once and measured by len, in C.
        headings = [row for row in rows if isinstance(row, RunHeading)]
        cells = [row.cells for row in rows if not isinstance(row, RunHeading)]
        widest: dict[str, int] = {}
        for column in COLUMNS:
            texts = [row.get(column.key, "") for row in cells]
            if column.key == "index":  # a heading fills the index and layer cells
                texts += [heading.span for heading in headings]
            elif column.key == "layer":
                texts += [heading.caption for heading in headings]
            widest[column.key] = max([cell_width(column.header), *map(measure_for("".join(texts)), texts)])
        words = " ".join(row.get("settings", "") for row in cells).split()
        setting = max([cell_width(COLUMN["settings"].header), *map(measure_for("".join(words)), words)])
        return cls(widest, setting)


def _floors(keep: list[Column], natural: list[int], floor: dict[str, int], measures: Measures) -> list[int]:
    """How narrow each column may get: a wrapping column to its floor (F S P K: its longest setting, such as
    ``K=2048``), every other column to its widest cell."""
    floors = list(natural)
    for slot, column in enumerate(keep):
        if column.key in floor:
            floors[slot] = min(natural[slot], floor[column.key])
        elif column.key == "settings":
            floors[slot] = measures.longest_setting
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
    measures = Measures.of(rows)
    for dropped, floor in attempts:
        keep = visible_columns(facts, dropped)
        natural = [measures.widest[column.key] for column in keep]
        widths = natural if floor is None else _floors(keep, natural, floor, measures)
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


def table_lines(checked: CheckedSpec, width: int, fold: bool, color: bool = False) -> list[str]:
    """The layer table with as many columns as fit ``width`` (see :func:`fit_columns`), as lines."""
    rows = table_rows(checked, fold)
    keep, widths = fit_columns(rows, checked.facts, width)
    columns = [
        GridColumn(column.header, w, column.right, wraps=column.key in WRAPPING_FLOOR or column.key == "settings")
        for column, w in zip(keep, widths, strict=True)
    ]
    grid_rows = [GridRow(_cells(row, keep), "dim italic" if isinstance(row, RunHeading) else "") for row in rows]
    facts = checked.facts
    title = f"{printable(facts.name)} — {printable(checked.file)}" if facts.name else printable(checked.file)
    folded = any(isinstance(row, RunHeading) for row in rows)
    return grid(columns, grid_rows, title=title, caption=FOLD_NOTE if folded else "", color=color)


def findings_lines(checked: CheckedSpec, width: int | None = None, color: bool = False) -> list[str]:
    """The findings, one block each: location, code, severity, layer, message, then the fixes; wrapped at
    ``width`` (None: one line each, for a terminal that wraps them itself)."""
    lines: list[str] = []
    for finding in checked.findings:
        position = checked.position(finding)
        where = f"{printable(checked.file)}:{position[0]}:{position[1]}" if position else printable(checked.file)
        badge = f"{finding.code} {finding.severity.value}"
        label = f"{printable(checked.layer_label(finding))}:"
        block = _wrapped(f"{where} {badge} {label} {printable(finding.message)}", width)
        if color:  # the badge and the label stand out, where the first line holds them whole
            style = SEVERITY_STYLE[finding.severity]
            block[0] = block[0].replace(f" {badge} ", f" {styled(badge, style, color)} ", 1)
            block[0] = block[0].replace(f" {label} ", f" {styled(label, 'bold', color)} ", 1)
        lines.extend(block)
        for fix in finding.fixes:
            lines.extend(styled(line, "green", color) for line in _wrapped(f"    fix: {printable(fix.title)}", width))
    return lines


def _wrapped(text: str, width: int | None) -> list[str]:
    return [text] if width is None else wrap(text, width)


def _severity_counts(checked: CheckedSpec) -> tuple[int, ...]:
    counts = dict.fromkeys(Severity, 0)
    for finding in checked.findings:
        counts[finding.severity] += 1
    return tuple(counts.values())


def _summary(counts: Sequence[int], color: bool) -> str:
    totals = dict(zip(Severity, counts, strict=True))
    parts = [f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in totals.items()]
    style = "bold red" if totals[Severity.ERROR] else "yellow" if totals[Severity.WARNING] else "green"
    return styled(", ".join(parts), style, color)


def summary_line(results: Sequence[CheckedSpec], color: bool = False) -> str:
    """``1 error, 2 warnings, 0 infos``, coloured by the worst."""
    counts = [_severity_counts(checked) for checked in results]
    return _summary([sum(column) for column in zip(*counts, strict=True)] or [0] * len(Severity), color)


def part(checked: CheckedSpec, options: RenderOptions = DEFAULT_OPTIONS) -> tuple[str, tuple[int, ...]]:
    """One spec's table, totals and findings, and its findings counted by severity (for the summary)."""
    width = options.width or DEFAULT_WIDTH
    lines: list[str] = []
    lines.extend(table_lines(checked, width, options.fold, options.color))
    for line in totals_lines(checked):
        lines.extend(wrap(line, width))
    if checked.findings:
        lines.append("")
        lines.extend(findings_lines(checked, width, options.color))
    lines.append("")
    return "\n".join(lines) + "\n", _severity_counts(checked)


def join(parts: Sequence[tuple[str, tuple[int, ...]]], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The specs' parts, then a one-line summary of all their findings."""
    totals = [sum(column) for column in zip(*(counts for _, counts in parts), strict=True)] or [0] * len(Severity)
    return "".join(text for text, _ in parts) + _summary(totals, options.color) + "\n"


def render(results: Sequence[CheckedSpec], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """Every spec's table, totals and findings, then a one-line summary."""
    return join([part(checked, options) for checked in results], options)
