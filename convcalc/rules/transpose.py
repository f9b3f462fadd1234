"""CC107: a transposed conv whose output_padding reaches the stride, or whose padding eats the output."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.findings import Fix, Severity
from convcalc.rules.base import Hit, Settings, layer_rule
from convcalc.rules.fixing import pair_value

if TYPE_CHECKING:
    from convcalc.layers import ConvTranspose


@layer_rule(
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
    tensorflow_refuses=True,
)
def transpose_output_padding(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
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
    if layer.type != "conv_transpose" or layer.input_shape.empty:
        return None
    spec = cast("ConvTranspose", layer.spec)
    if spec.output_padding is not None and any(o >= s for o, s in zip(spec.output_padding, spec.stride, strict=True)):
        limit = pair_value(*(max(s - 1, 0) for s in spec.stride))
        return Hit(
            layer.index,
            f"output_padding {pair_value(*spec.output_padding)} must be smaller than the stride"
            f" {pair_value(*spec.stride)}",
            (Fix(f"output_padding={limit}", layer.path, {"output_padding": limit}),),
        )
    elif layer.output_shape.empty:
        return Hit(layer.index, f"the padding leaves no output ({layer.input_shape} → {layer.output_shape})")
    return None
