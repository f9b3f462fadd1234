"""Hypothesis strategies for the export tests: small specs that TensorFlow can build in a fraction of a second.

Every layer kind appears (conv with and without bias, max/avg/l2 pools, fc, relu, flatten) with every way of
writing a setting (int or [h, w]; padding as int, pair, "same" or "valid"; pool stride given or defaulted),
on non-square inputs of at most 24×24×4. Shapes are tracked here with the textbook formula, independently
of convcalc.analysis, so that every window has an output; with ``fit_exactly`` every stride divides.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

MAX_PIXELS = 24
HOSTILE_NAMES = (
    "conv",  # duplicates: several layers may draw it
    "'\"); import os  # ",
    "line\nbreak",
    "__import__('os').system('touch PWNED')",
    "ﬁlter",
    "input",
    "1st",
    "relu1",
    "\u202econv",
)


def _written(height: int, width: int, draw: st.DrawFn) -> Any:
    """A per-axis value as a spec may write it: an int when square (sometimes [n, n]), else [h, w]."""
    if height == width and draw(st.booleans()):
        return height
    return [height, width]


@st.composite
def _axis_window(draw: st.DrawFn, size: int, pad: int, *, fit_exactly: bool) -> tuple[int, int]:
    """(F, S) along one axis of an input of ``size`` padded by ``pad``, with F ≤ size + 2P (an output exists)."""
    kernel = draw(st.integers(1, min(5, size + 2 * pad)))
    span = size + 2 * pad - kernel
    strides = [s for s in range(1, 5) if span % s == 0] if fit_exactly else list(range(1, 5))
    return kernel, draw(st.sampled_from(strides))


@st.composite
def window_layer(draw: st.DrawFn, shape: tuple[int, int, int], kind: str, fit_exactly: bool) -> dict[str, Any]:
    """A conv or pool layer that has an output on ``shape``."""
    height, width, _ = shape
    layer: dict[str, Any] = {"type": kind}
    if kind == "pool":
        layer["mode"] = draw(st.sampled_from(["max", "avg", "l2"]))
    padding_form = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    if padding_form == "same":  # any window works: TensorFlow pads to ceil(W/S)
        kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        layer["padding"] = "same"
    else:
        if padding_form == "valid":
            pads = (0, 0)
            layer["padding"] = "valid"
        elif padding_form == "int":
            pads = (draw(st.integers(0, 2)),) * 2
            layer["padding"] = pads[0]
        else:
            pads = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
            layer["padding"] = list(pads)
        rows = draw(_axis_window(height, pads[0], fit_exactly=fit_exactly))
        cols = draw(_axis_window(width, pads[1], fit_exactly=fit_exactly))
        kernel, stride = (rows[0], cols[0]), (rows[1], cols[1])
    layer["kernel"] = _written(*kernel, draw)
    # A pool's stride may be left out (it defaults to the kernel) when that is the stride drawn.
    if not (kind == "pool" and stride == kernel and draw(st.booleans())):
        layer["stride"] = _written(*stride, draw)
    if kind == "conv":
        layer["filters"] = draw(st.integers(1, 6))
        if draw(st.booleans()):
            layer["bias"] = draw(st.booleans())
    return layer


def _apply(shape: tuple[int, int, int], layer: dict[str, Any]) -> tuple[int, int, int]:
    """The textbook output volume of ``layer`` on ``shape`` (floored, as TensorFlow does)."""
    height, width, depth = shape

    def pair(value: Any) -> tuple[int, int]:
        return (value, value) if isinstance(value, int) else (value[0], value[1])

    kind = layer["type"]
    if kind in ("conv", "pool"):
        kernel = pair(layer["kernel"])
        stride = pair(layer.get("stride", layer["kernel"]))
        out_depth = layer["filters"] if kind == "conv" else depth
        if layer["padding"] == "same":
            return (-(-height // stride[0]), -(-width // stride[1]), out_depth)
        pad = pair(0 if layer["padding"] == "valid" else layer["padding"])
        return (
            (height + 2 * pad[0] - kernel[0]) // stride[0] + 1,
            (width + 2 * pad[1] - kernel[1]) // stride[1] + 1,
            out_depth,
        )
    if kind == "fc":
        return (1, 1, layer["units"])
    if kind == "flatten":
        return (1, 1, height * width * depth)
    return shape


@st.composite
def buildable_specs(draw: st.DrawFn, *, fit_exactly: bool = True, max_layers: int = 6) -> dict[str, Any]:
    """A spec with an output at every layer; with ``fit_exactly`` no window leaves a remainder (no CC101)."""
    shape = (draw(st.integers(1, MAX_PIXELS)), draw(st.integers(1, MAX_PIXELS)), draw(st.integers(1, 4)))
    spec: dict[str, Any] = {"input": list(shape), "layers": []}
    for _ in range(draw(st.integers(1, max_layers))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "pool", "fc", "relu", "flatten"]))
        if kind in ("conv", "pool"):
            layer = draw(window_layer(shape, kind, fit_exactly))
        elif kind == "fc":
            layer = {"type": "fc", "units": draw(st.integers(1, 12))}
            if draw(st.booleans()):
                layer["bias"] = draw(st.booleans())
        else:
            layer = {"type": kind}
        if draw(st.integers(0, 3)) == 0:
            layer["name"] = draw(st.sampled_from(HOSTILE_NAMES))
        spec["layers"].append(layer)
        shape = _apply(shape, layer)
    if draw(st.booleans()):
        # A classifier: end in fc, or in a conv over the whole volume (the FC ⇔ CONV equivalence).
        classes = draw(st.integers(2, 10))
        if draw(st.booleans()):
            spec["layers"].append({"type": "fc", "units": classes})
        else:
            spec["layers"].append({"type": "conv", "filters": classes, "kernel": [shape[0], shape[1]]})
        spec["classes"] = classes
    if draw(st.booleans()):
        spec["name"] = draw(st.sampled_from(["random net", "ﬁlter-net", "x'); import os #"]))
    return spec
