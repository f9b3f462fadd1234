"""Padding: CC202 (S=1 padding that changes the size), CC206 (P ≥ F), CC302 (an unpadded first conv)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from convcalc.analysis import LayerFacts, NetworkFacts, Window
from convcalc.arithmetic import ceil_div, congruence_solutions, nearest_solutions, same_output_size
from convcalc.findings import Fix, Severity
from convcalc.layers import WindowAxis
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.fixing import (
    checked_fix,
    padding_title,
    padding_value,
    pair_value,
    rewindow,
)
from convcalc.rules.graph import (
    LockedSizes,
    any_window,
    covers_input,
    padding_before,
    padding_sides,
    shrinks_unpadded,
    sliding_conv,
    unpadded_first_convs,
    windowed,
)
from convcalc.text import per_axis, value_text


def _shrinks_or_grows(size: tuple[int, int]) -> Callable[[Window], bool]:
    def problem(window: Window) -> bool:
        return (window.rows.size, window.cols.size) != size

    return problem


def _size_keeping_pad(axis: WindowAxis, target: int) -> int | None:
    """The symmetric P < E that brings this stride-1 axis out at ``target``, if one does: W − E + 2P + 1 = target."""
    twice, odd = divmod(target - 1 - axis.size + axis.span, 2)
    return twice if not odd and 0 <= twice < axis.span and target >= 1 else None


def _size_sentence(axis: WindowAxis, before: int, extra: int, pads: str) -> str:
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
    Flags stride-1 sliding convs of every kind whose output is not the size of their input:
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
    # CC302 reports the first convs and the unpadded convs right after them (the stem): found when a conv
    # changes the size, as few do.
    first: set[int] | None = None
    for layer, window in windowed(net, sliding_conv):
        if window.stride != (1, 1) or window.same:
            continue  # before the walk back over padding layers
        origin, pads = padding_before(net, layer)
        target = (origin.height, origin.width)
        problem = _shrinks_or_grows(target)
        if not problem(window) or covers_input(layer, window):
            continue
        if first is None:
            first = {stem.index for conv in unpadded_first_convs(net) for stem in unpadded_stem(net, conv)}
        if layer.index in first:
            continue
        top, bottom, left, right = padding_sides(pads)
        names = ", ".join(pad.name for pad in pads)
        parts = [
            (axis.name, _size_sentence(axis, before, extra, names))
            for axis, before, extra in zip(
                window.axes(layer.input_shape), target, (top + bottom, left + right), strict=True
            )
            if axis.result.size != before
        ]
        message = (
            f"with S = 1 the padding changes the size {origin.height}×{origin.width}"
            f" → {layer.output_shape.height}×{layer.output_shape.width}: {per_axis(parts)} (the F=3, S=1, P=1 rule)"
        )
        rows, cols = window.axes(layer.input_shape)
        padding: tuple[int, int] | str | None
        if pads:
            keep = (_size_keeping_pad(rows, target[0]), _size_keeping_pad(cols, target[1]))
            padding = (keep[0], keep[1]) if keep[0] is not None and keep[1] is not None else None
        else:
            padding = ((rows.span - 1) // 2, (cols.span - 1) // 2) if rows.span % 2 and cols.span % 2 else "same"
        fix = None
        if padding is not None:
            value = padding_value(padding)
            fix = checked_fix(layer, problem, padding_title(value), {"padding": value}, padding=padding)
        yield Hit(layer.index, message, () if fix is None else (fix,))


def _pads_a_whole_window(window: Window) -> bool:
    pad, (span_h, span_w) = window.padding, window.effective_kernel
    return not window.same and (pad.top >= span_h or pad.left >= span_w)


def _smaller_pad(axis: WindowAxis) -> int:
    """P < E for this axis: (E − 1)/2 first, then larger, preferring one where the window fits.

    The smallest such P where (W − E + 2P) ≥ 0 is a multiple of S (a congruence, 2P ≡ E − W mod S), else the
    smallest with an output at all, else (E − 1)/2.
    """
    if axis.pad < axis.span:
        return axis.pad
    low, high = (axis.span - 1) // 2, axis.span - 1
    with_output = max(low, ceil_div(axis.span - axis.size, 2))
    fitting = congruence_solutions([(2, axis.span - axis.size, axis.stride)])
    found = nearest_solutions(fitting, with_output, high, with_output, 1)
    if found:
        return found[0]
    return with_output if with_output <= high else low


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
    Flags sliding convs of every kind and pools whose explicit padding is at least as large as the
    kernel on an axis (as its dilated extent E = d·(F − 1) + 1, for a dilated kernel).

    ## Why is this bad
    A window that lies wholly inside the padding reads only zeros: its output is a constant (the bias, for a
    conv), computed and stored for nothing, and it grows the volume. Useful padding is below F; P = (F − 1)/2
    is the size-keeping choice (CS231n's F=3, P=1).

    ## Use instead
    P = (F − 1)/2, or `padding: "same"`.
    """
    locked = LockedSizes(net)
    for layer, window in windowed(net, any_window):
        if not _pads_a_whole_window(window):
            continue
        parts = []
        for axis in window.axes(layer.input_shape):
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
        rows, cols = window.axes(layer.input_shape)
        padding = (_smaller_pad(rows), _smaller_pad(cols))
        value = pair_value(*padding)
        fix = checked_fix(
            layer,
            _pads_a_whole_window,
            f"P={value_text(value)}",
            {"padding": value},
            padding=padding,
            locked=layer.index in locked,
        )
        yield Hit(layer.index, per_axis(parts), () if fix is None else (fix,))


@rule(
    "CC302",
    "first-conv-unpadded",
    Severity.WARNING,
    summary="The first conv has no padding, so the image shrinks and its border is under-used.",
    bad={"input": [32, 32, 1], "layers": [{"type": "conv", "filters": 6, "kernel": 5}]},
    good={"input": [32, 32, 1], "layers": [{"type": "conv", "filters": 6, "kernel": 5, "padding": 2}]},
)
def first_conv_unpadded(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags the network's first conv when its padding is 0 ("valid") and its output is smaller than
    `padding: "same"` would make it. In a graph every conv that reads the input through layers without
    weights is a first conv (each branch of an Inception block that starts at the input). A `zero_padding`
    layer right before it (Keras' ZeroPadding2D then a "valid" conv, as in keras.applications' ResNet and
    MobileNet stems) counts as its padding.

    ## Why is this bad
    CS231n: use padding in the first CONV to preserve the whole image. Without it the border pixels are seen
    by fewer windows than the centre, and the volume shrinks before any feature has been computed; the loss
    compounds through every later layer.

    ## Use instead
    P = (F − 1)/2 (S=1, odd F), or `padding: "same"`.
    """
    for layer in unpadded_first_convs(net):
        assert layer.window is not None
        yield _unpadded_hit(layer, layer.window, unpadded_stem(net, layer)[1:])


def unpadded_stem(net: NetworkFacts, first: LayerFacts) -> list[LayerFacts]:
    """The first conv and the unpadded convs right after it (through layers that keep the shape), each shrinking
    the image again: one stem (Inception v3's 299 → 149 → 147), reported once by CC302."""
    readers: dict[int, list[LayerFacts]] = {}
    for layer in net.layers:
        for source in layer.inputs:
            readers.setdefault(source, []).append(layer)
    stem = [first]
    current = first
    while len(readers.get(current.index, [])) == 1:
        current = readers[current.index][0]
        if current.traits.keeps_shape:
            continue
        window = current.window
        if not sliding_conv(current) or window is None or not window.has_output:
            break
        if any(padding_sides(padding_before(net, current)[1])) or not shrinks_unpadded(current, window):
            break
        stem.append(current)
    return stem


def _unpadded_hit(layer: LayerFacts, window: Window, then: list[LayerFacts]) -> Hit:
    shape = layer.input_shape
    same = (same_output_size(shape.height, window.stride[0]), same_output_size(shape.width, window.stride[1]))
    more = "".join(f", then {after.output_shape.height}×{after.output_shape.width} ({after.name})" for after in then)
    message = (
        f"the first conv has no padding: its {shape.height}×{shape.width} input shrinks to"
        f' {window.rows.size}×{window.cols.size} ("same" keeps {same[0]}×{same[1]}){more} and its border is seen by'
        " fewer windows; use padding in the first CONV to preserve the whole image"
    )
    candidates: list[Any] = []
    kh, kw = window.effective_kernel
    if kh % 2 and kw % 2:
        candidates.append(((kh - 1) // 2, (kw - 1) // 2))
    candidates.append("same")
    for padding in candidates:
        new = rewindow(layer, padding=padding)
        if not new.has_output or shrinks_unpadded(layer, new) or not (new.fits or new.same):
            continue
        value = padding if isinstance(padding, str) else pair_value(*padding)
        title = 'padding "same"' if value == "same" else f"P={value_text(value)}"
        title += f" → {new.output(layer.output_shape.depth)}"
        return Hit(layer.index, message, (Fix(title, layer.path, {"padding": value}),))
    return Hit(layer.index, message)
