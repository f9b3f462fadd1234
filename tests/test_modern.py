"""Modern layers, graphs and cost metrics: published figures, receptive fields, graph errors, gates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.loading import SpecError, format_path, load_spec, validate
from convcalc.memory import training_memory
from tests.helpers import EXAMPLES, ROOT

runner = CliRunner()


def facts(name: str):
    return analyze(load_spec(str(EXAMPLES / name)).network)


def layer(net, name: str):
    return next(x for x in net.layers if x.name == name)


# --- published figures ----------------------------------------------------------------------------


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
    net = facts(example)
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
    assert abs(facts(example).total_macs / 1e9 - published_gmacs) <= tolerance


def test_macs_are_exact_per_layer() -> None:
    vgg = facts("vgg16.json")
    assert layer(vgg, "conv1_1").macs == 224 * 224 * 64 * 3 * 3 * 3
    assert layer(vgg, "fc6").macs == 7 * 7 * 512 * 4096
    assert vgg.total_macs == 15_470_264_320
    mobile = facts("mobilenet_v1.json")
    assert layer(mobile, "conv_dw_2").macs == 56 * 56 * 64 * 3 * 3  # depthwise: one 3×3 per channel
    assert layer(mobile, "conv_pw_2").macs == 56 * 56 * 64 * 128


def test_batchnorm_counts_four_per_channel_two_trainable() -> None:
    net = facts("resnet50.json")
    bn = layer(net, "conv1_bn")
    assert (bn.params, bn.trainable_params, bn.non_trainable) == (4 * 64, 2 * 64, 2 * 64)


# --- receptive fields: google-research/receptive_field's published table -------------------------


def effective(net, name: str) -> tuple[int, int, float]:
    rf = layer(net, name).rf_rows
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
    assert effective(facts(example), name) == expected


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
    net = analyze(validate("resnet_v1_50", slim_resnet_v1_50()))
    assert effective(net, "block4/unit3") == (483, 32, 239.0)  # resnet_v1_50 in the published table


# --- the examples are what the generator writes -----------------------------------------------------


def test_generated_examples_are_up_to_date(tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import generate_modern
    finally:
        sys.path.remove(str(EXAMPLES))
    for name, build in generate_modern.EXAMPLES.items():
        assert (EXAMPLES / name).read_text(encoding="utf-8") == generate_modern.spec_text(build()), name


def test_unet_and_inception_shapes() -> None:
    unet = facts("unet_small.json")
    assert layer(unet, "up2").output_shape == (32, 32, 32)
    assert layer(unet, "skip2").output_shape == (32, 32, 64)
    assert unet.output_shape == (64, 64, 2)
    block = facts("inception_block.json")
    assert block.output_shape == (28, 28, 256)


# --- new layer kinds -------------------------------------------------------------------------------


def one_layer(spec_layer: dict[str, Any], input_shape: list[int]) -> Any:
    return analyze(validate("t", {"input": input_shape, "layers": [spec_layer]})).layers[0]


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
    net = analyze(
        validate(
            "t",
            {
                "input": [32, 32, 3],
                "layers": [
                    {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "padding": "same", "name": "down"},
                    {"type": "conv_transpose", "filters": 3, "kernel": 3, "stride": 2, "padding": "same"},
                    {"type": "relu"},
                ],
            },
        )
    )
    assert net.layers[1].output_shape == (32, 32, 3)


# --- graphs ------------------------------------------------------------------------------------------


RESIDUAL = {
    "input": [8, 8, 4],
    "layers": [
        {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "a"},
        {"type": "relu", "name": "a_relu"},
        {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "b"},
        {"type": "add", "inputs": ["b", "input"], "name": "sum"},
        {"type": "concat", "inputs": ["sum", "a_relu"], "name": "cat"},
    ],
}


def test_residual_graph_shapes_and_inputs() -> None:
    net = analyze(validate("g", RESIDUAL))
    assert net.layers[3].inputs == (2, -1)
    assert net.layers[3].output_shape == (8, 8, 4)
    assert net.layers[4].output_shape == (8, 8, 8)


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda s: s["layers"][3].update(inputs=["bb", "input"]), "layers[3].inputs[0]", ["unknown layer 'bb'", "'b'"]),
        (lambda s: s["layers"][3].update(inputs=["cat", "input"]), "layers[3].inputs[0]", ["comes later", "cycles"]),
        (lambda s: s["layers"][2].update(name="a"), "layers[2].name", ["duplicate", "layers[0]"]),
        (lambda s: s["layers"][0].update(name="input"), "layers[0].name", ["reserved"]),
        (lambda s: s["layers"][3].update(inputs=["b"]), "layers[3].inputs", ["at least two"]),
        (lambda s: s["layers"][1].update(inputs=["a", "input"]), "layers[1].inputs", ["exactly one"]),
        (lambda s: s["layers"][3].pop("inputs"), "layers[3].inputs", ["at least two"]),
    ],
)
def test_graph_mistakes_are_invalid_input_that_names_the_layers(change, path: str, words: list[str]) -> None:
    spec = json.loads(json.dumps(RESIDUAL))
    change(spec)
    with pytest.raises(SpecError) as raised:
        validate("g.json", spec)
    messages = {format_path(p.path): p.message for p in raised.value.problems}
    assert path in messages, messages
    message = messages[path]
    for word in words:
        assert word in message


def test_graph_mistake_exits_2_via_cli(tmp_path: Path) -> None:
    spec = json.loads(json.dumps(RESIDUAL))
    spec["layers"][3]["inputs"] = ["nope", "input"]
    path = tmp_path / "g.json"
    path.write_text(json.dumps(spec, indent=1))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert "layers[3].inputs[0]" in result.output and "nope" in result.output


def test_add_with_different_shapes_is_an_error_naming_both_branches(tmp_path: Path) -> None:
    spec = json.loads(json.dumps(RESIDUAL))
    spec["layers"][2].update(stride=2)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(spec))
    result = runner.invoke(app, ["check", str(path), "-f", "json"])
    assert result.exit_code == 1
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "CC105"]
    assert "4×4×4" in finding["message"] and "8×8×4" in finding["message"] and "layers[2] b" in finding["message"]
    assert any(fix["path"] == "layers[2]" and fix["set"] == {"stride": 1} for fix in finding["fixes"])


# --- JSON keys, memory, gates ----------------------------------------------------------------------


def test_json_has_the_metric_keys() -> None:
    result = runner.invoke(app, ["check", str(EXAMPLES / "resnet18.json"), "-f", "json", "--batch", "32"])
    data = json.loads(result.stdout)
    for record in data["layers"]:
        assert {"macs", "receptive_field", "trainable_params", "inputs"} <= set(record)
        assert len(record["receptive_field"]) == 2
    assert data["total_macs"] == sum(r["macs"] for r in data["layers"])
    assert data["total_trainable_params"] == 11_689_512
    assert "FLOPs = 2·MACs" in data["macs_convention"]
    memory = data["training_memory"]
    assert memory["batch"] == 32 and memory["total_bytes"] == sum(
        memory[k] for k in ("weights_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes")
    )


def test_training_memory_parts() -> None:
    net = facts("vgg16.json")
    memory = training_memory(net, batch=8, dtype="float16")
    assert memory.weights == net.total_params * 2
    assert memory.optimizer == 2 * net.total_trainable_params * 2
    assert memory.activations == 8 * net.activation_values * 2


@pytest.mark.parametrize(
    ("options", "exit_code"),
    [
        (["--max-params", "140M"], 0),
        (["--max-params", "100M"], 1),
        (["--max-macs", "16G"], 0),
        (["--max-macs", "15G"], 1),
        (["--max-memory", "1GiB"], 1),
        (["--max-memory", "64GiB", "--batch", "16"], 0),
        (["--max-params", "lots"], 2),
        (["--dtype", "float64"], 2),
    ],
)
def test_ci_gates(options: list[str], exit_code: int) -> None:
    result = runner.invoke(app, ["check", str(EXAMPLES / "vgg16.json"), *options])
    assert result.exit_code == exit_code, result.output
    if exit_code == 1:
        assert "CC405" in result.stdout


def test_gates_from_config(tmp_path: Path) -> None:
    (tmp_path / "convcalc.toml").write_text('max-params = "1M"\nbatch = 4\n')
    spec = tmp_path / "net.json"
    spec.write_text((EXAMPLES / "mnist_cnn.json").read_text())
    assert runner.invoke(app, ["check", str(spec)]).exit_code == 1


def test_check_of_a_graph_spec_never_imports_tensorflow() -> None:
    code = (
        "import sys; from convcalc.__main__ import main; sys.argv = ['convcalc', 'check', 'examples/resnet50.json'];\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
