"""depth_to_space and space_to_depth: shapes, receptive fields, CC114, validation; then a reference written from
the definitions (numpy) that TensorFlow's tf.nn.depth_to_space / space_to_depth and PyTorch's PixelShuffle /
PixelUnshuffle confirm, against which every export computes; the Keras import of the export, and ONNX's ops."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.checking import check_loaded
from convcalc.loading import LoadedSpec, SourceMap, SpecError, validate
from tests import optional


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<t>", spec))


def codes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    facts = analysed(spec)
    found = check_loaded(LoadedSpec("<t>", facts.network, SourceMap())).findings
    return [(finding.code, finding.message) for finding in found if finding.code == "CC114"]


def test_shapes_counts_and_fields() -> None:
    net = analysed(
        {
            "input": [8, 6, 3],
            "layers": [
                {"type": "space_to_depth", "block": 2, "name": "s2d"},
                {"type": "conv", "filters": 16, "kernel": 3, "padding": 1, "name": "conv"},
                {"type": "depth_to_space", "block": 2, "order": "crd", "name": "d2s"},
            ],
        }
    )
    s2d, conv, d2s = net.layers
    assert (str(s2d.output_shape), str(d2s.output_shape)) == ("4×3×12", "8×6×4")
    assert net.total_params == conv.params and s2d.params == d2s.params == s2d.macs == d2s.macs == 0
    # space_to_depth is a 2×2 window of stride 2; the conv after it sees 2 + 2·2 = 6 pixels, 2 apart; depth_to_space
    # keeps that size and halves the jump, as a nearest upsampling by 2 does.
    rows = [layer.rf_rows for layer in net.layers]
    assert [(int(f.size), f.jump) for f in rows] == [(2, 2), (6, 2), (6, 1)]
    assert [layer.spec.grid_step(None) for layer in (s2d, d2s)] == [(2, 2), (Fraction(1, 2), Fraction(1, 2))]
    assert [layer.spec.notation(None) for layer in (s2d, d2s)] == ["r=2 DCR", "r=2 CRD"]
    assert codes({"input": [8, 8, 4], "layers": [{"type": "depth_to_space", "block": 2}]}) == []


def test_blocks_that_do_not_divide_are_cc114_with_the_blocks_that_do() -> None:
    found = codes({"input": [12, 12, 6], "layers": [{"type": "depth_to_space", "block": 2}]})
    assert found == [
        ("CC114", "block r = 2 needs r² = 4 channels per output channel, and the input depth D = 6 leaves 2 over")
    ]
    facts = analysed({"input": [12, 9, 4], "layers": [{"type": "space_to_depth", "block": 2}]})
    (finding,) = [f for f in check_loaded(LoadedSpec("<t>", facts.network, SourceMap())).findings if f.code == "CC114"]
    assert finding.message == "block r = 2 does not divide W = 9: the last 1 column left in no block"
    assert [fix.set for fix in finding.fixes] == [{"block": 3}]  # 3 divides 12 and 9
    assert str(facts.layers[0].output_shape) == "6×4×16"  # the floor, as what is left is counted


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"type": "depth_to_space"}, "required field is missing"),
        ({"type": "depth_to_space", "block": 0}, "must be ≥ 1"),
        ({"type": "space_to_depth", "block": 2, "order": "cdr"}, "'dcr' or 'crd'"),
    ],
)
def test_bad_values_are_validation_errors(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as raised:
        validate("<t>", {"input": [8, 8, 4], "layers": [layer]})
    assert message in str(raised.value)


# --- values: a reference from the definitions, confirmed by TensorFlow and PyTorch ---------------------------


def reference(x: Any, kind: str, block: int, order: str) -> Any:
    """NHWC batch ``x`` rearranged as the module docstring defines it, one value at a time."""
    np = optional.module("numpy", "pip install -e '.[tensorflow]'")
    batch, height, width, depth = x.shape
    r = block
    if kind == "depth_to_space":
        channels = depth // (r * r)
        out = np.zeros((batch, height * r, width * r, channels), x.dtype)
        for y in range(height * r):
            for x_ in range(width * r):
                i, j = y % r, x_ % r
                for c in range(channels):
                    k = (i * r + j) * channels + c if order == "dcr" else c * r * r + i * r + j
                    out[:, y, x_, c] = x[:, y // r, x_ // r, k]
        return out
    out = np.zeros((batch, height // r, width // r, depth * r * r), x.dtype)
    for y in range(height):
        for x_ in range(width):
            i, j = y % r, x_ % r
            for c in range(depth):
                k = (i * r + j) * depth + c if order == "dcr" else c * r * r + i * r + j
                out[:, y // r, x_ // r, k] = x[:, y, x_, c]
    return out


CASES = [
    ("depth_to_space", 2, "dcr", [3, 2, 12]),
    ("depth_to_space", 2, "crd", [3, 2, 12]),
    ("depth_to_space", 3, "dcr", [2, 3, 18]),
    ("space_to_depth", 2, "dcr", [4, 6, 3]),
    ("space_to_depth", 2, "crd", [4, 6, 3]),
    ("space_to_depth", 3, "crd", [6, 3, 2]),
]


def _spec(kind: str, block: int, order: str, shape: list[int]) -> dict[str, Any]:
    return {"input": shape, "layers": [{"type": kind, "block": block, "order": order, "name": "moved"}]}


def _batch(shape: list[int]) -> Any:
    np = optional.module("numpy", "pip install -e '.[tensorflow]'")
    return np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")


@pytest.mark.tensorflow
@pytest.mark.parametrize(("kind", "block", "order", "shape"), CASES)
def test_the_keras_and_tf_nn_exports_compute_the_reference(kind: str, block: int, order: str, shape: list[int]) -> None:
    optional.keras()
    import numpy as np
    import tensorflow as tf

    from convcalc.export.codegen import tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    x = _batch(shape)
    expected = reference(x, kind, block, order)
    if order == "dcr":  # the reference is TensorFlow's own
        native = tf.nn.depth_to_space if kind == "depth_to_space" else tf.nn.space_to_depth
        np.testing.assert_array_equal(np.asarray(native(x, block)), expected)
    plan = plan_export(analysed(_spec(kind, block, order, shape)))
    np.testing.assert_array_equal(np.asarray(build_model(plan)(x)), expected)
    np.testing.assert_array_equal(np.asarray(load_module(tfnn_source(plan), "generated_nn").Network()(x)), expected)


@pytest.mark.torch
@pytest.mark.parametrize(("kind", "block", "order", "shape"), CASES)
def test_the_pytorch_export_computes_the_reference(kind: str, block: int, order: str, shape: list[int]) -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    x = _batch(shape)
    expected = reference(x, kind, block, order).transpose(0, 3, 1, 2)
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    if order == "crd":  # the reference is PyTorch's own
        native = torch.nn.PixelShuffle(block) if kind == "depth_to_space" else torch.nn.PixelUnshuffle(block)
        np.testing.assert_array_equal(native(nchw).numpy(), expected)
    module = build_module(plan_torch(analysed(_spec(kind, block, order, shape))))
    np.testing.assert_array_equal(module(nchw).detach().numpy(), expected)


@pytest.mark.tensorflow
def test_the_keras_import_reads_the_export_back() -> None:
    optional.keras()
    from convcalc.export.keras_build import build_keras_model
    from convcalc.importers.keras import spec_from_keras_config

    moves = [("space_to_depth", 2, "dcr"), ("space_to_depth", 2, "crd"), ("conv", 0, "")]
    moves += [("depth_to_space", 2, "dcr"), ("depth_to_space", 2, "crd"), ("depth_to_space", 3, "dcr")]
    # 12×12×8 → 6×6×32 → 3×3×128 → (conv) 3×3×144 → 6×6×36 → 12×12×9 → 36×36×1
    layers = [
        {"type": "conv", "filters": 144, "kernel": 1} if kind == "conv" else {"type": kind, "block": r, "order": order}
        for kind, r, order in moves
    ]
    spec = {"input": [12, 12, 8], "layers": layers}
    network = validate("<t>", spec)
    imported = spec_from_keras_config(json.loads(build_keras_model(network).to_json()))
    moved = [layer for layer in imported["layers"] if layer["type"] in ("depth_to_space", "space_to_depth")]
    assert [(layer["type"], layer["block"], layer.get("order", "dcr")) for layer in moved] == [
        move for move in moves if move[0] != "conv"
    ]
    assert analysed(imported).output_shape == analyze(network).output_shape


@pytest.mark.tensorflow
def test_a_five_axis_reshape_of_another_kind_is_refused_by_name() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    layers = keras.layers
    model = keras.Sequential(
        [keras.Input((4, 4, 8)), layers.Reshape((4, 4, 2, 2, 2)), layers.Permute((2, 1, 3, 4, 5), name="swap")]
    )
    with pytest.raises(SpecError, match="layer 'swap' \\(Permute\\): dims \\[2, 1, 3, 4, 5\\] after a Reshape"):
        spec_from_keras_config(json.loads(model.to_json()))


# --- ONNX --------------------------------------------------------------------------------------------------


def _onnx(nodes: list[Any], shape: list[int], tmp_path: Path, inits: list[Any] | None = None) -> dict[str, Any]:
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=inits or [],
    )
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return read_onnx_file(str(path)).spec


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (("DepthToSpace", {"blocksize": 2}), {"type": "depth_to_space", "block": 2}),
        (("DepthToSpace", {"blocksize": 2, "mode": "CRD"}), {"type": "depth_to_space", "block": 2, "order": "crd"}),
        (("SpaceToDepth", {"blocksize": 2}), {"type": "space_to_depth", "block": 2}),
    ],
)
def test_onnx_depth_to_space_and_space_to_depth(
    tmp_path: Path, node: tuple[str, dict[str, Any]], expected: dict[str, Any]
) -> None:
    optional.onnx()
    from onnx import helper

    op_type, attributes = node
    spec = _onnx([helper.make_node(op_type, ["x"], ["y"], name="moved", **attributes)], [1, 8, 4, 4], tmp_path)
    assert spec["layers"] == [{**expected, "name": "moved"}]


@pytest.mark.parametrize(("perm", "order"), [([0, 1, 3, 5, 2, 4], "crd"), ([0, 3, 5, 1, 2, 4], "dcr")])
def test_onnx_pixel_unshuffle_as_the_exporters_write_it(tmp_path: Path, perm: list[int], order: str) -> None:
    # PyTorch's F.pixel_unshuffle (CRD) and TResNet's space-to-depth (DCR): Reshape, Transpose, Reshape.
    optional.onnx()
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Reshape", ["x", "split"], ["a"], name="unshuffle/split"),
        helper.make_node("Transpose", ["a"], ["b"], name="unshuffle", perm=perm),
        helper.make_node("Reshape", ["b", "merged"], ["y"], name="unshuffle/merge"),
    ]
    inits = [
        helper.make_tensor("split", TensorProto.INT64, [6], [1, 3, 4, 2, 5, 2]),
        helper.make_tensor("merged", TensorProto.INT64, [4], [1, 12, 4, 5]),
    ]
    spec = _onnx(nodes, [1, 3, 8, 10], tmp_path, inits)
    body = {"type": "space_to_depth", "block": 2, **({"order": "crd"} if order == "crd" else {})}
    assert spec["layers"] == [{**body, "name": "unshuffle"}]
    assert str(analysed(spec).output_shape) == "4×5×12"


def test_onnx_rearrangements_convcalc_cannot_read_are_refused_by_name(tmp_path: Path) -> None:
    optional.onnx()
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Reshape", ["x", "split"], ["a"], name="split"),
        helper.make_node("Transpose", ["a"], ["y"], name="odd", perm=[0, 1, 2, 3, 5, 4]),
    ]
    inits = [helper.make_tensor("split", TensorProto.INT64, [6], [1, 3, 4, 2, 5, 2])]
    with pytest.raises(SpecError, match="node 'odd' \\(Transpose\\): perm \\[0, 1, 2, 3, 5, 4\\]"):
        _onnx(nodes, [1, 3, 8, 10], tmp_path, inits)
    with pytest.raises(SpecError, match="node 'd2s' \\(DepthToSpace\\): blocksize 0"):
        _onnx([helper.make_node("DepthToSpace", ["x"], ["y"], name="d2s", blocksize=0)], [1, 8, 4, 4], tmp_path)


def test_a_six_axis_reshape_after_a_refused_node_is_refused_not_a_traceback(tmp_path: Path) -> None:
    # The import goes on past a refused node with its input in its place, so a later node may read a tensor
    # whose ONNX shape has another rank than the volume convcalc holds (swin_b found this).
    optional.onnx()
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Reshape", ["x", "rows"], ["flat"], name="to_rows"),
        helper.make_node("Reshape", ["flat", "blocks"], ["y"], name="to_blocks"),
    ]
    inits = [
        helper.make_tensor("rows", TensorProto.INT64, [3], [1, 3, 64]),
        helper.make_tensor("blocks", TensorProto.INT64, [6], [1, 3, 4, 2, 4, 2]),
    ]
    with pytest.raises(SpecError, match="node 'to_rows' \\(Reshape\\)"):
        _onnx(nodes, [1, 3, 8, 8], tmp_path, inits)
