"""What every sliding-window kind (the convs and the pool) answers the same way.

The window is resolved by :func:`~convcalc.layers.volume.resolve_window`; its receptive-field step, its
output grid, its course notation and its Keras padding follow from it alone.
"""

import functools
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from convcalc import arithmetic as ar
from convcalc.layers.base import UNIT_STEP, BuildProblem, Computed, DiagramWindow, FieldPair, LayerSpec, widest
from convcalc.layers.keras import KerasLayer, KerasOps, Tensor, compact
from convcalc.layers.volume import Shape, Window
from convcalc.text import pair_text


class WindowedLayer(LayerSpec):
    """A family base: a layer whose work is one sliding window over its input (conv-like or pool)."""

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        rows, cols = widest(fields)
        window = computed.window
        assert window is not None
        eff = window.effective_kernel
        return (
            ar.receptive_field(rows, eff[0], window.stride[0], window.padding.top),
            ar.receptive_field(cols, eff[1], window.stride[1], window.padding.left),
        )

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        assert window is not None
        return _stride_step(window.stride)

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        assert window is not None
        return DiagramWindow(window.kernel, window.stride, window.padding, window.dilation)


@functools.lru_cache(maxsize=256)
def _stride_step(stride: tuple[int, int]) -> tuple[Fraction, Fraction]:
    # A few strides recur in every network; a Fraction is slow to make and never changes, so each is made once.
    return UNIT_STEP if stride == (1, 1) else (Fraction(stride[0]), Fraction(stride[1]))


def window_notation(window: Window | None) -> list[str]:
    """``F=3 S=1 P=1`` (and ``d=2`` when dilated) as the words of the course notation."""
    assert window is not None
    pad = window.padding
    if window.same:
        padding = "same"
    elif pad.top == pad.bottom and pad.left == pad.right:
        padding = pair_text((pad.top, pad.left))
    else:
        padding = f"{pad.top},{pad.bottom},{pad.left},{pad.right}"
    words = [f"F={pair_text(window.kernel)} S={pair_text(window.stride)} P={padding}"]
    if window.dilation != (1, 1):
        words.append(f"d={pair_text(window.dilation)}")
    return words


def keras_padding(ops: KerasOps, window: Window, *, same: bool = True) -> str:
    """The Keras ``padding`` argument of a window op: ``"same"`` passes through (when the op has it), any other
    padding becomes a ``ZeroPadding2D`` in front and ``"valid"`` (Keras has no numeric padding)."""
    ops.volume()
    padding = "same" if window.same and same else "valid"
    if padding == "valid":
        ops.zero_pad(*window.padding)
    return padding


def keras_window_fields(layer: KerasLayer, source: Tensor) -> dict[str, Any]:
    """kernel, stride, padding and dilation of a Keras conv-like layer, as spec fields."""
    layer.needs_volume(source)
    kernel = layer.pair("kernel_size")
    stride = layer.pair("strides", 1)
    dilation = layer.pair("dilation_rate", 1)
    if max(stride) > 1 and max(dilation) > 1:
        # Keras refuses this combination itself; a config holding it was not written by Keras.
        raise layer.refuse(f"strides {list(stride)} with dilation_rate {list(dilation)}: Keras cannot build this")
    fields: dict[str, Any] = {"kernel": compact(kernel)}
    if stride != (1, 1):
        fields["stride"] = compact(stride)
    fields["padding"] = layer.padding()
    if dilation != (1, 1):
        fields["dilation"] = compact(dilation)
    return fields


def dilated_and_strided(stride: tuple[int, int], dilation: tuple[int, int]) -> BuildProblem | None:
    """TensorFlow's convolutions cannot combine a stride > 1 with a dilation > 1."""
    if max(dilation) > 1 and max(stride) > 1:
        return BuildProblem(
            f"a stride of {pair_text(stride)} and a dilation of {pair_text(dilation)}: TensorFlow's convolutions"
            " cannot combine a stride > 1 with a dilation > 1",
            ({"stride": 1}, {"dilation": 1}),
        )
    return None
