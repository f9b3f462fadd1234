"""subtract: a − b of two volumes of one shape (PoolFormer's pool(x) − x); CC105 where the shapes differ; exactly
two inputs; the Keras, tf.nn and PyTorch exports compute a − b in that order (numpy the reference); the Keras
import of Subtract and the ONNX import of Sub of two layer outputs; PoolFormer's block as PyTorch exports it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.checking import check_loaded
from convcalc.loading import LoadedSpec, SourceMap, SpecError, validate
from tests import optional
from tests.helpers import exported_by_pytorch, pooled_then


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def _spec(stride: int = 1) -> dict[str, Any]:
    return {
        "input": [6, 6, 3],
        "layers": [
            {"type": "conv", "filters": 3, "kernel": 3, "stride": stride, "padding": 1, "name": "branch"},
            {"type": "subtract", "inputs": ["branch", "input"], "name": "difference"},
        ],
    }


def test_shape_counts_and_a_mismatch_is_cc105() -> None:
    net = analysed(_spec())
    difference = net.layers[1]
    assert str(difference.output_shape) == "6×6×3" and (difference.params, difference.macs) == (0, 0)
    assert difference.spec.merge_mark() == "minus" and not difference.spec.is_nonlinear()
    found = check_loaded(LoadedSpec("<t>", analysed(_spec(stride=2)).network, SourceMap())).findings
    (finding,) = [f for f in found if f.code == "CC105"]
    assert finding.message.startswith("subtract needs equal shapes but gets")


@pytest.mark.parametrize("inputs", [["input", "input", "input"], ["input"]])
def test_it_reads_exactly_two_inputs(inputs: list[str]) -> None:
    spec = {"input": [4, 4, 2], "layers": [{"type": "subtract", "inputs": inputs}]}
    with pytest.raises(SpecError, match=r"layers\[0\]\.inputs: subtract"):
        validate("spec.json", spec)


def _batch() -> Any:
    np = optional.module("numpy", "pip install -e '.[tensorflow]'")
    return np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")


@pytest.mark.tensorflow
def test_the_keras_and_tf_nn_exports_subtract_the_second_from_the_first() -> None:
    keras = optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = _batch()
    plan = plan_export(analysed(_spec()))
    model = build_model(plan)
    branch = keras.Model(model.inputs, model.get_layer("branch").output)(x)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(branch) - x, rtol=1e-6, atol=1e-6)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    weights = generated.branch_kernel, generated.branch_bias
    import tensorflow as tf

    conv = tf.nn.conv2d(x, weights[0], strides=1, padding=[[0, 0], [1, 1], [1, 1], [0, 0]]) + weights[1]
    np.testing.assert_allclose(np.asarray(generated(x)), np.asarray(conv) - x, rtol=1e-6, atol=1e-6)


@pytest.mark.torch
def test_the_pytorch_export_subtracts_the_second_from_the_first() -> None:
    torch = optional.torch()

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    x = torch.from_numpy(_batch().transpose(0, 3, 1, 2).copy())
    module = build_module(plan_torch(analysed(_spec())))
    assert torch.allclose(module(x), module.branch(x) - x)


@pytest.mark.tensorflow
def test_the_keras_import_reads_subtract_in_its_order() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    inputs = keras.Input((6, 6, 3))
    pooled = keras.layers.AveragePooling2D(3, strides=1, padding="same", name="pool")(inputs)
    outputs = keras.layers.Subtract(name="mixer")([pooled, inputs])
    spec = spec_from_keras_config(json.loads(keras.Model(inputs, outputs).to_json()))
    mixer = spec["layers"][-1]
    assert mixer["type"] == "subtract" and mixer["inputs"][0] == "pool"
    keras.backend.clear_session()


def test_onnx_sub_of_two_layer_outputs(tmp_path: Path) -> None:
    from convcalc.importers.onnx import read_onnx_file

    spec = read_onnx_file(pooled_then(tmp_path, "Sub", ["x"], "mixer")).spec
    assert spec["layers"][-1] == {"type": "subtract", "inputs": ["pool", "input"], "name": "mixer"}
    with pytest.raises(SpecError, match="node 'mixer' \\(Sub\\): subtracts a constant tensor"):
        read_onnx_file(pooled_then(tmp_path, "Sub", ["c"], "mixer"))


POOLFORMER = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import validate


class PoolFormerBlock(nn.Module):
    \"\"\"timm's MetaFormer block with pooling as token mixer: x + s1·(pool(n1(x)) − n1(x)), then an MLP of 1×1s.\"\"\"

    def __init__(self, dim):
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(1, dim), nn.GroupNorm(1, dim)
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.mlp = nn.Sequential(nn.Conv2d(dim, 4 * dim, 1), nn.GELU(), nn.Conv2d(4 * dim, dim, 1))
        self.scale1, self.scale2 = nn.Parameter(1e-5 * torch.ones(dim)), nn.Parameter(1e-5 * torch.ones(dim))

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.scale1.unsqueeze(-1).unsqueeze(-1) * (self.pool(y) - y)
        return x + self.scale2.unsqueeze(-1).unsqueeze(-1) * self.mlp(self.norm2(x))


model = nn.Sequential(nn.Conv2d(3, 16, 7, 4, 2), PoolFormerBlock(16)).eval()
results = {"parameters": sum(p.numel() for p in model.parameters())}
for exporter, options in (("dynamo", {"dynamo": True}), ("torchscript", {"dynamo": False})):
    path = f"{sys.argv[1]}/poolformer.{exporter}.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 64, 64),), path, **options)
    facts = analyze(validate("m", read_onnx_file(path).spec))
    results[exporter] = [facts.total_trainable_params, sorted({layer.spec.type for layer in facts.layers})]
print(json.dumps(results))
"""


def test_a_poolformer_block_as_pytorch_exports_it(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(POOLFORMER, str(tmp_path))
    for exporter in ("dynamo", "torchscript"):
        trainable, kinds = outcome[exporter]
        assert trainable == outcome["parameters"], exporter
        assert {"subtract", "group_norm", "scale", "add"} <= set(kinds), (exporter, kinds)
