"""attention_pool: GCNet's global context; shapes, counts, MACs and CC117; a reference written from the definition,
which timm's own formula confirms, for every export; the Keras import of convcalc's registered layer; timm's
GlobalContext as both PyTorch exporters write it (its context added at every position read as an upsample of the
1×1 vector and an add), and what the rules make of the block: no CC303 through the broadcast sum, and the sum on its
volume's grid (no CC309 at the residual add after it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.loading import validate
from tests import optional
from tests.helpers import exported_by_pytorch, spec_findings


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def _spec(heads: int = 1, depth: int = 8, shape: tuple[int, int] = (6, 5)) -> dict[str, Any]:
    """Attention pooling of the input by a 1×1 conv's ``heads`` scores."""
    return {
        "input": [*shape, depth],
        "layers": [
            {"type": "conv", "filters": heads, "kernel": 1, "name": "scores"},
            {"type": "attention_pool", "inputs": ["input", "scores"], "name": "context"},
        ],
    }


def _gc_block(fused: str = "add") -> dict[str, Any]:
    """A ResNet bottleneck's last conv after GCNet's block, its context transform added at every position."""
    layers = [
        {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "name": "conv2"},
        {"type": "relu", "name": "act2"},
        {"type": "conv", "filters": 1, "kernel": 1, "name": "scores"},
        {"type": "attention_pool", "inputs": ["act2", "scores"], "name": "context"},
        {"type": "conv", "filters": 2, "kernel": 1, "name": "reduce"},
        {"type": "layer_norm"},
        {"type": "relu"},
        {"type": "conv", "filters": 8, "kernel": 1, "name": "expand"},
        {"type": "upsample", "factor": [6, 6], "name": "broadcast"},
    ]
    if fused == "add":
        layers.append({"type": "add", "inputs": ["act2", "broadcast"], "name": "fused"})
    layers += [
        {"type": "conv", "filters": 8, "kernel": 1, "name": "conv3"},
        {"type": "add", "inputs": ["input", "conv3"], "name": "residual"},
        {"type": "relu", "name": "out"},
    ]
    return {"input": [6, 6, 8], "layers": layers}


def test_shape_counts_macs_and_field() -> None:
    facts = analysed(_spec(heads=2))
    context = facts.layers[-1]
    assert str(context.output_shape) == "1×1×8"
    assert (context.params, context.macs) == (0, 6 * 5 * 8)  # the weighted sum: a multiply-add per value
    assert context.spec.notation(None) == "softmax over H×W" and context.spec.is_nonlinear()
    assert (context.rf_rows.size, context.rf_cols.size) == (6, 5)  # the whole input


def test_scores_that_do_not_fit_are_cc117_with_the_fix() -> None:
    [finding] = [f for f in spec_findings(_spec(heads=3)) if f.code == "CC117"]
    assert "3 heads do not divide the features' depth 8" in finding.message
    assert [fix.set for fix in finding.fixes] == [{"filters": 1}]
    assert not [f for f in spec_findings(_spec(heads=4)) if f.code == "CC117"]
    strided = _spec()
    strided["layers"][0]["stride"] = 2
    [finding] = [f for f in spec_findings(strided) if f.code == "CC117"]
    assert "not at the features' 6×5" in finding.message and not finding.fixes


def test_the_context_block_is_no_missing_nonlinearity_nor_a_misaligned_sum() -> None:
    codes = {f.code for f in spec_findings(_gc_block())}
    assert "CC303" not in codes and "CC309" not in codes
    facts = analysed(_gc_block())
    fused = next(layer for layer in facts.layers if layer.name == "fused")
    act2 = next(layer for layer in facts.layers if layer.name == "act2")
    # The sum keeps its volume's grid; the context widens the field to the whole input.
    assert (fused.rf_rows.jump, fused.rf_rows.start) == (act2.rf_rows.jump, act2.rf_rows.start)
    assert fused.rf_rows.size > act2.rf_rows.size
    # Without the add, the broadcast context feeds conv3 alone: expand and conv3 do collapse.
    [finding] = [f for f in spec_findings(_gc_block(fused="none")) if f.code == "CC303"]
    assert "expand" in finding.message


def _reference(features: Any, scores: Any) -> Any:
    """out[c] = Σ_p softmax_p(s[p, head of c])·x[p, c], channel c in head c·k // C."""
    import numpy as np

    n, height, width, depth = features.shape
    heads = scores.shape[-1]
    s = scores.reshape(n, height * width, heads)
    weights = np.exp(s - s.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    values = features.reshape(n, height * width, heads, depth // heads)
    return (values * weights[..., None]).sum(axis=1).reshape(n, 1, 1, depth)


@pytest.mark.tensorflow
@pytest.mark.parametrize("heads", [1, 2, 8])
def test_the_keras_and_tf_nn_exports_pool_by_attention(heads: int) -> None:
    optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = np.random.default_rng(0).normal(size=(2, 6, 5, 8)).astype("float32")
    plan = plan_export(analysed(_spec(heads)))
    model = build_model(plan)
    layer = model.get_layer("scores")
    weights = [np.random.default_rng(1).normal(size=np.shape(w)).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    expected = _reference(x, x @ weights[0].reshape(8, heads) + weights[1])
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-5)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    generated.scores_kernel.assign(weights[0])
    generated.scores_bias.assign(weights[1])
    np.testing.assert_allclose(np.asarray(generated(x)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("heads", [1, 2, 8])
def test_the_pytorch_export_is_timms_global_context(heads: int) -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    x = np.random.default_rng(0).normal(size=(2, 6, 5, 8))
    module = build_module(plan_torch(analysed(_spec(heads)))).double()
    kernel = module.scores.weight.detach().numpy().reshape(heads, 8).T
    scores = x @ kernel + module.scores.bias.detach().numpy()
    expected = _reference(x, scores).transpose(0, 3, 1, 2)
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    np.testing.assert_allclose(module(nchw).detach().numpy(), expected, rtol=1e-9)
    if heads == 1:  # timm's GlobalContext on the same scores: the reference is its definition
        attn = torch.softmax(torch.from_numpy(scores.transpose(0, 3, 1, 2)).reshape(2, 1, 30), dim=-1).unsqueeze(3)
        context = (nchw.reshape(2, 8, 30).unsqueeze(1) @ attn).view(2, 8, 1, 1)
        np.testing.assert_allclose(context.numpy(), expected, rtol=1e-9)


@pytest.mark.tensorflow
def test_the_keras_import_reads_the_registered_layer_back(tmp_path: Path) -> None:
    optional.keras()
    from tests.test_keras_import_cli import keras_round_trip

    spec = _spec(heads=2)
    back = keras_round_trip(spec, tmp_path)
    context = {layer["name"]: layer for layer in back["layers"]}["context"]
    assert (context["type"], context["inputs"]) == ("attention_pool", ["input", "scores"])
    assert analysed(back).total_params == analysed(spec).total_params == 8 * 2 + 2


GLOBAL_CONTEXT = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc.checking import check_loaded
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import LoadedSpec, SourceMap, SpecError, validate


class GlobalContext(nn.Module):
    \"\"\"timm's GlobalContext with fuse_add, as gcresnet uses it, after a bottleneck's 3×3, before its last 1×1.\"\"\"

    def __init__(self, channels, axis=-1):
        super().__init__()
        self.conv_attn = nn.Conv2d(channels, 1, 1)
        self.fc1 = nn.Conv2d(channels, 4, 1)
        self.norm = nn.LayerNorm(4)
        self.fc2 = nn.Conv2d(4, channels, 1)
        self.axis = axis

    def forward(self, x):
        b, c, h, w = x.shape
        attn = torch.softmax(self.conv_attn(x).reshape(b, 1, h * w), dim=self.axis).unsqueeze(3)
        context = (x.reshape(b, c, h * w).unsqueeze(1) @ attn).view(b, c, 1, 1)
        context = self.fc1(context)
        context = self.norm(context.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.fc2(torch.relu(context))


class Block(nn.Module):
    def __init__(self, axis=-1):
        super().__init__()
        self.conv2 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.attn = GlobalContext(16, axis)
        self.conv3 = nn.Sequential(nn.Conv2d(16, 16, 1), nn.BatchNorm2d(16))

    def forward(self, x):
        return torch.relu(x + self.conv3(self.attn(self.conv2(x))))


results = {}
for name, model in {"gc": Block(), "softmax_over_one": Block(axis=1)}.items():
    model.eval()
    parameters = sum(p.numel() for p in model.parameters())
    exporters = {
        "dynamo": {"dynamo": True, "optimize": False},
        "torchscript": {"dynamo": False, "do_constant_folding": False},
    }
    for exporter, options in exporters.items():
        path = f"{sys.argv[1]}/{name}.{exporter}.onnx"
        torch.onnx.export(model, (torch.randn(1, 16, 8, 6),), path, **options)
        try:
            spec = read_onnx_file(path).spec
        except SpecError as error:
            results[f"{name}.{exporter}"] = {"refused": str(error)}
            continue
        checked = check_loaded(LoadedSpec("m", validate("m", spec), SourceMap()))
        results[f"{name}.{exporter}"] = {
            "parameters": parameters,
            "trainable": checked.facts.total_trainable_params,
            "kinds": [layer["type"] for layer in spec["layers"]],
            "codes": sorted({finding.code for finding in checked.findings}),
            "output": str(checked.facts.output_shape),
        }
print(json.dumps(results))
"""


def test_timms_global_context_as_both_pytorch_exporters_write_it(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(GLOBAL_CONTEXT, str(tmp_path))
    for exporter in ("dynamo", "torchscript"):
        imported = outcome[f"gc.{exporter}"]
        assert imported["trainable"] == imported["parameters"], exporter
        assert imported["output"] == "8×6×16", exporter
        kinds = imported["kinds"]
        context = kinds.index("attention_pool")
        assert kinds[context - 1 : context + 1] == ["conv", "attention_pool"], kinds
        # The context added at every position: its 1×1 vector upsampled to the volume's 8×6, then an add.
        assert kinds[kinds.index("upsample") + 1] == "add", kinds
        assert "CC303" not in imported["codes"] and "CC309" not in imported["codes"], (exporter, imported["codes"])
        # A softmax over the one score channel (all ones) instead of the positions: another function, refused.
        assert "MatMul" in outcome[f"softmax_over_one.{exporter}"]["refused"], exporter


def test_a_context_block_on_the_network_input_is_no_missing_nonlinearity() -> None:
    spec = _gc_block()
    for layer in spec["layers"]:  # the block reads the input itself, not a ReLU's output
        layer["inputs"] = ["input" if name == "act2" else name for name in layer.get("inputs", [])] or None
        if layer["inputs"] is None:
            del layer["inputs"]
    spec["layers"] = [layer for layer in spec["layers"] if layer.get("name") not in ("conv2", "act2")]
    spec["layers"][0]["inputs"] = ["input"]
    assert "CC303" not in {f.code for f in spec_findings(spec)}


def test_a_context_added_after_a_half_pixel_upsampling_keeps_the_sum_aligned() -> None:
    # FPN's top-down sum (a coarse map upsampled, plus a lateral 1×1), a context block on it, then a merge with a
    # branch of the input: the upsampling's half-pixel shift is judged through the context's sum too.
    layers = [
        {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "padding": 1, "name": "c5"},
        {"type": "relu"},
        {"type": "upsample", "factor": 2, "interpolation": "bilinear", "name": "up"},
        {"type": "conv", "filters": 8, "kernel": 1, "name": "lateral", "inputs": ["input"]},
        {"type": "add", "inputs": ["up", "lateral"], "name": "top_down"},
        {"type": "conv", "filters": 1, "kernel": 1, "name": "scores"},
        {"type": "attention_pool", "inputs": ["top_down", "scores"], "name": "context"},
        {"type": "conv", "filters": 8, "kernel": 1, "name": "transform"},
        {"type": "upsample", "factor": 32, "name": "broadcast"},
        {"type": "add", "inputs": ["top_down", "broadcast"], "name": "with_context"},
        {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "name": "smooth"},
        {"type": "relu", "name": "smoothed"},
        {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "name": "branch", "inputs": ["input"]},
        {"type": "relu", "name": "branched"},
        {"type": "add", "inputs": ["smoothed", "branched"], "name": "merged"},
    ]
    assert "CC309" not in {f.code for f in spec_findings({"input": [32, 32, 8], "layers": layers})}


@pytest.mark.tensorflow
def test_a_keras_layer_whose_heads_are_not_its_scores_depth_is_refused(tmp_path: Path) -> None:
    keras = optional.keras()
    from convcalc.export.runtime import custom_layer_class
    from tests.test_keras_import import refused

    inputs = keras.Input((6, 5, 8))
    scores = keras.layers.Conv2D(2, 1, name="scores")(inputs)
    pooled = custom_layer_class("AttentionPooling2D")(heads=1, name="context")([inputs, scores])
    path = tmp_path / "heads.keras"
    keras.Model(inputs, pooled).save(path)
    assert "layer 'context' (AttentionPooling2D): heads 1 on scores of depth 2" in refused(path)
