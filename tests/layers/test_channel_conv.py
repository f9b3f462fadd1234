"""channel_conv: ECA-Net's 1-D convolution across the channels; shapes, counts and MACs; a reference written from
the definition, which PyTorch's conv1d confirms, for every export; the Keras import of convcalc's registered layer;
ECA's module as both PyTorch exporters write it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.loading import SpecError, validate
from tests import optional
from tests.helpers import exported_by_pytorch


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def _spec(kernel: int = 3, bias: bool = False, shape: list[int] | None = None) -> dict[str, Any]:
    layer = {"type": "channel_conv", "kernel": kernel, "bias": bias, "name": "eca"}
    return {"input": shape or [4, 5, 6], "layers": [layer]}


def test_shape_counts_and_macs() -> None:
    eca = analysed(_spec(5, bias=True)).layers[0]
    assert str(eca.output_shape) == "4×5×6"
    assert (eca.weights, eca.biases, eca.macs) == (5, 1, 4 * 5 * 6 * 5)
    assert eca.spec.notation(None) == "k=5 across D" and eca.spec.caption() == "eca"
    with pytest.raises(SpecError, match=r"layers\[0\]\.kernel: must be odd"):
        validate("spec.json", _spec(4))


def _reference(x: Any, kernel: Any, bias: float) -> Any:
    """out[c] = Σ_j w[j]·x[c + j − k//2] over the channels at each position, zeros past the ends."""
    import numpy as np

    k, depth = len(kernel), x.shape[-1]
    padded = np.pad(x, ((0, 0), (0, 0), (0, 0), (k // 2, k // 2)))
    return sum(kernel[j] * padded[..., j : j + depth] for j in range(k)) + bias


@pytest.mark.tensorflow
@pytest.mark.parametrize(("kernel", "bias"), [(3, False), (5, True), (9, False)])  # 9 > the depth of 6
def test_the_keras_and_tf_nn_exports_convolve_across_the_channels(kernel: int, bias: bool) -> None:
    optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = np.random.default_rng(0).normal(size=(2, 4, 5, 6)).astype("float32")
    plan = plan_export(analysed(_spec(kernel, bias)))
    model = build_model(plan)
    layer = model.get_layer("eca")
    weights = [np.asarray(w) for w in layer.get_weights()]
    weights = [np.random.default_rng(1).normal(size=w.shape).astype("float32") for w in weights]
    layer.set_weights(weights)
    expected = _reference(x, weights[0][:, 0, 0], weights[1][0] if bias else 0.0)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-5)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    generated.eca_kernel.assign(weights[0])
    if bias:
        generated.eca_bias.assign(weights[1])
    np.testing.assert_allclose(np.asarray(generated(x)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize(("kernel", "bias"), [(3, False), (5, True), (9, False)])
def test_the_pytorch_export_is_conv1d_over_the_channels(kernel: int, bias: bool) -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    x = np.random.default_rng(0).normal(size=(2, 4, 5, 6))
    module = build_module(plan_torch(analysed(_spec(kernel, bias)))).double()
    conv = module.eca
    expected = _reference(x, conv.weight.detach().numpy()[0, 0], float(conv.bias[0]) if bias else 0.0)
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    np.testing.assert_allclose(module(nchw).detach().numpy(), expected.transpose(0, 3, 1, 2), rtol=1e-9)
    # PyTorch's own conv1d over each position's channels: the reference is its definition.
    steps = nchw.permute(0, 2, 3, 1).reshape(-1, 1, 6)
    native = torch.nn.functional.conv1d(steps, conv.weight, conv.bias, padding=kernel // 2)
    np.testing.assert_allclose(native.reshape(2, 4, 5, 6).detach().numpy(), expected, rtol=1e-9)


@pytest.mark.tensorflow
def test_the_keras_import_reads_the_registered_layer_back(tmp_path: Path) -> None:
    optional.keras()
    from tests.test_keras_import_cli import keras_round_trip

    spec = {
        "input": [8, 8, 3],
        "layers": [
            {"type": "conv", "filters": 16, "kernel": 3, "name": "conv"},
            {"type": "global_pool", "name": "squeeze", "inputs": ["conv"]},
            {"type": "channel_conv", "kernel": 5, "bias": True, "name": "eca"},
            {"type": "activation", "kind": "sigmoid", "name": "gate"},
            {"type": "multiply", "inputs": ["conv", "gate"], "name": "excite"},
        ],
    }
    back = keras_round_trip(spec, tmp_path)
    eca = {layer["name"]: layer for layer in back["layers"]}["eca"]
    assert (eca["type"], eca["kernel"], eca["bias"]) == ("channel_conv", 5, True)
    assert analysed(back).total_params == analysed(spec).total_params == 16 * 27 + 16 + 6


ECA = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import validate


class Eca(nn.Module):
    \"\"\"timm's EcaModule: global average pooling, a 1-D conv across the channels, a sigmoid gate.\"\"\"

    def __init__(self, kernel):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x):
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = torch.sigmoid(self.conv(y)).view(x.shape[0], -1, 1, 1)
        return x * y.expand_as(x)


model = nn.Sequential(nn.Conv2d(3, 16, 3), Eca(5)).eval()
results = {"parameters": sum(p.numel() for p in model.parameters())}
for exporter, options in (("dynamo", {"dynamo": True}), ("torchscript", {"dynamo": False})):
    path = f"{sys.argv[1]}/eca.{exporter}.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 16, 16),), path, **options)
    facts = analyze(validate("m", read_onnx_file(path).spec))
    results[exporter] = [facts.total_params, [layer.spec.type for layer in facts.layers], str(facts.output_shape)]
print(json.dumps(results))
"""


def test_eca_as_both_pytorch_exporters_write_it(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(ECA, str(tmp_path))
    for exporter in ("dynamo", "torchscript"):
        total, kinds, output = outcome[exporter]
        assert total == outcome["parameters"] == 16 * 27 + 16 + 5, exporter
        assert kinds == ["conv", "global_pool", "channel_conv", "activation", "multiply"], (exporter, kinds)
        assert output == "14×14×16"
