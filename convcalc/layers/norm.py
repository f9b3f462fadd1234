"""Normalisation and per-channel scaling: ``batchnorm``, ``layer_norm``, ``group_norm``, ``local_response_norm``
and ``scale``.

The shape and the receptive field pass through and no MACs are counted (the convention for normalisation).
batchnorm has 4·D parameters in Keras' count: γ and β trainable (D each, when ``scale``/``center``), the moving
mean and variance not (D each). layer_norm and group_norm keep no statistics: γ and β, 2·D trainable.
local_response_norm (AlexNet's) learns nothing. scale is a learned γ alone: D trainable. Keras:
``BatchNormalization``, ``LayerNormalization``, ``GroupNormalization``, keras.applications ConvNeXt's
``LayerScale``, and ``LocalResponseNormalization``, which Keras lacks and convcalc defines and registers once;
tf.nn: ``tf.nn.moments``, ``tf.nn.batch_normalization``, and local response normalisation written out
(``tf.square``, ``tf.pad``, ``tf.add_n``).
"""

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from convcalc.layers.base import Computed, PerPosition
from convcalc.layers.fields import MAX_SIZE, Number, OddSize, PositiveInt, StrictBool
from convcalc.layers.keras import ArgValue, KerasLayer, KerasOps, Mapped, Op, Tensor, short_json
from convcalc.layers.onnx import CHANNELS_LAST, Constant, OnnxMapped, OnnxNode, channel_axis, keep_layout
from convcalc.layers.pytorch import TorchOps, TorchRefusal, TorchStep
from convcalc.layers.tfnn import KerasOp, variable
from convcalc.layers.volume import Shape, Window
from convcalc.pysource import identifier, literal

BATCHNORM_EPSILON = 1e-3
VOLUME_AXES = (1, 2, 3)
"""Keras's ``axis`` of a layer normalisation over H, W and D (NHWC's last three)."""
BATCHNORM_MOMENTUM = 0.99
"""Keras's BatchNormalization defaults, written out so that the tf.nn code uses the same numbers."""
NORM_EPSILON = 1e-3
"""Keras's LayerNormalization and GroupNormalization default (ConvNeXt's 1e-6 changes no shape or count)."""

_TFNN_BATCHNORM = f'''

BATCHNORM_EPSILON = {BATCHNORM_EPSILON!r}
BATCHNORM_MOMENTUM = {BATCHNORM_MOMENTUM!r}  # Keras's defaults


def batch_norm(x, moving_mean, moving_variance, beta, gamma, training: bool) -> tf.Tensor:
    """Keras's BatchNormalization: batch statistics while training (moving ones updated), else the moving ones."""
    if training:
        mean, variance = tf.nn.moments(x, axes=list(range(len(x.shape) - 1)))
        moving_mean.assign(moving_mean * BATCHNORM_MOMENTUM + mean * (1 - BATCHNORM_MOMENTUM))
        moving_variance.assign(moving_variance * BATCHNORM_MOMENTUM + variance * (1 - BATCHNORM_MOMENTUM))
    else:
        mean, variance = moving_mean, moving_variance
    return tf.nn.batch_normalization(x, mean, variance, beta, gamma, BATCHNORM_EPSILON)
'''

_TFNN_LAYER_NORM = f'''

LAYER_NORM_EPSILON = {NORM_EPSILON!r}  # Keras's default


def layer_norm(x, beta, gamma, axes=(-1,)) -> tf.Tensor:
    """Keras's LayerNormalization over the depth (each position's D values) or over H, W and D (axes (1, 2, 3):
    all of an example's values) to mean 0 and variance 1."""
    mean, variance = tf.nn.moments(x, axes=list(axes), keepdims=True)
    return tf.nn.batch_normalization(x, mean, variance, beta, gamma, LAYER_NORM_EPSILON)
'''

_TFNN_GROUP_NORM = f'''

GROUP_NORM_EPSILON = {NORM_EPSILON!r}  # Keras's default


def group_norm(x, groups: int, beta, gamma) -> tf.Tensor:
    """Keras's GroupNormalization: the depth cut into groups, each normalised over H, W and its D/groups channels."""
    height, width, depth = x.shape[1], x.shape[2], x.shape[3]
    grouped = tf.reshape(x, [-1, height, width, groups, depth // groups])
    mean, variance = tf.nn.moments(grouped, axes=[1, 2, 4], keepdims=True)
    grouped = (grouped - mean) * tf.math.rsqrt(variance + GROUP_NORM_EPSILON)
    x = tf.reshape(grouped, [-1, height, width, depth])
    if gamma is not None:
        x = x * gamma
    return x if beta is None else x + beta
'''

LAYER_SCALE_SOURCE = """
# Keras's own LayerScale, the class keras.applications.ConvNeXt builds and saves (Keras has no public one).
from keras.src.applications.convnext import LayerScale  # noqa: E402
"""
"""What the export uses for ``scale``: keras.applications' ``LayerScale`` itself (x·γ, γ of D values named
``variable``), so an exported model holds exactly the layer ConvNeXt holds and imports back as it does."""
LAYER_SCALE_MODULE = "keras.src.applications.convnext"


LEARNED_AFFINE_SOURCE = '''
@keras.saving.register_keras_serializable(package="convcalc")
class LearnedAffine(layers.Layer):
    """x·γ (+ β) with γ, and β when centred, learned per channel or one for the whole volume (NFNet's skip-init
    gain, HGNetV2's learnable affine block), which Keras lacks."""

    def __init__(self, init=1.0, per_channel=True, center=False, **kwargs):
        super().__init__(**kwargs)
        self.init, self.per_channel, self.center = float(init), bool(per_channel), bool(center)

    def build(self, input_shape):
        size = (input_shape[-1] if self.per_channel else 1,)
        self.gamma = self.add_weight(shape=size, initializer=keras.initializers.Constant(self.init), name="gamma")
        self.beta = self.add_weight(shape=size, initializer="zeros", name="beta") if self.center else None

    def call(self, inputs):
        return inputs * self.gamma if self.beta is None else inputs * self.gamma + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {"init": self.init, "per_channel": self.per_channel, "center": self.center}
        return {**super().get_config(), **config}
'''
"""The one definition of ``LearnedAffine`` (a registered, serializable Keras layer, ``convcalc>LearnedAffine``):
the export of a ``scale`` that keras.applications' ``LayerScale`` cannot hold (one γ, or a β); the Keras import
reads its config as data."""


def _gamma_beta(op: Op) -> tuple[str, str]:
    name = identifier(op.name)
    beta = f"self.{name}_beta" if op.flag("center", True) else "None"
    gamma = f"self.{name}_gamma" if op.flag("scale", True) else "None"
    return beta, gamma


def _tf_batch_norm(op: Op, read: list[str], padding: str) -> str:
    name = identifier(op.name)
    beta, gamma = _gamma_beta(op)
    # A frozen BatchNormalization runs in inference mode even while training, as Keras's does.
    training = "training" if op.flag("trainable", True) else "False"
    return f"batch_norm({read[0]}, self.{name}_moving_mean, self.{name}_moving_variance, {beta}, {gamma}, {training})"


def _tf_layer_norm(op: Op, read: list[str], padding: str) -> str:
    axes = op.kwargs.get("axis")
    over = "" if axes is None else f", axes={literal(axes)}"
    return f"layer_norm({read[0]}, {', '.join(_gamma_beta(op))}{over})"


def _tf_group_norm(op: Op, read: list[str], padding: str) -> str:
    return f"group_norm({read[0]}, {op.integer('groups')}, {', '.join(_gamma_beta(op))})"


def _affine_variables(op: Op, shape: Shape) -> list[str]:
    """γ (ones) and β (zeros), each when the op learns it: per channel, or per value of an H×W×D volume when the
    op normalises over all three axes."""
    name = identifier(op.name)
    size = f"{shape.height}, {shape.width}, {shape.depth}" if op.kwargs.get("axis") == VOLUME_AXES else shape.depth
    lines = []
    if op.flag("scale", True):
        lines.append(variable(name, "gamma", f"tf.ones([{size}])"))
    if op.flag("center", True):
        lines.append(variable(name, "beta", f"tf.zeros([{size}])"))
    return lines


def _batch_norm_variables(op: Op, shape: Shape) -> list[str]:
    name, depth = identifier(op.name), shape.depth
    return [
        *_affine_variables(op, shape),
        variable(name, "moving_mean", f"tf.zeros([{depth}])", trainable=False),
        variable(name, "moving_variance", f"tf.ones([{depth}])", trainable=False),
    ]


def _scale_variables(op: Op, shape: Shape) -> list[str]:
    initial = f"tf.fill([{op.integer('projection_dim')}], {literal(op.number('init_values'))})"
    return [variable(identifier(op.name), "variable", initial, "γ: Keras's LayerScale names its weight 'variable'")]


def _learned_affine_variables(op: Op, shape: Shape) -> list[str]:
    name, size = identifier(op.name), shape.depth if op.flag("per_channel", True) else 1
    lines = [variable(name, "gamma", f"tf.fill([{size}], {literal(op.number('init'))})")]
    if op.flag("center", False):
        lines.append(variable(name, "beta", f"tf.zeros([{size}])"))
    return lines


def _tf_learned_affine(op: Op, read: list[str], padding: str) -> str:
    name = identifier(op.name)
    scaled = f"{read[0]} * self.{name}_gamma"
    return f"{scaled} + self.{name}_beta" if op.flag("center", False) else scaled


def _flags(layer: KerasLayer, body: dict[str, object]) -> dict[str, object]:
    for key in ("center", "scale"):
        if not layer.flag(key):
            body[key] = False
    return body


def _read_batchnorm(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.last_axis(sources[0], "axis")
    if layer.config.get("renorm"):
        raise layer.refuse("batch renormalization keeps extra moving statistics convcalc does not count", "renorm")
    return Mapped([_flags(layer, {"type": "batchnorm"})], sources[0].rank)


def _read_onnx_batchnorm(node: OnnxNode) -> OnnxMapped:
    """BatchNormalization: scale γ and bias β trainable, the running mean and variance not (the spec's count).
    γ and β as :func:`_affine` reads them: PyTorch's ``BatchNorm2d(affine=False)`` learns neither, and its
    exporters write ones and zeros in their place — Constant nodes beside stored statistics (TorchScript's), one
    value expanded, or initializers the optimised dynamo export makes where its record of the call says None."""
    source = node.source()
    channels = [node.weight(position, what, 1)[0] for position, what in ((3, "running mean"), (4, "running variance"))]
    lacking = _recorded_none(node, weight_argument=1)  # aten.batch_norm(input, weight, bias, …)
    # A file that writes every tensor as a Constant node (statistics too) may hold an untrained γ of ones: learned.
    statistics_stored = all(getattr(node.constant(p, "statistics"), "initializer", False) for p in (3, 4))
    flags, learned = _affine(node, channels[0], lacking=lacking, written_identity=statistics_stored)
    return OnnxMapped([{"type": "batchnorm", **flags}], source.rank, weights=(*learned, 3, 4))


def _read_onnx_layer_norm(node: OnnxNode) -> OnnxMapped:
    """LayerNormalization over the last axis of a channels-last volume (PyTorch's LayerNorm(C) between
    Transposes, ConvNeXt's LayerNorm2d) or of an (N, n) vector: γ (and β, when there) per channel; or from axis 1
    of an (N, C, H, W) volume (PyTorch's LayerNorm([C, H, W]), a WGAN-GP critic's): γ and β per value."""
    source = node.source()
    axis = node.integer("axis", -1)
    body: dict[str, object] = {"type": "layer_norm"}
    shape = node.input_shapes[0]
    learned: tuple[int, ...] | None
    if axis in (1, -3) and source.rank == 4 and not source.layout:
        body["over"] = "volume"
        sizes = [size for size in (shape or ())[1:] if size is not None]  # the batch axis may be unknown
        learned = tuple(sizes) if shape is not None and len(shape) == 4 and len(sizes) == 3 else None
    elif axis not in (-1, source.rank - 1) or not (source.layout == CHANNELS_LAST or source.rank == 2):
        raise node.refuse(
            f"normalises from axis {axis} of a rank-{source.rank} tensor: convcalc's layer_norm is over the channels"
            " (the last axis after a Transpose to channels last, or of a vector) or over C, H and W (from axis 1 of"
            " an NCHW volume)"
        )
    else:
        learned = (shape[-1],) if shape is not None and shape and shape[-1] is not None else None
    if learned is None:
        raise node.refuse(f"normalises an input of shape {shape}: convcalc needs the sizes it normalises over")
    # aten.layer_norm(input, normalized_shape, weight, bias, eps); elementwise_affine=False or bias=False: None
    lacking = _recorded_none(node, weight_argument=2)
    flags, weights = _affine(node, learned[0], lacking=lacking, learned_dims=learned)
    return keep_layout(node, [{**body, **flags}], weights=weights)


def _read_onnx_group_norm(node: OnnxNode) -> OnnxMapped:
    """GroupNormalization (opset 21's: scale and bias per channel) of an (N, C, H, W) volume; also PyTorch's
    GroupNorm as the exporters spell it (Reshape, InstanceNormalization, Reshape, Mul by γ, Add β), which the
    importer fuses into one, with γ and β as stored. γ and β as :func:`_affine` reads them."""
    node.needs_volume()
    groups = node.integer("num_groups", 0)
    shape = node.input_shapes[0]
    if groups < 1 or shape is None or shape[1] is None:
        raise node.refuse(
            f"num_groups {groups} of an input of shape {shape}: convcalc reads a positive group count of a known"
            " depth (opset 21's GroupNormalization)"
        )
    flags, weights = _affine(node, shape[1])
    return OnnxMapped([{"type": "group_norm", "groups": groups, **flags}], 4, weights=weights)


def _recorded_none(node: OnnxNode, weight_argument: int) -> frozenset[int]:
    """The γ and β inputs (1 and 2) that the dynamo exporter's record of the PyTorch call passes as None (a norm
    without them), where the call's weight is its argument ``weight_argument`` and its bias the next."""
    recorded = node.recorded
    if recorded is None:
        return frozenset()
    shift = weight_argument - 1
    return frozenset(p for p in (1, 2) if recorded[p + shift : p + shift + 1] == ("None",))


def _affine(
    node: OnnxNode,
    channels: int | None,
    lacking: frozenset[int] = frozenset(),
    written_identity: bool = True,
    learned_dims: tuple[int, ...] | None = None,
) -> tuple[dict[str, object], tuple[int, ...]]:
    """What a normalisation learns of its scale γ (input 1) and bias β (input 2). A stored tensor of one value per
    channel, (C,) or (C, 1, 1), is learned (``channels`` = C); or, where ``learned_dims`` gives them, one of exactly
    those dims (a layer norm's, one value per normalised value). The ones and zeros the exporters write for an
    ``affine=False`` norm are none: Constant nodes (TorchScript's exporter), or one value expanded, no stored
    tensor (the dynamo exporter's); so are the inputs at ``lacking`` (what the call itself lacks), and Constant
    nodes of ones and zeros only where ``written_identity``. The body's flags for what it does not learn, and the
    inputs holding parameters."""
    flags: dict[str, object] = {}
    learned: list[tuple[int, int]] = []
    for position, what, identity, flag in ((1, "scale", 1.0, "scale"), (2, "bias", 0.0, "center")):
        item = node.constant(position, what)
        if (
            item is None
            or node.written
            or position in lacking
            or (written_identity and _written_identity(item, identity))
            or not (node.is_stored(position) or item.initializer)
        ):
            flags[flag] = False  # written by the exporter: no stored tensor, ones and zeros as Constant nodes, or
            continue  # an initializer the dynamo exporter's optimiser made of them (the call has no weight)
        if not node.is_stored(position):
            raise node.refuse(
                f"its {what} (input {position}) is computed from a stored tensor: convcalc reads a stored tensor of"
                " one value per channel"
            )
        dims = item.dims if item is not None else None
        if learned_dims is not None:
            if dims is None or tuple(dims) != learned_dims:
                raise node.refuse(
                    f"its {what} (input {position}) has shape {dims}: convcalc reads one value per normalised value,"
                    f" {list(learned_dims)}"
                )
        elif dims is None or len(dims) not in (1, 3) or any(d != 1 for d in dims[1:]):
            raise node.refuse(f"its {what} (input {position}) has shape {dims}: convcalc reads one value per channel")
        learned.append((position, dims[0]))
    sizes = [size for _, size in learned]
    if len(sizes) == 2 and sizes[0] != sizes[1]:
        raise node.refuse(
            f"a scale of {sizes[0]} values and a bias of {sizes[1]}: convcalc reads one of each per channel"
        )
    if sizes and sizes[0] != channels:
        raise node.refuse(f"a scale of {sizes[0]} values for {channels} channels: convcalc reads one per channel")
    return flags, tuple(position for position, _ in learned)


def _read_onnx_instance_norm(node: OnnxNode) -> OnnxMapped:
    """InstanceNormalization of an (N, C, H, W) volume (PyTorch's InstanceNorm2d, style transfer's and
    CycleGAN's): each channel normalised over H and W, then scaled and shifted per channel — a group_norm with
    one group per channel, γ and β as :func:`_affine` reads them. (Inside PyTorch's GroupNorm, between two
    Reshapes, the importer fuses it into that group_norm first.)"""
    node.needs_volume()
    shape = node.input_shapes[0]
    if shape is None or shape[1] is None:
        raise node.refuse(f"an input of shape {shape}: convcalc needs its depth")
    flags, weights = _affine(node, shape[1])
    return OnnxMapped([{"type": "group_norm", "groups": shape[1], **flags}], 4, weights=weights)


def _written_identity(item: Constant | None, value: float) -> bool:
    """A Constant node's value (no initializer, which a model may train) that is ``value`` throughout."""
    if item is None or item.initializer:
        return False
    return set(item.values) == {value} if item.values else item.uniform == value


def _read_layer_norm(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    """LayerNormalization over the depth (axis −1), or over H, W and D of a volume (axis [1, 2, 3])."""
    body: dict[str, object] = {"type": "layer_norm"}
    axis = layer.config.get("axis", -1)
    rank = sources[0].rank
    volume_axes = isinstance(axis, list) and all(type(a) is int and 1 <= abs(a) <= 3 for a in axis)
    if rank == 4 and volume_axes and len(axis) == 3 and {a % 4 for a in axis} == {1, 2, 3}:
        body["over"] = "volume"
    else:
        layer.last_axis(sources[0], "axis")
    if layer.config.get("rms_scaling"):
        raise layer.refuse("RMS scaling (rms_scaling=true) is a normalisation convcalc does not model", "rms_scaling")
    return Mapped([_flags(layer, body)], rank)


def _read_group_norm(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.last_axis(sources[0], "axis")
    groups = layer.config.get("groups", 32)
    dims = layer.input_dims()
    if groups == -1 and dims is not None and len(dims) == 3:
        groups = dims[2]  # Keras's instance normalisation: one group per channel
    if type(groups) is not int or groups < 1:
        raise layer.refuse(
            f"groups {short_json(groups)}: convcalc reads a positive group count, or -1 (instance normalisation)"
            " where the input's depth is recorded",
            "groups",
        )
    return Mapped([_flags(layer, {"type": "group_norm", "groups": groups})], 4)


def _read_learned_affine(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    body: dict[str, object] = {"type": "scale", "init": layer.number("init", 1.0)}
    if not layer.flag("per_channel"):
        body["gammas"] = "one"
    if layer.flag("center", False):
        body["center"] = True
    return Mapped([body], sources[0].rank)


def _read_layer_scale(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    if layer.raw.get("module") != LAYER_SCALE_MODULE:
        raise layer.refuse(
            f"a LayerScale from module {short_json(layer.raw.get('module'))}; convcalc reads {LAYER_SCALE_MODULE}'s"
        )
    return Mapped([{"type": "scale", "init": layer.number("init_values")}], sources[0].rank)


CHANNEL_LAYER_NORM_SOURCE = '''
class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels at each position (Keras's LayerNormalization(axis=-1) on NHWC): NCHW is
    moved to NHWC for nn.LayerNorm(C) and back; a flat [N, C] is normalised as it is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return super().forward(x)
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
'''
"""PyTorch's LayerNorm normalises the last axes; convcalc's layer_norm the depth (channels) at each position."""

LAYER_SCALE_TORCH_SOURCE = '''
class LayerScale(nn.Module):
    """x·γ with one learned γ per channel (ConvNeXt's layer scale), γ starting at init."""

    def __init__(self, channels: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(-1, *[1] * (x.dim() - 2))
'''


LEARNED_AFFINE_TORCH_SOURCE = '''
class LearnedAffine(nn.Module):
    """x·γ (+ β) with γ, and β when centred, of size values: one per channel, or one for the whole volume."""

    def __init__(self, size: int, init: float, center: bool) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((size,), float(init)))
        self.beta = nn.Parameter(torch.zeros(size)) if center else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (-1, *[1] * (x.dim() - 2))
        scaled = x * self.gamma.view(shape)
        return scaled if self.beta is None else scaled + self.beta.view(shape)
'''


class _Affine(PerPosition):
    """A normalisation that learns γ and β (each optional)."""

    center: StrictBool = Field(default=True, description="Learn β (a per-channel offset).")
    scale: StrictBool = Field(default=True, description="Learn γ (a per-channel scale).")

    def affine(self, shape: Shape, statistics: int = 0) -> Computed:
        d = shape.depth
        return Computed(shape, weights=d if self.scale else 0, biases=d if self.center else 0, non_trainable=statistics)

    def affine_notation(self) -> str:
        return "γ β" if self.scale and self.center else "γ" if self.scale else "β" if self.center else "—"

    def torch_affine(self, module: str) -> str:
        """``affine=`` of a PyTorch norm, which learns γ and β together or neither."""
        if self.scale != self.center:
            raise TorchRefusal(
                f"{'γ' if self.scale else 'β'} without {'β' if self.scale else 'γ'}: PyTorch's {module} learns γ and"
                " β together (affine=True) or neither"
            )
        return "" if self.scale else ", affine=False"

    def affine_args(self) -> dict[str, ArgValue]:
        flags: dict[str, ArgValue] = {} if self.center else {"center": False}
        flags.update({} if self.scale else {"scale": False})
        return flags


class BatchNorm(_Affine):
    """Batch normalisation: γ and β trainable (D each), moving mean and variance not (D each)."""

    type: Literal["batchnorm"]

    kind_name = "batchnorm"
    example = {"type": "batchnorm"}
    keras_readers = {"BatchNormalization": _read_batchnorm}
    onnx_readers = {"BatchNormalization": _read_onnx_batchnorm}
    spelled_elsewhere = {
        "batchnormalization": '"type": "batchnorm"',
        "batchnorm2d": '"type": "batchnorm"',
        "bn": '"type": "batchnorm"',
    }
    keras_ops = {
        "BatchNormalization": KerasOp(_tf_batch_norm, _batch_norm_variables, tfnn_support=_TFNN_BATCHNORM),
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return self.affine(shape, statistics=2 * shape.depth)

    def is_nonlinear(self) -> bool:
        return False  # an affine map once trained

    def notation(self, window: Window | None) -> str:
        return self.affine_notation() + " (+ mean, var)"

    def caption(self) -> str:
        return "bn"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return ops.add(
            "BatchNormalization",
            ops.base,
            ops.shape,
            epsilon=BATCHNORM_EPSILON,
            momentum=BATCHNORM_MOMENTUM,
            **self.affine_args(),
        )

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        module = "nn.BatchNorm1d" if len(ops.shape) == 1 else "nn.BatchNorm2d"
        # PyTorch's momentum weighs the new batch: 1 − Keras's 0.99; the running mean and var are buffers.
        args = f"{ops.channels()}, eps={BATCHNORM_EPSILON!r}, momentum={round(1 - BATCHNORM_MOMENTUM, 6)!r}"
        return ops.module(ops.base, f"{module}({args}{self.torch_affine(module)})", ops.shape)


class LayerNorm(_Affine):
    """Layer normalisation over the depth: each position's D values to mean 0 and variance 1 by their own
    statistics, then γ·x̂ + β: 2·D trainable parameters (γ as weights, β as biases), no statistics kept. Over the
    volume: all H·W·D values of an example so, with γ and β per value: 2·H·W·D.

    Keras ``LayerNormalization(axis=-1)``; PyTorch's ``LayerNorm(C)`` on a channels-last volume (ConvNeXt). Over
    the volume: Keras ``LayerNormalization(axis=[1, 2, 3])``, PyTorch's ``LayerNorm([C, H, W])`` (a WGAN-GP critic's,
    where a batchnorm would break the gradient penalty). Nonlinear: it divides by the input's own spread.
    """

    type: Literal["layer_norm"]
    over: Literal["depth", "volume"] = Field(
        default="depth",
        description="depth: each position's D values, γ and β per channel; volume: all H·W·D values of an example,"
        " γ and β per value.",
    )

    kind_name = "layer_norm"
    example = {"type": "layer_norm"}
    keras_readers = {"LayerNormalization": _read_layer_norm}
    onnx_readers = {"LayerNormalization": _read_onnx_layer_norm}
    spelled_elsewhere = {
        "layernormalization": '"type": "layer_norm"',
        "ln": '"type": "layer_norm"',
    }
    keras_ops = {"LayerNormalization": KerasOp(_tf_layer_norm, _affine_variables, tfnn_support=_TFNN_LAYER_NORM)}
    torch_helpers = {"ChannelLayerNorm": CHANNEL_LAYER_NORM_SOURCE}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        if self.over == "volume":
            values = shape.height * shape.width * shape.depth
            return Computed(shape, weights=values if self.scale else 0, biases=values if self.center else 0)
        return self.affine(shape)

    def is_nonlinear(self) -> bool:
        return True

    def notation(self, window: Window | None) -> str:
        return f"{self.affine_notation()} over {'D' if self.over == 'depth' else 'H×W×D'}"

    def caption(self) -> str:
        return "ln"

    def _over_volume(self, shape: tuple[int, ...]) -> bool:
        return self.over == "volume" and len(shape) == 3  # over a flat vector the two are one

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        axis: dict[str, ArgValue] = {"axis": VOLUME_AXES} if self._over_volume(ops.shape) else {}
        return ops.add("LayerNormalization", ops.base, ops.shape, epsilon=NORM_EPSILON, **axis, **self.affine_args())

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        if self.center and not self.scale:
            raise TorchRefusal("β without γ: PyTorch's LayerNorm has a bias only with elementwise_affine")
        flags = "" if self.scale else ", elementwise_affine=False"
        flags += "" if self.center or not self.scale else ", bias=False"
        if self._over_volume(ops.shape):  # NCHW's last three axes: PyTorch's own LayerNorm([C, H, W])
            constructor = f"nn.LayerNorm({literal(list(ops.shape))}, eps={NORM_EPSILON!r}{flags})"
            return ops.module(ops.base, constructor, ops.shape, weights=(ops.shape,) if self.scale else ())
        return ops.module(ops.base, f"ChannelLayerNorm({ops.channels()}, eps={NORM_EPSILON!r}{flags})", ops.shape)


class GroupNorm(_Affine):
    """Group normalisation: the depth D cut into ``groups`` groups of D/groups channels, each normalised over
    H, W and its channels, then γ·x̂ + β: 2·D trainable parameters. groups must divide D (CC112 otherwise:
    TensorFlow refuses the layer).

    Keras ``GroupNormalization``; PyTorch ``GroupNorm(groups, C)``. Nonlinear, like layer_norm. One group per
    channel (groups = D) is instance normalisation: Keras's ``groups=-1``, PyTorch's ``InstanceNorm2d(C,
    affine=True)``, ONNX's ``InstanceNormalization``.
    """

    type: Literal["group_norm"]
    groups: PositiveInt = Field(default=32, description="G: the number of channel groups (must divide D).")

    kind_name = "group_norm"
    example = {"type": "group_norm", "groups": 2}
    keras_readers = {"GroupNormalization": _read_group_norm}
    onnx_readers = {"GroupNormalization": _read_onnx_group_norm, "InstanceNormalization": _read_onnx_instance_norm}
    spelled_elsewhere = {
        "groupnormalization": '"type": "group_norm"',
        "gn": '"type": "group_norm"',
    }
    keras_ops = {"GroupNormalization": KerasOp(_tf_group_norm, _affine_variables, tfnn_support=_TFNN_GROUP_NORM)}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return self.affine(shape)

    def is_nonlinear(self) -> bool:
        return True

    def notation(self, window: Window | None) -> str:
        return f"G={self.groups} {self.affine_notation()}"

    def caption(self) -> str:
        return "gn"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        height, width, depth = ops.volume()
        args = {"groups": self.groups, "epsilon": NORM_EPSILON, **self.affine_args()}
        return ops.add("GroupNormalization", ops.base, (height, width, depth), **args)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        args = f"{self.groups}, {ops.channels()}, eps={NORM_EPSILON!r}{self.torch_affine('GroupNorm')}"
        return ops.module(ops.base, f"nn.GroupNorm({args})", ops.shape)


LOCAL_RESPONSE_NORMALIZATION_SOURCE = '''
@keras.saving.register_keras_serializable(package="convcalc")
class LocalResponseNormalization(layers.Layer):
    """Local response normalisation across channels (AlexNet's; PyTorch's LocalResponseNorm, ONNX's LRN), which
    Keras lacks: x / (bias + alpha/size · Σ x²)^beta, the sum over the size channels centred on each channel
    (zeros past the first and last)."""

    def __init__(self, size=5, alpha=1e-4, beta=0.75, bias=1.0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.bias = int(size), float(alpha), float(beta), float(bias)

    def call(self, inputs):
        depth = inputs.shape[-1]
        radius = min(self.size // 2, depth - 1)  # past the first and last channel the window sums only zeros
        squares = keras.ops.pad(keras.ops.square(inputs), ((0, 0), (0, 0), (0, 0), (radius, radius)))
        total = squares[..., :depth]
        for offset in range(1, 2 * radius + 1):
            total = total + squares[..., offset : offset + depth]
        return inputs / keras.ops.power(self.bias + (self.alpha / self.size) * total, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {"size": self.size, "alpha": self.alpha, "beta": self.beta, "bias": self.bias}
        return {**super().get_config(), **config}
'''
"""The one definition of ``LocalResponseNormalization`` (a registered, serializable Keras layer,
``convcalc>LocalResponseNormalization``): pasted into generated Keras code, executed by
:mod:`convcalc.export.runtime` for in-memory models; the Keras import reads its config as data."""


_TFNN_LOCAL_RESPONSE_NORM = '''

def local_response_norm(x, size: int, alpha: float, beta: float, bias: float) -> tf.Tensor:
    """x / (bias + alpha/size · Σ x²)^beta, the sum over the size channels centred on each (zeros past the ends):
    tf.nn.local_response_normalization's values (its alpha is alpha/size), written out because its GPU kernel
    takes only depth radii 1 to 7, beta ≥ 0.01 and bias ≥ 1e-5."""
    depth = x.shape[-1]
    radius = min(size // 2, depth - 1)  # past the first and last channel the window sums only zeros
    squares = tf.pad(tf.square(x), [[0, 0], [0, 0], [0, 0], [radius, radius]])
    total = tf.add_n([squares[..., offset : offset + depth] for offset in range(2 * radius + 1)])
    return x / tf.pow(bias + alpha / size * total, beta)
'''


def _tf_local_response_norm(op: Op, read: list[str], padding: str) -> str:
    numbers = ", ".join(literal(op.number(key)) for key in ("alpha", "beta", "bias"))
    return f"local_response_norm({read[0]}, {op.integer('size')}, {numbers})"


def _lrn_body(size: object, alpha: object, beta: object, bias: object) -> dict[str, object]:
    return {"type": "local_response_norm", "size": size, "alpha": alpha, "beta": beta, "bias": bias}


def _read_local_response_norm(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.needs_volume(sources[0])
    config = layer.config
    body = _lrn_body(
        config.get("size", 5), config.get("alpha", 1e-4), config.get("beta", 0.75), config.get("bias", 1.0)
    )
    return Mapped([body], 4)


def _read_onnx_lrn(node: OnnxNode) -> OnnxMapped:
    """LRN across the channels of an (N, C, H, W) volume (the Caffe models of the ONNX model zoo: AlexNet,
    CaffeNet, GoogLeNet, ZFNet). An even size is refused: ONNX centres it one way, PyTorch another, TensorFlow
    not at all."""
    node.needs_volume()
    if "size" not in node.attributes:
        raise node.refuse("it has no size attribute, which LRN requires")
    size = node.integer("size", 0)
    if size < 1 or size % 2 == 0 or size > MAX_SIZE:
        raise node.refuse(
            f"size {size}: convcalc's local_response_norm centres an odd window of 1 to 2^31 − 1 channels on each"
        )
    body = _lrn_body(size, node.number("alpha", 1e-4), node.number("beta", 0.75), node.number("bias", 1.0))
    return OnnxMapped([body], 4)


class LocalResponseNorm(PerPosition):
    """Local response normalisation across channels (AlexNet's, GoogLeNet's first version): each value divided by
    (k + α/n · Σ x²)^β, the sum over the n channels centred on its own at the same position (zeros past the
    first and last). No parameters, no MACs (the normalisation convention); nonlinear. Batch normalisation has
    replaced it: AlexNet's authors measured 1–2% of top-1 error, later work next to nothing.

    α is divided by n as in Caffe, PyTorch's ``LocalResponseNorm(n, α, β, k)`` and ONNX's ``LRN``; the AlexNet
    paper's α multiplies the sum itself, so its k=2, n=5, α=10⁻⁴, β=0.75 is ``"size": 5, "alpha": 5e-4, "beta":
    0.75, "bias": 2`` here. Keras has no layer: the export defines and registers ``LocalResponseNormalization``
    (see :data:`LOCAL_RESPONSE_NORMALIZATION_SOURCE`); tf.nn's ``local_response_normalization`` takes
    ``depth_radius`` = (n − 1)/2 and α/n, the values the tf.nn export writes out (its GPU kernel takes only some
    settings). A window wider than 2·D − 1 sums only zeros past the channels: the exports stop there.
    """

    type: Literal["local_response_norm"]
    size: OddSize = Field(default=5, description="n: the channels each sum spans, centred on its own (odd).")
    alpha: Number = Field(default=1e-4, description="α, divided by n (Caffe's, PyTorch's and ONNX's convention).")
    beta: Number = Field(default=0.75, description="β: the power of the divisor.")
    bias: Number = Field(default=1.0, description="k: added before the power (AlexNet's 2, PyTorch's 1).")

    kind_name = "local_response_norm"
    example = {"type": "local_response_norm", "size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 2}
    keras_readers = {"LocalResponseNormalization": _read_local_response_norm}
    onnx_readers = {"LRN": _read_onnx_lrn}
    spelled_elsewhere = {
        "lrn": '"type": "local_response_norm"',
        "localresponsenormalization": '"type": "local_response_norm"',
    }
    keras_ops = {
        "LocalResponseNormalization": KerasOp(
            _tf_local_response_norm,
            tfnn_support=_TFNN_LOCAL_RESPONSE_NORM,
            keras_source=LOCAL_RESPONSE_NORMALIZATION_SOURCE,
        )
    }

    def is_nonlinear(self) -> bool:
        return True  # it divides by its input's own energy

    def notation(self, window: Window | None) -> str:
        return f"n={self.size} α={self.alpha:g} β={self.beta:g} k={self.bias:g}"

    def caption(self) -> str:
        return "lrn"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        ops.volume()
        args = {"size": self.size, "alpha": self.alpha, "beta": self.beta, "bias": self.bias}
        return ops.add("LocalResponseNormalization", ops.base, ops.shape, **args)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        depth, _, _ = ops.volume()
        # PyTorch pads size // 2 zero channels on each side; past 2·D − 1 the window sums only more zeros, so a
        # wider one is that window with α scaled to keep α/n (nn.LocalResponseNorm(2**31 − 1) asks for 274 GB).
        size, alpha = self.size, self.alpha
        if size > 2 * depth - 1:
            size, alpha = 2 * depth - 1, self.alpha * (2 * depth - 1) / self.size
        args = f"{size}, alpha={alpha!r}, beta={self.beta!r}, k={self.bias!r}"
        return ops.module(ops.base, f"nn.LocalResponseNorm({args})", ops.shape)


class Scale(PerPosition):
    """A learned scale, x·γ (+ β): γ per channel (ConvNeXt's layer scale), or one γ for the whole volume (NFNet's
    skip-init gain); β, when centred, of γ's size (HGNetV2's learnable affine block, one γ and one β). D or 1
    trainable weights (and as many biases); no MACs (the normalisation convention) and linear.

    Keras has no public layer for it: the export of a per-channel γ alone uses keras.applications' own
    ``LayerScale`` (the class ConvNeXt saves; see :data:`LAYER_SCALE_SOURCE`) with ``init_values`` = ``init``;
    any other, the registered ``LearnedAffine`` (:data:`LEARNED_AFFINE_SOURCE`). The import reads both.
    """

    type: Literal["scale"]
    init: Number = Field(default=1e-6, description="γ's initial value (ConvNeXt's 1e-6 by default).")
    gammas: Literal["channel", "one"] = Field(
        default="channel", description="γ per channel (D values), or one for the whole volume."
    )
    center: StrictBool = Field(default=False, description="Learn β too, x·γ + β, β of γ's size.")

    kind_name = "scale"
    example = {"type": "scale"}
    keras_readers = {"LayerScale": _read_layer_scale, "LearnedAffine": _read_learned_affine}
    spelled_elsewhere = {
        "layerscale": '"type": "scale"',
        "learnableaffineblock": '"type": "scale", "gammas": "one", "center": true',
        "skipinit": '"type": "scale", "gammas": "one"',
    }
    torch_helpers = {"LayerScale": LAYER_SCALE_TORCH_SOURCE, "LearnedAffine": LEARNED_AFFINE_TORCH_SOURCE}
    keras_ops = {
        "LayerScale": KerasOp(
            lambda op, read, _: f"{read[0]} * self.{identifier(op.name)}_variable",
            _scale_variables,
            keras_source=LAYER_SCALE_SOURCE,
        ),
        "LearnedAffine": KerasOp(_tf_learned_affine, _learned_affine_variables, keras_source=LEARNED_AFFINE_SOURCE),
    }

    def _size(self, shape: Shape) -> int:
        return shape.depth if self.gammas == "channel" else 1

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        size = self._size(shape)
        return Computed(shape, weights=size, biases=size if self.center else 0)

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        shared = "" if self.gammas == "channel" else " one"
        return f"γ{shared} init={self.init:g}" + (" + β" if self.center else "")

    def caption(self) -> str:
        return "scale"

    def _layer_scale(self) -> bool:
        """Whether keras.applications' LayerScale holds this scale (a per-channel γ alone)."""
        return self.gammas == "channel" and not self.center

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        if self._layer_scale():
            return ops.add("LayerScale", ops.base, ops.shape, init_values=self.init, projection_dim=ops.shape[-1])
        args: dict[str, ArgValue] = {"init": float(self.init), "per_channel": self.gammas == "channel"}
        return ops.add("LearnedAffine", ops.base, ops.shape, **args, center=self.center)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        channels = ops.channels()
        if self._layer_scale():
            return ops.module(ops.base, f"LayerScale({channels}, {float(self.init)!r})", ops.shape, ((channels,),))
        size = channels if self.gammas == "channel" else 1
        weights = ((size,), (size,)) if self.center else ((size,),)
        constructor = f"LearnedAffine({size}, {float(self.init)!r}, center={self.center})"
        return ops.module(ops.base, constructor, ops.shape, weights)


L2_EPSILON = 1e-12
"""The floor of the norm an L2 normalisation divides by: Keras's UnitNormalization and PyTorch's F.normalize."""


def _read_unit_normalization(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.last_axis(sources[0], "axis")
    return Mapped([{"type": "l2_normalize"}], sources[0].rank)


def _read_onnx_lp_normalization(node: OnnxNode) -> OnnxMapped:
    """LpNormalization with p = 2 over the channels (axis 1 of NCHW or of a vector, or the last axis of a
    channels-last volume); also PyTorch's F.normalize as its exporters write it, Div(x, Expand(Clip(ReduceL2(x))))
    over axis 1, which the importer fuses into one. p = 1 is another function."""
    source = node.source()
    axis, p = node.integer("axis", -1), node.integer("p", 2)
    over_channels = channel_axis(node, axis, source.rank) or (
        source.layout == CHANNELS_LAST and axis in (-1, source.rank - 1)
    )
    if p != 2 or not over_channels:
        raise node.refuse(
            f"p={p} over axis {axis} of a rank-{source.rank} tensor: convcalc's l2_normalize is the L2 norm over the"
            " channels"
        )
    return keep_layout(node, [{"type": "l2_normalize"}])


class L2Normalize(PerPosition):
    """Each position's D values divided by their L2 norm (at least 10⁻¹²), x / max(‖x‖, ε): unit-length feature
    vectors (a face-recognition or contrastive embedding). No parameters, no MACs (as a normalisation's are not
    counted); nonlinear: it divides by the input's own size.

    Keras ``UnitNormalization``; PyTorch's ``F.normalize(x, dim=1)``; ONNX's ``LpNormalization`` (p = 2).
    """

    type: Literal["l2_normalize"]

    kind_name = "l2_normalize"
    example = {"type": "l2_normalize"}
    keras_readers = {"UnitNormalization": _read_unit_normalization}
    onnx_readers = {"LpNormalization": _read_onnx_lp_normalization}
    spelled_elsewhere = {
        "unitnormalization": '"type": "l2_normalize"',
        "normalize": '"type": "l2_normalize"',
        "l2norm": '"type": "l2_normalize"',
    }
    keras_ops = {
        "UnitNormalization": KerasOp(
            lambda op, read, _: f"{read[0]} / tf.maximum(tf.norm({read[0]}, axis=-1, keepdims=True), {L2_EPSILON!r})"
        )
    }

    def is_nonlinear(self) -> bool:
        return True

    def notation(self, window: Window | None) -> str:
        return "x/‖x‖ over D"

    def caption(self) -> str:
        return "l2 norm"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return ops.add("UnitNormalization", ops.base, ops.shape, axis=-1)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        code = f"torch.nn.functional.normalize({{0}}, dim=1, eps={L2_EPSILON!r})"
        return ops.expression(ops.base, code, ops.shape)
