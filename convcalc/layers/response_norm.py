"""ConvNeXt-V2's global response normalisation: ``global_response_norm``.

Each channel's L2 norm over H and W, G(x)_c = ‖x_c‖₂, is divided by the mean of those norms over the channels,
N(x)_c = G(x)_c / (mean_c G(x) + ε), and the layer returns x + γ·(x·N(x)) + β (Woo et al., 2023): H×W×D → H×W×D,
γ and β one per channel (2·D trainable), no MACs (the normalisation convention). It is nonlinear (it divides by
its input's own norms). Its output at a position reads every position through the norms, as a squeeze-excite
gate does; like the per-position normalisations, it passes the receptive field through unchanged, as the
published receptive-field tables do.

Keras has no such layer: the export defines and registers ``GlobalResponseNormalization`` (in ``keras.ops``);
tf.nn: the same formula; PyTorch: a ``GlobalResponseNorm`` helper (timm's); ONNX: timm's ``GlobalResponseNorm``
as PyTorch's exporters write it (ReduceL2 over H and W, ReduceMean over the channels, the division, then
x + β + γ·(x·N)), which the importer fuses into one node, channels first or last.
"""

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from convcalc.layers.base import Computed, PerPosition
from convcalc.layers.fields import Number
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Tensor
from convcalc.layers.onnx import CHANNELS_LAST, OnnxMapped, OnnxNode, keep_layout
from convcalc.layers.pytorch import TorchOps, TorchStep
from convcalc.layers.tfnn import KerasOp, variable
from convcalc.layers.volume import Shape, Window
from convcalc.pysource import identifier, literal

GLOBAL_RESPONSE_NORMALIZATION_SOURCE = '''
@keras.saving.register_keras_serializable(package="convcalc")
class GlobalResponseNormalization(layers.Layer):
    """ConvNeXt-V2's global response normalisation, which Keras lacks: x + gamma·(x·N(x)) + beta, N(x) each
    channel's L2 norm over H and W divided by the mean of those norms over the channels (plus epsilon)."""

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        depth = input_shape[-1]
        self.gamma = self.add_weight(shape=(depth,), initializer="zeros", name="gamma")
        self.beta = self.add_weight(shape=(depth,), initializer="zeros", name="beta")

    def call(self, inputs):
        norms = keras.ops.sqrt(keras.ops.sum(keras.ops.square(inputs), axis=(1, 2), keepdims=True))
        normalised = norms / (keras.ops.mean(norms, axis=-1, keepdims=True) + self.epsilon)
        return inputs + self.gamma * (inputs * normalised) + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
'''
"""The one definition of ``GlobalResponseNormalization`` (a registered, serializable Keras layer,
``convcalc>GlobalResponseNormalization``): pasted into generated Keras code, executed by
:mod:`convcalc.export.runtime` for in-memory models; the Keras import reads its config as data."""

GLOBAL_RESPONSE_NORM_TORCH_SOURCE = '''
class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2's global response normalisation on NCHW (timm's GlobalResponseNorm, channels first)."""

    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norms = x.norm(p=2, dim=(2, 3), keepdim=True)
        normalised = norms / (norms.mean(dim=1, keepdim=True) + self.eps)
        return x + self.weight.view(1, -1, 1, 1) * (x * normalised) + self.bias.view(1, -1, 1, 1)
'''

_TFNN_GLOBAL_RESPONSE_NORM = '''

def global_response_norm(x, gamma, beta, epsilon: float) -> tf.Tensor:
    """x + gamma·(x·N(x)) + beta, N(x) each channel's L2 norm over H and W over the mean of those norms."""
    norms = tf.sqrt(tf.reduce_sum(tf.square(x), axis=[1, 2], keepdims=True))
    return x + gamma * (x * (norms / (tf.reduce_mean(norms, axis=-1, keepdims=True) + epsilon))) + beta
'''


def _tf_global_response_norm(op: Op, read: list[str], padding: str) -> str:
    name = identifier(op.name)
    epsilon = literal(op.number("epsilon"))
    return f"global_response_norm({read[0]}, self.{name}_gamma, self.{name}_beta, {epsilon})"


def _global_response_norm_variables(op: Op, shape: Shape) -> list[str]:
    name, depth = identifier(op.name), shape.depth
    return [variable(name, "gamma", f"tf.zeros([{depth}])"), variable(name, "beta", f"tf.zeros([{depth}])")]


def _read_global_response_norm(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.needs_volume(sources[0])
    return Mapped([{"type": "global_response_norm", "epsilon": layer.number("epsilon", 1e-6)}], 4)


FUSED_OP = "GlobalResponseNormalization"
"""The node the ONNX import fuses timm's GlobalResponseNorm into (inputs x, γ, β; ``epsilon``; ``channels_last``
1 where it works on a channels-last volume): no ONNX op of that name exists."""


def _read_onnx_global_response_norm(node: OnnxNode) -> OnnxMapped:
    """The fused node: on an NCHW volume, or on a channels-last one (timm's ConvNeXt-V2 with Linear layers)."""
    source = node.source()
    channels_last = node.integer("channels_last", 0) == 1
    if (source.layout == CHANNELS_LAST) != channels_last or source.rank != 4:
        raise node.refuse("a global response normalisation of a tensor laid out other than it says")
    if source.layout != CHANNELS_LAST:
        node.needs_volume()
    epsilon = node.attributes.get("epsilon", 1e-6)
    return keep_layout(node, [{"type": "global_response_norm", "epsilon": epsilon}], weights=(1, 2))


class GlobalResponseNorm(PerPosition):
    """ConvNeXt-V2's global response normalisation, x + γ·(x·N(x)) + β: N(x) each channel's L2 norm over H×W
    over the mean of those norms (+ ε). γ, β: D each (2·D trainable), no MACs; nonlinear."""

    type: Literal["global_response_norm"]
    epsilon: Number = Field(default=1e-6, description="ε, added to the mean of the channels' norms.")

    kind_name = "global_response_norm"
    example = {"type": "global_response_norm"}
    keras_readers = {"GlobalResponseNormalization": _read_global_response_norm}
    onnx_readers = {FUSED_OP: _read_onnx_global_response_norm}
    spelled_elsewhere = {
        "grn": '"type": "global_response_norm"',
        "globalresponsenormalization": '"type": "global_response_norm"',
    }
    torch_helpers = {"GlobalResponseNorm": GLOBAL_RESPONSE_NORM_TORCH_SOURCE}
    keras_ops = {
        "GlobalResponseNormalization": KerasOp(
            _tf_global_response_norm,
            _global_response_norm_variables,
            tfnn_support=_TFNN_GLOBAL_RESPONSE_NORM,
            keras_source=GLOBAL_RESPONSE_NORMALIZATION_SOURCE,
        )
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(shape, weights=shape.depth, biases=shape.depth)

    def is_nonlinear(self) -> bool:
        return True  # it divides by its input's own norms

    def notation(self, window: Window | None) -> str:
        return f"γ β ε={self.epsilon:g}"

    def caption(self) -> str:
        return "grn"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        ops.volume()
        return ops.add("GlobalResponseNormalization", ops.base, ops.shape, epsilon=float(self.epsilon))

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        depth, _, _ = ops.volume()
        weights = ((depth,), (depth,))
        return ops.module(ops.base, f"GlobalResponseNorm({depth}, {float(self.epsilon)!r})", ops.shape, weights)
