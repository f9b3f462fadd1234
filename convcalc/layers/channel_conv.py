"""A 1-D convolution across the channels: ``channel_conv``, ECA-Net's efficient channel attention.

At each position the D values are convolved with one k-tap filter, shared by every position and channel and
zero-padded to keep the depth (k odd): H×W×D → H×W×D, k weights (and a bias, when asked), H·W·D·k MACs; the
receptive field passes through. ECA (Wang et al., 2020) applies it to a squeezed 1×1×C vector in place of
squeeze-and-excite's two fc layers: global pooling, ``channel_conv``, sigmoid, then a ``multiply`` with the
volume. Keras has no such layer: the export defines and registers ``ChannelConv1D`` (a ``Conv1D`` over the
channels, in ``keras.ops``); tf.nn: ``tf.nn.conv1d`` on the channels as steps; PyTorch: ``nn.Conv1d(1, 1, k)``
on them; ONNX: a Reshape of the pooled (N, C) to (N, 1, C), a 1-D Conv, and a Reshape back, as timm's
``EcaModule`` is exported.
"""

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from convcalc.layers.base import PER_POSITION_TRAITS, Computed, PerPosition
from convcalc.layers.fields import OddSize, StrictBool
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Tensor
from convcalc.layers.onnx import OnnxMapped, OnnxNode
from convcalc.layers.pytorch import TorchOps, TorchStep
from convcalc.layers.tfnn import KerasOp, bias_variable, glorot, variable
from convcalc.layers.volume import Shape, Window
from convcalc.pysource import identifier

CHANNEL_STEPS = "channel_steps"
"""An ONNX layout: a Reshape made a pooled (N, C) vector (N, 1, C), C as the steps of a 1-D conv (ECA's)."""

CHANNEL_CONV1D_SOURCE = '''
@keras.saving.register_keras_serializable(package="convcalc")
class ChannelConv1D(layers.Layer):
    """A 1-D convolution across the channels at each position: one k-tap filter, zero-padded to keep the depth
    (ECA-Net's, on a squeezed 1×1×C vector), which Keras lacks."""

    def __init__(self, kernel_size=3, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.use_bias = int(kernel_size), bool(use_bias)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(self.kernel_size, 1, 1), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias") if self.use_bias else None

    def call(self, inputs):
        steps = keras.ops.reshape(inputs, (-1, inputs.shape[-1], 1))  # each position's channels as steps
        out = keras.ops.conv(steps, self.kernel, strides=1, padding="same")
        if self.bias is not None:
            out = out + self.bias
        return keras.ops.reshape(out, (-1, *inputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "use_bias": self.use_bias}
'''
"""The one definition of ``ChannelConv1D`` (a registered, serializable Keras layer, ``convcalc>ChannelConv1D``):
pasted into generated Keras code, executed by :mod:`convcalc.export.runtime` for in-memory models; the Keras
import reads its config as data."""

CHANNEL_CONV1D_TORCH_SOURCE = '''
class ChannelConv1d(nn.Conv1d):
    """A 1-D convolution across the channels at each position (ECA-Net's): one k-tap filter, zero-padded."""

    def __init__(self, kernel_size: int, bias: bool) -> None:
        super().__init__(1, 1, kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        steps = x.permute(0, 2, 3, 1).reshape(-1, 1, c)
        return super().forward(steps).reshape(n, h, w, c).permute(0, 3, 1, 2)
'''


def _tf_channel_conv(op: Op, read: list[str], padding: str) -> str:
    name, (height, width, depth) = identifier(op.name), op.output
    steps = f"tf.reshape({read[0]}, [-1, {depth}, 1])"
    conv = f"tf.nn.conv1d({steps}, self.{name}_kernel, stride=1, padding='SAME')"
    if op.flag("use_bias", False):
        conv = f"{conv} + self.{name}_bias"
    return f"tf.reshape({conv}, [-1, {height}, {width}, {depth}])"


def _channel_conv_variables(op: Op, shape: Shape) -> list[str]:
    k = op.integer("kernel_size")
    kernel = variable(identifier(op.name), "kernel", glorot((k, 1, 1), k, k))
    return [kernel, *bias_variable(op, 1)] if op.flag("use_bias", False) else [kernel]


def _read_channel_conv(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.needs_volume(sources[0])
    body = {"type": "channel_conv", "kernel": layer.config.get("kernel_size", 3)}
    return Mapped([{**body, "bias": layer.config.get("use_bias", False)}], 4)


def read_onnx_channel_steps_reshape(node: OnnxNode) -> OnnxMapped | None:
    """A Reshape into or out of ``CHANNEL_STEPS``: a pooled (N, C) vector (or (N, C, 1, 1)) to (N, 1, C), or back
    to (N, C) or (N, C, 1, 1) (timm's EcaModule, around its 1-D conv). None for any other Reshape."""
    source, before, after = node.source(), node.input_shapes[0], node.output_shape
    if before is None or after is None or None in before[1:] or None in after[1:]:
        return None
    if source.layout == CHANNEL_STEPS:
        if len(after) in (2, 4) and after[1] == before[2] and all(size == 1 for size in after[2:]):
            return OnnxMapped([], len(after), reads_layout=True)
        raise node.refuse(f"reshapes {before} to {after}: after a 1-D conv across the channels, (N, C) or (N, C, 1, 1)")
    pooled = not source.layout and (source.rank == 2 or (source.rank == 4 and before[2:] == (1, 1)))
    if pooled and len(after) == 3 and after[1] == 1 and after[2] == before[1]:
        return OnnxMapped([], 3, layout=CHANNEL_STEPS)
    return None


def read_onnx_channel_conv(node: OnnxNode) -> OnnxMapped:
    """A 1-D Conv of one channel over the ``CHANNEL_STEPS`` (N, 1, C): weight (1, 1, k), stride 1, padded
    (k − 1)/2 on each side (timm's EcaModule)."""
    dims = node.weight(1, "weight", 3)
    k = dims[2]
    pads = node.integers("pads", [0, 0]) or [0, 0]
    strides, dilations = node.integers("strides", [1]), node.integers("dilations", [1])
    if (
        dims[:2] != (1, 1)
        or k % 2 == 0
        or pads != [k // 2, k // 2]
        or strides != [1]
        or dilations != [1]
        or node.integer("group", 1) != 1
        or node.text("auto_pad", "NOTSET") != "NOTSET"
    ):
        raise node.refuse(
            f"a 1-D conv of weight {list(dims)}, pads {pads}, strides {strides} across the channels: convcalc's"
            " channel_conv is one filter of odd k, stride 1, padded (k − 1)/2 on each side (ECA's)"
        )
    return OnnxMapped(
        [{"type": "channel_conv", "kernel": k, "bias": node.is_stored(2)}],
        3,
        weights=(1, 2),
        layout=CHANNEL_STEPS,
        reads_layout=True,
    )


class ChannelConv(PerPosition):
    """A 1-D convolution across the D channels at each position: one k-tap filter (k odd), zero-padded so the depth
    stays D; k weights (+ 1 bias), H·W·D·k MACs. ECA-Net's channel attention on a squeezed 1×1×C vector."""

    type: Literal["channel_conv"]
    kernel: OddSize = Field(default=3, description="k: the taps across neighbouring channels (odd).")
    bias: StrictBool = Field(default=False, description="One bias for the whole output (ECA has none).")

    kind_name = "channel_conv"
    example = {"type": "channel_conv", "kernel": 3}
    traits = PER_POSITION_TRAITS._replace(weighted=True)
    keras_readers = {"ChannelConv1D": _read_channel_conv}
    spelled_elsewhere = {
        "eca": '"type": "channel_conv"',
        "ecamodule": '"type": "channel_conv"',
        "conv1d": '"type": "channel_conv"',
    }
    torch_helpers = {"ChannelConv1d": CHANNEL_CONV1D_TORCH_SOURCE}
    keras_ops = {
        "ChannelConv1D": KerasOp(_tf_channel_conv, _channel_conv_variables, keras_source=CHANNEL_CONV1D_SOURCE)
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(shape, weights=self.kernel, biases=1 if self.bias else 0, macs=shape.values * self.kernel)

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        return f"k={self.kernel} across D" + ("" if self.bias else " no-bias")

    def caption(self) -> str:
        return "eca"

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ((self.kernel, 1, 1),)

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        ops.volume()
        return ops.add("ChannelConv1D", ops.base, ops.shape, kernel_size=self.kernel, use_bias=self.bias)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        ops.volume()
        return ops.module(
            ops.base, f"ChannelConv1d({self.kernel}, bias={self.bias})", ops.shape, ((1, 1, self.kernel),)
        )
