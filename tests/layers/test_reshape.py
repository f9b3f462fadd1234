"""reshape: a vector (or a volume) made a volume of as many values, as generators and decoders do. Its facts and
CC115; the Keras, tf.nn and PyTorch exports against TensorFlow and PyTorch; the Keras import of Keras's own
DCGAN generator; the ONNX import of a PyTorch generator as its three exporters write it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from tests import optional
from tests.helpers import analyze_spec, exported_by_pytorch, spec_findings

GENERATOR = {
    "name": "DCGAN generator (Keras's example)",
    "input": [1, 1, 128],
    "layers": [
        {"type": "fc", "units": 7 * 7 * 128, "name": "dense"},
        {"type": "activation", "kind": "leaky_relu"},
        {"type": "reshape", "shape": [7, 7, 128], "name": "volume"},
        {"type": "conv_transpose", "filters": 128, "kernel": 4, "stride": 2, "padding": "same", "name": "up1"},
        {"type": "activation", "kind": "leaky_relu"},
        {"type": "conv_transpose", "filters": 128, "kernel": 4, "stride": 2, "padding": "same", "name": "up2"},
        {"type": "activation", "kind": "leaky_relu"},
        {"type": "conv", "filters": 1, "kernel": 3, "padding": "same", "name": "image"},
        {"type": "activation", "kind": "sigmoid"},
    ],
}


def test_a_vector_made_a_volume() -> None:
    net = analyze_spec(GENERATOR)
    volume = next(layer for layer in net.layers if layer.name == "volume")
    assert (str(volume.input_shape), str(volume.output_shape)) == ("1×1×6272", "7×7×128")
    assert (volume.params, volume.macs) == (0, 0)
    assert volume.spec.notation(None) == "→7×7×128" and volume.spec.caption() == "reshape"
    # Each output value is some input value: the field is the whole input (here one pixel), as a flatten's.
    assert (volume.rf_rows.size, volume.rf_cols.size) == (1, 1)
    assert str(net.output_shape) == "28×28×1"
    assert net.total_params == 128 * 6272 + 6272 + 2 * (4 * 4 * 128 * 128 + 128) + 3 * 3 * 128 + 1


def test_the_generator_passes_the_linter_quietly() -> None:
    # Not a classifier: it goes to another grid and comes back larger than its input (no CC307); the reshape
    # starts a new volume (no CC301 from the strides after it against the 1×1 input).
    assert [f.code for f in spec_findings(GENERATOR) if f.severity.value != "info"] == []


def test_a_reshape_into_a_volume_of_another_count_is_cc115_with_its_fix() -> None:
    spec = {**GENERATOR, "layers": [{**layer} for layer in GENERATOR["layers"]]}
    spec["layers"][2]["shape"] = [7, 7, 256]
    [finding] = [f for f in spec_findings(spec) if f.code == "CC115"]
    assert finding.severity.value == "error" and finding.layer == 2
    assert "12,544 values, its input 1×1×6272 6,272" in finding.message
    assert [fix.set for fix in finding.fixes] == [{"shape": [7, 7, 128]}]
    assert [f.code for f in spec_findings({**spec, "ignore": ["CC1"]}) if f.severity.value == "error"] == []


@pytest.mark.parametrize(
    ("shape", "message"),
    [([7, 7], "must be [h, w, d]"), ([7, 0, 2], "must be ≥ 1"), ([7, 7, "x"], "must be an integer"), (7, "[h, w, d]")],
)
def test_a_shape_that_is_no_volume_names_the_field(tmp_path: Path, shape: Any, message: str) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"input": [2, 2, 4], "layers": [{"type": "reshape", "shape": shape}]}))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 2, result.output
    assert "layers[0].shape" in result.output and message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("options", "framework"),
    [
        pytest.param([], "TensorFlow", marks=pytest.mark.tensorflow),
        pytest.param(["--framework", "torch"], "PyTorch", marks=pytest.mark.torch),
    ],
)
def test_verify_agrees_with_the_frameworks(tmp_path: Path, options: list[str], framework: str) -> None:
    optional.keras() if framework == "TensorFlow" else optional.torch()
    path = tmp_path / "generator.json"
    path.write_text(json.dumps(GENERATOR))
    result = CliRunner().invoke(app, ["verify", str(path), *options])
    assert result.exit_code == 0, result.output
    assert f"all 9 layers agree with {framework}, and so does the total" in result.stdout


@pytest.mark.tensorflow
def test_the_tf_nn_export_reshapes_as_keras_does() -> None:
    optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    spec = {"input": [2, 3, 4], "layers": [{"type": "reshape", "shape": [4, 3, 2], "name": "r"}]}
    plan = plan_export(analyze_spec(spec))
    x = np.arange(2 * 2 * 3 * 4, dtype="float32").reshape(2, 2, 3, 4)
    expected = x.reshape(2, 4, 3, 2)  # H, W, D order, as Keras's Reshape
    np.testing.assert_array_equal(np.asarray(build_model(plan)(x)), expected)
    np.testing.assert_array_equal(np.asarray(load_module(tfnn_source(plan), "generated_nn").Network()(x)), expected)


@pytest.mark.tensorflow
def test_keras_s_dcgan_generator_imports_as_keras_counts_it(tmp_path: Path) -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config
    from convcalc.loading import SpecError

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((128,)),
            layers.Dense(7 * 7 * 128),
            layers.LeakyReLU(0.2),
            layers.Reshape((7, 7, 128)),
            layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(1, 7, padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    spec = spec_from_keras_config(json.loads(model.to_json()))
    assert [layer["type"] for layer in spec["layers"]][:3] == ["fc", "activation", "reshape"]
    assert spec["layers"][2]["shape"] == [7, 7, 128]
    facts = analyze_spec(spec)
    assert facts.total_params == model.count_params()
    assert tuple(facts.output_shape) == tuple(model.output_shape[1:])
    # A flattening Reshape stays a flatten; a -1 Keras would work out is refused by name.
    flat = keras.Sequential([keras.Input((4, 4, 2)), layers.Reshape((1, 1, 32)), layers.Reshape((16, 2, 1))])
    assert [layer["type"] for layer in spec_from_keras_config(json.loads(flat.to_json()))["layers"]] == [
        "flatten",
        "reshape",
    ]
    guessed = keras.Sequential([keras.Input((32,)), layers.Reshape((4, 4, -1))])
    with pytest.raises(SpecError, match="every size written"):
        spec_from_keras_config(json.loads(guessed.to_json()))


# --- ONNX --------------------------------------------------------------------------------------------------


def test_an_onnx_reshape_of_a_vector_into_nchw(tmp_path: Path) -> None:
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file
    from convcalc.loading import SpecError

    def reshaped(target: list[int], name: str) -> dict[str, Any]:
        graph = helper.make_graph(
            [helper.make_node("Reshape", ["x", "target"], ["y"], name="volume")],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 96])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            initializer=[helper.make_tensor("target", TensorProto.INT64, [len(target)], target)],
        )
        path = tmp_path / name
        path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
        return read_onnx_file(str(path)).spec

    # (N, 96) → (N, C=6, H=4, W=4): convcalc's 4×4×6.
    assert reshaped([1, 6, 4, 4], "a.onnx")["layers"] == [{"type": "reshape", "shape": [4, 4, 6], "name": "volume"}]
    assert reshaped([-1, 6, 4, 4], "b.onnx")["layers"][0]["shape"] == [4, 4, 6]
    with pytest.raises(SpecError, match=r"reshapes \(1, 96\) to \(1, 6, 16\)"):
        reshaped([1, 6, 16], "c.onnx")  # a rank-3 sequence (a transformer's tokens) is no volume


GENERATOR_EXPORTS = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc import check
from tests.helpers import imported_three_ways


class Generator(nn.Module):
    # PyTorch's way of Keras's DCGAN generator: Linear, view to (N, 128, 7, 7), transposed convs; and nn.Unflatten.
    def __init__(self):
        super().__init__()
        self.project = nn.Linear(64, 128 * 7 * 7)
        self.up = nn.Sequential(nn.ConvTranspose2d(128, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1))
        self.again = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 96), nn.Unflatten(1, (6, 4, 4)))

    def forward(self, z):
        x = torch.relu(self.project(z.flatten(1))).view(z.shape[0], 128, 7, 7)
        return self.again(torch.sigmoid(self.up(x)))


model = Generator().eval()
results = {"parameters": sum(p.numel() for p in model.parameters())}
for exporter, spec, facts in imported_three_ways(model, torch.zeros(1, 64, 1, 1), sys.argv[1], "generator"):
    results[exporter] = {
        "reshapes": [layer["shape"] for layer in spec["layers"] if layer["type"] == "reshape"],
        "trainable": facts.total_trainable_params,
        "output": str(facts.output_shape),
    }
results["module"] = check(model, input=(1, 1, 64)).checked.facts.total_trainable_params
print(json.dumps(results))
"""


def test_a_pytorch_generator_as_its_exporters_write_it(tmp_path: Path) -> None:
    results = exported_by_pytorch(GENERATOR_EXPORTS, str(tmp_path))
    parameters = results["parameters"]
    assert parameters == (64 * 6272 + 6272) + (128 * 32 * 16 + 32) + (32 * 16 + 1) + (784 * 96 + 96)
    for exporter in ("default", "dynamo", "torchscript"):
        result = results[exporter]
        assert result["reshapes"] == [[7, 7, 128], [4, 4, 6]], (exporter, result)
        assert (result["trainable"], result["output"]) == (parameters, "4×4×6"), (exporter, result)
    assert results["module"] == parameters


def test_check_reads_a_module_that_unflattens() -> None:
    # convcalc.check exports with TorchScript's exporter unfolded: nn.Unflatten's target shape is then computed
    # from the data's Shape, Slices and a Mod of constants, which the import evaluates.
    torch = optional.torch()
    optional.onnx()
    from convcalc import check

    nn = torch.nn
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 64), nn.Unflatten(1, (4, 4, 4)), nn.Conv2d(4, 2, 3))
    facts = check(model, input=(16, 16, 3)).checked.facts
    [reshape] = [layer for layer in facts.layers if layer.type == "reshape"]
    assert reshape.spec.notation(None) == "→4×4×4" and str(facts.output_shape) == "2×2×2"
    assert facts.total_trainable_params == sum(p.numel() for p in model.parameters())


def test_the_import_s_constant_mod_is_where_onnx_s_two_mods_agree() -> None:
    from convcalc.importers.onnx import _arithmetic

    assert _arithmetic("Mod", [(5, 7), (4,)]) == (1, 3)
    assert _arithmetic("Mod", [(-1,), (4,)]) is None  # fmod 0 gives 3, fmod 1 gives −1: not known here
    assert _arithmetic("Mod", [(1.5,), (1,)]) is None


def test_strides_after_a_reshape_ask_nothing_of_the_input() -> None:
    # Two stride-2 convs on the input, then a new 16×16 volume and three more: the input must divide by 4.
    down = {"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": "same"}
    halve = {"type": "conv", "filters": 4, "kernel": 2, "stride": 2}
    spec = {
        "input": [18, 18, 1],
        "layers": [
            *(down, down, {"type": "fc", "units": 256}, {"type": "reshape", "shape": [16, 16, 1]}),
            *(halve, halve, halve, {"type": "global_pool"}, {"type": "fc", "units": 10}),
        ],
    }
    [finding] = [f for f in spec_findings(spec) if f.code == "CC301"]
    assert "not divisible by 4 = 2^2 (strides 2·2)" in finding.message, finding.message
    assert not [f for f in spec_findings({**spec, "input": [20, 20, 1]}) if f.code == "CC301"]


def test_a_generator_without_upsampling_is_no_unfinished_classifier() -> None:
    spec = {
        "input": [1, 1, 100],
        "layers": [
            {"type": "fc", "units": 784},
            {"type": "relu"},
            {"type": "reshape", "shape": [28, 28, 1]},
            {"type": "conv", "filters": 1, "kernel": 3, "padding": "same"},
        ],
    }
    assert "CC307" not in [f.code for f in spec_findings(spec)]


def test_a_merge_with_a_reshaped_volume_has_no_grid_to_align() -> None:
    spec = {
        "input": [8, 8, 4],
        "layers": [
            {"type": "reshape", "shape": [8, 8, 4], "name": "moved"},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": "same", "inputs": ["input"], "name": "conv"},
            {"type": "add", "inputs": ["moved", "conv"]},
        ],
    }
    assert "CC309" not in [f.code for f in spec_findings(spec)]


def test_solve_offers_only_sizes_the_reshape_takes(tmp_path: Path) -> None:
    # (W − 3)/2 + 1 rows and columns of 4 channels reshaped to 8×8×1: only W = 9 gives the 64 values.
    spec = {
        "input": [10, 10, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "stride": 2},
            {"type": "reshape", "shape": [8, 8, 1]},
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1},
        ],
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    result = CliRunner().invoke(app, ["solve", str(path)])
    assert "every layer fits with height in [9] and width in [9]" in result.output, result.output
    assert not [f for f in spec_findings({**spec, "input": [9, 9, 1]}) if f.severity.value == "error"]
