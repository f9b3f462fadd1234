"""Layers that act on each value on its own: ``relu``, ``activation``, ``prelu`` and ``dropout``.

The volume passes through unchanged (no MACs, the receptive field unchanged; no parameters but a PReLU's
slopes). Keras: ``ReLU``, ``Activation`` (and ``LeakyReLU``, ``Softmax``, fused ``activation=`` arguments),
``PReLU``, ``Dropout`` (``SpatialDropout2D`` too); tf.nn: ``tf.nn.relu`` and friends, ``tf.nn.dropout``.
"""

from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, PlainValidator, ValidationInfo, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from convcalc.layers.base import Computed, PerPosition
from convcalc.layers.fields import Number, show_value
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Tensor, short_json
from convcalc.layers.onnx import OnnxMapped, OnnxNode, OnnxReader, channel_axis, keep_layout, shortest_float
from convcalc.layers.pytorch import TorchOps, TorchStep
from convcalc.layers.tfnn import KerasOp, variable
from convcalc.layers.volume import Shape, Window
from convcalc.pysource import identifier, literal
from convcalc.text import folded

# --- activation functions ----------------------------------------------------------------------------------

ActivationKind = Literal[
    "relu",
    "relu6",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "gelu",
    "gelu_tanh",
    "swish",
    "hard_sigmoid",
    "hard_swish",
    "elu",
    "selu",
    "softplus",
    "mish",
    "hard_tanh",
    "softsign",
    "log_sigmoid",
    "hard_shrink",
    "soft_shrink",
    "tanh_shrink",
]
ACTIVATIONS: tuple[str, ...] = get_args(ActivationKind)
"""The elementwise functions an ``activation`` layer names (softmax and log_softmax = log(softmax(x)) normalise over
the depth), with Keras 3's definitions: hard_sigmoid = relu6(x + 3)/6, hard_swish = x·hard_sigmoid(x) (Keras's
hard_silu), elu with α = 1, selu with Keras's constants, softplus = log(1 + eˣ), mish = x·tanh(softplus(x)),
hard_tanh = x clipped to [−1, 1], gelu_tanh = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (GELU's tanh approximation,
Keras's approximate=True, PyTorch's approximate='tanh'), softsign = x/(1 + |x|), log_sigmoid = log(σ(x)) =
−softplus(−x), hard_shrink = x where |x| > ½ else 0, soft_shrink = sign(x)·max(|x| − ½, 0), tanh_shrink = x −
tanh(x) (the shrinks at Keras's and PyTorch's default threshold ½)."""
ACTIVATION_ALIASES = {"silu": "swish", "celu": "elu"}
"""Other names a spec may write for an activation kind: normalised to the kind when read (a CELU of α = 1, the
default of Keras and PyTorch, is the ELU: max(0, x) + min(0, α(e^(x/α) − 1)))."""

KERAS_ONLY_AS_A_LAYER = {"gelu_tanh": "GeluTanh"}
"""Activation kinds Keras has no name for (``gelu(x, approximate=True)``) → the registered layer each is exported
as (and imported from)."""
KERAS_ACTIVATIONS: dict[str, str | None] = {
    "linear": None,
    **{kind: kind for kind in ACTIVATIONS if kind not in KERAS_ONLY_AS_A_LAYER},
    "silu": "swish",  # Keras 3 serialises swish as silu: the same function
    "hard_silu": "hard_swish",  # and hard_swish as hard_silu
    "celu": "elu",  # α = 1, Keras's default: the same function
}
"""Keras activation names → spec activation kinds; None means "linear" (nothing to emit)."""

_TFNN_ACTIVATIONS = {
    "relu6": "tf.nn.relu6({x})",
    "leaky_relu": "tf.nn.leaky_relu({x}, alpha=0.2)",  # Keras's activation default
    "sigmoid": "tf.sigmoid({x})",
    "tanh": "tf.tanh({x})",
    "softmax": "tf.nn.softmax({x}, axis=-1)",
    "log_softmax": "tf.nn.log_softmax({x}, axis=-1)",
    "gelu": "tf.nn.gelu({x}, approximate=False)",
    "gelu_tanh": "tf.nn.gelu({x}, approximate=True)",
    "swish": "tf.nn.silu({x})",
    "hard_sigmoid": "tf.nn.relu6({x} + 3.0) / 6.0",
    "hard_swish": "{x} * (tf.nn.relu6({x} + 3.0) / 6.0)",
    "elu": "tf.nn.elu({x})",
    "selu": "tf.nn.selu({x})",
    "softplus": "tf.math.softplus({x})",
    "mish": "{x} * tf.tanh(tf.math.softplus({x}))",
    "hard_tanh": "tf.clip_by_value({x}, -1.0, 1.0)",
    "softsign": "tf.nn.softsign({x})",
    "log_sigmoid": "tf.math.log_sigmoid({x})",
    "hard_shrink": "tf.where(tf.abs({x}) > 0.5, {x}, tf.zeros_like({x}))",
    "soft_shrink": "tf.sign({x}) * tf.nn.relu(tf.abs({x}) - 0.5)",
    "tanh_shrink": "{x} - tf.tanh({x})",
}

TORCH_ACTIVATIONS = {
    "relu": "nn.ReLU()",
    "relu6": "nn.ReLU6()",
    "leaky_relu": "nn.LeakyReLU(0.2)",  # Keras's activation default (PyTorch's is 0.01)
    "sigmoid": "nn.Sigmoid()",
    "tanh": "nn.Tanh()",
    "softmax": "nn.Softmax(dim=1)",  # over the channels, convcalc's depth
    "log_softmax": "nn.LogSoftmax(dim=1)",
    "gelu": "nn.GELU(approximate='none')",
    "gelu_tanh": "nn.GELU(approximate='tanh')",
    "swish": "nn.SiLU()",
    "hard_sigmoid": "nn.Hardsigmoid()",  # relu6(x + 3)/6, as Keras 3
    "hard_swish": "nn.Hardswish()",
    "elu": "nn.ELU()",
    "selu": "nn.SELU()",
    "softplus": "nn.Softplus()",
    "mish": "nn.Mish()",
    "hard_tanh": "nn.Hardtanh()",
    "softsign": "nn.Softsign()",
    "log_sigmoid": "nn.LogSigmoid()",
    "hard_shrink": "nn.Hardshrink(0.5)",
    "soft_shrink": "nn.Softshrink(0.5)",
    "tanh_shrink": "nn.Tanhshrink()",
}
"""Each activation kind as the PyTorch module computing Keras 3's definition."""


def _activation_kind(value: Any) -> Any:
    return ACTIVATION_ALIASES.get(value, value) if isinstance(value, str) else value


def activation_kind(layer: KerasLayer, value: Any, key: str | None) -> str | None:
    """The spec kind of a Keras activation name (None for linear), refusing ones convcalc lacks."""
    name = value
    if isinstance(value, dict) and value.get("class_name") == "function" and value.get("module") == "keras.activations":
        name = value.get("config")  # how Keras 3 writes a built-in passed as a function object
    if isinstance(name, str) and name in KERAS_ACTIVATIONS:
        return KERAS_ACTIVATIONS[name]
    allowed = ", ".join(sorted(KERAS_ACTIVATIONS))
    raise layer.refuse(f"activation {short_json(value)} is not one convcalc models (allowed: {allowed})", key)


def activation_layer(kind: str) -> dict[str, Any]:
    """The spec layer of an activation function: ``relu`` as its short form."""
    return {"type": "relu"} if kind == "relu" else {"type": "activation", "kind": kind}


def clipped_relu_layer(max_value: float) -> dict[str, Any]:
    """The spec layer of min(max(0, x), max_value): relu6 at 6, else a relu with its max_value."""
    return activation_layer("relu6") if max_value == 6 else {"type": "relu", "max_value": max_value}


LEAKY_SLOPE = 0.2
"""A leaky_relu's slope below 0 when the spec gives none: Keras's leaky_relu activation default."""


def leaky_relu_layer(slope: float) -> dict[str, Any]:
    """The spec layer of max(x, slope·x), the slope written only where it is not the default 0.2."""
    layer = activation_layer("leaky_relu")
    return layer if slope == LEAKY_SLOPE else {**layer, "slope": slope}


def fused_activation(layer: KerasLayer) -> list[dict[str, Any]]:
    """A Keras layer's ``activation=`` argument as a spec layer of its own (none for linear)."""
    kind = activation_kind(layer, layer.config.get("activation", "linear"), "activation")
    return [] if kind is None else [activation_layer(kind)]


def _read_activation(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    kind = activation_kind(layer, layer.config.get("activation"), "activation")
    return Mapped([] if kind is None else [activation_layer(kind)], sources[0].rank)


def _read_leaky_relu(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    """Keras's LeakyReLU layer: its negative_slope (Keras 2's alpha), 0.3 by default, unlike the activation's."""
    key = "negative_slope" if "negative_slope" in layer.config or "alpha" not in layer.config else "alpha"
    return Mapped([leaky_relu_layer(layer.number(key, 0.3))], sources[0].rank)


def _read_elu(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    """Keras's ELU layer: the elu activation when α = 1 (its default); another α is another function."""
    alpha = layer.config.get("alpha", 1.0)
    if alpha != 1:
        raise layer.refuse(f"alpha {short_json(alpha)}: convcalc's elu has α = 1", "alpha")
    return Mapped([activation_layer("elu")], sources[0].rank)


def _read_softmax(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.last_axis(sources[0], "axis")
    return Mapped([activation_layer("softmax")], sources[0].rank)


def _read_relu(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    config = layer.config
    max_value, slope, threshold = config.get("max_value"), config.get("negative_slope", 0), config.get("threshold", 0)
    if threshold == 0 and slope == 0 and max_value is None:
        kind = "relu"
    elif threshold == 0 and slope == 0 and max_value == 6:
        kind = "relu6"
    elif threshold == 0 and slope == 0 and isinstance(max_value, (int, float)) and 0 < max_value < float("inf"):
        return Mapped([clipped_relu_layer(float(max_value))], sources[0].rank)
    elif threshold == 0 and max_value is None and isinstance(slope, (int, float)) and slope > 0:
        return Mapped([leaky_relu_layer(slope)], sources[0].rank)
    else:
        raise layer.refuse(
            f"ReLU with max_value={max_value}, negative_slope={slope}, threshold={threshold}: convcalc models"
            " relu (with a max_value), relu6 and leaky relu (a negative slope) only"
        )
    return Mapped([activation_layer(kind)], sources[0].rank)


def _read_onnx_activation(kind: str, **defaults: float | str) -> OnnxReader:
    """An op that is one activation function with the attribute values ``defaults`` (the function's constants:
    any other value is another function, refused)."""

    def reader(node: OnnxNode) -> OnnxMapped:
        for key, value in defaults.items():
            given = node.attributes.get(key, value)
            if given != value and not (
                isinstance(value, float) and isinstance(given, float) and abs(given - value) <= 1e-6 * abs(value)
            ):
                raise node.refuse(f"{key}={given!r}: convcalc's {kind} is the one with {key}={value!r}")
        return keep_layout(node, [activation_layer(kind)])

    return reader


def _read_onnx_leaky_relu(node: OnnxNode) -> OnnxMapped:
    """LeakyRelu: its alpha (0.01 by default, PyTorch's too) as the slope."""
    alpha = node.attributes.get("alpha", 0.01)
    if not isinstance(alpha, float) or not 0 <= alpha < float("inf"):
        raise node.refuse(f"alpha={alpha!r}: convcalc's leaky_relu has a slope ≥ 0")
    return keep_layout(node, [leaky_relu_layer(shortest_float(alpha))])


def _read_onnx_gelu(node: OnnxNode) -> OnnxMapped:
    """Gelu (opset 20): exact (approximate 'none'), or its tanh approximation (PyTorch's approximate='tanh')."""
    approximate = node.text("approximate", "none")
    kinds = {"none": "gelu", "tanh": "gelu_tanh"}
    if approximate not in kinds:
        raise node.refuse(f"approximate={approximate!r}: ONNX's Gelu is approximate 'none' or 'tanh'")
    return keep_layout(node, [activation_layer(kinds[approximate])])


GELU_TANH_SOURCE = '''
@keras.saving.register_keras_serializable(package="convcalc")
class GeluTanh(layers.Layer):
    """GELU's tanh approximation, keras.activations.gelu(x, approximate=True) (PyTorch's GELU(approximate='tanh')),
    which Keras has no activation name for."""

    def call(self, inputs):
        return keras.activations.gelu(inputs, approximate=True)

    def compute_output_shape(self, input_shape):
        return input_shape
'''
"""The one definition of ``GeluTanh`` (``convcalc>GeluTanh``): the export of an activation of kind gelu_tanh."""


def _read_gelu_tanh(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    return Mapped([activation_layer("gelu_tanh")], sources[0].rank)


def _read_onnx_hard_sigmoid(node: OnnxNode) -> OnnxMapped:
    """HardSigmoid max(0, min(1, αx + β)) with PyTorch's α = 1/6, β = ½: relu6(x + 3)/6, Keras's hard_sigmoid
    (ONNX's defaults, α = 0.2, are the older Keras one, another function)."""
    alpha, beta = node.attributes.get("alpha", 0.2), node.attributes.get("beta", 0.5)
    if not (isinstance(alpha, float) and abs(alpha - 1 / 6) <= 1e-6 and beta == 0.5):
        raise node.refuse(
            f"alpha={alpha!r}, beta={beta!r}: convcalc's hard_sigmoid is relu6(x + 3)/6 (alpha=1/6, beta=0.5)"
        )
    return keep_layout(node, [activation_layer("hard_sigmoid")])


def _read_onnx_clip(node: OnnxNode) -> OnnxMapped:
    """Clip(0, 6) is PyTorch's ReLU6, Clip(0) a ReLU, Clip(0, m) a ReLU with a max_value (PyTorch's clamp(x, 0, m),
    Hardtanh(0, m)) and Clip(−1, 1) its Hardtanh; the bounds are attributes before opset 11, inputs after."""
    node.source()
    if node.opset < 11:
        low, high = node.attributes.get("min"), node.attributes.get("max")
    else:
        lows, highs = node.values(1, "min"), node.values(2, "max")
        low = None if lows is None else lows[0] if len(lows) == 1 else lows
        high = None if highs is None else highs[0] if len(highs) == 1 else highs
    if low == 0 and (high is None or high == float("inf")):
        kind = "relu"
    elif low == 0 and isinstance(high, int | float) and 0 < high < float("inf"):
        return keep_layout(node, [clipped_relu_layer(shortest_float(float(high)))])
    elif low == -1 and high == 1:
        kind = "hard_tanh"
    else:
        raise node.refuse(
            f"clips to [{low}, {high}]: convcalc models Clip(0, m) (relu, with a max_value m; relu6 at 6), Clip(0)"
            " (relu) and Clip(−1, 1) (hard_tanh)"
        )
    return keep_layout(node, [activation_layer(kind)])


def _read_onnx_shrink(node: OnnxNode) -> OnnxMapped:
    """Shrink: x + bias where x < −λ, x − bias where x > λ, else 0. λ = ½ with no bias is PyTorch's and Keras's
    hard shrink, λ = bias = ½ their soft shrink; other constants are other functions."""
    lambd, bias = node.attributes.get("lambd", 0.5), node.attributes.get("bias", 0.0)
    kinds = {(0.5, 0.0): "hard_shrink", (0.5, 0.5): "soft_shrink"}
    kind = kinds.get((lambd, bias)) if isinstance(lambd, float) and isinstance(bias, float) else None
    if kind is None:
        raise node.refuse(
            f"lambd={lambd!r}, bias={bias!r}: convcalc models the shrinks of threshold ½: hard (bias 0), soft (bias ½)"
        )
    return keep_layout(node, [activation_layer(kind)])


def _read_onnx_softmax(kind: str) -> OnnxReader:
    """Softmax or LogSoftmax over the channels."""

    def reader(node: OnnxNode) -> OnnxMapped:
        source = node.source()
        # Before opset 13 (Log)Softmax flattened everything from its axis on: the same over channels only for
        # vectors.
        axis = node.integer("axis", -1 if node.opset >= 13 else 1)
        if not channel_axis(node, axis, source.rank) or (node.opset < 13 and source.rank != 2):
            raise node.refuse(
                f"{kind} over axis {axis} of a rank-{source.rank} tensor: convcalc's is over the channels"
            )
        return OnnxMapped([activation_layer(kind)], source.rank)

    return reader


LOG_SIGMOID = "LogSigmoid"
"""The node the ONNX import fuses a Sigmoid read by a Log alone into (PyTorch's LogSigmoid as all its exporters
write it): no ONNX op of that name exists."""


class Activation(PerPosition):
    """An elementwise nonlinearity (softmax normalises over the depth; see :data:`ACTIVATIONS`)."""

    type: Literal["activation"]
    kind: Annotated[
        ActivationKind,
        BeforeValidator(_activation_kind),
        WithJsonSchema({"enum": [*ACTIVATIONS, *ACTIVATION_ALIASES]}),
    ] = Field(description="The function (silu is read as swish).")
    slope: Annotated[Number, WithJsonSchema({"type": "number", "minimum": 0})] | None = Field(
        default=None,
        description="leaky_relu only: f(x) = slope·x below 0 (default 0.2, Keras's leaky_relu; PyTorch's LeakyReLU"
        " defaults to 0.01, Keras's LeakyReLU layer to 0.3).",
    )

    kind_name = "activation"
    example = {"type": "activation", "kind": "sigmoid"}
    keras_readers = {
        "Activation": _read_activation,
        "LeakyReLU": _read_leaky_relu,
        "ELU": _read_elu,
        "Softmax": _read_softmax,
        "GeluTanh": _read_gelu_tanh,
    }
    onnx_readers = {
        "Clip": _read_onnx_clip,
        "LeakyRelu": _read_onnx_leaky_relu,
        "Sigmoid": _read_onnx_activation("sigmoid"),
        "Tanh": _read_onnx_activation("tanh"),
        "Softmax": _read_onnx_softmax("softmax"),
        "LogSoftmax": _read_onnx_softmax("log_softmax"),
        "Gelu": _read_onnx_gelu,
        "HardSigmoid": _read_onnx_hard_sigmoid,
        "HardSwish": _read_onnx_activation("hard_swish"),
        "Swish": _read_onnx_activation("swish", alpha=1.0),
        "Elu": _read_onnx_activation("elu", alpha=1.0),
        "Selu": _read_onnx_activation("selu", alpha=1.6732632423543772, gamma=1.0507009873554805),
        "Softplus": _read_onnx_activation("softplus"),
        "Mish": _read_onnx_activation("mish"),
        "Softsign": _read_onnx_activation("softsign"),
        "Celu": _read_onnx_activation("elu", alpha=1.0),
        "Shrink": _read_onnx_shrink,
        LOG_SIGMOID: _read_onnx_activation("log_sigmoid"),
    }
    spelled_elsewhere = {
        folded(name): f'"type": "activation", "kind": "{kind}"'
        for name, kind in [*KERAS_ACTIVATIONS.items(), *((kind, kind) for kind in KERAS_ONLY_AS_A_LAYER)]
        if kind is not None and kind != "relu"
    }
    keras_ops = {
        "Activation": KerasOp(lambda op, read, _: _TFNN_ACTIVATIONS[op.text("activation", "")].format(x=read[0])),
        "LeakyReLU": KerasOp(
            lambda op, read, _: f"tf.nn.leaky_relu({read[0]}, alpha={literal(op.number('negative_slope'))})"
        ),
        "GeluTanh": KerasOp(
            lambda op, read, _: _TFNN_ACTIVATIONS["gelu_tanh"].format(x=read[0]), keras_source=GELU_TANH_SOURCE
        ),
    }

    @field_validator("slope")
    @classmethod
    def _slope_of_a_leaky_relu(cls, slope: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("kind")
        if kind is None:
            return slope  # the kind itself is wrong: that error is the one to read
        if slope is not None and kind != "leaky_relu":
            raise PydanticCustomError("slope", "slope is a leaky_relu's (this activation is {kind})", {"kind": kind})
        if slope is not None and slope < 0:
            raise PydanticCustomError(
                "slope", "a leaky_relu's slope must be ≥ 0 (got {got}; Keras refuses a negative one)", {"got": slope}
            )
        return slope

    def is_nonlinear(self) -> bool:
        return self.slope != 1  # a leaky relu of slope 1 is x itself

    def activation_function(self) -> str:
        return "relu" if self.slope == 0 else self.kind  # slope 0: max(x, 0)

    def notation(self, window: Window | None) -> str:
        if self.slope is not None:
            return f"{self.kind} slope={self.slope:g}"
        return self.kind

    def caption(self) -> str:
        return self.kind

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        if self.kind == "relu":
            return ops.add("ReLU", ops.base, ops.shape)
        if self.slope is not None:
            return ops.add("LeakyReLU", ops.base, ops.shape, negative_slope=self.slope)
        if self.kind in KERAS_ONLY_AS_A_LAYER:
            return ops.add(KERAS_ONLY_AS_A_LAYER[self.kind], ops.base, ops.shape)
        return ops.add("Activation", ops.base, ops.shape, activation=self.kind)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        if self.slope is not None:
            return ops.module(ops.base, f"nn.LeakyReLU({literal(self.slope)})", ops.shape)
        return ops.module(ops.base, TORCH_ACTIVATIONS[self.kind], ops.shape)


def _tf_relu(op: Op, read: list[str], padding: str) -> str:
    ceiling = op.kwargs.get("max_value")
    return f"tf.nn.relu({read[0]})" if ceiling is None else f"tf.minimum(tf.nn.relu({read[0]}), {literal(ceiling)})"


class ReLU(PerPosition):
    """Elementwise max(0, x) (the short form of an ``activation`` of kind relu); with a ``max_value`` m,
    min(max(0, x), m): Keras's ReLU(max_value=m), PyTorch's clamp(x, 0, m) and Hardtanh(0, m) (m = 6 is relu6)."""

    type: Literal["relu"]
    max_value: Annotated[Number, WithJsonSchema({"type": "number", "exclusiveMinimum": 0})] | None = Field(
        default=None, description="The ceiling m: min(max(0, x), m), as Keras's ReLU(max_value=m)."
    )

    kind_name = "relu"
    example = {"type": "relu"}
    keras_readers = {"ReLU": _read_relu}
    onnx_readers = {"Relu": _read_onnx_activation("relu")}
    keras_ops = {"ReLU": KerasOp(_tf_relu)}

    @field_validator("max_value")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise PydanticCustomError(
                "max_value", "must be more than 0 (got {got}): the ceiling of max(0, x)", {"got": value}
            )
        return value

    def is_nonlinear(self) -> bool:
        return True

    def activation_function(self) -> str:
        return "relu"

    def notation(self, window: Window | None) -> str:
        return "" if self.max_value is None else f"max={self.max_value:g}"

    def caption(self) -> str:
        return "relu"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        if self.max_value is not None:
            return ops.add("ReLU", ops.base, ops.shape, max_value=self.max_value)
        return ops.add("ReLU", ops.base, ops.shape)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        if self.max_value is not None:
            return ops.module(ops.base, f"nn.Hardtanh(0.0, {literal(self.max_value)})", ops.shape)
        return ops.module(ops.base, TORCH_ACTIVATIONS["relu"], ops.shape)


# --- dropout -----------------------------------------------------------------------------------------------


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise PydanticCustomError("rate", "must be a number with 0 ≤ rate < 1 (got {got})", {"got": show_value(value)})
    return float(value)


Rate = Annotated[float, PlainValidator(_rate), WithJsonSchema({"type": "number", "minimum": 0, "exclusiveMaximum": 1})]


def _read_dropout(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    return Mapped([{"type": "dropout", "rate": layer.config.get("rate", 0.5)}], sources[0].rank)


TRAINING_ONLY = (
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
    "RandomHue",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "RandomGrayscale",
    "RandomColorJitter",
    "RandomColorDegeneration",
    "RandomPosterization",
    "RandomInvert",
    "RandomErasing",
    "RandomGaussianBlur",
    "RandomPerspective",
    "RandomElasticTransform",
    "RandAugment",
    "AugMix",
    "MixUp",
    "CutMix",
    "GaussianNoise",
    "ActivityRegularization",
    "Identity",
)
"""Keras layers whose output outside training is their input, unchanged, with no weights: data augmentation,
noise, an activity penalty that only adds to the loss (each checked against Keras 3.15 with training=False), and
Identity, which is its input always.
RandomCrop is not one (its declared shape is the crop's), nor are the deterministic CenterCrop, AutoContrast,
Solarization and Equalization."""


def _read_training_only(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    return Mapped([], sources[0].rank)  # later layers read its input: what the network computes at inference


def _read_onnx_dropout(node: OnnxNode) -> OnnxMapped:
    """Dropout (in a training-mode export): the ratio is an attribute before opset 12, an input after."""
    node.source()
    ratio = node.attributes.get("ratio", 0.5) if node.opset < 12 else (node.values(1, "ratio") or (0.5,))[0]
    return keep_layout(node, [{"type": "dropout", "rate": ratio}])


def _read_onnx_identity(node: OnnxNode) -> OnnxMapped:
    return keep_layout(node, [])  # later layers read its input directly


class Dropout(PerPosition):
    """Zeroes a fraction ``rate`` of values while training; no parameters, no shape change."""

    type: Literal["dropout"]
    rate: Rate = 0.5

    kind_name = "dropout"
    example = {"type": "dropout", "rate": 0.25}
    keras_readers = {
        "Dropout": _read_dropout,
        "SpatialDropout2D": _read_dropout,
        "GaussianDropout": _read_dropout,
        "AlphaDropout": _read_dropout,
        **dict.fromkeys(TRAINING_ONLY, _read_training_only),
    }
    onnx_readers = {"Dropout": _read_onnx_dropout, "Identity": _read_onnx_identity}
    spelled_elsewhere = {"spatialdropout2d": '"type": "dropout"', "dropout2d": '"type": "dropout"'}
    keras_ops = {
        "Dropout": KerasOp(
            lambda op, read, _: (
                f"tf.nn.dropout({read[0]}, rate={literal(op.number('rate'))}) if training else {read[0]}"
            )
        )
    }

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        return f"rate={self.rate:g}"

    def caption(self) -> str:
        return "dropout"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return ops.add("Dropout", ops.base, ops.shape, rate=self.rate)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        return ops.module(ops.base, f"nn.Dropout(p={self.rate!r})", ops.shape)


# --- prelu -------------------------------------------------------------------------------------------------

Slopes = Literal["channel", "one", "position"]
"""Which values of the volume share a PReLU's learned slope α: one α per channel (He et al.'s channel-wise
PReLU, PyTorch's ``PReLU(C)``), one for all (``PReLU()``), or one per value of H×W×D (Keras's PReLU default)."""

_SHARED_AXES: dict[str, tuple[int, ...]] = {"channel": (1, 2), "one": (1, 2, 3)}
"""Keras's ``shared_axes`` of each form on an H×W×D volume (no entry: none shared, one α per value)."""

PRELU_PER_POSITION_SOURCE = '''
class PReLUPerPosition(nn.Module):
    """PReLU with one learned slope per value of a C×H×W volume (Keras's PReLU without shared axes)."""

    def __init__(self, shape: tuple[int, ...], init: float = 0.25) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= 0, x, self.weight * x)
'''


def _slope_shape(op: Op) -> tuple[int, ...]:
    """Keras's α: the op's input shape (its output's) with the shared axes made 1."""
    shared = op.kwargs.get("shared_axes") or ()
    assert isinstance(shared, tuple)
    return tuple(1 if axis + 1 in shared else size for axis, size in enumerate(op.output))


def _prelu_variables(op: Op, shape: Shape) -> list[str]:
    initial = f"tf.zeros({list(_slope_shape(op))})"
    return [variable(identifier(op.name), "alpha", initial, "α: Keras's PReLU starts at 0")]


def _tf_prelu(op: Op, read: list[str], padding: str) -> str:
    return f"tf.nn.relu({read[0]}) - self.{identifier(op.name)}_alpha * tf.nn.relu(-{read[0]})"


_KERAS_SHARED_AXES: dict[int, dict[tuple[int, ...] | None, str]] = {
    4: {None: "position", (1, 2): "channel", (1, 2, 3): "one"},
    2: {None: "channel", (1,): "one"},  # a flat (batch, n) tensor: one α per value is one per channel of 1×1×n
}
"""Keras PReLU's ``shared_axes`` (sorted) → the spec's ``slopes``, by the rank of the tensor it reads."""


def _read_prelu(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    rank = sources[0].rank
    shared = layer.config.get("shared_axes")
    if isinstance(shared, int) and not isinstance(shared, bool):
        shared = [shared]  # Keras accepts one axis as an int
    axes = tuple(sorted(set(shared))) if isinstance(shared, list) and all(type(a) is int for a in shared) else shared
    forms = _KERAS_SHARED_AXES.get(rank, {})
    slopes = forms.get(axes or None) if axes is None or isinstance(axes, tuple) else None  # [] shares none
    if slopes is None:
        choices = ", ".join(f"{'none shared' if axes is None else list(axes)} ({form})" for axes, form in forms.items())
        raise layer.refuse(
            f"shared_axes {short_json(shared)} on a rank-{rank} tensor: convcalc's prelu has one slope per"
            f" channel, one in all or one per value: {choices}",
            "shared_axes",
        )
    return Mapped([{"type": "prelu", "slopes": slopes}], rank)


def _read_onnx_prelu(node: OnnxNode) -> OnnxMapped:
    """PRelu with a stored slope, broadcast as ONNX does (aligned to the input's last axes): one value per
    channel ((C, 1, 1), or (1, C, 1, 1); (C,) on a vector) is PyTorch's ``PReLU(C)``, one value ``PReLU()``, the
    input's C×H×W one per value."""
    source = node.source()
    slope = node.constant(1, "slope")
    dims = slope.dims if slope is not None else None
    shape = node.input_shapes[0]
    if dims is None or shape is None or len(shape) < 2 or None in shape[1:] or source.layout or len(dims) > len(shape):
        raise node.refuse(
            "convcalc reads a PRelu of a volume or vector of known shape, its slope stored in the file with no more"
            " axes than its input"
        )
    aligned = (1,) * (len(shape) - len(dims)) + tuple(dims)
    varying = tuple(axis for axis, size in enumerate(aligned) if size != 1)
    slopes = None
    if not varying:
        slopes = "one"
    elif aligned[1:] == tuple(shape[1:]):
        slopes = "position" if len(shape) == 4 else "channel"  # every value of a vector is one per channel
    elif varying == (1,) and aligned[1] == shape[1]:
        slopes = "channel"
    if slopes is None or aligned[0] != 1:  # a slope per batch item is no layer
        raise node.refuse(
            f"a slope of shape {list(dims)} on a tensor of shape {list(shape)}: convcalc's prelu has one slope per"
            " channel, one in all or one per value"
        )
    return OnnxMapped([{"type": "prelu", "slopes": slopes}], source.rank, weights=(1,))


class PReLU(PerPosition):
    """A parametric ReLU, max(0, x) + α·min(0, x) with a learned slope α (He et al., 2015): one α per channel
    (D trainable parameters, the default), one in all (1), or one per value (H·W·D); counted as weights, no MACs,
    nonlinear. Keras ``PReLU`` (``shared_axes`` [1, 2], [1, 2, 3] or none), PyTorch ``PReLU(C)`` and
    ``PReLU()``, ONNX ``PRelu``.
    """

    type: Literal["prelu"]
    slopes: Slopes = Field(
        default="channel",
        description="Which values share a slope α: one per channel (D), one in all (1), or one per value (H·W·D).",
    )

    kind_name = "prelu"
    example = {"type": "prelu"}
    keras_readers = {"PReLU": _read_prelu}
    onnx_readers = {"PRelu": _read_onnx_prelu}
    spelled_elsewhere = {"parametricrelu": '"type": "prelu"'}
    torch_helpers = {"PReLUPerPosition": PRELU_PER_POSITION_SOURCE}
    keras_ops = {"PReLU": KerasOp(_tf_prelu, _prelu_variables)}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        if self.slopes == "one":
            return Computed(shape, weights=1)
        if self.slopes == "channel":
            return Computed(shape, weights=shape.depth)
        return Computed(shape, weights=shape.height * shape.width * shape.depth)

    def is_nonlinear(self) -> bool:
        return True

    def activation_function(self) -> str:
        return "prelu"

    def notation(self, window: Window | None) -> str:
        return {"channel": "α per channel", "one": "one α", "position": "α per value"}[self.slopes]

    def caption(self) -> str:
        return "prelu"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        if self.slopes == "position" or (self.slopes == "channel" and len(ops.shape) == 1):
            return ops.add("PReLU", ops.base, ops.shape)
        shared = _SHARED_AXES[self.slopes] if len(ops.shape) == 3 else (1,)
        return ops.add("PReLU", ops.base, ops.shape, shared_axes=shared)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        if self.slopes == "one":
            return ops.module(ops.base, "nn.PReLU()", ops.shape, ((1,),))
        if self.slopes == "channel" or len(ops.shape) == 1:
            channels = ops.channels()
            return ops.module(ops.base, f"nn.PReLU({channels})", ops.shape, ((channels,),))
        return ops.module(ops.base, f"PReLUPerPosition({tuple(ops.shape)})", ops.shape, (tuple(ops.shape),))
