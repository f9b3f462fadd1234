"""CC301: the input size is not divisible by the product of the strides."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from math import lcm, prod
from typing import NamedTuple

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.findings import Fix, Severity
from convcalc.layers.base import UNIT_STEP
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.fit import padded_axes
from convcalc.rules.fixing import with_input
from convcalc.spec import MAX_SIZE


class _Descent(NamedTuple):
    """How far one axis has been downsampled on the way to a layer's output."""

    factor: Fraction
    """The product of the strides so far; a strided transposed conv divides it."""
    strides: tuple[int, ...]
    """The downsampling strides on that path, in order."""
    from_input: bool = True
    """False on a path that starts at a reshape (a new volume): its strides ask nothing of the input's size."""


_TOP = _Descent(Fraction(1), ())
_RESHAPED = _Descent(Fraction(1), (), from_input=False)


def _factor(descent: _Descent) -> tuple[bool, Fraction]:
    return descent.from_input, descent.factor  # at a merge, a path from the input before one from a reshape


_Axis = tuple[int, tuple[int, ...] | None]
"""One axis's descent: the number the input size must divide, and the strides that make it up (or None)."""


def _descend(net: NetworkFacts) -> tuple[_Axis, _Axis]:
    """Per axis (rows, columns): the number the input size must divide, and the strides that make it up
    (None where upsampling in between means no one path's strides multiply to it).

    Each layer's downsampling factor follows its producers (the deepest one at a merge); a conv or pool
    window with S > 1 multiplies it while the volume is more than 1 pixel wide on that axis, a layer that
    upsamples (a strided transposed conv) divides it; a reshape starts a new volume, as the input does. Every
    intermediate size must be exact, so the input must be divisible by the numerator of every factor reached:
    their least common multiple. Both axes are followed in one walk; each is its own, as if walked alone.
    """
    top = (_TOP, _TOP)
    descents: list[tuple[_Descent, _Descent]] = []
    required = [1, 1]
    for layer in net.layers:
        if layer.traits.new_grid:
            descents.append((_RESHAPED, _RESHAPED))  # a new volume (a generator's vector made 7×7)
            continue
        sources = layer.inputs
        if len(sources) == 1:  # most layers: no merge to take the deepest of
            before = top if sources[0] < 0 else descents[sources[0]]
        else:
            reached = [top if s < 0 else descents[s] for s in sources]
            before = (
                max((pair[0] for pair in reached), key=_factor, default=_TOP),
                max((pair[1] for pair in reached), key=_factor, default=_TOP),
            )
        steps = layer.spec.grid_step(layer.window)
        if steps is not UNIT_STEP:  # the layers that keep the grid share that one pair
            after = list(before)
            for axis, step in enumerate(steps):
                if step == 1:
                    continue
                descent = after[axis]
                if step > 1 and layer.input_shape[axis] > 1 and not layer.input_shape.empty:
                    descent = descent._replace(factor=descent.factor * step, strides=(*descent.strides, int(step)))
                elif step < 1:
                    descent = descent._replace(factor=descent.factor * step)
                # A factor that a step did not change was folded in where it was reached.
                if descent.from_input:
                    required[axis] = lcm(required[axis], descent.factor.numerator)
                after[axis] = descent
            before = (after[0], after[1])
        descents.append(before)
    return _axis(descents, 0, required[0]), _axis(descents, 1, required[1])


def _axis(descents: list[tuple[_Descent, _Descent]], axis: int, required: int) -> _Axis:
    reached = [pair[axis] for pair in descents if pair[axis].from_input]
    deepest = max(reached, key=lambda d: d.factor.numerator, default=_TOP)
    strides = deepest.strides if prod(deepest.strides) == required else None
    return required, strides


class _Inexactness(NamedTuple):
    """How far the strided windows are from dividing their inputs exactly, worst first (compared in order)."""

    unread: int
    """Strided windows that leave rows or columns of real input unread (CC101's errors), and windowless layers
    that step over a size their step does not divide (a space_to_depth's blocks: CC114's errors)."""
    inexact: int
    """Other strided windows whose output is not their input divided by their stride: a padded window (its
    own padding, "same", or explicit zero padding right before it) on a size S does not divide, or an
    unpadded one that does not fit. An unpadded window that fits is exact whatever the size (a valid 3×3,
    S=2 stem on 299 gives 149): so are the odd sizes such stems are designed for."""
    blocks: int = 0
    """How many of the unread are windowless layers (space_to_depth), for the message."""


def _inexactness(net: NetworkFacts) -> _Inexactness:
    unread = inexact = blocks = 0
    for layer in net.layers:
        window = layer.window
        if window is None and not layer.input_shape.empty:
            steps = layer.spec.grid_step(None)
            if steps is not UNIT_STEP:
                sizes = (layer.input_shape.height, layer.input_shape.width)
                blocks += any(step > 1 and size % step != 0 for step, size in zip(steps, sizes, strict=True))
            continue
        if window is None or max(window.stride) == 1 or layer.input_shape.empty or not window.has_output:
            continue
        lost, exact = False, True
        for axis in padded_axes(net, layer):  # zero padding right before it counted as its own
            if axis.stride == 1:
                continue
            lost = lost or axis.lost > 0
            padded = window.same or axis.pads > 0
            divides = axis.result.size * axis.stride == axis.size
            exact = exact and (divides or (not padded and axis.result.fits))
        unread += lost
        inexact += not lost and not exact
    return _Inexactness(unread + blocks, inexact, blocks)


def _divisors(net: NetworkFacts) -> tuple[int, int]:
    rows, cols = _descend(net)
    return rows[0], cols[0]


def _indivisible(net: NetworkFacts) -> bool:
    rows, cols = _divisors(net)
    return net.input_shape.height % rows != 0 or net.input_shape.width % cols != 0


FACTOR_SEARCH = 100_000
"""factorise tries divisors up to this (a product of strides near 2^31 must not take seconds)."""


def factorise(number: int) -> str:
    """``2^2·5^2`` for 100, the number itself for a prime (or 1).

    >>> factorise(227), factorise(32), factorise(100), factorise(1)
    ('227', '2^5', '2^2·5^2', '1')
    """
    parts: list[str] = []
    rest, factor = number, 2
    # Trial division up to a bound: a product of huge strides is printed with its large part unfactored.
    while factor * factor <= rest and factor <= FACTOR_SEARCH:
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


def _input_fix(net: NetworkFacts, direction: int) -> tuple[Fix, NetworkFacts] | None:
    """The nearest input below (−1) or above (+1) whose strides divide it, checked by re-analysis, and the
    network at that input."""
    height, width = net.input_shape.height, net.input_shape.width
    current = net
    for _ in range(3):  # a larger input can bring more strided layers into play: re-check, re-try
        ph, pw = _divisors(current)
        height = (height // ph + (direction > 0 and height % ph != 0)) * ph
        width = (width // pw + (direction > 0 and width % pw != 0)) * pw
        if not (1 <= height <= MAX_SIZE and 1 <= width <= MAX_SIZE):
            return None  # e.g. 250 stride-2 layers: no input TensorFlow could take divides by 2^250
        changed = with_input(net, height, width, receptive_fields=False)
        if changed is None:
            return None
        current = changed
        if not _indivisible(current):
            if current.output_shape.empty and not net.output_shape.empty:
                return None  # the network would break: a layer without output
            title = f"input {current.input_shape}"
            # Say so where the new size makes a window stop fitting (a CC101 error to fix next).
            broken = next((layer for layer in current.layers if _newly_unfit(net, current, layer)), None)
            if broken is not None:
                title += f" ({broken.name} then does not fit)"
            return Fix(title, "input", {"height": height, "width": width}), current
    return None


def _newly_unfit(before: NetworkFacts, after: NetworkFacts, layer: LayerFacts) -> bool:
    """A window that leaves input unread at the new size (CC101's error; a floor of padding is not) and did
    not at the old one."""
    old = before.layers[layer.index]
    if layer.window is None or old.window is None or not layer.window.has_output or layer.window.fits:
        return False
    return any(axis.lost for axis in padded_axes(after, layer)) and not any(
        axis.lost for axis in padded_axes(before, old)
    )


@rule(
    "CC301",
    "input-not-divisible-by-strides",
    Severity.WARNING,
    summary="The input size is not divisible by the product of the strides, so downsampling cannot be exact.",
    bad={
        "input": [226, 226, 3],
        "layers": [
            {"type": "conv", "filters": 16, "kernel": 3, "stride": 2, "padding": "same"},
            {"type": "relu"},
            {"type": "conv", "filters": 16, "kernel": 3, "stride": 2, "padding": "same"},
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
    Multiplies the strides of the conv and pool windows (and the blocks of a space_to_depth) along each axis,
    following each layer's inputs (a residual block's shortcut and main branch count once, not twice), until the
    volume is 1 pixel wide, and checks that the product divides the input height and width. A strided transposed
    conv upsamples: it divides the product, so an encoder–decoder (U-Net) needs its input divisible by its deepest
    downsampling only. It fires only where the sizes show the problem and a multiple helps: some strided window does
    not divide its input exactly — a padded one (its own padding, "same", or zero padding right before it) whose
    output is not W/S, or an unpadded one that does not fit, or a space_to_depth whose blocks do not divide its
    input (CC114's error, whose fixes change the block) — and at the nearest multiple below or above fewer windows
    leave input unread, or fewer do not divide. An unpadded window that fits is exact at any size, so a network
    whose every strided layer fits unpadded (AlexNet at 227, Inception v3 at 299) is exempt; so is one where the
    multiples would leave a valid stem's last row unread (Xception at 299, NASNetLarge at 331).

    ## Why is this bad
    CS231n: "the input layer should be divisible by 2 many times" — 32, 64, 96, 224, 384, 512. Every
    stride S divides the size by S; when the size is not a multiple, some layer floors (losing border
    pixels) or pads unevenly, and the arithmetic of the whole network stops being clean.

    ## Use instead
    The nearest input size that is a multiple of the product; the fixes offer the nearest below and above
    that tile better, each re-analysed.
    """
    (ph, rows), (pw, cols) = _descend(net)
    height, width = net.input_shape.height, net.input_shape.width
    if height % ph == 0 and width % pw == 0:
        return
    now = _inexactness(net)
    if now.unread == 0 and now.inexact == 0:
        return  # every strided window divides its input exactly (AlexNet at 227, Inception v3 at 299)
    # The multiples are advice only where they divide better: a valid 3×3, S=2 stem wants an odd size
    # (Xception's 299, NASNetLarge's 331), and a multiple of 32 would leave its last row unread.
    candidates = [found for found in (_input_fix(net, -1), _input_fix(net, +1)) if found is not None]
    # Better only by fewer misfits (a block's error traded for a window's is no better).
    fixes = [fix for fix, fixed in candidates if _inexactness(fixed)[:2] < now[:2]]
    if not fixes:
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
    if now.blocks:
        layers = "a strided layer leaves" if now.unread == 1 else f"{now.unread:,} strided layers leave"
        if now.blocks == now.unread == 1:
            why = "a space_to_depth's blocks do not divide its input"
        elif now.blocks == now.unread:
            why = "space_to_depths whose blocks do not divide their input"
        else:
            why = f"{now.blocks:,} of them space_to_depth{'s' if now.blocks > 1 else ''} whose blocks do not divide"
        how_far = f"{layers} input unread ({why})"
    elif now.unread == 1:
        how_far = "a strided window leaves input unread"
    elif now.unread:
        how_far = f"{now.unread:,} strided windows leave input unread"
    elif now.inexact == 1:
        how_far = "a strided window does not divide its input by its stride"
    else:
        how_far = f"{now.inexact:,} strided windows do not divide their input by their stride"
    message = f"input {height}×{width}: {text}. The downsampling is not exact: {how_far}"
    fixes.sort(key=lambda fix: abs(fix.set["height"] - height) + abs(fix.set["width"] - width))  # nearest first
    yield Hit(None, message, tuple(fixes))
