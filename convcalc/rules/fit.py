"""CC101 and CC102: a window that does not tile its input, or does not fit in it at all."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.arithmetic import ceil_div
from convcalc.findings import Fix, Severity
from convcalc.layers import WindowAxis
from convcalc.rules.base import Hit, Settings, layer_rule, message_check, rule
from convcalc.rules.fixing import fit_fixes, input_size_fixes, pair_value, rewindow, window_changes
from convcalc.rules.graph import LockedSizes, padding_before, padding_sides
from convcalc.text import exact_decimal, fraction_text, per_axis, value_text


def padded_axes(net: NetworkFacts, layer: LayerFacts) -> tuple[WindowAxis, WindowAxis]:
    """The window's axes with the padding of padding layers right before it counted as its own (Keras writes a
    padded conv as ZeroPadding2D then a "valid" conv): the rows the floor drops may be that padding."""
    assert layer.window is not None
    rows, cols = layer.window.axes(layer.input_shape)
    top, bottom, left, right = padding_sides(padding_before(net, layer)[1])
    return (
        rows._replace(size=rows.size - top - bottom, pad=rows.pad + top, pad_after=rows.pad_after + bottom),
        cols._replace(size=cols.size - left - right, pad=cols.pad + left, pad_after=cols.pad_after + right),
    )


def does_not_fit_message(net: NetworkFacts, layer: LayerFacts) -> str | None:
    """The CC101 sentence for a layer, or None when no input goes unread."""
    assert layer.window is not None
    if layer.window.fits:  # no remainder: nothing unread, however the padding is counted (most layers)
        return None
    misfits = [axis for axis in padded_axes(net, layer) if axis.lost]
    if not misfits:
        return None
    dilated = " (F here is the dilated extent d·(F − 1) + 1)" if layer.window.dilation != (1, 1) else ""

    def sentence(axis: WindowAxis, unit: str) -> str:
        result = axis.result
        exact = Fraction(result.numerator, axis.stride) + 1
        tail = f"{result.remainder} {unit if result.remainder == 1 else unit.replace('/', 's/') + 's'}"
        where = "padded input" if axis.pads else "input"
        where += f", {axis.lost} of them input" if axis.pad_after else ""
        return (
            f"(W − F + 2P)/S + 1 = ({axis.size} − {axis.span} + {axis.pads})/{axis.stride} + 1"
            f" {exact_decimal(exact)} is not an integer; TensorFlow would silently floor it to {result.size} and"
            f" never read the last {tail} of the {where}{dilated}"
        )

    # A square misfit reads the same on both axes: one sentence about rows and columns.
    if len(misfits) == 2 and sentence(misfits[0], "") == sentence(misfits[1], ""):
        return per_axis([(axis.name, sentence(axis, "row/column")) for axis in misfits], "height and width: ")
    return per_axis([(axis.name, sentence(axis, axis.unit)) for axis in misfits], "height and width: ")


def misfit_message(net: NetworkFacts, layer: LayerFacts) -> str | None:
    """CC101's sentence for a layer, or None where it does not fire (no window, "same", no output, a fit)."""
    window = layer.window
    if window is None or window.same or layer.input_shape.empty or not window.has_output:
        return None
    return does_not_fit_message(net, layer)


@rule(
    "CC101",
    "stride-does-not-fit",
    Severity.ERROR,
    summary="(W − F + 2P) is not divisible by S: the output size is not an integer.",
    bad={"input": [10, 10, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "stride": 2}]},
    good={"input": [11, 11, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "stride": 2}]},
    layer_check=message_check(misfit_message),
)
def stride_does_not_fit(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that every conv and pool window tiles its (padded) input: when (W − F + 2P)/S + 1 is not an
    integer, the floor leaves the last r = (W − F + 2P) mod S padded rows (or columns) unread, and this rule
    fires when some of them are input, not padding. A padding layer right before the window counts as its
    padding. Two cases are not errors: when the r rows are all padding (ResNet's 7×7, S=2, P=3 stem on 224:
    see CC208), and when r is no more than the S − F rows a stride larger than the kernel skips between every
    two windows anyway (a 1×1, S=2 shortcut: see CC205). The rounding here is the floor, which TensorFlow
    and PyTorch apply by default; a pool with `ceil_mode: true` rounds up instead (PyTorch's rule: one more
    window, which must start inside the input or the left padding), never leaves input unread, and is exempt.

    ## Why is this bad
    Input that no window covers is lost before any later layer can see it. The layer "cannot work" in the
    CS231n sense; TensorFlow and PyTorch do not complain and silently floor the size, so the mismatch shows
    up later as a surprising shape (or never). `padding: "same"` is exempt: there TensorFlow defines the
    output as ceil(W/S).

    ## Use instead
    Change S, F or P (or the input size) so that the division is exact, or give a pool `ceil_mode: true`;
    the finding lists re-computed alternatives, magic numbers first.
    """
    input_fixes_left = 1  # re-analysing the whole network is O(n): only for the first misfit
    locked = LockedSizes(net)
    for layer in net.layers:
        message = misfit_message(net, layer)
        if message is not None and not settings.fixes:
            yield Hit(layer.index, message)
        elif message is not None:
            fixes = fit_fixes(layer, keep_size=layer.index in locked)
            if input_fixes_left:
                input_fixes_left -= 1
                fixes += input_size_fixes(net, layer)
            yield Hit(layer.index, message, fixes)


@layer_rule(
    "CC102",
    "window-larger-than-input",
    Severity.ERROR,
    summary="F > W + 2P: the window does not fit in the padded input, so there is no output.",
    bad={"input": [2, 2, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3}]},
    good={"input": [2, 2, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}]},
    tensorflow_refuses=True,
)
def window_larger_than_input(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that every conv and pool window fits inside its padded input (F ≤ W + 2P). A ceil-mode pool
    (PyTorch's) also slides one window that hangs past it by less than a stride (F < W + 2P + S).

    ## Why is this bad
    A window larger than the padded input produces no output at all; TensorFlow fails at run time with
    "Negative dimension size". Everything after this layer has no shape (convcalc reports it once).

    ## Use instead
    Pad the input, use a smaller kernel, or remove a downsampling layer earlier in the network.
    """
    window = layer.window
    if window is None or layer.input_shape.empty or window.has_output:
        return None
    dilated = " (F here is the dilated extent d·(F − 1) + 1)" if window.dilation != (1, 1) else ""
    axes = window.axes(layer.input_shape)
    parts = [
        (
            a.name,
            f"F = {a.span} ≥ W + 2P + S = {a.size} + {a.pads} + {a.stride} = {a.padded + a.stride}: no output,"
            f" even in ceil mode{dilated}"
            if window.ceil_mode
            else f"F = {a.span} > W + 2P = {a.size} + {a.pads} = {a.padded}: no output{dilated}",
        )
        for a in axes
        if not a.result.has_output
    ]
    fixes = _output_fixes(layer, axes) if settings.fixes else ()
    return Hit(layer.index, per_axis(parts, "height and width: "), fixes)


def _output_fixes(layer: LayerFacts, axes: tuple[WindowAxis, WindowAxis]) -> tuple[Fix, ...]:
    """A window that fits again: the least padding that gives one output, the largest kernel the padded input
    takes, and "same" (each re-computed; the network-wide check follows)."""
    assert layer.window is not None
    depth, fixes = layer.output_shape.depth, []
    # P ≥ (E − W)/2 gives an output; keep an axis that has one.
    rows, cols = axes
    padding = (max(rows.pad, ceil_div(rows.span - rows.size, 2)), max(cols.pad, ceil_div(cols.span - cols.size, 2)))
    # The largest F whose dilated extent d·(F − 1) + 1 fits in W + 2P.
    kernel = (
        rows.kernel if rows.result.has_output else max(1, (rows.padded - 1) // rows.dilation + 1),
        cols.kernel if cols.result.has_output else max(1, (cols.padded - 1) // cols.dilation + 1),
    )
    for title, changes, new in (
        (f"P={value_text(pair_value(*padding))}", {"padding": pair_value(*padding)}, rewindow(layer, padding=padding)),
        (f"F={value_text(pair_value(*kernel))}", {"kernel": pair_value(*kernel)}, rewindow(layer, kernel=kernel)),
        ('padding "same"', {"padding": "same"}, rewindow(layer, padding="same")),
    ):
        if new.has_output and not any(axis.lost for axis in new.axes(layer.input_shape)):
            fixes.append(Fix(f"{title} → {new.output(depth)}", layer.path, window_changes(layer, changes)))
    return tuple(fixes)


@rule(
    "CC208",
    "floor-drops-padding",
    Severity.INFO,
    summary="(W − F + 2P)/S + 1 is not an integer, but the floor drops only padding: the padding is uneven.",
    bad={"input": [224, 224, 3], "layers": [{"type": "conv", "filters": 8, "kernel": 7, "stride": 2, "padding": 3}]},
    good={"input": [225, 225, 3], "layers": [{"type": "conv", "filters": 8, "kernel": 7, "stride": 2, "padding": 3}]},
)
def floor_drops_padding(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Finds conv and pool windows whose (W − F + 2P)/S + 1 is not an integer where the rows (or columns) the
    floor leaves unread are all padding: ResNet's 7×7, S=2, P=3 stem on 224 gives 112.5, and the row PyTorch
    and Keras drop is the last of the three zero rows. No input is lost, so it is not CC101's error; it says
    what the floor does instead: the effective padding is uneven (3 before, 2 after), and the outputs' centres
    sit r/2 pixels up and to the left of centred.

    ## Why is this bad
    Mostly it is not: every torchvision ResNet does it. It matters where centres must line up across
    branches or scales (detection heads, feature pyramids, a merge with a branch padded differently), and it
    explains why a framework's output is one smaller than (W − F + 2P)/S + 1 read as a fraction suggests.

    ## Use instead
    Nothing, usually (a pool with `ceil_mode: true` rounds up instead of down and is not reported);
    `padding: "same"` (TensorFlow's rule: ceil(W/S), the extra pixel after) or an input
    size that divides exactly if the half-pixel shift matters.
    """
    for layer in net.layers:
        window = layer.window
        if window is None or window.same or layer.input_shape.empty or not window.has_output or window.fits:
            continue  # a window that fits floors nothing, however its padding is counted (most layers)
        axes = padded_axes(net, layer)
        dropping = [axis for axis in axes if axis.drops_padding]
        if not dropping or any(axis.lost for axis in axes):
            continue
        yield Hit(layer.index, _dropped_padding_message(dropping))


def _dropped_padding_message(dropping: list[WindowAxis]) -> str:
    def sentence(axis: WindowAxis, units: str, side: str) -> str:
        result, tail = axis.result, axis.result.remainder
        exact = Fraction(result.numerator, axis.stride) + 1
        return (
            f"(W − F + 2P)/S + 1 = ({axis.size} − {axis.span} + {axis.pads})/{axis.stride} + 1"
            f" {exact_decimal(exact)}: the floor ({result.size}) drops the last {tail} of the {axis.pad_after}"
            f" padding {units}, so the padding is effectively {axis.pad} before and {axis.pad_after - tail} after"
            f" and the output centres sit {fraction_text(Fraction(tail, 2))} pixel {side} of centred"
        )

    if len(dropping) == 2 and sentence(dropping[0], "", "") == sentence(dropping[1], "", ""):
        return "height and width: " + sentence(dropping[0], "rows and columns", "up and to the left")
    sides = {"height": "up", "width": "to the left"}
    return per_axis([(axis.name, sentence(axis, f"{axis.unit}s", sides[axis.name])) for axis in dropping])
