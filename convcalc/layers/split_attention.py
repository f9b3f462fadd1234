"""Split attention: ``split_attention``, a softmax across r branches that weighs them channel by channel (SKNet's
selective kernel, ResNeSt's split attention).

It reads two inputs. The features, H×W×(r·C): the r branches side by side along the depth, branch i in
channels i·C … (i + 1)·C − 1 (a ``concat`` of SKNet's branch convs, or ResNeSt's one conv of r·C filters). The
logits, 1×1×(r·C): a vector per image, computed from the branches' sum (global pooling, a reducing 1×1 conv
with its normalisation and activation, a 1×1 conv to r·C); or H×W×(r·C), logits per position, which weigh the
branches position by position. For each channel c the r logits of c become weights by a softmax, and the output
is Σᵢ aᵢ[c]·branchᵢ[c]: H×W×C. With ``groups`` g (ResNeSt's cardinality) the logits
are laid out g × r × C/g, as its rSoftMax reshapes, transposes and flattens them: the logit of branch i for
channel c = k·C/g + j sits at k·r·C/g + i·C/g + j; with one group (SKNet's) at i·C + c. The depth must split:
r·g divides D, and the logits have D channels, at 1×1 or the features' H×W (CC116 otherwise).

0 parameters and 0 MACs (its r·H·W·C products count 0, like a multiply's); nonlinear (a softmax of the input's
own statistics); the receptive field is the features' grid, as wide as the logits' (which see the whole input).
Keras has no such layer: the export defines and registers ``SplitAttention`` (in ``keras.ops``); tf.nn: the same
reshapes, softmax and sum; PyTorch: ``unflatten``, ``softmax`` and ``sum``, as timm writes them; ONNX: timm's
``SelectiveKernel`` and ``SplitAttn`` as PyTorch's exporters write them (a stack or reshape to (N, r, C, H, W),
the logits reshaped to (N, r, C, 1, 1), or to (N, g, r, C/g) and transposed, a Softmax over the branches, Mul,
ReduceSum), which the importer fuses into one node; the sum of the branches that feeds the pooling becomes an
``add`` of the branches, or of ``split`` parts.
"""

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, WithJsonSchema

from convcalc.layers.base import Computed, FieldPair, widest
from convcalc.layers.fields import PositiveInt, strict_int
from convcalc.layers.keras import ArgValue, KerasLayer, KerasOps, Mapped, Op, Tensor, volume_of
from convcalc.layers.merge import MERGE_TRAITS, _Merge, _merge_inputs
from convcalc.layers.onnx import OnnxMapped, OnnxNode
from convcalc.layers.pytorch import TorchOps, TorchStep, chw
from convcalc.layers.tfnn import KerasOp
from convcalc.layers.volume import Shape, Window


def _radix(value: Any) -> int:
    return strict_int(value, 2)


Radix = Annotated[int, PlainValidator(_radix), WithJsonSchema({"type": "integer", "minimum": 2})]

FUSED_OP = "SplitAttention"
"""The name the ONNX import gives the fused pattern (no ONNX op has it)."""

SPLIT_ATTENTION_SOURCE = '''
@keras.saving.register_keras_serializable(package="convcalc")
class SplitAttention(layers.Layer):
    """Split attention, which Keras lacks: the features hold r branches side by side along the depth; a softmax
    over the branches of the logits (1x1x(r*C), or one vector per position; laid out groups x r x C/groups)
    weighs them channel by channel, and the weighted branches are summed (SKNet's selective kernel, ResNeSt's
    split attention)."""

    def __init__(self, radix=2, groups=1, **kwargs):
        super().__init__(**kwargs)
        self.radix, self.groups = int(radix), int(groups)

    def call(self, inputs):
        features, logits = inputs
        size, at = keras.ops.shape(features), keras.ops.shape(logits)
        channels = features.shape[-1] // self.radix
        weights = keras.ops.reshape(logits, (-1, at[1], at[2], self.groups, self.radix, channels // self.groups))
        weights = keras.ops.transpose(keras.ops.softmax(weights, axis=4), (0, 1, 2, 4, 3, 5))
        weights = keras.ops.reshape(weights, (-1, at[1], at[2], self.radix, channels))
        branches = keras.ops.reshape(features, (-1, size[1], size[2], self.radix, channels))
        return keras.ops.sum(branches * weights, axis=3)

    def compute_output_shape(self, input_shape):
        features = input_shape[0]
        return (*features[:3], features[3] // self.radix)

    def get_config(self):
        return {**super().get_config(), "radix": self.radix, "groups": self.groups}
'''
"""The one definition of ``SplitAttention`` (a registered, serializable Keras layer, ``convcalc>SplitAttention``):
pasted into generated Keras code, executed by :mod:`convcalc.export.runtime` for in-memory models; the Keras
import reads its config as data."""


def _tf_split_attention(op: Op, read: list[str], padding: str) -> str:
    height, width, channels = op.output
    radix, groups = op.integer("radix"), op.integer("groups", 1)
    at = f"tf.shape({read[1]})[1], tf.shape({read[1]})[2]"  # 1×1, or the features' H×W
    logits = f"tf.reshape({read[1]}, [-1, {at}, {groups}, {radix}, {channels // groups}])"
    softmax = f"tf.transpose(tf.nn.softmax({logits}, axis=4), [0, 1, 2, 4, 3, 5])"
    weights = f"tf.reshape({softmax}, [-1, {at}, {radix}, {channels}])"
    return f"tf.reduce_sum(tf.reshape({read[0]}, [-1, {height}, {width}, {radix}, {channels}]) * {weights}, axis=3)"


def _read_split_attention(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.needs_volume(sources[0])
    radix, groups = layer.config.get("radix", 2), layer.config.get("groups", 1)
    return Mapped([{"type": "split_attention", "radix": radix, "groups": groups}], 4)


def _read_onnx_split_attention(node: OnnxNode) -> OnnxMapped:
    """The import's fused SKNet or ResNeSt attention: the features (N, r·C, H, W), then the logits."""
    if len(node.sources) != 2 or len(node.inputs) != 2:
        raise node.refuse("convcalc's split attention reads the features and the logits")
    radix, groups = node.integer("radix", 2), node.integer("groups", 1)
    return OnnxMapped([{"type": "split_attention", "radix": radix, "groups": groups}], 4)


class SplitAttention(_Merge):
    """Weighs r branches channel by channel: the features H×W×(r·C) (the branches side by side) and the logits
    1×1×(r·C) (or H×W×(r·C), per position), laid out groups × r × C/groups; out[c] = Σᵢ softmaxᵢ(logits of
    c)·branchᵢ[c], H×W×C. 0 params, 0 MACs. SKNet's selective kernel (groups 1), ResNeSt's split attention (groups
    = its cardinality)."""

    type: Literal["split_attention"]
    radix: Radix = Field(description="r: the branches side by side in the features' depth, weighed by a softmax.")
    groups: PositiveInt = Field(
        default=1,
        description="g: the logits' layout, g × r × C/g (ResNeSt's cardinality; SKNet's is 1).",
    )

    kind_name = "split_attention"
    mark = "select"
    traits = MERGE_TRAITS
    inputs_exactly = 2
    example = {"type": "split_attention", "radix": 2, "inputs": ["input", "input"]}
    keras_readers = {"SplitAttention": _read_split_attention}
    onnx_readers = {FUSED_OP: _read_onnx_split_attention}
    spelled_elsewhere = {
        "selectivekernel": '"type": "split_attention"',
        "splitattn": '"type": "split_attention"',
        "rsoftmax": '"type": "split_attention"',
    }
    keras_ops = {"SplitAttention": KerasOp(_tf_split_attention, keras_source=SPLIT_ATTENTION_SOURCE)}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        features = inputs[0]
        # A depth r does not divide, or logits of another size, are CC116's.
        return Computed(Shape(features.height, features.width, features.depth // self.radix))

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        # The features' grid (jump, centres); the logits, pooled from the whole input, widen the field.
        rows, cols = fields[0]
        wide_rows, wide_cols = widest(fields)
        return rows._replace(size=wide_rows.size), cols._replace(size=wide_cols.size)

    def is_nonlinear(self) -> bool:
        return True  # a softmax of statistics of the input weighs the input

    def notation(self, window: Window | None) -> str:
        return f"r={self.radix}" + (f" g={self.groups}" if self.groups > 1 else "")

    def caption(self) -> str:
        return "split-attn"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        inputs, _ = _merge_inputs(ops, volumes=True)  # flat features (an fc's) too: the layer splits a volume
        args: dict[str, ArgValue] = {"radix": self.radix, "groups": self.groups}
        return ops.append("SplitAttention", ops.base, volume_of(output), tuple(inputs), args)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        inputs, _ = _merge_inputs(ops, volumes=True)
        r, g, c = self.radix, self.groups, output.depth
        # timm's SplitAttn: the logits as (N, g, r, C/g), a softmax over r, then (N, r, C, 1, 1) (or H, W).
        weights = f"torch.softmax({{1}}.unflatten(1, ({g}, {r}, {c // g})), dim=2).transpose(1, 2).flatten(2, 3)"
        code = f"({{0}}.unflatten(1, ({r}, {c})) * {weights}).sum(1)"
        return ops.expression(ops.base, code, chw(output), tuple(inputs))
