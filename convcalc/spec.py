"""The typed network spec: pydantic v2 models validated at the boundary.

The JSON contract (keys, defaults, the ``type`` discriminator) is fixed by the core issue; extend it,
never break it. Everything below this module works with plain, already-valid values.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

MAX_SIZE = 2**31 - 1
"""Largest size, count or stride: TensorFlow's int32 shape limit."""

Pair = tuple[int, int]


def _strict_int(value: Any, minimum: int) -> int:
    # bool is an int subclass in Python; a count of `true` is a mistake, not a 1.
    if type(value) is not int:
        raise PydanticCustomError("int_type", "must be an integer (got {got})", {"got": _show(value)})
    if value < minimum:
        raise PydanticCustomError("too_small", "must be ≥ {minimum} (got {got})", {"minimum": minimum, "got": value})
    if value > MAX_SIZE:
        raise PydanticCustomError(
            "too_large",
            "must be ≤ 2^31 − 1 = {maximum}, TensorFlow's int32 limit (got {got})",
            {"maximum": MAX_SIZE, "got": value},
        )
    return value


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else None
    if text is None:
        text = "null" if value is None else type(value).__name__ if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _pair(value: Any, minimum: int) -> Pair:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise PydanticCustomError(
                "pair_length", "must be an integer or a pair [h, w] (got a list of {n})", {"n": len(value)}
            )
        return (_strict_int(value[0], minimum), _strict_int(value[1], minimum))
    if type(value) is not int:
        raise PydanticCustomError("pair_type", "must be an integer or a pair [h, w] (got {got})", {"got": _show(value)})
    size = _strict_int(value, minimum)
    return (size, size)


def _positive_int(value: Any) -> int:
    return _strict_int(value, 1)


def _positive_pair(value: Any) -> Pair:
    return _pair(value, 1)


def _padding(value: Any) -> Pair | Literal["same", "valid"]:
    if isinstance(value, str):
        if value == "valid":
            return (0, 0)
        if value == "same":
            return "same"
        raise PydanticCustomError(
            "padding", 'must be "same", "valid", an integer ≥ 0 or a pair [h, w] (got {got})', {"got": _show(value)}
        )
    return _pair(value, 0)


_INT_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_SIZE}
_PAIR_SCHEMA: dict[str, Any] = {
    "anyOf": [
        _INT_SCHEMA,
        {"type": "array", "items": _INT_SCHEMA, "minItems": 2, "maxItems": 2, "description": "[height, width]"},
    ]
}
_PADDING_INT_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_SIZE}
_PADDING_SCHEMA: dict[str, Any] = {
    "anyOf": [
        _PADDING_INT_SCHEMA,
        {"type": "array", "items": _PADDING_INT_SCHEMA, "minItems": 2, "maxItems": 2},
        {"enum": ["valid", "same"]},
    ]
}

PositiveInt = Annotated[int, PlainValidator(_positive_int), WithJsonSchema(_INT_SCHEMA)]
"""A strict int in [1, 2^31 − 1]."""


def _as_json(value: Any) -> Any:
    # Pairs and code lists are tuples inside, arrays in JSON; a plain serializer keeps dumps warning-free.
    return list(value) if isinstance(value, tuple) else value


_JSON_ARRAY = PlainSerializer(_as_json, return_type=Any)

PositivePair = Annotated[Pair, PlainValidator(_positive_pair), _JSON_ARRAY, WithJsonSchema(_PAIR_SCHEMA)]
"""An int or [h, w], normalised to (h, w)."""
Padding = Annotated[Pair | Literal["same"], PlainValidator(_padding), _JSON_ARRAY, WithJsonSchema(_PADDING_SCHEMA)]
"""P as (h, w), or ``"same"`` (TensorFlow's rule); ``"valid"`` normalises to (0, 0)."""


def _strict_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise PydanticCustomError("bool_type", "must be true or false (got {got})", {"got": _show(value)})
    return value


StrictBool = Annotated[bool, PlainValidator(_strict_bool), WithJsonSchema({"type": "boolean"})]


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "must be a string (got {got})", {"got": _show(value)})
    if not value or len(value) > 200:
        raise PydanticCustomError("name_length", "must be 1 to 200 characters long", {})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON escapes like "\ud800" decode to lone surrogates that no output can encode.
        raise PydanticCustomError("name_text", "must be valid Unicode text (got a lone surrogate)", {}) from None
    return value


Name = Annotated[str, PlainValidator(_name), WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200})]


def _codes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise PydanticCustomError(
            "codes_type", 'must be a list of rule codes like ["CC201"] (got {got})', {"got": _show(value)}
        )
    for item in value:
        if not isinstance(item, str) or not CODE_PATTERN.fullmatch(item):
            raise PydanticCustomError(
                "code", 'must hold rule codes or prefixes like "CC201" or "CC2" (got {got})', {"got": _show(item)}
            )
    return tuple(value)


CODE_PATTERN = re.compile(r"CC\d{0,3}")
"""A rule code (CC201) or a code prefix (CC2, CC)."""

Codes = Annotated[
    tuple[str, ...],
    PlainValidator(_codes),
    _JSON_ARRAY,
    WithJsonSchema({"type": "array", "items": {"type": "string", "pattern": "^CC[0-9]{0,3}$"}}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _inputs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise PydanticCustomError(
            "inputs_type", 'must be a non-empty list of layer names or "input" (got {got})', {"got": _show(value)}
        )
    return tuple(_name(item) for item in value)


Inputs = Annotated[
    tuple[str, ...],
    PlainValidator(_inputs),
    _JSON_ARRAY,
    WithJsonSchema({"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}),
]

INPUT_NAME = "input"
"""What ``inputs`` calls the network's input volume (so no layer may be named that)."""


class _Layer(_Model):
    name: Name | None = Field(default=None, description="Optional layer name, shown in tables and findings.")
    ignore: Codes = Field(default=(), description="Rule codes or prefixes silenced for this layer (like # noqa).")
    inputs: Inputs | None = Field(
        default=None,
        description='Names of the layers (or "input") this one reads; by default the previous layer.',
    )


def _zero_padding(value: Any) -> tuple[int, int, int, int]:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value):
        (top, bottom), (left, right) = (_pair(v, 0) for v in value)
        return (top, bottom, left, right)
    height, width = _pair(value, 0)
    return (height, height, width, width)


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise PydanticCustomError("rate", "must be a number with 0 ≤ rate < 1 (got {got})", {"got": _show(value)})
    return float(value)


def _output_padding(value: Any) -> Pair:
    return _pair(value, 0)


_NON_NEGATIVE_PAIR_SCHEMA: dict[str, Any] = {
    "anyOf": [_PADDING_INT_SCHEMA, {"type": "array", "items": _PADDING_INT_SCHEMA, "minItems": 2, "maxItems": 2}]
}


def _zero_padding_json(value: tuple[int, int, int, int]) -> list[list[int]]:
    # Dumped in a form the validator reads back: [[top, bottom], [left, right]].
    return [[value[0], value[1]], [value[2], value[3]]]


ZeroPaddingSpec = Annotated[
    tuple[int, int, int, int],
    PlainValidator(_zero_padding),
    PlainSerializer(_zero_padding_json, return_type=Any),
    WithJsonSchema(
        {
            "anyOf": [
                *_NON_NEGATIVE_PAIR_SCHEMA["anyOf"],
                {"type": "array", "items": _NON_NEGATIVE_PAIR_SCHEMA["anyOf"][1], "minItems": 2, "maxItems": 2},
            ],
            "description": "P, [h, w], or [[top, bottom], [left, right]]",
        }
    ),
]
OutputPadding = Annotated[Pair, PlainValidator(_output_padding), _JSON_ARRAY, WithJsonSchema(_NON_NEGATIVE_PAIR_SCHEMA)]
Rate = Annotated[float, PlainValidator(_rate), WithJsonSchema({"type": "number", "minimum": 0, "exclusiveMaximum": 1})]


class Conv(_Layer):
    """A convolution: K filters of F×F×(D/groups), stride S, zero-padding P, dilation d."""

    type: Literal["conv"]
    filters: PositiveInt = Field(description="K, the number of filters (output depth).")
    kernel: PositivePair = Field(description="F, the spatial extent: int or [h, w].")
    stride: PositivePair = Field(default=(1, 1), description="S: int or [h, w].")
    padding: Padding = Field(default=(0, 0), description='P: int, [h, w], "valid" (= 0) or "same".')
    bias: StrictBool = Field(default=True, description="Whether each filter has a bias.")
    dilation: PositivePair = Field(default=(1, 1), description="d: the effective kernel is d·(F − 1) + 1.")
    groups: PositiveInt = Field(default=1, description="Grouped convolution: D and K must both divide by it.")


class Depthwise(_Layer):
    """A depthwise convolution: one F×F filter per input channel (times a depth multiplier)."""

    type: Literal["depthwise"]
    kernel: PositivePair
    stride: PositivePair = (1, 1)
    padding: Padding = (0, 0)
    dilation: PositivePair = (1, 1)
    multiplier: PositiveInt = Field(default=1, description="Depth multiplier m: the output depth is D·m.")
    bias: StrictBool = True


class Separable(_Layer):
    """A depthwise-separable convolution: depthwise F×F (multiplier m), then a 1×1 conv to K filters."""

    type: Literal["separable"]
    filters: PositiveInt
    kernel: PositivePair
    stride: PositivePair = (1, 1)
    padding: Padding = (0, 0)
    dilation: PositivePair = (1, 1)
    multiplier: PositiveInt = 1
    bias: StrictBool = True


class ConvTranspose(_Layer):
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


class Pool(_Layer):
    """Spatial pooling over F×F windows with stride S; depth is preserved; no parameters."""

    type: Literal["pool"]
    mode: Literal["max", "avg", "l2"] = "max"
    kernel: PositivePair = Field(description="F: int or [h, w].")
    stride: PositivePair | None = Field(default=None, description="S (defaults to the kernel).")
    padding: Padding = Field(default=(0, 0), description='P: int, [h, w], "valid" or "same".')


class GlobalPool(_Layer):
    """Pools each channel over the whole H×W: outputs 1×1×D."""

    type: Literal["global_pool"]
    mode: Literal["avg", "max"] = "avg"


class FC(_Layer):
    """A fully connected layer over all values of its input volume; outputs 1×1×units (``dense`` is an alias)."""

    type: Literal["fc", "dense"]
    units: PositiveInt
    bias: StrictBool = True


class BatchNorm(_Layer):
    """Batch normalisation: γ and β trainable (D each), moving mean and variance not (D each)."""

    type: Literal["batchnorm"]
    center: StrictBool = Field(default=True, description="Learn β (a per-channel offset).")
    scale: StrictBool = Field(default=True, description="Learn γ (a per-channel scale).")


class Dropout(_Layer):
    """Zeroes a fraction ``rate`` of values while training; no parameters, no shape change."""

    type: Literal["dropout"]
    rate: Rate = 0.5


class ZeroPadding(_Layer):
    """Pads the volume with zeros: H + top + bottom, W + left + right."""

    type: Literal["zero_padding"]
    padding: ZeroPaddingSpec


ACTIVATION_KINDS = ("relu", "relu6", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "swish")


class Activation(_Layer):
    """An elementwise nonlinearity (softmax normalises over the depth)."""

    type: Literal["activation"]
    kind: Literal["relu", "relu6", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "swish"]


class ReLU(_Layer):
    """Elementwise max(0, x) (the short form of an ``activation`` of kind relu)."""

    type: Literal["relu"]


class Flatten(_Layer):
    """Reshapes H×W×D into 1×1×(H·W·D)."""

    type: Literal["flatten"]


class Add(_Layer):
    """Adds two or more volumes of the same shape (a residual connection)."""

    type: Literal["add"]


class Concat(_Layer):
    """Concatenates volumes of the same H×W along the depth."""

    type: Literal["concat"]


AnyLayer = (
    Conv
    | Depthwise
    | Separable
    | ConvTranspose
    | Pool
    | GlobalPool
    | FC
    | BatchNorm
    | Dropout
    | ZeroPadding
    | Activation
    | ReLU
    | Flatten
    | Add
    | Concat
)
Layer = Annotated[AnyLayer, Field(discriminator="type")]
LAYER_MODELS: dict[str, type[_Layer]] = {
    "conv": Conv,
    "depthwise": Depthwise,
    "separable": Separable,
    "conv_transpose": ConvTranspose,
    "pool": Pool,
    "global_pool": GlobalPool,
    "fc": FC,
    "dense": FC,
    "batchnorm": BatchNorm,
    "dropout": Dropout,
    "zero_padding": ZeroPadding,
    "activation": Activation,
    "relu": ReLU,
    "flatten": Flatten,
    "add": Add,
    "concat": Concat,
}
MERGE_TYPES = ("add", "concat")


class InputShape(_Model):
    """The input volume H×W×D; the spec may also write it as [H, W, D]."""

    height: PositiveInt
    width: PositiveInt
    channels: PositiveInt

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            if len(value) != 3:
                raise PydanticCustomError(
                    "input_shape",
                    "must be [H, W, D] or an object with height, width, channels (got a list of {n})",
                    {"n": len(value)},
                )
            return {"height": value[0], "width": value[1], "channels": value[2]}
        return value


class Network(_Model):
    """A whole network: the input volume, the layers in order, and optionally the class count."""

    name: Name | None = None
    input: InputShape
    classes: PositiveInt | None = Field(default=None, description="The network must end in a 1×1×classes volume.")
    layers: list[Layer] = Field(min_length=1, max_length=1_000_000)
    ignore: Codes = Field(default=(), description="Rule codes or prefixes silenced for the whole spec.")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file, for editors."""
    schema = Network.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "convcalc network spec"
    schema["properties"]["input"] = {
        "anyOf": [
            {"$ref": "#/$defs/InputShape"},
            {"type": "array", "items": _INT_SCHEMA, "minItems": 3, "maxItems": 3, "description": "[H, W, D]"},
        ]
    }
    return schema
