"""average, maximum and minimum: merges of volumes of one shape, value by value. Shapes, counts and CC105 where
the shapes differ; a maximum is a nonlinearity (the funnel ReLU's max(x, T(x))), an average is not (CC303); the
Keras, tf.nn and PyTorch exports against numpy, with three inputs in their order; the Keras import of Average,
Maximum and Minimum, the ONNX import of Mean, Max and Min, and PyTorch's torch.maximum and torch.minimum as both
exporters write them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convcalc.loading import SpecError
from tests import optional
from tests.helpers import analyze_spec, exported_by_pytorch, pooled_then, spec_findings

KINDS = ["average", "maximum", "minimum"]
KERAS_CLASSES = {"average": "Average", "maximum": "Maximum", "minimum": "Minimum"}
ONNX_OPS = {"average": "Mean", "maximum": "Max", "minimum": "Min"}


def _spec(kind: str, stride: int = 1, then: str | None = None) -> dict[str, Any]:
    """Three inputs: the input, a conv of it and a depthwise conv of that (a stride makes the second differ)."""
    layers = [
        {"type": "conv", "filters": 3, "kernel": 3, "stride": stride, "padding": 1, "name": "branch"},
        {"type": "depthwise", "kernel": 3, "padding": 1, "name": "funnel"},
        {"type": kind, "inputs": ["input", "branch", "funnel"], "name": "merged"},
    ]
    if then is not None:
        layers.append({"type": then, "filters": 4, "kernel": 1, "name": "after"})
    return {"input": [6, 6, 3], "layers": layers}


@pytest.mark.parametrize("kind", KINDS)
def test_shape_counts_and_a_mismatch_is_cc105(kind: str) -> None:
    merged = analyze_spec(_spec(kind)).layers[2]
    assert str(merged.output_shape) == "6×6×3" and (merged.params, merged.macs) == (0, 0)
    assert merged.traits.merge and merged.traits.equal_shapes and merged.traits.sums == (kind == "average")
    assert merged.rf_rows.size == 5  # the widest input's field: the depthwise after the conv
    assert "CC105" not in {f.code for f in spec_findings(_spec(kind))}
    (finding,) = [f for f in spec_findings(_spec(kind, stride=2)) if f.code == "CC105"]
    assert finding.message.startswith(f"{kind} needs equal shapes but gets the input: 6×6×3; layers[0] branch: 3×3×3")


@pytest.mark.parametrize("kind", KINDS)
def test_a_maximum_or_minimum_is_a_nonlinearity_and_an_average_is_not(kind: str) -> None:
    spec = _spec(kind, then="conv")
    assert analyze_spec(spec).layers[2].spec.is_nonlinear() == (kind != "average")
    linear = [f for f in spec_findings(spec) if f.code == "CC303"]
    if kind == "average":  # the depthwise conv and the 1×1 after the average compose into one linear map
        assert linear and "through merged (average), no nonlinearity" in linear[0].message
    else:
        assert linear == []


def _batch() -> Any:
    np = optional.module("numpy", "pip install -e '.[tensorflow]'")
    return np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")


def _reference(kind: str, values: list[Any]) -> Any:
    """numpy's: the inputs summed in order, then divided by three; the pairwise maximum or minimum in order."""
    import numpy as np

    if kind == "average":
        return (values[0] + values[1] + values[2]) / np.float32(3)
    function = np.maximum if kind == "maximum" else np.minimum
    return function(function(values[0], values[1]), values[2])


@pytest.mark.tensorflow
@pytest.mark.parametrize("kind", KINDS)
def test_the_keras_and_tf_nn_exports_combine_every_input(kind: str) -> None:
    keras = optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = _batch()
    plan = plan_export(analyze_spec(_spec(kind)))
    model = build_model(plan)
    branches = keras.Model(model.inputs, [model.get_layer("branch").output, model.get_layer("funnel").output])(x)
    expected = _reference(kind, [x, *(np.asarray(b) for b in branches)])
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-6, atol=1e-6)
    assert type(model.get_layer("merged")).__name__ == KERAS_CLASSES[kind]
    source = tfnn_source(plan)
    generated = load_module(source, "generated_nn").Network()
    assert model.count_params() == sum(int(np.prod(v.shape)) for v in generated.trainable_variables)
    for variable in generated.trainable_variables:  # the Keras model's weights, so both compute the same
        layer, part = variable.name.split(":")[0].rsplit("_", 1)
        kernel, bias = model.get_layer(layer).get_weights()
        variable.assign(bias if part == "bias" else kernel.reshape(variable.shape))
    np.testing.assert_allclose(np.asarray(generated(x)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("kind", KINDS)
def test_the_pytorch_export_combines_every_input(kind: str) -> None:
    torch = optional.torch()

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    x = torch.from_numpy(_batch().transpose(0, 3, 1, 2).copy())
    module = build_module(plan_torch(analyze_spec(_spec(kind))))
    with torch.no_grad():
        branch = module.branch(x)
        values = [x, branch, module.funnel(branch)]
        if kind == "average":
            expected = (values[0] + values[1] + values[2]) / 3
        else:
            function = torch.maximum if kind == "maximum" else torch.minimum
            expected = function(function(values[0], values[1]), values[2])
        assert torch.allclose(module(x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.tensorflow
def test_the_keras_import_reads_average_maximum_and_minimum() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    inputs = keras.Input((6, 6, 3))
    conv = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    top = keras.layers.Maximum(name="top")([inputs, conv])
    low = keras.layers.Minimum(name="low")([conv, top, inputs])
    outputs = keras.layers.Average(name="mean")([top, low])
    spec = spec_from_keras_config(json.loads(keras.Model(inputs, outputs).to_json()))
    by_name = {layer["name"]: layer for layer in spec["layers"]}
    assert by_name["top"] == {"type": "maximum", "inputs": ["input", "conv"], "name": "top"}
    assert by_name["low"] == {"type": "minimum", "inputs": ["conv", "top", "input"], "name": "low"}
    assert by_name["mean"] == {"type": "average", "inputs": ["top", "low"], "name": "mean"}
    keras.backend.clear_session()


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_mean_max_and_min_of_layer_outputs(tmp_path: Path, kind: str) -> None:
    from convcalc.importers.onnx import read_onnx_file

    op = ONNX_OPS[kind]
    spec = read_onnx_file(pooled_then(tmp_path, op, ["x", "p"], "merged")).spec
    assert spec["layers"][-1] == {"type": kind, "inputs": ["pool", "input", "pool"], "name": "merged"}
    alone = read_onnx_file(pooled_then(tmp_path, op, [], "merged")).spec  # of one input: that input
    assert [layer["type"] for layer in alone["layers"]] == ["pool"]
    with pytest.raises(SpecError, match=f"node 'merged' \\({op}\\): reads a constant tensor: convcalc's {kind} takes"):
        read_onnx_file(pooled_then(tmp_path, op, ["c"], "merged"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("flat", [False, True])
def test_onnx_inputs_that_broadcast_are_refused(tmp_path: Path, kind: str, flat: bool) -> None:
    """A 1×1 gate, or a flat vector (which ONNX lines up with W, not C), against a volume."""
    optional.onnx()
    from onnx import helper

    from convcalc.importers.onnx import read_onnx_file

    op = ONNX_OPS[kind]
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gate")]
    if flat:
        nodes.append(helper.make_node("Flatten", ["g"], ["f"], name="flat"))
    nodes.append(helper.make_node(op, ["f" if flat else "g", "x"], ["y"], name="merged"))
    path = _graph_of(tmp_path, nodes, [1, 4, 4, 4])
    shown = "\\[1, 4\\]" if flat else "\\[1, 4, 1, 1\\]"
    with pytest.raises(SpecError, match=f"node 'merged' \\({op}\\): reads tensors of shapes {shown}, \\[1, 4, 4, 4\\]"):
        read_onnx_file(path)


def _graph_of(folder: Path, nodes: list[Any], shape: list[int]) -> str:
    """An ONNX file (opset 17) of ``nodes`` from an input x of ``shape`` to an output y; its path."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = folder / "graph.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return str(path)


FUNNEL = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import validate


class FunnelBlock(nn.Module):
    \"\"\"A conv, then the funnel ReLU max(x, depthwise(x)), a minimum with the conv's own output plus 1, and the
    mean of that and the conv's output, divided by a Python int (torch.export's scalar_tensor).\"\"\"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.funnel = nn.Conv2d(8, 8, 3, padding=1, groups=8)

    def forward(self, x):
        x = self.conv(x)
        top = torch.maximum(x, self.funnel(x))
        return (torch.minimum(top, x + 1.0) + x) / 2


model = nn.Sequential(FunnelBlock(), nn.Conv2d(8, 4, 1)).eval()
results = {"parameters": sum(p.numel() for p in model.parameters())}
for exporter, options in (("dynamo", {"dynamo": True}), ("torchscript", {"dynamo": False})):
    path = f"{sys.argv[1]}/funnel.{exporter}.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 16, 16),), path, **options)
    facts = analyze(validate("m", read_onnx_file(path).spec))
    kinds = [layer.spec.type for layer in facts.layers]
    counts = [kinds.count(kind) for kind in ("maximum", "minimum", "rescaling", "add")]
    results[exporter] = [facts.total_params, counts]
print(json.dumps(results))
"""


def test_torch_maximum_and_minimum_as_pytorch_exports_them(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(FUNNEL, str(tmp_path))
    for exporter in ("dynamo", "torchscript"):
        params, counts = outcome[exporter]
        assert params == outcome["parameters"] and counts == [1, 1, 2, 1], (exporter, outcome)


def test_onnx_max_of_a_layer_output_and_a_written_0_is_a_relu(tmp_path: Path) -> None:
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file

    nodes = [
        helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])),
        helper.make_node("Max", ["x", "zero"], ["y"], name="clamped"),
    ]
    assert read_onnx_file(_graph_of(tmp_path, nodes, [1, 4, 6, 6])).spec["layers"] == [
        {"type": "relu", "name": "clamped"}
    ]
