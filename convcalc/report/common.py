"""What every renderer shares: the checked-spec record, the course notation, and folding repeats."""

from __future__ import annotations

from dataclasses import dataclass

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
