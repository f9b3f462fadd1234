"""scale: a learned γ per channel (ConvNeXt's layer scale) or one for the whole tensor (NFNet's skip-init gain),
with a β of γ's size when centred (HGNetV2's learnable affine block); its counts; every export computing x·γ + β
with the same weights; the Keras import of both Keras layers; the PyTorch modules as both exporters write them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.loading import SpecError, validate
from tests import optional
from tests.helpers import exported_by_pytorch

VARIANTS = [
    ({}, 6, 0),
    ({"gammas": "one"}, 1, 0),
    ({"gammas": "one", "center": True}, 1, 1),
    ({"center": True}, 6, 6),
]


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def _spec(variant: dict[str, Any], shape: list[int] | None = None) -> dict[str, Any]:
    return {"input": shape or [4, 5, 6], "layers": [{"type": "scale", "init": 0.5, **variant, "name": "scale"}]}


@pytest.mark.parametrize(("variant", "weights", "biases"), VARIANTS)
def test_counts_and_notation(variant: dict[str, Any], weights: int, biases: int) -> None:
    scale = analysed(_spec(variant)).layers[0]
    assert (scale.weights, scale.biases, scale.macs, str(scale.output_shape)) == (weights, biases, 0, "4×5×6")
    notation = scale.spec.notation(None)
    assert ("one" in notation) == (weights == 1) and ("β" in notation) == bool(biases)


def test_other_gammas_are_refused_by_name() -> None:
    with pytest.raises(SpecError, match=r"layers\[0\]\.gammas"):
        validate("spec.json", _spec({"gammas": "position"}))


def _random(shape: tuple[int, ...], seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.tensorflow
@pytest.mark.parametrize(("variant", "weights", "biases"), VARIANTS)
def test_the_keras_and_tf_nn_exports_compute_x_gamma_plus_beta(
    variant: dict[str, Any], weights: int, biases: int
) -> None:
    optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = _random((2, 4, 5, 6), 0)
    plan = plan_export(analysed(_spec(variant)))
    model = build_model(plan)
    layer = model.get_layer("scale")
    assert type(layer).__name__ == ("LayerScale" if not variant else "LearnedAffine")
    assert [tuple(w.shape) for w in layer.get_weights()] == [(weights,)] + [(biases,)] * (biases > 0)
    gamma, beta = _random((weights,), 1), _random((biases,), 2) if biases else np.zeros(1, "float32")
    initial = [np.asarray(w) for w in layer.get_weights()]
    np.testing.assert_allclose(initial[0], np.full(weights, 0.5))  # init
    layer.set_weights([gamma, beta] if biases else [gamma])
    expected = x * gamma + beta
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-6, atol=1e-6)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    variables = {v.name.split(":")[0]: v for v in generated.trainable_variables}
    assert sum(int(np.prod(v.shape)) for v in variables.values()) == weights + biases
    next(v for name, v in variables.items() if name.endswith(("gamma", "variable"))).assign(gamma)
    if biases:
        variables["scale_beta"].assign(beta)
    np.testing.assert_allclose(np.asarray(generated(x)), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize(("variant", "weights", "biases"), VARIANTS)
def test_the_pytorch_export_computes_x_gamma_plus_beta(variant: dict[str, Any], weights: int, biases: int) -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    module = build_module(plan_torch(analysed(_spec(variant)))).double()
    assert sum(p.numel() for p in module.parameters()) == weights + biases
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.from_numpy(_random(tuple(parameter.shape), parameter.numel())))
    scale = module.scale
    gamma = scale.gamma.detach().numpy()
    beta = scale.beta.detach().numpy() if biases else np.zeros(1)
    x = np.random.default_rng(0).normal(size=(2, 6, 4, 5))
    expected = x * gamma.reshape(-1, 1, 1) + beta.reshape(-1, 1, 1)
    np.testing.assert_allclose(module(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-9)


@pytest.mark.tensorflow
def test_the_keras_import_reads_both_keras_layers_back(tmp_path: Path) -> None:
    optional.keras()
    from tests.test_keras_import_cli import keras_round_trip

    layers: list[dict[str, Any]] = [{"type": "conv", "filters": 6, "kernel": 3, "name": "conv"}]
    for k, (variant, _, _) in enumerate(VARIANTS):
        layers.append({"type": "scale", "init": 0.25 * (k + 1), **variant, "name": f"scale{k}"})
    layers += [{"type": "global_pool"}, {"type": "scale", "init": 2.0, "gammas": "one", "center": True, "name": "flat"}]
    spec = {"input": [8, 8, 3], "layers": layers}
    back = {layer["name"]: layer for layer in keras_round_trip(spec, tmp_path)["layers"]}
    for layer in layers:
        if layer["type"] == "scale":
            read = back[layer["name"]]
            assert read["init"] == layer["init"]
            assert (read.get("gammas", "channel"), read.get("center", False)) == (
                layer.get("gammas", "channel"),
                layer.get("center", False),
            )
    assert analysed({**spec, "layers": list(back.values())}).total_params == analysed(spec).total_params


AFFINE = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc import check
from tests.helpers import imported_three_ways


class LearnableAffineBlock(nn.Module):
    # timm's HGNetV2: one learned scale and one learned bias for the whole tensor.
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.0]))
        self.bias = nn.Parameter(torch.tensor([0.0]))

    def forward(self, x):
        return self.scale * x + self.bias


class SkipInit(nn.Module):
    # timm's NFNet block: the residual branch times a learned scalar that starts at zero.
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.skipinit_gain = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        return x + self.conv(x) * self.skipinit_gain


model = nn.Sequential(nn.Conv2d(3, 8, 3), LearnableAffineBlock(), nn.ReLU(), SkipInit()).eval()
results = {"parameters": sum(p.numel() for p in model.parameters())}
for exporter, spec, facts in imported_three_ways(model, torch.zeros(1, 3, 10, 10), sys.argv[1], "affine"):
    scales = [layer for layer in spec["layers"] if layer["type"] == "scale"]
    results[exporter] = {
        "scales": [[layer.get("gammas"), layer.get("center", False)] for layer in scales],
        "trainable": facts.total_trainable_params,
    }
results["module"] = check(model, input=(10, 10, 3)).checked.facts.total_trainable_params
print(json.dumps(results))
"""


def test_learned_scalars_as_pytorch_exports_them(tmp_path: Path) -> None:
    results = exported_by_pytorch(AFFINE, str(tmp_path))
    assert results["parameters"] == 224 + 2 + 584 + 1
    for exporter in ("default", "dynamo", "torchscript"):
        result = results[exporter]
        assert result["scales"] == [["one", True], ["one", False]], result
        assert result["trainable"] == results["parameters"], result
    assert results["module"] == results["parameters"]
