"""convcalc.spec: the JSON contract — round trips, strict values, bounds, defaults and the JSON Schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from pydantic import ValidationError

from convcalc.analysis import analyze
from convcalc.layers import FC, REGISTRY, Conv, Flatten, Pool, ReLU
from convcalc.spec import (
    LAYER_MODELS,
    MAX_SIZE,
    Network,
    json_schema,
    network_data,
    validate_by_kind,
    validate_network,
)
from tests.helpers import EXAMPLES
from tests.strategies import spec_dicts, spec_like_values

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def spec_with_layer(layer: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"input": [8, 8, 3], "layers": [layer], **top}


def error_locations(data: Any) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as caught:
        Network.model_validate(data)
    return [tuple(error["loc"]) for error in caught.value.errors()]


# --- round trips --------------------------------------------------------------------------------------


@given(spec_dicts())
def test_every_valid_spec_round_trips_through_its_json(spec: dict[str, Any]) -> None:
    network = Network.model_validate(spec)
    with warnings.catch_warnings():
        # Whether dumping is warning-free is its own test below; here only the values matter.
        warnings.simplefilter("ignore")
        dumped = network.model_dump(mode="json")
    text = json.dumps(dumped)
    assert Network.model_validate(json.loads(text)) == network
    assert Network.model_validate(dumped) == network


@given(spec_dicts())
def test_round_trip_keeps_every_layer_kind_and_setting(spec: dict[str, Any]) -> None:
    network = Network.model_validate(spec)
    assert [layer.type for layer in network.layers] == [layer["type"] for layer in spec["layers"]]
    for layer, raw in zip(network.layers, spec["layers"], strict=True):
        assert layer.name == raw.get("name")
        if "bias" in raw:
            assert layer.bias is raw["bias"]  # type: ignore[union-attr]
        if raw.get("padding") == "same":
            assert layer.padding == "same"  # type: ignore[union-attr]


def test_dumping_a_spec_emits_no_serializer_warnings() -> None:
    # Pairs and paddings are stored as tuples; a dump that warns "serialized value may not be as expected"
    # is noise for every caller, and an error under `-W error`.
    network = Network.model_validate(
        spec_with_layer({"type": "conv", "filters": 4, "kernel": [3, 5], "stride": 2, "padding": "same"})
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dumped = network.model_dump(mode="json")
        network.model_dump_json()
    assert dumped["layers"][0]["kernel"] == [3, 5]
    assert dumped["layers"][0]["stride"] == [2, 2]
    assert dumped["layers"][0]["padding"] == "same"


def test_every_layer_kind_has_its_model() -> None:
    assert {"conv": Conv, "pool": Pool, "fc": FC, "dense": FC, "relu": ReLU, "flatten": Flatten}.items() <= (
        LAYER_MODELS.items()
    )
    network = Network.model_validate(
        {
            "input": [8, 8, 3],
            "layers": [
                {"type": "conv", "filters": 2, "kernel": 3},
                {"type": "pool", "kernel": 2},
                {"type": "relu"},
                {"type": "flatten"},
                {"type": "fc", "units": 5},
            ],
        }
    )
    assert [type(layer) for layer in network.layers] == [Conv, Pool, ReLU, Flatten, FC]


# --- strict values --------------------------------------------------------------------------------------


def conv(**fields: Any) -> dict[str, Any]:
    return spec_with_layer({"type": "conv", "filters": 1, "kernel": 1, **fields})


def pool(**fields: Any) -> dict[str, Any]:
    return spec_with_layer({"type": "pool", "kernel": 2, **fields})


def relu_net(**top: Any) -> dict[str, Any]:
    return {"input": [8, 8, 3], "layers": [{"type": "relu"}], **top}


CONV, POOL, FC_PATH = ("layers", 0, "conv"), ("layers", 0, "pool"), ("layers", 0, "fc")
INT_FIELDS = [
    pytest.param(lambda v: conv(filters=v), (*CONV, "filters"), id="conv.filters"),
    pytest.param(lambda v: conv(kernel=v), (*CONV, "kernel"), id="conv.kernel"),
    pytest.param(lambda v: conv(kernel=[3, v]), (*CONV, "kernel"), id="conv.kernel[1]"),
    pytest.param(lambda v: conv(stride=v), (*CONV, "stride"), id="conv.stride"),
    pytest.param(lambda v: pool(kernel=v), (*POOL, "kernel"), id="pool.kernel"),
    pytest.param(lambda v: pool(stride=v), (*POOL, "stride"), id="pool.stride"),
    pytest.param(lambda v: spec_with_layer({"type": "fc", "units": v}), (*FC_PATH, "units"), id="fc.units"),
    pytest.param(lambda v: relu_net(input=[v, 8, 3]), ("input", "height"), id="input[0]"),
    pytest.param(
        lambda v: relu_net(input={"height": 8, "width": 8, "channels": v}), ("input", "channels"), id="channels"
    ),
    pytest.param(lambda v: relu_net(classes=v), ("classes",), id="classes"),
]


@pytest.mark.parametrize(("build", "loc"), INT_FIELDS)
@pytest.mark.parametrize("value", [True, False, 10.5, 3.0, "3", None, [], {}], ids=repr)
def test_counts_are_strict_integers(build: Any, loc: tuple[Any, ...], value: Any) -> None:
    if value is None and loc[-1] in ("stride", "classes"):
        value = "none"  # null means "default" for these two; a string must still be refused
    assert loc in error_locations(build(value))


@pytest.mark.parametrize(("build", "loc"), INT_FIELDS)
@pytest.mark.parametrize("value", [0, -1, 2**31, 10**30])
def test_sizes_out_of_bounds_are_refused(build: Any, loc: tuple[Any, ...], value: int) -> None:
    assert loc in error_locations(build(value))


@pytest.mark.parametrize(("build", "loc"), INT_FIELDS)
@pytest.mark.parametrize("value", [1, 7, MAX_SIZE])
def test_sizes_in_bounds_are_accepted(build: Any, loc: tuple[Any, ...], value: int) -> None:
    Network.model_validate(build(value))


def test_the_limit_is_tensorflows_int32() -> None:
    assert MAX_SIZE == 2**31 - 1


@pytest.mark.parametrize("padding", [0, MAX_SIZE, [0, 0], [1, 2], "valid", "same"])
def test_padding_accepts_zero_pairs_and_the_tensorflow_words(padding: Any) -> None:
    Network.model_validate(spec_with_layer({"type": "conv", "filters": 1, "kernel": 1, "padding": padding}))


@pytest.mark.parametrize("padding", [-1, 2**31, [0, -1], [1, 2, 3], [1], "SAME", "full", True, 1.5, None])
def test_padding_refuses_everything_else(padding: Any) -> None:
    layer = {"type": "conv", "filters": 1, "kernel": 1, "padding": padding}
    assert ("layers", 0, "conv", "padding") in error_locations(spec_with_layer(layer))


def test_valid_padding_is_zero_padding() -> None:
    valid = Network.model_validate(spec_with_layer({"type": "conv", "filters": 1, "kernel": 3, "padding": "valid"}))
    zero = Network.model_validate(spec_with_layer({"type": "conv", "filters": 1, "kernel": 3, "padding": 0}))
    assert valid == zero
    assert valid.layers[0].padding == (0, 0)  # type: ignore[union-attr]


@pytest.mark.parametrize("bias", [0, 1, "true", None])
def test_bias_is_a_strict_boolean(bias: Any) -> None:
    layer = {"type": "fc", "units": 1, "bias": bias}
    assert ("layers", 0, "fc", "bias") in error_locations(spec_with_layer(layer))


@pytest.mark.parametrize("name", ["", "x" * 201, 5, ["a"]])
def test_names_are_short_non_empty_strings(name: Any) -> None:
    assert ("layers", 0, "relu", "name") in error_locations(spec_with_layer({"type": "relu", "name": name}))
    assert ("name",) in error_locations(spec_with_layer({"type": "relu"}, name=name))


def test_a_200_character_name_is_accepted() -> None:
    network = Network.model_validate(spec_with_layer({"type": "relu", "name": "x" * 200}, name="y" * 200))
    assert network.layers[0].name == "x" * 200


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        pytest.param(spec_with_layer({"type": "relu", "units": 3}), ("layers", 0, "relu", "units"), id="layer key"),
        pytest.param(spec_with_layer({"type": "relu"}, depth=3), ("depth",), id="top-level key"),
        pytest.param(
            {"input": {"height": 1, "width": 1, "channels": 1, "batch": 1}, "layers": [{"type": "relu"}]},
            ("input", "batch"),
            id="input key",
        ),
    ],
)
def test_unknown_keys_are_refused(data: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert loc in error_locations(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"layers": [{"type": "relu"}]}, id="no input"),
        pytest.param({"input": [1, 1, 1]}, id="no layers"),
        pytest.param({"input": [1, 1, 1], "layers": []}, id="empty layers"),
        pytest.param({"input": [1, 1], "layers": [{"type": "relu"}]}, id="input of 2"),
        pytest.param({"input": [1, 1, 1, 1], "layers": [{"type": "relu"}]}, id="input of 4"),
        pytest.param({"input": [1, 1, 1], "layers": [{"type": "densse", "units": 1}]}, id="unknown type"),
        pytest.param({"input": [1, 1, 1], "layers": [{"units": 1}]}, id="no type"),
        pytest.param({"input": [1, 1, 1], "layers": [{"type": "pool", "kernel": 2, "mode": "min"}]}, id="pool mode"),
    ],
)
def test_structural_mistakes_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Network.model_validate(data)


# --- forms and defaults ---------------------------------------------------------------------------------


def test_input_as_a_list_or_an_object_is_the_same_network() -> None:
    as_list = Network.model_validate({"input": [28, 32, 3], "layers": [{"type": "relu"}]})
    as_object = Network.model_validate(
        {"input": {"height": 28, "width": 32, "channels": 3}, "layers": [{"type": "relu"}]}
    )
    assert as_list == as_object
    assert (as_list.input.height, as_list.input.width, as_list.input.channels) == (28, 32, 3)


def test_an_int_is_a_square_pair() -> None:
    layer = Network.model_validate(
        spec_with_layer({"type": "conv", "filters": 1, "kernel": 3, "stride": [1, 2]})
    ).layers[0]
    assert layer.kernel == (3, 3)  # type: ignore[union-attr]
    assert layer.stride == (1, 2)  # type: ignore[union-attr]


@pytest.mark.parametrize(("kernel", "expected"), [(3, (3, 3)), ([2, 3], (2, 3))])
def test_pool_stride_defaults_to_the_kernel(kernel: Any, expected: tuple[int, int]) -> None:
    network = Network.model_validate({"input": [12, 12, 5], "layers": [{"type": "pool", "kernel": kernel}]})
    facts = analyze(network).layers[0]
    assert facts.window is not None
    assert facts.window.stride == expected
    assert facts.output_shape == (12 // expected[0], 12 // expected[1], 5)


def test_conv_defaults_are_stride_1_padding_0_with_bias() -> None:
    layer = Network.model_validate(spec_with_layer({"type": "conv", "filters": 2, "kernel": 3})).layers[0]
    assert (layer.stride, layer.padding, layer.bias) == ((1, 1), (0, 0), True)  # type: ignore[union-attr]


def test_specs_are_frozen() -> None:
    network = Network.model_validate(spec_with_layer({"type": "relu"}))
    with pytest.raises(ValidationError):
        network.name = "changed"  # type: ignore[misc]


# --- the JSON Schema ------------------------------------------------------------------------------------


def schema_accepts(instance: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """A small validator for the keywords convcalc's schema uses (jsonschema is not a dependency).

    Unknown validation keywords fail loudly, so the schema cannot grow past what this checks.
    """
    annotations = {"title", "description", "default", "discriminator", "$schema", "$defs", "examples"}
    known = annotations | {
        "$ref", "anyOf", "oneOf", "type", "const", "enum", "minimum", "maximum", "minLength", "maxLength",
        "exclusiveMaximum",
        "items", "minItems", "maxItems", "properties", "required", "additionalProperties", "pattern",
    }  # fmt: skip
    unknown = set(schema) - known
    assert not unknown, f"the test validator does not know {unknown}"
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        if not schema_accepts(instance, root["$defs"][name], root):
            return False
    if "anyOf" in schema and not any(schema_accepts(instance, s, root) for s in schema["anyOf"]):
        return False
    if "oneOf" in schema and sum(schema_accepts(instance, s, root) for s in schema["oneOf"]) != 1:
        return False
    kinds = {
        "integer": lambda v: type(v) is int,
        "number": lambda v: type(v) in (int, float),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if "type" in schema and not kinds[schema["type"]](instance):
        return False
    if "const" in schema and instance != schema["const"]:
        return False
    if "enum" in schema and instance not in schema["enum"]:
        return False
    if type(instance) in (int, float) and not schema.get("minimum", instance) <= instance <= schema.get(
        "maximum", instance
    ):
        return False
    if type(instance) in (int, float) and "exclusiveMaximum" in schema and not instance < schema["exclusiveMaximum"]:
        return False
    if isinstance(instance, str):
        if not schema.get("minLength", 0) <= len(instance) <= schema.get("maxLength", 10**9):
            return False
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            return False
    if isinstance(instance, list):
        if not schema.get("minItems", 0) <= len(instance) <= schema.get("maxItems", 10**9):
            return False
        if "items" in schema and not all(schema_accepts(item, schema["items"], root) for item in instance):
            return False
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        if any(key not in instance for key in schema.get("required", [])):
            return False
        if schema.get("additionalProperties") is False and any(key not in properties for key in instance):
            return False
        for key, value in instance.items():
            if key in properties and not schema_accepts(value, properties[key], root):
                return False
    return True


def test_schema_command_output_is_valid_json_with_the_2020_12_dialect() -> None:
    schema = json_schema()
    assert json.loads(json.dumps(schema)) == schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"input", "layers"}
    assert schema["additionalProperties"] is False


def test_schema_layers_cover_every_type_with_a_discriminator() -> None:
    schema = json_schema()
    items = schema["properties"]["layers"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    refs = [choice["$ref"] for choice in items.get("oneOf", items.get("anyOf", []))]
    assert sorted(items["discriminator"]["mapping"]) == sorted(LAYER_MODELS)
    assert sorted(refs) == sorted(set(items["discriminator"]["mapping"].values()))  # "dense" aliases "fc"
    for tag, ref in items["discriminator"]["mapping"].items():
        definition = schema["$defs"][ref.removeprefix("#/$defs/")]
        type_schema = definition["properties"]["type"]
        assert type_schema.get("const") == tag or tag in type_schema.get("enum", [])
        assert "type" in definition["required"]
        assert definition["additionalProperties"] is False


@pytest.mark.parametrize(
    ("definition", "required"),
    [
        ("Conv", {"type", "filters", "kernel"}),
        ("Pool", {"type"}),  # kernel, unless output (adaptive)
        ("FC", {"type", "units"}),
        ("ReLU", {"type"}),
        ("Flatten", {"type"}),
        ("InputShape", {"height", "width", "channels"}),
    ],
)
def test_schema_required_fields(definition: str, required: set[str]) -> None:
    assert set(json_schema()["$defs"][definition]["required"]) == required


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_schema_accepts_every_example(path: Path) -> None:
    schema = json_schema()
    assert schema_accepts(json.loads(path.read_text(encoding="utf-8")), schema, schema)


@given(spec_dicts())
def test_schema_accepts_every_spec_the_models_accept(spec: dict[str, Any]) -> None:
    schema = json_schema()
    assert schema_accepts(spec, schema, schema)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"input": [8, 8, 3], "layers": []}, id="no layers"),
        pytest.param({"input": [8, 8], "layers": [{"type": "relu"}]}, id="input of 2"),
        pytest.param(spec_with_layer({"type": "conv", "filters": 0, "kernel": 3}), id="zero filters"),
        pytest.param(spec_with_layer({"type": "conv", "filters": 1, "kernel": 3, "strides": 2}), id="strides"),
        pytest.param(spec_with_layer({"type": "conv", "filters": 1, "kernel": 3, "padding": -1}), id="negative pad"),
        pytest.param(spec_with_layer({"type": "fc", "units": 2**31}), id="too many units"),
        pytest.param(spec_with_layer({"type": "fc", "units": True}), id="units true"),
        pytest.param(spec_with_layer({"type": "densse", "units": 3}), id="unknown type"),
        pytest.param(spec_with_layer({"type": "relu", "name": ""}), id="empty name"),
    ],
)
def test_schema_refuses_what_the_models_refuse(spec: dict[str, Any]) -> None:
    schema = json_schema()
    with pytest.raises(ValidationError):
        Network.model_validate(spec)
    assert not schema_accepts(spec, schema, schema)


def test_generated_examples_are_up_to_date(tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import generate_modern
    finally:
        sys.path.remove(str(EXAMPLES))
    for name, build in generate_modern.EXAMPLES.items():
        assert (EXAMPLES / name).read_text(encoding="utf-8") == generate_modern.spec_text(build()), name


def _whole_or_error(validate: Callable[[Any], Network], data: Any) -> tuple[Any, ...]:
    try:
        network = validate(data)
    except ValidationError:
        return ("invalid",)
    return network, network.model_fields_set, network_data(network)


def _same_as_the_union(data: Any) -> None:
    """validate_network and network_data give what Network's own validator and serializer give."""
    ours = _whole_or_error(validate_network, data)
    theirs = _whole_or_error(Network.model_validate, data)
    assert ours[0] == theirs[0]
    if ours[0] != "invalid":
        assert ours[1] == theirs[1]
        assert ours[2] == theirs[0].model_dump(mode="json", exclude_defaults=True)
        assert list(ours[2]) == list(theirs[0].model_dump(mode="json", exclude_defaults=True))


@pytest.mark.parametrize(
    "example", sorted(EXAMPLES.rglob("*.json")), ids=lambda p: str(p.relative_to(EXAMPLES).with_suffix(""))
)
def test_validation_by_kind_is_the_unions_on_every_example(example: Path) -> None:
    data = json.loads(example.read_text(encoding="utf-8"))
    assert validate_by_kind(data) is not None  # the fast path takes every example
    _same_as_the_union(data)


def test_validation_by_kind_is_the_unions_for_every_kind() -> None:
    layers = [{**kind.example, "name": f"k{i}", "inputs": ["input"]} for i, kind in enumerate(REGISTRY.kinds)]
    for layer in layers:
        _same_as_the_union({"name": "n", "input": [8, 8, 4], "classes": 3, "layers": [layer], "ignore": ["CC2"]})
        _same_as_the_union({"input": [8, 8, 4], "layers": [{**layer, "stride": True}]})


@given(spec_dicts())
def test_validation_by_kind_is_the_unions_on_random_specs(data: dict[str, Any]) -> None:
    _same_as_the_union(data)


@given(spec_like_values())
def test_validation_by_kind_is_the_unions_on_spec_like_values(data: Any) -> None:
    _same_as_the_union(data)


def test_validation_by_kind_leaves_the_unknown_to_the_union() -> None:
    for layers in ([{"type": "Conv2D"}], [{"filters": 3}], [{"type": ["conv"]}], [], [5]):
        assert validate_by_kind({"input": [4, 4, 1], "layers": layers}) is None
    assert validate_by_kind({"input": [4, 4, 1], "layers": [{"type": "relu"}], "extra": 1}) is None
    with pytest.raises(ValidationError, match=r"does not match any of the expected tags"):
        validate_network({"input": [4, 4, 1], "layers": [{"type": "Conv2D"}]})


def test_a_str_subclass_type_goes_through_the_union() -> None:
    class Unhashable(str):
        __hash__ = None  # type: ignore[assignment]

    data = {"input": [8, 8, 4], "layers": [{"type": Unhashable("fc"), "units": 3}]}
    with pytest.raises(ValidationError):
        Network.model_validate(data)
    with pytest.raises(ValidationError):
        validate_network(data)


MERGE_FIX_PAST_THE_LIMIT = {
    "input": [2147483647, 2147483647, 1],
    "layers": [
        {"type": "conv", "filters": 1, "kernel": 1, "stride": 1048576, "name": "a"},
        {"type": "pool", "kernel": 2147483647, "stride": 1, "name": "b", "inputs": ["input"]},
        {"type": "add", "inputs": ["a", "b"]},
    ],
}
"""A merge whose fix candidates set a stride past 2^31 − 1: they do not validate, and are not fixes."""


def test_checking_never_builds_the_unions_validator(tmp_path: Path) -> None:
    # The union of every kind is what a cold check would compile for nothing (only bad input needs its
    # messages): every example and fix-heavy specs are checked in a fresh process that then asks pydantic.
    (tmp_path / "merge.json").write_text(json.dumps(MERGE_FIX_PAST_THE_LIMIT))
    files = [*map(str, sorted(EXAMPLES.rglob("*.json"))), str(tmp_path / "merge.json")]
    code = (
        "import sys\n"
        "from convcalc.api import check\n"
        "from convcalc.spec import Network\n"
        "for file in sys.argv[1:]:\n"
        "    check(file)\n"
        "print(Network.__pydantic_complete__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True, check=True)
    assert result.stdout == "False\n"
