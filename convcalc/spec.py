"""The typed network spec: pydantic v2 models validated at the boundary.

The JSON contract (keys, defaults, the ``type`` discriminator) is fixed by the core issue; extend it,
never break it. A layer object is one of the registry's kinds (:mod:`convcalc.layers`), chosen by its
``type``; everything below this module works with plain, already-valid values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from convcalc.layers import LAYER_MODELS, REGISTRY, LayerSpec
from convcalc.layers.fields import INT_SCHEMA, MAX_SIZE, Codes, Name, PositiveInt

__all__ = [
    "INPUT_NAME",
    "LAYER_MODELS",
    "MAX_LAYERS",
    "MAX_SIZE",
    "AnyLayer",
    "InputShape",
    "Network",
    "json_schema",
    "validate_layer",
]

MAX_LAYERS = 10_000
"""The most layers a spec may have: what convcalc checks in seconds (the README's "Bad input" has the figures)."""

INPUT_NAME = "input"
"""What ``inputs`` calls the network's input volume (so no layer may be named that)."""

if TYPE_CHECKING:
    AnyLayer = LayerSpec
else:
    # The union of every registered kind, discriminated by "type" (pydantic picks the model by its value).
    AnyLayer = Annotated[Union[tuple(REGISTRY.kinds)], Field(discriminator="type")]  # noqa: UP007


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    layers: list[AnyLayer] = Field(min_length=1, max_length=MAX_LAYERS)
    ignore: Codes = Field(default=(), description="Rule codes or prefixes silenced for the whole spec.")


def validate_layer(data: Any) -> AnyLayer:
    """One layer object validated as any registered kind (by its ``type``); raises ValidationError.

    Through the network's own validator, as the only layer of a 1×1×1 network: a validator of the union
    alone would compile every kind's schema a second time, which costs a cold start more than it saves.
    """
    return Network.model_validate({"input": [1, 1, 1], "layers": [data]}).layers[0]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file, for editors."""
    schema = Network.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "convcalc network spec"
    schema["properties"]["input"] = {
        "anyOf": [
            {"$ref": "#/$defs/InputShape"},
            {"type": "array", "items": INT_SCHEMA, "minItems": 3, "maxItems": 3, "description": "[H, W, D]"},
        ]
    }
    return schema
