"""Shape constraints (errors): the layer does not fit, has no output, or the network ends wrong."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

from convcalc.analysis import LayerFacts, NetworkFacts, Shape, Window, analyze
from convcalc.arithmetic import AxisResult, effective_kernel
from convcalc.findings import Fix, Severity
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.support import (
    pair_value,
    rewindow,
    size_locked,
    value_text,
    window_changes,
    window_output,
    with_input,
)
from convcalc.spec import Conv, ConvTranspose, Pool


def format_fraction(value: Fraction) -> str:
    """``= `` an exact decimal when it has one in ≤ 4 places, else ``≈ `` two places.

    >>> format_fraction(Fraction(9, 2)), format_fraction(Fraction(10, 3))
    ('= 4.5', '≈ 3.33')
    """
    if (value * 10_000).denominator == 1:
        return "= " + f"{value.numerator / value.denominator:.4f}".rstrip("0").rstrip(".")
    return f"≈ {float(value):.2f}"


def _axes(layer: LayerFacts) -> list[tuple[str, str, int, int, int, int, AxisResult]]:
    """(axis name, unit, W, F, 2P, S, result) for rows and columns; F is the dilated extent d·(F − 1) + 1."""
    window = layer.window
    assert window is not None
    pad = window.padding
    extent = window.effective_kernel
    return [
        (
            "height",
            "row",
            layer.input_shape.height,
            extent[0],
            pad.top + pad.bottom,
            window.stride[0],
            window.rows,
        ),
        (
            "width",
            "column",
            layer.input_shape.width,
            extent[1],
            pad.left + pad.right,
            window.stride[1],
            window.cols,
        ),
    ]


def _merge_axes(parts: list[tuple[str, str]]) -> str:
    # Square layers give the same sentence twice; say it once for both axes.
    if len(parts) == 2 and parts[0][1] == parts[1][1]:
        return f"height and width: {parts[0][1]}"
    return "; ".join(f"{axis}: {text}" for axis, text in parts)


def does_not_fit_message(layer: LayerFacts) -> str | None:
    """The CC101 sentence for a layer, or None when it fits."""
    parts = []
    units = []
    for axis, unit, size, kernel, pad2, stride, result in _axes(layer):
        if not result.has_output or result.remainder == 0:
            continue
        exact = Fraction(result.numerator, stride) + 1
        units.append(unit)
        parts.append(
            (
                axis,
                f"(W − F + 2P)/S + 1 = ({size} − {kernel} + {pad2})/{stride} + 1 {format_fraction(exact)}"
                f" is not an integer; TensorFlow would silently floor it to {result.size} and never read the last"
                f" {result.remainder} {{unit}}{'s' if result.remainder != 1 else ''} of the"
                f" {'padded ' if pad2 else ''}input",
            )
        )
    if not parts:
        return None
    assert layer.window is not None
    if layer.window.dilation != (1, 1):
        parts = [(axis, text + " (F here is the dilated extent d·(F − 1) + 1)") for axis, text in parts]
    if len(parts) == 2 and parts[0][1] == parts[1][1]:
        return _merge_axes([(axis, text.replace("{unit}", "row/column")) for axis, text in parts])
    return _merge_axes([(axis, text.replace("{unit}", unit)) for (axis, text), unit in zip(parts, units, strict=False)])


@rule(
    "CC101",
    "stride-does-not-fit",
    Severity.ERROR,
    summary="(W − F + 2P) is not divisible by S: the output size is not an integer.",
    bad={"input": [10, 10, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "stride": 2}]},
    good={"input": [11, 11, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "stride": 2}]},
)
def stride_does_not_fit(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that every conv and pool window tiles its (padded) input exactly:
    (W − F + 2P)/S + 1 must be an integer on both axes.

    ## Why is this bad
    When S does not divide W − F + 2P, the last rows or columns of the input are never covered by any
    window. The layer "cannot work" in the CS231n sense; TensorFlow does not complain and silently floors
    the size, so the mismatch shows up later as a surprising shape (or never). `padding: "same"` is exempt:
    there TensorFlow defines the output as ceil(W/S).

    ## Use instead
    Change S, F or P (or the input size) so that the division is exact; the finding lists re-computed
    alternatives, magic numbers first.
    """
    input_fixes_left = 1  # re-analysing the whole network is O(n): only for the first misfit
    locked: set[int] | None = None
    for layer in net.layers:
        window = layer.window
        if window is None or window.same or layer.input_shape.empty or not window.has_output:
            continue
        message = does_not_fit_message(layer)
        if message is not None:
            locked = size_locked(net) if locked is None else locked
            fixes = fit_fixes(layer, keep_size=layer.index in locked)
            if input_fixes_left:
                input_fixes_left -= 1
                fixes += input_size_fixes(net, layer)
            yield Hit(layer.index, message, fixes)


MAX_FIXES_PER_KIND = 2


def _fits(window: Window) -> bool:
    return window.fits and not window.same


def fit_fixes(layer: LayerFacts, keep_size: bool = False) -> tuple[Fix, ...]:
    """Changes to this layer alone that make it fit, each re-computed: magic numbers, S, F, P, then "same".

    With ``keep_size`` (a merge relies on this layer's H×W) only fixes that keep the output size are offered.
    """
    window = layer.window
    assert window is not None
    depth = layer.output_shape.depth
    path = layer.path
    fixes: list[Fix] = []

    def offer(title: str, changes: dict[str, Any], new: Window) -> None:
        out = window_output(new, depth)
        fix = Fix(f"{title} → {out}", path, window_changes(layer, changes))
        resized = (out.height, out.width) != (layer.output_shape.height, layer.output_shape.width)
        if not out.empty and fix not in fixes and not (keep_size and resized):
            fixes.append(fix)

    # The course's magic numbers first: conv F=3, S=1, P=1; pool F=2, S=2 or F=3, S=2.
    magic = (
        [((3, 3), (1, 1), (1, 1))]
        if layer.type in ("conv", "depthwise", "separable")
        else [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (0, 0))]
    )
    for kernel, stride, padding in magic:
        new = rewindow(layer, kernel=kernel, stride=stride, padding=padding)
        if _fits(new) and (kernel, stride, padding) != (
            window.kernel,
            window.stride,
            (window.padding.top, window.padding.left),
        ):
            offer(
                f"F={kernel[0]}, S={stride[0]}, P={padding[0]}",
                {"kernel": kernel[0], "stride": stride[0], "padding": padding[0]},
                new,
            )
            break

    def search(field: str, candidates: list[tuple[int, int]], label: str) -> None:
        found = 0
        for value in candidates:
            if found == MAX_FIXES_PER_KIND:
                break
            new = rewindow(layer, **{field: value})
            if _fits(new):
                shown = pair_value(*value)
                offer(f"{label}={value_text(shown)}", {field: shown}, new)
                found += 1

    def per_axis(current: tuple[int, int], values: list[int], ok: Callable[[int, int], bool]) -> list[tuple[int, int]]:
        # Keep an axis that already fits and search the other; when both misfit, prefer square values.
        if window.rows.fits:
            return [(current[0], v) for v in values if ok(1, v)]
        if window.cols.fits:
            return [(v, current[1]) for v in values if ok(0, v)]
        square = [(v, v) for v in values if ok(0, v) and ok(1, v)]
        rows = [v for v in values if ok(0, v)][:MAX_FIXES_PER_KIND]
        cols = [v for v in values if ok(1, v)][:MAX_FIXES_PER_KIND]
        return square or [(r, c) for r in rows for c in cols]

    sizes = (layer.input_shape.height, layer.input_shape.width)
    pads = (window.padding.top + window.padding.bottom, window.padding.left + window.padding.right)

    def numerator(axis: int, kernel: int, pad2: int) -> int:
        return sizes[axis] - effective_kernel(kernel, window.dilation[axis]) + pad2

    strides = sorted(range(1, max(window.stride) + 3), key=lambda s: (s != 1, abs(s - max(window.stride))))
    search(
        "stride",
        per_axis(window.stride, strides, lambda a, s: numerator(a, window.kernel[a], pads[a]) % s == 0),
        "S",
    )
    kernels = sorted(
        (f for f in range(1, max(window.kernel) + 4) if f != max(window.kernel)),
        key=lambda f: (abs(f - max(window.kernel)), f % 2 == 0, f),
    )
    search(
        "kernel",
        per_axis(
            window.kernel,
            kernels,
            lambda a, f: numerator(a, f, pads[a]) >= 0 and numerator(a, f, pads[a]) % window.stride[a] == 0,
        ),
        "F",
    )
    paddings = sorted(range(0, max(window.kernel)), key=lambda p: abs(p - window.padding.top))
    search(
        "padding",
        per_axis(
            (window.padding.top, window.padding.left),
            paddings,
            lambda a, p: numerator(a, window.kernel[a], 2 * p) % window.stride[a] == 0,
        ),
        "P",
    )
    offer('padding "same"', {"padding": "same"}, rewindow(layer, padding="same"))
    return tuple(fixes)


INPUT_SEARCH = 64
"""How far (in pixels) input-size fixes look around the current size."""
ANALYSIS_BUDGET = 100_000
"""Layer analyses a fix search may spend (a 10,000-layer spec must not take seconds per finding)."""
MERGE_FIXES = 3
"""Mismatched merges that get re-analysed fixes; later ones get the message only (each costs O(n))."""


def input_size_fixes(net: NetworkFacts, layer: LayerFacts) -> tuple[Fix, ...]:
    """The nearest input sizes, below and above, for which this layer fits (re-analysed, not guessed)."""
    fixes = []
    height, width = net.input_shape.height, net.input_shape.width
    # Each candidate re-analyses layers[: index + 1]; bound the total work for very deep specs.
    steps = max(4, min(INPUT_SEARCH, ANALYSIS_BUDGET // (2 * (layer.index + 1))))
    for direction in (1, -1):
        for step in range(1, steps + 1):
            h, w = height + direction * step, width + direction * step
            if h < 1 or w < 1:
                break
            # Keep an axis whose layer already fits.
            h = height if layer.window is not None and layer.window.rows.fits else h
            w = width if layer.window is not None and layer.window.cols.fits else w
            candidate = with_input(net, h, w, upto=layer.index, receptive_fields=False).layers[layer.index]
            if candidate.window is not None and candidate.window.fits and not candidate.input_shape.empty:
                fixes.append(Fix(f"input {h}×{w} → {candidate.output_shape}", "input", {"height": h, "width": w}))
                break
    return tuple(fixes)


@rule(
    "CC102",
    "window-larger-than-input",
    Severity.ERROR,
    summary="F > W + 2P: the window does not fit in the padded input, so there is no output.",
    bad={"input": [2, 2, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3}]},
    good={"input": [2, 2, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}]},
)
def window_larger_than_input(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that every conv and pool window fits inside its padded input (F ≤ W + 2P).

    ## Why is this bad
    A window larger than the padded input produces no output at all; TensorFlow fails at run time with
    "Negative dimension size". Everything after this layer has no shape (convcalc reports it once).

    ## Use instead
    Pad the input, use a smaller kernel, or remove a downsampling layer earlier in the network.
    """
    for layer in net.layers:
        window = layer.window
        if window is None or layer.input_shape.empty or window.has_output:
            continue
        dilated = " (F here is the dilated extent d·(F − 1) + 1)" if window.dilation != (1, 1) else ""
        parts = [
            (axis, f"F = {kernel} > W + 2P = {size} + {pad2} = {size + pad2}: no output{dilated}")
            for axis, _, size, kernel, pad2, _, result in _axes(layer)
            if not result.has_output
        ]
        yield Hit(layer.index, _merge_axes(parts))


@rule(
    "CC103",
    "output-not-classes",
    Severity.ERROR,
    summary="`classes` is set but the last volume is not 1×1×classes.",
    bad={"input": [4, 4, 1], "classes": 10, "layers": [{"type": "conv", "filters": 10, "kernel": 3}]},
    good={"input": [4, 4, 1], "classes": 10, "layers": [{"type": "conv", "filters": 10, "kernel": 4}]},
)
def output_not_classes(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    When the spec declares `classes: n`, checks that the network ends in a 1×1×n volume — one score per class.

    ## Why is this bad
    A classifier's last layer must produce exactly one value per class; anything else fails at the loss
    ("logits and labels must have the same first dimension") or silently trains the wrong thing.

    ## Use instead
    End in `{"type": "fc", "units": n}`, or in a conv whose kernel covers the whole remaining volume with
    K = n filters (the FC ⇔ CONV equivalence).
    """
    classes = net.network.classes
    if classes is None or not net.layers:
        return
    last = net.layers[-1]
    if last.input_shape.empty:
        return
    out = last.output_shape
    if (out.height, out.width, out.depth) != (1, 1, classes):
        yield Hit(last.index, f"the network ends in {out}, not 1×1×{classes} (classes = {classes})")


@rule(
    "CC104",
    "groups-do-not-divide",
    Severity.ERROR,
    summary="A grouped conv's groups must divide both its input depth D and its filters K.",
    bad={"input": [8, 8, 6], "layers": [{"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "groups": 4}]},
    good={"input": [8, 8, 6], "layers": [{"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "groups": 2}]},
)
def groups_do_not_divide(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that a conv with `groups: g` splits its input channels and its filters into g equal groups:
    g must divide D and K.

    ## Why is this bad
    Each group convolves D/g input channels into K/g filters; TensorFlow refuses a layer where either
    division leaves a remainder ("The number of input channels is not divisible by the number of groups").

    ## Use instead
    A group count that divides both (AlexNet's two towers: groups = 2 with D = 96 and K = 256).
    """
    for layer in net.layers:
        spec = layer.spec
        if not isinstance(spec, Conv) or spec.groups == 1 or layer.input_shape.empty:
            continue
        depth, filters, groups = layer.input_shape.depth, spec.filters, spec.groups
        if depth % groups == 0 and filters % groups == 0:
            continue
        both = math.gcd(depth, filters)
        divisors = sorted((g for g in range(1, both + 1) if both % g == 0), key=lambda g: (abs(g - groups), g))
        fixes = tuple(
            Fix(f"groups={g} → {depth // g} channels and {filters // g} filters per group", layer.path, {"groups": g})
            for g in divisors[:2]
        )
        yield Hit(
            layer.index,
            f"groups = {groups} must divide the input depth D = {depth} (remainder {depth % groups}) and the"
            f" filters K = {filters} (remainder {filters % groups}); TensorFlow refuses this layer",
            fixes,
        )


def _merge_inputs(net: NetworkFacts, layer: LayerFacts) -> list[tuple[str, Shape]]:
    return [
        ("the input", net.input_shape) if source < 0 else (net.layers[source].label, net.layers[source].output_shape)
        for source in layer.inputs
    ]


def _merge_fixes(net: NetworkFacts, layer: LayerFacts, same: Callable[[list[Shape]], bool]) -> tuple[Fix, ...]:
    """Changes to one branch's last conv/pool (its stride or filters) that make the merge's inputs agree,
    each re-checked by analysing the changed network (O(n) per candidate, a few candidates)."""
    shapes = [net.input_shape if s < 0 else net.layers[s].output_shape for s in layer.inputs]
    fixes: list[Fix] = []
    for source, shape in zip(layer.inputs, shapes, strict=True):
        producer = None if source < 0 else net.layers[source]
        if producer is None or not isinstance(producer.spec, Conv | Pool) or producer.window is None:
            continue
        for target in dict.fromkeys(s for s in shapes if s != shape):
            changes: dict[str, Any] = {}
            # out ≈ in / S, so matching a target size scales the stride by shape/target (when that is whole).
            strides = []
            for old, size, wanted in zip(producer.window.stride, shape[:2], target[:2], strict=True):
                scaled = old * size
                strides.append(scaled // wanted if wanted and scaled % wanted == 0 else 0)
            if (shape.height, shape.width) != (target.height, target.width) and all(strides):
                changes["stride"] = pair_value(strides[0], strides[1])
            if isinstance(producer.spec, Conv) and shape.depth != target.depth:
                changes["filters"] = target.depth
            if not changes:
                continue
            data = net.network.model_dump(mode="json", exclude_defaults=True)
            data["layers"][source].update(changes)
            changed = analyze(type(net.network).model_validate(data))
            if same([changed.input_shape if s < 0 else changed.layers[s].output_shape for s in layer.inputs]):
                text = ", ".join(f"{key}={value}" for key, value in changes.items())
                fix = Fix(f"{producer.name}: {text}", producer.path, changes)
                if fix not in fixes:
                    fixes.append(fix)
    return tuple(fixes)


@rule(
    "CC105",
    "add-shapes-differ",
    Severity.ERROR,
    summary="An add merges volumes whose shapes differ.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": 1, "name": "main"},
            {"type": "add", "inputs": ["main", "input"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "main"},
            {"type": "add", "inputs": ["main", "input"]},
        ],
    },
)
def add_shapes_differ(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that every input of an `add` has the same H×W×D.

    ## Why is this bad
    A residual connection adds values position by position and channel by channel; TensorFlow fails at
    build time ("Inputs have incompatible shapes"). Usually one branch downsamples (stride 2) or widens
    (more filters) and the shortcut does not.

    ## Use instead
    Give the shortcut the same stride and depth, typically a 1×1 conv with stride 2 and K filters (the
    ResNet "projection shortcut"), or drop the stride on the main branch.
    """
    fixed = 0
    for layer in net.layers:
        if layer.type != "add" or any(s.empty for s in layer.input_shapes):
            continue
        if len(set(layer.input_shapes)) <= 1:
            continue
        shown = "; ".join(f"{label}: {shape}" for label, shape in _merge_inputs(net, layer))
        fixed += 1
        fixes = _merge_fixes(net, layer, lambda shapes: len(set(shapes)) == 1) if fixed <= MERGE_FIXES else ()
        yield Hit(
            layer.index,
            f"add needs equal shapes but gets {shown}; change the stride or filters of the branch that differs"
            " (or project the shortcut with a 1×1 conv)",
            fixes,
        )


@rule(
    "CC106",
    "concat-sizes-differ",
    Severity.ERROR,
    summary="A concat joins volumes whose H×W differ.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "pool", "kernel": 2, "name": "down"},
            {"type": "concat", "inputs": ["down", "input"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "pool", "kernel": 3, "stride": 1, "padding": "same", "name": "branch"},
            {"type": "concat", "inputs": ["branch", "input"]},
        ],
    },
)
def concat_sizes_differ(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that every input of a `concat` has the same H×W (depths may differ: they add up).

    ## Why is this bad
    Concatenation stacks volumes along the depth, position by position; TensorFlow fails at build time
    ("A Concatenate layer requires inputs with matching shapes except for the concatenation axis").

    ## Use instead
    Give every branch the same total stride and "same" padding (the Inception block), or crop/upsample
    the larger one (the U-Net skip connection).
    """
    fixed = 0
    for layer in net.layers:
        if layer.type != "concat" or any(s.empty for s in layer.input_shapes):
            continue
        if len({(s.height, s.width) for s in layer.input_shapes}) <= 1:
            continue
        shown = "; ".join(f"{label}: {shape}" for label, shape in _merge_inputs(net, layer))
        fixed += 1
        same_size = lambda shapes: len({(s.height, s.width) for s in shapes}) == 1  # noqa: E731
        fixes = _merge_fixes(net, layer, same_size) if fixed <= MERGE_FIXES else ()
        yield Hit(layer.index, f"concat needs the same H×W on every input but gets {shown}", fixes)


@rule(
    "CC107",
    "transpose-output-padding",
    Severity.ERROR,
    summary="A transposed conv's output_padding must be smaller than its stride, and its output non-empty.",
    bad={
        "input": [4, 4, 8],
        "layers": [{"type": "conv_transpose", "filters": 4, "kernel": 3, "stride": 2, "output_padding": 2}],
    },
    good={
        "input": [4, 4, 8],
        "layers": [{"type": "conv_transpose", "filters": 4, "kernel": 3, "stride": 2, "output_padding": 1}],
    },
)
def transpose_output_padding(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks a `conv_transpose`: output_padding < S on each axis, and (W − 1)·S + F − 2P + output_padding ≥ 1.

    ## Why is this bad
    output_padding picks one of the S input sizes that a stride-S conv maps to the same output; a value
    ≥ S names none of them and TensorFlow refuses it ("Stride ... must be greater than output padding").
    Padding larger than the upsampled volume leaves no output.

    ## Use instead
    output_padding in 0…S − 1 (usually 0 or 1 for S = 2), or `"same"` padding, which gives W·S.
    """
    for layer in net.layers:
        spec = layer.spec
        if not isinstance(spec, ConvTranspose) or layer.input_shape.empty:
            continue
        if spec.output_padding is not None and any(
            o >= s for o, s in zip(spec.output_padding, spec.stride, strict=True)
        ):
            limit = pair_value(*(max(s - 1, 0) for s in spec.stride))
            yield Hit(
                layer.index,
                f"output_padding {pair_value(*spec.output_padding)} must be smaller than the stride"
                f" {pair_value(*spec.stride)}",
                (Fix(f"output_padding={limit}", layer.path, {"output_padding": limit}),),
            )
        elif layer.output_shape.empty:
            yield Hit(layer.index, f"the padding leaves no output ({layer.input_shape} → {layer.output_shape})")
