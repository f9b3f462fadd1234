"""l2_normalize: each position's D values divided by their L2 norm, x / max(‖x‖, 10⁻¹²) (Keras's UnitNormalization,
PyTorch's F.normalize(x, dim=1)). No parameters, a nonlinearity; every export against numpy's definition, on a
volume and on a vector; the Keras import of UnitNormalization; ONNX's LpNormalization, and F.normalize as both PyTorch
exporters write it (ReduceL2, Clip, Expand, Div), fused; over another axis it is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convcalc.loading import SpecError
from tests import optional
from tests.helpers import analyze_spec, exported_by_pytorch, spec_findings

EMBEDDING = {
    "input": [6, 5, 3],
    "layers": [
        {"type": "conv", "filters": 4, "kernel": 3, "name": "conv"},
        {"type": "l2_normalize", "name": "unit"},
        {"type": "conv", "filters": 4, "kernel": 1, "name": "mix"},
        {"type": "flatten"},
        {"type": "fc", "units": 8, "name": "embed"},
        {"type": "l2_normalize", "name": "embedding"},
    ],
}


def test_no_parameters_and_a_nonlinearity_between_two_convs() -> None:
    net = analyze_spec(EMBEDDING)
    unit, embedding = net.layers[1], net.layers[5]
    assert (str(unit.output_shape), unit.params, unit.macs) == ("4×3×4", 0, 0)
    assert str(embedding.output_shape) == "1×1×8" and unit.spec.is_nonlinear()
    assert unit.spec.notation(None) == "x/‖x‖ over D"
    linear = [f.layer for f in spec_findings(EMBEDDING) if f.code == "CC303"]
    assert linear == [4]  # conv → l2_normalize → conv does not collapse; mix → flatten → fc does


def _reference(x: Any) -> Any:
    import numpy as np

    return x / np.maximum(np.sqrt((x * x).sum(axis=-1, keepdims=True)), 1e-12)


@pytest.mark.tensorflow
@pytest.mark.torch
def test_every_export_divides_by_the_norm_over_the_depth() -> None:
    keras = optional.keras()
    torch = optional.torch()
    import numpy as np

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module
    from tests.export.test_differential import load_module

    spec = {"input": [3, 4, 5], "layers": [{"type": "l2_normalize", "name": "unit"}]}
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    x[0, 0, 0] = 0.0  # a zero vector stays zero: the norm's floor, not a division by zero
    expected = _reference(x)
    facts = analyze_spec(spec)
    plan = plan_export(facts)
    np.testing.assert_allclose(np.asarray(build_model(plan)(x)), expected, rtol=1e-6, atol=1e-7)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    np.testing.assert_allclose(np.asarray(generated(x)), expected, rtol=1e-6, atol=1e-7)
    with torch.no_grad():
        out = build_module(plan_torch(facts))(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(out.transpose(0, 2, 3, 1), expected, rtol=1e-6, atol=1e-7)
    flat = {"input": [1, 1, 6], "layers": [{"type": "flatten"}, {"type": "l2_normalize"}]}
    v = np.random.default_rng(1).normal(size=(2, 1, 1, 6)).astype("float32")
    np.testing.assert_allclose(np.asarray(build_model(plan_export(analyze_spec(flat)))(v)), _reference(v[:, 0, 0]))
    keras.backend.clear_session()


@pytest.mark.tensorflow
def test_the_keras_import_reads_unit_normalization_over_the_depth() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    inputs = keras.Input((6, 5, 3))
    conv = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.UnitNormalization(name="unit")(conv))
    spec = spec_from_keras_config(json.loads(model.to_json()))
    assert spec["layers"][-1] == {"type": "l2_normalize", "name": "unit"}
    other = keras.Model(inputs, keras.layers.UnitNormalization(axis=[1, 2], name="spatial")(conv))
    with pytest.raises(SpecError, match="layer 'spatial' \\(UnitNormalization\\): axis \\[1, 2\\]"):
        spec_from_keras_config(json.loads(other.to_json()))
    keras.backend.clear_session()


@pytest.mark.parametrize(("attributes", "refused"), [({"axis": 1}, False), ({"axis": 1, "p": 1}, True), ({}, True)])
def test_onnx_lp_normalization_with_p_2_over_the_channels(
    tmp_path: Path, attributes: dict[str, Any], refused: bool
) -> None:
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file

    graph = helper.make_graph(
        [helper.make_node("LpNormalization", ["x"], ["y"], name="unit", **attributes)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "lp.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    if refused:  # p = 1 is another norm; ONNX's default axis, the last, is W here
        with pytest.raises(SpecError, match=r"node 'unit' \(LpNormalization\): p=.* convcalc's l2_normalize"):
            read_onnx_file(str(path))
    else:
        assert read_onnx_file(str(path)).spec["layers"] == [{"type": "l2_normalize", "name": "unit"}]


NORMALIZE = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
import torch.nn.functional as F
from torch import nn
from tests.helpers import exported_three_ways, imported_three_ways, refusal_of


class Embedding(nn.Module):
    def __init__(self, dim=None):
        super().__init__()
        self.conv, self.fc, self.dim = nn.Conv2d(3, 4, 3), nn.Linear(4 * 6 * 6, 5), dim

    def forward(self, x):
        y = self.conv(x)
        if self.dim is not None:  # over the rows: another function
            return F.normalize(y, dim=self.dim)
        return F.normalize(self.fc(F.normalize(y, dim=1).flatten(1)), dim=1)


results = {"parameters": sum(p.numel() for p in Embedding().parameters())}
for exporter, spec, facts in imported_three_ways(Embedding().eval(), torch.zeros(1, 3, 8, 8), sys.argv[1], "l2"):
    results[exporter] = [facts.total_params, [layer["type"] for layer in spec["layers"]]]
for exporter, path in exported_three_ways(Embedding(2).eval(), torch.zeros(1, 3, 8, 8), sys.argv[1], "rows"):
    results[f"rows {exporter}"] = refusal_of(path)
print(json.dumps(results))
"""


def test_pytorch_s_f_normalize_as_its_exporters_write_it(tmp_path: Path) -> None:
    results = exported_by_pytorch(NORMALIZE, str(tmp_path))
    for exporter in ("default", "dynamo", "torchscript"):
        params, kinds = results[exporter]
        assert params == results["parameters"], (exporter, results)
        assert kinds == ["conv", "l2_normalize", "flatten", "fc", "l2_normalize"], (exporter, kinds)
        assert "(ReduceL2)" in results[f"rows {exporter}"], results  # not fused: refused by name
