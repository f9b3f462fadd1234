"""The inverse calculator: which (F, S, P) turn an input size into a wanted output size, and which input
sizes make a whole network fit. Pure: plain ints in, plain ints out."""

from __future__ import annotations

from dataclasses import dataclass

from convcalc.analysis import FigureLimitError, NetworkFacts, analyze
from convcalc.arithmetic import conv_output_size
from convcalc.spec import MAX_SIZE, InputShape

ANALYSIS_BUDGET = 2_000_000
"""Layer analyses the input-size search may spend (a 10,000-layer spec must answer in seconds)."""

MAGIC = ((3, 1, 1), (2, 2, 0), (3, 2, 0))
"""The course's magic numbers: conv F=3, S=1, P=1; pool F=2, S=2 and F=3, S=2."""


@dataclass(frozen=True)
class Bounds:
    """The search space: 1 ≤ F ≤ max_kernel, 1 ≤ S ≤ max_stride, 0 ≤ P < F (P ≥ F pads outputs that see
    nothing but zeros, see CC206)."""

    max_kernel: int = 15
    max_stride: int = 8


def window_sort_key(kernel: int, stride: int, padding: int) -> tuple[bool, bool, bool, int, int, int]:
    """How sensible a window is, most first: the magic numbers; then windows whose padding stays under half
    the kernel (2P < F: no output sees mostly zeros) and whose stride does not skip pixels (S ≤ F); then odd
    kernels (a centre pixel); then small values.

    >>> sorted([(11, 4, 0), (3, 1, 1), (4, 4, 0), (15, 3, 14)], key=lambda w: window_sort_key(*w))
    [(3, 1, 1), (11, 4, 0), (4, 4, 0), (15, 3, 14)]
    """
    sensible = 2 * padding < kernel and stride <= kernel
    return ((kernel, stride, padding) not in MAGIC, not sensible, kernel % 2 == 0, kernel, stride, padding)


def solve_window(
    in_size: int,
    out_size: int,
    *,
    kernel: int | None = None,
    stride: int | None = None,
    padding: int | None = None,
    bounds: Bounds = Bounds(),
) -> list[tuple[int, int, int]]:
    """Every (F, S, P) within bounds (or fixed where given) with (W − F + 2P)/S + 1 == out exactly.

    >>> (11, 4, 0) in solve_window(227, 55)
    True
    >>> solve_window(32, 32, kernel=3)
    [(3, 1, 1)]
    """
    kernels = [kernel] if kernel is not None else range(1, bounds.max_kernel + 1)
    strides = [stride] if stride is not None else range(1, bounds.max_stride + 1)
    found = []
    for f in kernels:
        for s in strides:
            # (W − F + 2P)/S + 1 = out fixes P: 2P = (out − 1)·S − W + F, so no P is tried in vain.
            twice = (out_size - 1) * s - in_size + f
            if twice % 2 or not 0 <= twice // 2 < f or (padding is not None and twice // 2 != padding):
                continue
            p = twice // 2
            result = conv_output_size(in_size, f, s, p, p)
            if result.fits and result.size == out_size:
                found.append((f, s, p))
    return sorted(found, key=lambda w: window_sort_key(*w))


def network_fits(net: NetworkFacts) -> tuple[bool, bool]:
    """(every layer fits along the height, along the width): exact windows with output, "same" exempt; and no
    reshape asks for another count of values than it gets (CC115: it ties both axes, so neither fits)."""
    rows = cols = True
    for layer in net.layers:
        if layer.type == "reshape" and layer.output_shape.values != layer.input_shape.values:
            return False, False
        window = layer.window
        if window is None or window.same:
            continue
        rows = rows and window.rows.fits
        cols = cols and window.cols.fits
    return rows, cols


def fitting_input_sizes(net: NetworkFacts, *, count: int = 3, search: int = 256) -> tuple[list[int], list[int]]:
    """The input heights and widths nearest to the current ones for which every layer fits.

    Returns up to ``count`` sizes per axis, nearest first (the current size itself when it fits). Each
    candidate is re-analysed: the axes are independent, so one pass checks a height and a width at once.
    """
    height, width = net.input_shape.height, net.input_shape.width
    heights: list[int] = []
    widths: list[int] = []
    # Each candidate re-analyses the network: bound the work on deep specs.
    search = max(4, min(search, ANALYSIS_BUDGET // (2 * max(len(net.layers), 1))))
    for step in range(search + 1):
        for direction in (0,) if step == 0 else (-1, 1):
            h, w = height + direction * step, width + direction * step
            if not (1 <= h <= MAX_SIZE or 1 <= w <= MAX_SIZE):
                continue
            shape = InputShape(
                height=min(max(h, 1), MAX_SIZE), width=min(max(w, 1), MAX_SIZE), channels=net.input_shape.depth
            )
            try:
                changed = analyze(net.network.model_copy(update={"input": shape}), receptive_fields=False)
            except FigureLimitError:
                continue  # figures past convcalc's limit: no size to offer
            rows, cols = network_fits(changed)
            if rows and 1 <= h <= MAX_SIZE and len(heights) < count:
                heights.append(h)
            if cols and 1 <= w <= MAX_SIZE and len(widths) < count:
                widths.append(w)
        if len(heights) >= count and len(widths) >= count:
            break
    return heights, widths
