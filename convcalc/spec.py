"""The typed network spec: pydantic v2 models validated at the boundary.

The JSON contract (keys, defaults, the ``type`` discriminator) is fixed by the core issue; extend it,
never break it. A layer object is one of the registry's kinds (:mod:`convcalc.layers`), chosen by its
``type``; everything below this module works with plain, already-valid values.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from convcalc.layers import LayerSpec, kind_of_type
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
    "layers_by_object",
    "network_data",
    "validate_by_kind",
    "validate_layer",
    "validate_network",
]

MAX_LAYERS = 10_000
"""The most layers a spec may have: what convcalc checks in seconds (the README's "Bad input" has the figures)."""

INPUT_NAME = "input"
"""What ``inputs`` calls the network's input volume (so no layer may be named that)."""

if TYPE_CHECKING:
    from convcalc.layers import LAYER_MODELS

    AnyLayer = LayerSpec


def __getattr__(name: str) -> Any:
    """``AnyLayer``, the union of every kind, made when first asked for (it imports every kind's module: see
    :class:`Network`); ``LAYER_MODELS``, the registry's ``type`` table."""
    if name == "AnyLayer":
        return _any_layer()
    if name == "LAYER_MODELS":
        from convcalc.layers import LAYER_MODELS

        return LAYER_MODELS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _any_layer() -> Any:
    # The union of every registered kind, discriminated by "type" (pydantic picks the model by its value).
    from convcalc.layers import KINDS

    return Annotated[Union[tuple(KINDS)], Field(discriminator="type")]  # noqa: UP007


if TYPE_CHECKING:
    _LazyAnyLayer = LayerSpec
else:

    class _LazyAnyLayer:
        """Network's annotation of a layer: pydantic asks it for a schema when it first builds one (a validation,
        a dump, a JSON Schema, a TypeAdapter or a model that holds a Network), and it answers with the union's,
        which it makes then (importing every kind)."""

        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
            return handler.generate_schema(_any_layer())


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

    # Its own validator and serializer compile the schema of every kind (the union of ``layers``), which costs
    # a cold start more than all the rest of a check: they are built on first use (``defer_build``), and
    # validate_network and network_data get by with the schemas of the kinds a spec uses. (A comment, not the
    # docstring, which is the JSON Schema's description that editors show.)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: Name | None = None
    input: InputShape
    classes: PositiveInt | None = Field(default=None, description="The network must end in a 1×1×classes volume.")
    # The union of every kind, made (importing every kind) when pydantic first builds a schema with it.
    layers: list[_LazyAnyLayer] = Field(min_length=1, max_length=MAX_LAYERS)
    ignore: Codes = Field(default=(), description="Rule codes or prefixes silenced for the whole spec.")


def validate_layer(data: Any) -> AnyLayer:
    """One layer object validated as any registered kind (by its ``type``); raises ValidationError.

    A layer of a known ``type`` is validated by its kind's model alone; anything else through the network's
    own validator, as the only layer of a 1×1×1 network, for the union's errors (an unknown or missing type).
    """
    kind = _kind_of(data)
    if kind is not None:
        return kind.model_validate(data)
    return Network.model_validate({"input": [1, 1, 1], "layers": [data]}).layers[0]


def validate_network(data: Any) -> Network:
    """``Network.model_validate(data)``, compiling only the schemas of the kinds the spec uses.

    A valid spec is validated a layer at a time by each layer's kind and the rest by a model of the other
    fields; anything that does not validate that way goes through the network's own validator, whose errors
    (paths, union tags) are the ones users see. Same result either way: each kind's schema is the one the
    union picks by ``type``.
    """
    return validate_by_kind(data) or Network.model_validate(data)


def network_data(network: Network) -> dict[str, Any]:
    """``network.model_dump(mode="json", exclude_defaults=True)``, through the kinds' own serializers."""
    values = {name: getattr(network, name) for name in _header_model().model_fields}
    header = _header_model().model_construct(_fields_set=network.model_fields_set - {"layers"}, **values)
    data = header.model_dump(mode="json", exclude_defaults=True)
    layers = [layer.model_dump(mode="json", exclude_defaults=True) for layer in network.layers]
    # In the network's field order, as its own serializer writes it.
    return {
        name: layers if name == "layers" else data[name]
        for name in Network.model_fields
        if name in data or name == "layers"
    }


def layers_by_object(data: dict[str, Any], network: Network) -> dict[int, AnyLayer]:
    """``network``'s layers by the ``id`` of their objects in ``data``, its dump (:func:`network_data`): the
    ``known`` of :func:`validate_by_kind` for a fix applied to that dump (:func:`~convcalc.fixes.apply_fix` copies
    on write, so it shares every layer object it did not change). The caller keeps ``data`` alive, so no id is
    reused."""
    return {id(layer): model for layer, model in zip(data["layers"], network.layers, strict=True)}


def _kind_of(data: Any) -> type[LayerSpec] | None:
    tag = data.get("type") if isinstance(data, dict) else None
    return kind_of_type(tag) if type(tag) is str else None  # a str subclass may not even hash: the union's


@functools.cache
def _header_model() -> type[BaseModel]:
    """The network's fields but ``layers``, validated as the network validates them."""
    fields: dict[str, Any] = {
        name: (field.annotation, field) for name, field in Network.model_fields.items() if name != "layers"
    }
    return create_model("NetworkFields", __base__=_Model, **fields)


def validate_by_kind(data: Any, known: Mapping[int, AnyLayer] | None = None) -> Network | None:
    """The network, validated a layer at a time by each layer's kind; None where that does not validate (an
    unknown or missing ``type``, a bad field, layers already validated): :func:`validate_network` says why.

    ``known``: layers already validated, by the ``id`` of their layer objects, which the caller keeps alive (a
    fix checked on a copy-on-write dump shares every layer object it did not change): those are not again."""
    if not isinstance(data, dict) or not isinstance(layers := data.get("layers"), list):
        return None
    if not 1 <= len(layers) <= MAX_LAYERS:
        return None
    known = known or {}
    try:
        valid = []
        for layer in layers:
            model = known.get(id(layer))
            if model is not None:
                valid.append(model)
                continue
            kind = _kind_of(layer)
            if kind is None:
                return None
            valid.append(kind.model_validate(layer))
        header = _header_model().model_validate({key: value for key, value in data.items() if key != "layers"})
    except ValidationError:
        return None
    values = {name: getattr(header, name) for name in type(header).model_fields}
    return Network.model_construct(_fields_set=header.model_fields_set | {"layers"}, layers=valid, **values)


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
