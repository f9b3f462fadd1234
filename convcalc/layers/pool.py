"""Pooling: ``pool`` (max, avg or l2 over F×F windows) and ``global_pool`` (over the whole H×W).

Shapes: a pool's window is a conv's, (W − F + 2P)/S + 1, with S defaulting to F; the depth is kept; no
parameters, no MACs. Keras: ``MaxPooling2D``, ``AveragePooling2D``, ``GlobalAveragePooling2D``,
``GlobalMaxPooling2D``; TensorFlow has no L2 pooling, so convcalc defines ``L2Pooling2D`` once (below) for
the Keras export and the generated code. tf.nn: ``max_pool2d``, ``avg_pool2d``, ``reduce_mean``/``reduce_max``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Literal

from pydantic import Field

from convcalc import arithmetic as ar
from convcalc.layers.base import (
    UNIT_STEP,
    Computed,
    DiagramWindow,
    FieldPair,
    LayerSpec,
    Traits,
    whole_input_field,
)
from convcalc.layers.fields import Padding, PositivePair
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Tensor, compact, volume_of
from convcalc.layers.onnx import OnnxMapped, OnnxNode, OnnxReader
from convcalc.layers.padding import onnx_window_padding
from convcalc.layers.tfnn import KerasOp, list_notation, nhwc
from convcalc.layers.volume import Shape, Window, resolve_window
from convcalc.layers.windowed import WindowedLayer, keras_padding, window_notation

L2_EPSILON = 1e-30
"""Floor under the sum of squares before the square root, so an all-zero window has a zero gradient, not NaN."""

L2_POOLING_SOURCE = f'''
L2_EPSILON = {L2_EPSILON!r}  # floor under the sum of squares: an all-zero window gets gradient 0, not NaN


@keras.saving.register_keras_serializable(package="convcalc")
class L2Pooling2D(layers.Layer):
    """L2 pooling, which TensorFlow lacks: sqrt(sum of squares) over each window, no padding."""

    def __init__(self, pool_size=(2, 2), strides=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = tuple(pool_size)
        self.strides = tuple(strides) if strides is not None else self.pool_size

    def call(self, inputs):
        # Sum over the window = mean × window size; the mean is TensorFlow's own pooling kernel.
        mean = keras.ops.average_pool(keras.ops.square(inputs), self.pool_size, self.strides, padding="valid")
        window = self.pool_size[0] * self.pool_size[1]
        return keras.ops.sqrt(keras.ops.maximum(mean * window, L2_EPSILON))

    def get_config(self):
        return {{**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}}
'''
"""The one definition of ``L2Pooling2D`` (a registered, serializable Keras layer, ``convcalc>L2Pooling2D``):
pasted into generated Keras code, executed by :mod:`convcalc.export.runtime` for in-memory models."""

POOL_LAYERS = {"max": "MaxPooling2D", "avg": "AveragePooling2D", "l2": "L2Pooling2D"}
GLOBAL_POOL_LAYERS = {"avg": "GlobalAveragePooling2D", "max": "GlobalMaxPooling2D"}


def _tf_pool(function: str) -> Callable[[Op, list[str], str], str]:
    def expression(op: Op, read: list[str], padding: str) -> str:
        ksize, strides = list_notation(nhwc(op.pair("pool_size"))), list_notation(nhwc(op.pair("strides")))
        return f"tf.nn.{function}({read[0]}, ksize={ksize}, strides={strides}, padding={padding})"

    return expression


def _tf_l2_pool(op: Op, read: list[str], padding: str) -> str:
    ksize, strides = list_notation(nhwc(op.pair("pool_size"))), list_notation(nhwc(op.pair("strides")))
    kernel_h, kernel_w = op.pair("pool_size")
    # The sum of squares over each window is the mean of squares times the window size.
    mean = f"tf.nn.avg_pool2d(tf.square({read[0]}), ksize={ksize}, strides={strides}, padding='VALID')"
    return f"tf.sqrt(tf.maximum({mean} * {float(kernel_h * kernel_w)!r}, L2_EPSILON))"


def _read_pool(mode: str) -> Callable[[KerasLayer, list[Tensor]], Mapped]:
    def reader(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
        layer.needs_volume(sources[0])
        kernel = layer.pair("pool_size", 2)
        body: dict[str, object] = {"type": "pool", "mode": mode, "kernel": compact(kernel)}
        if layer.config.get("strides") is not None:  # None means "= pool_size", the spec's default too
            stride = layer.pair("strides")
            if stride != kernel:
                body["stride"] = compact(stride)
        body["padding"] = layer.padding()
        return Mapped([body], 4)

    return reader


def _read_onnx_pool(mode: str) -> OnnxReader:
    """ONNX MaxPool or AveragePool: kernel, strides (ONNX's default is 1, not the kernel), pads. ceil_mode is
    taken where it rounds to the same size as convcalc's floor; count_include_pad changes values, not shapes."""

    def reader(node: OnnxNode) -> OnnxMapped:
        node.needs_volume()
        kernel, stride = node.spatial("kernel_shape", 0), node.spatial("strides", 1)
        if min(kernel) < 1:
            raise node.refuse("its kernel_shape is missing")
        if node.spatial("dilations", 1) != (1, 1):
            raise node.refuse(f"dilations {list(node.spatial('dilations', 1))}: convcalc's pool is not dilated")
        padding, pad_layer = onnx_window_padding(node, kernel, stride, (1, 1))
        if node.integer("ceil_mode", 0) and padding != "same":
            _refuse_rounding_up(node, kernel, stride)
        body: dict[str, object] = {"type": "pool", "mode": mode, "kernel": compact(kernel)}
        if stride != kernel:
            body["stride"] = compact(stride)
        body["padding"] = padding
        layers = [body] if pad_layer is None else [pad_layer, body]
        return OnnxMapped(layers, 4, main=len(layers) - 1)

    return reader


def _refuse_rounding_up(node: OnnxNode, kernel: tuple[int, int], stride: tuple[int, int]) -> None:
    """ceil_mode=1 is the floor whenever the windows fit exactly; refuse it where it adds a row or column."""
    pads = node.integers("pads", [0, 0, 0, 0]) or [0, 0, 0, 0]
    sizes = node.input_size()
    for axis, (size, f, s) in enumerate(zip(sizes, kernel, stride, strict=True)):
        before, after = pads[axis], pads[axis + 2]
        floor = ar.conv_output_size(size, f, s, before, after).size
        ceil = ar.ceil_div(size + before + after - f, s) + 1
        if (ceil - 1) * s >= size + before:  # the last window may not start in the bottom or right padding
            ceil -= 1
        if ceil != floor:
            which = "H" if axis == 0 else "W"
            raise node.refuse(
                f"ceil_mode=1 rounds the output {which} up to {ceil} where convcalc's pool floors to {floor}"
                " (a pool with ceil_mode is not modelled yet)"
            )


class Pool(WindowedLayer):
    """Spatial pooling over F×F windows with stride S; depth is preserved; no parameters."""

    type: Literal["pool"]
    mode: Literal["max", "avg", "l2"] = "max"
    kernel: PositivePair = Field(description="F: int or [h, w].")
    stride: PositivePair | None = Field(default=None, description="S (defaults to the kernel).")
    padding: Padding = Field(default=(0, 0), description='P: int, [h, w], "valid" or "same".')

    kind_name = "pool"
    example = {"type": "pool", "kernel": 2}
    traits = Traits(
        weighted=False,
        convolution=False,
        mixes_channels=False,
        keeps_shape=False,
        merge=False,
        whole_input=False,
        pooling=True,
    )
    drawing = "volume"
    keras_readers = {"MaxPooling2D": _read_pool("max"), "AveragePooling2D": _read_pool("avg")}
    onnx_readers = {"MaxPool": _read_onnx_pool("max"), "AveragePool": _read_onnx_pool("avg")}
    spelled_elsewhere = {
        "maxpool": '"type": "pool", "mode": "max"',
        "maxpool2d": '"type": "pool", "mode": "max"',
        "maxpooling": '"type": "pool", "mode": "max"',
        "maxpooling2d": '"type": "pool", "mode": "max"',
        "avgpool": '"type": "pool", "mode": "avg"',
        "avgpool2d": '"type": "pool", "mode": "avg"',
        "avgpooling": '"type": "pool", "mode": "avg"',
        "averagepool": '"type": "pool", "mode": "avg"',
        "averagepooling2d": '"type": "pool", "mode": "avg"',
    }
    keras_ops = {
        "MaxPooling2D": KerasOp(_tf_pool("max_pool2d")),
        "AveragePooling2D": KerasOp(_tf_pool("avg_pool2d")),
        "L2Pooling2D": KerasOp(
            _tf_l2_pool,
            tfnn_constants=f"L2_EPSILON = {L2_EPSILON!r}  # floor under the sum of squares: gradient 0, not NaN",
            keras_source=L2_POOLING_SOURCE,
        ),
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        stride = self.stride if self.stride is not None else self.kernel
        window = resolve_window(self.kernel, stride, self.padding, shape)
        return Computed(window.output(shape.depth), window)

    def is_nonlinear(self) -> bool:
        return self.mode in ("max", "l2")

    def notation(self, window: Window | None) -> str:
        return " ".join([f"{self.mode} {window_notation(window)[0]}", *window_notation(window)[1:]])

    def caption(self) -> str:
        return f"{self.mode}pool"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        assert window is not None
        l2 = self.mode == "l2"
        padding = keras_padding(ops, window, same=not l2)  # the L2 layer has no padding of its own
        layer, volume = POOL_LAYERS[self.mode], volume_of(output)
        if l2:
            return ops.add(layer, ops.base, volume, pool_size=window.kernel, strides=window.stride)
        return ops.add(layer, ops.base, volume, pool_size=window.kernel, strides=window.stride, padding=padding)

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()


def _read_global_pool(mode: str) -> Callable[[KerasLayer, list[Tensor]], Mapped]:
    def reader(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
        layer.needs_volume(sources[0])
        # keepdims gives (batch, 1, 1, D), otherwise (batch, D): both are convcalc's 1×1×D.
        return Mapped([{"type": "global_pool", "mode": mode}], 4 if layer.flag("keepdims", False) else 2)

    return reader


def _read_onnx_global_pool(mode: str) -> OnnxReader:
    def reader(node: OnnxNode) -> OnnxMapped:
        node.needs_volume()
        return OnnxMapped([{"type": "global_pool", "mode": mode}], 4)

    return reader


def _read_onnx_reduce(mode: str) -> OnnxReader:
    """ReduceMean or ReduceMax over H and W (PyTorch's ``x.mean((2, 3))`` and adaptive pooling to 1×1): axes
    from the attribute (opset < 18) or the second input."""

    def reader(node: OnnxNode) -> OnnxMapped:
        node.needs_volume()
        axes = node.integers("axes") if "axes" in node.attributes else node.values(1, "axes")
        if axes is None or sorted(int(a) % 4 for a in axes) != [2, 3]:
            raise node.refuse(
                f"reduces over axes {list(axes) if axes is not None else 'all'}: convcalc models a reduction over"
                " H and W (axes 2 and 3), which is global pooling"
            )
        return OnnxMapped([{"type": "global_pool", "mode": mode}], 4 if node.integer("keepdims", 1) else 2)

    return reader


class GlobalPool(LayerSpec):
    """Pools each channel over the whole H×W: outputs 1×1×D."""

    type: Literal["global_pool"]
    mode: Literal["avg", "max"] = "avg"

    kind_name = "global_pool"
    example = {"type": "global_pool"}
    traits = Traits(
        weighted=False,
        convolution=False,
        mixes_channels=False,
        keeps_shape=False,
        merge=False,
        whole_input=True,
        pooling=True,
    )
    drawing = "bar"
    keras_readers = {"GlobalAveragePooling2D": _read_global_pool("avg"), "GlobalMaxPooling2D": _read_global_pool("max")}
    onnx_readers = {
        "GlobalAveragePool": _read_onnx_global_pool("avg"),
        "GlobalMaxPool": _read_onnx_global_pool("max"),
        "ReduceMean": _read_onnx_reduce("avg"),
        "ReduceMax": _read_onnx_reduce("max"),
    }
    spelled_elsewhere = {
        "gap": '"type": "global_pool", "mode": "avg"',
        "globalavgpool": '"type": "global_pool", "mode": "avg"',
        "globalaveragepooling2d": '"type": "global_pool", "mode": "avg"',
        "adaptiveavgpool2d": '"type": "global_pool", "mode": "avg"',
        "globalmaxpool": '"type": "global_pool", "mode": "max"',
        "globalmaxpooling2d": '"type": "global_pool", "mode": "max"',
        "adaptivemaxpool2d": '"type": "global_pool", "mode": "max"',
    }
    keras_ops = {
        "GlobalAveragePooling2D": KerasOp(lambda op, read, _: f"tf.reduce_mean({read[0]}, axis=[1, 2])"),
        "GlobalMaxPooling2D": KerasOp(lambda op, read, _: f"tf.reduce_max({read[0]}, axis=[1, 2])"),
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(Shape(1, 1, shape.depth))

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        return whole_input_field(fields, shape)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def is_nonlinear(self) -> bool:
        return self.mode == "max"

    def notation(self, window: Window | None) -> str:
        return f"{self.mode} over H×W"

    def caption(self) -> str:
        return f"global {self.mode}pool"

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        ops.volume()
        return ops.add(GLOBAL_POOL_LAYERS[self.mode], ops.base, (output.depth,))

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()
