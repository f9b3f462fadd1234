"""convcalc.analysis: the golden figures of every example, per-layer facts, and what an empty volume does."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from pydantic import ValidationError

from convcalc import arithmetic as ar
from convcalc.analysis import FigureLimitError, LayerFacts, NetworkFacts, Padding, Shape, analyze, reanalyze
from convcalc.checking import check_loaded
from convcalc.loading import load_spec
from convcalc.rules import REGISTRY, run_rules
from convcalc.spec import Network
from tests.helpers import EXAMPLES, analyze_example, analyze_spec
from tests.strategies import spec_dicts


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
    # the TensorFlow DCGAN tutorial's generator, as its model.summary() totals it (25,472 batchnorm statistics)
    "dcgan_generator": (2_330_944, (28, 28, 1)),
}


@pytest.mark.parametrize(("example", "total", "output"), [(name, *figures) for name, figures in GOLDEN.items()])
def test_golden_totals(example: str, total: int, output: tuple[int, int, int]) -> None:
    net = analyze_example(example)
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
        ("dcgan_generator", []),
    ],
)
def test_example_findings(example: str, findings: list[tuple[str, int]]) -> None:
    assert codes(analyze_example(example)) == findings


def test_alexnet_conv1() -> None:
    [conv1] = analyze_example("alexnet_conv1").layers
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
    net = analyze_example(example)
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
    [found] = [item for item in analyze_example(example).layers if item.name == layer]
    assert found.rf_rows.size == found.rf_cols.size == size


def test_activation_values_count_every_volume_including_the_input() -> None:
    net = analyze_example("vgg16")
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
    [only] = analyze_spec({"input": input_shape, "layers": [layer]}).layers
    assert only.output_shape == expected


def test_fc_sees_every_value_of_its_input() -> None:
    [flat, fc] = analyze_spec(
        {"input": [5, 4, 3], "layers": [{"type": "flatten"}, {"type": "fc", "units": 7, "bias": False}]}
    ).layers
    assert flat.params == 0
    assert (fc.weights, fc.biases) == (60 * 7, 0)
    assert fc.local_connectivity == (1, 1, 60)
    [direct] = analyze_spec({"input": [5, 4, 3], "layers": [{"type": "fc", "units": 7}]}).layers
    assert direct.local_connectivity == (5, 4, 3)
    assert direct.params == ar.fc_params(60, 7)


def test_conv_local_connectivity_and_unshared_params() -> None:
    [conv] = analyze_spec(
        {"input": [9, 8, 5], "layers": [{"type": "conv", "filters": 4, "kernel": [3, 2], "stride": 2}]}
    ).layers
    assert conv.output_shape == (4, 4, 4)
    assert conv.local_connectivity == (3, 2, 5)
    assert conv.weights == 3 * 2 * 5 * 4
    assert conv.unshared_params == 4 * 4 * 4 * (3 * 2 * 5 + 1)


def test_unshared_params_without_bias() -> None:
    [conv] = analyze_spec(
        {"input": [4, 4, 2], "layers": [{"type": "conv", "filters": 3, "kernel": 3, "bias": False}]}
    ).layers
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
    [conv] = analyze_spec(spec).layers
    assert conv.window is not None and conv.window.same
    assert conv.window.padding == padding
    assert conv.output_shape == (-(-size // stride), -(-size // stride), 1)


def test_same_padding_per_axis() -> None:
    spec = {"input": [10, 7, 1], "layers": [{"type": "pool", "kernel": [3, 2], "stride": 2, "padding": "same"}]}
    [pool] = analyze_spec(spec).layers
    assert pool.window is not None
    assert pool.window.padding == Padding(top=0, bottom=1, left=0, right=1)
    assert pool.output_shape == (5, 4, 1)


def test_explicit_padding_is_symmetric_per_axis() -> None:
    spec = {"input": [10, 10, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 3, "padding": [1, 2]}]}
    [conv] = analyze_spec(spec).layers
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
    assert [layer.name for layer in analyze_spec(spec).layers] == ["conv1", "relu1", "mine", "relu2", "conv3"]


def test_layer_facts_are_frozen() -> None:
    [layer] = analyze_spec({"input": [2, 2, 1], "layers": [{"type": "relu"}]}).layers
    with pytest.raises(AttributeError):
        layer.name = "x"  # type: ignore[misc]


@given(spec_dicts())
def test_analysis_is_consistent_for_any_valid_spec(spec: dict[str, Any]) -> None:
    net = analyze_spec(spec)
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
    net = analyze_spec(spec)
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
    net = analyze_spec(spec)
    assert net.layers[0].output_shape.height == 0
    assert codes(net) == [("CC102", 0)]


def test_the_pipeline_matches_the_rules_run_alone() -> None:
    loaded = load_spec(str(EXAMPLES / "stride_mismatch.json"))
    checked = check_loaded(loaded)
    assert [(f.code, f.layer) for f in checked.findings if f.code.startswith("CC1")] == [("CC101", 0)]
    assert checked.position(checked.findings[0]) == (3, 5)


# --- modern layers: published figures ---------------------------------------------------------------


def layer_named(net: NetworkFacts, name: str) -> LayerFacts:
    return next(x for x in net.layers if x.name == name)


@pytest.mark.parametrize(
    ("example", "total", "trainable"),
    [
        ("resnet18.json", 11_699_112, 11_689_512),  # torchvision resnet18: 11,689,512 (PyTorch counts trainable)
        ("resnet50.json", 25_636_712, 25_583_592),  # keras.applications.ResNet50().count_params()
        ("mobilenet_v1.json", 4_253_864, 4_231_976),  # keras.applications.MobileNet()
        ("alexnet_two_tower.json", 60_965_224, 60_965_224),  # Krizhevsky et al. 2012, two GPUs
        ("inception_block.json", 163_696, 163_696),
        ("vgg16.json", 138_357_544, 138_357_544),
    ],
)
def test_parameter_totals(example: str, total: int, trainable: int) -> None:
    net = analyze_example(example.removesuffix(".json"))
    assert net.total_params == total
    assert net.total_trainable_params == trainable


@pytest.mark.parametrize(
    ("example", "published_gmacs", "tolerance"),
    [
        ("vgg16.json", 15.5, 0.05),  # the usual 15.5 G for VGG16 at 224×224
        ("alexnet_two_tower.json", 0.72, 0.02),  # ≈ 0.7 G as published for the two-tower AlexNet
        ("resnet18.json", 1.81, 0.02),  # torchvision: 1.81 GFLOPS, counted as MACs
        ("mobilenet_v1.json", 0.569, 0.005),  # Howard et al. 2017: 569 M mult-adds
        ("resnet50.json", 3.87, 0.05),  # v1 with the stride on the first 1×1 conv (Keras)
    ],
)
def test_macs_match_published_anchors(example: str, published_gmacs: float, tolerance: float) -> None:
    assert abs(analyze_example(example.removesuffix(".json")).total_macs / 1e9 - published_gmacs) <= tolerance


def test_macs_are_exact_per_layer_named() -> None:
    vgg = analyze_example("vgg16")
    assert layer_named(vgg, "conv1_1").macs == 224 * 224 * 64 * 3 * 3 * 3
    assert layer_named(vgg, "fc6").macs == 7 * 7 * 512 * 4096
    assert vgg.total_macs == 15_470_264_320
    mobile = analyze_example("mobilenet_v1")
    assert layer_named(mobile, "conv_dw_2").macs == 56 * 56 * 64 * 3 * 3  # depthwise: one 3×3 per channel
    assert layer_named(mobile, "conv_pw_2").macs == 56 * 56 * 64 * 128


def test_batchnorm_counts_four_per_channel_two_trainable() -> None:
    net = analyze_example("resnet50")
    bn = layer_named(net, "conv1_bn")
    assert (bn.params, bn.trainable_params, bn.non_trainable) == (4 * 64, 2 * 64, 2 * 64)


# --- receptive fields: google-research/receptive_field's published table -------------------------


def effective(net: NetworkFacts, name: str) -> tuple[int, int, float]:
    rf = layer_named(net, name).rf_rows
    return int(rf.size), int(rf.jump), float(rf.size / 2 - rf.start)


@pytest.mark.parametrize(
    ("example", "name", "expected"),
    [
        ("vgg16.json", "pool5", (212, 32, 90.0)),  # vgg_16
        ("alexnet.json", "pool5", (195, 32, 64.0)),  # alexnet_v2
        ("mobilenet_v1.json", "conv_pw_13_relu", (315, 32, 126.0)),  # mobilenet_v1
    ],
)
def test_receptive_fields_match_published_values(example: str, name: str, expected: tuple[int, int, float]) -> None:
    assert effective(analyze_example(example.removesuffix(".json")), name) == expected


def slim_resnet_v1_50() -> dict[str, Any]:
    """TF-slim's resnet_v1_50 (the layout the published 483 refers to): stride 2 in the last unit of blocks
    1–3, on the 3×3 conv, with conv2d_same's explicit padding; 1×1 max-pool subsampling shortcuts."""
    layers: list[dict[str, Any]] = []

    def conv_same(name: str, kernel: int, stride: int, filters: int, inputs: list[str] | None = None) -> None:
        if stride == 1:
            layers.append({"type": "conv", "name": name, "filters": filters, "kernel": kernel, "padding": "same"})
        else:
            total = kernel - 1
            layers.append({"type": "zero_padding", "padding": [[total // 2, total - total // 2]] * 2})
            layers.append({"type": "conv", "name": name, "filters": filters, "kernel": kernel, "stride": stride})
        if inputs:
            layers[-2 if stride != 1 else -1]["inputs"] = inputs

    conv_same("conv1", 7, 2, 64)
    layers.append({"type": "pool", "name": "pool1", "kernel": 3, "stride": 2, "padding": "same"})
    last, depth_in = "pool1", 64
    for block, (units, depth, bottleneck) in enumerate([(3, 256, 64), (4, 512, 128), (6, 1024, 256), (3, 2048, 512)]):
        for unit in range(1, units + 1):
            stride = 2 if unit == units and block < 3 else 1
            prefix = f"block{block + 1}/unit{unit}"
            shortcut = last
            if depth != depth_in or stride != 1:
                kind = {"type": "conv", "filters": depth} if depth != depth_in else {"type": "pool"}
                layers.append({**kind, "name": f"{prefix}/shortcut", "kernel": 1, "stride": stride, "inputs": [last]})
                shortcut = f"{prefix}/shortcut"
            layers.append(
                {"type": "conv", "name": f"{prefix}/conv1", "filters": bottleneck, "kernel": 1, "inputs": [last]}
            )
            layers.append({"type": "relu"})
            conv_same(f"{prefix}/conv2", 3, stride, bottleneck)
            layers.append({"type": "relu"})
            layers.append({"type": "conv", "name": f"{prefix}/conv3", "filters": depth, "kernel": 1})
            layers.append({"type": "add", "inputs": [shortcut, f"{prefix}/conv3"]})
            layers.append({"type": "relu", "name": prefix})
            last, depth_in = prefix, depth
    return {"input": [224, 224, 3], "layers": layers}


def test_resnet_v1_50_receptive_field_through_residual_branches() -> None:
    net = analyze_spec(slim_resnet_v1_50())
    assert effective(net, "block4/unit3") == (483, 32, 239.0)  # resnet_v1_50 in the published table


def test_unet_and_inception_shapes() -> None:
    unet = analyze_example("unet_small")
    assert layer_named(unet, "up2").output_shape == (32, 32, 32)
    assert layer_named(unet, "skip2").output_shape == (32, 32, 64)
    assert unet.output_shape == (64, 64, 2)
    block = analyze_example("inception_block")
    assert block.output_shape == (28, 28, 256)


# --- new layer kinds -------------------------------------------------------------------------------


def one_layer(spec_layer: dict[str, Any], input_shape: list[int]) -> Any:
    return analyze_spec({"input": input_shape, "layers": [spec_layer]}).layers[0]


@pytest.mark.parametrize(
    ("spec_layer", "input_shape", "output", "params"),
    [
        ({"type": "conv", "filters": 8, "kernel": 3, "dilation": 2}, [16, 16, 4], (12, 12, 8), 3 * 3 * 4 * 8 + 8),
        ({"type": "conv", "filters": 8, "kernel": 3, "dilation": 2, "padding": "same"}, [15, 15, 4], (15, 15, 8), 296),
        (
            {"type": "conv", "filters": 8, "kernel": 3, "groups": 2, "padding": 1},
            [8, 8, 4],
            (8, 8, 8),
            3 * 3 * 2 * 8 + 8,
        ),
        ({"type": "depthwise", "kernel": 3, "multiplier": 2, "padding": 1}, [8, 8, 4], (8, 8, 8), 3 * 3 * 4 * 2 + 8),
        ({"type": "separable", "filters": 16, "kernel": 3, "padding": "same"}, [8, 8, 4], (8, 8, 16), 36 + 64 + 16),
        ({"type": "conv_transpose", "filters": 4, "kernel": 3, "stride": 2}, [7, 7, 8], (15, 15, 4), 3 * 3 * 8 * 4 + 4),
        ({"type": "conv_transpose", "filters": 4, "kernel": 3, "stride": 2, "padding": 1}, [7, 7, 8], (13, 13, 4), 292),
        (
            {"type": "conv_transpose", "filters": 4, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1},
            [7, 7, 8],
            (14, 14, 4),
            292,
        ),
        (
            {"type": "conv_transpose", "filters": 4, "kernel": 3, "stride": 2, "padding": "same"},
            [7, 7, 8],
            (14, 14, 4),
            292,
        ),
        ({"type": "batchnorm"}, [5, 5, 6], (5, 5, 6), 24),
        ({"type": "batchnorm", "scale": False}, [5, 5, 6], (5, 5, 6), 18),
        ({"type": "dropout", "rate": 0.5}, [5, 5, 6], (5, 5, 6), 0),
        ({"type": "global_pool", "mode": "max"}, [5, 7, 6], (1, 1, 6), 0),
        ({"type": "zero_padding", "padding": [[1, 2], [3, 4]]}, [5, 5, 6], (8, 12, 6), 0),
        ({"type": "activation", "kind": "gelu"}, [5, 5, 6], (5, 5, 6), 0),
        ({"type": "dense", "units": 10}, [2, 2, 3], (1, 1, 10), 130),
    ],
)
def test_new_layer_kinds(
    spec_layer: dict[str, Any], input_shape: list[int], output: tuple[int, ...], params: int
) -> None:
    facts_ = one_layer(spec_layer, input_shape)
    assert facts_.output_shape == output
    assert facts_.params == params


def test_dense_is_an_alias_of_fc() -> None:
    assert one_layer({"type": "dense", "units": 3}, [2, 2, 1]).type == "fc"


def test_transposed_conv_inverts_a_strided_conv_in_a_graph() -> None:
    down = {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "padding": "same", "name": "down"}
    up = {"type": "conv_transpose", "filters": 3, "kernel": 3, "stride": 2, "padding": "same"}
    net = analyze_spec({"input": [32, 32, 3], "layers": [down, up, {"type": "relu"}]})
    assert net.layers[1].output_shape == (32, 32, 3)


def _fixed_networks() -> list[tuple[str, Network, Network, list[int]]]:
    """Every fix of the examples and of the rules' bad examples that only sets fields of layers (keeping their
    kind, name and inputs), as the fix checks build it: the network before, the fixed one (sharing every other
    layer with it), and the layers the fix edits."""
    from convcalc.config import LintConfig
    from convcalc.fixes import LAYER_PATH, apply_fix
    from convcalc.loading import validate
    from convcalc.spec import validate_layer

    networks = [load_spec(str(path)).network for path in sorted(EXAMPLES.glob("*.json"))]
    networks += [validate(code, rule.bad) for code, rule in sorted(REGISTRY.items())]
    cases = []
    for network in networks:
        spec = network.model_dump(mode="json", exclude_defaults=True)
        for finding in run_rules(analyze(network), LintConfig().rules()):
            for fix in finding.fixes:
                if fix.insert is not None or fix.remove or not all(LAYER_PATH.fullmatch(e.path) for e in fix.edits):
                    continue
                fixed = apply_fix(spec, fix)
                edited = [i for i, (a, b) in enumerate(zip(spec["layers"], fixed["layers"], strict=True)) if a is not b]
                layers = list(network.layers)
                with contextlib.suppress(ValidationError):
                    for i in edited:
                        layers[i] = validate_layer(fixed["layers"][i])
                    if all(
                        (layers[i].kind_name, layers[i].name, layers[i].inputs)
                        == (network.layers[i].kind_name, network.layers[i].name, network.layers[i].inputs)
                        for i in edited
                    ):
                        changed = network.model_copy(update={"layers": layers})
                        cases.append((f"{network.name} {fix.title}", network, changed, edited))
    return cases


def test_reanalyze_is_analyze_of_the_changed_network() -> None:
    # The fix checks analyse only the layers a fix touches and those whose inputs change shape: the same facts.
    cases = _fixed_networks()
    assert len(cases) > 50
    for label, network, changed, edited in cases:
        base = analyze(network, receptive_fields=False)
        with contextlib.suppress(FigureLimitError):
            assert reanalyze(base, changed, edited) == analyze(changed, receptive_fields=False), label


def test_reanalyze_from_facts_with_receptive_fields_differs_in_those_fields_only() -> None:
    unset = ar.INPUT_RECEPTIVE_FIELD
    for label, network, changed, edited in _fixed_networks():
        with contextlib.suppress(FigureLimitError):
            facts = reanalyze(analyze(network), changed, edited)
            plain = [layer._replace(rf_rows=unset, rf_cols=unset) for layer in facts.layers]
            assert facts._replace(layers=tuple(plain)) == analyze(changed, receptive_fields=False), label


def test_reanalyze_recomputes_what_reads_a_changed_shape() -> None:
    layers = [{"type": "conv", "filters": 8, "kernel": 3}, {"type": "relu"}, {"type": "fc", "units": 2}]
    network = Network.model_validate({"input": [32, 32, 3], "layers": layers})
    conv = network.layers[0].model_copy(update={"kernel": (5, 5)})
    changed = network.model_copy(update={"layers": [conv, *network.layers[1:]]})
    facts = reanalyze(analyze(network, receptive_fields=False), changed, [0])
    assert facts == analyze(changed, receptive_fields=False)
    assert facts.layers[2].input_shape == Shape(28, 28, 8)
    assert facts.total_weights == 5 * 5 * 3 * 8 + 28 * 28 * 8 * 2


def test_reanalyze_moves_every_total_frozen_layers_included() -> None:
    # The totals are the base's plus what the recomputed layers add or take away: a frozen conv whose kernel
    # changes moves the frozen total, and the fc it feeds (frozen too) moves it again.
    layers = [
        {"type": "conv", "filters": 8, "kernel": 3, "trainable": False},
        {"type": "batchnorm"},
        {"type": "fc", "units": 2, "trainable": False},
    ]
    network = Network.model_validate({"input": [32, 32, 3], "layers": layers})
    conv = network.layers[0].model_copy(update={"kernel": (5, 5)})
    changed = network.model_copy(update={"layers": [conv, *network.layers[1:]]})
    facts = reanalyze(analyze(network, receptive_fields=False), changed, [0])
    assert facts == analyze(changed, receptive_fields=False)
    assert facts.total_frozen == (5 * 5 * 3 * 8 + 8) + (28 * 28 * 8 * 2 + 2)
    assert facts.total_statistics == analyze(network).total_statistics > 0


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        pytest.param(
            {"type": "conv", "filters": 2**31 - 1, "kernel": 1},
            "the output volume (2147483647×2147483647×2147483647 → about 2^92) pass 2^63",
            id="output volume",
        ),
        pytest.param(
            {"type": "conv", "filters": 2**31 - 1, "kernel": [2**31 - 1, 3], "stride": 5, "padding": 1},
            "the weights (about 2^63) pass 2^63",
            id="weights",
        ),
    ],
)
def test_a_figure_past_the_limit_is_named_with_its_own_size(layer: dict[str, Any], message: str) -> None:
    height = 2**31 - 1
    width = 2**31 - 1 if "stride" not in layer else 8
    network = Network.model_validate({"input": [height, width, 1], "layers": [layer]})
    with pytest.raises(FigureLimitError) as refused:
        analyze(network)
    assert message in refused.value.what


def test_a_receptive_field_past_the_limit_is_refused_at_the_layer_that_makes_it() -> None:
    # Each stride multiplies the jump: three of 2^31 − 1 pass 2^63 at the third conv, whose own figures are
    # small (a 1×1 output); the relus before it pass their fields on unchanged, already checked.
    huge = {"type": "conv", "filters": 1, "kernel": 1, "stride": 2**31 - 1}
    layers = [huge, {"type": "relu"}, huge, {"type": "relu"}, huge, {"type": "relu"}]
    network = Network.model_validate({"input": [1, 1, 1], "layers": layers})
    with pytest.raises(FigureLimitError) as refused:
        analyze(network)
    assert refused.value.index == 4
    assert "the receptive field passes 2^63 pixels" in refused.value.what
    assert analyze(network, receptive_fields=False).layers[5].output_shape == Shape(1, 1, 1)
