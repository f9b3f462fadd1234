"""CC205: a stride larger than the kernel skips input pixels that no window reads."""

from __future__ import annotations

from collections.abc import Iterator

from convcalc.analysis import LayerFacts, NetworkFacts, Window
from convcalc.arithmetic import divisors
from convcalc.findings import Severity
from convcalc.layers import WindowAxis
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.fixing import checked_fix, pair_value
from convcalc.rules.graph import LockedSizes, ReaderCounts, any_window, windowed
from convcalc.text import per_axis, plural, value_text


def _skips(window: Window) -> bool:
    return window.stride[0] > window.kernel[0] or window.stride[1] > window.kernel[1]


def skipping_axes(layer: LayerFacts, window: Window) -> list[WindowAxis]:
    """The axes on which the windows do not touch (S > F) and leave input pixels unread: none for a dilated
    kernel (it skips inside each window on purpose) or a single window that spans the whole axis."""
    if window.dilation != (1, 1) or not _skips(window):
        return []
    return [a for a in window.axes(layer.input_shape) if a.stride > a.kernel and a.padded > a.result.size * a.kernel]


def _no_skip(axis: WindowAxis, same: bool, *, vary_stride: bool) -> int:
    """S ≤ F by lowering S (from F down) or raising F (from S up), the first value whose window fits."""
    if axis.stride <= axis.kernel:
        return axis.stride if vary_stride else axis.kernel
    first = axis.kernel if vary_stride else axis.stride
    if same:
        return first  # "same" re-pads for any F and S
    if vary_stride:
        # The largest S' ≤ F that divides n = W − F + 2P (every S' divides 0).
        numerator = axis.padded - axis.kernel
        if numerator == 0:
            return axis.kernel
        dividing = [s for s in divisors(numerator) if s <= axis.kernel] if numerator > 0 else []
        return dividing[-1] if dividing else first
    # The F' in [S, 2S) with W − F' + 2P ≥ 0 a multiple of S: one residue class, so at most one.
    kernel = axis.stride + (axis.padded - axis.stride) % axis.stride
    return kernel if kernel <= axis.padded else first


@rule(
    "CC205",
    "stride-skips-pixels",
    Severity.WARNING,
    summary="S > F: input pixels between the windows never reach the output.",
    bad={"input": [32, 32, 8], "layers": [{"type": "pool", "kernel": 2, "stride": 3}]},
    good={"input": [28, 28, 8], "layers": [{"type": "pool", "kernel": 2, "stride": 2}]},
)
def stride_skips_pixels(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags sliding convs of every kind and pools whose stride is larger than their kernel on an axis,
    and counts the padded input rows/columns that no window reads: W + 2P − out·F. Dilated kernels, which
    skip pixels inside each window on purpose, are not judged.

    ## Why is this bad
    With S > F the windows do not touch: S − F pixels after each window are dropped without being looked
    at, by this layer or any later one. It is subsampling, not pooling or convolution. In a graph another
    branch reading the same volume may still see them (the message says so): ResNet's 1×1, S=2 projection
    shortcut drops 3 of 4 pixels that its main branch reads; ResNet-D averages 2×2 before it instead.

    ## Use instead
    S ≤ F: S = F tiles the input exactly (the pool's default), or grow the kernel to the stride.
    """
    readers, locked = ReaderCounts(net), LockedSizes(net)
    for layer, window in windowed(net, any_window):
        skipping = skipping_axes(layer, window)
        if not skipping:
            continue
        parts = []
        for axis in skipping:
            read = axis.result.size * axis.kernel
            parts.append(
                (
                    axis.name,
                    f"S = {axis.stride} > F = {axis.kernel}: only {axis.result.size}·{axis.kernel} = {read} of the"
                    f" {axis.padded} {'padded ' if axis.padded != axis.size else ''}input {axis.unit}s are read,"
                    f" {axis.padded - read} never reach the output",
                )
            )
        rows, cols = window.axes(layer.input_shape)
        stride = (_no_skip(rows, window.same, vary_stride=True), _no_skip(cols, window.same, vary_stride=True))
        kernel = (_no_skip(rows, window.same, vary_stride=False), _no_skip(cols, window.same, vary_stride=False))
        keep = layer.index in locked
        stride_value, kernel_value = pair_value(*stride), pair_value(*kernel)
        candidates = [
            checked_fix(
                layer, _skips, f"S={value_text(stride_value)}", {"stride": stride_value}, stride=stride, locked=keep
            ),
            checked_fix(
                layer, _skips, f"F={value_text(kernel_value)}", {"kernel": kernel_value}, kernel=kernel, locked=keep
            ),
        ]
        message = per_axis(parts)
        siblings = sum(readers.of(source) for source in layer.inputs) - len(layer.inputs)
        if siblings > 0:
            message += (
                f"; they are lost to this layer only: {plural(siblings, 'other layer')} also"
                f" read{'s' if siblings == 1 else ''} its {layer.input_shape} input and may pass them on"
            )
        yield Hit(layer.index, message, tuple(fix for fix in candidates if fix is not None))
