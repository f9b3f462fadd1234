"""Importing ONNX models as specs, with PyTorch's figures as the oracle (tests/fixtures/onnx/oracle.json, written
by tools/make_onnx_fixtures.py): torchvision classifiers exported both ways, graphs only. The totals equal
PyTorch's parameter count (unoptimised exports), the weights each layer uses (every export) and torchvision's
published GFLOPS; every layer's output shape equals onnx.shape_inference's on the full model. Bad files and ops
convcalc cannot model are exit 2 naming the node, never a traceback. Needs the ``onnx`` extra, not torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests import optional
from tests.helpers import ROOT, exported_by_pytorch

onnx = optional.onnx()

from onnx import TensorProto, helper  # noqa: E402 - after the skip that explains a missing extra

from convcalc.analysis import NetworkFacts, Shape, analyze  # noqa: E402
from convcalc.cli import app  # noqa: E402
from convcalc.importers import onnx as onnx_import  # noqa: E402
from convcalc.importers.onnx import MAX_VALUES, read_onnx_file  # noqa: E402
from convcalc.loading import SpecError, validate  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "onnx"
ORACLE: dict[str, dict[str, Any]] = json.loads((FIXTURES / "oracle.json").read_text(encoding="utf-8"))
AUXILIARY = {"inception_v3": 3_326_696}
"""Parameters of a training-only auxiliary head that torchvision's published count includes (its GFLOPS do not,
nor do the exports, made without the head)."""
PARTIAL_SHAPES = {"shufflenet_v2_x1_0.torchscript"}
"""Exports where onnx.shape_inference gives up on most sizes (the TorchScript exporter computes each chunk's
bounds with Shape, Gather and Div): every shape it gives is checked, and the totals."""
runner = CliRunner()


def _imported(key: str) -> tuple[dict[str, Any], NetworkFacts]:
    path = str(FIXTURES / f"{key}.onnx")
    spec = read_onnx_file(path).spec
    return spec, analyze(validate(path, spec))


def _channels_last(key: str) -> set[str]:
    """The nodes whose output is (N, H, W, C): after a Transpose (0, 2, 3, 1), before the one back (read from
    the fixture's graph, not from convcalc)."""
    graph = onnx.load(str(FIXTURES / f"{key}.onnx"), load_external_data=False).graph
    last: set[str] = set()
    nodes: set[str] = set()
    for node in graph.node:
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        transposed = node.op_type == "Transpose"
        if (transposed and perm == [0, 2, 3, 1]) or (not transposed and any(name in last for name in node.input)):
            last.update(node.output)
            nodes.add(node.name)
    return nodes


def _volume(shape: list[Any], channels_last: bool = False) -> Shape | None:
    if not all(type(size) is int for size in shape):
        return None  # a size shape inference could not work out
    if len(shape) == 4:
        return Shape(shape[1], shape[2], shape[3]) if channels_last else Shape(shape[2], shape[3], shape[1])
    return Shape(1, 1, shape[1]) if len(shape) == 2 else None  # rank 5: a step of the channel shuffle


@pytest.mark.parametrize("key", sorted(ORACLE))
def test_totals_and_every_shape_are_pytorchs(key: str) -> None:
    oracle = ORACLE[key]
    _, facts = _imported(key)
    assert round(facts.total_macs / 1e9, 3) == oracle["published"]["gflops"]
    assert facts.total_params == oracle["layer_params"]
    if oracle["exporter"] == "dynamo-unoptimized":  # batchnorm kept: the trainable count is PyTorch's
        assert facts.total_params - facts.total_non_trainable == oracle["torch_params"]
        published = oracle["published"]["num_params"] - AUXILIARY.get(oracle["model"], 0)
        assert oracle["torch_params"] == published
    channels_last = _channels_last(key)
    checked = shuffles = 0
    for layer in facts.layers:
        shape = oracle["shapes"].get(layer.name)
        expected = None if shape is None else _volume(shape, layer.name in channels_last)
        if expected is not None:
            assert layer.output_shape == expected, layer.name
            checked += 1
        shuffles += layer.type == "channel_shuffle"  # its node's output is (N, C/g, g, H, W): a step, not a volume
    assert checked >= (0.2 if key in PARTIAL_SHAPES else 0.9) * (len(facts.layers) - shuffles)


def test_a_default_export_says_what_the_optimizer_did() -> None:
    notes = read_onnx_file(str(FIXTURES / "resnet18.torchscript.onnx")).notes
    assert "BatchNormalization folded into 20 convs" in notes
    # The exporters call every graph "main_graph": the spec is named after the file instead.
    name = read_onnx_file(str(FIXTURES / "resnet18.dynamo.onnx")).spec["name"]
    assert name == "resnet18.dynamo: BatchNormalization folded into 20 convs"
    assert read_onnx_file(str(FIXTURES / "resnet18.dynamo-unoptimized.onnx")).notes == []


def test_a_fold_into_some_convs_is_said_though_a_batch_norm_is_left(tmp_path: Path) -> None:
    # Sequential(BatchNorm2d(3), Conv2d(3, 8, 3), BatchNorm2d(8)) as TorchScript's default export writes it: the
    # first norm has no conv before it and stays, the second is folded into the conv (a new weight, onnx::Conv_…).
    # The note was given only when no norm was left: densenet121's 59 folds went unsaid, its trainable count
    # 7,488 short of PyTorch's with nothing to say why.
    statistics = [helper.make_tensor(n, TensorProto.FLOAT, [3], [v] * 3) for n, v in (("m", 0.0), ("v", 1.0))]
    gamma = [helper.make_tensor(n, TensorProto.FLOAT, [3], [0.5] * 3) for n in ("g", "b")]
    nodes = [
        helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["n"], name="bn0"),
        helper.make_node("Conv", ["n", "onnx::Conv_12", "onnx::Conv_13"], ["y"], name="conv"),
    ]
    inits = [*gamma, *statistics, _weight("onnx::Conv_12", [8, 3, 3, 3]), _weight("onnx::Conv_13", [8])]
    read = read_onnx_file(_save(_model(nodes, inits, [1, 3, 8, 8], producer_name="pytorch"), tmp_path))
    assert read.notes == ["BatchNormalization folded into 1 convs"]
    # The same graph from another producer: convcalc cannot tell what was done to it, and says nothing.
    assert read_onnx_file(_save(_model(nodes, inits, [1, 3, 8, 8]), tmp_path)).notes == []


def test_convnext_from_either_dynamo_export_is_torchvisions() -> None:
    # The head's LayerNorm2d of the pooled 1×1 volume: the dynamo exporter writes torch's as_strided as a Reshape
    # to one axis and a Gather of every element back into the same shape; convcalc reads it as no step at all.
    head = ["add", "global_pool", "layer_norm", "flatten", "fc"]
    for key in ("convnext_tiny.dynamo", "convnext_tiny.dynamo-unoptimized", "convnext_tiny.torchscript"):
        _, facts = _imported(key)
        assert [layer.type for layer in facts.layers[-5:]] == head, key
    assert facts.total_params == 28_589_128 == ORACLE["convnext_tiny.dynamo-unoptimized"]["published"]["num_params"]


@pytest.mark.parametrize("key", ["vgg16.torchscript", "vgg16.dynamo", "alexnet.torchscript", "alexnet.dynamo"])
def test_an_adaptive_pool_to_its_input_size_imports_as_that_pool(key: str) -> None:
    # PyTorch's exporters write AdaptiveAvgPool2d((7, 7)) of VGG's 7×7 volume (AlexNet's 6×6) as a 1×1
    # AveragePool of stride 1: the identity, which CC203 would call a pool that does nothing.
    size = 7 if key.startswith("vgg16") else 6
    spec, facts = _imported(key)
    (pool,) = [layer for layer in spec["layers"] if layer["type"] == "pool" and "output" in layer]
    assert (pool["mode"], pool["output"]) == ("avg", size)
    (layer,) = [layer for layer in facts.layers if layer.name == pool["name"]]
    assert layer.input_shape == layer.output_shape == Shape(size, size, 256 if size == 6 else 512)
    result = runner.invoke(app, ["check", str(FIXTURES / f"{key}.onnx"), "--format", "json"])
    assert "CC203" not in {finding["code"] for finding in json.loads(result.stdout)["findings"]}


# ---------------------------------------------------------------- small models built here


def _model(nodes: list[Any], inits: list[Any], shape: list[Any], output: str = "y", **kw: Any) -> Any:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        initializer=inits,
    )
    return helper.make_model(graph, **{"opset_imports": [helper.make_opsetid("", 17)], **kw})


def _weight(name: str, dims: list[int]) -> Any:
    return helper.make_tensor(name, TensorProto.FLOAT, dims, [0.0] * _count(dims))


def _count(dims: list[int]) -> int:
    total = 1
    for size in dims:
        total *= size
    return total


def _save(model: Any, folder: Path, name: str = "m.onnx") -> str:
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return str(path)


def _refusal(path: str) -> str:
    with pytest.raises(SpecError) as caught:
        read_onnx_file(path)
    return "\n".join(p.message for p in caught.value.problems)


def _restride(indices: list[int], shape: list[int]) -> list[Any]:
    return [
        helper.make_node("GlobalAveragePool", ["x"], ["pooled"], name="gap"),
        helper.make_node("Reshape", ["pooled", "flat"], ["flat_out"], name="flat"),
        helper.make_node("Constant", [], ["picks"], value=helper.make_tensor("p", TensorProto.INT64, shape, indices)),
        helper.make_node("Gather", ["flat_out", "picks"], ["y"], name="as_strided", axis=0),
    ]


def test_an_as_strided_of_every_element_in_place_is_no_step(tmp_path: Path) -> None:
    inits = [helper.make_tensor("flat", TensorProto.INT64, [1], [-1])]
    same = _model(_restride(list(range(6)), [1, 6, 1, 1]), inits, [1, 6, 5, 5])
    spec = read_onnx_file(_save(same, tmp_path)).spec
    assert [layer["type"] for layer in spec["layers"]] == ["global_pool"]
    # Anything else a Gather does (here: the channels reversed) is still refused by name.
    reversed_ = _model(_restride(list(range(5, -1, -1)), [1, 6, 1, 1]), inits, [1, 6, 5, 5])
    assert "node 'as_strided' (Gather)" in _refusal(_save(reversed_, tmp_path, "reversed.onnx"))


def test_an_as_strided_reads_its_indices_from_external_data(tmp_path: Path) -> None:
    # A default dynamo export keeps every tensor over 1 KiB in a .data file beside the graph, the Gather's
    # indices too: convcalc reads those integers (and never a float tensor), within the model's folder.
    import onnx

    def saved(indices: list[int], name: str) -> str:
        nodes = [node for node in _restride(indices, [1, 6, 1, 1]) if node.op_type != "Constant"]
        raw = b"".join(index.to_bytes(8, "little", signed=True) for index in indices)  # only raw data goes out
        inits = [
            helper.make_tensor("flat", TensorProto.INT64, [1], [-1]),
            helper.make_tensor("picks", TensorProto.INT64, [1, 6, 1, 1], raw, raw=True),
        ]
        path = tmp_path / f"{name}.onnx"
        onnx.save_model(
            _model(nodes, inits, [1, 6, 5, 5]), str(path), save_as_external_data=True, location=f"{name}.data",
            size_threshold=0,
        )  # fmt: skip
        assert (tmp_path / f"{name}.data").stat().st_size == 48  # the indices, and only they, outside the graph
        return str(path)

    in_place = saved(list(range(6)), "in_place")
    assert [layer["type"] for layer in read_onnx_file(in_place).spec["layers"]] == ["global_pool"]
    assert "node 'as_strided' (Gather)" in _refusal(saved([1, 0, 2, 3, 4, 5], "swapped"))
    (tmp_path / "in_place.data").write_bytes(b"\0" * 3)  # truncated: the indices cannot be read, so no pattern
    assert "node 'as_strided' (Gather)" in _refusal(in_place)


def test_conv_options_map_to_the_spec(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["a"], name="asym", pads=[0, 0, 1, 1], strides=[2, 2]),
        helper.make_node("Conv", ["a", "w2"], ["b"], name="dw", group=8, auto_pad="SAME_LOWER", dilations=[2, 2]),
        helper.make_node("Conv", ["b", "w3"], ["c"], name="grouped", group=2, auto_pad="SAME_UPPER"),
        helper.make_node("Clip", ["c", "lo", "hi"], ["d"], name="relu6"),
        helper.make_node("ReduceMean", ["d"], ["e"], name="gap", axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["e", "w4"], ["f"], name="fc"),
        helper.make_node("Add", ["f", "b4"], ["y"], name="fc_bias"),
    ]
    inits = [
        _weight("w1", [8, 3, 3, 3]),
        _weight("b1", [8]),
        _weight("w2", [16, 1, 3, 3]),
        _weight("w3", [4, 8, 1, 1]),
        helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("hi", TensorProto.FLOAT, [], [6.0]),
        _weight("w4", [4, 10]),
        _weight("b4", [10]),
    ]
    spec = read_onnx_file(_save(_model(nodes, inits, [1, 3, 16, 16]), tmp_path)).spec
    layers = {layer["name"]: layer for layer in spec["layers"]}
    assert layers["asym/zero_padding"]["padding"] == [[0, 1], [0, 1]]
    assert layers["asym"]["padding"] == 0 and layers["asym"]["stride"] == 2
    assert layers["dw"] == {
        "type": "depthwise",
        "name": "dw",
        "kernel": 3,
        "padding": 2,
        "dilation": 2,
        "multiplier": 2,
        "bias": False,
    }
    assert layers["grouped"]["groups"] == 2 and layers["grouped"]["padding"] == "same"
    assert layers["relu6"] == {"type": "activation", "kind": "relu6", "name": "relu6"}
    assert layers["gap"]["type"] == "global_pool"
    assert layers["fc"] == {"type": "fc", "units": 10, "name": "fc"}  # the Add became its bias
    assert spec["input"] == [16, 16, 3]


def test_a_1x1_pool_with_padding_is_no_adaptive_pool(tmp_path: Path) -> None:
    # Padding on one side makes it grow the volume: zero padding and the pool, as before.
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[1, 1], pads=[0, 0, 1, 1])]
    path = _save(_model(nodes, [], [1, 3, 7, 7]), tmp_path)
    assert [layer["type"] for layer in read_onnx_file(path).spec["layers"]] == ["zero_padding", "pool"]
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[1, 1])]
    (pool,) = read_onnx_file(_save(_model(nodes, [], [1, 3, 7, 5]), tmp_path)).spec["layers"]
    assert (pool["type"], pool["output"]) == ("pool", [7, 5])


def test_an_unknown_op_is_refused_naming_the_node(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="c"),
        helper.make_node("Hardmax", ["a"], ["y"], name="odd"),
    ]
    message = _refusal(_save(_model(nodes, [_weight("w", [4, 3, 3, 3])], [1, 3, 8, 8]), tmp_path))
    assert "node 'odd' (Hardmax): convcalc cannot model Hardmax" in message
    assert "convcalc imports these ONNX ops:" in message


def test_a_model_without_a_fixed_size_is_refused(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    message = _refusal(_save(_model(nodes, [], ["N", 3, "H", "W"]), tmp_path))
    assert "input 'x' has shape (N, 3, H, W): no fixed size" in message


def test_input_fills_a_dynamic_height_and_width(tmp_path: Path) -> None:
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[1, 1, 1, 1])]
    path = _save(_model(nodes, [_weight("w", [4, 3, 3, 3])], ["N", 3, "H", "W"]), tmp_path)
    assert read_onnx_file(path, (32, 24, None)).spec["input"] == [32, 24, 3]
    with pytest.raises(SpecError, match="its depth is fixed at 3, but --input 32x24x5 asks for 5"):
        read_onnx_file(path, (32, 24, 5))
    result = runner.invoke(app, ["check", path, "--input", "32x24", "--format", "json"])
    assert result.exit_code == 0, result.output


def test_newer_ops_map_to_their_kinds(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a0"], name="c"),
        helper.make_node("Split", ["a0"], ["j", "k"], name="halves", axis=1, num_outputs=2),
        helper.make_node("Concat", ["k", "j"], ["a"], name="cat", axis=1),
        helper.make_node("HardSigmoid", ["a"], ["b"], name="hs", alpha=1 / 6),
        helper.make_node("Mul", ["a", "b"], ["c"], name="gate"),
        helper.make_node("Resize", ["c", "", "scales"], ["d"], name="up", mode="nearest"),
        helper.make_node("Pad", ["d", "crop"], ["e"], name="crop"),
        helper.make_node("GroupNormalization", ["e", "gs", "gb"], ["f"], name="gn", num_groups=2),
        helper.make_node("Div", ["f", "sqrt2"], ["g1"], name="g_div"),
        helper.make_node("Erf", ["g1"], ["g2"], name="g_erf"),
        helper.make_node("Add", ["g2", "one"], ["g3"], name="g_add"),
        helper.make_node("Mul", ["f", "g3"], ["g4"], name="g_mul"),
        helper.make_node("Mul", ["g4", "half"], ["h"], name="gelu"),
        helper.make_node("Sigmoid", ["h"], ["s"], name="sig"),
        helper.make_node("Mul", ["h", "s"], ["y"], name="silu"),
    ]
    scalar = lambda name, value: helper.make_tensor(name, TensorProto.FLOAT, [], [value])  # noqa: E731
    inits = [
        _weight("w", [4, 3, 3, 3]),
        helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0]),
        helper.make_tensor("crop", TensorProto.INT64, [8], [0, 0, -1, -2, 0, 0, -1, 0]),
        _weight("gs", [4]),
        _weight("gb", [4]),
        scalar("sqrt2", 2**0.5),
        scalar("one", 1.0),
        scalar("half", 0.5),
    ]
    model = _model(nodes, inits, [1, 3, 10, 10])
    model.opset_import[0].version = 21
    layers = {layer["name"]: layer for layer in read_onnx_file(_save(model, tmp_path)).spec["layers"]}
    assert layers["hs"]["kind"] == "hard_sigmoid" and layers["gate"]["type"] == "multiply"
    assert layers["up"] == {"type": "upsample", "factor": 2, "name": "up"}
    assert layers["crop"]["crop"] == [[1, 1], [2, 0]] and layers["gn"]["groups"] == 2
    assert layers["gelu"]["kind"] == "gelu" and "g_erf" not in layers
    assert layers["silu"]["kind"] == "swish" and "sig" not in layers
    assert [layers[n]["part"] for n in ("halves", "halves_2")] == [0, 1]


def test_ops_with_other_semantics_are_refused_by_name(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("HardSigmoid", ["x"], ["a"], name="keras2"),
        helper.make_node(
            "AveragePool", ["a"], ["y"], name="avg", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
        ),
    ]
    message = _refusal(_save(_model(nodes, [], [1, 3, 8, 8]), tmp_path))
    assert "node 'keras2' (HardSigmoid): alpha=0.2" in message
    assert "node 'avg' (AveragePool): count_include_pad=0 with padding" in message  # "same" would pad 0, 1


def test_pools_that_leave_out_pads_as_same_does_are_same_pools(tmp_path: Path) -> None:
    # Inception v4's AvgPool2d(3, 1, 1, count_include_pad=False), and NASNet's "same" max pool: a Pad by −inf
    # (0, 1) in front of a MaxPool. TensorFlow's "same" leaves its padding out of both, so each is that pool.
    def constant(name: str, dims: list[int], values: list[Any], kind: int = TensorProto.FLOAT) -> Any:
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, kind, dims, values))

    nodes = [
        helper.make_node("AveragePool", ["x"], ["a"], name="avg", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        constant("pads", [8], [0, 0, 0, 0, 0, 0, 1, 1], TensorProto.INT64),
        constant("minus_inf", [], [float("-inf")]),
        helper.make_node("Pad", ["a", "pads", "minus_inf"], ["b"], name="pad"),
        helper.make_node("MaxPool", ["b"], ["c"], name="max", kernel_shape=[3, 3], strides=[2, 2]),
        constant("shift", [8], [0, 0, -1, -1, 0, 0, 1, 1], TensorProto.INT64),
        helper.make_node("Pad", ["c", "shift"], ["y"], name="shifted"),
    ]
    layers = read_onnx_file(_save(_model(nodes, [], [1, 3, 8, 8]), tmp_path)).spec["layers"]
    assert [(layer["name"], layer.get("padding")) for layer in layers if layer["type"] == "pool"] == [
        ("avg", "same"),
        ("max", "same"),
    ]
    assert "pad" not in {layer["name"] for layer in layers}  # the −inf Pad is the max pool's own padding
    # NASNet's pad-then-shift in one node: the negative sides crop, the positive ones pad
    assert [(layer["type"], layer.get("crop"), layer.get("padding")) for layer in layers[-2:]] == [
        ("cropping", [[1, 0], [1, 0]], None),
        ("zero_padding", None, [[0, 1], [0, 1]]),
    ]
    facts = analyze(validate("m", read_onnx_file(_save(_model(nodes, [], [1, 3, 8, 8]), tmp_path)).spec))
    assert facts.layers[-1].output_shape == Shape(4, 4, 3)


def test_a_sequence_split_into_unequal_parts_is_a_split_per_part(tmp_path: Path) -> None:
    # FasterNet's partial conv, torch.split(x, [1, 3], dim=1) as the dynamo exporter writes it: SplitToSequence,
    # then SequenceAt of each part (a negative position counts from the end).
    nodes = [
        _ints("sizes", [1, 3]),
        helper.make_node("SplitToSequence", ["x", "sizes"], ["parts"], name="cut", axis=1),
        _ints("first", [0]),
        helper.make_node("SequenceAt", ["parts", "first"], ["a"], name="conv_part"),
        _ints("last", [-1]),
        helper.make_node("SequenceAt", ["parts", "last"], ["b"], name="untouched"),
        helper.make_node("Conv", ["a", "w"], ["c"], name="partial", pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["c", "b"], ["y"], name="cat", axis=1),
    ]
    for node in nodes:
        if node.op_type == "Constant" and node.output[0] in ("first", "last"):
            node.attribute[0].t.dims[:] = []  # a scalar position
    layers = read_onnx_file(_save(_model(nodes, [_weight("w", [1, 1, 3, 3])], [1, 4, 8, 8]), tmp_path)).spec["layers"]
    splits = [(layer["name"], layer["start"], layer["stop"]) for layer in layers if layer["type"] == "split"]
    assert splits == [("conv_part", 0, 1), ("untouched", 1, 4)]
    uneven = [_ints("sizes", [1, 2]), helper.make_node("SplitToSequence", ["x", "sizes"], ["y"], name="cut", axis=1)]
    assert "split sizes [1, 2] do not cut 4 channels" in _refusal(_save(_model(uneven, [], [1, 4, 8, 8]), tmp_path))


def test_arithmetic_with_a_number_is_a_rescaling(tmp_path: Path) -> None:
    # NFNet's and Inception-ResNet's x·0.17, MobileOne's x + 0, RepViT's (a + b) / 2: numbers written into the
    # graph (Constant nodes), no parameters.
    def number(name: str, value: float) -> Any:
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.FLOAT, [], [value]))

    nodes = [
        number("k", 1.7138999700546265),
        helper.make_node("Mul", ["x", "k"], ["a"], name="mul"),
        number("half", 0.5),
        helper.make_node("Add", ["half", "a"], ["b"], name="add"),
        number("two", 2.0),
        helper.make_node("Sub", ["b", "two"], ["c"], name="sub"),
        helper.make_node("Sub", ["two", "c"], ["d"], name="from"),
        number("four", 4.0),
        helper.make_node("Div", ["d", "four"], ["y"], name="div"),
    ]
    layers = read_onnx_file(_save(_model(nodes, [], [1, 3, 8, 8]), tmp_path)).spec["layers"]
    assert [(layer["type"], layer["scale"], layer.get("offset", 0)) for layer in layers] == [
        ("rescaling", 1.7139, 0),
        ("rescaling", 1.0, 0.5),
        ("rescaling", 1.0, -2.0),
        ("rescaling", -1.0, 2.0),
        ("rescaling", 0.25, 0),
    ]
    # A stored one-value tensor is a trained one (HGNetV2's learnable affine, NFNet's skip-init gain): a scale.
    stored = [helper.make_node("Mul", ["x", "s"], ["y"], name="learned")]
    spec = read_onnx_file(_save(_model(stored, [_weight("s", [])], [1, 3, 8, 8]), tmp_path)).spec
    assert spec["layers"] == [{"type": "scale", "gammas": "one", "name": "learned"}]
    assert analyze(validate("m", spec)).total_trainable_params == 1
    # Nor is a number computed from one: x·(1 + γ), or a slice of a stored vector.
    plus = [
        number("one", 1.0),
        helper.make_node("Add", ["one", "g"], ["k"]),
        helper.make_node("Mul", ["x", "k"], ["y"], name="plus"),
    ]
    assert "node 'plus' (Mul): multiplies by a constant tensor" in _refusal(
        _save(_model(plus, [_weight("g", [1])], [1, 3, 8, 8]), tmp_path)
    )
    # A number with more axes than the data would add axes to its shape: no rescaling.
    five = [
        helper.make_node(
            "Constant", [], ["k"], value=helper.make_tensor("k", TensorProto.FLOAT, [1, 1, 1, 1, 1], [2.0])
        ),
        helper.make_node("Mul", ["x", "k"], ["y"], name="wider"),
    ]
    assert "node 'wider' (Mul)" in _refusal(_save(_model(five, [], [1, 3, 8, 8]), tmp_path))
    over = [number("one", 1.0), helper.make_node("Div", ["one", "x"], ["y"], name="reciprocal")]
    assert "node 'reciprocal' (Div): divides tensors" in _refusal(_save(_model(over, [], [1, 3, 8, 8]), tmp_path))
    # x − x of two layer outputs is a subtract (a merge); x − a stored tensor is neither.
    both = [helper.make_node("Sub", ["x", "x"], ["y"], name="difference")]
    layers = read_onnx_file(_save(_model(both, [], [1, 3, 8, 8]), tmp_path)).spec["layers"]
    assert layers == [{"type": "subtract", "inputs": ["input", "input"], "name": "difference"}]
    stored = [helper.make_node("Sub", ["x", "g"], ["y"], name="minus_stored")]
    assert "node 'minus_stored' (Sub): subtracts a constant tensor" in _refusal(
        _save(_model(stored, [_weight("g", [3, 1, 1])], [1, 3, 8, 8]), tmp_path)
    )


def test_external_data_outside_the_folder_is_refused(tmp_path: Path) -> None:
    weight = _weight("w", [4, 3, 3, 3])
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c")]
    message = _refusal(_save(_model(nodes, [weight], [1, 3, 8, 8]), tmp_path))
    assert "initializer 'w': its external data is at '../../etc/passwd', outside the model's folder" in message


def test_limits_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(FIXTURES / "resnet18.dynamo.onnx")
    monkeypatch.setattr(onnx_import, "MAX_NODES", 10)
    assert "the graph has 49 nodes; convcalc reads at most 10" in _refusal(path)
    monkeypatch.setattr(onnx_import, "MAX_ONNX_BYTES", 1000)
    assert "convcalc reads ONNX files up to 1,000 bytes" in _refusal(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_a_truncated_file_is_exit_2_without_a_traceback(tmp_path: Path, keep: float) -> None:
    data = (FIXTURES / "resnet18.torchscript.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * keep)])
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- the command line


def test_import_and_check_from_the_command_line(tmp_path: Path) -> None:
    model = str(FIXTURES / "resnet18.torchscript.onnx")
    out = tmp_path / "spec.json"
    result = runner.invoke(app, ["import", model, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "note: BatchNormalization folded into 20 convs" in result.output  # on stderr
    spec = json.loads(out.read_text(encoding="utf-8"))
    assert spec["input"] == [224, 224, 3] and spec["layers"][0]["name"] == "/conv1/Conv"
    checked = runner.invoke(app, ["check", model, "--format", "json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["total_params"] == ORACLE["resnet18.torchscript"]["layer_params"]
    drawn = runner.invoke(app, ["draw", str(FIXTURES / "squeezenet1_1.dynamo.onnx"), "-o", str(tmp_path / "n.svg")])
    assert drawn.exit_code == 0, drawn.output


def test_without_the_onnx_extra_one_line_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        f"sys.argv = ['convcalc', 'check', {str(FIXTURES / 'resnet18.dynamo.onnx')!r}]\n"
        "from convcalc.__main__ import main; main()"
    )
    process = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert process.returncode == 2, process.stderr
    assert "Traceback" not in process.stderr
    assert "pip install 'convcalc[onnx]'" in process.stderr


# ---------------------------------------------------------------- the exporters' spellings of layers


def _ints(name: str, values: list[int]) -> Any:
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [len(values)], values)
    )


def test_torchscripts_pads_chain_of_constants_is_evaluated(tmp_path: Path) -> None:
    """F.pad / nn.ZeroPad2d((1, 2, 0, 1)) as the TorchScript exporter writes it: the (left, right, top, bottom)
    pairs padded with zeros for N and C (ConstantOfShape, Concat), then Reshape (-1, 2), Slice with step -1 to
    reverse the pairs, Transpose, Reshape (-1) and Cast to ONNX's [begins…, ends…]."""
    nodes = [
        _ints("zeros_shape", [4]),
        _ints("torch_pads", [1, 2, 0, 1]),
        helper.make_node("ConstantOfShape", ["zeros_shape"], ["zeros"], value=helper.make_tensor("v", 7, [1], [0])),
        helper.make_node("Concat", ["torch_pads", "zeros"], ["all_pads"], axis=0),
        _ints("pairs", [-1, 2]),
        helper.make_node("Reshape", ["all_pads", "pairs"], ["paired"]),
        _ints("starts", [-1]),
        _ints("ends", [-9223372036854775807]),
        _ints("axes", [0]),
        _ints("steps", [-1]),
        helper.make_node("Slice", ["paired", "starts", "ends", "axes", "steps"], ["reversed"]),
        helper.make_node("Transpose", ["reversed"], ["columns"], perm=[1, 0]),
        _ints("flat", [-1]),
        helper.make_node("Reshape", ["columns", "flat"], ["onnx_pads"]),
        helper.make_node("Cast", ["onnx_pads"], ["pads"], to=TensorProto.INT64),
        helper.make_node("Pad", ["x", "pads"], ["p"], name="/0/Pad", mode="constant"),
        helper.make_node("Conv", ["p", "w"], ["y"], name="conv"),
    ]
    spec = read_onnx_file(_save(_model(nodes, [_weight("w", [4, 3, 3, 3])], [1, 3, 8, 8]), tmp_path)).spec
    assert spec["layers"][0] == {"type": "zero_padding", "padding": [[0, 1], [1, 2]], "name": "/0/Pad"}
    assert [layer["type"] for layer in spec["layers"]] == ["zero_padding", "conv"]


@pytest.mark.parametrize(
    ("starts", "ends", "axes", "steps", "expected"),
    [
        ([-1], [-9223372036854775807], [0], [-1], [4, 5, 2, 3, 0, 1]),  # reversed rows
        ([5], [-100], [1], [-2], [1, 3, 5]),  # clamped to the last column going back
        ([-100], [100], [-1], [2], [0, 2, 4]),  # clamped to the axis going forward
        ([1, 0], [3, 1], [0, 1], [1, 1], [2, 4]),
        ([2], [0], [0], [1], []),  # empty
    ],
)
def test_a_slice_of_a_constant_follows_onnx_clamping(
    starts: list[int], ends: list[int], axes: list[int], steps: list[int], expected: list[int]
) -> None:
    data = onnx_import.Constant("d", (3, 2), (0, 1, 2, 3, 4, 5))
    bounds = [
        onnx_import.Constant(n, (len(v),), tuple(v)) for n, v in zip("seat", (starts, ends, axes, steps), strict=True)
    ]
    node = onnx_import.OnnxNode("s", "Slice", 0, 17, {}, (data, *bounds), (), None)
    sliced = onnx_import._sliced(data, node)
    assert sliced is not None and list(sliced[0]) == expected
    assert onnx_import._transposed(data, [1, 0]) == ((0, 2, 4, 1, 3, 5), (2, 3))


def _without_shapes(monkeypatch: pytest.MonkeyPatch, *tensors: str) -> None:
    """ONNX's shape inference gives up on these tensors (as it does after the TorchScript exporter's chunk)."""
    inferred = onnx_import._inferred
    monkeypatch.setattr(
        onnx_import, "_inferred", lambda model: {k: v for k, v in inferred(model).items() if k not in tensors}
    )


@pytest.mark.parametrize(
    ("inputs", "unknown", "expected"),
    [
        (["cat", "", "", "sizes"], ("cat", "y"), {"size": [25, 19]}),  # sizes: no shapes needed
        (["cat", "", "", "shape_sizes"], ("cat",), {"size": [25, 19]}),  # sizes from Shape: inference's H×W
        (["cat", "", "scales"], ("y",), {"size": [25, 22], "interpolation": "bilinear"}),  # floor(17·1.5)
        (["cat", "", "twice"], ("cat", "y"), {"factor": 2, "interpolation": "bilinear"}),
    ],
)
def test_a_resize_after_a_concat_takes_n_and_c_from_its_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: list[str], unknown: tuple[str, ...], expected: Any
) -> None:
    _without_shapes(monkeypatch, *unknown)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Split", ["a"], ["j", "k"], name="chunk", axis=1, num_outputs=2),
        helper.make_node("Concat", ["k", "j"], ["cat"], name="cat", axis=1),
        helper.make_node("Shape", ["cat"], ["cat_shape"]),
        helper.make_node("Slice", ["cat_shape", "zero", "two"], ["nc"]),
        helper.make_node("Concat", ["nc", "hw"], ["shape_sizes"], axis=0),
        helper.make_node("Resize", inputs, ["y"], name="up", mode="nearest" if "sizes" in inputs[-1] else "linear"),
    ]
    inits = [
        _weight("w", [8, 3, 3, 3]),
        helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 8, 25, 19]),
        helper.make_tensor("hw", TensorProto.INT64, [2], [25, 19]),
        helper.make_tensor("two", TensorProto.INT64, [1], [2]),
        helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 1.5, 1.5]),
        helper.make_tensor("twice", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0]),
    ]
    model = _model(nodes, inits, [1, 3, 17, 15], opset_imports=[helper.make_opsetid("", 18)])
    spec = read_onnx_file(_save(model, tmp_path)).spec
    assert spec["layers"][-1] == {"type": "upsample", "name": "up", **expected}


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_pytorchs_group_norm_is_one_group_norm(tmp_path: Path, exporter: str) -> None:
    """nn.GroupNorm(2, 8) as both exporters write it: Reshape (N, G, -1), InstanceNormalization with ones and
    zeros per group (no parameters), Reshape back, Mul by γ and Add β ([C, 1, 1], or [C] unsqueezed)."""
    torchscript = exporter == "torchscript"
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        _ints("grouped_shape", [0, 2, -1]),
        helper.make_node("Reshape", ["a", "grouped_shape"], ["grouped"], name="gn/Reshape"),
        helper.make_node("InstanceNormalization", ["grouped", "ones", "zeros"], ["normed"], name="gn/Instance"),
        helper.make_node("Shape", ["a"], ["a_shape"]) if torchscript else _ints("a_shape", [1, 8, 6, 6]),
        helper.make_node("Reshape", ["normed", "a_shape"], ["back"], name="gn/Reshape_1"),
        *(
            [
                _ints("axes", [1, 2]),
                helper.make_node("Unsqueeze", ["gamma", "axes"], ["g"]),
                helper.make_node("Unsqueeze", ["beta", "axes"], ["b"]),
            ]
            if torchscript
            else []
        ),
        helper.make_node("Mul", ["back", "g" if torchscript else "gamma"], ["scaled"], name="gn/Mul"),
        helper.make_node("Add", ["b" if torchscript else "beta", "scaled"], ["y"], name="gn"),
    ]
    per_channel = [8] if torchscript else [8, 1, 1]
    inits = [
        _weight("w", [8, 3, 3, 3]),
        helper.make_tensor("ones", TensorProto.FLOAT, [2], [1.0, 1.0]),
        helper.make_tensor("zeros", TensorProto.FLOAT, [2], [0.0, 0.0]),
        _weight("gamma", per_channel),
        _weight("beta", per_channel),
    ]
    spec = read_onnx_file(_save(_model(nodes, inits, [1, 3, 8, 8]), tmp_path)).spec
    assert spec["layers"][1:] == [{"type": "group_norm", "groups": 2, "name": "gn"}]
    params = analyze(validate("m", spec)).layers[1]
    assert params.weights + params.biases + params.non_trainable == 16  # γ and β, not the per-group ones and zeros


def test_an_instance_norm_with_other_constants_is_not_a_group_norm(tmp_path: Path) -> None:
    nodes = [
        _ints("grouped_shape", [0, 3, -1]),
        helper.make_node("Reshape", ["x", "grouped_shape"], ["grouped"]),
        helper.make_node("InstanceNormalization", ["grouped", "ones", "zeros"], ["normed"], name="inorm"),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Reshape", ["normed", "x_shape"], ["back"]),
        helper.make_node("Mul", ["back", "gamma"], ["scaled"]),
        helper.make_node("Add", ["scaled", "gamma"], ["y"]),
    ]
    inits = [
        helper.make_tensor("ones", TensorProto.FLOAT, [3], [1.0, 2.0, 1.0]),
        helper.make_tensor("zeros", TensorProto.FLOAT, [3], [0.0, 0.0, 0.0]),
        _weight("gamma", [3, 1, 1]),
    ]
    # Not fused: the reshapes around it are refused by name (an instance norm alone reads a volume).
    with pytest.raises(SpecError, match="'grouped' \\(Reshape\\): reshapes \\(1, 3, 8, 8\\) to \\(1, 3, 64\\)"):
        read_onnx_file(_save(_model(nodes, inits, [1, 3, 8, 8]), tmp_path))


def test_an_instance_norm_of_a_volume_is_a_group_norm_per_channel(tmp_path: Path) -> None:
    # nn.InstanceNorm2d(8, affine=True) as both exporters write it: one node, γ and β of 8 values each.
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        helper.make_node("InstanceNormalization", ["a", "gamma", "beta"], ["y"], name="inorm", epsilon=1e-5),
    ]
    inits = [_weight("w", [8, 3, 3, 3]), _weight("gamma", [8]), _weight("beta", [8])]
    spec = read_onnx_file(_save(_model(nodes, inits, [1, 3, 8, 8]), tmp_path)).spec
    assert spec["layers"][1:] == [{"type": "group_norm", "groups": 8, "name": "inorm"}]
    norm = analyze(validate("m", spec)).layers[1]
    assert (norm.output_shape, norm.weights + norm.biases) == (Shape(6, 6, 8), 16)
    # A scale that is not one value per channel, or not as long as the bias, is refused by name.
    inits[1] = _weight("gamma", [4])
    assert "node 'inorm' (InstanceNormalization): a scale of 4 values and a bias of 8" in _refusal(
        _save(_model(nodes, inits, [1, 3, 8, 8]), tmp_path)
    )


@pytest.mark.parametrize(
    ("slope", "expected", "params"),
    [
        ([4, 1, 1], "channel", 4),  # nn.PReLU(4), TorchScript's export
        ([1, 4, 1, 1], "channel", 4),  # the dynamo exporter's
        ([1], "one", 1),  # nn.PReLU()
        ([], "one", 1),
        ([4, 6, 5], "position", 120),
        ([1, 4, 6, 5], "position", 120),
    ],
)
def test_a_prelu_is_read_by_how_its_slope_broadcasts(
    tmp_path: Path, slope: list[int], expected: str, params: int
) -> None:
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["y"], name="prelu")]
    spec = read_onnx_file(_save(_model(nodes, [_weight("slope", slope)], [1, 4, 6, 5]), tmp_path)).spec
    assert spec["layers"] == [{"type": "prelu", "slopes": expected, "name": "prelu"}]
    assert analyze(validate("m", spec)).layers[0].weights == params


@pytest.mark.parametrize(
    ("slope", "shape"),
    [
        ([4], [1, 4, 6, 5]),  # broadcast along W, not the channels
        ([5], [1, 4, 6, 5]),  # one per column
        ([2, 4, 1, 1], [1, 4, 6, 5]),  # per batch item
        ([1, 1, 1, 1, 1], [1, 4, 6, 5]),  # more axes than the data
        ([6, 1], [1, 4, 6, 5]),  # per row
    ],
)
def test_a_prelu_slope_convcalc_cannot_share_is_refused(tmp_path: Path, slope: list[int], shape: list[int]) -> None:
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["y"], name="prelu")]
    message = _refusal(_save(_model(nodes, [_weight("slope", slope)], shape), tmp_path))
    assert "node 'prelu' (PRelu)" in message


def test_a_prelu_of_a_dynamic_batch_is_read(tmp_path: Path) -> None:
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["y"], name="prelu")]
    model = _model(nodes, [_weight("slope", [1, 4, 1, 1])], ["N", 4, 6, 5])
    assert read_onnx_file(_save(model, tmp_path)).spec["layers"] == [
        {"type": "prelu", "slopes": "channel", "name": "prelu"}
    ]


def test_a_prelu_of_a_vector_has_one_slope_per_value(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], name="flat"),
        helper.make_node("PRelu", ["f", "slope"], ["y"], name="prelu"),
    ]
    spec = read_onnx_file(_save(_model(nodes, [_weight("slope", [12])], [1, 3, 2, 2]), tmp_path)).spec
    assert spec["layers"][-1] == {"type": "prelu", "slopes": "channel", "name": "prelu"}
    assert analyze(validate("m", spec)).total_params == 12


def test_an_instance_norm_without_affine_expanded_from_one_value_has_no_parameters(tmp_path: Path) -> None:
    # The dynamo exporter (torch 2.14) writes InstanceNorm2d(8)'s (affine=False) ones and zeros as a Constant of
    # one value, expanded to the depth and cast like the data: plumbing, no stored tensor.
    def expanded(name: str, value: float) -> list[Any]:
        one = helper.make_tensor(name + "_1", TensorProto.FLOAT, [1], [value])
        return [
            helper.make_node("Constant", [], [name + "_1"], value=one),
            helper.make_node("Shape", ["a"], [name + "_shape"], start=1, end=2),
            helper.make_node("Expand", [name + "_1", name + "_shape"], [name + "_x"]),
            helper.make_node("CastLike", [name + "_x", "a"], [name]),
        ]

    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        *expanded("ones", 1.0),
        *expanded("zeros", 0.0),
        helper.make_node("InstanceNormalization", ["a", "ones", "zeros"], ["y"], name="inorm"),
    ]
    spec = read_onnx_file(_save(_model(nodes, [_weight("w", [8, 3, 3, 3])], [1, 3, 8, 8]), tmp_path)).spec
    assert spec["layers"][1] == {"type": "group_norm", "groups": 8, "scale": False, "center": False, "name": "inorm"}
    assert analyze(validate("m", spec)).total_params == 8 * 3 * 3 * 3
    # A scale computed from a stored tensor (trained values, scaled or expanded) is no exporter's ones: refused.
    derived = [
        nodes[0],
        helper.make_node("Mul", ["gamma", "two"], ["scale"]),
        *expanded("zeros", 0.0),
        helper.make_node("InstanceNormalization", ["a", "scale", "zeros"], ["y"], name="inorm"),
    ]
    inits = [_weight("w", [8, 3, 3, 3]), _weight("gamma", [8]), helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])]
    message = _refusal(_save(_model(derived, inits, [1, 3, 8, 8]), tmp_path, "derived.onnx"))
    assert "node 'inorm' (InstanceNormalization): its scale (input 1) is computed from a stored tensor" in message


@pytest.mark.parametrize("depth", [8, MAX_VALUES + 1])
def test_an_instance_norm_without_affine_written_as_constant_nodes_has_no_parameters(
    tmp_path: Path, depth: int
) -> None:
    # The TorchScript exporter writes InstanceNorm2d(C)'s (affine=False) ones and zeros as Constant nodes;
    # initializers are stored values, which a model may train (counted, as in the test above). Past the values a
    # constant keeps (C = 1,025), the ones were counted as a trained γ and β: 2,050 parameters where PyTorch has 0.
    def constant(name: str, values: list[float]) -> Any:
        return helper.make_node(
            "Constant", [], [name], value=helper.make_tensor(name, TensorProto.FLOAT, [depth], values)
        )

    def read(scale: list[float], inits: list[Any]) -> int:
        nodes = [
            helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
            *([] if inits[1:] else [constant("ones", scale), constant("zeros", [0.0] * depth)]),
            helper.make_node("InstanceNormalization", ["a", "ones", "zeros"], ["y"], name="inorm"),
        ]
        spec = read_onnx_file(_save(_model(nodes, inits, [1, 3, 4, 4]), tmp_path)).spec
        return analyze(validate("m", spec)).layers[1].params

    conv = _weight("w", [depth, 3, 3, 3])
    assert read([1.0] * depth, [conv]) == 0
    # A scale that is not ones throughout is a γ (however many values it has); β's zeros alone are no bias.
    assert read([1.0] * (depth - 1) + [2.0], [conv]) == depth
    # Ones and zeros as initializers are stored values, counted.
    stored = [
        helper.make_tensor(n, TensorProto.FLOAT, [depth], [v] * depth) for n, v in (("ones", 1.0), ("zeros", 0.0))
    ]
    assert read([], [conv, *stored]) == 2 * depth


@pytest.mark.parametrize(("axis", "opset"), [(1, 13), (-3, 13), (1, 11)])
def test_log_softmax_over_the_channels_is_an_activation(tmp_path: Path, axis: int, opset: int) -> None:
    # PyTorch's MNIST example ends in F.log_softmax(x, dim=1) on [N, 10] logits.
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flat"),
        helper.make_node("LogSoftmax", ["f"], ["y"], name="logp", axis=1),
    ]
    model = _model(nodes, [], [1, 10, 4, 4], opset_imports=[helper.make_opsetid("", opset)])
    assert read_onnx_file(_save(model, tmp_path)).spec["layers"][-1] == {
        "type": "activation",
        "kind": "log_softmax",
        "name": "logp",
    }
    # Over an axis of a volume other than the channels, it is another function.
    spatial = [helper.make_node("LogSoftmax", ["x"], ["y"], name="logp", axis=axis + 2 if axis > 0 else -1)]
    opsets = [helper.make_opsetid("", opset)]
    message = _refusal(_save(_model(spatial, [], [1, 10, 4, 4], opset_imports=opsets), tmp_path))
    assert "node 'logp' (LogSoftmax): log_softmax over axis" in message


@pytest.mark.parametrize(
    ("starts", "ends", "axes", "expected"),
    [
        ([1], [-2], [2], {"type": "cropping", "crop": [[1, 2], [0, 0]]}),  # x[:, :, 1:-2, :]
        ([1, 0], [9223372036854775807, 7], [-2, -1], {"type": "cropping", "crop": [[1, 0], [0, 1]]}),
        ([0, 0, 2, 1], [1, 8, 7, 9223372036854775807], [0, 1, 2, 3], {"type": "cropping", "crop": [[2, 1], [1, 0]]}),
        ([2], [9223372036854775807], [1], {"type": "split", "start": 2, "stop": 8}),
    ],
)
def test_a_slice_of_h_and_w_is_a_cropping(
    tmp_path: Path, starts: list[int], ends: list[int], axes: list[int], expected: dict[str, Any]
) -> None:
    nodes = [
        _ints("starts", starts),
        _ints("ends", ends),
        _ints("axes", axes),
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        helper.make_node("Slice", ["a", "starts", "ends", "axes"], ["y"], name="cut"),
    ]
    spec = read_onnx_file(_save(_model(nodes, [_weight("w", [8, 3, 3, 3])], [1, 3, 10, 10]), tmp_path)).spec
    assert spec["layers"][-1] == {**expected, "name": "cut"}


def test_a_slice_convcalc_cannot_read_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _without_shapes(monkeypatch, "a")
    nodes = [
        _ints("starts", [0]),
        _ints("ends", [-1]),
        _ints("axes", [1]),
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        helper.make_node("Slice", ["a", "starts", "ends", "axes"], ["y"], name="cut"),
    ]
    with pytest.raises(SpecError) as raised:
        read_onnx_file(_save(_model(nodes, [_weight("w", [8, 3, 3, 3])], [1, 3, 10, 10]), tmp_path))
    assert "slices axis 1, whose size ONNX's shape inference does not give" in str(raised.value)
    assert "alone" not in str(raised.value)


@pytest.mark.parametrize("reshape", ["Reshape", "Unsqueeze"])
def test_a_scale_by_a_reshaped_stored_vector_is_a_scale(tmp_path: Path, reshape: str) -> None:
    """convcalc's own scale kind for PyTorch, x * gamma.view(-1, 1, 1): a Mul by a Reshape of the stored γ [C],
    its C parameters counted once."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        _ints("shape", [-1, 1, 1]) if reshape == "Reshape" else _ints("shape", [1, 2]),
        helper.make_node(reshape, ["gamma", "shape"], ["g"]),
        helper.make_node("Mul", ["a", "g"], ["y"], name="layer_scale"),
    ]
    inits = [_weight("w", [8, 3, 3, 3]), _weight("gamma", [8])]
    spec = read_onnx_file(_save(_model(nodes, inits, [1, 3, 8, 8]), tmp_path)).spec
    assert spec["layers"][-1] == {"type": "scale", "name": "layer_scale"}
    scale = analyze(validate("m", spec)).layers[-1]
    assert scale.weights + scale.biases + scale.non_trainable == 8


@pytest.mark.parametrize(("length", "accepted"), [(8, True), (4, False)])
def test_a_scale_of_a_volume_of_unknown_shape_is_checked_by_its_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, length: int, accepted: bool
) -> None:
    """After a slice shape inference gave up on, C is the volume's as convcalc computes it: γ must hold C values."""
    _without_shapes(monkeypatch, "a", "y")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        _ints("shape", [-1, 1, 1]),
        helper.make_node("Reshape", ["gamma", "shape"], ["g"]),
        helper.make_node("Mul", ["a", "g"], ["y"], name="layer_scale"),
    ]
    path = _save(_model(nodes, [_weight("w", [8, 3, 3, 3]), _weight("gamma", [length])], [1, 3, 8, 8]), tmp_path)
    if accepted:
        assert read_onnx_file(path).spec["layers"][-1] == {"type": "scale", "name": "layer_scale"}
    else:
        with pytest.raises(SpecError, match="stores 4 parameters for it, convcalc counts 8"):
            read_onnx_file(path)


@pytest.mark.parametrize(
    ("op", "attributes", "extra"),
    [
        ("PRelu", {}, [("slope", [1])]),
        ("InstanceNormalization", {}, [("scale", [3]), ("bias", [3])]),
        ("GroupNormalization", {"num_groups": 1}, [("scale", [3]), ("bias", [3])]),
        ("Split", {"axis": 1, "num_outputs": 2}, []),
        ("LogSoftmax", {"axis": 1}, []),
        ("DepthToSpace", {"blocksize": 2}, []),
    ],
)
def test_a_node_after_a_refused_one_reads_a_tensor_of_onnxs_rank(
    tmp_path: Path, op: str, attributes: dict[str, Any], extra: list[tuple[str, list[int]]]
) -> None:
    # The import goes on past a refusal, to name every node it cannot read; the refused node's output stands in
    # with the rank ONNX infers for it (here 1: a Reshape to (48)), so no later reader indexes a shape it lacks.
    nodes = [
        helper.make_node("Reshape", ["x", "flat"], ["f"], name="to_flat"),
        helper.make_node(op, ["f", *(name for name, _ in extra)], ["y"], name="later", **attributes),
    ]
    inits = [helper.make_tensor("flat", TensorProto.INT64, [1], [48]), *(_weight(n, d) for n, d in extra)]
    message = _refusal(_save(_model(nodes, inits, [1, 3, 4, 4], opset_imports=[helper.make_opsetid("", 18)]), tmp_path))
    assert "node 'to_flat' (Reshape)" in message and "cannot read this node" not in message


def test_a_reader_that_meets_what_it_did_not_foresee_refuses_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convcalc.layers import REGISTRY

    def confused(node: Any) -> Any:
        return ()[1]  # an IndexError, as a reader indexing a shape it lacks would raise

    monkeypatch.setitem(REGISTRY.onnx_readers, "Relu", confused)
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="act")]
    message = _refusal(_save(_model(nodes, [], [1, 3, 4, 4]), tmp_path))
    assert "node 'act' (Relu): convcalc cannot read this node (IndexError" in message


def test_inputs_a_reader_needs_and_the_file_lacks_are_named(tmp_path: Path) -> None:
    reshape = [helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")]
    computed = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Relu", ["s"], ["shape"]), *reshape]
    assert "node 'r' (Reshape)" in _refusal(_save(_model(computed, [], [1, 3, 4, 4]), tmp_path))
    sliced = [helper.make_node("Slice", ["x", "", ""], ["y"], name="sl")]
    assert "node 'sl' (Slice): its starts and ends are not in the file" in _refusal(
        _save(_model(sliced, [], [1, 3, 4, 4]), tmp_path)
    )


def test_an_output_in_the_middle_of_a_pattern_is_refused(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="act"),
        helper.make_node("Reshape", ["a", "split"], ["y"], name="unshuffle/split"),
    ]
    inits = [helper.make_tensor("split", TensorProto.INT64, [6], [1, 3, 4, 2, 5, 2])]
    message = _refusal(_save(_model(nodes, inits, [1, 3, 8, 10]), tmp_path))
    assert "the model's output is a step of a rearrangement" in message


def test_a_channel_shuffle_of_a_symbolic_batch_is_checked(tmp_path: Path) -> None:
    # (N, 16, 4, 12) to (N, 4, 2, 8, 12) is no grouping of the 16 channels (4·2 = 8): not a shuffle.
    nodes = [
        helper.make_node("Reshape", ["x", "groups"], ["a"], name="groups"),
        helper.make_node("Transpose", ["a"], ["b"], name="shuffle", perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["b", "back"], ["y"], name="back"),
    ]
    inits = [
        helper.make_tensor("groups", TensorProto.INT64, [5], [1, 4, 2, 8, 12]),
        helper.make_tensor("back", TensorProto.INT64, [4], [1, 8, 8, 12]),
    ]
    assert "node 'groups' (Reshape)" in _refusal(_save(_model(nodes, inits, ["N", 16, 4, 12]), tmp_path))


@pytest.mark.parametrize("opset", [9, 13])
def test_clip_to_minus_one_and_one_is_hard_tanh(tmp_path: Path, opset: int) -> None:
    # PyTorch's Hardtanh() (and F.hardtanh): the bounds are attributes before opset 11, inputs after.
    def clip(low: float, high: float) -> str:
        if opset < 11:
            nodes = [helper.make_node("Clip", ["x"], ["y"], name="clip", min=low, max=high)]
            inits = []
        else:
            nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")]
            inits = [helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in (("lo", low), ("hi", high))]
        model = _model(nodes, inits, [1, 4, 5, 5], opset_imports=[helper.make_opsetid("", opset)])
        return _save(model, tmp_path, f"clip_{low}_{high}.onnx")

    layers = read_onnx_file(clip(-1.0, 1.0)).spec["layers"]
    assert layers == [{"type": "activation", "kind": "hard_tanh", "name": "clip"}]
    assert "node 'clip' (Clip): clips to [-2.0, 2.0]" in _refusal(clip(-2.0, 2.0))


def test_pytorch_s_hardtanh_reads_as_hard_tanh() -> None:
    torch = optional.torch()
    from convcalc import check

    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Hardtanh(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    facts = check(model, input=(8, 8, 3)).checked.facts
    assert [(layer.spec.type, getattr(layer.spec, "kind", None)) for layer in facts.layers][:2] == [
        ("conv", None),
        ("activation", "hard_tanh"),
    ]
    assert facts.total_params == sum(p.numel() for p in model.parameters())


GROUP_NORMS = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from tests.helpers import imported_three_ways

results = []
for groups, affine in ((1, True), (4, True), (2, False)):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(groups, 8, affine=affine), nn.ReLU()).eval()
    sample = torch.zeros(1, 3, 16, 16)
    for exporter, spec, facts in imported_three_ways(model, sample, sys.argv[1], f"gn_{groups}_{affine}"):
        results.append({
            "case": [groups, affine, exporter],
            "layers": [layer["type"] for layer in spec["layers"]],
            "groups": spec["layers"][1].get("groups"),
            "trainable": facts.total_trainable_params,
            "total": facts.total_params,
            "parameters": sum(p.numel() for p in model.parameters()),
        })
print(json.dumps(results))
"""


def test_pytorch_s_group_norm_as_both_exporters_write_it(tmp_path: Path) -> None:
    # The dynamo exporter (PyTorch's default since 2.9) computes the (N, G, −1) reshape, the ones and zeros and
    # γ's (C, 1, 1) from constants at run time, and casts them like the data; affine=False writes ones and zeros,
    # which its optimiser (the default export) stores as initializers: the call it records has no weight.
    results = exported_by_pytorch(GROUP_NORMS, str(tmp_path))
    assert len(results) == 9
    for result in results:
        groups, affine, _ = result["case"]
        assert result["layers"] == ["conv", "group_norm", "relu"], result
        assert result["groups"] == groups, result
        assert result["trainable"] == result["total"] == result["parameters"] == 224 + 16 * affine, result


BATCH_NORMS = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc import check
from tests.helpers import imported_three_ways

results = []
for affine, after in ((True, "conv"), (False, "conv"), (True, "relu"), (False, "relu")):
    norm = nn.BatchNorm2d(8, affine=affine)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), *([nn.ReLU()] if after == "relu" else []), norm).eval()
    stem = f"bn_{affine}_{after}"
    for exporter, spec, facts in imported_three_ways(model, torch.zeros(1, 3, 16, 16), sys.argv[1], stem):
        results.append({
            "case": [affine, after, exporter],
            "norms": [layer for layer in spec["layers"] if layer["type"] == "batchnorm"],
            "trainable": facts.total_trainable_params,
            "parameters": sum(p.numel() for p in model.parameters()),
        })
    facts = check(model, input=(16, 16, 3)).checked.facts
    norms = [layer.spec.model_dump(exclude_defaults=True) for layer in facts.layers if layer.type == "batchnorm"]
    results.append({"case": [affine, after, "module"], "norms": norms, "trainable": facts.total_trainable_params,
                    "parameters": sum(p.numel() for p in model.parameters())})
print(json.dumps(results))
"""


def test_pytorch_s_batch_norm_without_affine_learns_nothing(tmp_path: Path) -> None:
    # BatchNorm2d(affine=False) has no γ or β: TorchScript's exporter (convcalc.check's, unfolded) writes ones and
    # zeros as Constant nodes, the unoptimised dynamo exporter expands one value of each, and the optimised one
    # stores them as initializers where its record of the call says None. The folding exports fold a norm right
    # after a conv into the conv.
    results = exported_by_pytorch(BATCH_NORMS, str(tmp_path))
    assert len(results) == 16
    for result in results:
        affine, after, exporter = result["case"]
        if after == "conv" and exporter not in ("dynamo", "module"):  # folded into the conv: what the file stores
            assert (result["norms"], result["trainable"]) == ([], 224), result
        else:
            assert result["trainable"] == result["parameters"] == 224 + 16 * affine, result
            flags = {} if affine else {"center": False, "scale": False}
            assert [{k: v for k, v in norm.items() if k in ("center", "scale")} for norm in result["norms"]] == [
                flags
            ], result


def test_a_batch_norm_s_written_ones_and_zeros_are_no_parameters(tmp_path: Path) -> None:
    def norm(scale: list[float], statistics_written: bool = False) -> dict[str, Any]:
        written = [("scale", scale), ("bias", [0.0, 0.0])]
        statistics = [helper.make_tensor(name, TensorProto.FLOAT, [2], [0.0, 1.0]) for name in ("mean", "var")]
        if statistics_written:
            written += [("mean", [0.0, 0.0]), ("var", [1.0, 1.0])]
            statistics = []
        constants = [
            helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.FLOAT, [2], values))
            for name, values in written
        ]
        nodes = [*constants, helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"])]
        inits = statistics
        return read_onnx_file(_save(_model(nodes, inits, [1, 2, 4, 4]), tmp_path)).spec["layers"][0]

    assert norm([1.0, 1.0]) == {"type": "batchnorm", "center": False, "scale": False, "name": "y"}
    # Other values written into the graph are a γ the file holds (some converters write weights so): learned.
    assert norm([0.5, 2.0]) == {"type": "batchnorm", "center": False, "name": "y"}
    # A file that writes its statistics as Constant nodes too writes every weight so: an untrained γ is learned.
    assert norm([1.0, 1.0], statistics_written=True) == {"type": "batchnorm", "name": "y"}


def _recorded(node: Any, call: str) -> Any:
    entry = node.metadata_props.add()
    entry.key, entry.value = "pkg.torch.onnx.fx_node", f"%out : [num_users=1] = call_function[target=op](args = {call})"
    return node


@pytest.mark.parametrize(
    ("call", "number"),
    [
        ("(%conv2d, 0.5), kwargs = {}", True),  # x * 0.5: the optimiser made the number an initializer
        ("(%conv2d, %p_scale), kwargs = {}", False),  # a trained scalar (HGNetV2's): a learned scale
        (None, False),  # no record: a stored value, which a model may train
    ],
)
def test_a_number_the_dynamo_record_shows_in_the_call_is_no_parameter(
    tmp_path: Path, call: str | None, number: bool
) -> None:
    mul = helper.make_node("Mul", ["a", "half"], ["y"], name="mul")
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="conv"), _recorded(mul, call) if call else mul]
    inits = [_weight("w", [4, 3, 3, 3]), helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])]
    spec = read_onnx_file(_save(_model(nodes, inits, [1, 3, 8, 8]), tmp_path)).spec
    if number:
        assert spec["layers"][1] == {"type": "rescaling", "scale": 0.5, "name": "mul"}
    else:
        assert spec["layers"][1] == {"type": "scale", "gammas": "one", "name": "mul"}
    assert analyze(validate("m", spec)).total_trainable_params == 4 * 27 + (0 if number else 1)


def test_a_single_value_the_record_names_as_computed_in_forward_is_refused(tmp_path: Path) -> None:
    # conv(x) * torch.tensor([0.5]).sqrt(): the optimiser stores the result as 'sqrt', which the record names as a
    # value of the forward, not a parameter: a number, or a parameter's function, which the file cannot tell.
    mul = _recorded(helper.make_node("Mul", ["a", "sqrt"], ["y"], name="mul"), "(%conv2d, %sqrt), kwargs = {}")
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="conv"), mul]
    inits = [_weight("w", [4, 3, 3, 3]), helper.make_tensor("sqrt", TensorProto.FLOAT, [1], [0.7])]
    message = _refusal(_save(_model(nodes, inits, [1, 3, 8, 8]), tmp_path))
    assert "node 'mul' (Mul): its stored 'sqrt' is a value the module computes" in message


def test_an_instance_norm_whose_recorded_call_has_no_weight_has_no_parameters(tmp_path: Path) -> None:
    # The optimised dynamo export of InstanceNorm2d(8) (affine=False) stores its ones and zeros as initializers;
    # the record shows the call without weight and bias.
    call = "(%conv2d, None, None, None, None, True, 0.1, 1e-05, False), kwargs = {}"
    norm = helper.make_node("InstanceNormalization", ["a", "ones", "zeros"], ["y"], name="inorm")
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="conv"), _recorded(norm, call)]
    stored = [helper.make_tensor(n, TensorProto.FLOAT, [8], [v] * 8) for n, v in (("ones", 1.0), ("zeros", 0.0))]
    spec = read_onnx_file(_save(_model(nodes, [_weight("w", [8, 3, 3, 3]), *stored], [1, 3, 8, 8]), tmp_path)).spec
    assert spec["layers"][1] == {"type": "group_norm", "groups": 8, "scale": False, "center": False, "name": "inorm"}


def test_a_split_output_that_is_the_model_s_output_and_a_reshape_to_its_own_shape(tmp_path: Path) -> None:
    # x.chunk(2, 1)[0] as the optimised dynamo export writes it: a Split whose first output is the model's; and
    # a Reshape to the very shape it reads (the unoptimised dynamo exporter's), which is nothing.
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        helper.make_node("Reshape", ["a", "same"], ["b"], name="same"),
        helper.make_node("Split", ["b"], ["y", "rest"], name="chunk", axis=1, num_outputs=2),
    ]
    inits = [_weight("w", [8, 3, 3, 3]), helper.make_tensor("same", TensorProto.INT64, [4], [1, 8, 6, 6])]
    model = _model(nodes, inits, [1, 3, 8, 8], opset_imports=[helper.make_opsetid("", 18)])
    spec = read_onnx_file(_save(model, tmp_path)).spec
    assert [layer["type"] for layer in spec["layers"]] == ["conv", "split"]
    assert analyze(validate("m", spec)).output_shape == Shape(6, 6, 4)


DEFAULT_EXPORT = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc.analysis import analyze
from convcalc.importers.onnx import read_onnx_file
from convcalc.loading import validate


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.InstanceNorm2d(8)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        x = self.norm(self.conv(x)) * 0.5 + 1.0
        return self.head(x.chunk(2, 1)[0])


model = Small().eval()
torch.onnx.export(model, (torch.zeros(1, 3, 16, 16),), sys.argv[1])  # PyTorch's default: dynamo, optimised
facts = analyze(validate("m", read_onnx_file(sys.argv[1]).spec))
print(json.dumps({
    "types": [layer.spec.type for layer in facts.layers],
    "total": facts.total_params,
    "parameters": sum(p.numel() for p in model.parameters()),
}))
"""


def test_pytorch_s_default_export_of_numbers_an_affine_less_norm_and_a_chunk(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(DEFAULT_EXPORT, str(tmp_path / "small.onnx"))
    assert outcome["types"] == ["conv", "group_norm", "rescaling", "rescaling", "split", "conv"]
    assert outcome["total"] == outcome["parameters"] == 8 * 27 + 8 + 2 * 4 + 2


@pytest.mark.parametrize(("threshold", "fused"), [(20.0, True), (5.0, False)])
def test_softplus_with_pytorch_s_threshold_as_the_dynamo_exporter_writes_it(
    tmp_path: Path, threshold: float, fused: bool
) -> None:
    # where(x > 20, x, softplus(x)): PyTorch's Softplus (β = 1, threshold 20), the very function in float32.
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        helper.make_node("Softplus", ["a"], ["soft"], name="soft"),
        helper.make_node("Greater", ["a", "limit"], ["large"], name="large"),
        helper.make_node("Where", ["large", "a", "soft"], ["y"], name="softplus"),
    ]
    inits = [_weight("w", [4, 3, 3, 3]), helper.make_tensor("limit", TensorProto.FLOAT, [], [threshold])]
    path = _save(_model(nodes, inits, [1, 3, 8, 8]), tmp_path)
    if fused:
        layers = read_onnx_file(path).spec["layers"]
        assert layers[1] == {"type": "activation", "kind": "softplus", "name": "softplus"}
    else:
        assert "node 'large' (Greater): convcalc cannot model Greater" in _refusal(path)


def test_constants_of_infinite_or_undefined_size_fold_to_nothing(tmp_path: Path) -> None:
    # Range(0, ∞, 1) and Expand to an infinite size in a dead corner of the graph: no values, no traceback.
    def scalar(name: str, value: float) -> Any:
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.FLOAT, [], [value]))

    nodes = [
        scalar("zero", 0.0),
        scalar("endless", float("inf")),
        scalar("one", 1.0),
        helper.make_node("Range", ["zero", "endless", "one"], ["r"]),
        helper.make_node(
            "Constant", [], ["size"], value=helper.make_tensor("size", TensorProto.FLOAT, [1], [float("nan")])
        ),
        helper.make_node("Expand", ["one", "size"], ["e"]),
        helper.make_node("Relu", ["x"], ["y"], name="relu"),
    ]
    assert read_onnx_file(_save(_model(nodes, [], [1, 3, 8, 8]), tmp_path)).spec["layers"] == [
        {"type": "relu", "name": "relu"}
    ]
