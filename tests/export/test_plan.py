"""The export mapping, names, the gate and the generated code's safety: pure Python, no TensorFlow needed."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc.analysis import analyze
from convcalc.checking import check_loaded
from convcalc.export.codegen import keras_source, tfnn_source
from convcalc.export.gate import Limits, decide, parse_size
from convcalc.export.naming import IDENTIFIER, NameAllocator, sanitize
from convcalc.export.plan import ExportPlan, UnbuildableError, plan_export
from convcalc.findings import EXIT_FINDINGS, EXIT_USAGE
from convcalc.loading import LoadedSpec, SourceMap, load_spec, validate
from convcalc.pysource import comment, identifier, literal
from tests.export.strategies import DEPTHWISE, HOSTILE_NAMES, MAX_PIXELS, buildable_specs, output_shape, random_layer
from tests.helpers import EXAMPLES, ROOT
from tests.rules.test_buildable import REFUSED as REFUSED_BY_TENSORFLOW

GENEROUS = Limits(max_param_bytes=2**40, max_activation_bytes=2**40)


def plan_of(spec: dict[str, Any]) -> ExportPlan:
    return plan_export(analyze(validate("<test>", spec)))


def ops_of(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(op.layer, op.kwargs) for op in plan_of(spec).ops]


def one_layer(layer: dict[str, Any], shape: list[int] | None = None, **top: Any) -> dict[str, Any]:
    return {"input": shape or [8, 10, 3], "layers": [layer], **top}


# --- the mapping ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (  # explicit P: ZeroPadding2D, then a valid conv (Keras has no numeric padding)
            {"type": "conv", "filters": 4, "kernel": 3, "padding": [1, 2]},
            [
                ("ZeroPadding2D", {"padding": ((1, 1), (2, 2))}),
                ("Conv2D", {"filters": 4, "kernel_size": (3, 3), "strides": (1, 1), "padding": "valid"}),
            ],
        ),
        (  # "same" maps directly
            {"type": "conv", "filters": 4, "kernel": [3, 1], "stride": 2, "padding": "same", "bias": False},
            [
                (
                    "Conv2D",
                    {"filters": 4, "kernel_size": (3, 1), "strides": (2, 2), "padding": "same", "use_bias": False},
                )
            ],
        ),
        (  # "valid" and 0 need no padding layer; a pool's stride defaults to its kernel
            {"type": "pool", "mode": "avg", "kernel": 2, "padding": "valid"},
            [("AveragePooling2D", {"pool_size": (2, 2), "strides": (2, 2), "padding": "valid"})],
        ),
        (
            {"type": "pool", "kernel": 2, "stride": 1, "padding": "same"},
            [("MaxPooling2D", {"pool_size": (2, 2), "strides": (1, 1), "padding": "same"})],
        ),
        (  # l2 pooling pads explicitly, with "same"'s extra pixel at the bottom/right
            {"type": "pool", "mode": "l2", "kernel": 2, "stride": 1, "padding": "same"},
            [
                ("ZeroPadding2D", {"padding": ((0, 1), (0, 1))}),
                ("L2Pooling2D", {"pool_size": (2, 2), "strides": (1, 1)}),
            ],
        ),
        ({"type": "fc", "units": 7}, [("Flatten", {}), ("Dense", {"units": 7})]),
        ({"type": "fc", "units": 7, "bias": False}, [("Flatten", {}), ("Dense", {"units": 7, "use_bias": False})]),
        ({"type": "flatten"}, [("Flatten", {})]),
        ({"type": "relu"}, [("ReLU", {})]),
    ],
)
def test_each_layer_kind_maps_to_these_keras_layers(layer: dict[str, Any], expected: list[Any]) -> None:
    assert ops_of(one_layer(layer)) == expected


def test_fc_on_a_flat_tensor_needs_no_flatten_and_a_conv_after_it_gets_a_1x1_volume_back() -> None:
    spec = {
        "input": [4, 4, 2],
        "layers": [
            {"type": "fc", "units": 6},
            {"type": "fc", "units": 5},
            {"type": "conv", "filters": 3, "kernel": 1},
        ],
    }
    assert [layer for layer, _ in ops_of(spec)] == ["Flatten", "Dense", "Dense", "Reshape", "Conv2D"]
    plan = plan_of(spec)
    assert plan.ops[3].kwargs == {"target_shape": (1, 1, 5)}
    assert [op.output for op in plan.ops] == [(32,), (6,), (5,), (1, 1, 5), (1, 1, 3)]


def test_a_classifier_ending_in_a_conv_gets_logits_of_shape_batch_by_classes() -> None:
    spec = one_layer({"type": "conv", "filters": 10, "kernel": [8, 10]}, classes=10)
    plan = plan_of(spec)
    assert [op.layer for op in plan.ops] == ["Conv2D", "Flatten"]
    assert plan.output_shape == (10,)
    assert plan.classes == 10
    # Without classes (or when it does not end in 1×1×classes) the volume stays as it is.
    assert plan_of(one_layer({"type": "conv", "filters": 10, "kernel": [8, 10]})).output_shape == (1, 1, 10)
    assert plan_of(one_layer({"type": "conv", "filters": 4, "kernel": 3}, classes=10)).classes is None


def test_main_op_carries_the_spec_layer_and_outputs_its_volume() -> None:
    plan = plan_of(json.loads((EXAMPLES / "vgg16.json").read_text()))
    for layer in plan.layers:
        assert layer.main in layer.ops
        assert layer.output_op.output in (
            (layer.facts.output_shape.height, layer.facts.output_shape.width, layer.facts.output_shape.depth),
            (layer.facts.output_shape.depth,),
        )
    assert plan.facts.total_params == 138_357_544


def test_a_layer_with_no_output_cannot_be_planned() -> None:
    with pytest.raises(UnbuildableError, match=r"layers\[0\]"):
        plan_of(one_layer({"type": "conv", "filters": 2, "kernel": 5}, shape=[3, 3, 1]))


# --- names ---------------------------------------------------------------------------------------------


def test_names_are_sanitised_and_unique() -> None:
    names = [*HOSTILE_NAMES, "Conv", "conv_2", "class", None, None]
    layers = [{"type": "relu", **({"name": name} if name is not None else {})} for name in names]
    plan = plan_of({"input": [2, 2, 1], "layers": layers})
    keras_names = [op.name for op in plan.ops]
    assert len({name.lower() for name in keras_names}) == len(keras_names)
    assert all(IDENTIFIER.match(name) for name in keras_names)
    assert "input" not in keras_names  # the Input layer's name
    assert keras_names[HOSTILE_NAMES.index("input!")] == "input_2"
    assert keras_names[HOSTILE_NAMES.index("ﬁlter")] == "filter"
    assert keras_names[-2:] == [f"relu{len(names) - 1}", f"relu{len(names)}"]  # analysis's default names


def test_allocator_appends_a_counter_on_collisions() -> None:
    names = NameAllocator(reserved=("input",))
    assert [names.take(n) for n in ("conv", "conv", "Conv", "input", "conv_2")] == [
        "conv",
        "conv_2",
        "Conv_3",
        "input_2",
        "conv_2_2",
    ]


def test_sanitize_always_gives_an_identifier() -> None:
    for text in [*HOSTILE_NAMES, "", "___", "9", "a" * 500, "\x00", "名前"]:
        assert IDENTIFIER.match(sanitize(text, "layer0"))


# --- generated code is safe ----------------------------------------------------------------------------


def _callee(func: ast.expr) -> str:
    """What a call calls, without its arguments: ``layers.Conv2D(...)(x)`` → ``layers.Conv2D()``."""
    return f"{_callee(func.func)}()" if isinstance(func, ast.Call) else ast.unparse(func)


def _calls(tree: ast.AST) -> list[str]:
    return [_callee(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _spec_with_names(names: list[str | None]) -> dict[str, Any]:
    """An l2 pool, then conv/relu/fc in turn (one per name), ending in fc 3 for 3 classes."""
    kinds = [{"type": "conv", "filters": 2, "kernel": 3, "padding": 1}, {"type": "relu"}, {"type": "fc", "units": 3}]
    layers = [{"type": "pool", "mode": "l2", "kernel": 2}]
    layers += [dict(kinds[i % 3], **({"name": n} if n is not None else {})) for i, n in enumerate(names)]
    layers.append({"type": "fc", "units": 3})
    return {"name": names[0], "input": [8, 8, 1], "classes": 3, "layers": layers}


@pytest.mark.parametrize("generate", [keras_source, tfnn_source], ids=["keras", "tf-nn"])
def test_hostile_names_only_ever_appear_as_string_literals(generate: Any) -> None:
    injection = "';\n__import__('os').system('touch PWNED')\n'"
    hostile = [*HOSTILE_NAMES, injection, injection + " "]
    hostile_source = generate(plan_of(_spec_with_names(hostile)))
    plain_source = generate(plan_of(_spec_with_names([None] * len(hostile))))
    hostile_tree, plain_tree = ast.parse(hostile_source), ast.parse(plain_source)
    # The same calls in the same order: nothing was injected, only literals and generated names differ.
    assert _calls(hostile_tree) == _calls(plain_tree)
    assert "__import__" not in {node.id for node in ast.walk(hostile_tree) if isinstance(node, ast.Name)}
    # The spec's names are kept, escaped, as data.
    spec_names = next(
        ast.literal_eval(node.value)
        for node in hostile_tree.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "SPEC_LAYER_NAMES"
    )
    assert {name for name in hostile if not IDENTIFIER.match(name)} <= set(spec_names.values())
    assert "filter" in spec_names and spec_names["filter"] == "ﬁlter"
    # Every identifier and attribute is generated ASCII, never a spec name NFKC-normalised into one.
    for node in ast.walk(hostile_tree):
        if isinstance(node, ast.Attribute):
            assert node.attr.isascii()
        if isinstance(node, ast.Name):
            assert node.id.isascii()


def test_literal_refuses_anything_but_plain_data() -> None:
    class Sneaky(str):
        def __repr__(self) -> str:
            return "__import__('os')"

    with pytest.raises(TypeError):
        literal(Sneaky("x"))
    with pytest.raises(ValueError):
        identifier("ﬁlter")
    with pytest.raises(ValueError):
        identifier("a; b")
    with pytest.raises(ValueError):
        comment("one\ntwo")
    assert literal(("a\nb", 1, None)) == "('a\\nb', 1, None)"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_generates_code_that_compiles(example: Path) -> None:
    plan = plan_export(analyze(load_spec(str(example)).network))  # stride_mismatch too: what --force exports
    for source in (keras_source(plan), tfnn_source(plan)):
        compile(source, example.name, "exec")
        assert f"TOTAL_PARAMS = {plan.facts.total_params}" in source


# --- the gate: findings, --force, size limits ----------------------------------------------------------


def checked_example(name: str) -> Any:
    return check_loaded(load_spec(str(EXAMPLES / name)))


def test_error_findings_stop_the_export_unless_forced() -> None:
    checked = checked_example("stride_mismatch.json")
    stopped = decide(checked, force=False, limits=GENEROUS, verb="exported")
    assert stopped.exit_code == EXIT_FINDINGS
    assert stopped.show_findings
    assert "--force" in stopped.messages[0]
    forced = decide(checked, force=True, limits=GENEROUS, verb="exported")
    assert forced.exit_code is None
    assert any("floored to 4×4×8" in message for message in forced.messages)


def test_a_layer_with_no_output_stops_even_with_force() -> None:
    spec = validate("<test>", one_layer({"type": "conv", "filters": 2, "kernel": 5}, shape=[3, 3, 1]))
    checked = check_loaded(LoadedSpec("<test>", spec, SourceMap()))
    decision = decide(checked, force=True, limits=GENEROUS, verb="exported")
    assert decision.exit_code == EXIT_FINDINGS
    assert "F = 5 > W + 2P = 3 + 0 = 3: no output" in decision.messages[0]


def test_absurd_sizes_are_refused_with_the_option_to_raise() -> None:
    checked = checked_example("vgg16.json")
    decision = decide(checked, force=False, limits=Limits(100 * 2**20, 2**40), verb="exported")
    assert decision.exit_code == EXIT_USAGE
    assert "527.8 MiB" in decision.messages[0] and "--max-param-bytes" in decision.messages[0]
    decision = decide(checked, force=False, limits=Limits(2**40, 2**20), verb="verified")
    assert decision.exit_code == EXIT_USAGE
    assert "--max-activation-bytes" in decision.messages[0]
    assert decide(checked, force=False, limits=Limits(2**30, 2**30), verb="exported").exit_code is None


@pytest.mark.parametrize(
    ("text", "size"), [("4GiB", 4 * 2**30), ("500MB", 500 * 10**6), ("1.5 KiB", 1536), ("12", 12), ("2tb", 2 * 10**12)]
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "4 GiBs", "-1", "1e", "four"])
def test_parse_size_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


# --- TensorFlow stays out of everything but export and verify -----------------------------------------


def test_importing_the_cli_and_export_modules_and_running_check_leave_tensorflow_unloaded() -> None:
    code = (
        "import sys\n"
        "import convcalc.cli\n"
        "import convcalc.export.codegen, convcalc.export.commands, convcalc.export.gate, convcalc.export.keras_build\n"
        "import convcalc.export.naming, convcalc.export.plan, convcalc.export.runtime, convcalc.export.verify\n"
        "sys.argv = ['convcalc', 'check', 'examples/vgg16.json']\n"
        "try:\n"
        "    convcalc.cli.main()\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "HEAVY []" in result.stdout


@pytest.mark.parametrize(
    ("layers", "reason"),
    [
        (
            [{"type": "relu", "name": "a"}, {"type": "relu", "name": "b", "inputs": ["input"]}],
            "layers[0] a is read by no later layer",
        ),
    ],
)
def test_what_the_export_cannot_map_is_refused_by_name(layers: list[dict[str, Any]], reason: str) -> None:
    spec = validate("<test>", {"input": [8, 8, 2], "layers": layers})
    decision = decide(check_loaded(LoadedSpec("<test>", spec, SourceMap())), force=True, limits=GENEROUS, verb="x")
    assert decision.exit_code == EXIT_USAGE
    assert reason in decision.messages[0] and "layers[" in decision.messages[0]
    with pytest.raises(UnbuildableError, match=re.escape(reason)):
        plan_export(analyze(spec))


@pytest.mark.parametrize(
    ("layers", "reason"),
    [
        ([{"type": "conv", "filters": 4, "kernel": 1, "groups": 3}], "groups = 3 must divide the input depth D = 2"),
        # CC108: shapes TensorFlow computes but kernels it lacks.
        *[([layer], "TensorFlow") for layer in REFUSED_BY_TENSORFLOW],
        (
            [
                {"type": "conv", "filters": 3, "kernel": 1, "name": "a"},
                {"type": "add", "inputs": ["a", "input"]},
            ],
            "add needs equal shapes",
        ),
        (
            [
                {"type": "pool", "kernel": 2, "name": "a"},
                {"type": "concat", "inputs": ["a", "input"]},
            ],
            "concat needs the same H×W on every input",
        ),
        (
            [{"type": "conv_transpose", "filters": 2, "kernel": 3, "stride": 2, "output_padding": 2}],
            "output_padding 2 must be smaller than the stride 2",
        ),
    ],
)
def test_what_tensorflow_cannot_build_is_refused_even_with_force(layers: list[dict[str, Any]], reason: str) -> None:
    spec = validate("<test>", {"input": [8, 8, 2], "layers": layers})
    checked = check_loaded(LoadedSpec("<test>", spec, SourceMap()))
    assert any(f.severity.value == "error" for f in checked.findings)  # check reports it as well
    decision = decide(checked, force=True, limits=GENEROUS, verb="x")
    assert decision.exit_code == EXIT_FINDINGS
    assert reason in decision.messages[0] and "even with --force" in decision.messages[0]


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (
            {"type": "conv", "filters": 2, "kernel": 3, "dilation": [2, 1], "padding": "same"},
            [
                (
                    "Conv2D",
                    {
                        "filters": 2,
                        "kernel_size": (3, 3),
                        "strides": (1, 1),
                        "padding": "same",
                        "dilation_rate": (2, 1),
                    },
                )
            ],
        ),
        (
            {"type": "conv", "filters": 6, "kernel": 1, "groups": 3},
            [("Conv2D", {"filters": 6, "kernel_size": (1, 1), "strides": (1, 1), "padding": "valid", "groups": 3})],
        ),
        (
            {"type": "depthwise", "kernel": 3, "padding": 1, "multiplier": 2, "bias": False},
            [
                ("ZeroPadding2D", {"padding": ((1, 1), (1, 1))}),
                (
                    "DepthwiseConv2D",
                    {
                        "kernel_size": (3, 3),
                        "strides": (1, 1),
                        "padding": "valid",
                        "depth_multiplier": 2,
                        "use_bias": False,
                    },
                ),
            ],
        ),
        (
            {"type": "separable", "filters": 5, "kernel": 3, "stride": 2, "padding": "same"},
            [("SeparableConv2D", {"filters": 5, "kernel_size": (3, 3), "strides": (2, 2), "padding": "same"})],
        ),
        (  # explicit P: a valid transposed conv, then P cropped from each side
            {"type": "conv_transpose", "filters": 4, "kernel": 3, "stride": 2, "padding": 1},
            [
                (
                    "Conv2DTranspose",
                    {
                        "filters": 4,
                        "kernel_size": (3, 3),
                        "strides": (2, 2),
                        "padding": "valid",
                        "output_padding": (0, 0),
                    },
                ),
                ("Cropping2D", {"cropping": ((1, 1), (1, 1))}),
            ],
        ),
        (
            {"type": "conv_transpose", "filters": 4, "kernel": 3, "stride": 2, "padding": "same"},
            [("Conv2DTranspose", {"filters": 4, "kernel_size": (3, 3), "strides": (2, 2), "padding": "same"})],
        ),
        ({"type": "global_pool", "mode": "max"}, [("GlobalMaxPooling2D", {})]),
        ({"type": "global_pool"}, [("GlobalAveragePooling2D", {})]),
        (
            {"type": "batchnorm", "center": False},
            [("BatchNormalization", {"epsilon": 0.001, "momentum": 0.99, "center": False})],
        ),
        ({"type": "dropout", "rate": 0.25}, [("Dropout", {"rate": 0.25})]),
        (
            {"type": "zero_padding", "padding": [[0, 1], [2, 3]]},
            [("ZeroPadding2D", {"padding": ((0, 1), (2, 3))})],
        ),
        ({"type": "activation", "kind": "gelu"}, [("Activation", {"activation": "gelu"})]),
        ({"type": "activation", "kind": "relu"}, [("ReLU", {})]),
        ({"type": "dense", "units": 3}, [("Flatten", {}), ("Dense", {"units": 3})]),
    ],
)
def test_the_modern_layers_map_to_these_keras_layers(layer: dict[str, Any], expected: list[Any]) -> None:
    assert ops_of(one_layer(layer, shape=[8, 10, 3])) == expected


def test_transposed_conv_output_is_cropped_to_convcalcs_size() -> None:
    plan = plan_of(one_layer({"type": "conv_transpose", "filters": 4, "kernel": 3, "stride": 2, "padding": 1}))
    transposed, cropped = plan.ops
    assert transposed.output == (17, 21, 4)  # (W − 1)·S + F
    assert cropped.output == (15, 19, 4) == tuple(plan.facts.output_shape)  # − 2P


def test_merges_read_their_inputs_by_name_and_a_flat_input_meets_volumes_as_1x1() -> None:
    spec = {
        "input": [1, 1, 4],
        "layers": [
            {"type": "fc", "units": 4, "name": "dense"},
            {"type": "conv", "filters": 4, "kernel": 1, "name": "conv", "inputs": ["input"]},
            {"type": "add", "inputs": ["dense", "conv"], "name": "sum"},
            {"type": "concat", "inputs": ["sum", "input", "conv"]},
        ],
    }
    plan = plan_of(spec)
    assert not plan.is_sequential
    assert [(op.layer, op.name, op.inputs) for op in plan.ops] == [
        ("Flatten", "dense_flatten", ("input",)),
        ("Dense", "dense", ("dense_flatten",)),
        ("Conv2D", "conv", ("input",)),
        ("Reshape", "sum_reshape", ("dense",)),
        ("Add", "sum", ("sum_reshape", "conv")),
        ("Concatenate", "concat1", ("sum", "input", "conv")),
    ]
    assert plan.output_shape == (1, 1, 12)


@given(st.booleans().flatmap(lambda fit: buildable_specs(fit_exactly=fit)))
def test_the_buildable_strategy_gives_depthwise_convs_one_stride(spec: dict[str, Any]) -> None:
    # TensorFlow refuses unequal strides on a depthwise kernel; tests/export/strategies.py must not draw them.
    for layer in spec["layers"]:
        if layer["type"] in DEPTHWISE:
            stride = layer.get("stride", 1)
            assert isinstance(stride, int) or stride[0] == stride[1], layer


@given(st.data())
def test_the_strategies_model_each_layer_s_volume_as_convcalc_does(data: st.DataObject) -> None:
    # The random specs track the current volume with their own textbook model to choose what may follow (a gate
    # of the right depth, a block that divides): a kind it left out once gave a 1×1×8 gate to a 2×2×2 volume.
    shape = (data.draw(st.integers(1, MAX_PIXELS)), data.draw(st.integers(1, MAX_PIXELS)), data.draw(st.integers(1, 8)))
    layer = data.draw(random_layer(shape, fit_exactly=False))
    net = analyze(validate("<test>", {"input": list(shape), "layers": [layer]}))
    assert tuple(net.layers[0].output_shape) == output_shape(shape, layer), layer
