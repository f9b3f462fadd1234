"""CC101 and CC102: a window that does not tile its input, or does not fit in it at all."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.findings import Severity
from convcalc.layers import WindowAxis
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.fixing import fit_fixes, input_size_fixes
from convcalc.rules.graph import size_locked
from convcalc.text import exact_decimal, per_axis


def does_not_fit_message(layer: LayerFacts) -> str | None:
    """The CC101 sentence for a layer, or None when it fits."""
    assert layer.window is not None
    misfits = [
        axis for axis in layer.window.axes(layer.input_shape) if axis.result.has_output and axis.result.remainder != 0
    ]
    if not misfits:
        return None
    dilated = " (F here is the dilated extent d·(F − 1) + 1)" if layer.window.dilation != (1, 1) else ""

    def sentence(axis: WindowAxis, unit: str) -> str:
        result = axis.result
        exact = Fraction(result.numerator, axis.stride) + 1
        return (
            f"(W − F + 2P)/S + 1 = ({axis.size} − {axis.span} + {axis.pads})/{axis.stride} + 1"
            f" {exact_decimal(exact)} is not an integer; TensorFlow would silently floor it to {result.size} and"
            f" never read the last {result.remainder} {unit}{'s' if result.remainder != 1 else ''} of the"
            f" {'padded ' if axis.pads else ''}input{dilated}"
        )

    # A square misfit reads the same on both axes: one sentence about rows and columns.
    if len(misfits) == 2 and sentence(misfits[0], "") == sentence(misfits[1], ""):
        return per_axis([(axis.name, sentence(axis, "row/column")) for axis in misfits], "height and width: ")
    return per_axis([(axis.name, sentence(axis, axis.unit)) for axis in misfits], "height and width: ")


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


@rule(
    "CC102",
    "window-larger-than-input",
    Severity.ERROR,
    summary="F > W + 2P: the window does not fit in the padded input, so there is no output.",
    bad={"input": [2, 2, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3}]},
    good={"input": [2, 2, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}]},
    tensorflow_refuses=True,
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
            (a.name, f"F = {a.span} > W + 2P = {a.size} + {a.pads} = {a.padded}: no output{dilated}")
            for a in window.axes(layer.input_shape)
            if not a.result.has_output
        ]
        yield Hit(layer.index, per_axis(parts, "height and width: "))
