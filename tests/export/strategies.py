"""Hypothesis strategies for the export tests: small specs that TensorFlow can build in a fraction of a second.

Every layer kind appears (conv with groups, dilation and without bias; depthwise, separable, conv_transpose; max/avg/l2
pools (ceil_mode and adaptive too) and global pools; fc/dense, batchnorm, dropout, zero_padding, activations, relu,
flatten, reflection, replication and circular padding; upsample, cropping, split, channel_shuffle; layer_norm,
group_norm, scale, rescaling, normalization; sometimes frozen with "trainable": false) and branches that merge again
through add, subtract, average, maximum, minimum, concat and multiply (equal shapes, or a squeeze-and-excite gate), and
SKNet's split attention, with every way of writing a setting (int or [h, w]; padding as int, pair, "same" or "valid";
pool stride given or defaulted), on non-square inputs of at most 16×16×4. Shapes are tracked here with the textbook
formulas, independently of convcalc.analysis, so that every layer has an output; with ``fit_exactly`` every stride
divides (no CC101). Depthwise and separable convs get equal strides on both axes: TensorFlow cannot build them otherwise
(see ``DEPTHWISE``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

MAX_PIXELS = 16
HOSTILE_NAMES = (
    "conv",
    "'\"); import os  # ",
    "line\nbreak",
    "__import__('os').system('touch PWNED')",
    "ﬁlter",
    "input!",  # sanitises to the Input layer's name
    "1st",
    "relu1",
    "CONV",  # collides with "conv" once case is ignored
    "\u202econv",
)
"""Spec names that are not identifiers, collide after sanitising, or try to be code (all distinct)."""
DEPTHWISE = ("depthwise", "separable")
"""Kinds TensorFlow cannot build with unequal strides (its depthwise kernels take one stride for both axes), so
they are drawn with equal ones; a later issue makes ``convcalc check`` report such a layer."""
ACTIVATIONS = ("relu", "relu6", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "swish", "silu")
ACTIVATIONS += ("hard_sigmoid", "hard_swish", "elu", "selu", "softplus", "mish", "log_softmax", "hard_tanh")
ACTIVATIONS += ("softsign", "log_sigmoid", "hard_shrink", "soft_shrink", "tanh_shrink", "celu")
PER_CHANNEL = ("layer_norm", "group_norm", "scale", "rescaling", "normalization", "prelu")
"""The kinds that keep the volume and act per channel (issue 13)."""

Shape = tuple[int, int, int]


def _written(height: int, width: int, draw: st.DrawFn) -> Any:
    """A per-axis value as a spec may write it: an int when square (sometimes [n, n]), else [h, w]."""
    if height == width and draw(st.booleans()):
        return height
    return [height, width]


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


@st.composite
def _axis_window(draw: st.DrawFn, size: int, pad: int, dilation: int, *, fit_exactly: bool) -> tuple[int, int]:
    """(F, S) along one axis of an input of ``size`` padded by ``pad``, with an output: d·(F − 1) + 1 ≤ W + 2P."""
    kernel = draw(st.integers(1, min(5, (size + 2 * pad - 1) // dilation + 1)))
    span = size + 2 * pad - (dilation * (kernel - 1) + 1)
    if dilation > 1:
        return kernel, 1  # TensorFlow does not combine a stride > 1 with a dilation > 1
    strides = [s for s in range(1, 4) if span % s == 0] if fit_exactly else list(range(1, 4))
    return kernel, draw(st.sampled_from(strides))


def _keras_builds_ceil(size: int, kernel: int, stride: int = 2) -> bool:
    """Whether Keras computes PyTorch's ceil-mode pool of one unpadded axis: the floor's size where ceil mode
    adds no window, else TensorFlow's "same" (ceil(W/S) windows, padding nothing before) when that is the ceil
    size (an explore run drew F = 4, S = 2 on 5 columns: "same" gives 3, ceil mode 2, which convcalc refuses)."""
    floor = (size - kernel) // stride + 1
    ceil = -(-(size - kernel) // stride) + 1
    ceil -= (ceil - 1) * stride >= size
    same = -(-size // stride)
    return ceil == floor or (same == ceil and max((same - 1) * stride + kernel - size, 0) // 2 == 0)


@st.composite
def window_layer(draw: st.DrawFn, shape: Shape, kind: str, fit_exactly: bool) -> dict[str, Any]:
    """A conv, depthwise, separable or pool layer that has an output on ``shape``."""
    height, width, depth = shape
    layer: dict[str, Any] = {"type": kind}
    if kind == "pool":
        layer["mode"] = draw(st.sampled_from(["max", "avg", "l2"]))
        if layer["mode"] != "l2" and draw(st.integers(0, 4)) == 0:  # adaptive: PyTorch's windows, any size
            # Keras's adaptive pools fail in TensorFlow where their wider window, ceil(W/out) + 1, passes the
            # input on either axis (max: SIGFPE; avg: once traced), unless out divides the input on both (then
            # convcalc exports an ordinary pool): CC108 otherwise.
            out = (draw(st.integers(1, height)), draw(st.integers(1, width)))
            fails = any(-(-size // o) + 1 > size for size, o in zip((height, width), out, strict=True))
            assume(not fails or (height % out[0] == 0 and width % out[1] == 0))
            return {**layer, "output": out[0] if out[0] == out[1] and draw(st.booleans()) else list(out)}
    dilation = (1, 1)
    if kind != "pool" and draw(st.integers(0, 4)) == 0:
        dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
        layer["dilation"] = _written(*dilation, draw)
    padding_form = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    if padding_form == "same":  # any window works: TensorFlow pads to ceil(W/S)
        kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        if dilation != (1, 1):
            stride = (1, 1)
        elif kind in DEPTHWISE:
            stride = (draw(st.integers(1, 3)),) * 2
        else:
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
        rows = draw(_axis_window(height, pads[0], dilation[0], fit_exactly=fit_exactly))
        cols = draw(_axis_window(width, pads[1], dilation[1], fit_exactly=fit_exactly))
        kernel, stride = (rows[0], cols[0]), (rows[1], cols[1])
        if dilation != (1, 1):
            stride = (1, 1)  # on both axes: TensorFlow combines no stride > 1 with any dilation > 1
        elif kind in DEPTHWISE and stride[0] != stride[1]:
            spans = [size + 2 * pad - k for size, pad, k in zip((height, width), pads, kernel, strict=True)]
            common = [s for s in range(1, 4) if not fit_exactly or all(span % s == 0 for span in spans)]
            stride = (draw(st.sampled_from(common)),) * 2
    # TensorFlow 2.21 aborts a SeparableConv2D with a 1×1 kernel on one channel in graph mode (oneDNN).
    assume(not (kind == "separable" and depth == 1 and kernel == (1, 1)))
    # Ceil mode (PyTorch's rounding) on an unpadded max or avg pool with S = 2 (GoogLeNet's, SqueezeNet's): the
    # last window hangs at most 1 pixel past the input, which Keras builds exactly ("same" padding).
    unpadded = padding_form == "valid" or (padding_form != "same" and pads == (0, 0))
    keras_can = all(_keras_builds_ceil(size, k) for size, k in zip((height, width), kernel, strict=True))
    if kind == "pool" and layer["mode"] != "l2" and unpadded and keras_can and draw(st.integers(0, 3)) == 0:
        stride = (2, 2)
        layer["ceil_mode"] = True
    layer["kernel"] = _written(*kernel, draw)
    # A pool's stride may be left out (it defaults to the kernel) when that is the stride drawn.
    if not (kind == "pool" and stride == kernel and draw(st.booleans())):
        layer["stride"] = _written(*stride, draw)
    if kind == "conv":
        groups = draw(st.sampled_from([g for g in (1, 1, 2, 3) if depth % g == 0]))
        layer["filters"] = groups * draw(st.integers(1, 3))
        if groups > 1:
            layer["groups"] = groups
    elif kind == "separable":
        layer["filters"] = draw(st.integers(1, 6))
    if kind in ("depthwise", "separable") and draw(st.booleans()):
        layer["multiplier"] = draw(st.integers(1, 2))
    if kind != "pool" and draw(st.booleans()):
        layer["bias"] = draw(st.booleans())
    return layer


@st.composite
def transpose_layer(draw: st.DrawFn, shape: Shape) -> dict[str, Any]:
    """A conv_transpose with an output on ``shape`` (small inputs only: it multiplies the size)."""
    layer: dict[str, Any] = {"type": "conv_transpose", "filters": draw(st.integers(1, 4))}
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    # No dilation: TensorFlow's Conv2DBackpropInput refuses one where oneDNN does not run it (CC108), so the
    # export refuses it everywhere.
    dilation = (1, 1)
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    effective = tuple(d * (f - 1) + 1 for f, d in zip(kernel, dilation, strict=True))
    layer["kernel"] = _written(*kernel, draw)
    layer["stride"] = _written(*stride, draw)
    if draw(st.booleans()):
        layer["padding"] = "same"
    else:
        # Padding may not eat the whole output: 2P < (W − 1)·S + F.
        pads = [
            draw(st.integers(0, max(0, ((size - 1) * s + f - 1) // 2)))
            for size, s, f in zip(shape[:2], stride, effective, strict=True)
        ]
        layer["padding"] = _written(pads[0], pads[1], draw)
    if draw(st.booleans()):
        extra = [draw(st.integers(0, s - 1)) for s in stride]
        layer["output_padding"] = extra
        # "same" with output_padding: Keras's size must be one TensorFlow accepts (an odd kernel or padding ≥ 1),
        # and non-empty.
        refused = layer["padding"] == "same" and any(f % 2 + p == 0 for f, p in zip(effective, extra, strict=True))
        if refused or 0 in output_shape(shape, layer):
            del layer["output_padding"]
    if draw(st.booleans()):
        layer["bias"] = draw(st.booleans())
    return layer


def output_shape(shape: Shape, layer: dict[str, Any], inputs: list[Shape] | None = None) -> Shape:
    """The textbook output volume of ``layer`` on ``shape`` (floored, as TensorFlow does)."""
    height, width, depth = shape
    kind = layer["type"]
    if kind == "reshape":
        return (layer["shape"][0], layer["shape"][1], layer["shape"][2])
    if kind == "pool" and "output" in layer:
        return (*_pair(layer["output"]), depth)
    if kind in ("conv", "depthwise", "separable", "pool"):
        dilation = _pair(layer.get("dilation", 1))
        kernel = tuple(d * (f - 1) + 1 for f, d in zip(_pair(layer["kernel"]), dilation, strict=True))
        stride = _pair(layer.get("stride", layer["kernel"] if kind == "pool" else 1))
        if kind in ("conv", "separable"):
            out_depth = layer["filters"]
        elif kind == "depthwise":
            out_depth = depth * layer.get("multiplier", 1)
        else:
            out_depth = depth
        if layer.get("padding") == "same":
            return (-(-height // stride[0]), -(-width // stride[1]), out_depth)
        pad = _pair(0 if layer.get("padding", 0) == "valid" else layer.get("padding", 0))
        if layer.get("ceil_mode"):
            # PyTorch: ceil((W + 2P − F)/S) + 1, less one when the last window would start at or past W + P.
            sizes = []
            for size, p, f, s in zip((height, width), pad, kernel, stride, strict=True):
                out = -(-(size + 2 * p - f) // s) + 1
                sizes.append(out - 1 if (out - 1) * s >= size + p else out)
            return (sizes[0], sizes[1], out_depth)
        return (
            (height + 2 * pad[0] - kernel[0]) // stride[0] + 1,
            (width + 2 * pad[1] - kernel[1]) // stride[1] + 1,
            out_depth,
        )
    if kind == "conv_transpose":
        dilation = _pair(layer.get("dilation", 1))
        kernel = tuple(d * (f - 1) + 1 for f, d in zip(_pair(layer["kernel"]), dilation, strict=True))
        stride = _pair(layer["stride"])
        extra = layer.get("output_padding")
        sizes = []
        for axis, size in enumerate((height, width)):
            if layer["padding"] == "same":
                same = size * stride[axis]
                sizes.append(same if extra is None else (size - 1) * stride[axis] + kernel[axis] % 2 + extra[axis])
            else:
                pad = _pair(layer["padding"])[axis]
                # Without output_padding, Keras's default: max(S − F, 0) (whole stride-sized cells).
                default = max(stride[axis] - kernel[axis], 0)
                sizes.append((size - 1) * stride[axis] + kernel[axis] - 2 * pad + (extra[axis] if extra else default))
        return (sizes[0], sizes[1], layer["filters"])
    if kind in ("zero_padding", "reflection_padding", "replication_padding", "circular_padding"):
        padding = layer["padding"]
        if isinstance(padding, list) and isinstance(padding[0], list):
            (top, bottom), (left, right) = padding
        else:
            (top, left) = _pair(padding)
            bottom, right = top, left
        return (height + top + bottom, width + left + right, depth)
    if kind == "upsample":
        if "size" in layer:
            return (layer["size"][0], layer["size"][1], depth)
        factor = _pair(layer["factor"])
        return (height * factor[0], width * factor[1], depth)
    if kind == "space_to_depth":
        r = layer["block"]
        return (height // r, width // r, depth * r * r)
    if kind == "depth_to_space":
        r = layer["block"]
        return (height * r, width * r, depth // (r * r))
    if kind == "cropping":
        (top, bottom), (left, right) = layer["crop"]
        return (height - top - bottom, width - left - right, depth)
    if kind == "split":
        if "parts" in layer:
            return (height, width, depth // layer["parts"])
        return (height, width, layer["stop"] - layer["start"])
    if kind in ("fc", "dense"):
        return (1, 1, layer["units"])
    if kind == "flatten":
        return (1, 1, height * width * depth)
    if kind == "global_pool":
        return (1, 1, depth)
    if kind == "concat":
        assert inputs is not None
        return (height, width, sum(s[2] for s in inputs))
    if kind == "multiply":
        assert inputs is not None
        return tuple(max(s[axis] for s in inputs) for axis in range(3))  # type: ignore[return-value]
    return shape  # relu, activation, batchnorm, dropout, add, and the other kinds that keep the volume


class _Spec:
    """A spec being drawn: its layers, the current tensor's shape, and unique names for the layers read."""

    def __init__(self, draw: st.DrawFn, shape: Shape) -> None:
        self.draw = draw
        self.layers: list[dict[str, Any]] = []
        self.shape = shape
        self.names: set[str] = set()
        self.counter = 0

    def name_last(self) -> str:
        """The name of the last layer, giving it one (sometimes a hostile one) when it has none."""
        if not self.layers:
            return "input"
        layer = self.layers[-1]
        if "name" not in layer:
            candidate = self.draw(st.sampled_from(HOSTILE_NAMES))
            if candidate in self.names or self.draw(st.booleans()):
                self.counter += 1
                candidate = f"n{self.counter}"
            layer["name"] = candidate
            self.names.add(candidate)
        return str(layer["name"])

    def add(self, layer: dict[str, Any], inputs: list[Shape] | None = None) -> None:
        if "name" not in layer and self.draw(st.integers(0, 4)) == 0:
            name = self.draw(st.sampled_from(HOSTILE_NAMES))
            if name not in self.names:
                layer["name"] = name
                self.names.add(name)
        self.layers.append(layer)
        self.shape = output_shape(self.shape, layer, inputs)


@st.composite
def random_layer(draw: st.DrawFn, shape: Shape, fit_exactly: bool) -> dict[str, Any]:
    """Any one-input layer with an output on ``shape``."""
    kinds = ["conv", "conv", "depthwise", "separable", "pool", "pool", "global_pool", "fc", "dense", "relu"]
    kinds += ["activation", "batchnorm", "dropout", "zero_padding", "flatten", *PER_CHANNEL]
    if max(shape[0], shape[1]) <= 8:
        kinds += ["conv_transpose", "conv_transpose", "upsample"]
    if max(shape[0], shape[1]) > 2:
        kinds.append("cropping")
    kinds += ["split", "channel_shuffle", "local_response_norm", "channel_conv", "global_response_norm", "reshape"]
    kinds.append("l2_normalize")
    if min(shape[0], shape[1]) > 1:
        kinds.append("reflection_padding")
    kinds += ["replication_padding", "circular_padding"]
    if _blocks(shape, "space_to_depth"):
        kinds.append("space_to_depth")
    if _blocks(shape, "depth_to_space"):
        kinds.append("depth_to_space")
    kind = draw(st.sampled_from(kinds))
    layer = draw(_any_plain_layer(shape, fit_exactly, kind))
    if draw(st.integers(0, 5)) == 0:
        layer["trainable"] = False
    return layer


@st.composite
def _per_channel_layer(draw: st.DrawFn, depth: int, kind: str) -> dict[str, Any]:
    """A layer_norm (over the depth or the volume), group_norm (groups dividing D), scale, rescaling,
    normalization or prelu on a depth of ``depth``."""
    layer: dict[str, Any] = {"type": kind}
    if kind in ("layer_norm", "group_norm"):
        for key in ("center", "scale"):
            if draw(st.booleans()):
                layer[key] = draw(st.booleans())
        if kind == "group_norm":
            layer["groups"] = draw(st.sampled_from([g for g in range(1, depth + 1) if depth % g == 0]))
        elif draw(st.booleans()):
            layer["over"] = draw(st.sampled_from(["depth", "volume"]))
    elif kind == "scale":
        if draw(st.booleans()):
            layer["init"] = draw(st.sampled_from([1e-6, 0.5, 1]))
        if draw(st.booleans()):
            layer["gammas"] = draw(st.sampled_from(["channel", "one"]))
        if draw(st.booleans()):
            layer["center"] = draw(st.booleans())
    elif kind == "prelu" and draw(st.booleans()):
        layer["slopes"] = draw(st.sampled_from(["channel", "one", "position"]))
    elif kind == "rescaling":
        layer["scale"] = draw(st.sampled_from([1 / 255, 2, [0.5 + c for c in range(depth)]]))
        if draw(st.booleans()):
            layer["offset"] = draw(st.sampled_from([-1, 0.25, [0.1 * c for c in range(depth)]]))
    elif kind == "normalization" and draw(st.booleans()):
        form = draw(st.booleans())
        layer["mean"] = 0.5 if form else [0.1 * c for c in range(depth)]
        layer["variance"] = 2.0 if form else [1 + c for c in range(depth)]
    return layer


@st.composite
def _any_plain_layer(draw: st.DrawFn, shape: Shape, fit_exactly: bool, kind: str) -> dict[str, Any]:
    if kind == "relu" and draw(st.booleans()):
        return {"type": "relu", "max_value": draw(st.sampled_from([0.5, 1, 6]))}
    if kind in PER_CHANNEL:
        return draw(_per_channel_layer(shape[2], kind))
    if kind in ("upsample", "cropping", "split", "channel_shuffle"):
        return draw(_plumbing_layer(shape, kind))
    if kind in ("space_to_depth", "depth_to_space"):
        layer = {"type": kind, "block": draw(st.sampled_from(_blocks(shape, kind)))}
        return {**layer, "order": draw(st.sampled_from(["dcr", "crd"]))} if draw(st.booleans()) else layer
    if kind in ("conv", "depthwise", "separable", "pool"):
        return draw(window_layer(shape, kind, fit_exactly))
    if kind == "conv_transpose":
        return draw(transpose_layer(shape))
    if kind in ("fc", "dense"):
        layer: dict[str, Any] = {"type": kind, "units": draw(st.integers(1, 12))}
        if draw(st.booleans()):
            layer["bias"] = draw(st.booleans())
        return layer
    if kind == "global_pool":
        return {"type": kind, "mode": draw(st.sampled_from(["avg", "max"]))}
    if kind == "reshape":  # the same values rearranged: the sizes in another order, or all of H and W in one row
        height, width, depth = shape
        return {
            "type": kind,
            "shape": draw(
                st.sampled_from([[width, height, depth], [depth, height, width], [1, height * width, depth]])
            ),
        }
    if kind == "activation":
        return draw(_activation())
    if kind == "batchnorm":
        return {"type": kind, "center": draw(st.booleans()), "scale": draw(st.booleans())}
    if kind == "dropout":
        return {"type": kind, "rate": draw(st.sampled_from([0.0, 0.25, 0.5]))}
    if kind == "channel_conv":  # kernels wider than the depth too: the zero padding past the ends
        return {"type": kind, "kernel": draw(st.sampled_from([1, 3, 5])), "bias": draw(st.booleans())}
    if kind == "global_response_norm":
        return {"type": kind, "epsilon": draw(st.sampled_from([1e-6, 0.5]))}
    if kind == "local_response_norm":  # sizes wider than the depth too: the sum sees zeros past the ends
        numbers = {"alpha": [1e-4, 0.5, 2], "beta": [0.75, 0.5, 1], "bias": [1, 2, 0.5]}
        layer = {"type": kind, "size": draw(st.sampled_from([1, 3, 5]))}
        return {
            **layer,
            **{key: draw(st.sampled_from(values)) for key, values in numbers.items() if draw(st.booleans())},
        }
    if kind == "reflection_padding":  # each side smaller than the side it mirrors
        most = min(shape[0], shape[1]) - 1
        return {"type": kind, "padding": [[draw(st.integers(0, min(2, most))) for _ in range(2)] for _ in range(2)]}
    if kind == "replication_padding":  # any side, wider than the volume too
        return {"type": kind, "padding": [[draw(st.integers(0, 3)) for _ in range(2)] for _ in range(2)]}
    if kind == "circular_padding":  # each side at most the side it wraps (the whole side too)
        sides = [[draw(st.integers(0, min(3, size))) for _ in range(2)] for size in shape[:2]]
        return {"type": kind, "padding": sides}
    if kind == "zero_padding":
        form = draw(st.sampled_from(["int", "pair", "sides"]))
        if form == "int":
            return {"type": kind, "padding": draw(st.integers(0, 2))}
        if form == "pair":
            return {"type": kind, "padding": [draw(st.integers(0, 2)), draw(st.integers(0, 2))]}
        return {"type": kind, "padding": [[draw(st.integers(0, 2)) for _ in range(2)] for _ in range(2)]}
    return {"type": kind}


def _blocks(shape: Shape, kind: str) -> list[int]:
    """The block sizes (2 or 3) a space_to_depth (dividing H and W) or depth_to_space (r² dividing D) fits."""
    height, width, depth = shape
    if kind == "space_to_depth":
        return [r for r in (2, 3) if height % r == 0 and width % r == 0]
    return [r for r in (2, 3) if depth % (r * r) == 0 and max(height, width) * r <= 16]


@st.composite
def _plumbing_layer(draw: st.DrawFn, shape: Shape, kind: str) -> dict[str, Any]:
    """An upsample, cropping, split or channel_shuffle that fits ``shape`` (no CC111, CC112, CC113)."""
    height, width, depth = shape
    interpolation = draw(st.sampled_from(["nearest", "bilinear", "corners", None]))
    if kind == "upsample":
        if draw(st.booleans()):
            layer: dict[str, Any] = {
                "type": kind,
                "factor": _written(draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw),
            }
        else:
            layer = {"type": kind, "size": [draw(st.integers(1, 16)), draw(st.integers(1, 16))]}
        if interpolation == "corners":  # PyTorch's align_corners=True: convcalc's registered Keras layer
            layer["align_corners"], interpolation = True, "bilinear"
        return layer if interpolation is None else {**layer, "interpolation": interpolation}
    if kind == "cropping":
        rows = [draw(st.integers(0, (height - 1) // 2)) for _ in range(2)]
        cols = [draw(st.integers(0, (width - 1) // 2)) for _ in range(2)]
        return {"type": kind, "crop": [rows, cols]}
    if kind == "split":
        if draw(st.booleans()):
            parts = draw(st.sampled_from([p for p in range(1, 5) if depth % p == 0]))
            return {"type": kind, "parts": parts, "part": draw(st.integers(0, parts - 1))}
        start = draw(st.integers(0, depth - 1))
        return {"type": kind, "start": start, "stop": draw(st.integers(start + 1, depth))}
    return {"type": kind, "groups": draw(st.sampled_from([g for g in range(1, 5) if depth % g == 0]))}


@st.composite
def _shape_keeping_layer(draw: st.DrawFn, shape: Shape, keep_depth: bool) -> dict[str, Any]:
    """A layer whose output has the same H×W as ``shape`` (and the same depth when ``keep_depth``)."""
    height, width, depth = shape
    options = ["relu", "activation", "batchnorm", "dropout", "conv", *PER_CHANNEL]
    if (height, width) == (1, 1):
        options.append("fc")
    kind = draw(st.sampled_from(options))
    if kind == "conv":
        layer = {"type": "conv", "kernel": draw(st.integers(1, 3)), "padding": "same"}
        layer["filters"] = depth if keep_depth else draw(st.integers(1, 5))
        return layer
    if kind == "fc":
        return {"type": "fc", "units": depth if keep_depth else draw(st.integers(1, 6))}
    if kind == "activation":
        return draw(_activation())
    if kind in PER_CHANNEL:
        return draw(_per_channel_layer(depth, kind))
    return {"type": kind}


@st.composite
def _activation(draw: st.DrawFn) -> dict[str, Any]:
    """An activation of any kind; a leaky_relu sometimes with a slope of its own."""
    layer = {"type": "activation", "kind": draw(st.sampled_from(ACTIVATIONS))}
    if layer["kind"] == "leaky_relu" and draw(st.booleans()):
        layer["slope"] = draw(st.sampled_from([0.0, 0.01, 0.3]))
    return layer


@st.composite
def _branch_block(draw: st.DrawFn, spec: _Spec) -> None:
    """Branches from the current tensor that meet again in an add, a subtract (two; same shape), an average, a
    maximum or a minimum (same shape), a concat (same H×W) or a multiply."""
    merges = ["add", "subtract", "average", "maximum", "minimum", "concat", "multiply", "split_attention"]
    merge = draw(st.sampled_from(merges))
    source_shape = spec.shape
    source = spec.name_last()
    ends = []
    if merge == "split_attention":
        draw(_selective_kernel(spec, source, source_shape))
        return
    if merge == "multiply" and draw(st.booleans()):
        # Squeeze-and-excite: a 1×1×D gate (flat in Keras) scales every position of the volume.
        spec.add({"type": "global_pool", "mode": "avg", "inputs": [source]})
        spec.add({"type": "fc", "units": source_shape[2]})
        spec.add({"type": "activation", "kind": "sigmoid"})
        gate = spec.name_last()
        spec.shape = source_shape
        spec.add(
            {"type": merge, "inputs": draw(st.permutations([source, gate]))}, [source_shape, (1, 1, source_shape[2])]
        )
        return
    for branch in range(2 if merge == "subtract" else draw(st.integers(2, 3))):
        length = draw(st.integers(0 if branch else 1, 2))
        if length == 0:
            ends.append((source, source_shape))
            continue
        spec.shape = source_shape
        for step in range(length):
            layer = draw(_shape_keeping_layer(spec.shape, keep_depth=merge != "concat"))
            if step == 0:
                layer["inputs"] = [source]
            spec.add(layer)
        ends.append((spec.name_last(), spec.shape))
    spec.shape = source_shape
    spec.add({"type": merge, "inputs": [name for name, _ in ends]}, [shape for _, shape in ends])


@st.composite
def _selective_kernel(draw: st.DrawFn, spec: _Spec, source: str, source_shape: Shape) -> None:
    """SKNet's block: r branches of the source's shape, their sum pooled to r·D logits (an fc or a 1×1 conv), and
    a split_attention of the branches side by side (a concat) in a layout of g groups."""
    radix, depth = draw(st.integers(2, 3)), source_shape[2]
    ends = []
    for _ in range(radix):
        spec.shape = source_shape
        spec.add({**draw(_shape_keeping_layer(source_shape, keep_depth=True)), "inputs": [source]})
        ends.append(spec.name_last())
    spec.shape = source_shape
    spec.add({"type": "add", "inputs": ends}, [source_shape] * radix)
    spec.add({"type": "global_pool", "mode": "avg"})
    spec.add(
        draw(
            st.sampled_from(
                [{"type": "fc", "units": radix * depth}, {"type": "conv", "filters": radix * depth, "kernel": 1}]
            )
        )
    )
    logits = spec.name_last()
    spec.shape = source_shape
    spec.add({"type": "concat", "inputs": ends}, [source_shape] * radix)
    features = spec.name_last()
    groups = draw(st.sampled_from([g for g in range(1, depth + 1) if depth % g == 0]))
    spec.shape = source_shape  # the split attention's output: the branches' shape
    spec.add({"type": "split_attention", "radix": radix, "groups": groups, "inputs": [features, logits]})


@st.composite
def buildable_specs(draw: st.DrawFn, *, fit_exactly: bool = True, max_steps: int = 5) -> dict[str, Any]:
    """A spec with an output at every layer and no dead ends; with ``fit_exactly`` no window leaves a remainder."""
    shape = (draw(st.integers(1, MAX_PIXELS)), draw(st.integers(1, MAX_PIXELS)), draw(st.integers(1, 4)))
    spec = _Spec(draw, shape)
    for _ in range(draw(st.integers(1, max_steps))):
        if draw(st.integers(0, 4)) == 0:
            draw(_branch_block(spec))
        else:
            spec.add(draw(random_layer(spec.shape, fit_exactly)))
    result: dict[str, Any] = {"input": list(shape), "layers": spec.layers}
    if draw(st.booleans()):
        # A classifier: end in fc, or in a conv over the whole volume (the FC ⇔ CONV equivalence).
        classes = draw(st.integers(2, 10))
        if draw(st.booleans()):
            spec.add({"type": "fc", "units": classes})
        else:
            spec.add({"type": "conv", "filters": classes, "kernel": [spec.shape[0], spec.shape[1]]})
        result["classes"] = classes
    if draw(st.booleans()):
        result["name"] = draw(st.sampled_from(["random net", "ﬁlter-net", "x'); import os #"]))
    return result
