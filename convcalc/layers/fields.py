"""The field types layer kinds share: strict ints and pairs, padding, names, rule codes, rates.

Each is a pydantic ``Annotated`` type with a plain validator (so ``true`` is never a count and messages say
what is allowed), a serializer that writes what the validator reads back, and a JSON Schema for editors.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from convcalc.text import did_you_mean

MAX_SIZE = 2**31 - 1
"""Largest size, count or stride: TensorFlow's int32 shape limit."""

Pair = tuple[int, int]


def strict_int(value: Any, minimum: int) -> int:
    # bool is an int subclass in Python; a count of `true` is a mistake, not a 1.
    if type(value) is not int:
        raise PydanticCustomError("int_type", "must be an integer (got {got})", {"got": show_value(value)})
    if value < minimum:
        raise PydanticCustomError("too_small", "must be ≥ {minimum} (got {got})", {"minimum": minimum, "got": value})
    if value > MAX_SIZE:
        raise PydanticCustomError(
            "too_large",
            "must be ≤ 2^31 − 1 = {maximum}, TensorFlow's int32 limit (got {got})",
            {"maximum": MAX_SIZE, "got": value},
        )
    return value


def show_value(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else None
    if text is None:
        text = "null" if value is None else type(value).__name__ if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def strict_pair(value: Any, minimum: int) -> Pair:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise PydanticCustomError(
                "pair_length", "must be an integer or a pair [h, w] (got a list of {n})", {"n": len(value)}
            )
        return (strict_int(value[0], minimum), strict_int(value[1], minimum))
    if type(value) is not int:
        raise PydanticCustomError(
            "pair_type", "must be an integer or a pair [h, w] (got {got})", {"got": show_value(value)}
        )
    size = strict_int(value, minimum)
    return (size, size)


def _positive_int(value: Any) -> int:
    return strict_int(value, 1)


def _odd_size(value: Any) -> int:
    size = strict_int(value, 1)
    if size % 2 == 0:
        raise PydanticCustomError(
            "odd_size", "must be odd, a window centred on each channel (got {got})", {"got": size}
        )
    return size


def _positive_pair(value: Any) -> Pair:
    return strict_pair(value, 1)


def _padding(value: Any) -> Pair | Literal["same", "valid"]:
    if isinstance(value, str):
        if value == "valid":
            return (0, 0)
        if value == "same":
            return "same"
        raise PydanticCustomError(
            "padding",
            'must be "same", "valid", an integer ≥ 0 or a pair [h, w] (got {got}){hint}',
            {"got": show_value(value), "hint": did_you_mean(value, ["same", "valid"])},
        )
    return strict_pair(value, 0)


INT_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_SIZE}
_PAIR_SCHEMA: dict[str, Any] = {
    "anyOf": [
        INT_SCHEMA,
        {"type": "array", "items": INT_SCHEMA, "minItems": 2, "maxItems": 2, "description": "[height, width]"},
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

PositiveInt = Annotated[int, PlainValidator(_positive_int), WithJsonSchema(INT_SCHEMA)]
"""A strict int in [1, 2^31 − 1]."""

OddSize = Annotated[int, PlainValidator(_odd_size), WithJsonSchema({**INT_SCHEMA, "description": "odd"})]
"""A window size that centres on its middle: odd, ≥ 1."""


def _as_json(value: Any) -> Any:
    # Pairs and code lists are tuples inside, arrays in JSON; a plain serializer keeps dumps warning-free.
    return list(value) if isinstance(value, tuple) else value


JSON_ARRAY = PlainSerializer(_as_json, return_type=Any)

PositivePair = Annotated[Pair, PlainValidator(_positive_pair), JSON_ARRAY, WithJsonSchema(_PAIR_SCHEMA)]
"""An int or [h, w], normalised to (h, w)."""


def _positive_volume(value: Any) -> tuple[int, int, int]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise PydanticCustomError(
            "volume", "must be [h, w, d], three integers ≥ 1 (got {got})", {"got": show_value(value)}
        )
    height, width, depth = (strict_int(item, 1) for item in value)
    return (height, width, depth)


PositiveVolume = Annotated[
    tuple[int, int, int],
    PlainValidator(_positive_volume),
    JSON_ARRAY,
    WithJsonSchema({"type": "array", "items": INT_SCHEMA, "minItems": 3, "maxItems": 3, "description": "[h, w, d]"}),
]
"""A volume's [h, w, d], each a strict int in [1, 2^31 − 1]."""
Padding = Annotated[Pair | Literal["same"], PlainValidator(_padding), JSON_ARRAY, WithJsonSchema(_PADDING_SCHEMA)]
"""P as (h, w), or ``"same"`` (TensorFlow's rule); ``"valid"`` normalises to (0, 0)."""


def _strict_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise PydanticCustomError("bool_type", "must be true or false (got {got})", {"got": show_value(value)})
    return value


StrictBool = Annotated[bool, PlainValidator(_strict_bool), WithJsonSchema({"type": "boolean"})]


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "must be a string (got {got})", {"got": show_value(value)})
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
            "codes_type", 'must be a list of rule codes like ["CC201"] (got {got})', {"got": show_value(value)}
        )
    for item in value:
        if not isinstance(item, str) or not CODE_PATTERN.fullmatch(item):
            raise PydanticCustomError(
                "code", 'must hold rule codes or prefixes like "CC201" or "CC2" (got {got})', {"got": show_value(item)}
            )
    return tuple(value)


CODE_PATTERN = re.compile(r"CC\d{0,3}")
"""A rule code (CC201) or a code prefix (CC2, CC)."""

Codes = Annotated[
    tuple[str, ...],
    PlainValidator(_codes),
    JSON_ARRAY,
    WithJsonSchema({"type": "array", "items": {"type": "string", "pattern": "^CC[0-9]{0,3}$"}}),
]


def _inputs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise PydanticCustomError(
            "inputs_type", 'must be a non-empty list of layer names or "input" (got {got})', {"got": show_value(value)}
        )
    return tuple(_name(item) for item in value)


Inputs = Annotated[
    tuple[str, ...],
    PlainValidator(_inputs),
    JSON_ARRAY,
    WithJsonSchema({"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}),
]

NON_NEGATIVE_PAIR_SCHEMA: dict[str, Any] = {
    "anyOf": [_PADDING_INT_SCHEMA, {"type": "array", "items": _PADDING_INT_SCHEMA, "minItems": 2, "maxItems": 2}]
}


def _finite(value: Any) -> float:
    try:  # an int past float's range (10**400 in the JSON) is no finite number either
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    except OverflowError:
        number = math.nan
    if not math.isfinite(number):
        raise PydanticCustomError("number_type", "must be a finite number (got {got})", {"got": show_value(value)})
    return number


def _values(value: Any) -> float | tuple[float, ...]:
    if isinstance(value, list):
        if not value:
            raise PydanticCustomError("values_length", "must be a number or a non-empty list of numbers", {})
        return tuple(_finite(item) for item in value)
    return _finite(value)


Number = Annotated[float, PlainValidator(_finite), WithJsonSchema({"type": "number"})]
"""A finite int or float (not a bool), as a float."""
Values = Annotated[
    float | tuple[float, ...],
    PlainValidator(_values),
    JSON_ARRAY,
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}, "minItems": 1}]}),
]
"""One number for every channel, or a list of one per channel (Keras broadcasts either over the depth)."""
