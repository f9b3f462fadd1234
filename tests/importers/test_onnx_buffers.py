"""Fixed filters that ONNX stores as it stores weights: a layer whose stored weights are a module's buffers (a
blur pool's) imports frozen, so convcalc's trainable count is PyTorch's ``parameters()``. The dynamo exporter
records each node's PyTorch call (its buffers are torch.export's ``b_…`` inputs); ``convcalc.check(module)``
knows the module's buffers by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.loading import validate
from tests import optional
from tests.helpers import exported_by_pytorch

BLUR = """
import torch
import torch.nn.functional as F
from torch import nn


class Blur(nn.Module):
    \"\"\"A fixed 3×3 box filter of stride 2 per channel, kept as a buffer (timm's BlurPool2d, antialiased-cnns).\"\"\"

    def __init__(self, channels, persistent):
        super().__init__()
        self.register_buffer("filt", torch.ones(channels, 1, 3, 3) / 9, persistent=persistent)

    def forward(self, x):
        return F.conv2d(x, self.filt, stride=2, padding=1, groups=x.shape[1])


def blurred(persistent):
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), Blur(8, persistent)).eval()
"""


def _conv_model(folder: Path, record: str | None, weight: str = "filt") -> str:
    optional.onnx()
    from onnx import TensorProto, helper

    conv = helper.make_node("Conv", ["x", weight], ["y"], name="blur", group=4, strides=[2, 2], pads=[1, 1, 1, 1])
    if record is not None:
        entry = conv.metadata_props.add()
        entry.key, entry.value = "pkg.torch.onnx.fx_node", record
    graph = helper.make_graph(
        [conv],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor(weight, TensorProto.FLOAT, [4, 1, 3, 3], [1 / 9] * 36)],
    )
    path = folder / "blur.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return str(path)


CALL = "%conv2d_1 : [num_users=1] = call_function[target=torch.ops.aten.conv2d.default](args = ({data}, {weight}, None, [2, 2], [1, 1], [1, 1], 4), kwargs = {{}})"  # noqa: E501


@pytest.mark.parametrize(
    ("weight", "record", "trainable"),
    [
        ("maxpool.1.filt", CALL.format(data="%relu", weight="%b_maxpool_1_filt"), 0),  # that buffer: fixed
        ("lifted_tensor_0", CALL.format(data="%relu", weight="%c_lifted_tensor_0"), 0),  # a tensor constant
        ("conv.weight", CALL.format(data="%relu", weight="%p_conv_weight"), 36),  # a parameter
        ("conv.weight", CALL.format(data="%b_x", weight="%view"), 36),  # an input named b_x, a reshaped parameter
        ("filt", CALL.format(data="%relu", weight="%b_other_filt"), 36),  # another tensor's name
        ("filt", None, 36),  # no record (TorchScript's exporter, other tools): counted as weights
    ],
)
def test_a_stored_weight_the_recorded_call_names_a_buffer_is_frozen(
    tmp_path: Path, weight: str, record: str | None, trainable: int
) -> None:
    from convcalc.importers.onnx import read_onnx_file

    spec = read_onnx_file(_conv_model(tmp_path, record, weight)).spec
    facts = analyze(validate("m", spec))
    assert (facts.total_params, facts.total_trainable_params) == (36, trainable)
    assert spec["layers"][0].get("trainable", True) == bool(trainable)


def test_initializers_named_as_fixed_import_frozen(tmp_path: Path) -> None:
    from convcalc.importers.onnx import read_onnx_file

    spec = read_onnx_file(_conv_model(tmp_path, None), fixed=frozenset({"filt"})).spec
    assert analyze(validate("m", spec)).total_trainable_params == 0


@pytest.mark.torch
def test_check_of_a_module_freezes_its_persistent_buffers() -> None:
    # The TorchScript exporter stores a persistent buffer as an initializer of its name (antialiased-cnns'
    # Downsample); a non-persistent one it writes as a Constant node, which no name ties to the module: counted.
    torch = optional.torch()
    optional.onnx()
    from convcalc import check

    namespace: dict[str, Any] = {}
    exec(compile(BLUR, "<blur>", "exec"), namespace)
    parameters = 8 * 3 * 3 * 3 + 8 + 2 * 8
    for persistent, trainable in ((True, parameters), (False, parameters + 72)):
        model = namespace["blurred"](persistent)
        assert sum(p.numel() for p in model.parameters()) == parameters
        facts = check(model, input=(16, 16, 3)).checked.facts
        assert facts.total_trainable_params == trainable
        assert facts.total_params == parameters + 2 * 8 + 72  # the running statistics and the filter
    assert torch.equal(model[3].filt, torch.ones(8, 1, 3, 3) / 9)  # the module is handed back untouched


DYNAMO = (
    BLUR
    + """
import json, sys, warnings
warnings.filterwarnings("ignore")
from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import validate

model = blurred(persistent=False)
torch.onnx.export(model, (torch.zeros(1, 3, 16, 16),), sys.argv[1], dynamo=True, optimize=False, verbose=False)
facts = analyze(validate("m", read_onnx_file(sys.argv[1]).spec))
print(json.dumps({
    "trainable": facts.total_trainable_params,
    "total": facts.total_params,
    "parameters": sum(p.numel() for p in model.parameters()),
}))
"""
)


def test_a_dynamo_export_s_buffer_imports_frozen(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(DYNAMO, str(tmp_path / "blur.onnx"))
    assert outcome["trainable"] == outcome["parameters"] == 8 * 3 * 3 * 3 + 8 + 2 * 8
    assert outcome["total"] == outcome["parameters"] + 2 * 8 + 72


@pytest.mark.torch
def test_a_trained_bias_keeps_a_layer_with_a_fixed_weight_trained() -> None:
    # x @ W.T + b with W a buffer and b a parameter: one fc, which convcalc cannot half-freeze; trained, the
    # buffer counted with it (too many trainable, never too few).
    torch = optional.torch()
    optional.onnx()
    from convcalc import check

    class Fixed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("weight", torch.ones(5, 48))
            self.bias = torch.nn.Parameter(torch.zeros(5))

        def forward(self, x: Any) -> Any:
            return torch.flatten(x, 1) @ self.weight.T + self.bias

    facts = check(Fixed(), input=(4, 4, 3)).checked.facts
    assert (facts.total_params, facts.total_trainable_params) == (245, 245)
