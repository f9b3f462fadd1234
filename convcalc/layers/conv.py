"""Convolutions with a sliding window: ``conv`` (grouped, dilated), ``depthwise`` and ``separable``.

Shapes: (W − F_eff + 2P)/S + 1 per axis with F_eff = d·(F − 1) + 1 (see ``arithmetic.conv_output_size``).
Weights: conv (F·F·D/groups)·K; depthwise F·F·D·m; separable F·F·D·m + D·m·K. MACs: every weight once per
output position. Keras: ``Conv2D``, ``DepthwiseConv2D``, ``SeparableConv2D``; tf.nn: ``conv2d`` (or
``convolution`` when dilated, per group when grouped), ``depthwise_conv2d``, ``separable_conv2d``.
"""

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from convcalc import arithmetic as ar
from convcalc.layers.base import BuildProblem, Computed, PerChannel, Traits
from convcalc.layers.elementwise import fused_activation
from convcalc.layers.fields import Padding, PositiveInt, PositivePair, StrictBool
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Reader, Tensor, bias_args, compact, volume_of
from convcalc.layers.onnx import GAIN_INPUT, OnnxMapped, OnnxNode
from convcalc.layers.pytorch import TorchOps, TorchShape, TorchStep, chw, symmetric, tuple_text
from convcalc.layers.tfnn import (
    KerasOp,
    bias_variable,
    glorot,
    list_notation,
    nhwc,
    variable,
    weight,
)
from convcalc.layers.volume import Shape, Window, resolve_window
from convcalc.layers.windowed import (
    WindowedLayer,
    dilated_and_strided,
    keras_padding,
    keras_window_fields,
    window_notation,
)
from convcalc.pysource import identifier

CONV_TRAITS = Traits(
    weighted=True,
    convolution=True,
    mixes_channels=True,
    keeps_shape=False,
    merge=False,
    whole_input=False,
    pooling=False,
)


class _SlidingConv(WindowedLayer):
    """The family base of the three: one window of learned filters; never a nonlinearity."""

    drawing = "volume"

    def is_nonlinear(self) -> bool:
        return False

    def caption(self) -> str:
        return self.kind_name


def _reader(kind: str, filters: bool, optional: str, field: str) -> Reader:
    """A Keras reader of a conv-like layer: its window, its filters when it has them, one optional setting
    (``groups``, ``depth_multiplier`` → ``multiplier``) when not 1, the bias and a fused activation."""

    def read(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
        body: dict[str, object] = {"type": kind}
        if filters:
            body["filters"] = layer.config.get("filters")
        body.update(keras_window_fields(layer, sources[0]))
        value = layer.config.get(optional, 1)
        if value != 1:
            body[field] = value
        return Mapped([layer.with_bias(body), *fused_activation(layer)], 4)

    return read


def torch_conv(
    ops: TorchOps,
    name: str,
    window: Window,
    out_channels: int,
    output: TorchShape,
    *,
    groups: int = 1,
    bias: bool = True,
    padded: bool = True,
) -> TorchStep:
    """An ``nn.Conv2d`` on the current tensor with the window's kernel, stride and dilation: symmetric padding
    as its ``padding=``, any other (Keras's "same" with an even kernel) as an ``nn.ZeroPad2d`` in front."""
    in_channels = ops.volume()[0]
    args = [f"{in_channels}", f"{out_channels}", f"kernel_size={tuple_text(window.kernel)}"]
    if window.stride != (1, 1):
        args.append(f"stride={tuple_text(window.stride)}")
    pads = symmetric(window.padding) if padded else (0, 0)
    if pads is None:
        ops.zero_pad(window.padding)
    elif pads != (0, 0):
        args.append(f"padding={tuple_text(pads)}")
    if window.dilation != (1, 1):
        args.append(f"dilation={tuple_text(window.dilation)}")
    if groups != 1:
        args.append(f"groups={groups}")
    if not bias:
        args.append("bias=False")
    weight = (out_channels, in_channels // groups, *window.kernel)
    return ops.module(name, f"nn.Conv2d({', '.join(args)})", output, (weight,))


def _notation(window: Window | None, bias: bool, *extras: str) -> str:
    return " ".join([*window_notation(window), *extras, *([] if bias else ["no-bias"])])


# --- conv --------------------------------------------------------------------------------------------------


def _conv2d(op: Op, read: list[str], padding: str) -> str:
    """tf.nn.conv2d, or tf.nn.convolution when dilated, per group when grouped."""
    x = read[0]
    strides = list_notation(nhwc(op.pair("strides")))
    dilation = op.pair("dilation_rate", (1, 1))
    groups = op.integer("groups", 1)

    def one(part: str, kernel: str) -> str:
        if dilation != (1, 1):
            # TensorFlow's CPU conv2d has no gradient for dilations > 1; tf.nn.convolution (what Keras calls) has.
            dilations = list_notation(dilation)
            return f"tf.nn.convolution({part}, {kernel}, strides=1, padding={padding}, dilations={dilations})"
        return f"tf.nn.conv2d({part}, {kernel}, strides={strides}, padding={padding})"

    if groups == 1:
        return one(x, weight(op))
    # Grouped: each of the g groups of D/g channels meets its own K/g filters (CPU conv2d has no grouped gradient).
    parts = f"zip(tf.split({x}, {groups}, axis=3), tf.split({weight(op)}, {groups}, axis=3))"
    return f"tf.concat([{one('part', 'kernel')} for part, kernel in {parts}], axis=3)"


def _conv2d_variables(op: Op, shape: Shape) -> list[str]:
    kernel_h, kernel_w = op.pair("kernel_size")
    area, depth = kernel_h * kernel_w, shape.depth
    groups, units = op.integer("groups", 1), op.integer("filters")
    kernel = (kernel_h, kernel_w, depth // groups, units)
    initial = glorot(kernel, area * depth // groups, area * units)
    return [variable(identifier(op.name), "kernel", initial, "[F, F, D/groups, K]"), *bias_variable(op, units)]


def _read_onnx_conv(node: OnnxNode) -> OnnxMapped:
    """ONNX Conv, weight [K, D/groups, F, F]: a conv, or a depthwise one when each group reads one channel;
    asymmetric pads become a padding layer in front. The bias counts only when the file stores one (the dynamo
    exporter's unoptimised graphs compute an all-zero bias for a conv without one: no parameter). A 1-D Conv of
    the channels as steps is ECA's channel_conv. A fourth input is a learned gain per filter, which convcalc's
    ONNX import gives a Conv whose weight a weight standardisation scales (NFNets): a ``scale`` after it."""
    # Imported on use: a check imports only the kinds its spec uses (see convcalc.layers).
    from convcalc.layers.channel_conv import CHANNEL_STEPS, read_onnx_channel_conv
    from convcalc.layers.padding import onnx_window_padding

    if node.source().layout == CHANNEL_STEPS:
        return read_onnx_channel_conv(node)
    node.needs_volume()
    filters, per_group, *kernel_dims = node.weight(1, "weight", 4)
    kernel = node.spatial("kernel_shape", 0) if "kernel_shape" in node.attributes else (kernel_dims[0], kernel_dims[1])
    stride, dilation = node.spatial("strides", 1), node.spatial("dilations", 1)
    groups = node.integer("group", 1)
    padding, pad_layer = onnx_window_padding(node, kernel, stride, dilation)
    body: dict[str, object] = {"type": "conv", "filters": filters}
    if groups > 1 and per_group == 1:
        if filters % groups:
            raise node.refuse(f"{filters} filters in {groups} groups of one channel: not a whole depth multiplier")
        body = {"type": "depthwise"}
        if filters != groups:
            body["multiplier"] = filters // groups
    body["kernel"] = compact(kernel)
    if stride != (1, 1):
        body["stride"] = compact(stride)
    body["padding"] = padding
    if dilation != (1, 1):
        body["dilation"] = compact(dilation)
    if groups > 1 and body["type"] == "conv":
        body["groups"] = groups
    if not node.is_stored(2):
        body["bias"] = False
    layers = [body] if pad_layer is None else [pad_layer, body]
    main = len(layers) - 1
    if len(node.inputs) > 3 and (len(node.inputs) > 4 or node.integer(GAIN_INPUT, 0) != 1):
        raise node.refuse(f"{len(node.inputs)} inputs: ONNX's Conv has an input, a weight and a bias")
    if len(node.inputs) > 3 and node.inputs[3] is not None:
        layers.append({"type": "scale", "init": 1.0})
    return OnnxMapped(layers, 4, weights=(1, 2, 3), main=main)


class Conv(_SlidingConv):
    """A convolution: K filters of F×F×(D/groups), stride S, zero-padding P, dilation d."""

    type: Literal["conv"]
    filters: PositiveInt = Field(description="K, the number of filters (output depth).")
    kernel: PositivePair = Field(description="F, the spatial extent: int or [h, w].")
    stride: PositivePair = Field(default=(1, 1), description="S: int or [h, w].")
    padding: Padding = Field(default=(0, 0), description='P: int, [h, w], "valid" (= 0) or "same".')
    bias: StrictBool = Field(default=True, description="Whether each filter has a bias.")
    dilation: PositivePair = Field(default=(1, 1), description="d: the effective kernel is d·(F − 1) + 1.")
    groups: PositiveInt = Field(default=1, description="Grouped convolution: D and K must both divide by it.")

    kind_name = "conv"
    example = {"type": "conv", "filters": 8, "kernel": 3, "padding": 1}
    traits = CONV_TRAITS
    keras_readers = {"Conv2D": _reader("conv", True, "groups", "groups")}
    onnx_readers = {"Conv": _read_onnx_conv}
    spelled_elsewhere = {"conv2d": '"type": "conv"', "convolution": '"type": "conv"', "convolution2d": '"type": "conv"'}
    keras_ops = {
        "Conv2D": KerasOp(
            _conv2d,
            _conv2d_variables,
            biased=True,
            # A plain conv hands explicit padding to tf.nn.conv2d; grouped and dilated ones get a tf.pad first.
            takes_explicit_padding=lambda op: "dilation_rate" not in op.kwargs and "groups" not in op.kwargs,
        )
    }

    def per_channel_filters(self, depth: int) -> PerChannel:
        # One group per channel: each filter reads one channel, as a depthwise conv's does (Keras's ConvNeXt).
        return "all" if self.groups == depth > 1 else "none"

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        window = resolve_window(self.kernel, self.stride, self.padding, shape, self.dilation)
        out = window.output(self.filters)
        per_group = shape.depth // self.groups  # a non-dividing group count is CC104's; count what TF cannot build
        fh, fw = self.kernel
        weights = ar.conv_weights(fh, fw, per_group, self.filters)
        return Computed(
            out,
            window,
            weights=weights,
            biases=self.filters if self.bias else 0,
            macs=ar.shared_weight_macs(out.height * out.width, weights),
            unshared=ar.unshared_conv_params(out.height, out.width, fh, fw, per_group, self.filters, self.bias),
            connectivity=Shape(fh, fw, per_group),
        )

    def notation(self, window: Window | None) -> str:
        groups = [f"groups={self.groups}"] if self.groups > 1 else []
        return _notation(window, self.bias, f"K={self.filters}", *groups)

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        assert window is not None
        padding = keras_padding(ops, window)
        args: dict[str, object] = {"filters": self.filters, "kernel_size": self.kernel, "strides": self.stride}
        args["padding"] = padding
        if self.groups != 1:
            args["groups"] = self.groups
        if self.dilation != (1, 1):
            args["dilation_rate"] = self.dilation
        return ops.add("Conv2D", ops.base, volume_of(output), **args, **bias_args(self.bias))  # type: ignore[arg-type]

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        assert window is not None
        return torch_conv(ops, ops.base, window, self.filters, chw(output), groups=self.groups, bias=self.bias)

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ((*self.kernel, shape.depth // self.groups, self.filters),)

    def tensorflow_problem(self, shape: Shape, output: Shape) -> BuildProblem | None:
        return dilated_and_strided(self.stride, self.dilation)


def _equal_strides(stride: tuple[int, int]) -> BuildProblem | None:
    """TensorFlow's per-channel kernel (DepthwiseConv2dNative's Eigen one, where oneDNN is not used) takes one
    stride for both axes."""
    if stride[0] != stride[1]:
        low, high = min(stride), max(stride)
        return BuildProblem(
            f"strides {stride[0]}×{stride[1]}: TensorFlow's depthwise convolution supports only equal strides on"
            ' rows and columns ("Current implementation only supports equal length strides"; builds that route'
            " it through oneDNN run it, others refuse)",
            ({"stride": high}, {"stride": low}),
        )
    return None


# --- depthwise ---------------------------------------------------------------------------------------------


def _depthwise_conv2d(op: Op, read: list[str], padding: str) -> str:
    strides = list_notation(nhwc(op.pair("strides")))
    dilations = list_notation(op.pair("dilation_rate", (1, 1)))
    return (
        f"tf.nn.depthwise_conv2d({read[0]}, {weight(op)}, strides={strides}, padding={padding}, dilations={dilations})"
    )


def _depthwise_variables(op: Op, shape: Shape) -> list[str]:
    kernel_h, kernel_w = op.pair("kernel_size")
    area, depth = kernel_h * kernel_w, shape.depth
    multiplier = op.integer("depth_multiplier", 1)
    kernel = (kernel_h, kernel_w, depth, multiplier)
    return [
        variable(identifier(op.name), "kernel", glorot(kernel, area * depth, area * multiplier), "[F, F, D, m]"),
        *bias_variable(op, depth * multiplier),
    ]


class Depthwise(_SlidingConv):
    """A depthwise convolution: one F×F filter per input channel (times a depth multiplier)."""

    type: Literal["depthwise"]
    kernel: PositivePair
    stride: PositivePair = (1, 1)
    padding: Padding = (0, 0)
    dilation: PositivePair = (1, 1)
    multiplier: PositiveInt = Field(default=1, description="Depth multiplier m: the output depth is D·m.")
    bias: StrictBool = True

    kind_name = "depthwise"
    example = {"type": "depthwise", "kernel": 3, "padding": 1}
    traits = Traits(
        weighted=True,
        convolution=True,
        mixes_channels=False,
        keeps_shape=False,
        merge=False,
        whole_input=False,
        pooling=False,
    )
    keras_readers = {"DepthwiseConv2D": _reader("depthwise", False, "depth_multiplier", "multiplier")}
    spelled_elsewhere = {"depthwiseconv2d": '"type": "depthwise"', "dwconv": '"type": "depthwise"'}
    keras_ops = {"DepthwiseConv2D": KerasOp(_depthwise_conv2d, _depthwise_variables, biased=True)}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        window = resolve_window(self.kernel, self.stride, self.padding, shape, self.dilation)
        mid = shape.depth * self.multiplier
        weights = ar.depthwise_weights(self.kernel[0], self.kernel[1], shape.depth, self.multiplier)
        positions = window.rows.size * window.cols.size
        return Computed(
            window.output(mid),
            window,
            weights,
            mid if self.bias else 0,
            macs=ar.shared_weight_macs(positions, weights),
        )

    def notation(self, window: Window | None) -> str:
        return _notation(window, self.bias, f"m={self.multiplier}")

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        assert window is not None
        padding = keras_padding(ops, window)
        args: dict[str, object] = {"kernel_size": self.kernel, "strides": self.stride, "padding": padding}
        if self.dilation != (1, 1):
            args["dilation_rate"] = self.dilation
        if self.multiplier != 1:
            args["depth_multiplier"] = self.multiplier
        return ops.add("DepthwiseConv2D", ops.base, volume_of(output), **args, **bias_args(self.bias))  # type: ignore[arg-type]

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        assert window is not None
        depth = ops.volume()[0]  # one group per input channel: [D·m, 1, F, F]
        return torch_conv(ops, ops.base, window, depth * self.multiplier, chw(output), groups=depth, bias=self.bias)

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ((*self.kernel, shape.depth, self.multiplier),)

    def tensorflow_problem(self, shape: Shape, output: Shape) -> BuildProblem | None:
        return dilated_and_strided(self.stride, self.dilation) or _equal_strides(self.stride)


# --- separable ---------------------------------------------------------------------------------------------


def _separable_conv2d(op: Op, read: list[str], padding: str) -> str:
    name = identifier(op.name)
    strides = list_notation(nhwc(op.pair("strides")))
    dilations = list_notation(op.pair("dilation_rate", (1, 1)))
    return (
        f"tf.nn.separable_conv2d({read[0]}, self.{name}_depthwise_kernel, self.{name}_pointwise_kernel,"
        f" strides={strides}, padding={padding}, dilations={dilations})"
    )


def _separable_variables(op: Op, shape: Shape) -> list[str]:
    name = identifier(op.name)
    kernel_h, kernel_w = op.pair("kernel_size")
    area, depth = kernel_h * kernel_w, shape.depth
    multiplier, units = op.integer("depth_multiplier", 1), op.integer("filters")
    depthwise = (kernel_h, kernel_w, depth, multiplier)
    pointwise = (1, 1, depth * multiplier, units)
    return [
        variable(name, "depthwise_kernel", glorot(depthwise, area * depth, area * multiplier), "[F, F, D, m]"),
        variable(name, "pointwise_kernel", glorot(pointwise, depth * multiplier, units), "[1, 1, D·m, K]"),
        *bias_variable(op, units),
    ]


class Separable(_SlidingConv):
    """A depthwise-separable convolution: depthwise F×F (multiplier m), then a 1×1 conv to K filters."""

    type: Literal["separable"]
    filters: PositiveInt
    kernel: PositivePair
    stride: PositivePair = (1, 1)
    padding: Padding = (0, 0)
    dilation: PositivePair = (1, 1)
    multiplier: PositiveInt = 1
    bias: StrictBool = True

    kind_name = "separable"
    example = {"type": "separable", "filters": 8, "kernel": 3, "padding": 1}
    traits = CONV_TRAITS
    keras_readers = {"SeparableConv2D": _reader("separable", True, "depth_multiplier", "multiplier")}
    spelled_elsewhere = {"separableconv2d": '"type": "separable"', "sepconv": '"type": "separable"'}
    keras_ops = {"SeparableConv2D": KerasOp(_separable_conv2d, _separable_variables, biased=True)}

    def per_channel_filters(self, depth: int) -> PerChannel:
        return "first"  # the per-channel F×F, then the 1×1 that mixes the channels

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        window = resolve_window(self.kernel, self.stride, self.padding, shape, self.dilation)
        weights = ar.separable_weights(self.kernel[0], self.kernel[1], shape.depth, self.multiplier, self.filters)
        positions = window.rows.size * window.cols.size
        return Computed(
            window.output(self.filters),
            window,
            weights,
            self.filters if self.bias else 0,
            macs=ar.shared_weight_macs(positions, weights),
        )

    def notation(self, window: Window | None) -> str:
        return _notation(window, self.bias, f"m={self.multiplier}", f"K={self.filters}")

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        assert window is not None
        padding = keras_padding(ops, window)
        args: dict[str, object] = {"filters": self.filters, "kernel_size": self.kernel, "strides": self.stride}
        args["padding"] = padding
        if self.dilation != (1, 1):
            args["dilation_rate"] = self.dilation
        if self.multiplier != 1:
            args["depth_multiplier"] = self.multiplier
        return ops.add("SeparableConv2D", ops.base, volume_of(output), **args, **bias_args(self.bias))  # type: ignore[arg-type]

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        assert window is not None
        depth = ops.volume()[0]
        mid = depth * self.multiplier
        # Keras's SeparableConv2D: the depthwise step without a bias, then the 1×1 conv that holds the bias.
        torch_conv(
            ops, ops.helper("depthwise"), window, mid, (mid, output.height, output.width), groups=depth, bias=False
        )
        pointwise = ops.volume()
        return ops.module(
            ops.base,
            f"nn.Conv2d({mid}, {self.filters}, kernel_size=1{'' if self.bias else ', bias=False'})",
            chw(output),
            ((self.filters, pointwise[0], 1, 1),),
        )

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        depth = shape.depth
        return ((*self.kernel, depth, self.multiplier), (1, 1, depth * self.multiplier, self.filters))

    def tensorflow_problem(self, shape: Shape, output: Shape) -> BuildProblem | None:
        return dilated_and_strided(self.stride, self.dilation) or _equal_strides(self.stride)
