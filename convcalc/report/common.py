"""What every renderer shares: the checked-spec record, the course notation, and folding repeats."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.checking import CheckedSpec
from convcalc.layers.norm import PARAMS_CONVENTION
from convcalc.loading import SpecError, format_path
from convcalc.memory import human_bytes


def hyperparameters(layer: LayerFacts) -> str:
    """The layer's settings in the notation CNN courses use: ``F=3 S=1 P=1 K=64``."""
    return layer.spec.notation(layer.window)


def row_signature(layer: LayerFacts) -> tuple[object, ...]:
    """Two layers with the same signature print as the same row (apart from index and name)."""
    # Inputs as offsets, so that repeated residual blocks fold like repeated plain layers.
    sources = tuple(layer.index - s for s in layer.inputs) if layer.spec.inputs is not None else ()
    return (layer.type, hyperparameters(layer), layer.input_shape, layer.output_shape, layer.params, sources)


@dataclass(frozen=True)
class Run:
    """``count`` consecutive repeats of the block ``layers[start : start + length]``."""

    start: int
    length: int
    count: int


MAX_BLOCK = 8
"""Longest repeated block that folding looks for (a ResNet bottleneck with its relus fits)."""


def count_repeats(signatures: Sequence[object], start: int, length: int) -> int:
    """How many times the block ``signatures[start : start + length]`` repeats back to back from ``start``.

    >>> count_repeats("abababc", 0, 2), count_repeats("abababc", 0, 1), count_repeats("aaab", 1, 1)
    (3, 1, 2)
    """
    block = signatures[start : start + length]
    count = 1
    while signatures[start + count * length : start + (count + 1) * length] == block:
        count += 1
    return count


def greedy_runs(signatures: Sequence[object], start: int, worth: Callable[[int, int, int], bool]) -> list[Run]:
    """Split ``signatures[start:]`` into runs, folding consecutive repeats of identical blocks.

    Greedy from the left; at each position the block length covering the most items wins (the shortest
    on ties), among those ``worth(position, length, count)`` accepts. Each position is compared at most
    ``MAX_BLOCK`` times per repeat, so the cost is linear. Unfolded items come back as runs of count 1.
    """
    runs: list[Run] = []
    i, n = start, len(signatures)
    while i < n:
        best = Run(i, 1, 1)
        for length in range(1, MAX_BLOCK + 1):
            if i + 2 * length > n:
                break
            count = count_repeats(signatures, i, length)
            if count >= 2 and count * length > best.count * best.length and worth(i, length, count):
                best = Run(i, length, count)
        runs.append(best)
        i += best.length * best.count
    return runs


def fold_runs(layers: tuple[LayerFacts, ...], min_count: int = 2) -> list[Run]:
    """The table's rows: runs of identical layers or blocks fold where that saves rows (a folded run
    prints as a heading plus one row per block member)."""
    signatures = [row_signature(layer) for layer in layers]
    return greedy_runs(signatures, 0, lambda _, length, count: count >= min_count and count * length > length + 2)


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _axes_text(rows: object, cols: object) -> str:
    return str(rows) if rows == cols else f"{rows}×{cols}"


def _span(values: list[str]) -> str:
    # A folded row stands for several layers: show first…last when the figure changes along the run.
    return values[0] if values[0] == values[-1] else f"{values[0]}…{values[-1]}"


def receptive_field_text(layers: Sequence[LayerFacts]) -> tuple[str, str, str]:
    """(size, jump, start) of the receptive field, as ranges when ``layers`` (one folded row) differ."""
    sizes = [_axes_text(x.rf_rows.size, x.rf_cols.size) for x in layers]
    jumps = [_axes_text(x.rf_rows.jump, x.rf_cols.jump) for x in layers]
    starts = [_axes_text(_number(x.rf_rows.start), _number(x.rf_cols.start)) for x in layers]
    return _span(sizes), _span(jumps), _span(starts)


def percent(part: int, whole: int) -> str:
    """A share as a percentage with one decimal; ``<0.1%`` for small non-zero shares."""
    if whole == 0 or part == 0:
        return "0%" if part == 0 else "—"
    share = 100 * part / whole
    return "<0.1%" if share < 0.1 else f"{share:.1f}%"


def printable(text: str) -> str:
    """Spec text made safe for a terminal: control characters (ESC, CR, BEL, bidi overrides…) shown escaped.

    >>> printable("conv\\x1b[31m")
    'conv\\\\x1b[31m'
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


COLUMNS: tuple[tuple[str, Literal["left", "right"]], ...] = (
    ("#", "right"),
    ("layer", "left"),
    ("type", "left"),
    ("from", "left"),
    ("F S P K", "left"),
    ("input → output", "left"),
    ("neurons", "right"),
    ("weights", "right"),
    ("biases", "right"),
    ("params", "right"),
    ("share", "right"),
    ("MACs", "right"),
    ("RF", "right"),
    ("jump", "right"),
    ("start", "right"),
)


def is_graph(facts: NetworkFacts) -> bool:
    """True when some layer names its inputs (the table then shows where each layer reads from)."""
    return any(layer.spec.inputs is not None for layer in facts.layers)


def source_names(facts: NetworkFacts, layer: LayerFacts) -> str:
    """``conv2_1, shortcut`` for a layer with explicit inputs; empty for a plain sequential one."""
    if layer.spec.inputs is None:
        return ""
    return ", ".join("input" if s < 0 else facts.layers[s].name for s in layer.inputs)


def _cells(facts: NetworkFacts, occurrences: list[LayerFacts], index: str, name: str) -> list[str]:
    layer = occurrences[0]
    total = facts.total_params
    rf, jump, start = receptive_field_text(occurrences)
    sources = source_names(facts, layer)
    return [
        index,
        printable(name),
        layer.type,
        printable(sources) + (" …" if sources and len(occurrences) > 1 else ""),
        hyperparameters(layer),
        f"{layer.input_shape} → {layer.output_shape}",
        f"{layer.neurons:,}",
        f"{layer.weights:,}",
        f"{layer.biases:,}",
        f"{layer.params:,}",
        percent(layer.params * len(occurrences), total),
        f"{layer.macs:,}",
        rf,
        jump,
        start,
    ]


def layer_rows(checked: CheckedSpec, fold: bool) -> list[list[str] | tuple[str, str]]:
    """Every row as plain strings; a folded run adds a (range, caption) heading row."""
    facts = checked.facts
    layers = facts.layers
    rows: list[list[str] | tuple[str, str]] = []
    runs = fold_runs(layers) if fold else [Run(i, 1, 1) for i in range(len(layers))]
    for run in runs:
        if run.count == 1:
            layer = layers[run.start]
            rows.append(_cells(facts, [layer], str(layer.index), layer.name))
            continue
        last = run.start + run.length * run.count - 1
        block = "layer" if run.length == 1 else f"block of {run.length} layers"
        rows.append((f"{run.start}–{last}", f"{block} repeated {run.count}×"))
        for offset in range(run.length):
            occurrences = [layers[run.start + offset + k * run.length] for k in range(run.count)]
            first, final = occurrences[0], occurrences[-1]
            rows.append(_cells(facts, occurrences, f"{first.index}…{final.index}", f"{first.name} ×{run.count}"))
    return rows


def input_row(facts: NetworkFacts) -> list[str]:
    """The table's first row: the input volume, aligned with COLUMNS."""
    cells = {"layer": "input", "type": "input", "input → output": str(facts.input_shape)}
    cells["neurons"] = f"{facts.input_shape.values:,}"
    return [cells.get(header, "") for header, _ in COLUMNS]


def visible_columns(facts: NetworkFacts, drop: tuple[str, ...] = ()) -> list[int]:
    """Indices into COLUMNS to show: "from" only for graphs, minus the dropped ones."""
    hidden = set(drop) | (set() if is_graph(facts) else {"from"})
    return [i for i, (header, _) in enumerate(COLUMNS) if header not in hidden]


def totals_lines(checked: CheckedSpec) -> list[str]:
    """The footer: totals, conventions, memory; the same sentences in every human format."""
    facts = checked.facts
    lines = [
        f"total params: {facts.total_params:,} ({facts.total_weights:,} weights + {facts.total_biases:,} biases"
        + (f" + {facts.total_non_trainable:,} non-trainable" if facts.total_non_trainable else "")
        + f"; trainable {facts.total_trainable_params:,})"
        f" · parameter memory: {human_bytes(facts.param_bytes)} (float32)"
        f" · output: {facts.output_shape}",
        f"MACs per example: {facts.total_macs:,} ({facts.total_macs / 1e9:.3g} G; FLOPs = 2·MACs ="
        f" {2 * facts.total_macs:,})"
        f" · activation memory: {human_bytes(facts.activation_bytes)} per example"
        f" ({facts.activation_values:,} values incl. input, float32)",
    ]
    memory = checked.memory
    if memory is not None:
        lines.append(
            f"training memory at batch {memory.batch}, {memory.dtype}: {human_bytes(memory.total)} ="
            f" weights {human_bytes(memory.weights)} + gradients {human_bytes(memory.gradients)}"
            f" + Adam state {human_bytes(memory.optimizer)} + saved activations {human_bytes(memory.activations)}"
            " (a lower bound)"
        )
    if facts.total_non_trainable:
        lines.append(f"params: {PARAMS_CONVENTION}")
    return lines


def spec_error_text(error: SpecError) -> str:
    """Why a spec is invalid, as bullets: ``file:line:col: layers[3].stride: must be ≥ 1 (got -1)``."""
    lines = [f"error: {printable(error.file)} is not a valid convcalc spec:"]
    for problem in error.problems:
        where = printable(error.file)
        if problem.line is not None:
            where += f":{problem.line}:{problem.column}"
        path = f"{printable(format_path(problem.path))}: " if problem.path else ""
        lines.append(f"  - {where}: {path}{printable(problem.message)}")
    return "\n".join(lines) + "\n"
