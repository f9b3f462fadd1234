"""split_attention: SKNet's selective kernel and ResNeSt's split attention; shapes, counts and CC116; a reference
written from the definition, which timm's own code confirms, for every export; the Keras import of convcalc's
registered layer; SKNet's and ResNeSt's modules as both PyTorch exporters write them, and near misses that must
not be read as them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.loading import SpecError, validate
from tests import optional
from tests.helpers import exported_by_pytorch, spec_findings


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def _spec(
    radix: int = 2, groups: int = 1, depth: int = 8, logits: str = "fc", shape: tuple[int, int] = (5, 6)
) -> dict[str, Any]:
    """The input's depth as the r branches side by side; logits from its global average (an fc, flat, or a 1×1
    conv) or at every position (``"position"``: a 1×1 conv of the input)."""
    layers: list[dict[str, Any]] = []
    if logits == "position":
        layers.append({"type": "conv", "filters": depth, "kernel": 1, "name": "logits"})
    else:
        layers.append({"type": "global_pool", "name": "squeeze"})
        if logits == "fc":
            layers.append({"type": "fc", "units": depth, "name": "logits"})
        else:
            layers.append({"type": "conv", "filters": depth, "kernel": 1, "name": "logits"})
    attention = {"type": "split_attention", "radix": radix, "groups": groups, "name": "attention"}
    layers.append({**attention, "inputs": ["input", "logits"]})
    return {"input": [*shape, depth], "layers": layers}


def test_shape_counts_and_notation() -> None:
    facts = analysed(_spec(radix=4, groups=2, depth=16, logits="conv"))
    attention = facts.layers[-1]
    assert str(attention.output_shape) == "5×6×4"
    assert (attention.params, attention.macs) == (0, 0)
    assert attention.spec.notation(None) == "r=4 g=2" and attention.spec.caption() == "split-attn"
    assert attention.spec.is_nonlinear()
    # The features' grid, as wide as the pooled logits' field.
    assert (attention.rf_rows.size, attention.rf_cols.size) == (5, 6)
    assert (attention.rf_rows.jump, attention.rf_cols.jump) == (1, 1)
    with pytest.raises(SpecError, match=r"layers\[2\]\.radix: must be ≥ 2"):
        validate("spec.json", _spec(radix=1))
    one_input = _spec()
    one_input["layers"][-1]["inputs"] = ["input"]
    with pytest.raises(SpecError, match=r"layers\[2\]"):
        validate("spec.json", one_input)


def test_logits_that_do_not_split_are_cc116_with_the_fix() -> None:
    spec = _spec(depth=8, logits="conv")
    spec["layers"][1]["filters"] = 4  # C logits instead of r·C
    [finding] = [f for f in spec_findings(spec) if f.code == "CC116"]
    assert "the logits have 4 values for a depth of 8" in finding.message
    assert [fix.set for fix in finding.fixes] == [{"filters": 8}]
    assert not [f for f in spec_findings(_spec(depth=8, logits="conv")) if f.code == "CC116"]
    # A depth that r·g does not divide has no fix on the logits.
    odd = _spec(radix=2, groups=2, depth=6, logits="fc")
    [finding] = [f for f in spec_findings(odd) if f.code == "CC116"]
    assert "does not split into 2 branches × 2 groups" in finding.message and not finding.fixes
    # Logits per position must be at the features' H×W.
    strided = _spec(logits="position")
    strided["layers"][0].update(stride=2)
    [finding] = [f for f in spec_findings(strided) if f.code == "CC116"]
    assert "neither 1×1 nor the features' 5×6" in finding.message
    assert not [f for f in spec_findings(_spec(logits="position")) if f.code == "CC116"]


def _reference(features: Any, logits: Any, radix: int, groups: int) -> Any:
    """out[c] = Σᵢ softmaxᵢ(z)·branchᵢ[c], the logit of branch i for c = k·C/g + j at k·r·C/g + i·C/g + j."""
    import numpy as np

    n, height, width, depth = features.shape
    channels = depth // radix
    at = logits.reshape(n, -1, logits.shape[-1]).shape[1]  # 1 per image, or H·W per position
    z = logits.reshape(n, at, groups, radix, channels // groups)
    z = np.exp(z - z.max(axis=3, keepdims=True))
    weights = (z / z.sum(axis=3, keepdims=True)).transpose(0, 1, 3, 2, 4).reshape(n, at, radix, channels)
    branches = features.reshape(n, height * width, radix, channels)
    return (branches * weights).sum(axis=2).reshape(n, height, width, channels)


CASES = [(2, 1, "fc"), (2, 2, "conv"), (4, 2, "conv"), (3, 1, "position")]


def _logits(x: Any, kind: str, kernel: Any, bias: Any) -> Any:
    """The logits layer of :func:`_spec` on ``x`` (NHWC), from Keras's kernel and bias."""
    if kind == "position":
        return x @ kernel.reshape(kernel.shape[-2:]) + bias
    return x.mean(axis=(1, 2)) @ kernel.reshape(kernel.shape[-2:]) + bias


@pytest.mark.tensorflow
@pytest.mark.parametrize(("radix", "groups", "logits"), CASES)
def test_the_keras_and_tf_nn_exports_weigh_the_branches(radix: int, groups: int, logits: str) -> None:
    optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    depth = radix * 4
    x = np.random.default_rng(0).normal(size=(2, 5, 6, depth)).astype("float32")
    plan = plan_export(analysed(_spec(radix, groups, depth, logits)))
    model = build_model(plan)
    layer = model.get_layer("logits")
    weights = [np.random.default_rng(1).normal(size=np.shape(w)).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    expected = _reference(x, _logits(x, logits, *weights), radix, groups)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-5)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    generated.logits_kernel.assign(weights[0])
    generated.logits_bias.assign(weights[1])
    np.testing.assert_allclose(np.asarray(generated(x)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize(("radix", "groups", "logits"), CASES)
def test_the_pytorch_export_is_timms_split_attention(radix: int, groups: int, logits: str) -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    depth = radix * 4
    x = np.random.default_rng(0).normal(size=(2, 5, 6, depth))
    module = build_module(plan_torch(analysed(_spec(radix, groups, depth, logits)))).double()
    kernel = module.logits.weight.detach().numpy().reshape(depth, depth).T
    z = _logits(x, logits, kernel, module.logits.bias.detach().numpy())
    expected = _reference(x, z, radix, groups)
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    np.testing.assert_allclose(module(nchw).detach().numpy(), expected.transpose(0, 3, 1, 2), rtol=1e-9)
    if logits == "position":
        return
    # timm's SplitAttn on the same values (its rSoftMax, then the weighted sum): the reference is its definition.
    attention = torch.from_numpy(z).view(2, groups, radix, -1).transpose(1, 2)
    attention = torch.softmax(attention, dim=1).reshape(2, -1).view(2, radix, depth // radix, 1, 1)
    timm = (nchw.reshape(2, radix, depth // radix, 5, 6) * attention).sum(dim=1)
    np.testing.assert_allclose(timm.numpy(), expected.transpose(0, 3, 1, 2), rtol=1e-9)


@pytest.mark.tensorflow
def test_the_keras_import_reads_the_registered_layer_back(tmp_path: Path) -> None:
    optional.keras()
    from tests.test_keras_import_cli import keras_round_trip

    spec = _spec(radix=4, groups=2, depth=16, logits="conv")
    back = keras_round_trip(spec, tmp_path)
    attention = {layer["name"]: layer for layer in back["layers"]}["attention"]
    assert (attention["type"], attention["radix"], attention["groups"]) == ("split_attention", 4, 2)
    assert attention["inputs"] == ["input", "logits"]
    assert analysed(back).total_params == analysed(spec).total_params == 16 * 16 + 16


SPLIT_ATTENTION = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import SpecError, validate
from convcalc.analysis import analyze


class SelectiveKernel(nn.Module):
    \"\"\"timm's SelectiveKernel: r dilated 3×3 branches, stacked, weighed by SelectiveKernelAttn.\"\"\"

    def __init__(self, channels, radix, axis=1):
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=k + 1, dilation=k + 1, bias=False),
                          nn.BatchNorm2d(channels), nn.ReLU())
            for k in range(radix)
        )
        self.reduce = nn.Sequential(nn.Conv2d(channels, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.select = nn.Conv2d(8, channels * radix, 1, bias=False)
        self.radix, self.axis = radix, axis

    def forward(self, x):
        x = torch.stack([path(x) for path in self.paths], dim=1)
        attention = self.select(self.reduce(x.sum(1).mean((2, 3), keepdim=True)))
        b, c, h, w = attention.shape
        attention = torch.softmax(attention.view(b, self.radix, c // self.radix, h, w), dim=self.axis)
        return torch.sum(x * attention, dim=1)


class SplitAttn(nn.Module):
    \"\"\"timm's SplitAttn (ResNeSt): one grouped conv of r·C filters, rSoftMax over the radix.\"\"\"

    def __init__(self, channels, radix, groups):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * radix, 3, padding=1, groups=groups * radix, bias=False)
        self.bn0, self.act0 = nn.BatchNorm2d(channels * radix), nn.ReLU()
        self.fc1 = nn.Conv2d(channels, 16, 1, groups=groups)
        self.bn1, self.act1 = nn.BatchNorm2d(16), nn.ReLU()
        self.fc2 = nn.Conv2d(16, channels * radix, 1, groups=groups)
        self.radix, self.groups = radix, groups

    def forward(self, x):
        x = self.act0(self.bn0(self.conv(x)))
        b, rc, h, w = x.shape
        x = x.reshape((b, self.radix, rc // self.radix, h, w))
        gap = x.sum(dim=1).mean((2, 3), keepdim=True)
        attention = self.fc2(self.act1(self.bn1(self.fc1(gap))))
        attention = attention.view(b, self.groups, self.radix, -1).transpose(1, 2)
        attention = torch.softmax(attention, dim=1).reshape(b, -1).view(b, -1, 1, 1)
        return (x * attention.reshape((b, self.radix, rc // self.radix, 1, 1))).sum(dim=1)


models = {
    "sk": SelectiveKernel(16, 2),
    "sk3": SelectiveKernel(16, 3),
    "resnest": SplitAttn(16, 2, 1),
    "resnest_grouped": SplitAttn(16, 4, 2),
    "softmax_over_channels": SelectiveKernel(16, 2, axis=2),
}
results = {}
for name, model in models.items():
    model.eval()
    parameters = sum(p.numel() for p in model.parameters())
    exporters = {
        "dynamo": {"dynamo": True, "optimize": False},
        "torchscript": {"dynamo": False, "do_constant_folding": False},
    }
    for exporter, options in exporters.items():
        path = f"{sys.argv[1]}/{name}.{exporter}.onnx"
        torch.onnx.export(model, (torch.randn(1, 16, 12, 12),), path, **options)
        try:
            facts = analyze(validate("m", read_onnx_file(path).spec))
        except SpecError as error:
            results[f"{name}.{exporter}"] = {"refused": str(error)}
            continue
        attention = [layer.spec for layer in facts.layers if layer.spec.type == "split_attention"]
        results[f"{name}.{exporter}"] = {
            "parameters": parameters,
            "trainable": facts.total_trainable_params,
            "kinds": [layer.spec.type for layer in facts.layers if layer.spec.type in ("add", "split", "concat")],
            "attention": [(spec.radix, spec.groups, list(spec.inputs)) for spec in attention],
            "output": str(facts.output_shape),
        }
print(json.dumps(results))
"""


def test_sknet_and_resnest_as_both_pytorch_exporters_write_them(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(SPLIT_ATTENTION, str(tmp_path))
    expected = {
        "sk": (2, 1, ["concat", "add"]),
        "sk3": (3, 1, ["concat", "add"]),
        "resnest": (2, 1, ["split", "split", "add"]),
        "resnest_grouped": (4, 2, ["split"] * 4 + ["add"]),
    }
    for exporter in ("dynamo", "torchscript"):
        for name, (radix, groups, kinds) in expected.items():
            imported = outcome[f"{name}.{exporter}"]
            assert imported["trainable"] == imported["parameters"], (name, exporter)
            assert imported["output"] == "12×12×16", (name, exporter)
            assert imported["kinds"] == kinds, (name, exporter)
            [(read_radix, read_groups, inputs)] = imported["attention"]
            assert (read_radix, read_groups, len(inputs)) == (radix, groups, 2), (name, exporter)
        # A softmax across the channels of each branch is another function: refused, not read as split attention.
        refused = outcome[f"softmax_over_channels.{exporter}"]["refused"]
        assert "softmax over axis 2 of a rank-5 tensor" in refused and "ReduceSum" in refused, refused


def _selective_kernel_graph(opset: int, axis: int | None) -> Any:
    """SKNet's attention over two branches of an (1, 8, 6, 6) input, by hand: the stack, its sum, pooled
    logits, a Softmax over ``axis`` (None: naming none), the weighted sum."""
    from onnx import TensorProto, helper

    def axis_one(name: str, inputs: list[str], output: str) -> Any:
        # axes an input from opset 13, an attribute before
        if opset >= 13:
            return helper.make_node(name, [*inputs, "one"], [output], keepdims=0)
        return helper.make_node(name, inputs, [output], axes=[1], keepdims=0)

    unsqueeze = (
        [helper.make_node("Unsqueeze", [b, "one"], [f"{b}_1"]) for b in ("a", "b")]
        if opset >= 13
        else [helper.make_node("Unsqueeze", [b], [f"{b}_1"], axes=[1]) for b in ("a", "b")]
    )
    nodes = [
        helper.make_node("Constant", [], ["one"], value_ints=[1]),
        helper.make_node("Constant", [], ["view_shape"], value_ints=[1, 2, 8, 1, 1]),
        helper.make_node("Relu", ["x"], ["a"], name="branch_a"),
        helper.make_node("Sigmoid", ["x"], ["b"], name="branch_b"),
        *unsqueeze,
        helper.make_node("Concat", ["a_1", "b_1"], ["stack"], axis=1),
        axis_one("ReduceSum", ["stack"], "sum"),
        helper.make_node("GlobalAveragePool", ["sum"], ["pooled"], name="pool"),
        helper.make_node("Conv", ["pooled", "w"], ["logits"], name="select"),
        helper.make_node("Reshape", ["logits", "view_shape"], ["view"]),
        helper.make_node("Softmax", ["view"], ["weights"], **({} if axis is None else {"axis": axis})),
        helper.make_node("Mul", ["stack", "weights"], ["weighted"]),
        axis_one("ReduceSum", ["weighted"], "y"),
    ]
    nodes[-1].name = "attention"
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[helper.make_tensor("w", TensorProto.FLOAT, [16, 8, 1, 1], [0.0] * 128)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_a_softmax_over_the_branches_is_fused_only_where_onnx_normalises_over_that_axis_alone(tmp_path: Path) -> None:
    optional.onnx()
    from convcalc.importers.onnx import read_onnx_file

    def imported(opset: int, axis: int | None) -> dict[str, Any]:
        path = tmp_path / f"opset{opset}_{axis}.onnx"
        path.write_bytes(_selective_kernel_graph(opset, axis).SerializeToString())
        return read_onnx_file(str(path)).spec

    layers = {layer["name"]: layer for layer in imported(13, 1)["layers"]}
    assert layers["attention"]["type"] == "split_attention" and layers["attention"]["radix"] == 2
    concat = next(name for name, layer in layers.items() if layer["type"] == "concat")
    assert layers["attention"]["inputs"] == [concat, "select"]
    assert analysed(imported(13, 1)).total_params == 16 * 8
    # From opset 13 a Softmax without an axis is over the last one (W here); before 13, Softmax(axis=1) flattens the
    # branches and the channels into one axis and normalises over all of them: other functions, refused.
    for opset, axis, shown in ((13, None, "-1"), (12, 1, "1"), (12, None, "1")):
        with pytest.raises(SpecError) as refused:
            imported(opset, axis)
        assert "ReduceSum" in str(refused.value), (opset, axis)
        assert f"softmax over axis {shown} of a rank-5 tensor" in str(refused.value), (opset, axis)


def test_a_stack_the_model_returns_is_not_read_as_its_branches(tmp_path: Path) -> None:
    optional.onnx()
    from onnx import helper

    from convcalc.importers.onnx import read_onnx_file

    model = _selective_kernel_graph(13, 1)
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info("stack", 1, None))
    path = tmp_path / "stack.onnx"
    path.write_bytes(model.SerializeToString())
    # The model returns the stacked (1, 2, 8, 6, 6) tensor (the attention behind it is dead): the stack is no
    # concat of the branches, and its Unsqueezes are refused by name.
    with pytest.raises(SpecError, match="Unsqueeze"):
        read_onnx_file(str(path))


@pytest.mark.tensorflow
def test_flat_features_and_logits_export_as_a_1x1_volume() -> None:
    optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    spec = {
        "input": [3, 4, 2],
        "layers": [
            {"type": "global_pool", "name": "squeeze"},
            {"type": "fc", "units": 8, "name": "features"},
            {"type": "fc", "units": 8, "name": "logits"},
            {"type": "split_attention", "radix": 2, "inputs": ["features", "logits"], "name": "attention"},
        ],
    }
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 2)).astype("float32")
    plan = plan_export(analysed(spec))
    model = build_model(plan)
    weights = {name: model.get_layer(name).get_weights() for name in ("features", "logits")}
    features = x.mean(axis=(1, 2)) @ weights["features"][0] + weights["features"][1]
    logits = features @ weights["logits"][0] + weights["logits"][1]
    expected = _reference(features.reshape(2, 1, 1, 8), logits.reshape(2, 1, 1, 8), 2, 1)
    np.testing.assert_allclose(np.asarray(model(x)).reshape(2, 1, 1, 4), expected, rtol=1e-5, atol=1e-6)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    for name in ("features", "logits"):
        getattr(generated, f"{name}_kernel").assign(weights[name][0])
        getattr(generated, f"{name}_bias").assign(weights[name][1])
    np.testing.assert_allclose(np.asarray(generated(x)).reshape(2, 1, 1, 4), expected, rtol=1e-5, atol=1e-6)
