"""Weight standardisation (BiT's ResNetV2, the NFNets): a conv whose filters are standardised in forward imports
as a conv holding the stored weight, a learned gain per filter as a ``scale`` after it, so the trainable count is
PyTorch's ``parameters()``; where the exporter's optimiser folded the standardised weight into one tensor, the
import is refused by name rather than counted from what is left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import SpecError, validate
from tests import optional
from tests.helpers import exported_by_pytorch

STANDARDISED = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from convcalc import check
from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import SpecError, validate
from tests.helpers import exported_three_ways


class StdConv2d(nn.Conv2d):
    # timm.layers.StdConv2d (BiT): each filter standardised in forward.
    def __init__(self, *args, eps=1e-6, **kwargs):
        super().__init__(*args, **kwargs)
        self.eps = eps

    def forward(self, x):
        flat = self.weight.reshape(1, self.out_channels, -1)
        weight = F.batch_norm(flat, None, None, training=True, momentum=0.0, eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ScaledStdConv2d(nn.Conv2d):
    # timm.layers.ScaledStdConv2d (the NFNets): standardised, times a learned gain per filter and a number.
    def __init__(self, *args, gamma=1.0, eps=1e-6, **kwargs):
        super().__init__(*args, **kwargs)
        self.gain = nn.Parameter(torch.ones(self.out_channels, 1, 1, 1))
        self.scale = gamma * self.weight[0].numel() ** -0.5
        self.eps = eps

    def forward(self, x):
        flat = self.weight.reshape(1, self.out_channels, -1)
        gain = (self.gain * self.scale).view(-1)
        weight = F.batch_norm(flat, None, None, weight=gain, training=True, momentum=0.0, eps=self.eps)
        return F.conv2d(x, weight.reshape_as(self.weight), self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


model = nn.Sequential(
    StdConv2d(3, 8, 3, padding=1, bias=False), nn.GroupNorm(2, 8), nn.ReLU(),
    ScaledStdConv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
    ScaledStdConv2d(16, 16, 3, padding=1, groups=16, bias=False, gamma=1.7),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5),
).eval()
sample = torch.zeros(1, 3, 16, 16)
with FlopCounterMode(display=False) as counter:
    model(sample)
results = {"parameters": sum(p.numel() for p in model.parameters()), "macs": counter.get_total_flops() // 2}
for exporter, path in exported_three_ways(model, sample, sys.argv[1], "standardised"):
    try:
        spec = read_onnx_file(path).spec
    except SpecError as error:
        results[exporter] = str(error)
        continue
    facts = analyze(validate("m", spec))
    results[exporter] = {
        "name": spec["name"],
        "layers": [layer["type"] for layer in spec["layers"]],
        "trainable": facts.total_trainable_params,
        "total": facts.total_params,
        "macs": facts.total_macs,
    }
facts = check(model, input=(16, 16, 3)).checked.facts
results["module"] = {"trainable": facts.total_trainable_params, "macs": facts.total_macs}
print(json.dumps(results))
"""

LAYERS = ["conv", "group_norm", "relu", "conv", "scale", "relu", "depthwise", "scale", "global_pool", "flatten", "fc"]


def test_standardised_convs_as_pytorch_exports_them(tmp_path: Path) -> None:
    results = exported_by_pytorch(STANDARDISED, str(tmp_path))
    parameters = results["parameters"]
    assert parameters == 8 * 27 + 16 + (16 * 72 + 16 + 16) + (16 * 9 + 16) + (16 * 5 + 5)  # the gains: 16 and 16
    for exporter in ("dynamo", "torchscript"):  # the unoptimised dynamo export, and TorchScript's
        result = results[exporter]
        assert result["layers"] == LAYERS, result
        assert result["trainable"] == result["total"] == parameters, result
        assert result["macs"] == results["macs"], result
        assert "weight standardisation in 3 convs read as plain weights" in result["name"], result
    assert results["module"] == {"trainable": parameters, "macs": results["macs"]}
    # PyTorch's default export folds each standardised weight into one stored tensor, the gains with it.
    refusal = results["default"]
    assert isinstance(refusal, str), refusal
    assert "(Conv): its stored 'view_1' is a value the module computes in forward" in refusal
    assert "optimize=False" in refusal


def _standardisation(folder: Path, scale: str) -> str:
    """W [4, 3, 3, 3] reshaped to (1, 4, 27), batch-normalised with ReduceMean's statistics, reshaped back into a
    Conv's weight; the BatchNormalization's scale a Constant node of ones, or a stored tensor (``scale``)."""
    optional.onnx()
    from onnx import TensorProto, helper

    def ints(name: str, values: list[int]) -> object:
        return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)

    def floats(name: str, values: list[float]) -> object:
        return helper.make_tensor(name, TensorProto.FLOAT, [len(values)], values)

    nodes = [
        helper.make_node("Reshape", ["w", "flat"], ["view"]),
        helper.make_node("ReduceMean", ["view", "axes"], ["mean"], keepdims=0),
        helper.make_node("ReduceMean", ["view", "axes"], ["mean_kept"], keepdims=1),
        helper.make_node("Sub", ["view", "mean_kept"], ["centred"]),
        helper.make_node("Mul", ["centred", "centred"], ["squared"]),
        helper.make_node("ReduceMean", ["squared", "axes"], ["variance"], keepdims=0),
        helper.make_node("Constant", [], ["zeros"], value=floats("z", [0.0] * 4)),
        helper.make_node("BatchNormalization", ["view", "gain", "zeros", "mean", "variance"], ["standard"]),
        helper.make_node("Reshape", ["standard", "back"], ["weight"]),
        helper.make_node("Conv", ["x", "weight"], ["y"], name="conv", kernel_shape=[3, 3]),
    ]
    stored = [floats("w", [0.1] * 108), ints("flat", [1, 4, -1]), ints("axes", [0, 2]), ints("back", [4, 3, 3, 3])]
    if scale == "constant":
        nodes.insert(0, helper.make_node("Constant", [], ["gain"], value=floats("g", [1.0] * 4)))
    else:
        stored.append(floats("gain", [1.0] * 4))  # stored: a trained gain, whatever its values now
    return _saved(folder / f"standardised_{scale}.onnx", nodes, stored)


def _saved(path: Path, nodes: list[Any], stored: list[Any]) -> str:
    """A model of ``nodes`` and the ``stored`` initializers, from an x of (1, 3, 8, 8) to y, saved at ``path``."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        stored,
    )
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return str(path)


@pytest.mark.parametrize(
    ("scale", "layers", "params"), [("constant", ["conv"], 108), ("stored", ["conv", "scale"], 112)]
)
def test_a_stored_scale_of_a_standardisation_is_a_gain_whatever_its_values(
    tmp_path: Path, scale: str, layers: list[str], params: int
) -> None:
    spec = read_onnx_file(_standardisation(tmp_path, scale)).spec
    assert [layer["type"] for layer in spec["layers"]] == layers
    assert spec["layers"][0]["bias"] is False
    assert analyze(validate("m", spec)).total_trainable_params == params


def test_a_conv_weight_the_record_names_as_computed_is_refused(tmp_path: Path) -> None:
    # The optimised dynamo export of a weight_norm'd conv: one stored tensor, g·v/‖v‖, where the module holds g and
    # v (K more numbers). The record names it as the forward's value, not as a parameter.
    optional.onnx()
    from onnx import TensorProto, helper

    conv = helper.make_node("Conv", ["x", "mul"], ["y"], name="conv", kernel_shape=[3, 3])
    entry = conv.metadata_props.add()
    entry.key = "pkg.torch.onnx.fx_node"
    entry.value = (
        "%conv2d : [num_users=1] = call_function[target=torch.ops.aten.conv2d.default](args = (%x, %mul, "
        "%p_conv_bias), kwargs = {})"
    )
    graph = helper.make_graph(
        [conv],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("mul", TensorProto.FLOAT, [4, 3, 3, 3], [0.1] * 108)],
    )
    path = tmp_path / "weight_norm.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    with pytest.raises(SpecError) as raised:
        read_onnx_file(str(path))
    assert "node 'conv' (Conv): its stored 'mul' is a value the module computes" in str(raised.value)


def _malformed(folder: Path, name: str, middle: list[Any]) -> str:
    """W reshaped to (1, 8, −1) with ReduceMean statistics, then ``middle`` (a malformed pattern), then a Conv."""
    optional.onnx()
    from onnx import TensorProto, helper

    stored = [
        helper.make_tensor("W", TensorProto.FLOAT, [8, 3, 3, 3], [0.1] * 216),
        helper.make_tensor("s1", TensorProto.INT64, [3], [1, 8, -1]),
        helper.make_tensor("s2", TensorProto.INT64, [4], [8, 3, 3, 3]),
        helper.make_tensor("zeros", TensorProto.FLOAT, [8], [0.0] * 8),
        helper.make_tensor("ones", TensorProto.FLOAT, [8], [1.0] * 8),
        helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0]),
    ]
    head = [
        helper.make_node("Reshape", ["W", "s1"], ["wr"]),
        helper.make_node("ReduceMean", ["wr"], ["mean"], axes=[0, 2], keepdims=0),
        helper.make_node("ReduceMean", ["wr"], ["var"], axes=[0, 2], keepdims=0),
    ]
    conv = helper.make_node("Conv", ["x", "ws"], ["y"], name="conv", kernel_shape=[3, 3])
    return _saved(folder / f"{name}.onnx", [*head, *middle, conv], stored)


def test_malformed_standardisations_are_refused_by_name_not_looped_on_or_crashed(tmp_path: Path) -> None:
    optional.onnx()
    from onnx import helper

    cases = {
        # a gain whose producer reads its own output, and a Reshape back that writes what it reads: cycles
        "gain_cycle": [
            helper.make_node("Mul", ["gg", "two"], ["gg"]),
            helper.make_node("BatchNormalization", ["wr", "gg", "zeros", "mean", "var"], ["bn"]),
            helper.make_node("Reshape", ["bn", "s2"], ["ws"]),
        ],
        "reshape_cycle": [
            helper.make_node("BatchNormalization", ["wr", "ones", "zeros", "mean", "var"], ["bn"]),
            helper.make_node("Reshape", ["bn", "s2"], ["bn"]),
            helper.make_node("Identity", ["bn"], ["ws"]),
        ],
        # nodes without the outputs or inputs their ops have
        "no_output": [
            helper.make_node("BatchNormalization", ["wr", "ones", "zeros", "mean", "var"], []),
            helper.make_node("Reshape", ["W", "s2"], ["ws"]),
        ],
        "no_input": [
            helper.make_node("Expand", [], ["zz"]),
            helper.make_node("BatchNormalization", ["wr", "ones", "zz", "mean", "var"], ["bn"]),
            helper.make_node("Reshape", ["bn", "s2"], ["ws"]),
        ],
    }
    for name, middle in cases.items():
        path = _malformed(tmp_path, name, middle)
        try:
            spec = read_onnx_file(path).spec
        except SpecError as error:
            assert "graph.node[" in str(error), (name, str(error))
        else:  # a reading of what the file says, never the standardisation's
            assert "weight standardisation" not in spec["name"], name


def test_a_conv_of_more_than_three_inputs_is_refused(tmp_path: Path) -> None:
    # Only the import's own fusion gives a Conv a fourth input (a standardisation's gain).
    onnx = optional.onnx()
    from onnx import helper

    path = _malformed(tmp_path, "four", [helper.make_node("Reshape", ["W", "s2"], ["ws"])])
    model = onnx.load(path)
    model.graph.node[-1].input.extend(["zeros", "ones"])
    Path(path).write_bytes(model.SerializeToString())
    with pytest.raises(SpecError, match=r"node 'conv' \(Conv\): 4 inputs: ONNX's Conv has an input, a weight"):
        read_onnx_file(path)
