"""Attention that weighs values by a softmax: ``split_attention`` across r branches, channel by channel (SKNet's
selective kernel, ResNeSt's split attention), and ``attention_pool`` across the positions (GCNet's global context).

split_attention reads two inputs. The features, H×W×(r·C): the r branches side by side along the depth, branch i in
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

attention_pool reads the features H×W×C and the scores H×W×k (GCNet's 1×1 conv to one channel, k = 1; k heads
where k divides C): out[c] = Σ_p softmax_p(score of c's head at p)·x[p, c], channel c in head c·k // C, a 1×1×C
vector that sees the whole input (CC117 where the scores do not fit). 0 parameters; H·W·C MACs, the weighted sum
being a contraction of the volume with the weights (a matmul, which PyTorch's FLOP counter counts). Keras: the
registered ``AttentionPooling2D``; tf.nn: ``tf.nn.softmax`` and ``tf.reduce_sum``; PyTorch: the same in an
expression; ONNX: timm's ``GlobalContext`` as PyTorch's exporters write it (the scores reshaped to (N, 1, H·W), a
Softmax over the positions, Unsqueeze; the features reshaped to (N, C, H·W), Unsqueeze; MatMul; a Reshape to (N,
C, 1, 1)), fused into one node.
"""

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, WithJsonSchema

from convcalc.layers.base import Computed, FieldPair, whole_input_field, widest
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
"""The name the ONNX import gives the fused split attention (no ONNX op has it)."""
POOL_FUSED_OP = "AttentionPool"
"""The name the ONNX import gives the fused attention pooling (no ONNX op has it)."""

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


def _fused_of_two(node: OnnxNode, body: dict[str, Any], reads: str) -> OnnxMapped:
    """A node the import fused (one of this module's ops) as the layer ``body`` of its two data inputs, which the
    layer ``reads`` (named in the refusal of any other inputs)."""
    if len(node.sources) != 2 or len(node.inputs) != 2:
        raise node.refuse(f"convcalc's {reads}")
    return OnnxMapped([body], 4)


def _read_onnx_split_attention(node: OnnxNode) -> OnnxMapped:
    """The import's fused SKNet or ResNeSt attention: the features (N, r·C, H, W), then the logits."""
    body = {"type": "split_attention", "radix": node.integer("radix", 2), "groups": node.integer("groups", 1)}
    return _fused_of_two(node, body, "split attention reads the features and the logits")


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


ATTENTION_POOLING_SOURCE = '''
@keras.saving.register_keras_serializable(package="convcalc")
class AttentionPooling2D(layers.Layer):
    """Attention pooling, which Keras lacks: a softmax over the positions of each head's scores weighs the
    features, summed over H and W to a 1x1xD vector (GCNet's global context; one head, or k, each for D/k
    channels)."""

    def __init__(self, heads=1, **kwargs):
        super().__init__(**kwargs)
        self.heads = int(heads)

    def call(self, inputs):
        features, scores = inputs
        size, depth = keras.ops.shape(features), features.shape[-1]
        weights = keras.ops.softmax(keras.ops.reshape(scores, (-1, size[1] * size[2], self.heads, 1)), axis=1)
        values = keras.ops.reshape(features, (-1, size[1] * size[2], self.heads, depth // self.heads))
        return keras.ops.reshape(keras.ops.sum(values * weights, axis=1), (-1, 1, 1, depth))

    def compute_output_shape(self, input_shape):
        features = input_shape[0]
        return (features[0], 1, 1, features[3])

    def get_config(self):
        return {**super().get_config(), "heads": self.heads}
'''
"""The one definition of ``AttentionPooling2D`` (``convcalc>AttentionPooling2D``): pasted into generated Keras code,
executed by :mod:`convcalc.export.runtime` for in-memory models; the Keras import reads it as data."""


def _tf_attention_pool(op: Op, read: list[str], padding: str) -> str:
    depth, heads = op.output[2], op.integer("heads")
    positions = f"tf.shape({read[0]})[1] * tf.shape({read[0]})[2]"
    weights = f"tf.nn.softmax(tf.reshape({read[1]}, [-1, {positions}, {heads}, 1]), axis=1)"
    values = f"tf.reshape({read[0]}, [-1, {positions}, {heads}, {depth // heads}])"
    return f"tf.reshape(tf.reduce_sum({values} * {weights}, axis=1), [-1, 1, 1, {depth}])"


def _read_attention_pool(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    """convcalc's AttentionPooling2D: its heads are the scores' depth, which the spec's attention_pool reads; a
    layer whose ``heads`` says otherwise (Keras builds it, and mixes the batch up) is refused where the file
    records the scores' shape."""
    layer.needs_volume(sources[0])
    heads = layer.config.get("heads", 1)
    build = layer.raw.get("build_config")
    shapes = build.get("input_shape") if isinstance(build, dict) else None
    scores = shapes[1] if isinstance(shapes, list) and len(shapes) == 2 else None
    if isinstance(scores, list) and len(scores) == 4 and scores[-1] != heads:
        raise layer.refuse(f"heads {heads!r} on scores of depth {scores[-1]!r}: one head per score", "heads")
    return Mapped([{"type": "attention_pool"}], 4)


def _read_onnx_attention_pool(node: OnnxNode) -> OnnxMapped:
    """The import's fused GCNet context: the features (N, C, H, W), then the scores (N, k, H, W)."""
    return _fused_of_two(node, {"type": "attention_pool"}, "attention pooling reads the features and the scores")


class AttentionPool(_Merge):
    """Pools a volume by attention: the features H×W×C and the scores H×W×k (one head for GCNet, k dividing C);
    out[c] = Σ_p softmax_p(score of c's head)·x[p, c], 1×1×C; 0 params, H·W·C MACs (the weighted sum)."""

    type: Literal["attention_pool"]

    kind_name = "attention_pool"
    mark = "select"
    traits = MERGE_TRAITS._replace(whole_input=True)
    inputs_exactly = 2
    macs_of_activations = True
    example = {"type": "attention_pool", "inputs": ["input", "input"]}
    keras_readers = {"AttentionPooling2D": _read_attention_pool}
    onnx_readers = {POOL_FUSED_OP: _read_onnx_attention_pool}
    spelled_elsewhere = {
        "globalcontext": '"type": "attention_pool"',
        "contextblock": '"type": "attention_pool"',
        "attentionpooling": '"type": "attention_pool"',
        "attentionpooling2d": '"type": "attention_pool"',
    }
    keras_ops = {"AttentionPooling2D": KerasOp(_tf_attention_pool, keras_source=ATTENTION_POOLING_SOURCE)}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        features = inputs[0]  # scores of another H×W, or heads that do not divide the depth, are CC117's
        return Computed(Shape(1, 1, features.depth), macs=features.values)

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        return whole_input_field(fields, shape)

    def is_nonlinear(self) -> bool:
        return True  # a softmax of the scores weighs the features

    def notation(self, window: Window | None) -> str:
        return "softmax over H×W"

    def caption(self) -> str:
        return "attn pool"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        heads = ops.sources[1][1][-1]
        inputs, _ = _merge_inputs(ops, volumes=True)
        return ops.append("AttentionPooling2D", ops.base, volume_of(output), tuple(inputs), {"heads": heads})

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        heads = ops.sources[1][1][0]
        inputs, _ = _merge_inputs(ops, volumes=True)
        depth = output.depth
        values = f"{{0}}.unflatten(1, ({heads}, {depth // heads})).flatten(3)"  # (N, k, C/k, H·W)
        weights = "torch.softmax({1}.flatten(2), dim=-1).unsqueeze(2)"  # (N, k, 1, H·W)
        code = f"({values} * {weights}).sum(-1).flatten(1)[:, :, None, None]"
        return ops.expression(ops.base, code, chw(output), tuple(inputs))
