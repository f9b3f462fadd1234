"""reflection_padding, replication_padding and circular_padding: shapes, fields, CC108 where a side is not smaller
than the side it mirrors (a reflection) or larger than the side it wraps (a circular padding); numpy's ``np.pad``
(modes "reflect", "edge" and "wrap") as the reference, which tf.pad's REFLECT and PyTorch's ReflectionPad2d,
ReplicationPad2d and CircularPad2d confirm, for every export; the Keras import of convcalc's own registered layers
(ReflectionPadding2D, ReplicationPadding2D, CircularPadding2D, L2Pooling2D); ONNX's Pad with modes reflect, edge and
wrap, and PyTorch's replicate and circular paddings as both exporters write them."""

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
NUMPY_MODES = {"reflection_padding": "reflect", "replication_padding": "edge", "circular_padding": "wrap"}
KINDS = list(NUMPY_MODES)


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def _spec(padding: Any, shape: list[int] | None = None, kind: str = "reflection_padding") -> dict[str, Any]:
    layers = [{"type": kind, "padding": padding, "name": "mirror"}]
    return {"input": shape or [5, 6, 2], "layers": layers}


NOTATIONS = [("reflection_padding", "reflect"), ("replication_padding", "replicate"), ("circular_padding", "circular")]


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


def test_a_circular_side_larger_than_the_side_it_wraps_is_cc108() -> None:
    def cc108(padding: Any) -> list[Any]:
        net = analysed(_spec(padding, kind="circular_padding"))
        return [f for f in check_loaded(LoadedSpec("<t>", net.network, SourceMap())).findings if f.code == "CC108"]

    [found] = cc108([[6, 0], [0, 0]])  # 5 rows wrap at most 5
    assert "at most the side it wraps" in found.message and [fix.set for fix in found.fixes] == [{"padding": 5}]
    assert not cc108([[5, 5], [6, 6]])  # the whole side, from the opposite one: PyTorch's limit too


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
EXPORTED.append(("circular_padding", [[3, 3], [0, 2]], [3, 2, 2]))  # the whole side wrapped


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
            {"type": "circular_padding", "padding": [[2, 0], [1, 3]], "name": "wrap"},
        ],
    }
    back = keras_round_trip(spec, tmp_path)
    by_name = {layer["name"]: layer for layer in back["layers"]}
    assert by_name["mirror"]["type"] == "reflection_padding"
    assert by_name["mirror"]["padding"] == [[1, 1], [0, 2]]
    assert by_name["edge"] == {"type": "replication_padding", "padding": [[0, 4], [1, 1]], "name": "edge"}
    assert by_name["l2"]["mode"] == "l2"
    assert by_name["wrap"] == {"type": "circular_padding", "padding": [[2, 0], [1, 3]], "name": "wrap"}
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


@pytest.mark.parametrize(
    ("mode", "kind"), [("reflect", "reflection_padding"), ("edge", "replication_padding"), ("wrap", "circular_padding")]
)
def test_onnx_pad_by_reflection_the_edge_or_the_opposite_side(tmp_path: Path, mode: str, kind: str) -> None:
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
        path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]).SerializeToString())
        return str(path)

    pads = [0, 0, 1, 2, 0, 0, 3, 0]
    spec = read_onnx_file(model(pads, mode)).spec
    assert spec["layers"] == [{"type": kind, "padding": [[1, 3], [2, 0]], "name": "pad"}]
    assert read_onnx_file(model(pads, mode, value=5.0)).spec == spec  # only mode constant reads the value
    with pytest.raises(SpecError, match=r"node 'pad' \(Pad\): pads with the value 5\.0"):
        read_onnx_file(model(pads, "constant", value=5.0))
    with pytest.raises(SpecError, match=f"node 'pad' \\(Pad\\): .* with negative pads .*: convcalc's {kind} pads"):
        read_onnx_file(model([0, 0, -1, 0, 0, 0, 0, 0], mode))
    with pytest.raises(SpecError, match="node 'pad' \\(Pad\\): mode 'mirror'"):
        read_onnx_file(model(pads, "mirror"))


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


CIRCULAR = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import validate

model = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=(1, 2), padding_mode="circular"), nn.ReLU(),
    nn.CircularPad2d((1, 0, 2, 1)), nn.Conv2d(8, 4, 3), nn.CircularPad2d((0, 0, 3, 3)),
).eval()
x = torch.randn(1, 3, 10, 12)
results = {"parameters": sum(p.numel() for p in model.parameters()), "shape": list(model(x).shape)}
exporters = {
    "dynamo": {"dynamo": True, "optimize": False},
    "torchscript": {"dynamo": False, "do_constant_folding": False},
    "torchscript folded": {"dynamo": False},
}
for exporter, options in exporters.items():
    path = f"{sys.argv[1]}/circular.{exporter.replace(' ', '_')}.onnx"
    torch.onnx.export(model, (x,), path, **options)
    spec = read_onnx_file(path).spec
    facts = analyze(validate("m", spec))
    kinds = [layer["type"] for layer in spec["layers"]]
    pads = [layer["padding"] for layer in spec["layers"] if layer["type"] == "circular_padding"]
    out = facts.output_shape
    results[exporter] = [facts.total_trainable_params, [out.depth, out.height, out.width], kinds, pads]
print(json.dumps(results))
"""


def test_pytorch_circular_padding_as_both_exporters_write_it(tmp_path: Path) -> None:
    # The dynamo exporter writes Pad mode wrap; the TorchScript exporter a Concat of Slices per axis, H then W,
    # read as one circular padding of both.
    outcome = exported_by_pytorch(CIRCULAR, str(tmp_path))
    for exporter in ("dynamo", "torchscript", "torchscript folded"):
        trainable, shape, kinds, pads = outcome[exporter]
        assert trainable == outcome["parameters"] and [1, *shape] == outcome["shape"], exporter
        assert kinds.count("circular_padding") == 3 and "concat" not in kinds, (exporter, kinds)
        # The conv's padding (1, 2), CircularPad2d's (left, right, top, bottom) = (1, 0, 2, 1), then H alone.
        assert pads == [[[1, 1], [2, 2]], [[2, 1], [1, 0]], [[3, 3], [0, 0]]], exporter


def _wrap_graph(steps: list[tuple[int, int, int, int | None]], opset: int = 17) -> Any:
    """Concats of Slices along an axis, as PyTorch's TorchScript exporter writes a circular padding: for each step
    (axis, last rows taken before, first rows taken after, the end of the first Slice (None: to the end)) on a
    (1, 4, 5, 6) input."""
    from onnx import TensorProto, helper

    nodes, tensor = [], "x"
    for k, (axis, before, after, end) in enumerate(steps):
        parts = []
        if before:
            stop = 2**63 - 1 if end is None else end
            nodes.append(helper.make_node("Slice", [tensor, f"s{k}a", f"e{k}a", f"ax{k}"], [f"top{k}"]))
            nodes += [
                helper.make_node("Constant", [], [f"s{k}a"], value_ints=[-before]),
                helper.make_node("Constant", [], [f"e{k}a"], value_ints=[stop]),
            ]
            parts.append(f"top{k}")
        parts.append(tensor)
        if after:
            nodes.append(helper.make_node("Slice", [tensor, f"s{k}b", f"e{k}b", f"ax{k}"], [f"bottom{k}"]))
            nodes += [
                helper.make_node("Constant", [], [f"s{k}b"], value_ints=[0]),
                helper.make_node("Constant", [], [f"e{k}b"], value_ints=[after]),
            ]
            parts.append(f"bottom{k}")
        nodes.insert(0, helper.make_node("Constant", [], [f"ax{k}"], value_ints=[axis]))
        tensor = "y" if k == len(steps) - 1 else f"wrapped{k}"
        nodes.append(helper.make_node("Concat", parts, [tensor], name=f"wrap{k}", axis=axis))
    # Constants first: each node after what it reads
    nodes.sort(key=lambda node: node.op_type != "Constant")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("opset", [10, 17])  # Pad's pads an attribute before 11, an input after
@pytest.mark.parametrize(
    ("steps", "paddings"),
    [
        ([(2, 2, 1, None), (3, 1, 0, None)], [[[2, 1], [1, 0]]]),  # H then W: one padding of both
        ([(3, 0, 3, None), (2, 5, 5, None)], [[[5, 5], [0, 3]]]),  # W then H, the whole height on each side
        ([(2, 1, 1, None), (2, 2, 0, None)], [[[1, 1], [0, 0]], [[2, 0], [0, 0]]]),  # H twice: two paddings
    ],
)
def test_the_torchscript_spelling_of_a_circular_padding(
    tmp_path: Path, steps: list[tuple[int, int, int, int | None]], paddings: list[Any], opset: int
) -> None:
    optional.onnx()
    from convcalc.importers.onnx import read_onnx_file

    path = tmp_path / "wrap.onnx"
    path.write_bytes(_wrap_graph(steps, opset).SerializeToString())
    spec = read_onnx_file(str(path)).spec
    assert [layer["padding"] for layer in spec["layers"]] == paddings
    assert {layer["type"] for layer in spec["layers"]} == {"circular_padding"}


def test_a_concat_of_other_slices_is_no_circular_padding(tmp_path: Path) -> None:
    onnx = optional.onnx()
    from convcalc.importers.onnx import read_onnx_file

    # The last two rows written [-2, 5) on 5 rows (PyTorch writes INT64_MAX: both are "to the end") are a wrap;
    # rows [-2, 4) are not the last two rows at all.
    path = tmp_path / "slices5.onnx"
    path.write_bytes(_wrap_graph([(2, 2, 0, 5)]).SerializeToString())
    assert read_onnx_file(str(path)).spec["layers"][0]["padding"] == [[2, 0], [0, 0]]
    path = tmp_path / "slices4.onnx"
    path.write_bytes(_wrap_graph([(2, 2, 0, 4)]).SerializeToString())
    with pytest.raises(SpecError, match="concatenates along axis 2"):
        read_onnx_file(str(path))
    # Two Slices before x (its last two rows, twice): no circular padding reads its rows so.
    model = _wrap_graph([(2, 2, 0, None)])
    concat = next(node for node in model.graph.node if node.op_type == "Concat")
    concat.input.insert(0, "top0")
    model.graph.node.insert(0, onnx.helper.make_node("Slice", ["x", "s0a", "e0a", "ax0"], ["one_row"]))
    concat.input[0] = "one_row"
    model.graph.node.sort(key=lambda node: (node.op_type != "Constant", node.op_type == "Concat"))
    path = tmp_path / "two_before.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(SpecError, match=r"'wrap0' \(Concat\): concatenates along axis 2"):
        read_onnx_file(str(path))


@pytest.mark.parametrize(("kind", "most"), [("reflection_padding", "smaller than"), ("circular_padding", "at most")])
def test_the_pytorch_export_refuses_a_side_pytorch_refuses(kind: str, most: str) -> None:
    # CC108 names TensorFlow's refusals, which the PyTorch export skips; these two PyTorch refuses as well.
    from convcalc.export.plan import UnbuildableError
    from convcalc.export.torch_plan import plan_torch

    with pytest.raises(UnbuildableError, match=f"layers\\[0\\] mirror: padding 5,5,5,5 on 4×4: .*{most} the side"):
        plan_torch(analysed(_spec(5, [4, 4, 2], kind)))
    plan_torch(analysed(_spec(3 if kind == "reflection_padding" else 4, [4, 4, 2], kind)))  # the most that fits
