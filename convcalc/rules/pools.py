"""Pools: CC203 (not F=2, S=2 or F=3, S=2) and CC204 (a window larger than 3×3).

CS231n: only two pooling settings are common; bigger windows are too destructive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from convcalc.analysis import LayerFacts, NetworkFacts, Window
from convcalc.findings import Fix, Severity
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.fixing import checked_fix, fits_first, pair_value, rewindow
from convcalc.rules.graph import LockedSizes, ReaderCounts, covers_input, is_pool, windowed
from convcalc.rules.skips import skipping_axes
from convcalc.text import percent_number, value_text

MAGIC_POOLS = ((2, 2), (3, 2))
"""The (F, S) pools that work well in practice (CS231n)."""


def _magic_pool_fixes(
    layer: LayerFacts, window: Window, problem: Callable[[Window], bool], locked: bool
) -> tuple[Fix, ...]:
    """F=2, S=2 and F=3, S=2, re-computed; padding is reset to 0 where it would reach the whole window."""
    fixes: list[tuple[bool, Fix]] = []
    for kernel, stride in MAGIC_POOLS:
        changes: dict[str, Any] = {"kernel": kernel, "stride": stride}
        padding: Any = None
        if not window.same and max(window.padding) >= kernel:
            padding, changes["padding"] = (0, 0), 0
        fix = checked_fix(
            layer,
            problem,
            f"F={kernel}, S={stride}",
            changes,
            kernel=(kernel, kernel),
            stride=(stride, stride),
            padding=padding,
            locked=locked,
        )
        if fix is not None:
            new = rewindow(layer, kernel=(kernel, kernel), stride=(stride, stride), padding=padding)
            fixes.append((new.fits, fix))
    return fits_first(fixes)


def _branch_filter(net: NetworkFacts) -> Callable[[LayerFacts], bool]:
    """Whether a pool is a size-keeping stride-1 filter in one of several branches that read the same volume
    (Inception's pool branch, SPP's pools): a nonlinear feature, not a downsampling."""
    readers = ReaderCounts(net)

    def branch(layer: LayerFacts) -> bool:
        window = layer.window
        if window is None or window.stride != (1, 1) or layer.output_shape != layer.input_shape:
            return False
        return len(layer.inputs) == 1 and readers.of(layer.inputs[0]) > 1

    return branch


def _unusual_axes(window: Window) -> set[str]:
    """The axes whose (F, S) is neither of the two pools that work well."""
    pairs = zip(("height", "width"), zip(window.kernel, window.stride, strict=True), strict=True)
    return {axis for axis, pair in pairs if pair not in MAGIC_POOLS}


def _unusual_pool(window: Window) -> bool:
    return max(window.kernel) <= 3 and bool(_unusual_axes(window))


@rule(
    "CC203",
    "unusual-pool",
    Severity.WARNING,
    summary="A pool other than the two that work well in practice: F=2, S=2 and F=3, S=2.",
    bad={"input": [28, 28, 8], "layers": [{"type": "pool", "kernel": 3, "stride": 1}]},
    good={"input": [28, 28, 8], "layers": [{"type": "pool", "kernel": 2, "stride": 2}]},
)
def unusual_pool(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags pools of at most 3×3 whose (F, S) is not (2, 2) or (3, 2) on both axes. Global pooling (a window
    over the whole input) is exempt; larger windows are CC204's, and a stride larger than the kernel that
    leaves pixels unread is CC205's (ResNetV2's 1×1, S=2 shortcut pool). So is a stride-1 pool that keeps the size as
    one of several branches reading the same volume (an Inception block's 3×3 pool branch): there it is a
    nonlinear filter beside the convs, not a downsampling.

    ## Why is this bad
    CS231n: only two pooling settings are common, F=2, S=2 (halves the size, keeps 1 of 4 values) and the
    overlapping F=3, S=2. S=1 barely downsamples but still blurs; S > F skips pixels; other sizes stop the
    sizes from halving cleanly.

    ## Use instead
    `{"type": "pool", "kernel": 2, "stride": 2}`, or F=3, S=2.
    """
    branch, locked = _branch_filter(net), LockedSizes(net)
    for layer, window in windowed(net, is_pool):
        if not _unusual_pool(window) or covers_input(layer, window) or branch(layer):
            continue
        if _unusual_axes(window) <= {axis.name for axis in skipping_axes(layer, window)}:
            continue  # S > F leaves pixels unread on every such axis: CC205 says so, with fixes of its own
        kernel, stride = value_text(pair_value(*window.kernel)), value_text(pair_value(*window.stride))
        message = (
            f"F = {kernel}, S = {stride} ({layer.input_shape} → {layer.output_shape}) is not one of the two pools"
            " that work well: F=2, S=2 (keeps 1 of 4 values) or the overlapping F=3, S=2"
        )
        if window.stride == (1, 1):
            message += "; with S = 1 it does nothing" if window.kernel == (1, 1) else "; with S = 1 it only blurs"
        yield Hit(layer.index, message, _magic_pool_fixes(layer, window, _unusual_pool, layer.index in locked))


def _pool_too_large(window: Window) -> bool:
    return max(window.kernel) > 3


@rule(
    "CC204",
    "large-pool-window",
    Severity.WARNING,
    summary="A pool window larger than 3×3 discards too much of the volume at once.",
    bad={"input": [28, 28, 8], "layers": [{"type": "pool", "kernel": 4}]},
    good={"input": [28, 28, 8], "layers": [{"type": "pool", "kernel": 2}]},
)
def large_pool_window(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags pools with a window side larger than 3 (global pooling over the whole input is exempt) and says
    how much of the volume they throw away. A stride-1 pool that keeps the size as one of several branches
    reading the same volume (SPP's 5×5, 9×9, 13×13 max pools) discards nothing and is exempt.

    ## Why is this bad
    CS231n: "pooling sizes with larger receptive fields are too destructive". A 4×4 pool with S=4 keeps one
    value in 16; the information is gone before any later layer can use it.

    ## Use instead
    F=2, S=2 (or F=3, S=2), repeated after more conv layers if the volume must shrink further.
    """
    branch, locked = _branch_filter(net), LockedSizes(net)
    for layer, window in windowed(net, is_pool):
        if not _pool_too_large(window) or covers_input(layer, window) or branch(layer):
            continue
        before, after = layer.input_shape.values, layer.output_shape.values
        kernel, stride = value_text(pair_value(*window.kernel)), value_text(pair_value(*window.stride))
        message = f"a {'×'.join(map(str, window.kernel))} pool (S = {stride}) on {layer.input_shape}"
        if after < before:
            message += (
                f" keeps {after:,} of {before:,} values ({layer.output_shape}):"
                f" {percent_number(before - after, before)} % of the volume is discarded in one step"
            )
        else:
            message += f" does not shrink it ({layer.output_shape}) but mixes every value over F = {kernel}"
        yield Hit(layer.index, message, _magic_pool_fixes(layer, window, _pool_too_large, layer.index in locked))
