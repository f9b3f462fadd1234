"""global_response_norm: ConvNeXt-V2's GRN; its counts; every export against the definition written out here in
NumPy; the Keras import of convcalc's registered layer; timm's module as PyTorch's exporters write it, channels
first and last."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.loading import validate
from tests import optional
from tests.helpers import exported_by_pytorch


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def _spec(epsilon: float = 1e-6) -> dict[str, Any]:
    return {"input": [4, 5, 6], "layers": [{"type": "global_response_norm", "epsilon": epsilon, "name": "grn"}]}


def _reference(x: Any, gamma: Any, beta: Any, epsilon: float) -> Any:
    """x + γ·(x·N(x)) on NHWC, N = each channel's L2 norm over H and W over the mean of the norms (+ ε)."""
    import numpy as np

    norms = np.sqrt((x.astype("float64") ** 2).sum(axis=(1, 2), keepdims=True))
    return x + gamma * (x * (norms / (norms.mean(axis=-1, keepdims=True) + epsilon))) + beta


def test_counts_notation_and_nonlinearity() -> None:
    grn = analysed(_spec()).layers[0]
    assert (grn.weights, grn.biases, grn.macs, str(grn.output_shape)) == (6, 6, 0, "4×5×6")
    assert grn.spec.notation(None) == "γ β ε=1e-06" and grn.spec.caption() == "grn"
    assert grn.spec.is_nonlinear()


def _random(shape: tuple[int, ...], seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.tensorflow
@pytest.mark.parametrize("epsilon", [1e-6, 0.5])
def test_the_keras_and_tf_nn_exports_compute_the_definition(epsilon: float) -> None:
    optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = _random((2, 4, 5, 6), 0)
    gamma, beta = _random((6,), 1), _random((6,), 2)
    plan = plan_export(analysed(_spec(epsilon)))
    model = build_model(plan)
    layer = model.get_layer("grn")
    assert [tuple(w.shape) for w in layer.get_weights()] == [(6,), (6,)]
    layer.set_weights([gamma, beta])
    expected = _reference(x, gamma, beta, epsilon)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-5)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    generated.grn_gamma.assign(gamma)
    generated.grn_beta.assign(beta)
    np.testing.assert_allclose(np.asarray(generated(x)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.torch
def test_the_pytorch_export_computes_the_definition() -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    module = build_module(plan_torch(analysed(_spec(0.5)))).double()
    assert sum(p.numel() for p in module.parameters()) == 12
    gamma, beta = _random((6,), 1).astype("float64"), _random((6,), 2).astype("float64")
    with torch.no_grad():
        module.grn.weight.copy_(torch.from_numpy(gamma))
        module.grn.bias.copy_(torch.from_numpy(beta))
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 6))
    out = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).detach().numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, _reference(x, gamma, beta, 0.5), rtol=1e-9)


@pytest.mark.tensorflow
def test_the_keras_import_reads_the_registered_layer_back(tmp_path: Path) -> None:
    optional.keras()
    from tests.test_keras_import_cli import keras_round_trip

    spec = {
        "input": [8, 8, 3],
        "layers": [
            {"type": "conv", "filters": 16, "kernel": 3, "name": "conv"},
            {"type": "global_response_norm", "epsilon": 0.001, "name": "grn"},
            {"type": "global_pool"},
            {"type": "fc", "units": 4},
        ],
    }
    back = keras_round_trip(spec, tmp_path)
    grn = {layer["name"]: layer for layer in back["layers"]}["grn"]
    assert (grn["type"], grn["epsilon"]) == ("global_response_norm", 0.001)
    assert analysed(back).total_params == analysed(spec).total_params == 16 * 27 + 16 + 32 + 16 * 4 + 4


GRN = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc import check
from tests.helpers import imported_three_ways


class GlobalResponseNorm(nn.Module):
    # timm.layers.GlobalResponseNorm (ConvNeXt-V2), channels first or last.
    def __init__(self, dim, eps=1e-6, channels_last=True):
        super().__init__()
        self.eps = eps
        self.spatial_dim, self.channel_dim = ((1, 2), -1) if channels_last else ((2, 3), 1)
        self.wb_shape = (1, 1, 1, -1) if channels_last else (1, -1, 1, 1)
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        x_g = x.norm(p=2, dim=self.spatial_dim, keepdim=True)
        x_n = x_g / (x_g.mean(dim=self.channel_dim, keepdim=True) + self.eps)
        return x + torch.addcmul(self.bias.view(self.wb_shape), self.weight.view(self.wb_shape), x * x_n)


class LastBlock(nn.Module):
    # ConvNeXt-V2's block with Linear layers: channels last between the permutes.
    def __init__(self, dim):
        super().__init__()
        self.norm, self.fc1 = nn.LayerNorm(dim), nn.Linear(dim, 4 * dim)
        self.grn, self.fc2 = GlobalResponseNorm(4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x):
        y = self.fc2(self.grn(nn.functional.gelu(self.fc1(self.norm(x.permute(0, 2, 3, 1))))))
        return x + y.permute(0, 3, 1, 2)


model = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 32, 1), nn.GELU(), GlobalResponseNorm(32, channels_last=False),
    nn.Conv2d(32, 8, 1), LastBlock(8),
).eval()
results = {"parameters": sum(p.numel() for p in model.parameters())}
for exporter, spec, facts in imported_three_ways(model, torch.zeros(1, 3, 8, 8), sys.argv[1], "grn"):
    results[exporter] = {
        "grn": [layer["epsilon"] for layer in spec["layers"] if layer["type"] == "global_response_norm"],
        "trainable": facts.total_trainable_params,
    }
results["module"] = check(model, input=(8, 8, 3)).checked.facts.total_trainable_params
print(json.dumps(results))
"""


def test_timm_s_global_response_norm_as_pytorch_exports_it(tmp_path: Path) -> None:
    results = exported_by_pytorch(GRN, str(tmp_path))
    parameters = results["parameters"]
    assert parameters == (224 + 288 + 64 + 264) + (16 + 288 + 64 + 264)  # each GRN: 2 × 32
    for exporter in ("default", "dynamo", "torchscript"):
        result = results[exporter]
        assert len(result["grn"]) == 2, result
        assert all(abs(epsilon - 1e-6) < 1e-12 for epsilon in result["grn"]), result
        assert result["trainable"] == parameters, result
    assert results["module"] == parameters
