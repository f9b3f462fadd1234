"""Conv kernels: CC201 (larger than 3×3: a stack of 3×3 sees the same), CC207 (even: no centre pixel)."""

from __future__ import annotations

from collections.abc import Iterator

from convcalc.analysis import LayerFacts, NetworkFacts, Window
from convcalc.arithmetic import ceil_div, effective_kernel
from convcalc.findings import Fix, Severity
from convcalc.layers import WindowAxis
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.fixing import checked_fix, padding_title, padding_value, pair_value
from convcalc.rules.graph import LockedSizes, covers_input, is_conv, per_channel, sliding_conv, tiles_input, windowed
from convcalc.text import percent_number, plural, value_text


def _kernel_too_large(window: Window) -> bool:
    return max(window.kernel) > 3


def _keeping_pad(axis: WindowAxis, kernel: int) -> int:
    """Padding P' < E' for a kernel F' (same dilation) that keeps this axis's output size (and fit), else the
    nearest guess."""
    span = effective_kernel(kernel, axis.dilation)
    out, stride, upper = axis.result.size, axis.stride, min(axis.pad, span - 1)
    # floor((W − E' + 2P)/S) + 1 = out exactly when (out − 1)·S ≤ W − E' + 2P ≤ out·S − 1; a fitting window
    # needs the lower end exactly.
    lowest = ceil_div((out - 1) * stride - axis.size + span, 2)
    highest = ((out * stride - 1 - axis.size + span) // 2) if not axis.result.fits else lowest
    exact = (out - 1) * stride - axis.size + span
    if axis.result.fits and exact % 2:
        highest = -1  # no symmetric padding lands exactly
    pad = min(upper, highest)
    if out >= 1 and pad >= max(0, lowest):
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
        rows, cols = window.axes(layer.input_shape)
        padding = (_keeping_pad(rows, kernel[0]), _keeping_pad(cols, kernel[1]))
    value = padding_value(padding)
    changes = {"kernel": pair_value(*kernel), "padding": value}
    fix = checked_fix(
        layer,
        _kernel_too_large,
        f"F={value_text(pair_value(*kernel))}, {padding_title(value)}",
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
    9·D·K + (n − 1)·9·K·K weights instead of F·F·D·K; a grouped conv's stack is grouped too, each filter
    reading D/g (then K/g) channels. A conv whose kernel covers its whole input (an fc layer in conv form,
    1×1 output) is exempt, and so is one whose groups do not divide its channels (CC104's error). A dilated
    kernel is judged by its F (its weights), not by the d·(F − 1) + 1 pixels it spans: a dilated 3×3 is the
    cheap way to a large field, and the message says so. Convs whose spatial filter works per channel (a
    conv with one group per channel too, as Keras writes ConvNeXt's) are exempt: it costs
    F·F per channel, so a large kernel is cheap, and MobileNetV3, EfficientNet and ConvNeXt use 5×5 and 7×7
    ones on purpose. So is a factorised 1×n or n×1 kernel (Inception v3's 1×7 then 7×1): it is
    where the advice to stack small filters leads, n·D·K weights instead of n·n·D·K. And so is a patchify
    conv (F = S, no padding: ConvNeXt's and ViT's 4×4/4 or 16×16/16 stems embed each patch once; overlapping
    3×3s would be another layer).

    ## Why is this bad
    CS231n's "magic numbers" and VGG (Simonyan & Zisserman): a stack of small filters has the receptive
    field of one large filter, with a ReLU after each, so it expresses more for usually fewer weights. It is
    not always cheaper: when K is much larger than D the K → K convs dominate, and the message says so.

    ## Use instead
    F=3, S=1, P=1 convs, stacked n deep. The fix turns this layer into the first 3×3 of the stack, with the
    padding chosen so the output size stays the same where that is possible.
    """
    locked = LockedSizes(net)
    for layer, window in windowed(net, is_conv):
        if not _kernel_too_large(window) or covers_input(layer, window) or min(window.kernel) == 1:
            continue  # a 1×n or n×1 kernel is the factorisation itself (Inception v3's 1×7 then 7×1)
        if tiles_input(window):
            continue  # a patchify conv embeds each patch once: a stack of overlapping 3×3s is another layer
        if per_channel(layer):
            continue  # one group per channel: a per-channel F×F, cheap at any size (Keras's ConvNeXt)
        depth, filters = layer.input_shape.depth, layer.output_shape.depth
        groups = getattr(layer.spec, "groups", 1)
        if depth % groups or filters % groups:
            continue  # no weights to compare: CC104's error
        side = max(window.kernel)
        count = ceil_div(side - 1, 2)
        field = 2 * count + 1
        # A grouped conv's stack is grouped too: each filter reads the channels of its own group.
        reads, reads_next = depth // groups, filters // groups
        first, rest = 9 * reads * filters, (count - 1) * 9 * reads_next * filters
        stack, single = first + rest, layer.weights
        kh, kw = window.kernel
        seen = "the same field" if field == kh == kw else f"a {field}×{field} field, covering the {kh}×{kw} kernel"
        repeat = "" if count == 2 else f"{count - 1}·"
        in_groups = f" in {groups} groups" if groups > 1 else ""
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
            f" {plural(count - 1, 'more ReLU')} in"
            f" between (VGG); for this layer ({depth} → {filters} channels{in_groups}) the stack costs"
            f" 9·{reads}·{filters} + {repeat}9·{reads_next}·{filters} = {first:,} + {rest:,} = {stack:,} weights vs"
            f" {kh}·{kw}·{reads}·{filters} = {single:,}"
        )
        if stack < single:
            message += f", saving {single - stack:,} ({percent_number(single - stack, single)} %)"
        elif stack > single:
            message += (
                f": {stack - single:,} more (+{percent_number(stack - single, single)} %); the stack is not cheaper"
                " here,"
                f" as its later convs map {filters} → {filters} channels while this layer reads only {depth}:"
                " it buys depth, not fewer weights"
            )
        else:
            message += ": the same number of weights, with more depth"
        fix = _stack_fix(layer, window, count, layer.index in locked)
        yield Hit(layer.index, message, () if fix is None else (fix,))


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
    Flags sliding convs of every kind with an even kernel side (except a conv over its whole
    input, an fc layer in conv form, and a patchify conv: F = S with no padding, whose windows tile the
    input without overlap, as in ConvNeXt's 4×4/4 stem and 2×2/2 downsamplers).

    ## Why is this bad
    An even kernel has no centre pixel: each output sits half a pixel off the input grid, the shift adds up
    over layers, and no symmetric padding keeps the size (only TensorFlow's "same", which pads one pixel
    more on one side). Odd sizes (CS231n's magic F=3) are centred on an input pixel.

    ## Use instead
    An odd kernel: F − 1 or F + 1, with F=3 first.
    """
    locked = LockedSizes(net)
    for layer, window in windowed(net, sliding_conv):
        if not _even_kernel(window) or covers_input(layer, window) or tiles_input(window):
            continue
        kh, kw = window.kernel
        even = " and ".join(
            f"{axis.name} {axis.kernel}" for axis in window.axes(layer.input_shape) if axis.kernel % 2 == 0
        )
        even = "" if kh == kw else f" ({even})"
        message = (
            f"the {kh}×{kw} kernel is even{even}: it has no centre pixel, so its outputs sit half a pixel off the"
            ' input grid and only padding "same" (one more pixel on one side) can keep the size'
        )
        # F − 1 and F + 1 on the even sides, the magic F=3 first; F=2 → 1 would be a 1×1 conv, a different layer.
        kernels = [(kh + step if kh % 2 == 0 else kh, kw + step if kw % 2 == 0 else kw) for step in (-1, 1)]
        kernels = [k for k in kernels if all(new == old or new >= 3 for new, old in zip(k, window.kernel, strict=True))]
        fixes = [
            checked_fix(
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
