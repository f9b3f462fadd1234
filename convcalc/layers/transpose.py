"""The transposed convolution: ``conv_transpose`` (learned upsampling).

Shape per axis: (W − 1)·S + F − 2P + output_padding (``arithmetic.transpose_output_size``), F the dilated
extent; ``"same"`` gives W·S (Keras' rule); without output_padding a kernel smaller than the stride counts as
max(F, S), as Keras builds it. Weights F·F·D·K + K; MACs: every weight once per *input* position. Keras:
``Conv2DTranspose`` with an explicit ``output_padding`` and, for a padding P, ``Cropping2D(P)`` (the cropping
kind's); tf.nn:
``tf.nn.conv2d_transpose``.
"""

from collections.abc import Sequence
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field, PlainValidator, WithJsonSchema

from convcalc import arithmetic as ar
from convcalc.layers.base import BuildProblem, Computed, DiagramWindow, FieldPair, LayerSpec, widest
from convcalc.layers.conv import CONV_TRAITS
from convcalc.layers.elementwise import fused_activation
from convcalc.layers.fields import (
    JSON_ARRAY,
    NON_NEGATIVE_PAIR_SCHEMA,
    Padding,
    Pair,
    PositiveInt,
    PositivePair,
    StrictBool,
    strict_pair,
)
from convcalc.layers.keras import ArgValue, KerasLayer, KerasOps, Mapped, Op, Tensor, bias_args, compact, volume_of
from convcalc.layers.onnx import OnnxMapped, OnnxNode
from convcalc.layers.pytorch import TorchOps, TorchStep, tuple_text
from convcalc.layers.tfnn import KerasOp, bias_variable, glorot, list_notation, nhwc, variable, weight
from convcalc.layers.volume import Padding as Sides
from convcalc.layers.volume import Shape, Window
from convcalc.layers.windowed import keras_window_fields
from convcalc.pysource import identifier
from convcalc.text import pair_text


def _output_padding(value: object) -> Pair:
    return strict_pair(value, 0)


OutputPadding = Annotated[Pair, PlainValidator(_output_padding), JSON_ARRAY, WithJsonSchema(NON_NEGATIVE_PAIR_SCHEMA)]


def _tf_conv2d_transpose(op: Op, read: list[str], padding: str) -> str:
    x = read[0]
    output_shape = f"[tf.shape({x})[0], {', '.join(str(size) for size in op.output)}]"
    strides = list_notation(nhwc(op.pair("strides")))
    dilations = list_notation(nhwc(op.pair("dilation_rate", (1, 1))))
    return (
        f"tf.nn.conv2d_transpose({x}, {weight(op)}, output_shape={output_shape}, strides={strides},"
        f" padding={padding}, dilations={dilations})"
    )


def _transpose_variables(op: Op, shape: Shape) -> list[str]:
    kernel_h, kernel_w = op.pair("kernel_size")
    area, depth, units = kernel_h * kernel_w, shape.depth, op.integer("filters")
    kernel = (kernel_h, kernel_w, units, depth)
    return [
        variable(identifier(op.name), "kernel", glorot(kernel, area * units, area * depth), "[F, F, K, D]"),
        *bias_variable(op, units),
    ]


def _read_conv_transpose(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    body = {"type": "conv_transpose", "filters": layer.config.get("filters"), **keras_window_fields(layer, sources[0])}
    if layer.config.get("output_padding") is not None:
        body["output_padding"] = compact(layer.pair("output_padding"))
    elif body["padding"] == "valid":
        # Keras' default output_padding for "valid" makes the size (W − 1)·S + max(F, S): spell it out so
        # the spec says exactly what Keras builds when the (dilated) kernel is smaller than the stride.
        kernel, stride, dilation = layer.pair("kernel_size"), layer.pair("strides", 1), layer.pair("dilation_rate", 1)
        effective = [d * (f - 1) + 1 for f, d in zip(kernel, dilation, strict=True)]
        output_padding = tuple(max(s - e, 0) for s, e in zip(stride, effective, strict=True))
        if any(output_padding):
            body["output_padding"] = list(output_padding)
    return Mapped([layer.with_bias(body), *fused_activation(layer)], 4)


def _read_onnx_conv_transpose(node: OnnxNode) -> OnnxMapped:
    """ONNX ConvTranspose, weight [D, K, F, F]: pads the same on both sides of an axis (or an ``output_shape``
    or ``auto_pad`` that comes to that), with its output_padding written out (ONNX's default is 0, not Keras'
    max(F, S) rule)."""
    node.needs_volume()
    _, filters, *kernel_dims = node.weight(1, "weight", 4)
    if node.integer("group", 1) != 1:
        raise node.refuse(f"group {node.attributes['group']}: convcalc's conv_transpose has no groups")
    kernel = node.spatial("kernel_shape", 0) if "kernel_shape" in node.attributes else (kernel_dims[0], kernel_dims[1])
    stride, dilation = node.spatial("strides", 1), node.spatial("dilations", 1)
    output_padding = node.spatial("output_padding", 0)
    auto_pad = node.text("auto_pad", "NOTSET")
    body: dict[str, object] = {"type": "conv_transpose", "filters": filters, "kernel": compact(kernel)}
    if stride != (1, 1):
        body["stride"] = compact(stride)
    if dilation != (1, 1):
        body["dilation"] = compact(dilation)
    target = node.integers("output_shape")
    if target is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        sizes = node.input_size()
        if target is None:
            target = [size * s for size, s in zip(sizes, stride, strict=True)]
        if len(target) != 2:
            raise node.refuse(f"output_shape {target}: convcalc models 2-D layers (two sizes)")
        sides = []
        for size, f, s, d, extra, out in zip(sizes, kernel, stride, dilation, output_padding, target, strict=True):
            total = s * (size - 1) + extra + d * (f - 1) + 1 - out
            sides.append(
                (total - total // 2, total // 2) if auto_pad == "SAME_LOWER" else (total // 2, total - total // 2)
            )
        (top, bottom), (left, right) = sides
    elif auto_pad == "VALID":
        top = bottom = left = right = 0
    else:
        pads = node.integers("pads", [0, 0, 0, 0])
        assert pads is not None
        if len(pads) != 4:
            raise node.refuse(f"pads {pads}: convcalc models 2-D layers ([top, left, bottom, right])")
        top, left, bottom, right = pads
    if (top, left) != (bottom, right) or min(top, left) < 0:
        raise node.refuse(
            f"crops {top} and {bottom} rows, {left} and {right} columns: convcalc's conv_transpose crops the same"
            " on both sides of an axis"
        )
    body["padding"] = compact((top, left))
    body["output_padding"] = compact(output_padding)
    if not node.is_stored(2):
        body["bias"] = False
    return OnnxMapped([body], 4, weights=(1, 2))


class ConvTranspose(LayerSpec):
    """A transposed convolution: out = (W − 1)·S + F − 2P + output_padding; "same" gives W·S.

    Without output_padding a kernel smaller than the stride counts as F = S (Keras' rule: max(F, S)).
    """

    type: Literal["conv_transpose"]
    filters: PositiveInt
    kernel: PositivePair
    stride: PositivePair = (1, 1)
    padding: Padding = (0, 0)
    output_padding: OutputPadding | None = Field(
        default=None, description="Extra rows/columns at the bottom/right (< S)."
    )
    dilation: PositivePair = (1, 1)
    bias: StrictBool = True

    kind_name = "conv_transpose"
    example = {"type": "conv_transpose", "filters": 8, "kernel": 2, "stride": 2}
    traits = CONV_TRAITS
    drawing = "volume"
    keras_readers = {"Conv2DTranspose": _read_conv_transpose}
    onnx_readers = {"ConvTranspose": _read_onnx_conv_transpose}
    spelled_elsewhere = {
        "conv2dtranspose": '"type": "conv_transpose"',
        "convtranspose2d": '"type": "conv_transpose"',
        "deconv": '"type": "conv_transpose"',
        "deconvolution": '"type": "conv_transpose"',
        "transposedconv": '"type": "conv_transpose"',
    }
    keras_ops = {
        "Conv2DTranspose": KerasOp(_tf_conv2d_transpose, _transpose_variables, biased=True),
    }

    def _extent(self) -> tuple[int, int]:
        return (
            ar.effective_kernel(self.kernel[0], self.dilation[0]),
            ar.effective_kernel(self.kernel[1], self.dilation[1]),
        )

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        sizes = []
        for axis, size in enumerate((shape.height, shape.width)):
            kernel = self._extent()[axis]
            output_padding = None if self.output_padding is None else self.output_padding[axis]
            if self.padding == "same":
                sizes.append(ar.same_transpose_output_size(size, kernel, self.stride[axis], output_padding))
            else:
                assert isinstance(self.padding, tuple)
                if output_padding is None:
                    # Keras' default: a kernel smaller than the stride still fills whole stride-sized cells.
                    output_padding = max(self.stride[axis] - kernel, 0)
                sizes.append(
                    ar.transpose_output_size(size, kernel, self.stride[axis], self.padding[axis], output_padding)
                )
        weights = ar.conv_weights(self.kernel[0], self.kernel[1], shape.depth, self.filters)
        return Computed(
            Shape(sizes[0], sizes[1], self.filters),
            weights=weights,
            biases=self.filters if self.bias else 0,
            macs=ar.shared_weight_macs(shape.height * shape.width, weights),
        )

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        rows, cols = widest(fields)
        extent = self._extent()
        if self.padding == "same":
            # Keras' "same" transposed conv is the gradient of a "same" conv from its output back to W.
            out = (computed.out.height, computed.out.width)
            pads = tuple(ar.same_padding(out[a], extent[a], self.stride[a])[0] for a in (0, 1))
        else:
            assert isinstance(self.padding, tuple)
            pads = self.padding
        return (
            ar.transposed_receptive_field(rows, extent[0], self.stride[0], pads[0]),
            ar.transposed_receptive_field(cols, extent[1], self.stride[1], pads[1]),
        )

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return (Fraction(1, self.stride[0]), Fraction(1, self.stride[1]))

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        padding = "same" if self.padding == "same" else pair_text(self.padding)
        words = [f"F={pair_text(self.kernel)} S={pair_text(self.stride)} P={padding}"]
        if self.output_padding is not None:
            words.append(f"out_pad={pair_text(self.output_padding)}")
        if self.dilation != (1, 1):
            words.append(f"d={pair_text(self.dilation)}")
        words.append(f"K={self.filters}")
        if not self.bias:
            words.append("no-bias")
        return " ".join(words)

    def caption(self) -> str:
        return "conv_transpose"

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        if self.padding == "same":
            sides = Sides(0, 0, 0, 0)
        else:
            sides = Sides(self.padding[0], self.padding[0], self.padding[1], self.padding[1])
        return DiagramWindow(self.kernel, self.stride, sides, self.dilation)

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        height, width, _ = ops.volume()
        volume = volume_of(output)
        args: dict[str, ArgValue] = {"filters": self.filters, "kernel_size": self.kernel, "strides": self.stride}
        crop = (0, 0)
        if self.padding == "same":
            args["padding"] = "same"
            if self.output_padding is not None:
                args["output_padding"] = self.output_padding
            uncropped = volume
        else:
            crop = self.padding
            args["padding"] = "valid"
            uncropped = (volume[0] + 2 * crop[0], volume[1] + 2 * crop[1], volume[2])
            # Keras's valid transposed conv gives (W − 1)·S + F + output_padding: the output_padding that makes
            # it convcalc's size, given explicitly (the spec's, or the default convcalc applied).
            args["output_padding"] = tuple(
                size - ((before - 1) * stride + ar.effective_kernel(kernel, dilation))
                for size, before, stride, kernel, dilation in zip(
                    uncropped[:2], (height, width), self.stride, self.kernel, self.dilation, strict=True
                )
            )
        if self.dilation != (1, 1):
            args["dilation_rate"] = self.dilation
        args.update(bias_args(self.bias))
        main = ops.append("Conv2DTranspose", ops.base, uncropped, (ops.current,), args)
        if any(crop):
            ops.add("Cropping2D", ops.helper("crop"), volume, cropping=((crop[0], crop[0]), (crop[1], crop[1])))
        return main

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        # The uncropped output is (W − 1)·S + E rows; convcalc (and Keras) crop T of them before and B after:
        # "same" crops T = TensorFlow's padding before, for a conv from the output back to W (⌊(E − S)/2⌋
        # when the output is W·S), so B = T or T + 1; an explicit P crops T = P and B = P − output_padding.
        # PyTorch crops P = T before and P − output_padding after, output_padding < max(S, d): a B over T is
        # a slice after, and what output_padding cannot add is zero-padded after.
        depth, height, width = ops.volume()
        pads, extras, rests, cuts = [], [], [], []
        for axis, (size, out, stride, kernel, dilation) in enumerate(
            zip((height, width), (output.height, output.width), self.stride, self.kernel, self.dilation, strict=True)
        ):
            extent = ar.effective_kernel(kernel, dilation)
            cropped = (size - 1) * stride + extent - out  # T + B
            before = ar.same_padding(out, extent, stride)[0] if self.padding == "same" else self.padding[axis]
            added = before - (cropped - before)  # T − B: PyTorch's output_padding, if it may
            limit = max(stride, dilation) - 1
            pads.append(before)
            extras.append(min(max(added, 0), limit))
            rests.append(max(added, 0) - extras[-1])
            cuts.append(max(-added, 0))
        args = [f"{depth}", f"{self.filters}", f"kernel_size={tuple_text(self.kernel)}"]
        if self.stride != (1, 1):
            args.append(f"stride={tuple_text(self.stride)}")
        if any(pads):
            args.append(f"padding={tuple_text((pads[0], pads[1]))}")
        if any(extras):
            args.append(f"output_padding={tuple_text((extras[0], extras[1]))}")
        if self.dilation != (1, 1):
            args.append(f"dilation={tuple_text(self.dilation)}")
        if not self.bias:
            args.append("bias=False")
        uncut = (self.filters, output.height - rests[0] + cuts[0], output.width - rests[1] + cuts[1])
        weight = (depth, self.filters, *self.kernel)
        constructor = f"nn.ConvTranspose2d({', '.join(args)})"
        last = Sides(0, cuts[0], 0, cuts[1])
        main = ops.cropped_module(constructor, uncut, last, (weight,), purpose='the last row/column "same" crops')
        ops.zero_pad(Sides(0, rests[0], 0, rests[1]), "rows/columns past PyTorch's output_padding < max(S, d)")
        return main

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ((*self.kernel, self.filters, shape.depth),)

    def tensorflow_problem(self, shape: Shape, output: Shape) -> BuildProblem | None:
        if max(self.dilation) > 1:
            # TensorFlow runs a transposed conv as the gradient of a conv (Conv2DBackpropInput), whose CPU kernel
            # takes no dilation where oneDNN is not used.
            return BuildProblem(
                f"a dilation of {pair_text(self.dilation)}: TensorFlow's transposed convolution (Conv2DBackpropInput)"
                " refuses a dilation > 1 on CPUs where oneDNN does not run it",
                ({"dilation": 1},),
            )
        # Keras's "same" rule with output_padding, (W − 1)·S + F mod 2 + output_padding, gives (W − 1)·S for an
        # even (effective) kernel and output_padding 0; TensorFlow then finds ceil(out/S) = W − 1 ≠ W and refuses.
        pads = self.output_padding
        refused = pads is not None and any(f % 2 + p == 0 for f, p in zip(self._extent(), pads, strict=True))
        if self.padding == "same" and refused:
            return BuildProblem(
                f'padding "same" with output_padding 0 and an even kernel: Keras asks for {output}, which'
                f' TensorFlow\'s conv2d_transpose refuses ("same" must map it back to {shape.height}×{shape.width})',
                ({"output_padding": None},),
            )
        return None
