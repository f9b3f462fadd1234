"""layer_norm over the volume ("over": "volume"): all H·W·D values of an example to mean 0 and variance 1, γ and
β per value (PyTorch's LayerNorm([C, H, W]), a WGAN-GP critic's; Keras's LayerNormalization(axis=[1, 2, 3])).
Counts by hand; the Keras, tf.nn and PyTorch exports against numpy's definition; the Keras import of axis
[1, 2, 3]; PyTorch's LayerNorm([C, H, W]) through both ONNX exporters, and other axes refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convcalc.loading import SpecError
from tests import optional
from tests.helpers import analyze_spec, exported_by_pytorch, spec_findings

EPSILON = 1e-3  # Keras's LayerNormalization default, which the exports use


def _spec(**norm: Any) -> dict[str, Any]:
    layers = [
        {"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": 1, "name": "conv"},
        {"type": "layer_norm", "over": "volume", "name": "norm", **norm},
    ]
    return {"input": [10, 8, 3], "layers": layers}


@pytest.mark.parametrize(
    ("flags", "weights", "biases", "notation"),
    [({}, 80, 80, "γ β over H×W×D"), ({"center": False}, 80, 0, "γ over H×W×D"), ({"scale": False}, 0, 80, "β")],
)
def test_gamma_and_beta_per_value(flags: dict[str, Any], weights: int, biases: int, notation: str) -> None:
    norm = analyze_spec(_spec(**flags)).layers[1]
    assert str(norm.output_shape) == "5×4×4" and (norm.weights, norm.biases) == (weights, biases)
    assert norm.spec.notation(None).startswith(notation) and norm.spec.is_nonlinear()
    depth = analyze_spec({**_spec(), "layers": [_spec()["layers"][0], {"type": "layer_norm"}]}).layers[1]
    assert (depth.weights, depth.spec.notation(None)) == (4, "γ β over D")  # the default: over the depth


def test_over_is_validated_by_name() -> None:
    with pytest.raises(SpecError, match=r"layers\[1\]\.over"):
        analyze_spec(_spec(over="width"))


def test_a_critic_with_it_has_no_findings_about_it() -> None:
    spec = _spec()
    spec["layers"] += [{"type": "activation", "kind": "leaky_relu"}, {"type": "flatten"}, {"type": "fc", "units": 1}]
    assert [f.code for f in spec_findings(spec) if f.layer == 1] == []


def _reference(x: Any, gamma: Any, beta: Any) -> Any:
    """numpy's definition: each example's H·W·D values by their own mean and (biased) variance."""
    import numpy as np

    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    variance = x.var(axis=(1, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(variance + EPSILON) * gamma + beta


def _batch(shape: tuple[int, ...]) -> Any:
    np = optional.module("numpy", "pip install -e '.[tensorflow]'")
    return np.random.default_rng(0).normal(2.0, 3.0, size=(2, *shape)).astype("float32")


@pytest.mark.tensorflow
def test_the_keras_and_tf_nn_exports_normalise_every_value_of_an_example() -> None:
    keras = optional.keras()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = _batch((10, 8, 3))
    plan = plan_export(analyze_spec(_spec()))
    model = build_model(plan)
    norm = model.get_layer("norm")
    assert norm.gamma.shape == (5, 4, 4) and model.count_params() == 112 + 160
    rng = np.random.default_rng(1)
    gamma, beta = (rng.normal(size=(5, 4, 4)).astype("float32") for _ in range(2))
    norm.set_weights([gamma, beta])
    conv = np.asarray(keras.Model(model.inputs, model.get_layer("conv").output)(x))
    expected = _reference(conv, gamma, beta)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-4, atol=1e-4)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    generated.conv_kernel.assign(model.get_layer("conv").kernel)
    generated.conv_bias.assign(model.get_layer("conv").bias)
    generated.norm_gamma.assign(gamma)
    generated.norm_beta.assign(beta)
    np.testing.assert_allclose(np.asarray(generated(x)), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.torch
def test_the_pytorch_export_is_pytorch_s_own_layer_norm_over_c_h_w() -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    module = build_module(plan_torch(analyze_spec(_spec())))
    assert isinstance(module.norm, torch.nn.LayerNorm) and tuple(module.norm.weight.shape) == (4, 5, 4)
    with torch.no_grad():
        module.norm.weight.normal_()
        module.norm.bias.normal_()
        x = torch.from_numpy(_batch((10, 8, 3)).transpose(0, 3, 1, 2).copy())
        conv = module.conv(x).numpy()
        gamma, beta = module.norm.weight.numpy(), module.norm.bias.numpy()
        expected = _reference(conv.transpose(0, 2, 3, 1), gamma.transpose(1, 2, 0), beta.transpose(1, 2, 0))
        np.testing.assert_allclose(module(x).numpy(), expected.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-4)


@pytest.mark.tensorflow
def test_the_keras_import_reads_axis_1_2_3_as_over_the_volume() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    inputs = keras.Input((10, 8, 3))
    conv = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(inputs)
    normed = keras.layers.LayerNormalization(axis=[1, 2, 3], center=False, name="norm")(conv)
    outputs = keras.layers.LayerNormalization(axis=[-3, -2, -1], name="again")(normed)
    model = keras.Model(inputs, outputs)
    spec = spec_from_keras_config(json.loads(model.to_json()))
    by_name = {layer["name"]: layer for layer in spec["layers"]}
    assert by_name["norm"] == {"type": "layer_norm", "over": "volume", "center": False, "name": "norm"}
    assert by_name["again"]["over"] == "volume"
    assert analyze_spec(spec).total_params == model.count_params()
    sideways = keras.Model(inputs, keras.layers.LayerNormalization(axis=[1, 2], name="hw")(conv))
    with pytest.raises(SpecError, match="layer 'hw' \\(LayerNormalization\\): axis \\[1, 2\\]"):
        spec_from_keras_config(json.loads(sideways.to_json()))
    keras.backend.clear_session()


CRITIC = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import validate

# A WGAN-GP critic: LayerNorm over C, H and W where a batchnorm would break the gradient penalty; γ and β
# learned, or not (elementwise_affine=False, bias=False), over the volume and over a vector.
results = {}
for affine in ("both", "neither", "no bias"):
    flags = {"neither": {"elementwise_affine": False}, "no bias": {"bias": False}}.get(affine, {})
    model = nn.Sequential(
        nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(8, 16, 4, 2, 1), nn.LayerNorm([16, 4, 4], **flags), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 8), nn.LayerNorm([8], **flags), nn.Linear(8, 1),
    ).eval()
    results[affine] = {"parameters": sum(p.numel() for p in model.parameters())}
    for exporter, options in (("dynamo", {"dynamo": True}), ("torchscript", {"dynamo": False})):
        path = f"{sys.argv[1]}/critic.{exporter}.onnx"
        torch.onnx.export(model, (torch.zeros(1, 3, 16, 16),), path, **options)
        spec = read_onnx_file(path).spec
        facts = analyze(validate("m", spec))
        norms = [layer for layer in spec["layers"] if layer["type"] == "layer_norm"]
        results[affine][exporter] = [facts.total_params, [norm.get("over") for norm in norms]]
print(json.dumps(results))
"""


def test_pytorch_layer_norm_over_c_h_w_through_both_exporters(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(CRITIC, str(tmp_path))
    for affine, results in outcome.items():  # γ and β as PyTorch has them: the stand-ins an export writes are none
        for exporter in ("dynamo", "torchscript"):
            assert results[exporter] == [results["parameters"], ["volume", None]], (affine, exporter, results)


@pytest.mark.parametrize(("axis", "refused"), [(1, False), (-3, False), (2, True)])
def test_onnx_layer_normalization_from_axis_1_of_an_nchw_volume(tmp_path: Path, axis: int, refused: bool) -> None:
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file

    dims = [4, 6, 5][axis - 1 if axis > 0 else axis :]
    size = 1
    for dim in dims:
        size *= dim
    node = helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], name="norm", axis=axis)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor(name, TensorProto.FLOAT, dims, [1.0] * size) for name in ("g", "b")],
    )
    path = tmp_path / "norm.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    if refused:
        with pytest.raises(SpecError, match=f"node 'norm' \\(LayerNormalization\\): normalises from axis {axis}"):
            read_onnx_file(str(path))
        return
    spec = read_onnx_file(str(path)).spec
    assert spec["layers"] == [{"type": "layer_norm", "over": "volume", "name": "norm"}]
    assert analyze_spec(spec).total_params == 2 * 4 * 6 * 5
