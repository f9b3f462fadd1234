"""The layer table as data: columns with keys, and rows that carry their cells by key and their figures.

The terminal table, the Markdown table and the HTML table render these rows; none of them re-parses a
formatted number. Runs of identical layers or blocks fold into a heading row plus one row per block member,
each with its per-layer figures and the count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import NamedTuple

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.checked import CheckedSpec
from convcalc.folding import Run, greedy_runs
from convcalc.report.common import PerField
from convcalc.text import human_count, printable, share


class Column(NamedTuple):
    """One column: its key (how rows hold its cell), its header and which side it aligns to."""

    key: str
    header: str
    right: bool = False
    stands_in_for: str | None = None
    """Shown only once the table drops this other column (by key): a shorter form of it."""


COLUMNS = (
    Column("index", "#", right=True),
    Column("layer", "layer"),
    Column("type", "type"),
    Column("from", "from"),
    Column("settings", "F S P K"),
    Column("shapes", "input → output"),
    Column("output", "output", stands_in_for="shapes"),
    Column("neurons", "neurons", right=True),
    Column("weights", "weights", right=True),
    Column("biases", "biases", right=True),
    Column("params", "params", right=True),
    Column("params_short", "params", right=True, stands_in_for="params"),
    Column("share", "share", right=True),
    Column("macs", "MACs", right=True),
    Column("rf", "RF", right=True),
    Column("jump", "jump", right=True),
    Column("start", "start", right=True),
)
COLUMN = {column.key: column for column in COLUMNS}


class LayerRow(NamedTuple):
    """A row of figures: the input, one layer, or one member of a folded run (``layers``: its occurrences)."""

    cells: Mapping[str, str]
    """Every column's text, by key (absent: empty)."""
    neurons: int
    """Values in the row's output volume (the input's, for the input row)."""
    layers: tuple[LayerFacts, ...] = ()

    def cell(self, key: str) -> str:
        return self.cells.get(key, "")

    @property
    def layer(self) -> int | None:
        """The layer index when the row stands for exactly one layer (rows a finding can link to)."""
        return self.layers[0].index if len(self.layers) == 1 else None


class RunHeading(NamedTuple):
    """The heading of a folded run: ``24–35``, ``4× these 3 layers`` (its rows then give per-layer figures)."""

    span: str
    caption: str


Row = LayerRow | RunHeading


def hyperparameters(layer: LayerFacts) -> str:
    """The layer's settings in the notation CNN courses use: ``F=3 S=1 P=1 K=64`` (``frozen`` when its weights
    are not trained)."""
    notation = layer.spec.notation(layer.window)
    if layer.trainable or not layer.weights + layer.biases:
        return notation
    return f"{notation} frozen" if notation else "frozen"


def row_signature(layer: LayerFacts, settings: str | None = None) -> tuple[object, ...]:
    """Two layers with the same signature print as the same row (apart from index and name). ``settings``:
    the layer's :func:`hyperparameters`, where they are already known."""
    # Inputs as offsets, so that repeated residual blocks fold like repeated plain layers.
    sources = tuple(layer.index - s for s in layer.inputs) if layer.spec.inputs is not None else ()
    if settings is None:
        settings = hyperparameters(layer)
    return (layer.type, settings, layer.input_shape, layer.output_shape, layer.params, sources)


def fold_runs(layers: tuple[LayerFacts, ...], min_count: int = 2, settings: Sequence[str] | None = None) -> list[Run]:
    """The table's rows: runs of identical layers or blocks fold where that saves rows (a folded run
    prints as a heading plus one row per block member) and where each block is closed (see :func:`closed`);
    each run then starts at the fork its blocks read (see :func:`_aligned`). ``settings``: every layer's
    :func:`hyperparameters`, where they are already known."""
    if settings is None:
        settings = [hyperparameters(layer) for layer in layers]
    signatures = [row_signature(layer, text) for layer, text in zip(layers, settings, strict=True)]

    def worth(start: int, length: int, count: int) -> bool:
        return count >= min_count and count * length > length + 2 and closed(layers, start, length, count)

    return _aligned(layers, signatures, greedy_runs(signatures, 0, worth))


def _aligned(layers: tuple[LayerFacts, ...], signatures: list[tuple[object, ...]], runs: list[Run]) -> list[Run]:
    """``runs`` with each folded run shifted later where that makes its blocks start at a fork. Greedy folding
    takes ResNet's blocks from the first repeat it sees, the relu after an add; its blocks are the same layers
    read from the conv after it, the block whose input the add also reads (the shortcut)."""
    aligned: list[Run] = []
    covered = 0
    for slot, run in enumerate(runs):
        if run.start < covered:
            continue  # a single a shifted run took over
        best = run
        if run.count > 1:
            free = 0  # singles right after the run, which a shift may take over
            while slot + 1 + free < len(runs) and runs[slot + 1 + free].count == 1:
                free += 1
            span = run.length * run.count
            for shift in range(1, min(run.length - 1, free) + 1):
                start = run.start + shift
                repeats = signatures[start : start + span] == signatures[start : start + run.length] * run.count
                if (
                    repeats
                    and closed(layers, start, run.length, run.count)
                    and _fork_reads(layers, start, run.length) > _fork_reads(layers, best.start, run.length)
                ):
                    best = Run(start, run.length, run.count)
            aligned.extend(Run(index, 1, 1) for index in range(run.start, best.start))
        aligned.append(best)
        covered = best.start + best.length * best.count
    return aligned


def _fork_reads(layers: tuple[LayerFacts, ...], start: int, length: int) -> int:
    """How many layers of the block ``layers[start : start + length]`` read the layer just before it."""
    return sum(start - 1 in layer.inputs for layer in layers[start : start + length])


def closed(layers: tuple[LayerFacts, ...], start: int, length: int, count: int) -> bool:
    """Whether each of the ``count`` blocks of ``length`` layers from ``start`` reads only itself and the layer
    just before it: a ResNet block from its first conv to its add's relu, not one shifted across the add."""
    for block in range(start, start + length * count, length):
        for layer in layers[block : block + length]:
            if any(not block - 1 <= source < block + length for source in layer.inputs):
                return False
    return True


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _fraction_text(value: Fraction) -> str:
    """``str(value)``: ``5``, ``1/2``; without Fraction's own formatting, which a table would call 1,000 times."""
    numerator, denominator = value.numerator, value.denominator
    return str(numerator) if denominator == 1 else f"{numerator}/{denominator}"


def _axes_text(rows: str, cols: str) -> str:
    return rows if rows == cols else f"{rows}×{cols}"


def _span(values: Sequence[str]) -> str:
    # A folded row stands for several layers: show first…last when the figure changes along the run.
    return values[0] if values[0] == values[-1] else f"{values[0]}…{values[-1]}"


def _field_texts(layer: LayerFacts) -> tuple[str, str, str]:
    rows, cols = layer.rf_rows, layer.rf_cols
    return (
        _axes_text(_fraction_text(rows.size), _fraction_text(cols.size)),
        _axes_text(_fraction_text(rows.jump), _fraction_text(cols.jump)),
        _axes_text(_number(rows.start), _number(cols.start)),
    )


def receptive_field_text(
    layers: Sequence[LayerFacts], texts: Callable[[LayerFacts], tuple[str, str, str]] = _field_texts
) -> tuple[str, str, str]:
    """(size, jump, start) of the receptive field, as ranges when ``layers`` (one folded row) differ.
    ``texts``: how a layer's field becomes its texts (a table's, made once per field: :class:`PerField`)."""
    if len(layers) == 1:  # most rows: one layer, no range to find
        return texts(layers[0])
    # Texts compared, not values: a Fraction's text is canonical (and so is a float's, for the starts).
    sizes, jumps, starts = zip(*map(texts, layers), strict=True)
    return _span(sizes), _span(jumps), _span(starts)


def is_graph(facts: NetworkFacts) -> bool:
    """True when some layer names its inputs (the table then shows where each layer reads from)."""
    return any(layer.spec.inputs is not None for layer in facts.layers)


def source_names(facts: NetworkFacts, layer: LayerFacts) -> str:
    """``conv2_1, shortcut`` for a layer with explicit inputs; empty for a plain sequential one."""
    if layer.spec.inputs is None:
        return ""
    return ", ".join("input" if s < 0 else facts.layers[s].name for s in layer.inputs)


def _count_prefix(occurrences: Sequence[LayerFacts]) -> str:
    # A folded row's figures are per layer; its share says how many times it counts: 3×1.7%.
    return f"{len(occurrences)}×" if len(occurrences) > 1 else ""


def _layer_row(
    facts: NetworkFacts,
    occurrences: list[LayerFacts],
    index: str,
    name: str,
    settings: str,
    fields: PerField[tuple[str, str, str]],
) -> LayerRow:
    layer = occurrences[0]
    rf, jump, start = receptive_field_text(occurrences, fields)
    sources = source_names(facts, layer)
    cells = {
        "index": index,
        "layer": printable(name),
        "type": layer.type,
        "from": printable(sources) + (" …" if sources and len(occurrences) > 1 else ""),
        "settings": settings,
        "shapes": f"{layer.input_shape} → {layer.output_shape}",
        "output": str(layer.output_shape),
        "neurons": f"{layer.neurons:,}",
        "weights": f"{layer.weights:,}",
        "biases": f"{layer.biases:,}",
        "params": f"{layer.params:,}",
        "params_short": human_count(layer.params),
        "share": _count_prefix(occurrences) + share(layer.params, facts.total_params),
        "macs": human_count(layer.macs),
        "rf": rf,
        "jump": jump,
        "start": start,
    }
    return LayerRow(cells, layer.neurons, tuple(occurrences))


def layer_rows(checked: CheckedSpec, fold: bool) -> list[Row]:
    """Every layer's row in order; a folded run gives a heading and one row per block member."""
    facts = checked.facts
    layers = facts.layers
    rows: list[Row] = []
    settings = [hyperparameters(layer) for layer in layers]
    runs = fold_runs(layers, settings=settings) if fold else [Run(i, 1, 1) for i in range(len(layers))]
    fields = PerField(_field_texts)
    for run in runs:
        if run.count == 1:
            layer = layers[run.start]
            rows.append(_layer_row(facts, [layer], str(layer.index), layer.name, settings[run.start], fields))
            continue
        last = run.start + run.length * run.count - 1
        block = "this layer" if run.length == 1 else f"these {run.length} layers"
        rows.append(RunHeading(f"{run.start}–{last}", f"{run.count}× {block}"))
        for offset in range(run.length):
            occurrences = [layers[run.start + offset + k * run.length] for k in range(run.count)]
            first, final = occurrences[0], occurrences[-1]
            name = f"{first.name} ×{run.count}"
            index = f"{first.index}…{final.index}"
            rows.append(_layer_row(facts, occurrences, index, name, settings[first.index], fields))
    return rows


def input_row(facts: NetworkFacts) -> LayerRow:
    """The table's first row: the input volume."""
    shape = facts.input_shape
    cells = {
        "layer": "input",
        "type": "input",
        "shapes": str(shape),
        "output": str(shape),
        "neurons": f"{shape.values:,}",
    }
    return LayerRow(cells, shape.values)


def table_rows(checked: CheckedSpec, fold: bool) -> list[Row]:
    """The input row, then every layer's."""
    return [input_row(checked.facts), *layer_rows(checked, fold)]


def visible_columns(facts: NetworkFacts, drop: tuple[str, ...] = ()) -> list[Column]:
    """The columns to show: "from" only for graphs, minus the dropped ones (by key); a shorter form (the output
    volume alone, params in K/M) stands in for a column once that is dropped."""
    hidden = set(drop) | (set() if is_graph(facts) else {"from"})
    return [
        column
        for column in COLUMNS
        if column.key not in hidden and (column.stands_in_for is None or column.stands_in_for in hidden)
    ]
