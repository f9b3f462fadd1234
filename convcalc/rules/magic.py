"""Magic numbers (warnings): conv and pool settings outside the few that are known to work well.

CS231n's "magic numbers": convs with F=3, S=1, P=1 keep the size; pools with F=2, S=2 or F=3, S=2 halve
it. VGG showed that stacks of 3×3 convs replace larger kernels. Every fix is re-computed with
``rewindow`` and kept only when the re-computed window no longer has the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from convcalc.analysis import LayerFacts, NetworkFacts, Window
from convcalc.arithmetic import AxisResult, ceil_div, conv_output_size, effective_kernel
from convcalc.findings import Fix, Severity
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.support import (
    pair_value,
    reader_counts,
    rewindow,
    size_locked,
    unpadded_first_convs,
    value_text,
    window_output,
    zero_padding_before,
    zero_padding_sides,
)

MAGIC_POOLS = ((2, 2), (3, 2))
"""The (F, S) pools that work well in practice (CS231n)."""
CONVS = ("conv", "depthwise", "separable")
"""The conv kinds with a sliding window (a transposed conv has none)."""


class _Axis(NamedTuple):
    """One spatial axis of a window layer: the numbers the messages quote."""

    name: str
    unit: str
    size: int
    kernel: int
    stride: int
    pad: int
    pad_after: int
    result: AxisResult
    dilation: int = 1

    @property
    def padded(self) -> int:
        return self.size + self.pad + self.pad_after

    @property
    def span(self) -> int:
        """E = d·(F − 1) + 1, the extent of the (dilated) kernel; F when d = 1."""
        return effective_kernel(self.kernel, self.dilation)

    @property
    def letter(self) -> str:
        """How the messages call the extent: F, or E for a dilated kernel."""
        return "F" if self.dilation == 1 else "E"

    @property
    def extent_note(self) -> str:
        return "" if self.dilation == 1 else f" (E = d·(F − 1) + 1 = {self.dilation}·{self.kernel - 1} + 1, dilated)"


def _axes(layer: LayerFacts, window: Window) -> tuple[_Axis, _Axis]:
    pad = window.padding
    shape = layer.input_shape
    kernel, stride, dilation = window.kernel, window.stride, window.dilation
    return (
        _Axis("height", "row", shape.height, kernel[0], stride[0], pad.top, pad.bottom, window.rows, dilation[0]),
        _Axis("width", "column", shape.width, kernel[1], stride[1], pad.left, pad.right, window.cols, dilation[1]),
    )


def _windowed(net: NetworkFacts, *types: str) -> Iterator[tuple[LayerFacts, Window]]:
    """Window layers of these kinds that have an input and an output (the shape rules report the others)."""
    for layer in net.layers:
        window = layer.window
        if layer.type in types and window is not None and not layer.input_shape.empty and window.has_output:
            yield layer, window


def _per_axis(parts: list[tuple[str, str]]) -> str:
    # A square layer gives the same sentence for both axes: say it once.
    if len(parts) == 2 and parts[0][1] == parts[1][1]:
        return parts[0][1]
    return "; ".join(f"{axis}: {text}" for axis, text in parts)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _percent(part: int, whole: int) -> str:
    """``8`` for exact or large shares, one decimal for small ones."""
    share = 100 * part / whole
    return f"{share:.0f}" if share >= 10 or share == int(share) else f"{share:.1f}"


def _padding_value(padding: tuple[int, int] | str) -> Any:
    return padding if isinstance(padding, str) else pair_value(*padding)


def _padding_title(value: int | list[int] | str) -> str:
    return 'padding "same"' if value == "same" else f"P={value_text(value)}"


def _covers_input(layer: LayerFacts, window: Window) -> bool:
    """A window over the whole input (global pooling, or a conv as an fc layer: 1×1 output).

    Such a layer is the FC ⇔ CONV form or global pooling, not a magic-number question.
    """
    shape, out = layer.input_shape, layer.output_shape
    return window.kernel[0] >= shape.height and window.kernel[1] >= shape.width and out.height == out.width == 1


def _checked(
    layer: LayerFacts,
    problem: Callable[[Window], bool],
    title: str,
    changes: dict[str, Any],
    *,
    kernel: tuple[int, int] | None = None,
    stride: tuple[int, int] | None = None,
    padding: Any = None,
    locked: bool = False,
) -> Fix | None:
    """The fix, if the re-computed window has an output and no longer has the problem; its title gets the shape.

    A fix never trades this warning for an error: where the window fitted (CC101), it must still fit, and
    where a merge relies on the output size (``locked``, see ``size_locked``), the size must stay.
    """
    new = rewindow(layer, kernel=kernel, stride=stride, padding=padding)
    old = layer.window
    if not new.has_output or problem(new) or (old is not None and old.fits and not new.same and not new.fits):
        return None
    if locked and (new.rows.size, new.cols.size) != (layer.output_shape.height, layer.output_shape.width):
        return None
    return Fix(f"{title} → {window_output(new, layer.output_shape.depth)}", layer.path, changes)


def _fits_first(fixes: list[tuple[bool, Fix]]) -> tuple[Fix, ...]:
    return tuple(fix for _, fix in sorted(fixes, key=lambda item: not item[0]))


# --- CC201 -----------------------------------------------------------------------------------------


def _kernel_too_large(window: Window) -> bool:
    return max(window.kernel) > 3


def _keeping_pad(axis: _Axis, kernel: int) -> int:
    """Padding P' < E' for a kernel F' (same dilation) that keeps this axis's output size (and fit), else the
    nearest guess."""
    span = effective_kernel(kernel, axis.dilation)
    for pad in range(min(axis.pad, span - 1), -1, -1):
        result = conv_output_size(axis.size, span, axis.stride, pad, pad)
        if result.size == axis.result.size and (result.fits or not axis.result.fits):
            return pad
    # Not possible (e.g. an unpadded 5×5 with S=1): shrink P by as much as the kernel shrank.
    return max(0, min(axis.pad - (axis.span - span) // 2, span - 1))


def _stack_fix(layer: LayerFacts, window: Window, count: int, locked: bool) -> Fix | None:
    kernel = (min(window.kernel[0], 3), min(window.kernel[1], 3))
    if kernel[0] < window.stride[0] or kernel[1] < window.stride[1]:
        return None  # a 3×3 window with S > 3 would skip pixels (CC205): no one-layer fix
    if window.same:
        padding: tuple[int, int] | str = "same"
    else:
        rows, cols = _axes(layer, window)
        padding = (_keeping_pad(rows, kernel[0]), _keeping_pad(cols, kernel[1]))
    value = _padding_value(padding)
    changes = {"kernel": pair_value(*kernel), "padding": value}
    fix = _checked(
        layer,
        _kernel_too_large,
        f"F={value_text(pair_value(*kernel))}, {_padding_title(value)}",
        changes,
        kernel=kernel,
        padding=padding,
        locked=locked,
    )
    if fix is None:
        return None
    return Fix(f"{fix.title} (stack {count} of them)", fix.path, fix.set)


@rule(
    "CC201",
    "large-conv-kernel",
    Severity.WARNING,
    summary="A conv kernel larger than 3×3: a stack of 3×3 convs sees the same field through more nonlinearities.",
    bad={"input": [28, 28, 16], "layers": [{"type": "conv", "filters": 16, "kernel": 5, "padding": 2}]},
    good={"input": [28, 28, 16], "layers": [{"type": "conv", "filters": 16, "kernel": 3, "padding": 1}]},
)
def large_conv_kernel(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags conv layers with a kernel side larger than 3, and prices the VGG alternative for that very layer:
    n = ceil((F − 1)/2) stacked 3×3 convs see an F×F field (D → K, then K → K) and cost
    9·D·K + (n − 1)·9·K·K weights instead of F·F·D·K. A conv whose kernel covers its whole input (an fc
    layer in conv form, 1×1 output) is exempt. A dilated kernel is judged by its F (its weights), not by
    the d·(F − 1) + 1 pixels it spans: a dilated 3×3 is the cheap way to a large field, and the message
    says so. Depthwise and separable convs are exempt: their spatial filter costs F·F per channel, so a
    large kernel is cheap, and MobileNetV3, EfficientNet and ConvNeXt use 5×5 and 7×7 ones on purpose.

    ## Why is this bad
    CS231n's "magic numbers" and VGG (Simonyan & Zisserman): a stack of small filters has the receptive
    field of one large filter, with a ReLU after each, so it expresses more for usually fewer weights. It is
    not always cheaper: when K is much larger than D the K → K convs dominate, and the message says so.

    ## Use instead
    F=3, S=1, P=1 convs, stacked n deep. The fix turns this layer into the first 3×3 of the stack, with the
    padding chosen so the output size stays the same where that is possible.
    """
    locked = size_locked(net)
    for layer, window in _windowed(net, "conv"):
        if not _kernel_too_large(window) or _covers_input(layer, window):
            continue
        side = max(window.kernel)
        count = ceil_div(side - 1, 2)
        field = 2 * count + 1
        depth, filters = layer.input_shape.depth, layer.output_shape.depth
        first, rest = 9 * depth * filters, (count - 1) * 9 * filters * filters
        stack, single = first + rest, layer.weights
        kh, kw = window.kernel
        seen = "the same field" if field == kh == kw else f"a {field}×{field} field, covering the {kh}×{kw} kernel"
        repeat = "" if count == 2 else f"{count - 1}·"
        dilated = ""
        if window.dilation != (1, 1):
            eh, ew = window.effective_kernel
            dilation = value_text(pair_value(*window.dilation))
            dilated = (
                f" (dilation {dilation}: it spans {eh}×{ew} pixels; judged by its {kh}×{kw} weights, and the 3×3"
                " stack keeps the dilation)"
            )
        message = (
            f"{kh}×{kw} kernel{dilated}: a stack of {count} 3×3 convs sees {seen}, with"
            f" {_plural(count - 1, 'more ReLU')} in"
            f" between (VGG); for this layer ({depth} → {filters} channels) the stack costs 9·{depth}·{filters} +"
            f" {repeat}9·{filters}·{filters} = {first:,} + {rest:,} = {stack:,} weights vs"
            f" {kh}·{kw}·{depth}·{filters} = {single:,}"
        )
        if stack < single:
            message += f", saving {single - stack:,} ({_percent(single - stack, single)} %)"
        elif stack > single:
            message += (
                f": {stack - single:,} more (+{_percent(stack - single, single)} %); the stack is not cheaper here,"
                f" as its later convs map {filters} → {filters} channels while this layer reads only {depth}:"
                " it buys depth, not fewer weights"
            )
        else:
            message += ": the same number of weights, with more depth"
        fix = _stack_fix(layer, window, count, layer.index in locked)
        yield Hit(layer.index, message, () if fix is None else (fix,))


# --- CC202 -----------------------------------------------------------------------------------------


def _shrinks_or_grows(size: tuple[int, int]) -> Callable[[Window], bool]:
    def problem(window: Window) -> bool:
        return (window.rows.size, window.cols.size) != size

    return problem


def _size_keeping_pad(axis: _Axis, target: int) -> int | None:
    """The symmetric P < E that brings this stride-1 axis out at ``target``, if one does."""
    return next(
        (pad for pad in range(axis.span) if conv_output_size(axis.size, axis.span, 1, pad, pad).size == target), None
    )


def _size_sentence(axis: _Axis, before: int, extra: int, pads: str) -> str:
    letter, span = axis.letter, axis.span
    if not extra:
        sentence = f"W − {letter} + 2P + 1 = {axis.size} − {span} + {2 * axis.pad} + 1 = {axis.result.size}; "
        if span % 2:
            sentence += f"P = ({letter} − 1)/2 = {(span - 1) // 2} keeps it"
        else:
            sentence += f'an even {letter} = {span} keeps it only with padding "same"'
    else:
        sentence = (
            f"W + Z − {letter} + 2P + 1 = {before} + {extra} − {span} + {2 * axis.pad} + 1 = {axis.result.size}"
            f" (Z from {pads}); padding that adds up to {letter} − 1 = {span - 1} keeps it"
        )
    return sentence + axis.extent_note


@rule(
    "CC202",
    "padding-changes-size",
    Severity.WARNING,
    summary="A conv with S=1 whose padding does not keep the spatial size (F=3 wants P=1).",
    bad={"input": [28, 28, 3], "layers": [{"type": "conv", "filters": 8, "kernel": 5, "padding": 1}]},
    good={"input": [28, 28, 3], "layers": [{"type": "conv", "filters": 8, "kernel": 5, "padding": 2}]},
)
def padding_changes_size(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags stride-1 convs (depthwise and separable too) whose output is not the size of their input:
    P ≠ (F − 1)/2, with E = d·(F − 1) + 1 in place of F for a dilated kernel. A `zero_padding` layer right
    before the conv counts as its padding (Keras' ZeroPadding2D + "valid" conv): the size is compared with
    the volume before the padding. A conv over its whole input (an fc layer in conv form, 1×1 output) is
    exempt.

    ## Why is this bad
    CS231n's magic numbers: with S=1, P = (F − 1)/2 keeps W (F=3 with P=1, F=5 with P=2), so the conv
    layers only transform depth and the pools alone do the downsampling. Without it the volume shrinks a
    little at every layer, the border is washed away, and the sizes stop dividing nicely. An even F cannot
    keep the size with symmetric padding; `padding: "same"` adds the extra pixel on one side. The first
    conv's unpadded case is CC302's.

    ## Use instead
    P = (F − 1)/2 for odd F, or `padding: "same"`.
    """
    first = {layer.index for layer in unpadded_first_convs(net)}  # CC302 reports those
    for layer, window in _windowed(net, *CONVS):
        origin, pads = zero_padding_before(net, layer)
        target = (origin.height, origin.width)
        problem = _shrinks_or_grows(target)
        if window.stride != (1, 1) or window.same or not problem(window) or _covers_input(layer, window):
            continue
        if layer.index in first:
            continue
        top, bottom, left, right = zero_padding_sides(pads)
        names = ", ".join(pad.name for pad in pads)
        parts = [
            (axis.name, _size_sentence(axis, before, extra, names))
            for axis, before, extra in zip(_axes(layer, window), target, (top + bottom, left + right), strict=True)
            if axis.result.size != before
        ]
        message = (
            f"with S = 1 the padding changes the size {origin.height}×{origin.width}"
            f" → {layer.output_shape.height}×{layer.output_shape.width}: {_per_axis(parts)} (the F=3, S=1, P=1 rule)"
        )
        rows, cols = _axes(layer, window)
        padding: tuple[int, int] | str | None
        if pads:
            keep = (_size_keeping_pad(rows, target[0]), _size_keeping_pad(cols, target[1]))
            padding = (keep[0], keep[1]) if keep[0] is not None and keep[1] is not None else None
        else:
            padding = ((rows.span - 1) // 2, (cols.span - 1) // 2) if rows.span % 2 and cols.span % 2 else "same"
        fix = None
        if padding is not None:
            value = _padding_value(padding)
            fix = _checked(layer, problem, _padding_title(value), {"padding": value}, padding=padding)
        yield Hit(layer.index, message, () if fix is None else (fix,))


# --- CC203, CC204 ----------------------------------------------------------------------------------


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
        fix = _checked(
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
    return _fits_first(fixes)


def _branch_filter(net: NetworkFacts) -> Callable[[LayerFacts], bool]:
    """Whether a pool is a size-keeping stride-1 filter in one of several branches that read the same volume
    (Inception's pool branch, SPP's pools): a nonlinear feature, not a downsampling."""
    readers = reader_counts(net)

    def branch(layer: LayerFacts) -> bool:
        window = layer.window
        return (
            window is not None
            and window.stride == (1, 1)
            and layer.output_shape == layer.input_shape
            and len(layer.inputs) == 1
            and readers.get(layer.inputs[0], 0) > 1
        )

    return branch


def _unusual_pool(window: Window) -> bool:
    return max(window.kernel) <= 3 and any(
        pair not in MAGIC_POOLS for pair in zip(window.kernel, window.stride, strict=True)
    )


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
    over the whole input) is exempt; larger windows are CC204's. So is a stride-1 pool that keeps the size as
    one of several branches reading the same volume (an Inception block's 3×3 pool branch): there it is a
    nonlinear filter beside the convs, not a downsampling.

    ## Why is this bad
    CS231n: only two pooling settings are common, F=2, S=2 (halves the size, keeps 1 of 4 values) and the
    overlapping F=3, S=2. S=1 barely downsamples but still blurs; S > F skips pixels; other sizes stop the
    sizes from halving cleanly.

    ## Use instead
    `{"type": "pool", "kernel": 2, "stride": 2}`, or F=3, S=2.
    """
    branch, locked = _branch_filter(net), size_locked(net)
    for layer, window in _windowed(net, "pool"):
        if not _unusual_pool(window) or _covers_input(layer, window) or branch(layer):
            continue
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
    branch, locked = _branch_filter(net), size_locked(net)
    for layer, window in _windowed(net, "pool"):
        if not _pool_too_large(window) or _covers_input(layer, window) or branch(layer):
            continue
        before, after = layer.input_shape.values, layer.output_shape.values
        kernel, stride = value_text(pair_value(*window.kernel)), value_text(pair_value(*window.stride))
        message = f"a {'×'.join(map(str, window.kernel))} pool (S = {stride}) on {layer.input_shape}"
        if after < before:
            message += (
                f" keeps {after:,} of {before:,} values ({layer.output_shape}): {_percent(before - after, before)} %"
                " of the volume is discarded in one step"
            )
        else:
            message += f" does not shrink it ({layer.output_shape}) but mixes every value over F = {kernel}"
        yield Hit(layer.index, message, _magic_pool_fixes(layer, window, _pool_too_large, layer.index in locked))


# --- CC205 -----------------------------------------------------------------------------------------


def _skips(window: Window) -> bool:
    return window.stride[0] > window.kernel[0] or window.stride[1] > window.kernel[1]


def _no_skip(axis: _Axis, same: bool, *, vary_stride: bool) -> int:
    """S ≤ F by lowering S (from F down) or raising F (from S up), the first value whose window fits."""
    if axis.stride <= axis.kernel:
        return axis.stride if vary_stride else axis.kernel
    values = range(axis.kernel, 0, -1) if vary_stride else range(axis.stride, 2 * axis.stride)
    if same:
        return values[0]  # "same" re-pads for any F and S
    for value in values:
        kernel, stride = (axis.kernel, value) if vary_stride else (value, axis.stride)
        if conv_output_size(axis.size, kernel, stride, axis.pad, axis.pad_after).fits:
            return value
    return values[0]


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
    Flags conv (depthwise, separable) and pool layers whose stride is larger than their kernel on an axis,
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
    readers, locked = reader_counts(net), size_locked(net)
    for layer, window in _windowed(net, *CONVS, "pool"):
        if window.dilation != (1, 1):
            continue
        # With S > F the windows do not touch; a single window that spans the whole axis skips nothing.
        skipping = [a for a in _axes(layer, window) if a.stride > a.kernel and a.padded > a.result.size * a.kernel]
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
        rows, cols = _axes(layer, window)
        stride = (_no_skip(rows, window.same, vary_stride=True), _no_skip(cols, window.same, vary_stride=True))
        kernel = (_no_skip(rows, window.same, vary_stride=False), _no_skip(cols, window.same, vary_stride=False))
        keep = layer.index in locked
        stride_value, kernel_value = pair_value(*stride), pair_value(*kernel)
        candidates = [
            _checked(
                layer, _skips, f"S={value_text(stride_value)}", {"stride": stride_value}, stride=stride, locked=keep
            ),
            _checked(
                layer, _skips, f"F={value_text(kernel_value)}", {"kernel": kernel_value}, kernel=kernel, locked=keep
            ),
        ]
        message = _per_axis(parts)
        siblings = sum(readers.get(source, 0) for source in layer.inputs) - len(layer.inputs)
        if siblings > 0:
            message += (
                f"; they are lost to this layer only: {_plural(siblings, 'other layer')} also"
                f" read{'s' if siblings == 1 else ''} its {layer.input_shape} input and may pass them on"
            )
        yield Hit(layer.index, message, tuple(fix for fix in candidates if fix is not None))


# --- CC206 -----------------------------------------------------------------------------------------


def _pads_a_whole_window(window: Window) -> bool:
    pad, (span_h, span_w) = window.padding, window.effective_kernel
    return not window.same and (pad.top >= span_h or pad.left >= span_w)


def _smaller_pad(axis: _Axis) -> int:
    """P < E for this axis: (E − 1)/2 first, then larger, preferring one where the window fits."""
    if axis.pad < axis.span:
        return axis.pad
    options = range((axis.span - 1) // 2, axis.span)
    results = [(pad, conv_output_size(axis.size, axis.span, axis.stride, pad, pad)) for pad in options]
    for pad, result in results:
        if result.fits:
            return pad
    return next((pad for pad, result in results if result.has_output), options[0])


@rule(
    "CC206",
    "padding-exceeds-kernel",
    Severity.WARNING,
    summary="P ≥ F: the outermost outputs see nothing but zero padding.",
    bad={"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 3}]},
    good={"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}]},
)
def padding_exceeds_kernel(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags conv (depthwise, separable) and pool layers whose explicit padding is at least as large as the
    kernel on an axis (as its dilated extent E = d·(F − 1) + 1, for a dilated kernel).

    ## Why is this bad
    A window that lies wholly inside the padding reads only zeros: its output is a constant (the bias, for a
    conv), computed and stored for nothing, and it grows the volume. Useful padding is below F; P = (F − 1)/2
    is the size-keeping choice (CS231n's F=3, P=1).

    ## Use instead
    P = (F − 1)/2, or `padding: "same"`.
    """
    locked = size_locked(net)
    for layer, window in _windowed(net, *CONVS, "pool"):
        if not _pads_a_whole_window(window):
            continue
        parts = []
        for axis in _axes(layer, window):
            if axis.pad < axis.span:
                continue
            # Windows start at i·S in the padded input: wholly in the padding before the input when
            # i·S + E ≤ P, wholly after it when i·S ≥ P + W.
            first = min(axis.result.size, (axis.pad - axis.span) // axis.stride + 1)
            last = max(0, axis.result.size - ceil_div(axis.size + axis.pad, axis.stride))
            where = f"{first} at each border" if first == last else f"the first {first}, the last {last}"
            where = where if last else f"the first {first}"
            parts.append(
                (
                    axis.name,
                    f"P = {axis.pad} ≥ {axis.letter} = {axis.span}{axis.extent_note}: {first + last} of the"
                    f" {axis.result.size} output {axis.unit}s ({where}) see only zero padding",
                )
            )
        rows, cols = _axes(layer, window)
        padding = (_smaller_pad(rows), _smaller_pad(cols))
        value = pair_value(*padding)
        fix = _checked(
            layer,
            _pads_a_whole_window,
            f"P={value_text(value)}",
            {"padding": value},
            padding=padding,
            locked=layer.index in locked,
        )
        yield Hit(layer.index, _per_axis(parts), () if fix is None else (fix,))


# --- CC207 -----------------------------------------------------------------------------------------


def _even_kernel(window: Window) -> bool:
    return window.kernel[0] % 2 == 0 or window.kernel[1] % 2 == 0


@rule(
    "CC207",
    "even-conv-kernel",
    Severity.WARNING,
    summary="An even conv kernel has no centre pixel.",
    bad={"input": [28, 28, 1], "layers": [{"type": "conv", "filters": 8, "kernel": 4, "padding": "same"}]},
    good={"input": [28, 28, 1], "layers": [{"type": "conv", "filters": 8, "kernel": 3, "padding": "same"}]},
)
def even_conv_kernel(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags conv layers (depthwise and separable too) with an even kernel side (except a conv over its whole
    input, an fc layer in conv form).

    ## Why is this bad
    An even kernel has no centre pixel: each output sits half a pixel off the input grid, the shift adds up
    over layers, and no symmetric padding keeps the size (only TensorFlow's "same", which pads one pixel
    more on one side). Odd sizes (CS231n's magic F=3) are centred on an input pixel.

    ## Use instead
    An odd kernel: F − 1 or F + 1, with F=3 first.
    """
    locked = size_locked(net)
    for layer, window in _windowed(net, *CONVS):
        if not _even_kernel(window) or _covers_input(layer, window):
            continue
        kh, kw = window.kernel
        even = " and ".join(f"{axis.name} {axis.kernel}" for axis in _axes(layer, window) if axis.kernel % 2 == 0)
        even = "" if kh == kw else f" ({even})"
        message = (
            f"the {kh}×{kw} kernel is even{even}: it has no centre pixel, so its outputs sit half a pixel off the"
            ' input grid and only padding "same" (one more pixel on one side) can keep the size'
        )
        # F − 1 and F + 1 on the even sides, the magic F=3 first; F=2 → 1 would be a 1×1 conv, a different layer.
        kernels = [(kh + step if kh % 2 == 0 else kh, kw + step if kw % 2 == 0 else kw) for step in (-1, 1)]
        kernels = [k for k in kernels if all(new == old or new >= 3 for new, old in zip(k, window.kernel, strict=True))]
        fixes = [
            _checked(
                layer,
                _even_kernel,
                f"F={value_text(pair_value(*kernel))}",
                {"kernel": pair_value(*kernel)},
                kernel=kernel,
                locked=layer.index in locked,
            )
            for kernel in sorted(kernels, key=lambda kernel: 3 not in kernel)
        ]
        yield Hit(layer.index, message, tuple(fix for fix in fixes if fix is not None))
