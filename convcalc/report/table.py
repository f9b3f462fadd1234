"""The rich terminal table: one row per layer (runs of repeats folded), totals, then the findings."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from convcalc.analysis import LayerFacts
from convcalc.findings import Severity
from convcalc.report.common import CheckedSpec, Run, fold_runs, human_bytes, hyperparameters, percent, printable

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
COLUMNS: tuple[tuple[str, Literal["left", "right"]], ...] = (
    ("#", "right"),
    ("layer", "left"),
    ("type", "left"),
    ("F S P K", "left"),
    ("input → output", "left"),
    ("neurons", "right"),
    ("weights", "right"),
    ("biases", "right"),
    ("params", "right"),
    ("share", "right"),
    ("RF", "right"),
    ("jump", "right"),
    ("start", "right"),
)


def _cells(layer: LayerFacts, total: int, index: str, name: str, share_of: int) -> list[Text]:
    rf = (
        layer.rf_rows.size if layer.rf_rows.size == layer.rf_cols.size else f"{layer.rf_rows.size}×{layer.rf_cols.size}"
    )
    return [
        Text(index),
        Text(printable(name)),
        Text(layer.type),
        Text(hyperparameters(layer)),
        Text(f"{layer.input_shape} → {layer.output_shape}"),
        Text(f"{layer.neurons:,}"),
        Text(f"{layer.weights:,}"),
        Text(f"{layer.biases:,}"),
        Text(f"{layer.params:,}"),
        Text(percent(share_of, total)),
        Text(str(rf)),
        Text(_axes_text(layer.rf_rows.jump, layer.rf_cols.jump)),
        Text(_axes_text(_number(layer.rf_rows.start), _number(layer.rf_cols.start))),
    ]


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _axes_text(rows: object, cols: object) -> str:
    return str(rows) if rows == cols else f"{rows}×{cols}"


def _add_run(table: Table, checked: CheckedSpec, run: Run, total: int) -> None:
    layers = checked.facts.layers
    if run.count == 1:
        layer = layers[run.start]
        table.add_row(*_cells(layer, total, str(layer.index), layer.name, layer.params))
        return
    last = run.start + run.length * run.count - 1
    block = "layer" if run.length == 1 else f"block of {run.length} layers"
    table.add_row(
        Text(f"{run.start}–{last}", style="dim"),
        Text(f"{block} repeated {run.count}×", style="dim italic"),
        end_section=False,
    )
    for offset in range(run.length):
        layer = layers[run.start + offset]
        final = layers[run.start + offset + run.length * (run.count - 1)]
        table.add_row(
            *_cells(
                layer,
                total,
                f"{layer.index}…{final.index}",
                f"{layer.name} ×{run.count}",
                layer.params * run.count,
            )
        )


def build_table(checked: CheckedSpec, fold: bool = True) -> Table:
    facts = checked.facts
    title = f"{printable(facts.name)} — {printable(checked.file)}" if facts.name else printable(checked.file)
    table = Table(title=Text(title, style="bold"), show_footer=False, header_style="bold")
    for header, justify in COLUMNS:
        table.add_column(header, justify=justify, no_wrap=header in ("#", "params", "input → output"))
    table.add_row(
        Text(""),
        Text("input"),
        Text("input"),
        Text(""),
        Text(f"{facts.input_shape}"),
        Text(f"{facts.input_shape.values:,}"),
    )
    total = facts.total_params
    runs = fold_runs(facts.layers) if fold else [Run(i, 1, 1) for i in range(len(facts.layers))]
    for run in runs:
        _add_run(table, checked, run, total)
    return table


def _totals(checked: CheckedSpec) -> Text:
    facts = checked.facts
    return Text(
        f"total params: {facts.total_params:,} ({facts.total_weights:,} weights + {facts.total_biases:,} biases)"
        f" · parameter memory: {human_bytes(facts.param_bytes)} (float32)"
        f" · activation memory: {human_bytes(facts.activation_bytes)} per example"
        f" ({facts.activation_values:,} values incl. input, float32)"
        f" · output: {facts.output_shape}"
    )


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
        console.width = 160  # a pipe or CI log: do not squeeze 11 columns into 80
    for checked in results:
        console.print(build_table(checked, fold=fold))
        console.print(_totals(checked))
        if checked.findings:
            console.print()
            console.print(findings_text(checked), end="")
        console.print()
    console.print(summary_line(results))
