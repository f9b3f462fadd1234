"""What every renderer shares: the checked-spec record, the course notation, and folding repeats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.findings import Finding
from convcalc.loading import SourceMap
from convcalc.spec import FC, Conv, Pool


@dataclass(frozen=True)
class CheckedSpec:
    """One spec after analysis and linting: the record every renderer takes."""

    file: str
    facts: NetworkFacts
    findings: list[Finding]
    source: SourceMap

    def position(self, finding: Finding) -> tuple[int, int] | None:
        """Line and column (1-based) of the finding's layer object in the file, if known."""
        path: tuple[str | int, ...] = ("layers", finding.layer) if finding.layer is not None else ()
        return self.source.locate(path)

    def layer_label(self, finding: Finding) -> str:
        if finding.layer is None:
            return "network"
        return self.facts.layers[finding.layer].label


def _pair(values: tuple[int, int]) -> str:
    return str(values[0]) if values[0] == values[1] else f"{values[0]}×{values[1]}"


def hyperparameters(layer: LayerFacts) -> str:
    """The layer's settings in the notation CNN courses use: ``F=3 S=1 P=1 K=64``."""
    window = layer.window
    spec = layer.spec
    if window is not None:
        pad = window.padding
        if window.same:
            padding = "same"
        elif pad.top == pad.bottom and pad.left == pad.right:
            padding = _pair((pad.top, pad.left))
        else:
            padding = f"{pad.top},{pad.bottom},{pad.left},{pad.right}"
        text = f"F={_pair(window.kernel)} S={_pair(window.stride)} P={padding}"
        if isinstance(spec, Conv):
            return text + f" K={spec.filters}" + ("" if spec.bias else " no-bias")
        if isinstance(spec, Pool):
            return f"{spec.mode} {text}"
        return text
    if isinstance(spec, FC):
        return f"units={spec.units}" + ("" if spec.bias else " no-bias")
    return ""


def row_signature(layer: LayerFacts) -> tuple[object, ...]:
    """Two layers with the same signature print as the same row (apart from index and name)."""
    return (layer.type, hyperparameters(layer), layer.input_shape, layer.output_shape, layer.params)


@dataclass(frozen=True)
class Run:
    """``count`` consecutive repeats of the block ``layers[start : start + length]``."""

    start: int
    length: int
    count: int


MAX_BLOCK = 8
"""Longest repeated block that folding looks for (a ResNet bottleneck with its relus fits)."""


def fold_runs(layers: tuple[LayerFacts, ...], min_count: int = 2) -> list[Run]:
    """Split the layers into runs, folding consecutive repeats of identical blocks.

    Greedy from the left; at each position the block length covering the most layers wins (the shortest
    on ties). Each position is compared at most ``MAX_BLOCK`` times per repeat, so the cost is linear.
    """
    signatures = [row_signature(layer) for layer in layers]
    runs: list[Run] = []
    i, n = 0, len(signatures)
    while i < n:
        best = Run(i, 1, 1)
        for length in range(1, MAX_BLOCK + 1):
            if i + 2 * length > n:
                break
            count = 1
            while (
                i + (count + 1) * length <= n
                and signatures[i + count * length : i + (count + 1) * length] == signatures[i : i + length]
            ):
                count += 1
            # Fold only where it saves rows: the run prints as a header plus one row per block member.
            if count >= min_count and count * length > length + 2 and count * length > best.count * best.length:
                best = Run(i, length, count)
        runs.append(best)
        i += best.length * best.count
    return runs


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


def human_bytes(count: int) -> str:
    """Bytes with binary units: ``553.4 MiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count:,} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


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


def _cells(occurrences: list[LayerFacts], total: int, index: str, name: str) -> list[str]:
    layer = occurrences[0]
    rf, jump, start = receptive_field_text(occurrences)
    return [
        index,
        printable(name),
        layer.type,
        hyperparameters(layer),
        f"{layer.input_shape} → {layer.output_shape}",
        f"{layer.neurons:,}",
        f"{layer.weights:,}",
        f"{layer.biases:,}",
        f"{layer.params:,}",
        percent(layer.params * len(occurrences), total),
        rf,
        jump,
        start,
    ]


def layer_rows(checked: CheckedSpec, fold: bool) -> list[list[str] | tuple[str, str]]:
    """Every row as plain strings; a folded run adds a (range, caption) heading row."""
    facts = checked.facts
    layers = facts.layers
    total = facts.total_params
    rows: list[list[str] | tuple[str, str]] = []
    runs = fold_runs(layers) if fold else [Run(i, 1, 1) for i in range(len(layers))]
    for run in runs:
        if run.count == 1:
            layer = layers[run.start]
            rows.append(_cells([layer], total, str(layer.index), layer.name))
            continue
        last = run.start + run.length * run.count - 1
        block = "layer" if run.length == 1 else f"block of {run.length} layers"
        rows.append((f"{run.start}–{last}", f"{block} repeated {run.count}×"))
        for offset in range(run.length):
            occurrences = [layers[run.start + offset + k * run.length] for k in range(run.count)]
            first, final = occurrences[0], occurrences[-1]
            rows.append(_cells(occurrences, total, f"{first.index}…{final.index}", f"{first.name} ×{run.count}"))
    return rows
