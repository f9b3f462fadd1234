"""local_response_norm: shapes, counts and validation; a reference written from the definition (Caffe's, PyTorch's
and ONNX's: α divided by the size), which tf.nn.local_response_normalization and PyTorch's LocalResponseNorm
confirm, for every export; the Keras import of convcalc's registered layer; ONNX's LRN."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.loading import SpecError, validate
from tests import optional

SETTINGS = [
    {"size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 2},  # AlexNet's, in Caffe's convention
    {"size": 3, "alpha": 0.5, "beta": 0.5, "bias": 1},
    {"size": 7, "alpha": 2.0, "beta": 1.0, "bias": 0.5},  # wider than the depth: zeros past both ends
    {"size": 2**31 - 1, "alpha": 3e8, "beta": 0.5, "bias": 0.25},  # the widest: only the depth's worth is summed
]


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def _spec(settings: dict[str, Any], shape: list[int] | None = None) -> dict[str, Any]:
    return {"input": shape or [4, 5, 6], "layers": [{"type": "local_response_norm", **settings, "name": "lrn"}]}


def test_shape_counts_field_and_notation() -> None:
    spec = _spec({"size": 5, "alpha": 5e-4, "bias": 2})
    spec["layers"].insert(0, {"type": "conv", "filters": 6, "kernel": 3, "stride": 2, "name": "conv"})
    net = analysed({**spec, "input": [9, 9, 3]})
    conv, lrn = net.layers
    assert lrn.output_shape == conv.output_shape and str(lrn.output_shape) == "4×4×6"
    assert (lrn.params, lrn.macs) == (0, 0)
    assert (lrn.rf_rows, lrn.rf_cols) == (conv.rf_rows, conv.rf_cols)  # across channels only
    assert lrn.spec.notation(None) == "n=5 α=0.0005 β=0.75 k=2"
    assert lrn.spec.caption() == "lrn" and lrn.spec.is_nonlinear()
    defaults = analysed(_spec({})).layers[0].spec
    assert (defaults.size, defaults.alpha, defaults.beta, defaults.bias) == (5, 1e-4, 0.75, 1.0)  # PyTorch's


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"size": 4}, "layers[0].size: must be odd, a window centred on each channel (got 4)"),
        ({"size": 0}, "layers[0].size: must be ≥ 1 (got 0)"),
        ({"alpha": "big"}, "layers[0].alpha: must be a finite number (got 'big')"),
        ({"alpha": 10**400}, "layers[0].alpha: must be a finite number"),  # an int past float's range
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as raised:
        validate("spec.json", _spec(settings))
    assert message in str(raised.value)


def test_the_cli_refuses_an_even_size_with_exit_code_2(tmp_path: Path) -> None:
    from convcalc.cli import app
    from tests.test_keras_import_cli import runner

    path = tmp_path / "even.json"
    path.write_text(json.dumps(_spec({"size": 4})), encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert "even.json" in result.output and "size" in result.output and "must be odd" in result.output


def _batch(shape: list[int]) -> Any:
    np = optional.module("numpy", "pip install -e '.[tensorflow]'")
    return np.random.default_rng(0).normal(size=(2, *shape)).astype("float64")


def _reference(x: Any, settings: dict[str, Any]) -> Any:
    """b_c = a_c / (k + α/n · Σ a_j²)^β, j over the n channels centred on c (zeros past the ends), in float64; a
    window past the depth on both sides sums only those zeros more."""
    import numpy as np

    spec = analysed(_spec(settings, list(x.shape[1:]))).layers[0].spec
    depth = x.shape[-1]
    radius = min(spec.size // 2, depth)
    squares = np.pad(x**2, ((0, 0), (0, 0), (0, 0), (radius, radius)))
    total = sum(squares[..., offset : offset + depth] for offset in range(2 * radius + 1))
    return x / (spec.bias + spec.alpha / spec.size * total) ** spec.beta


@pytest.mark.tensorflow
@pytest.mark.parametrize("settings", SETTINGS)
def test_the_keras_and_tf_nn_exports_compute_the_definition_as_tensorflow_does(settings: dict[str, Any]) -> None:
    optional.keras()
    import numpy as np
    import tensorflow as tf

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = _batch([4, 5, 6])
    expected = _reference(x, settings)
    size = settings["size"]
    tf_nn = tf.nn.local_response_normalization(
        x.astype("float32"),
        depth_radius=min(size // 2, 6),  # past the depth: the same sums (TensorFlow's CPU kernel takes any radius)
        bias=settings["bias"],
        alpha=settings["alpha"] / size,
        beta=settings["beta"],
    )
    np.testing.assert_allclose(np.asarray(tf_nn), expected, rtol=2e-5, atol=1e-6)  # the reference is TensorFlow's
    plan = plan_export(analysed(_spec(settings)))
    x32 = x.astype("float32")
    np.testing.assert_allclose(np.asarray(build_model(plan)(x32)), expected, rtol=2e-5, atol=1e-6)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()(x32)
    np.testing.assert_allclose(np.asarray(generated), expected, rtol=2e-5, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("settings", SETTINGS)
def test_the_pytorch_export_is_local_response_norm(settings: dict[str, Any]) -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    x = _batch([4, 5, 6])
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    expected = _reference(x, settings).transpose(0, 3, 1, 2)
    if settings["size"] < 2 * 6:  # PyTorch pads size // 2 channels on each side: 2^30 of them would be 274 GB
        native = torch.nn.LocalResponseNorm(settings["size"], settings["alpha"], settings["beta"], settings["bias"])
        np.testing.assert_allclose(native(nchw).numpy(), expected, rtol=1e-9)  # the reference is PyTorch's
    module = build_module(plan_torch(analysed(_spec(settings)))).double()
    np.testing.assert_allclose(module(nchw).detach().numpy(), expected, rtol=1e-9)


@pytest.mark.tensorflow
def test_the_keras_import_reads_the_registered_layer_back(tmp_path: Path) -> None:
    optional.keras()
    from tests.test_keras_import_cli import keras_round_trip

    spec = {
        "input": [12, 12, 3],
        "layers": [
            {"type": "conv", "filters": 8, "kernel": 3, "name": "conv"},
            {"type": "relu", "name": "relu"},
            {"type": "local_response_norm", "size": 3, "alpha": 5e-4, "beta": 0.5, "bias": 2, "name": "norm"},
            {"type": "global_pool", "name": "gap"},
            {"type": "fc", "units": 4, "name": "fc"},
        ],
    }
    back = keras_round_trip(spec, tmp_path)
    norm = {layer["name"]: layer for layer in back["layers"]}["norm"]
    assert norm == {"type": "local_response_norm", "size": 3, "alpha": 5e-4, "beta": 0.5, "bias": 2, "name": "norm"}
    assert analysed(back).total_params == analysed(spec).total_params


def _lrn_model(tmp_path: Path, shape: list[int], **attributes: Any) -> str:
    from onnx import TensorProto, helper

    node = helper.make_node("LRN", ["x"], ["y"], name="norm1", **attributes)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "lrn.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    return str(path)


def test_onnx_lrn_as_the_caffe_models_of_the_zoo_write_it(tmp_path: Path) -> None:
    optional.onnx()
    from convcalc.importers.onnx import read_onnx_file

    spec = read_onnx_file(_lrn_model(tmp_path, [1, 96, 55, 55], size=5, alpha=1e-4, beta=0.75, bias=1.0)).spec
    assert spec["input"] == [55, 55, 96]
    assert spec["layers"] == [
        {"type": "local_response_norm", "size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 1.0, "name": "norm1"}
    ]
    defaults = read_onnx_file(_lrn_model(tmp_path, [1, 8, 4, 4], size=3)).spec["layers"][0]
    assert (defaults["alpha"], defaults["beta"], defaults["bias"]) == (1e-4, 0.75, 1.0)  # ONNX's defaults
    with pytest.raises(SpecError, match="node 'norm1' \\(LRN\\): size 4: convcalc's local_response_norm centres"):
        read_onnx_file(_lrn_model(tmp_path, [1, 8, 4, 4], size=4))
    with pytest.raises(SpecError, match="node 'norm1' \\(LRN\\): size 2199023255553: "):
        read_onnx_file(_lrn_model(tmp_path, [1, 8, 4, 4], size=2**41 + 1))
    with pytest.raises(SpecError, match="node 'norm1' \\(LRN\\): it has no size attribute, which LRN requires"):
        read_onnx_file(_lrn_model(tmp_path, [1, 8, 4, 4]))
    with pytest.raises(SpecError, match="node 'norm1' \\(LRN\\): reads a rank-2 tensor"):
        read_onnx_file(_lrn_model(tmp_path, [1, 8], size=3))


@pytest.mark.torch
def test_a_pytorch_module_with_local_response_norm_is_read_through_onnx() -> None:
    torch = optional.torch()
    optional.onnx()
    from convcalc import InvalidSpec, check

    nn = torch.nn
    norm = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    model = nn.Sequential(nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), norm, nn.MaxPool2d(3, 2))
    facts = check(model, input=(227, 227, 3)).checked.facts
    lrn = facts.layers[2]
    assert lrn.spec.type == "local_response_norm"
    assert (lrn.spec.size, lrn.spec.alpha, lrn.spec.beta, lrn.spec.bias) == (5, 1e-4, 0.75, 2.0)
    assert str(facts.output_shape) == "27×27×96"
    assert facts.total_params == sum(p.numel() for p in model.parameters())
    assert "forward" not in vars(norm), "the module is handed back as it came"
    x = torch.randn(1, 3, 227, 227)
    assert torch.equal(norm(x), torch.nn.functional.local_response_norm(x, 5, 1e-4, 0.75, 2.0))
    # Whole numbers as PyTorch allows them (an int alpha): the LRN node's attributes are floats all the same.
    whole = check(nn.Sequential(nn.Conv2d(3, 8, 3), nn.LocalResponseNorm(3, alpha=1, beta=1, k=2)), input=(8, 8, 3))
    assert whole.checked.facts.layers[1].spec.type == "local_response_norm"
    # An even size, which PyTorch centres one way and ONNX another, is left as PyTorch traces it: refused.
    with pytest.raises(InvalidSpec, match="node '"):
        check(nn.Sequential(nn.Conv2d(3, 8, 3), nn.LocalResponseNorm(4)), input=(16, 16, 3))


def test_a_caffe_converted_model_of_the_onnx_zoo_imports(tmp_path: Path) -> None:
    # As Caffe2's converter wrote bvlc_alexnet and its kin: IR version 3, opset 8, every initializer also
    # listed as a graph input, LRN after the ReLU, a Reshape to (1, C·H·W), Dropout and Softmax at the end.
    optional.onnx()
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from convcalc.importers.onnx import read_onnx_file

    inits = [
        numpy_helper.from_array(np.zeros(shape, dtype="float32"), name)
        for name, shape in (("w1", [16, 3, 5, 5]), ("b1", [16]), ("w2", [10, 16 * 6 * 6]), ("b2", [10]))
    ]
    inits.append(numpy_helper.from_array(np.array([1, 16 * 6 * 6], dtype="int64"), "shape"))
    nodes = [
        helper.make_node("Conv", ["data_0", "w1", "b1"], ["c1"], kernel_shape=[5, 5], strides=[2, 2], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("LRN", ["r1"], ["n1"], size=5, alpha=1e-4, beta=0.75, bias=1.0, name="norm1"),
        helper.make_node("MaxPool", ["n1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], name="pool1"),
        helper.make_node("Reshape", ["p1", "shape"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["fc"], transB=1, name="fc"),
        helper.make_node("Dropout", ["fc"], ["d"], ratio=0.5, name="drop"),
        helper.make_node("Softmax", ["d"], ["prob_1"], name="prob"),
    ]
    inputs = [helper.make_tensor_value_info("data_0", TensorProto.FLOAT, [1, 3, 31, 31])]
    inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    outputs = [helper.make_tensor_value_info("prob_1", TensorProto.FLOAT, [1, 10])]
    graph = helper.make_graph(nodes, "caffe", inputs, outputs, initializer=inits)
    path = tmp_path / "caffe.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)], ir_version=3)
    path.write_bytes(model.SerializeToString())
    spec = read_onnx_file(str(path)).spec
    assert [layer["type"] for layer in spec["layers"]] == [
        "conv",
        "relu",
        "local_response_norm",
        "pool",
        "flatten",
        "fc",
        "dropout",
        "activation",
    ]
    net = analysed(spec)
    assert str(net.layers[3].output_shape) == "6×6×16"
    assert net.total_params == 16 * 3 * 5 * 5 + 16 + 10 * 576 + 10


def test_a_keras_layer_of_the_name_but_not_convcalcs_is_refused() -> None:
    # A tf.keras 2 tutorial's own LocalResponseNormalization (depth_radius in tf.nn's convention) carries no
    # registration: its settings mean what its code says, which convcalc does not run.
    from convcalc.importers.keras import spec_from_keras_config

    layer = {
        "class_name": "LocalResponseNormalization",
        "config": {"name": "lrn", "depth_radius": 2, "alpha": 1e-4, "beta": 0.75, "bias": 1.0},
    }
    model = {
        "class_name": "Sequential",
        "config": {"name": "m", "layers": [layer], "build_input_shape": [None, 8, 8, 3]},
    }
    with pytest.raises(SpecError, match="layer 'lrn' \\(LocalResponseNormalization\\): a custom layer with the name"):
        spec_from_keras_config(model)
