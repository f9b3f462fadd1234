"""Helpers for rule authors: re-computing a layer with changed settings, so fixes are checked, not guessed."""

from __future__ import annotations

from typing import Any

from convcalc.analysis import LayerFacts, NetworkFacts, Shape, Window, analyze, resolve_window
from convcalc.spec import InputShape, Pool


def pair_value(height: int, width: int) -> int | list[int]:
    """How a spec writes a per-axis value: an int when square, ``[h, w]`` otherwise."""
    return height if height == width else [height, width]


def spec_padding(window: Window) -> Any:
    """The window's padding as the spec would write it (symmetric padding only)."""
    if window.same:
        return "same"
    return (window.padding.top, window.padding.left)


def rewindow(
    layer: LayerFacts,
    *,
    kernel: tuple[int, int] | None = None,
    stride: tuple[int, int] | None = None,
    padding: Any = None,
) -> Window:
    """The layer's window re-computed on the same input with some settings changed."""
    window = layer.window
    assert window is not None, "rewindow needs a conv or pool layer"
    return resolve_window(
        kernel or window.kernel,
        stride or window.stride,
        spec_padding(window) if padding is None else padding,
        layer.input_shape,
    )


def window_changes(layer: LayerFacts, changes: dict[str, Any]) -> dict[str, Any]:
    """The ``set`` of a fix that changes a window: a pool whose stride defaults to its kernel keeps its
    current stride explicitly when only the kernel changes (else the stride would silently follow)."""
    spec = layer.spec
    if "kernel" in changes and "stride" not in changes and isinstance(spec, Pool) and spec.stride is None:
        assert layer.window is not None
        return {**changes, "stride": pair_value(*layer.window.stride)}
    return changes


def window_output(window: Window, depth: int) -> Shape:
    return Shape(window.rows.size, window.cols.size, depth)


def with_input(net: NetworkFacts, height: int, width: int) -> NetworkFacts:
    """The whole network re-analysed on another input size (same depth)."""
    shape = InputShape(height=height, width=width, channels=net.input_shape.depth)
    return analyze(net.network.model_copy(update={"input": shape}))
