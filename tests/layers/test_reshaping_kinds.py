"""multiply, upsample, split, channel_shuffle and cropping: shapes, counts, receptive fields, the error findings
with their numbers, validation (exit 2), and TensorFlow as the oracle for the export, the import and verify."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.loading import SpecError, validate
from tests import optional
from tests.helpers import analyze_spec, spec_findings

SQUEEZE_EXCITE_SHUFFLE: dict[str, Any] = {
    "name": "squeeze-excite, shuffle, upsample",
    "input": [7, 7, 32],
    "layers": [
        {"type": "conv", "filters": 32, "kernel": 3, "padding": 1, "name": "body"},
        {"type": "relu", "name": "body_relu"},
        {"type": "global_pool", "mode": "avg", "name": "squeeze"},
        {"type": "fc", "units": 8, "name": "reduce"},
        {"type": "relu", "name": "reduce_relu"},
        {"type": "fc", "units": 32, "name": "expand"},
        {"type": "activation", "kind": "sigmoid", "name": "gate"},
        {"type": "multiply", "inputs": ["body_relu", "gate"], "name": "excite"},
        {"type": "split", "parts": 2, "part": 0, "name": "left"},
        {"type": "split", "start": 16, "stop": 32, "inputs": ["excite"], "name": "right"},
        {"type": "conv", "filters": 16, "kernel": 1, "name": "pw"},
        {"type": "relu", "name": "pw_relu"},
        {"type": "concat", "inputs": ["left", "pw_relu"], "name": "cat"},
        {"type": "channel_shuffle", "groups": 2, "name": "shuffle"},
        {"type": "upsample", "factor": 2, "interpolation": "bilinear", "name": "up"},
        {"type": "cropping", "crop": [[1, 0], [0, 1]], "name": "crop"},
        {"type": "upsample", "size": [20, 18], "name": "resize"},
    ],
}


def one(layer: dict[str, Any], shape: list[int] | None = None) -> Any:
    return analyze_spec({"input": shape or [8, 8, 6], "layers": [layer]}).layers[0]


def test_the_worked_example_has_the_shapes_and_counts_of_each_kind() -> None:
    net = analyze_spec(SQUEEZE_EXCITE_SHUFFLE)
    shapes = {layer.name: str(layer.output_shape) for layer in net.layers}
    assert shapes["excite"] == "7×7×32"  # the 1×1×32 gate broadcast over 7×7×32
    assert shapes["left"] == shapes["right"] == "7×7×16"
    assert shapes["shuffle"] == "7×7×32"
    assert shapes["up"] == "14×14×32"
    assert shapes["crop"] == "13×13×32"
    assert shapes["resize"] == "20×18×32"
    for layer in net.layers[7:]:
        if layer.type != "conv":
            assert (layer.params, layer.macs) == (0, 0), layer.label
    assert net.total_params == 9_248 + 264 + 288 + 272
    # No false alarm on a squeeze-and-excite block or a ShuffleNetV2 unit.
    assert [f.code for f in spec_findings(SQUEEZE_EXCITE_SHUFFLE) if f.code != "CC307"] == []


def test_receptive_fields_of_resampling_and_gates() -> None:
    net = analyze_spec(SQUEEZE_EXCITE_SHUFFLE)
    by_name = {layer.name: layer for layer in net.layers}
    # The multiply keeps the volume's grid; the gate (the whole 7×7 input) widens the field.
    excite, body = by_name["excite"], by_name["body_relu"]
    assert excite.rf_rows.jump == body.rf_rows.jump and excite.rf_rows.start == body.rf_rows.start
    assert excite.rf_rows.size == 9
    # Bilinear ×2: two neighbours (r + j), the jump halves, the first centre moves back by (f − 1)/(2f)·j.
    up, shuffle = by_name["up"], by_name["shuffle"]
    assert up.rf_rows.size == shuffle.rf_rows.size + shuffle.rf_rows.jump
    assert up.rf_rows.jump == shuffle.rf_rows.jump / 2
    assert up.rf_rows.start == shuffle.rf_rows.start - Fraction(1, 4) * shuffle.rf_rows.jump
    # Nearest keeps the size, like a transposed conv with F = S = f.
    nearest = one({"type": "upsample", "factor": [3, 2]})
    assert (nearest.rf_rows.size, nearest.rf_rows.jump, nearest.rf_cols.jump) == (1, Fraction(1, 3), Fraction(1, 2))
    assert nearest.spec.grid_step(None) == (Fraction(1, 3), Fraction(1, 2))
    # Cropping moves the first centre down/right by the crop.
    crop = one({"type": "cropping", "crop": [[2, 0], [1, 1]]})
    assert (crop.rf_rows.start, crop.rf_cols.start) == (Fraction(5, 2), Fraction(3, 2))


@pytest.mark.parametrize(
    ("spec", "code", "words"),
    [
        (
            {
                "input": [7, 7, 32],
                "layers": [
                    {"type": "global_pool", "mode": "avg"},
                    {"type": "conv", "filters": 64, "kernel": 1, "name": "gate"},
                    {"type": "multiply", "inputs": ["input", "gate"]},
                ],
            },
            "CC110",
            ["the input: 7×7×32", "gate: 1×1×64"],
        ),
        ({"input": [8, 8, 6], "layers": [{"type": "split", "parts": 4, "part": 1}]}, "CC111", ["parts = 4", "D = 6"]),
        ({"input": [8, 8, 6], "layers": [{"type": "split", "start": 2, "stop": 9}]}, "CC111", ["[2, 9)", "by 3"]),
        ({"input": [8, 8, 6], "layers": [{"type": "channel_shuffle", "groups": 4}]}, "CC112", ["groups = 4", "D = 6"]),
        ({"input": [4, 5, 2], "layers": [{"type": "cropping", "crop": [[1, 1], [3, 2]]}]}, "CC113", ["3 + 2 = 5"]),
    ],
)
def test_impossible_combinations_are_error_findings_with_the_numbers(
    spec: dict[str, Any], code: str, words: list[str]
) -> None:
    found = [f for f in spec_findings(spec) if f.code == code]
    assert len(found) == 1 and found[0].severity.value == "error"
    for word in words:
        assert word in found[0].message, found[0].message


def test_fixes_are_checked_and_sensible() -> None:
    [shuffle] = [
        f
        for f in spec_findings({"input": [8, 8, 6], "layers": [{"type": "channel_shuffle", "groups": 4}]})
        if f.code == "CC112"
    ]
    assert [fix.set for fix in shuffle.fixes] == [{"groups": 3}, {"groups": 2}]  # the nearest divisors of 6
    [split] = [
        f
        for f in spec_findings({"input": [8, 8, 6], "layers": [{"type": "split", "start": 2, "stop": 9}]})
        if f.code == "CC111"
    ]
    assert [fix.set for fix in split.fixes] == [{"stop": 6}]


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"type": "upsample"}, "exactly one of factor"),
        ({"type": "upsample", "factor": 2, "size": [4, 4]}, "got both"),
        ({"type": "upsample", "factor": 0}, "must be ≥ 1"),
        ({"type": "upsample", "factor": 1.5}, "must be an integer"),
        ({"type": "upsample", "factor": 2, "interpolation": "bicubic"}, "interpolation"),
        ({"type": "split", "parts": 2}, '"parts" and "part"'),
        ({"type": "split", "parts": 2, "part": 2}, "part must be < parts"),
        ({"type": "split", "start": 4, "stop": 4}, "stop must be > start"),
        ({"type": "channel_shuffle", "groups": 0}, "must be ≥ 1"),
        ({"type": "cropping", "crop": -1}, "must be ≥ 0"),
    ],
)
def test_bad_values_are_validation_errors(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as raised:
        validate("<t>", {"input": [8, 8, 6], "layers": [layer]})
    assert message in str(raised.value)


# --- TensorFlow as the oracle --------------------------------------------------------------------------------


@pytest.mark.tensorflow
def test_keras_import_reads_back_what_the_export_wrote() -> None:
    optional.keras()
    from convcalc.export.keras_build import build_keras_model
    from convcalc.importers.keras import spec_from_keras_config

    network = validate("<t>", SQUEEZE_EXCITE_SHUFFLE)
    model = build_keras_model(network)
    imported = spec_from_keras_config(json.loads(model.to_json()))
    before, after = analyze(network), analyze_spec(imported)
    # Keras writes a padded conv as ZeroPadding2D + a valid conv, and a flat gate gets a Reshape to 1×1×D: the
    # imported spec has those layers more; every layer of the original comes back by name with the same facts.
    imported_facts = {layer.name: (layer.type, layer.output_shape, layer.params) for layer in after.layers}
    for layer in before.layers:
        assert imported_facts[layer.name] == (layer.type, layer.output_shape, layer.params), layer.label
    assert (after.total_params, after.output_shape) == (before.total_params, before.output_shape)
    kinds = {layer["name"]: layer for layer in imported["layers"]}
    assert kinds["left"]["start"] == 0 and kinds["left"]["stop"] == 16  # parts 2, part 0 as channels [0, 16)
    assert kinds["shuffle"]["groups"] == 2
    assert kinds["resize"]["size"] == [20, 18]  # Resizing reads back as a size
    assert kinds["up"]["factor"] == 2 and kinds["up"]["interpolation"] == "bilinear"


@pytest.mark.tensorflow
def test_resizing_options_convcalc_cannot_model_are_refused_by_name() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config
    from convcalc.loading import SpecError as Refused

    for option in ("crop_to_aspect_ratio", "pad_to_aspect_ratio"):
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Resizing(4, 6, **{option: True})])
        with pytest.raises(Refused, match=option):
            spec_from_keras_config(json.loads(model.to_json()))
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.UpSampling2D(2, interpolation="bicubic")])
    with pytest.raises(Refused, match="bicubic"):
        spec_from_keras_config(json.loads(model.to_json()))


@pytest.mark.tensorflow
def test_verify_agrees_with_tensorflow_on_every_new_kind(tmp_path: Path) -> None:
    optional.keras()
    path = tmp_path / "net.json"
    path.write_text(json.dumps(SQUEEZE_EXCITE_SHUFFLE))
    result = CliRunner().invoke(app, ["verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "all 17 layers agree with TensorFlow, and so does the total" in result.stdout


@pytest.mark.tensorflow
def test_tensorflow_refuses_what_the_error_rules_mark_so() -> None:
    keras = optional.keras()
    layers = keras.layers
    volume = keras.Input((7, 7, 32))
    with pytest.raises(ValueError, match="incompatible shapes"):
        layers.Multiply()([volume, keras.Input((1, 1, 64))])  # CC110
    with pytest.raises(ValueError, match="total size"):
        layers.Reshape((7, 7, 5, 6))(volume)  # CC112: a shuffle of 32 channels in 5 groups
    with pytest.raises(ValueError, match="cropping"):
        layers.Cropping2D(((4, 3), (0, 0)))(volume)  # CC113


def test_a_multiply_of_an_h_by_1_and_a_1_by_w_broadcasts_to_h_by_w() -> None:
    # Neither input has the output's grid: the first input's is taken (found through `solve`, whose other input
    # sizes made a cropping empty; a StopIteration before).
    from convcalc.layers import Multiply
    from convcalc.layers.volume import Shape

    layer = Multiply.model_validate({"type": "multiply", "inputs": ["a", "b"]})
    computed = layer.compute(Shape(3, 1, 4), [Shape(3, 1, 4), Shape(1, 7, 4)])
    assert computed.out == Shape(3, 7, 4) and computed.grid_input == 0
    assert layer.compute(Shape(1, 3, 1), [Shape(1, 3, 1), Shape(0, 1, 1)]).out == Shape(0, 3, 1)
