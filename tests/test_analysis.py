"""convcalc.analysis: the golden figures of every example, per-layer facts, and what an empty volume does."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given

from convcalc import arithmetic as ar
from convcalc.analysis import NetworkFacts, Padding, Shape, analyze
from convcalc.checking import check_loaded
from convcalc.loading import load_spec
from convcalc.rules import REGISTRY, run_rules
from convcalc.spec import Network
from tests.helpers import EXAMPLES
from tests.strategies import spec_dicts


def facts_of(example: str) -> NetworkFacts:
    return analyze(load_spec(str(EXAMPLES / f"{example}.json")).network)


def facts(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(Network.model_validate(spec))


def codes(net: NetworkFacts) -> list[tuple[str, int | None]]:
    """Findings of the shape rules (CC1xx), the ones whose verdicts these networks are known for."""
    shape_rules = [rule for code, rule in REGISTRY.items() if code.startswith("CC1")]
    return sorted((f.code, f.layer) for f in run_rules(net, shape_rules))


# --- golden figures -----------------------------------------------------------------------------------


GOLDEN = {
    # example: (total params, final volume), each from the literature or worked by hand.
    "mnist_cnn": (3_274_634, (1, 1, 10)),
    "softmax_regression": (7_850, (1, 1, 10)),
    "alexnet_conv1": (34_944, (55, 55, 96)),
    "stride_mismatch": (224, (4, 4, 8)),
    "lenet5": (61_706, (1, 1, 10)),
    "alexnet": (62_378_344, (1, 1, 1000)),
    "vgg16": (138_357_544, (1, 1, 1000)),
    # 3·3·1·16 + 16 = 160; 3·3·16·32 + 32 = 4,640; 4·4·32·64 + 64 = 32,832; 64·10 + 10 = 650
    "digits_cnn": (38_282, (1, 1, 10)),
    # keras.applications count_params(); torchvision for resnet18 (+ 9,600 batchnorm moving statistics)
    "resnet18": (11_699_112, (1, 1, 1000)),
    "resnet50": (25_636_712, (1, 1, 1000)),
    "mobilenet_v1": (4_253_864, (1, 1, 1000)),
    "alexnet_two_tower": (60_965_224, (1, 1, 1000)),
    # GoogLeNet 3a: 12,352 + 18,528 + 110,720 + 3,088 + 12,832 + 6,176
    "inception_block": (163_696, (28, 28, 256)),
    # worked by hand: the double 3×3 convs, two 2×2 transposed convs (2·2·64·32 + 32, 2·2·32·16 + 16), a 1×1 head
    "unet_small": (116_770, (64, 64, 2)),
}


@pytest.mark.parametrize(("example", "total", "output"), [(name, *figures) for name, figures in GOLDEN.items()])
def test_golden_totals(example: str, total: int, output: tuple[int, int, int]) -> None:
    net = facts_of(example)
    assert net.total_params == total
    assert net.total_params == sum(layer.params for layer in net.layers)
    assert net.total_weights + net.total_biases + net.total_non_trainable == total
    assert net.output_shape == output


def test_every_example_has_a_golden_figure() -> None:
    # A new example comes with the figure that proves it right.
    assert {p.stem for p in EXAMPLES.glob("*.json")} <= set(GOLDEN)


@pytest.mark.parametrize(
    ("example", "findings"),
    [
        ("mnist_cnn", []),
        ("softmax_regression", []),
        ("alexnet_conv1", []),
        ("stride_mismatch", [("CC101", 0)]),
        ("lenet5", []),
        ("alexnet", []),
        ("vgg16", []),
        ("digits_cnn", []),
    ],
)
def test_example_findings(example: str, findings: list[tuple[str, int]]) -> None:
    assert codes(facts_of(example)) == findings


def test_alexnet_conv1() -> None:
    [conv1] = facts_of("alexnet_conv1").layers
    assert conv1.input_shape == (227, 227, 3)
    assert conv1.output_shape == (55, 55, 96)
    assert (conv1.weights, conv1.biases, conv1.params) == (34_848, 96, 34_944)
    assert conv1.neurons == 290_400
    # Without parameter sharing every one of the 55·55·96 neurons has 11·11·3 weights and a bias.
    assert conv1.unshared_params == 55 * 55 * 96 * (11 * 11 * 3 + 1) == 105_705_600
    assert conv1.local_connectivity == (11, 11, 3)
    assert conv1.rf_rows.size == conv1.rf_cols.size == 11


VGG16_LAYERS = [
    ("conv1_1", (224, 224, 64), 1_792),
    ("relu1", (224, 224, 64), 0),
    ("conv1_2", (224, 224, 64), 36_928),
    ("relu2", (224, 224, 64), 0),
    ("pool1", (112, 112, 64), 0),
    ("conv2_1", (112, 112, 128), 73_856),
    ("relu3", (112, 112, 128), 0),
    ("conv2_2", (112, 112, 128), 147_584),
    ("relu4", (112, 112, 128), 0),
    ("pool2", (56, 56, 128), 0),
    ("conv3_1", (56, 56, 256), 295_168),
    ("relu5", (56, 56, 256), 0),
    ("conv3_2", (56, 56, 256), 590_080),
    ("relu6", (56, 56, 256), 0),
    ("conv3_3", (56, 56, 256), 590_080),
    ("relu7", (56, 56, 256), 0),
    ("pool3", (28, 28, 256), 0),
    ("conv4_1", (28, 28, 512), 1_180_160),
    ("relu8", (28, 28, 512), 0),
    ("conv4_2", (28, 28, 512), 2_359_808),
    ("relu9", (28, 28, 512), 0),
    ("conv4_3", (28, 28, 512), 2_359_808),
    ("relu10", (28, 28, 512), 0),
    ("pool4", (14, 14, 512), 0),
    ("conv5_1", (14, 14, 512), 2_359_808),
    ("relu11", (14, 14, 512), 0),
    ("conv5_2", (14, 14, 512), 2_359_808),
    ("relu12", (14, 14, 512), 0),
    ("conv5_3", (14, 14, 512), 2_359_808),
    ("relu13", (14, 14, 512), 0),
    ("pool5", (7, 7, 512), 0),
    ("fc6", (1, 1, 4096), 102_764_544),
    ("relu14", (1, 1, 4096), 0),
    ("fc7", (1, 1, 4096), 16_781_312),
    ("relu15", (1, 1, 4096), 0),
    ("fc8", (1, 1, 1000), 4_097_000),
]

ALEXNET_LAYERS = [
    ("conv1", (55, 55, 96), 34_944),
    ("relu1", (55, 55, 96), 0),
    ("pool1", (27, 27, 96), 0),
    ("conv2", (27, 27, 256), 614_656),
    ("relu2", (27, 27, 256), 0),
    ("pool2", (13, 13, 256), 0),
    ("conv3", (13, 13, 384), 885_120),
    ("relu3", (13, 13, 384), 0),
    ("conv4", (13, 13, 384), 1_327_488),
    ("relu4", (13, 13, 384), 0),
    ("conv5", (13, 13, 256), 884_992),
    ("relu5", (13, 13, 256), 0),
    ("pool5", (6, 6, 256), 0),
    ("fc6", (1, 1, 4096), 37_752_832),
    ("relu6", (1, 1, 4096), 0),
    ("fc7", (1, 1, 4096), 16_781_312),
    ("relu7", (1, 1, 4096), 0),
    ("fc8", (1, 1, 1000), 4_097_000),
]


@pytest.mark.parametrize(("example", "expected"), [("vgg16", VGG16_LAYERS), ("alexnet", ALEXNET_LAYERS)])
def test_per_layer_shapes_and_params(example: str, expected: list[tuple[str, tuple[int, int, int], int]]) -> None:
    net = facts_of(example)
    assert [(layer.name, layer.output_shape, layer.params) for layer in net.layers] == expected
    # Each layer's input is the previous layer's output.
    assert [layer.input_shape for layer in net.layers] == [net.input_shape] + [
        layer.output_shape for layer in net.layers[:-1]
    ]
    assert [layer.index for layer in net.layers] == list(range(len(expected)))


@pytest.mark.parametrize(
    ("example", "layer", "size"),
    [
        pytest.param("vgg16", "pool5", 212, id="VGG16 pool5 sees 212 pixels"),
        pytest.param("alexnet", "pool5", 195, id="AlexNet pool5 sees 195 pixels"),
        pytest.param("alexnet", "conv2", 51, id="AlexNet conv2"),
        pytest.param("lenet5", "C5", 32, id="LeNet-5 C5 sees the whole 32x32 input"),
    ],
)
def test_receptive_fields_from_the_literature(example: str, layer: str, size: int) -> None:
    [found] = [item for item in facts_of(example).layers if item.name == layer]
    assert found.rf_rows.size == found.rf_cols.size == size


def test_activation_values_count_every_volume_including_the_input() -> None:
    net = facts_of("vgg16")
    assert net.activation_values == net.input_shape.values + sum(layer.neurons for layer in net.layers)
    assert net.activation_bytes == 4 * net.activation_values
    assert net.param_bytes == 4 * 138_357_544


# --- per-layer facts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "input_shape", "expected"),
    [
        ({"type": "fc", "units": 7}, [5, 4, 3], (1, 1, 7)),
        ({"type": "flatten"}, [5, 4, 3], (1, 1, 60)),
        ({"type": "relu"}, [5, 4, 3], (5, 4, 3)),
        ({"type": "pool", "kernel": 2}, [6, 4, 3], (3, 2, 3)),
        ({"type": "conv", "filters": 9, "kernel": [3, 1]}, [5, 4, 3], (3, 4, 9)),
    ],
)
def test_output_shapes_by_kind(layer: dict[str, Any], input_shape: list[int], expected: tuple[int, int, int]) -> None:
    [only] = facts({"input": input_shape, "layers": [layer]}).layers
    assert only.output_shape == expected


def test_fc_sees_every_value_of_its_input() -> None:
    [flat, fc] = facts(
        {"input": [5, 4, 3], "layers": [{"type": "flatten"}, {"type": "fc", "units": 7, "bias": False}]}
    ).layers
    assert flat.params == 0
    assert (fc.weights, fc.biases) == (60 * 7, 0)
    assert fc.local_connectivity == (1, 1, 60)
    [direct] = facts({"input": [5, 4, 3], "layers": [{"type": "fc", "units": 7}]}).layers
    assert direct.local_connectivity == (5, 4, 3)
    assert direct.params == ar.fc_params(60, 7)


def test_conv_local_connectivity_and_unshared_params() -> None:
    [conv] = facts(
        {"input": [9, 8, 5], "layers": [{"type": "conv", "filters": 4, "kernel": [3, 2], "stride": 2}]}
    ).layers
    assert conv.output_shape == (4, 4, 4)
    assert conv.local_connectivity == (3, 2, 5)
    assert conv.weights == 3 * 2 * 5 * 4
    assert conv.unshared_params == 4 * 4 * 4 * (3 * 2 * 5 + 1)


def test_unshared_params_without_bias() -> None:
    [conv] = facts({"input": [4, 4, 2], "layers": [{"type": "conv", "filters": 3, "kernel": 3, "bias": False}]}).layers
    assert conv.biases == 0
    assert conv.unshared_params == 2 * 2 * 3 * (3 * 3 * 2)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [
        (28, 5, 1, Padding(2, 2, 2, 2)),
        (28, 4, 1, Padding(1, 2, 1, 2)),
        (10, 3, 2, Padding(0, 1, 0, 1)),
        (7, 2, 2, Padding(0, 1, 0, 1)),
        (7, 4, 3, Padding(1, 2, 1, 2)),
    ],
)
def test_same_padding_puts_the_extra_pixel_at_the_bottom_right(
    size: int, kernel: int, stride: int, padding: Padding
) -> None:
    spec = {
        "input": [size, size, 1],
        "layers": [{"type": "conv", "filters": 1, "kernel": kernel, "stride": stride, "padding": "same"}],
    }
    [conv] = facts(spec).layers
    assert conv.window is not None and conv.window.same
    assert conv.window.padding == padding
    assert conv.output_shape == (-(-size // stride), -(-size // stride), 1)


def test_same_padding_per_axis() -> None:
    spec = {"input": [10, 7, 1], "layers": [{"type": "pool", "kernel": [3, 2], "stride": 2, "padding": "same"}]}
    [pool] = facts(spec).layers
    assert pool.window is not None
    assert pool.window.padding == Padding(top=0, bottom=1, left=0, right=1)
    assert pool.output_shape == (5, 4, 1)


def test_explicit_padding_is_symmetric_per_axis() -> None:
    spec = {"input": [10, 10, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 3, "padding": [1, 2]}]}
    [conv] = facts(spec).layers
    assert conv.window is not None
    assert conv.window.padding == Padding(1, 1, 2, 2)
    assert conv.output_shape == (10, 12, 1)


def test_generated_names_count_per_kind() -> None:
    spec = {
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 1, "kernel": 1},
            {"type": "relu"},
            {"type": "conv", "filters": 1, "kernel": 1, "name": "mine"},
            {"type": "relu"},
            {"type": "conv", "filters": 1, "kernel": 1},
        ],
    }
    assert [layer.name for layer in facts(spec).layers] == ["conv1", "relu1", "mine", "relu2", "conv3"]


def test_layer_facts_are_frozen() -> None:
    [layer] = facts({"input": [2, 2, 1], "layers": [{"type": "relu"}]}).layers
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.name = "x"  # type: ignore[misc]


@given(spec_dicts())
def test_analysis_is_consistent_for_any_valid_spec(spec: dict[str, Any]) -> None:
    net = facts(spec)
    previous = net.input_shape
    for layer in net.layers:
        assert layer.input_shape == previous
        assert layer.params == layer.weights + layer.biases >= 0
        assert layer.neurons == layer.output_shape.values
        if layer.type in ("fc", "flatten"):
            assert layer.output_shape[:2] == (1, 1)
        if layer.type in ("relu", "pool") and not layer.input_shape.empty:
            assert layer.output_shape.depth == layer.input_shape.depth
        previous = layer.output_shape
    assert net.total_params == sum(layer.params for layer in net.layers)


# --- an empty volume does not cascade -----------------------------------------------------------------


def test_a_layer_after_a_no_output_layer_adds_no_findings() -> None:
    spec = {
        "input": [2, 2, 1],
        "classes": 10,
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3},  # F = 3 > W = 2: no output
            {"type": "conv", "filters": 4, "kernel": 3},
            {"type": "pool", "kernel": 2, "stride": 3},
            {"type": "fc", "units": 10},
        ],
    }
    net = facts(spec)
    assert net.layers[0].output_shape == Shape(0, 0, 4)
    assert net.layers[1].input_shape.empty
    assert codes(net) == [("CC102", 0)]


def test_one_empty_axis_is_enough_to_stop_the_cascade() -> None:
    spec = {
        "input": [2, 10, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "stride": 2},  # rows: no output; cols: 3.5
            {"type": "conv", "filters": 4, "kernel": 5, "stride": 2},
        ],
    }
    net = facts(spec)
    assert net.layers[0].output_shape.height == 0
    assert codes(net) == [("CC102", 0)]


def test_the_pipeline_matches_the_rules_run_alone() -> None:
    loaded = load_spec(str(EXAMPLES / "stride_mismatch.json"))
    checked = check_loaded(loaded)
    assert [(f.code, f.layer) for f in checked.findings if f.code.startswith("CC1")] == [("CC101", 0)]
    assert checked.position(checked.findings[0]) == (3, 5)
