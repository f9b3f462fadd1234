"""The activations Keras 3 and PyTorch share beyond the usual ones: softsign, log_sigmoid, the three shrinks, and
celu (α = 1: the elu); GELU's tanh approximation; a leaky_relu's slope. Each export computes Keras's function; the
Keras import reads Keras's names; the ONNX import reads ONNX's ops and PyTorch's spellings of them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from convcalc.loading import SpecError
from tests import optional
from tests.helpers import analyze_spec, exported_by_pytorch

NEW = ["softsign", "log_sigmoid", "hard_shrink", "soft_shrink", "tanh_shrink"]


def test_celu_is_read_as_the_elu_it_is() -> None:
    spec = {"input": [2, 2, 1], "layers": [{"type": "activation", "kind": "celu"}]}
    assert analyze_spec(spec).layers[0].spec.kind == "elu"


@pytest.mark.tensorflow
@pytest.mark.torch
@pytest.mark.parametrize("kind", NEW)
def test_the_pytorch_module_computes_keras_s_function(kind: str) -> None:
    keras = optional.keras()
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    # Values on both sides of the shrinks' threshold ½, none on it.
    x = np.linspace(-3.05, 3.05, 2 * 3 * 3 * 4).reshape(2, 3, 3, 4).astype("float32")
    expected = np.asarray(keras.layers.Activation(kind)(x))
    module = build_module(plan_torch(analyze_spec({"input": [3, 3, 4], "layers": [_layer(kind)]})))
    out = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).detach().numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    keras.backend.clear_session()


def _layer(kind: str) -> dict[str, Any]:
    return {"type": "activation", "kind": kind}


@pytest.mark.tensorflow
def test_the_keras_import_reads_keras_s_names() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    layers = [keras.layers.Activation(name) for name in [*NEW, "celu"]]
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(3, 3, activation="softsign"), *layers])
    kinds = [layer.get("kind") for layer in spec_from_keras_config(json.loads(model.to_json()))["layers"]]
    assert kinds == [None, "softsign", *NEW, "elu"]


# --- ONNX --------------------------------------------------------------------------------------------------


def _onnx_node(tmp_path: Path, op_type: str, **attributes: Any) -> list[dict[str, Any]]:
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file

    graph = helper.make_graph(
        [helper.make_node(op_type, ["x"], ["y"], name="f", **attributes)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / f"{op_type}.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    layers: list[dict[str, Any]] = read_onnx_file(str(path)).spec["layers"]
    return layers


@pytest.mark.parametrize(
    ("op_type", "attributes", "kind"),
    [
        ("Softsign", {}, "softsign"),
        ("Celu", {}, "elu"),
        ("Celu", {"alpha": 1.0}, "elu"),
        ("Shrink", {}, "hard_shrink"),
        ("Shrink", {"lambd": 0.5, "bias": 0.5}, "soft_shrink"),
    ],
)
def test_onnx_s_ops(tmp_path: Path, op_type: str, attributes: dict[str, Any], kind: str) -> None:
    assert _onnx_node(tmp_path, op_type, **attributes) == [{"type": "activation", "kind": kind, "name": "f"}]


@pytest.mark.parametrize(
    ("op_type", "attributes", "message"),
    [
        ("Celu", {"alpha": 2.0}, "alpha=2.0: convcalc's elu is the one with alpha=1.0"),
        ("Shrink", {"lambd": 1.0}, "lambd=1.0, bias=0.0: convcalc models the shrinks of threshold ½"),
    ],
)
def test_onnx_s_ops_with_other_constants_are_refused(
    tmp_path: Path, op_type: str, attributes: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        _onnx_node(tmp_path, op_type, **attributes)


ACTIVATION_EXPORTS = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from tests.helpers import exported_three_ways, imported_three_ways, refusal_of

model = nn.Sequential(
    nn.Conv2d(3, 4, 3), nn.Softsign(), nn.Conv2d(4, 4, 1), nn.LogSigmoid(), nn.CELU(), nn.Tanhshrink(),
    nn.LeakyReLU(), nn.LeakyReLU(0.1), nn.GELU(approximate="tanh"),
).eval()
results = {}
for exporter, spec, facts in imported_three_ways(model, torch.zeros(1, 3, 8, 8), sys.argv[1], "activations"):
    results[exporter] = [layer.get("kind", layer["type"]) + str(layer.get("slope", "")) for layer in spec["layers"]]
for exporter, path in exported_three_ways(nn.Sequential(nn.Hardshrink()).eval(), torch.zeros(1, 3, 8, 8),
                                          sys.argv[1], "hardshrink"):
    results[f"hardshrink {exporter}"] = refusal_of(path)
print(json.dumps(results))
"""


def test_pytorch_s_activations_as_its_exporters_write_them(tmp_path: Path) -> None:
    results = exported_by_pytorch(ACTIVATION_EXPORTS, str(tmp_path))
    for exporter in ("default", "dynamo", "torchscript"):
        # Tanhshrink is written x − tanh(x): a tanh, then a subtract of the two.
        expected = ["conv", "softsign", "conv", "log_sigmoid", "elu", "tanh", "subtract"]
        expected += ["leaky_relu0.01", "leaky_relu0.1", "gelu_tanh"]  # PyTorch's default slope, and one given
        assert results[exporter] == expected, (exporter, results[exporter])
        # Hardshrink is a Where of comparisons: refused by name, never read as something else.
        assert "convcalc cannot model" in results[f"hardshrink {exporter}"], results


@pytest.mark.parametrize("op_type", ["LogSigmoid", "GlobalResponseNormalization"])
def test_a_file_s_own_node_named_like_a_fused_pattern_is_refused(tmp_path: Path, op_type: str) -> None:
    # convcalc's names for patterns of real ops it fuses: no ONNX op has them, so a file's node of that name
    # is an op convcalc cannot model, and the list of ops it imports leaves them out.
    with pytest.raises(SpecError) as refused:
        _onnx_node(tmp_path, op_type)
    text = "\n".join(problem.message for problem in refused.value.problems)
    assert f"convcalc cannot model {op_type}" in text
    listed = text.split("convcalc imports these ONNX ops: ")[1]
    assert op_type not in listed.split(", ") and "Softsign" in listed.split(", ")


# --- a leaky_relu's slope ------------------------------------------------------------------------------------


def _leaky(slope: float | None) -> dict[str, Any]:
    layer: dict[str, Any] = {"type": "activation", "kind": "leaky_relu", "name": "leaky"}
    if slope is not None:
        layer["slope"] = slope
    return {"input": [3, 4, 2], "layers": [layer]}


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"type": "activation", "kind": "relu6", "slope": 0.1}, "slope is a leaky_relu's (this activation is relu6)"),
        ({"type": "activation", "kind": "leaky_relu", "slope": -0.1}, "a leaky_relu's slope must be ≥ 0"),
        ({"type": "activation", "kind": "leaky_relu", "slope": "0.1"}, "must be a finite number"),
    ],
)
def test_a_slope_belongs_to_a_leaky_relu_and_is_not_negative(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(f"layers[0].slope: {message}")):
        analyze_spec({"input": [2, 2, 1], "layers": [layer]})


def test_the_slope_shows_in_the_notation_and_changes_no_count() -> None:
    given, default = analyze_spec(_leaky(0.1)).layers[0], analyze_spec(_leaky(None)).layers[0]
    assert (given.spec.notation(None), default.spec.notation(None)) == ("leaky_relu slope=0.1", "leaky_relu")
    assert given.params == default.params == 0


@pytest.mark.tensorflow
@pytest.mark.torch
@pytest.mark.parametrize(("slope", "expected"), [(None, 0.2), (0.1, 0.1), (0.0, 0.0)])
def test_every_export_computes_max_x_slope_x(slope: float | None, expected: float) -> None:
    optional.keras()
    torch = optional.torch()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module
    from tests.export.test_differential import load_module

    x = np.random.default_rng(0).normal(size=(2, 3, 4, 2)).astype("float32")
    reference = np.where(x > 0, x, np.float32(expected) * x)
    facts = analyze_spec(_leaky(slope))
    plan = plan_export(facts)
    np.testing.assert_allclose(np.asarray(build_model(plan)(x)), reference, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(load_module(tfnn_source(plan), "generated_nn").Network()(x)), reference)
    with torch.no_grad():
        out = build_module(plan_torch(facts))(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(out.transpose(0, 2, 3, 1), reference, rtol=1e-6)


@pytest.mark.tensorflow
def test_the_keras_import_reads_each_layer_s_own_default_slope() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((4, 4, 2)),
            layers.Conv2D(3, 3, activation="leaky_relu"),  # the activation: 0.2
            layers.LeakyReLU(),  # the layer: 0.3
            layers.LeakyReLU(0.2),
            layers.ReLU(negative_slope=0.1),
        ]
    )
    spec = spec_from_keras_config(json.loads(model.to_json()))
    assert [layer.get("slope") for layer in spec["layers"] if layer.get("kind") == "leaky_relu"] == [
        None, 0.3, None, 0.1,
    ]  # fmt: skip


@pytest.mark.parametrize(("attributes", "slope"), [({}, 0.01), ({"alpha": 0.2}, None), ({"alpha": 0.1}, 0.1)])
def test_onnx_leaky_relu_s_alpha_is_the_slope(tmp_path: Path, attributes: dict[str, Any], slope: float | None) -> None:
    (layer,) = _onnx_node(tmp_path, "LeakyRelu", **attributes)
    assert layer.get("slope") == slope and layer["kind"] == "leaky_relu"


# --- GELU's tanh approximation -------------------------------------------------------------------------------


@pytest.mark.tensorflow
@pytest.mark.torch
def test_gelu_tanh_is_keras_s_approximate_gelu_in_every_export(tmp_path: Path) -> None:
    keras = optional.keras()
    torch = optional.torch()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module
    from tests.export.test_differential import load_module
    from tests.test_keras_import_cli import keras_round_trip

    spec = {"input": [3, 3, 4], "layers": [{**_layer("gelu_tanh"), "name": "g"}]}
    x = np.linspace(-4, 4, 2 * 3 * 3 * 4).reshape(2, 3, 3, 4).astype("float32")
    expected = np.asarray(keras.activations.gelu(x, approximate=True))
    exact = np.asarray(keras.activations.gelu(x, approximate=False))
    assert np.abs(expected - exact).max() > 1e-4  # the two functions differ: the test tells them apart
    facts = analyze_spec(spec)
    plan = plan_export(facts)
    np.testing.assert_allclose(np.asarray(build_model(plan)(x)), expected, rtol=1e-6, atol=1e-6)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    np.testing.assert_allclose(np.asarray(generated(x)), expected, rtol=1e-5, atol=1e-6)  # tf.nn's own formula
    with torch.no_grad():
        out = build_module(plan_torch(facts))(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(out.transpose(0, 2, 3, 1), expected, rtol=1e-5, atol=1e-6)
    assert keras_round_trip(spec, tmp_path)["layers"] == spec["layers"]  # the registered GeluTanh, read back
    keras.backend.clear_session()


@pytest.mark.parametrize(("approximate", "kind"), [("none", "gelu"), ("tanh", "gelu_tanh")])
def test_onnx_gelu_exact_or_tanh(tmp_path: Path, approximate: str, kind: str) -> None:
    assert _onnx_node(tmp_path, "Gelu", approximate=approximate) == [{"type": "activation", "kind": kind, "name": "f"}]
    with pytest.raises(SpecError, match="approximate='erf': ONNX's Gelu is approximate 'none' or 'tanh'"):
        _onnx_node(tmp_path, "Gelu", approximate="erf")


@pytest.mark.tensorflow
def test_keras_has_no_activation_named_gelu_tanh() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Activation("gelu", name="g")])
    config = json.loads(model.to_json())
    config["config"]["layers"][-1]["config"]["activation"] = "gelu_tanh"  # not a Keras name: not read as one
    with pytest.raises(SpecError, match='activation "gelu_tanh" is not one convcalc models'):
        spec_from_keras_config(config)


def test_a_slope_of_0_is_a_relu_and_of_1_no_nonlinearity() -> None:
    flat, identity = analyze_spec(_leaky(0.0)).layers[0].spec, analyze_spec(_leaky(1.0)).layers[0].spec
    assert (flat.activation_function(), flat.is_nonlinear()) == ("relu", True)
    assert (identity.activation_function(), identity.is_nonlinear()) == ("leaky_relu", False)


def test_a_misspelled_kind_with_a_slope_is_one_error() -> None:
    layer = {"type": "activation", "kind": "leaky_relux", "slope": 0.1}
    with pytest.raises(SpecError) as caught:
        analyze_spec({"input": [2, 2, 1], "layers": [layer]})
    assert [problem.path for problem in caught.value.problems] == [("layers", 0, "kind")]


def test_gelu_tanh_as_a_type_is_pointed_to_the_activation() -> None:
    with pytest.raises(SpecError, match='did you mean "type": "activation", "kind": "gelu_tanh"'):
        analyze_spec({"input": [2, 2, 1], "layers": [{"type": "gelu_tanh"}]})


GELU_TANH_BELOW_OPSET_20 = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from tests.helpers import refusal_of
from convcalc.importers.onnx import read_onnx_file


class AlmostGelu(nn.Module):
    def forward(self, x):  # 0.05, not 0.044715: another function, not to be read as GELU
        return 0.5 * x * (1 + torch.tanh(0.7978845608 * (x + 0.05 * x ** 3)))


results = {}
for label, tail in (("gelu", nn.GELU(approximate="tanh")), ("almost", AlmostGelu())):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), tail).eval()
    for exporter, options in (("dynamo", {"dynamo": True, "opset_version": 18}),
                              ("torchscript", {"dynamo": False, "opset_version": 17})):
        path = f"{sys.argv[1]}/{label}.{exporter}.onnx"
        torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), path, **options)
        layers = read_onnx_file(path).spec["layers"] if refusal_of(path) == "read" else []
        results[f"{label} {exporter}"] = [layer.get("kind", layer["type"]) for layer in layers]
print(json.dumps(results))
"""


def test_gelu_tanh_as_the_exporters_write_it_below_opset_20(tmp_path: Path) -> None:
    results = exported_by_pytorch(GELU_TANH_BELOW_OPSET_20, str(tmp_path))
    for exporter in ("dynamo", "torchscript"):
        assert results[f"gelu {exporter}"] == ["conv", "gelu_tanh"], results  # Pow or x·x·x, ½ before or after
        assert "gelu_tanh" not in results[f"almost {exporter}"], results  # other constants: never read as GELU


# --- a relu's ceiling --------------------------------------------------------------------------------------


def test_a_relu_s_max_value_is_positive_and_6_stays_relu6() -> None:
    facts = analyze_spec({"input": [2, 2, 1], "layers": [{"type": "relu", "max_value": 1}]}).layers[0]
    assert (facts.spec.notation(None), facts.params, facts.spec.activation_function()) == ("max=1", 0, "relu")
    with pytest.raises(SpecError, match=re.escape("layers[0].max_value: must be more than 0 (got 0.0)")):
        analyze_spec({"input": [2, 2, 1], "layers": [{"type": "relu", "max_value": 0}]})
    from convcalc.layers.elementwise import clipped_relu_layer

    assert clipped_relu_layer(6.0) == {"type": "activation", "kind": "relu6"}


@pytest.mark.tensorflow
@pytest.mark.torch
def test_every_export_clips_to_the_max_value() -> None:
    optional.keras()
    torch = optional.torch()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module
    from tests.export.test_differential import load_module

    x = np.linspace(-2, 2, 2 * 3 * 4 * 2).reshape(2, 3, 4, 2).astype("float32")
    expected = np.clip(x, 0, 0.5)
    facts = analyze_spec({"input": [3, 4, 2], "layers": [{"type": "relu", "max_value": 0.5}]})
    plan = plan_export(facts)
    np.testing.assert_array_equal(np.asarray(build_model(plan)(x)), expected)
    np.testing.assert_array_equal(np.asarray(load_module(tfnn_source(plan), "generated_nn").Network()(x)), expected)
    with torch.no_grad():
        out = build_module(plan_torch(facts))(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_array_equal(out.transpose(0, 2, 3, 1), expected)


@pytest.mark.tensorflow
def test_the_keras_import_reads_relu_s_max_value() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    layers = [keras.layers.ReLU(max_value=1.0), keras.layers.ReLU(max_value=6.0), keras.layers.ReLU()]
    model = keras.Sequential([keras.Input((4, 4, 2)), *layers])
    spec = spec_from_keras_config(json.loads(model.to_json()))
    assert [{k: v for k, v in layer.items() if k != "name"} for layer in spec["layers"]] == [
        {"type": "relu", "max_value": 1.0}, {"type": "activation", "kind": "relu6"}, {"type": "relu"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("bounds", "layer"),
    [((0.0, 1.0), {"type": "relu", "max_value": 1.0}), ((0.0, 6.0), {"type": "activation", "kind": "relu6"})],
)
def test_onnx_clip_from_0_is_a_relu_with_its_ceiling(
    tmp_path: Path, bounds: tuple[float, float], layer: dict[str, Any]
) -> None:
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file

    graph = helper.make_graph(
        [helper.make_node("Clip", ["x", "low", "high"], ["y"], name="f")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            helper.make_tensor(name, TensorProto.FLOAT, [], [value])
            for name, value in zip(("low", "high"), bounds, strict=True)
        ],
    )
    path = tmp_path / "clip.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    assert read_onnx_file(str(path)).spec["layers"] == [{**layer, "name": "f"}]


CLAMPS = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from tests.helpers import imported_three_ways


class Clamped(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.hard, self.mix = nn.Conv2d(3, 4, 3), nn.Hardtanh(0.0, 2.0), nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return torch.clamp(self.mix(self.hard(self.conv(x))), 0, 1)


results = {}
for exporter, spec, facts in imported_three_ways(Clamped().eval(), torch.zeros(1, 3, 8, 8), sys.argv[1], "clamp"):
    results[exporter] = [layer.get("max_value") for layer in spec["layers"] if layer["type"] == "relu"]
print(json.dumps(results))
"""


def test_pytorch_s_clamp_and_hardtanh_from_0_as_its_exporters_write_them(tmp_path: Path) -> None:
    results = exported_by_pytorch(CLAMPS, str(tmp_path))
    for exporter in ("default", "dynamo", "torchscript"):
        assert results[exporter] == [2.0, 1.0], (exporter, results)


@pytest.mark.parametrize(("stored", "opset"), [(True, 17), (False, 10)])
def test_a_clamp_of_a_stored_ceiling_or_before_opset_11_is_not_fused(tmp_path: Path, stored: bool, opset: int) -> None:
    # A stored ceiling may be trained (PACT's α): not a number to fold into a relu; before opset 11 Clip's bounds
    # are attributes, which a fused Clip would lack. Either way the Min is refused by name, never misread.
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file

    def number(name: str, value: float) -> Any:
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.FLOAT, [], [value]))

    nodes = [number("zero", 0.0), helper.make_node("Max", ["x", "zero"], ["r"], name="floor")]
    nodes += [] if stored else [number("ceiling", 2.5)]
    nodes.append(helper.make_node("Min", ["r", "ceiling"], ["y"], name="clamp"))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("ceiling", TensorProto.FLOAT, [], [2.5])] if stored else [],
    )
    path = tmp_path / "clamp.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString())
    with pytest.raises(SpecError, match="node 'clamp' \\(Min\\): reads a constant tensor"):
        read_onnx_file(str(path))
