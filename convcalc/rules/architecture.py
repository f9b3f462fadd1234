"""Architecture patterns: how far a network strays from INPUT → [[CONV → RELU]×N → POOL?]×M → [FC → RELU]×K → FC.

The layer pattern is CS231n's; graphs (residual blocks, branches, merges) are read through each layer's
producers, never the list order. The rules read the per-layer facts in one pass each. Fixes are
re-computed: a changed window with ``rewindow``, a changed input size with ``with_input`` (a few times per
network).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from fractions import Fraction
from math import lcm, prod
from typing import Any, NamedTuple

from convcalc.analysis import LayerFacts, NetworkFacts, Window
from convcalc.arithmetic import INPUT_RECEPTIVE_FIELD, same_output_size
from convcalc.findings import Fix, Severity
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.support import (
    CONV_TYPES,
    PARAMETERISED,
    is_nonlinear,
    is_relu,
    kind_of,
    mode_of,
    only_producer,
    output_head,
    pair_value,
    rewindow,
    shrinks_unpadded,
    unpadded_first_convs,
    value_text,
    window_output,
    with_input,
)
from convcalc.spec import MAX_SIZE

# --- CC301 -----------------------------------------------------------------------------------------


class _Descent(NamedTuple):
    """How far one axis has been downsampled on the way to a layer's output."""

    factor: Fraction
    """The product of the strides so far; a strided transposed conv divides it."""
    strides: tuple[int, ...]
    """The downsampling strides on that path, in order."""


_TOP = _Descent(Fraction(1), ())


def _descend(net: NetworkFacts, axis: int) -> tuple[int, tuple[int, ...] | None]:
    """The number the input size must divide along one axis (0: rows, 1: columns), and the strides that
    make it up (None where upsampling in between means no one path's strides multiply to it).

    Each layer's downsampling factor follows its producers (the deepest one at a merge); a conv, depthwise,
    separable or pool window with S > 1 multiplies it while the volume is more than 1 pixel wide on that
    axis, a strided conv_transpose divides it. Every intermediate size must be exact, so the input must be
    divisible by the numerator of every factor reached: their least common multiple.
    """
    descents: list[_Descent] = []
    required = 1
    for layer in net.layers:
        before = max(
            (_TOP if source < 0 else descents[source] for source in layer.inputs),
            key=lambda d: d.factor,
            default=_TOP,
        )
        size = layer.input_shape[axis]
        window = layer.window
        stride = getattr(layer.spec, "stride", (1, 1))
        if window is not None and size > 1 and window.stride[axis] > 1 and not layer.input_shape.empty:
            before = _Descent(before.factor * window.stride[axis], (*before.strides, window.stride[axis]))
        elif layer.type == "conv_transpose" and isinstance(stride, tuple) and stride[axis] > 1:
            before = _Descent(before.factor / stride[axis], before.strides)
        descents.append(before)
        required = lcm(required, before.factor.numerator)
    deepest = max(descents, key=lambda d: d.factor.numerator, default=_TOP)
    strides = deepest.strides if prod(deepest.strides) == required else None
    return required, strides


def _divisors(net: NetworkFacts) -> tuple[int, int]:
    return _descend(net, 0)[0], _descend(net, 1)[0]


def _indivisible(net: NetworkFacts) -> bool:
    rows, cols = _divisors(net)
    return net.input_shape.height % rows != 0 or net.input_shape.width % cols != 0


def factorise(number: int) -> str:
    """``2^2·5^2`` for 100, the number itself for a prime (or 1).

    >>> factorise(227), factorise(32), factorise(100), factorise(1)
    ('227', '2^5', '2^2·5^2', '1')
    """
    parts: list[str] = []
    rest, factor = number, 2
    while factor * factor <= rest:
        power = 0
        while rest % factor == 0:
            rest //= factor
            power += 1
        if power:
            parts.append(f"{factor}^{power}" if power > 1 else str(factor))
        factor += 1 if factor == 2 else 2
    if rest > 1 or not parts:
        parts.append(str(rest))
    return "·".join(parts)


def _input_fix(net: NetworkFacts, direction: int) -> Fix | None:
    """The nearest input below (−1) or above (+1) whose strides divide it, checked by re-analysis."""
    height, width = net.input_shape.height, net.input_shape.width
    current = net
    for _ in range(3):  # a larger input can bring more strided layers into play: re-check, re-try
        ph, pw = _divisors(current)
        height = (height // ph + (direction > 0 and height % ph != 0)) * ph
        width = (width // pw + (direction > 0 and width % pw != 0)) * pw
        if not (1 <= height <= MAX_SIZE and 1 <= width <= MAX_SIZE):
            return None  # e.g. 250 stride-2 layers: no input TensorFlow could take divides by 2^250
        current = with_input(net, height, width, receptive_fields=False)
        if not _indivisible(current):
            if current.output_shape.empty and not net.output_shape.empty:
                return None  # the network would break: a layer without output
            title = f"input {current.input_shape}"
            # Say so where the new size makes a window stop fitting (a CC101 error to fix next).
            broken = next((layer for layer in current.layers if _newly_unfit(net, layer)), None)
            if broken is not None:
                title += f" ({broken.name} then does not fit)"
            return Fix(title, "input", {"height": height, "width": width})
    return None


def _newly_unfit(before: NetworkFacts, layer: LayerFacts) -> bool:
    window, old = layer.window, before.layers[layer.index].window
    return (
        window is not None
        and old is not None
        and old.fits
        and not window.same
        and window.has_output
        and not window.fits
    )


@rule(
    "CC301",
    "input-not-divisible-by-strides",
    Severity.WARNING,
    summary="The input size is not divisible by the product of the strides, so downsampling cannot be exact.",
    bad={
        "input": [227, 227, 3],
        "layers": [
            {"type": "conv", "filters": 16, "kernel": 11, "stride": 4},
            {"type": "relu"},
            {"type": "pool", "kernel": 3, "stride": 2},
        ],
    },
    good={
        "input": [224, 224, 3],
        "layers": [
            {"type": "conv", "filters": 16, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "relu"},
            {"type": "pool", "kernel": 2, "stride": 2},
        ],
    },
)
def input_not_divisible_by_strides(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Multiplies the strides of the conv, depthwise, separable and pool layers along each axis, following
    each layer's inputs (a residual block's shortcut and main branch count once, not twice), until the
    volume is 1 pixel wide, and checks that the product divides the input height and width. A strided
    `conv_transpose` upsamples: it divides the product, so an encoder–decoder (U-Net) needs its input
    divisible by its deepest downsampling only.

    ## Why is this bad
    CS231n: "the input layer should be divisible by 2 many times" — 32, 64, 96, 224, 384, 512. Every
    stride S divides the size by S; when the size is not a multiple, some layer floors (losing border
    pixels) or pads unevenly, and the arithmetic of the whole network stops being clean.

    ## Use instead
    The nearest input size that is a multiple of the product; the fixes offer the nearest below and above,
    each re-analysed.
    """
    (ph, rows), (pw, cols) = _descend(net, 0), _descend(net, 1)
    height, width = net.input_shape.height, net.input_shape.width
    if height % ph == 0 and width % pw == 0:
        return

    def sentence(size: int, product: int, strides: tuple[int, ...] | None) -> str:
        below, above = size // product * product, (size // product + 1) * product
        nearest = f"{below} and {above}" if below else str(above)
        factors = factorise(product)
        shown = str(product) if factors == str(product) else f"{product} = {factors}"
        how = (
            f"strides {'·'.join(map(str, strides))}"
            if strides is not None
            else "the deepest downsampling, upsampling counted"
        )
        return f"{size} = {factorise(size)} is not divisible by {shown} ({how}); the nearest multiples are {nearest}"

    if (height, ph, rows) == (width, pw, cols):
        text = sentence(height, ph, rows)
    else:
        parts = [
            f"{axis} {sentence(size, product, strides)}"
            for axis, size, product, strides in (("height", height, ph, rows), ("width", width, pw, cols))
            if size % product
        ]
        text = "; ".join(parts)
    message = (
        f"input {height}×{width}: {text}. The downsampling cannot be exact: some layer floors away border pixels"
        " or pads unevenly"
    )
    fixes = [fix for fix in (_input_fix(net, -1), _input_fix(net, +1)) if fix is not None]
    fixes.sort(key=lambda fix: abs(fix.set["height"] - height) + abs(fix.set["width"] - width))  # nearest first
    yield Hit(None, message, tuple(fixes))


# --- CC302 -----------------------------------------------------------------------------------------


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
        yield _unpadded_hit(layer, layer.window)


def _unpadded_hit(layer: LayerFacts, window: Window) -> Hit:
    shape = layer.input_shape
    same = (same_output_size(shape.height, window.stride[0]), same_output_size(shape.width, window.stride[1]))
    message = (
        f"the first conv has no padding: its {shape.height}×{shape.width} input shrinks to"
        f' {window.rows.size}×{window.cols.size} ("same" keeps {same[0]}×{same[1]}) and its border is seen by'
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
        title += f" → {window_output(new, layer.output_shape.depth)}"
        return Hit(layer.index, message, (Fix(title, layer.path, {"padding": value}),))
    return Hit(layer.index, message)


# --- CC303 – CC306 ---------------------------------------------------------------------------------


SOURCES_KEPT = 16
"""CC303 remembers at most this many layers with weights per layer (the nearest), so that a chain of
concats (DenseNet) stays linear in the number of layers."""


def _linear_sources(net: NetworkFacts) -> list[frozenset[int]]:
    """Per layer, the layers with weights whose output reaches this layer's output through linear layers
    only (the layer itself, for a layer with weights; nothing after a nonlinearity): the nearest
    ``SOURCES_KEPT`` of them.

    One pass in order; a single-input linear layer shares its producer's set, so only merges build new ones.
    Keeping the highest indices keeps every kept layer in some producer's set, so paths can be traced back.
    """
    empty: frozenset[int] = frozenset()
    sources: list[frozenset[int]] = []
    for layer in net.layers:
        if layer.type in PARAMETERISED:
            sources.append(frozenset((layer.index,)))
        elif is_nonlinear(layer):
            sources.append(empty)
        else:
            reached = [sources[source] for source in layer.inputs if source >= 0 and sources[source]]
            union = reached[0] if len(reached) == 1 else empty.union(*reached)
            sources.append(union if len(union) <= SOURCES_KEPT else frozenset(heapq.nlargest(SOURCES_KEPT, union)))
    return sources


def _reaches(sources: list[frozenset[int]], source: int, target: int) -> bool:
    return source == target or target in sources[source]


def _linear_path(net: NetworkFacts, sources: list[frozenset[int]], layer: LayerFacts, target: int) -> list[LayerFacts]:
    """The linear layers on one path from ``target`` (which has weights) to ``layer``, in order."""
    path: list[LayerFacts] = []
    current = next(source for source in layer.inputs if source >= 0 and _reaches(sources, source, target))
    while current != target:
        between = net.layers[current]
        path.append(between)
        current = next(source for source in between.inputs if source >= 0 and _reaches(sources, source, target))
    return path[::-1]


def _upsamples(layer: LayerFacts) -> bool:
    stride = getattr(layer.spec, "stride", (1, 1))
    return layer.type == "conv_transpose" and isinstance(stride, tuple) and max(stride) > 1


def _intended(earlier: LayerFacts, later: LayerFacts) -> bool:
    """Linear pairs that are designs, not slips: a depthwise conv then a 1×1 conv (a separable conv written
    out; Xception found no nonlinearity between them works best), and learned upsampling (a strided
    transposed conv, bilinear interpolation when initialised as in FCN) before or after a conv."""
    pointwise = later.type == "conv" and later.window is not None and later.window.kernel == (1, 1)
    return (earlier.type == "depthwise" and pointwise) or _upsamples(earlier) or _upsamples(later)


def _reached_avoiding(net: NetworkFacts, sources: list[frozenset[int]], layer: LayerFacts, blocked: int) -> bool:
    """Whether a layer with weights still reaches ``layer`` linearly when ``blocked`` becomes nonlinear."""
    stack = [source for source in layer.inputs if source >= 0]
    seen: set[int] = set()
    while stack:
        index = stack.pop()
        if index in seen or index == blocked or not sources[index]:
            continue
        seen.add(index)
        other = net.layers[index]
        if other.type in PARAMETERISED:
            if not _intended(other, layer):
                return True
            continue
        stack.extend(source for source in other.inputs if source >= 0)
    return False


@rule(
    "CC303",
    "missing-nonlinearity",
    Severity.WARNING,
    summary="Two layers with weights and no nonlinearity between them collapse into one linear map.",
    bad={
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        ],
    },
    good={
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        ],
    },
)
def missing_nonlinearity(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    For each layer with weights (conv, depthwise, separable, conv_transpose, fc), follows its inputs back
    through linear layers — batchnorm, dropout, zero padding, flatten, avg pooling, and `add`/`concat`,
    which follow every input — and flags it when another layer with weights is reached before a
    nonlinearity: a ReLU, any `activation` (relu6, gelu, softmax…), a max or L2 pool, global max pooling.
    Two designs are exempt: a depthwise conv feeding a 1×1 conv (a separable conv written out) and a
    strided `conv_transpose` (learned upsampling) on either side.

    ## Why is this bad
    A composition of linear maps is a linear map: the two layers compute nothing a single layer could not,
    with more parameters and more computation. CS231n's pattern puts a RELU after every CONV and FC but the
    last. (MobileNetV2's linear bottlenecks are linear on purpose: silence it there with `ignore`.)

    ## Use instead
    A `{"type": "relu"}` (or another activation) between them. Where an avg pool sits between them, a max
    pool is also a nonlinearity (the fix, offered where every linear path runs through that pool).
    """
    sources = _linear_sources(net)
    for layer in net.layers:
        if layer.type not in PARAMETERISED:
            continue
        reached = {target for source in layer.inputs if source >= 0 for target in sources[source]}
        earlier = sorted(
            (net.layers[target] for target in reached if not _intended(net.layers[target], layer)),
            key=lambda other: -other.index,
        )
        if not earlier:
            continue
        nearest = earlier[0]
        linear = _linear_path(net, sources, layer, nearest.index)
        between = ", ".join(f"{other.name} ({mode_of(other) or other.type})" for other in linear)
        message = (
            f"{nearest.label} ({nearest.input_shape} → {nearest.output_shape}) feeds this {layer.type}"
            f" ({layer.input_shape} → {layer.output_shape}) through {between or 'nothing'}, no nonlinearity:"
            f" the two compose into one linear map, so {nearest.name}'s {nearest.params:,} params add no"
            " expressive power"
        )
        if len(earlier) > 1:
            others = ", ".join(other.label for other in earlier[1:4])
            capped = len(reached) >= SOURCES_KEPT
            more = " and more" if capped else f" and {len(earlier) - 4} more" if len(earlier) > 4 else ""
            message += f" (nor do {others}{more}, reached through the merge)"
        # An avg pool between them becomes the nonlinearity when it takes the max instead.
        fixes = tuple(
            Fix(f"max pool in {other.name}", other.path, {"mode": "max"})
            for other in linear
            if other.type == "pool" and not _reached_avoiding(net, sources, layer, other.index)
        )
        yield Hit(layer.index, message, fixes)


@rule(
    "CC304",
    "conv-after-fc",
    Severity.WARNING,
    summary="A conv after an fc layer: there is no spatial structure left to convolve.",
    bad={
        "input": [8, 8, 1],
        "layers": [{"type": "fc", "units": 16}, {"type": "relu"}, {"type": "conv", "filters": 4, "kernel": 1}],
    },
    good={
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "fc", "units": 16},
        ],
    },
)
def conv_after_fc(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags conv layers (depthwise, separable and transposed convs too) with an fc layer upstream — on some
    path of inputs from the network input to the conv — while the volume is still the fc's 1×1 vector (a
    transposed conv that grows a spatial map again, as in a decoder, ends the path).

    ## Why is this bad
    An fc layer outputs a 1×1×n vector: the spatial layout is gone. A conv on it is an fc layer in disguise
    (FC ⇔ CONV), and the CS231n pattern puts every CONV before the FC layers.

    ## Use instead
    Move the conv before the fc layers, or write it as `{"type": "fc"}`.
    """
    # Per layer: the earliest fc upstream whose 1×1 output reaches this layer's output still 1×1 (a
    # transposed conv that grows a spatial map again ends it).
    first_fc: list[int | None] = []
    for layer in net.layers:
        fc = min(
            (index for source in layer.inputs if source >= 0 and (index := first_fc[source]) is not None), default=None
        )
        out = layer.output_shape
        flat = out.height == out.width == 1
        first_fc.append((layer.index if fc is None and layer.type == "fc" else fc) if flat else None)
        if layer.type in CONV_TYPES and fc is not None:
            found = net.layers[fc]
            yield Hit(
                layer.index,
                f"this {layer.type} runs on {layer.input_shape}, after {found.label} flattened the volume to"
                f" {found.output_shape}: no spatial structure is left, so it is an fc layer in disguise",
            )


@rule(
    "CC305",
    "relu-after-logits",
    Severity.WARNING,
    summary="A ReLU after the last layer with weights clips the class scores (logits).",
    bad={
        "input": [8, 8, 1],
        "layers": [{"type": "fc", "units": 16}, {"type": "relu"}, {"type": "fc", "units": 10}, {"type": "relu"}],
    },
    good={"input": [8, 8, 1], "layers": [{"type": "fc", "units": 16}, {"type": "relu"}, {"type": "fc", "units": 10}]},
)
def relu_after_logits(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Finds the network's output path — from the last layer back through single-input layers without
    weights to the last conv or fc layer, the logits — and flags a ReLU (a `relu`, or an `activation` of
    kind relu or relu6) on it. ReLUs inside branches that end in a merge are not logits; a final softmax
    turns logits into probabilities on purpose and is not flagged.

    ## Why is this bad
    The last layer with weights produces the class scores (logits) that softmax or a cross-entropy loss
    expects; they must be free to be negative. A ReLU clips them to ≥ 0, so every negative score becomes a
    tie at 0 and its gradient dies. CS231n's pattern ends in FC, not FC → RELU.

    ## Use instead
    End in the fc (or conv) layer itself (or in a softmax).
    """
    last, after = output_head(net)
    if last is None:
        return
    relu = next((layer for layer in after if kind_of(layer) in ("relu", "relu6")), None)
    if relu is not None:
        name = "ReLU6" if kind_of(relu) == "relu6" else "ReLU"
        bound = "to [0, 6]" if name == "ReLU6" else "to ≥ 0"
        yield Hit(
            relu.index,
            f"a {name} after {last.label}, the last layer with weights: it clips its {last.output_shape} scores"
            f" (logits) {bound}, where softmax and the loss expect any real value",
        )


def _downsamples(layer: LayerFacts) -> bool:
    out, shape = layer.output_shape, layer.input_shape
    return out.height * out.width < shape.height * shape.width


@rule(
    "CC306",
    "redundant-layer-order",
    Severity.INFO,
    summary="A pool on the raw input, a pool right after a pool, or a ReLU right after a ReLU.",
    bad={
        "input": [8, 8, 1],
        "layers": [{"type": "conv", "filters": 4, "kernel": 3}, {"type": "relu"}, {"type": "relu"}],
    },
    good={"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3}, {"type": "relu"}]},
)
def redundant_layer_order(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags three orderings outside INPUT → [[CONV → RELU]×N → POOL?]×M → [FC → RELU]×K → FC, judged by what
    each layer reads (its inputs), not by the list order: a downsampling pool that reads the network input,
    a downsampling pool that reads another downsampling pool, and a ReLU (a `relu` or an `activation` of
    kind relu) that reads a ReLU. Stride-1 pools that keep the size (an Inception block's pool branch) are
    not downsampling.

    ## Why is this bad
    A pool on the input throws resolution away before any feature is computed. Two pools in a row are one
    larger, more destructive pool. ReLU is idempotent, max(0, max(0, x)) = max(0, x): the second one does
    nothing.

    ## Use instead
    Convs before the first pool, convs between pools, one ReLU after each layer with weights.
    """
    for layer in net.layers:
        if len(layer.inputs) != 1:
            continue
        previous = only_producer(net, layer)
        if layer.type == "pool" and _downsamples(layer) and layer.inputs[0] < 0:
            yield Hit(
                layer.index,
                f"a pool directly on the {layer.input_shape} input: it reduces the image to {layer.output_shape}"
                " before any conv has computed a feature",
            )
        elif (
            layer.type == "pool"
            and previous is not None
            and previous.type == "pool"
            and _downsamples(layer)
            and _downsamples(previous)
        ):
            yield Hit(
                layer.index,
                f"a pool right after {previous.label}: {previous.input_shape} → {previous.output_shape} →"
                f" {layer.output_shape} in two steps is one larger pool with no conv between them",
            )
        elif is_relu(layer) and previous is not None and is_relu(previous):
            yield Hit(
                layer.index, f"a ReLU right after {previous.label}: max(0, max(0, x)) = max(0, x), it does nothing"
            )


# --- CC307 -----------------------------------------------------------------------------------------


def _whole_volume_fix(layer: LayerFacts) -> Fix | None:
    """Make the last conv or pool cover its whole input (FC ⇔ CONV, or a global pool), checked by re-computing."""
    if layer.window is None:
        return None
    shape = layer.input_shape
    kernel = (shape.height, shape.width)
    new = rewindow(layer, kernel=kernel, stride=(1, 1), padding=(0, 0))
    out = window_output(new, layer.output_shape.depth)
    if (out.height, out.width) != (1, 1):
        return None
    what = "conv over the whole volume" if layer.type == "conv" else "global pool"
    return Fix(
        f"F={value_text(pair_value(*kernel))} → {out} ({what})",
        layer.path,
        {"kernel": pair_value(*kernel), "stride": 1, "padding": 0},
    )


@rule(
    "CC307",
    "output-not-vector",
    Severity.WARNING,
    summary="The network does not end in a 1×1×n volume of class scores.",
    bad={"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}]},
    good={"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 8}]},
)
def output_not_vector(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    When the spec does not declare `classes`, checks that the last volume is 1×1×n (CC103 checks the
    count when `classes` is set).

    ## Why is this bad
    A classifier ends in one score per class, a 1×1×n volume. A network that ends in an H×W×D volume is
    either unfinished or a dense-prediction network, which a classification layer pattern does not cover.

    ## Use instead
    End in `{"type": "fc", "units": n}`, or in a conv whose kernel covers the whole remaining volume.
    """
    if net.network.classes is not None or not net.layers:
        return
    last = net.layers[-1]
    out = last.output_shape
    if last.input_shape.empty or out.empty or (out.height, out.width) == (1, 1):
        return
    fix = _whole_volume_fix(last)
    yield Hit(
        last.index,
        f"the network ends in {out}, not a 1×1×n vector of class scores",
        () if fix is None else (fix,),
    )


@rule(
    "CC308",
    "unused-layer",
    Severity.WARNING,
    summary="A layer's output is never read: no later layer names it and it is not the last layer.",
    bad={
        "input": [8, 8, 3],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "a"},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "b", "inputs": ["input"]},
            {"type": "relu", "inputs": ["b"]},
        ],
    },
    good={
        "input": [8, 8, 3],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "a"},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "b", "inputs": ["input"]},
            {"type": "add", "inputs": ["a", "b"]},
        ],
    },
)
def unused_layer(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Finds layers whose output no later layer reads (through `inputs`, or by coming right before a layer
    without `inputs`) and that are not the network's last layer.

    ## Why is this bad
    A dangling branch costs parameters and compute at build time but never reaches the output: usually a
    merge forgot one of its inputs, or a name in `inputs` points at the wrong layer.

    ## Use instead
    Merge the branch (`add` or `concat` naming it), or delete it.
    """
    read = {source for layer in net.layers for source in layer.inputs}
    for layer in net.layers[:-1]:
        if layer.index not in read:
            yield Hit(
                layer.index,
                f"the output {layer.output_shape} of {layer.label} is never read: no later layer takes it"
                " and it is not the last layer",
            )


@rule(
    "CC309",
    "misaligned-merge",
    Severity.WARNING,
    summary="The branches merged here see receptive fields with different centres or jumps.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 2, "padding": "same", "name": "shifted"},
            {"type": "add", "inputs": ["shifted", "input"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": "same", "name": "centred"},
            {"type": "add", "inputs": ["centred", "input"]},
        ],
    },
)
def misaligned_merge(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    At an `add` or `concat`, compares the receptive fields of the inputs: the centre of the first
    output's field (start) and the distance between neighbouring outputs (jump), per axis.

    ## Why is this bad
    Merging values whose fields are centred on different input pixels mixes features of neighbouring
    locations: the shortcut of a stride-2 block with an even kernel or asymmetric padding is shifted by
    half a pixel or more against the main branch. Networks train anyway, but the misalignment is a
    common, silent bug in hand-built graphs.

    ## Use instead
    Odd kernels with (F − 1)/2 padding on both branches, and the same total stride on each.
    """
    for layer in net.layers:
        if layer.type not in ("add", "concat") or len(layer.inputs) < 2:
            continue
        fields = _merge_fields(net, layer)
        first_label, (rows0, cols0) = fields[0]
        for label, (rows, cols) in fields[1:]:
            if (rows.start, rows.jump, cols.start, cols.jump) != (rows0.start, rows0.jump, cols0.start, cols0.jump):
                yield Hit(
                    layer.index,
                    f"{first_label} and {label} are centred differently: start {_fraction(rows0.start)}×"
                    f"{_fraction(cols0.start)} vs {_fraction(rows.start)}×{_fraction(cols.start)} input pixels,"
                    f" jump {_fraction(rows0.jump)}×{_fraction(cols0.jump)} vs {_fraction(rows.jump)}×"
                    f"{_fraction(cols.jump)}: the merge mixes features of different locations",
                )
                break


def _merge_fields(net: NetworkFacts, layer: LayerFacts) -> list[tuple[str, tuple[Any, Any]]]:
    return [
        ("the input", (INPUT_RECEPTIVE_FIELD, INPUT_RECEPTIVE_FIELD))
        if source < 0
        else (net.layers[source].label, (net.layers[source].rf_rows, net.layers[source].rf_cols))
        for source in layer.inputs
    ]


def _fraction(value: Any) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"
