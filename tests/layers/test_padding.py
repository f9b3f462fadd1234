"""reflection_padding and replication_padding: shapes, fields, CC108 where a side is not smaller than the side it
mirrors (a reflection only); numpy's ``np.pad`` (modes "reflect" and "edge") as the reference, which tf.pad's
REFLECT and PyTorch's ReflectionPad2d and ReplicationPad2d confirm, for every export; the Keras import of
convcalc's own registered layers (ReflectionPadding2D, ReplicationPadding2D, L2Pooling2D); ONNX's Pad with modes
reflect and edge, and PyTorch's replicate padding as both exporters write it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.checking import check_loaded
from convcalc.loading import LoadedSpec, SourceMap, SpecError, validate
from tests import optional
from tests.helpers import exported_by_pytorch

SIDES = [1, [2, 1], [[1, 2], [3, 0]]]
NUMPY_MODES = {"reflection_padding": "reflect", "replication_padding": "edge"}
KINDS = list(NUMPY_MODES)


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def _spec(padding: Any, shape: list[int] | None = None, kind: str = "reflection_padding") -> dict[str, Any]:
    layers = [{"type": kind, "padding": padding, "name": "mirror"}]
    return {"input": shape or [5, 6, 2], "layers": layers}


NOTATIONS = [("reflection_padding", "reflect"), ("replication_padding", "replicate")]


@pytest.mark.parametrize(("kind", "notation"), NOTATIONS)
def test_shapes_fields_and_the_padding_the_next_conv_counts(kind: str, notation: str) -> None:
    spec = _spec([[1, 2], [3, 0]], kind=kind)
    spec["layers"].append({"type": "conv", "filters": 4, "kernel": 3, "name": "conv"})
    net = analysed(spec)
    mirror, _ = net.layers
    assert str(mirror.output_shape) == "8×9×2" and mirror.params == 0
    assert (mirror.rf_rows.start, mirror.rf_cols.start) == (-0.5, -2.5)  # the first centre moves up/left
    assert mirror.spec.notation(None) == f"P=1,2,3,0 {notation}"
    found = check_loaded(LoadedSpec("<t>", net.network, SourceMap())).findings
    assert "CC302" not in {f.code for f in found}  # the first conv is padded, by the padding layer


def test_a_replication_repeats_the_edge_as_often_as_asked() -> None:
    net = analysed(_spec([[6, 0], [0, 9]], kind="replication_padding"))  # wider than the 5×6 it pads
    assert str(net.layers[0].output_shape) == "11×15×2"
    assert "CC108" not in {f.code for f in check_loaded(LoadedSpec("<t>", net.network, SourceMap())).findings}


def test_a_side_not_smaller_than_the_side_it_mirrors_is_cc108() -> None:
    net = analysed(_spec([[5, 0], [0, 0]]))  # 5 rows mirror at most 4
    found = [f for f in check_loaded(LoadedSpec("<t>", net.network, SourceMap())).findings if f.code == "CC108"]
    assert len(found) == 1 and "each side must be smaller than the side it mirrors" in found[0].message
    assert [fix.set for fix in found[0].fixes] == [{"padding": 4}]
    fitting = check_loaded(LoadedSpec("<t>", analysed(_spec([[4, 4], [5, 5]])).network, SourceMap())).findings
    assert "CC108" not in {f.code for f in fitting}


def _batch(shape: list[int]) -> Any:
    np = optional.module("numpy", "pip install -e '.[tensorflow]'")
    return np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")


def _reference(x: Any, padding: Any, kind: str) -> Any:
    import numpy as np

    facts = analysed(_spec(padding, list(x.shape[1:]), kind)).layers[0]
    top, bottom, left, right = facts.spec.padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), mode=NUMPY_MODES[kind])


EXPORTED = [(kind, padding, [8, 7, 2]) for kind in KINDS for padding in [*SIDES, [[0, 6], [5, 0]]]]
EXPORTED.append(("replication_padding", [[3, 4], [5, 0]], [2, 1, 2]))  # sides wider than the volume


@pytest.mark.tensorflow
@pytest.mark.parametrize(("kind", "padding", "shape"), EXPORTED)
def test_the_keras_and_tf_nn_exports_pad_as_numpy_does(kind: str, padding: Any, shape: list[int]) -> None:
    optional.keras()
    import numpy as np
    import tensorflow as tf

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = _batch(shape)
    expected = _reference(x, padding, kind)
    if kind == "reflection_padding":  # TensorFlow's own REFLECT agrees with numpy's
        top, bottom, left, right = analysed(_spec(padding, shape)).layers[0].spec.padding
        tf_pad = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="REFLECT")
        np.testing.assert_array_equal(np.asarray(tf_pad), expected)
    plan = plan_export(analysed(_spec(padding, shape, kind)))
    np.testing.assert_array_equal(np.asarray(build_model(plan)(x)), expected)
    np.testing.assert_array_equal(np.asarray(load_module(tfnn_source(plan), "generated_nn").Network()(x)), expected)


@pytest.mark.torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("padding", SIDES)
def test_the_pytorch_export_pads_as_numpy_does(padding: Any, kind: str) -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    x = _batch([5, 6, 2])
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    module = build_module(plan_torch(analysed(_spec(padding, kind=kind))))
    expected = _reference(x, padding, kind).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(module(nchw).detach().numpy(), expected)


@pytest.mark.tensorflow
def test_the_keras_import_reads_convcalcs_own_layers_back(tmp_path: Path) -> None:
    optional.keras()
    from tests.test_keras_import_cli import keras_round_trip

    spec = {
        "input": [8, 8, 3],
        "layers": [
            {"type": "reflection_padding", "padding": [[1, 1], [0, 2]], "name": "mirror"},
            {"type": "conv", "filters": 4, "kernel": 3, "name": "conv"},
            {"type": "replication_padding", "padding": [[0, 4], [1, 1]], "name": "edge"},
            {"type": "pool", "mode": "l2", "kernel": 2, "name": "l2"},
        ],
    }
    back = keras_round_trip(spec, tmp_path)
    by_name = {layer["name"]: layer for layer in back["layers"]}
    assert by_name["mirror"]["type"] == "reflection_padding"
    assert by_name["mirror"]["padding"] == [[1, 1], [0, 2]]
    assert by_name["edge"] == {"type": "replication_padding", "padding": [[0, 4], [1, 1]], "name": "edge"}
    assert by_name["l2"]["mode"] == "l2"
    assert analysed(back).output_shape == analysed(spec).output_shape


def test_a_class_claiming_to_be_convcalcs_that_convcalc_lacks_is_refused() -> None:
    from convcalc.importers.keras import spec_from_keras_config

    layer = {
        "module": "builtins",
        "class_name": "ShadowPadding2D",
        "registered_name": "convcalc>ShadowPadding2D",
        "name": "shadow",
        "config": {"name": "shadow", "padding": 1},
    }
    model = {"class_name": "Sequential", "config": {"name": "m", "layers": [layer]}}
    model["config"]["build_input_shape"] = [None, 8, 8, 3]
    with pytest.raises(SpecError, match="layer 'shadow' \\(ShadowPadding2D\\)"):
        spec_from_keras_config(model)


@pytest.mark.parametrize(("mode", "kind"), [("reflect", "reflection_padding"), ("edge", "replication_padding")])
def test_onnx_pad_by_reflection_or_the_edge(tmp_path: Path, mode: str, kind: str) -> None:
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file

    def model(pads: list[int], mode: str, value: float = 0.0) -> str:
        nodes = [helper.make_node("Pad", ["x", "pads", "value"], ["y"], name="pad", mode=mode)]
        inits = [
            helper.make_tensor("pads", TensorProto.INT64, [8], pads),
            helper.make_tensor("value", TensorProto.FLOAT, [], [value]),
        ]
        graph = helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 6])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            initializer=inits,
        )
        path = tmp_path / f"{mode}.onnx"
        path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
        return str(path)

    pads = [0, 0, 1, 2, 0, 0, 3, 0]
    spec = read_onnx_file(model(pads, mode)).spec
    assert spec["layers"] == [{"type": kind, "padding": [[1, 3], [2, 0]], "name": "pad"}]
    assert read_onnx_file(model(pads, mode, value=5.0)).spec == spec  # only mode constant reads the value
    with pytest.raises(SpecError, match=r"node 'pad' \(Pad\): pads with the value 5\.0"):
        read_onnx_file(model(pads, "constant", value=5.0))
    with pytest.raises(SpecError, match=f"node 'pad' \\(Pad\\): .* with negative pads .*: convcalc's {kind} pads"):
        read_onnx_file(model([0, 0, -1, 0, 0, 0, 0, 0], mode))
    with pytest.raises(SpecError, match="node 'pad' \\(Pad\\): mode 'wrap'"):
        read_onnx_file(model(pads, "wrap"))


REPLICATE = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import validate

model = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1, padding_mode="replicate"), nn.ReLU(),
    nn.ReplicationPad2d((2, 0, 1, 3)), nn.Conv2d(8, 4, 3),
).eval()
x = torch.randn(1, 3, 10, 12)
results = {"parameters": sum(p.numel() for p in model.parameters()), "shape": list(model(x).shape)}
for exporter, options in (("dynamo", {"dynamo": True}), ("torchscript", {"dynamo": False})):
    path = f"{sys.argv[1]}/replicate.{exporter}.onnx"
    torch.onnx.export(model, (x,), path, **options)
    spec = read_onnx_file(path).spec
    facts = analyze(validate("m", spec))
    pads = [layer["padding"] for layer in spec["layers"] if layer["type"] == "replication_padding"]
    out = facts.output_shape
    results[exporter] = [facts.total_trainable_params, [out.depth, out.height, out.width], pads]
print(json.dumps(results))
"""


def test_pytorch_replicate_padding_as_both_exporters_write_it(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(REPLICATE, str(tmp_path))
    for exporter in ("dynamo", "torchscript"):
        trainable, shape, pads = outcome[exporter]
        assert trainable == outcome["parameters"] and [1, *shape] == outcome["shape"], exporter
        # The conv's padding_mode, then ReplicationPad2d's (left, right, top, bottom) = (2, 0, 1, 3)
        assert pads == [[[1, 1], [1, 1]], [[1, 3], [2, 0]]], exporter
