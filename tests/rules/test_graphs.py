"""The CC2xx–CC4xx rules on graphs and modern layers: residual blocks, branches that merge, activations,
zero-padded stems, depthwise and dilated convs, learned upsampling.

Each rule is read through the producers of each layer, not the list order; fixes still clear their finding.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc.findings import Finding
from convcalc.fixes import apply_fix
from convcalc.loading import validate
from convcalc.rules import REGISTRY
from convcalc.rules.graph import (
    LockedSizes,
    ReaderCounts,
    first_convs,
    is_nonlinear,
    output_head,
    padding_before,
    producers_of,
    reader_counts,
    size_locked,
)
from convcalc.spec import Network
from tests.helpers import analyze_spec


def run(spec: dict[str, Any], code: str) -> list[Finding]:
    return list(REGISTRY[code].run(analyze_spec(spec)))


def where(spec: dict[str, Any], code: str) -> list[int | None]:
    return [finding.layer for finding in run(spec, code)]


def assert_fix_clears(spec: dict[str, Any], finding: Finding) -> None:
    assert finding.fixes, f"{finding.code} offers no fix"
    for fix in finding.fixes:
        fixed = apply_fix(spec, fix)
        assert (finding.code, finding.layer) not in {(f.code, f.layer) for f in run(fixed, finding.code)}, fix


def conv(name: str, filters: int = 8, kernel: int = 3, **more: Any) -> dict[str, Any]:
    return {"type": "conv", "name": name, "filters": filters, "kernel": kernel, "padding": 1, **more}


def residual_block(*, relu_after_add: bool = True) -> dict[str, Any]:
    """A ResNet basic block: conv → bn → relu → conv → bn, plus the identity, then add → relu → conv."""
    layers = [
        conv("stem"),
        {"type": "relu", "name": "stem_relu"},
        conv("conv1"),
        {"type": "batchnorm", "name": "bn1"},
        {"type": "activation", "name": "relu1", "kind": "relu"},
        conv("conv2"),
        {"type": "batchnorm", "name": "bn2"},
        {"type": "add", "name": "add", "inputs": ["bn2", "stem_relu"]},
    ]
    if relu_after_add:
        layers.append({"type": "activation", "name": "out", "kind": "relu"})
    layers.append(conv("next"))
    return {"input": [16, 16, 8], "layers": layers}


def test_the_graph_examples_are_valid_specs() -> None:
    for spec in (residual_block(), residual_block(relu_after_add=False), INCEPTION, KERAS_STEM, UNET):
        assert isinstance(validate("<test>", spec), Network)


# --- support helpers -------------------------------------------------------------------------------------


def test_producers_of_names_the_input_as_none() -> None:
    net = analyze_spec(residual_block())
    add = net.layers[7]
    assert [p.name if p is not None else None for p in producers_of(net, add)] == ["bn2", "stem_relu"]
    assert producers_of(net, net.layers[0]) == [None]


def test_is_nonlinear_and_parameterised() -> None:
    spec = {
        "input": [8, 8, 4],
        "layers": [
            {"type": "activation", "kind": "gelu"},
            {"type": "pool", "kernel": 2, "mode": "avg"},
            {"type": "pool", "kernel": 1, "mode": "l2"},
            {"type": "global_pool", "mode": "max"},
            {"type": "global_pool", "mode": "avg", "inputs": ["input"]},
            {"type": "batchnorm"},
            {"type": "dense", "units": 3},
        ],
    }
    net = analyze_spec(spec)
    assert [is_nonlinear(layer) for layer in net.layers] == [True, False, True, True, False, False, False]
    assert net.layers[-1].traits.weighted


# --- CC303 missing-nonlinearity ------------------------------------------------------------------------


def test_cc303_a_residual_block_with_activations_is_clean() -> None:
    assert where(residual_block(), "CC303") == []


def test_cc303_follows_the_add_back_to_the_conv_before_it() -> None:
    spec = residual_block(relu_after_add=False)
    (finding,) = run(spec, "CC303")
    assert finding.layer == 8  # next
    assert "layers[5] conv2" in finding.message
    assert "through bn2 (batchnorm), add (add), no nonlinearity" in finding.message


def _metaformer(norm: dict[str, Any], blocks: int = 2) -> dict[str, Any]:
    """PoolFormer's stage: a downsampling conv, blocks of x + s·(pool(n(x)) − n(x)) on a linear residual stream,
    and the next downsampling conv reading that stream."""
    layers: list[dict[str, Any]] = [
        {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "padding": 1, "name": "down1"}
    ]
    stream = "down1"
    for b in range(blocks):
        layers += [
            {**norm, "name": f"norm{b}", "inputs": [stream]},
            {"type": "pool", "mode": "avg", "kernel": 3, "stride": 1, "padding": "same", "name": f"pool{b}"},
            {"type": "subtract", "inputs": [f"pool{b}", f"norm{b}"], "name": f"mixer{b}"},
            {"type": "scale", "name": f"scale{b}"},
            {"type": "add", "inputs": [stream, f"scale{b}"], "name": f"stream{b}"},
        ]
        stream = f"stream{b}"
    layers.append({"type": "conv", "filters": 16, "kernel": 3, "stride": 2, "padding": 1, "name": "down2"})
    return {"input": [16, 16, 3], "layers": layers}


def test_cc303_a_pre_norm_stream_between_two_downsampling_convs_is_not_linear() -> None:
    # Each block reads the stream through a GroupNorm, which divides by its spread: down2(down1(x) + f(down1(x)))
    # is no linear map of down1's output. With a batchnorm (an affine map once trained) in its place, every
    # block is linear and down1 does collapse into down2.
    assert where(_metaformer({"type": "group_norm", "groups": 1}), "CC303") == []
    assert where(_metaformer({"type": "layer_norm"}), "CC303") == []
    (finding,) = run(_metaformer({"type": "batchnorm"}), "CC303")
    assert "layers[0] down1" in finding.message


def test_cc303_a_re_parameterised_branch_summed_through_a_chain_of_adds_is_its_wider_twin() -> None:
    # MobileOne's block (FastViT's RepMixer) as PyTorch exports it: the skip, the 1×1 and the 3×3 per-channel
    # branches summed by two adds in a row. The 1×1 is judged as the 3×3 it folds into, which a projection may
    # feed (a factorised conv); alone, a per-channel 1×1 after a 1×1 projection is one linear map.
    def block(twin: bool) -> dict[str, Any]:
        layers: list[dict[str, Any]] = [
            {"type": "conv", "filters": 8, "kernel": 1, "name": "proj"},
            {"type": "batchnorm", "name": "skip"},
            {"type": "depthwise", "kernel": 1, "bias": False, "inputs": ["proj"], "name": "scale_branch"},
            {"type": "batchnorm", "name": "scale_bn"},
            {"type": "add", "inputs": ["skip", "scale_bn"], "name": "sum1"},
        ]
        if twin:
            layers += [
                {
                    "type": "depthwise",
                    "kernel": 3,
                    "padding": 1,
                    "bias": False,
                    "inputs": ["proj"],
                    "name": "conv_branch",
                },
                {"type": "batchnorm", "name": "conv_bn"},
                {"type": "add", "inputs": ["sum1", "conv_bn"], "name": "sum2"},
            ]
        return {"input": [8, 8, 4], "layers": [*layers, {"type": "relu"}]}

    assert "scale_branch" not in str([f.message for f in run(block(twin=True), "CC303")])
    assert any(f.layer == 2 for f in run(block(twin=False), "CC303"))


def test_cc303_any_activation_kind_is_a_nonlinearity() -> None:
    for kind in ("relu6", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "swish"):
        spec = {
            "input": [8, 8, 4],
            "layers": [conv("a"), {"type": "batchnorm"}, {"type": "activation", "kind": kind}, conv("b")],
        }
        assert where(spec, "CC303") == [], kind


def test_cc303_a_branch_without_an_activation_is_found_through_the_concat() -> None:
    spec = {
        "input": [8, 8, 4],
        "layers": [
            conv("left"),
            {"type": "activation", "name": "left_act", "kind": "gelu"},
            conv("right", inputs=["input"]),
            {"type": "dropout", "name": "right_drop"},
            {"type": "concat", "name": "cat", "inputs": ["left_act", "right_drop"]},
            conv("after"),
        ],
    }
    (finding,) = run(spec, "CC303")
    assert finding.layer == 5
    assert finding.message.startswith("layers[2] right")
    assert "through right_drop (dropout), cat (concat)" in finding.message
    assert "left" not in finding.message.split("feeds")[0]


def test_cc303_names_every_conv_reached_through_a_merge() -> None:
    spec = {
        "input": [8, 8, 4],
        "layers": [
            conv("a"),
            conv("b", inputs=["input"]),
            {"type": "add", "inputs": ["a", "b"]},
            conv("c"),
        ],
    }
    (finding,) = run(spec, "CC303")
    assert "layers[1] b" in finding.message and "nor do layers[0] a, reached through the merge" in finding.message


def test_cc303_the_avg_pool_fix_only_where_every_path_runs_through_it() -> None:
    through = {
        "input": [8, 8, 4],
        "layers": [conv("a"), {"type": "pool", "name": "avg", "kernel": 2, "mode": "avg"}, conv("b")],
    }
    (finding,) = run(through, "CC303")
    assert [(fix.set, fix.insert) for fix in finding.fixes] == [
        ({}, {"type": "relu", "name": "b_relu"}),
        ({"mode": "max"}, None),
    ]
    assert_fix_clears(through, finding)
    bypassed = {
        "input": [8, 8, 4],
        "layers": [
            conv("a"),
            {"type": "pool", "name": "avg", "kernel": 1, "mode": "avg"},
            {"type": "add", "inputs": ["avg", "a"]},
            conv("b"),
        ],
    }
    (finding,) = run(bypassed, "CC303")
    # The add also reads a directly: a max pool would not help, a ReLU before b does.
    assert [fix.insert for fix in finding.fixes] == [{"type": "relu", "name": "b_relu"}]


def test_cc303_global_max_pooling_is_nonlinear_global_avg_is_not() -> None:
    def spec(mode: str) -> dict[str, Any]:
        return {
            "input": [8, 8, 4],
            "layers": [conv("a"), {"type": "global_pool", "mode": mode}, {"type": "fc", "units": 3}],
        }

    assert where(spec("max"), "CC303") == []
    assert where(spec("avg"), "CC303") == [2]


def test_cc303_intended_linear_pairs() -> None:
    separable_written_out = {
        "input": [8, 8, 4],
        "layers": [{"type": "depthwise", "kernel": 3, "padding": 1}, conv("pointwise", kernel=1, padding=0)],
    }
    assert where(separable_written_out, "CC303") == []
    depthwise_then_3x3 = {
        "input": [8, 8, 4],
        "layers": [{"type": "depthwise", "kernel": 3, "padding": 1}, conv("full")],
    }
    assert where(depthwise_then_3x3, "CC303") == [1]
    assert where(UNET, "CC303") == []  # a strided conv_transpose is learned upsampling
    # Xception's last shortcut feeds a separable conv, whose per-channel 3×3 comes first; its 1×1 comes last.
    into_separable = {
        "input": [8, 8, 4],
        "layers": [conv("shortcut", kernel=1, padding=0), {"type": "separable", "filters": 8, "kernel": 3}],
    }
    assert where(into_separable, "CC303") == []
    # A per-channel 1×1 reaches across no pixels: that pair is one linear map.
    into_1x1_separable = {**into_separable, "layers": [conv("a"), {"type": "separable", "filters": 8, "kernel": 1}]}
    assert where(into_1x1_separable, "CC303") == [1]
    out_of_separable = {
        "input": [8, 8, 4],
        "layers": [{"type": "separable", "filters": 8, "kernel": 3}, conv("pointwise", kernel=1, padding=0)],
    }
    assert where(out_of_separable, "CC303") == [1]


def test_cc303_a_linear_bottleneck_feeds_any_expansion() -> None:
    # EfficientNetV2's Fused-MBConv: the 1×1 projection (linear by design) feeds, through the residual add,
    # the next block's expansion, a full 3×3 conv that widens; MobileNetV2's expansion is a 1×1 conv.
    def blocks(expansion_kernel: int, expanded: int) -> dict[str, Any]:
        return {
            "input": [8, 8, 16],
            "layers": [
                conv("expand", filters=64),
                {"type": "activation", "name": "silu", "kind": "swish"},
                conv("project", filters=16, kernel=1, padding=0),
                {"type": "add", "name": "add", "inputs": ["project", "input"]},
                conv("next", filters=expanded, kernel=expansion_kernel, padding=expansion_kernel // 2),
            ],
        }

    assert where(blocks(3, 64), "CC303") == []
    assert where(blocks(1, 64), "CC303") == []
    # A ResNet bottleneck whose 1×1 reduction lost its ReLU: the 3×3 after it keeps the width, no expansion.
    (finding,) = run(blocks(3, 16), "CC303")
    assert finding.layer == 4 and finding.message.startswith("layers[2] project")
    # An Inception branch's 1×1 reduction that lost its ReLU: no residual sum reads the narrow volume.
    reduce = {
        "input": [28, 28, 192],
        "layers": [conv("reduce", filters=96, kernel=1, padding=0), conv("c3", filters=128), {"type": "relu"}],
    }
    assert where(reduce, "CC303") == [1]


def test_cc303_a_conv_with_one_group_per_channel_is_per_channel() -> None:
    # Keras's ConvNeXt: the block's 1×1 projection feeds, through the layer scale and the add, the next block's
    # 7×7 written as Conv2D(groups=D), with no activation by design (as for the depthwise kind).
    def block(groups: int) -> dict[str, Any]:
        return {
            "input": [8, 8, 16],
            "layers": [
                conv("expand", filters=64, kernel=1, padding=0),
                {"type": "activation", "name": "gelu", "kind": "gelu"},
                conv("project", filters=16, kernel=1, padding=0),
                {"type": "scale", "name": "layer_scale"},
                {"type": "add", "name": "add", "inputs": ["layer_scale", "input"]},
                conv("next", filters=16, kernel=7, padding=3, groups=groups),
            ],
        }

    assert where(block(16), "CC303") == []
    assert where(block(8), "CC303") == [5]  # two channels per group: a grouped conv, not a per-channel one


def test_cc303_a_conv_whose_output_also_reaches_a_nonlinearity_does_not_collapse() -> None:
    # Xception: the shortcut conv's sum feeds both the next block's ReLU and the next shortcut conv, so the
    # shortcut computes something the ReLU reads; without that ReLU the pair is one linear map.
    def blocks(main_branch: dict[str, Any]) -> dict[str, Any]:
        return {
            "input": [16, 16, 8],
            "layers": [
                conv("shortcut", filters=16, kernel=1, padding=0, stride=2),
                {"type": "batchnorm", "name": "bn"},
                conv("main", filters=16, stride=2, inputs=["input"]),
                {"type": "add", "name": "add", "inputs": ["main", "bn"]},
                conv("next_shortcut", filters=32, kernel=1, padding=0, stride=2),
                {**main_branch, "name": "next_main", "inputs": ["add"]},
            ],
        }

    assert where(blocks({"type": "relu"}), "CC303") == []
    (finding,) = run(blocks({"type": "dropout"}), "CC303")
    assert finding.layer == 4 and finding.message.startswith("layers[2] main")


def test_cc303_a_squeeze_and_excite_gate_on_a_linear_output_is_its_nonlinearity() -> None:
    # SE-ResNeXt's last conv and RDNet's ESE: the batchnorm's output is squeezed (pooled, fc) and multiplied by
    # the gate it makes. The squeeze path alone is linear, but the product reads what the conv computes.
    def gated(reader: dict[str, Any]) -> dict[str, Any]:
        return {
            "input": [8, 8, 16],
            "layers": [
                conv("c", filters=32, kernel=1, padding=0),
                {"type": "batchnorm", "name": "bn"},
                {"type": "global_pool", "name": "squeeze"},
                conv("fc1", filters=4, kernel=1, padding=0),
                {"type": "relu"},
                conv("fc2", filters=32, kernel=1, padding=0),
                {"type": "activation", "kind": "sigmoid", "name": "gate"},
                {**reader, "inputs": ["bn", "gate"]},
                {"type": "relu"},
            ],
        }

    assert where(gated({"type": "multiply"}), "CC303") == []
    assert where(gated({"type": "add"}), "CC303") == [3]  # a sum is linear: the squeeze still collapses
    # A max pool is a nonlinearity on its own path, but not for a conv beside it: Inception's pool branch reads
    # the concat that a lost ReLU leaves linear.
    pooled = {
        "input": [8, 8, 16],
        "layers": [
            conv("branch", filters=16, kernel=1, padding=0),
            {"type": "concat", "name": "block", "inputs": ["branch", "input"]},
            conv("next", filters=16, kernel=1, padding=0),
            {"type": "pool", "mode": "max", "kernel": 3, "stride": 1, "padding": 1, "inputs": ["block"]},
        ],
    }
    assert where(pooled, "CC303") == [2]


def test_cc303_a_linear_residual_stream_is_a_design_where_no_sum_is_activated() -> None:
    # GhostNet: a 1×1 projection shortcut widens into the linear stream that the next block's 1×1 expands; FBNet's
    # expansion-1 block reads the stream with a 1×1 that keeps its width. No add of the network feeds an
    # activation: the streams are linear by design, as MobileNetV2's are. One add alone is no stream.
    def network(*, activated_sum: bool) -> dict[str, Any]:
        layers: list[dict[str, Any]] = [
            conv("expand", filters=48, kernel=1, padding=0),
            {"type": "relu"},
            conv("dw", filters=48, groups=48),
            {"type": "relu"},
            conv("project", filters=12, kernel=1, padding=0),
            conv("shortcut", filters=12, kernel=1, padding=0, inputs=["input"]),
            {"type": "add", "name": "stream", "inputs": ["project", "shortcut"]},
            conv("next_expand", filters=12, kernel=1, padding=0),
            {"type": "relu", "name": "next_relu"},
            conv("next_project", filters=12, kernel=1, padding=0),
            {"type": "add", "name": "stream2", "inputs": ["next_project", "stream"]},
        ]
        if activated_sum:  # a ResNet-like network: its other sums have their ReLU, so this one lost its own
            layers.append({"type": "relu", "name": "stream2_relu"})
        last = layers[-1]["name"]
        layers += [
            conv("third_expand", filters=12, kernel=1, padding=0),
            {"type": "relu", "name": "third_relu"},
            conv("third_project", filters=12, kernel=1, padding=0),
            {"type": "add", "name": "stream3", "inputs": ["third_project", last]},
        ]
        if activated_sum:
            layers.append({"type": "relu", "name": "stream3_relu"})
        head = [conv("head", filters=24, kernel=1, padding=0), {"type": "relu"}, {"type": "global_pool"}]
        return {"input": [8, 8, 8], "layers": [*layers, *head, {"type": "fc", "units": 10}]}

    assert where(network(activated_sum=False), "CC303") == []
    assert where(network(activated_sum=True), "CC303") == [7]
    narrowing = network(activated_sum=False)
    narrowing["layers"][7]["filters"] = 6  # a 1×1 that narrows the stream is no expansion: one linear map
    assert where(narrowing, "CC303") == [7]
    one_add = network(activated_sum=False)
    one_add["layers"][11:15] = []  # no third block
    one_add["layers"][11]["inputs"] = ["stream2"]
    assert where(one_add, "CC303") == [7, 11]
    # A 1×1 reading a 1×1 that an unrelated add reads too reads no stream.
    beside = network(activated_sum=False)
    beside["layers"][7]["inputs"] = ["shortcut"]
    assert 7 in where(beside, "CC303")


def test_cc303_a_re_parameterised_branch_is_judged_as_the_conv_it_folds_into() -> None:
    # RepVGG-style branches (RepViT's token mixer without its identity): a 3×3 depthwise and a 1×1 depthwise of
    # one input, added; after training they fold into one 3×3 depthwise, which a conv may feed and a 1×1 may
    # follow (a factorised conv). Two 1×1s fold into a 1×1, which collapses with both neighbours.
    def mixer(kernel: int) -> dict[str, Any]:
        return {
            "input": [8, 8, 8],
            "layers": [
                conv("stem", filters=16, stride=2),
                {"type": "batchnorm", "name": "stem_bn"},
                {"type": "depthwise", "kernel": 1, "name": "narrow"},
                {"type": "batchnorm", "name": "narrow_bn"},
                {"type": "depthwise", "kernel": kernel, "padding": kernel // 2, "name": "other", "inputs": ["stem_bn"]},
                {"type": "batchnorm", "name": "other_bn"},
                {"type": "add", "name": "mixed", "inputs": ["narrow_bn", "other_bn"]},
                conv("channel_mixer", filters=32, kernel=1, padding=0),
                {"type": "relu"},
            ],
        }

    assert where(mixer(3), "CC303") == []
    assert where(mixer(1), "CC303") == [2, 4, 7]
    # A full 1×1 beside a depthwise 3×3 folds into no depthwise conv: it is judged as itself.
    other_kind = mixer(3)
    other_kind["layers"][2] = conv("narrow", filters=16, kernel=1, padding=0)
    assert 2 in where(other_kind, "CC303")


def test_cc303_a_partial_conv_then_a_1x1_is_a_t_shaped_conv() -> None:
    # FasterNet: a 3×3 conv on a quarter of the channels, the rest untouched, concatenated, then a 1×1 over all
    # (a T-shaped conv, by design). Its conv then the 1×1, and the stem through the untouched channels, are
    # no collapse; the stem straight into the partial 3×3 is one (a conv into a conv).
    def block(untouched: bool) -> dict[str, Any]:
        rest = (
            {"type": "split", "start": 4, "stop": 16, "name": "rest", "inputs": ["stem_bn"]}
            if untouched
            else conv("rest", filters=12, inputs=["stem_bn"])
        )
        return {
            "input": [16, 16, 3],
            "layers": [
                conv("stem", filters=16, kernel=4, padding=0, stride=4),
                {"type": "batchnorm", "name": "stem_bn"},
                {"type": "split", "start": 0, "stop": 4, "name": "part"},
                conv("partial", filters=4),
                rest,
                {"type": "concat", "name": "mixed", "inputs": ["partial", "rest"]},
                conv("expand", filters=32, kernel=1, padding=0),
                {"type": "relu"},
                conv("project", filters=16, kernel=1, padding=0),
            ],
        }

    assert where(block(untouched=True), "CC303") == [3]
    # Two convolved parts are no partial conv: both convs and the 1×1 after them collapse.
    assert where(block(untouched=False), "CC303") == [3, 4, 6]


def test_cc303_a_sum_that_reaches_a_relu_only_later_still_collapses() -> None:
    # ResNet v1 without its ReLU after the add: the sum goes on to the next add and its ReLU, but the conv
    # that reads it reads it linearly; and a ReLU whose output nothing uses makes nothing nonlinear.
    resnet = {
        "input": [8, 8, 16],
        "layers": [
            conv("c1", filters=16),
            {"type": "relu"},
            conv("c2", filters=16),
            {"type": "add", "name": "s1", "inputs": ["c2", "input"]},
            conv("c3", filters=16),
            {"type": "relu"},
            conv("c4", filters=16),
            {"type": "add", "name": "s2", "inputs": ["c4", "s1"]},
            {"type": "relu"},
        ],
    }
    assert where(resnet, "CC303") == [4]
    dead = {
        "input": [16, 16, 16],
        "layers": [conv("a", filters=16), {"type": "relu", "name": "dead"}, conv("b", filters=16, inputs=["a"])],
    }
    assert where(dead, "CC303") == [2]


def test_cc303_stays_linear_on_a_deep_residual_network() -> None:
    layers: list[dict[str, Any]] = [conv("c0"), {"type": "relu", "name": "r0"}]
    for i in range(1, 1500):
        layers += [
            conv(f"c{i}"),
            {"type": "batchnorm", "name": f"b{i}"},
            {"type": "add", "name": f"a{i}", "inputs": [f"b{i}", f"r{i - 1}"]},
            {"type": "relu", "name": f"r{i}"},
        ]
    net = analyze_spec({"input": [4, 4, 8], "layers": layers})
    start = time.perf_counter()
    assert list(REGISTRY["CC303"].run(net)) == []
    assert time.perf_counter() - start < 5


def test_cc303_stays_linear_on_a_chain_of_concats() -> None:
    # DenseNet without its BN-ReLU: every conv reads all earlier ones linearly; CC303 keeps the nearest few.
    layers: list[dict[str, Any]] = [conv("c0", filters=1), {"type": "concat", "name": "k0", "inputs": ["c0", "input"]}]
    for i in range(1, 2000):
        layers += [conv(f"c{i}", filters=1), {"type": "concat", "name": f"k{i}", "inputs": [f"k{i - 1}", f"c{i}"]}]
    net = analyze_spec({"input": [2, 2, 1], "layers": layers})
    start = time.perf_counter()
    found = list(REGISTRY["CC303"].run(net))
    assert time.perf_counter() - start < 5
    assert len(found) == 1999
    assert found[-1].message.startswith("layers[3996] c1998")
    assert "nor do layers[3994] c1997, layers[3992] c1996, layers[3990] c1995 and more" in found[-1].message


# --- CC302 first-conv-unpadded and CC202 padding-changes-size --------------------------------------------

KERAS_STEM: dict[str, Any] = {
    "input": [224, 224, 3],
    "layers": [
        {"type": "zero_padding", "name": "conv1_pad", "padding": 3},
        {"type": "conv", "name": "conv1", "filters": 8, "kernel": 7, "stride": 2, "padding": "valid"},
        {"type": "relu"},
        {"type": "zero_padding", "name": "pad2", "padding": 1},
        {"type": "conv", "name": "conv2", "filters": 8, "kernel": 3, "padding": "valid"},
        {"type": "relu"},
    ],
}


def test_cc302_a_zero_padded_stem_is_padded() -> None:
    assert where(KERAS_STEM, "CC302") == []
    unpadded = {**KERAS_STEM, "layers": KERAS_STEM["layers"][1:]}
    (finding,) = run(unpadded, "CC302")
    assert finding.layer == 0
    assert_fix_clears(unpadded, finding)


def test_cc302_zero_padding_of_zero_is_no_padding() -> None:
    spec = {"input": [32, 32, 1], "layers": [{"type": "zero_padding", "padding": 0}, conv("c", kernel=5, padding=0)]}
    assert where(spec, "CC302") == [1]


def test_cc302_every_branch_that_starts_at_the_input() -> None:
    spec = {
        "input": [32, 32, 3],
        "layers": [
            conv("a", kernel=5, padding=0),
            conv("b", kernel=5, padding=0, inputs=["input"]),
            {"type": "concat", "inputs": ["a", "b"]},
            conv("c", kernel=5, padding=0),
        ],
    }
    net = analyze_spec(spec)
    assert [layer.name for layer in first_convs(net)] == ["a", "b"]
    assert where(spec, "CC302") == [0, 1]
    assert where(spec, "CC202") == [3]  # not a first conv: CC202's


def test_cc202_zero_padding_that_keeps_the_size_is_not_flagged() -> None:
    assert where(KERAS_STEM, "CC202") == []
    net = analyze_spec(KERAS_STEM)
    origin, pads = padding_before(net, net.layers[4])
    assert (origin.height, [p.name for p in pads]) == (112, ["pad2"])


def test_cc202_zero_padding_that_falls_short_is_flagged_and_fixed() -> None:
    layers = [dict(layer) for layer in KERAS_STEM["layers"]]
    layers[4] = {**layers[4], "kernel": 5}  # pad2 adds 1 per side; a 5×5 needs 2
    spec = {**KERAS_STEM, "layers": layers}
    (finding,) = run(spec, "CC202")
    assert finding.layer == 4
    assert "112×112 → 110×110" in finding.message
    assert "W + Z − F + 2P + 1 = 112 + 2 − 5 + 0 + 1 = 110 (Z from pad2)" in finding.message
    assert [fix.set for fix in finding.fixes] == [{"padding": 1}]
    assert_fix_clears(spec, finding)


def test_cc202_depthwise_and_dilated_convs() -> None:
    depthwise = {"input": [16, 16, 4], "layers": [conv("c"), {"type": "relu"}, {"type": "depthwise", "kernel": 3}]}
    (finding,) = run(depthwise, "CC202")
    assert finding.layer == 2
    assert_fix_clears(depthwise, finding)
    dilated = {"input": [16, 16, 4], "layers": [conv("c"), {"type": "relu"}, conv("d", dilation=2)]}
    (finding,) = run(dilated, "CC202")
    assert "E = d·(F − 1) + 1 = 2·2 + 1, dilated" in finding.message
    assert [fix.set for fix in finding.fixes] == [{"padding": 2}]
    assert_fix_clears(dilated, finding)


# --- other CC2xx -----------------------------------------------------------------------------------------


def test_cc201_judges_the_kernel_not_the_dilated_span_and_skips_depthwise() -> None:
    dilated3 = {"input": [32, 32, 4], "layers": [conv("d", dilation=4, padding=4)]}
    assert where(dilated3, "CC201") == []
    dilated5 = {"input": [32, 32, 4], "layers": [conv("d", kernel=5, dilation=2, padding=4)]}
    (finding,) = run(dilated5, "CC201")
    assert "5×5 kernel (dilation 2: it spans 9×9 pixels" in finding.message
    assert_fix_clears(dilated5, finding)
    depthwise = {"input": [32, 32, 4], "layers": [{"type": "depthwise", "kernel": 7, "padding": 3}]}
    assert where(depthwise, "CC201") == []


INCEPTION: dict[str, Any] = {
    "input": [28, 28, 16],
    "layers": [
        conv("b1", kernel=1, padding=0, inputs=["input"]),
        {"type": "relu", "name": "b1_relu"},
        conv("b2", inputs=["input"]),
        {"type": "relu", "name": "b2_relu"},
        {"type": "pool", "name": "b3_pool", "kernel": 3, "stride": 1, "padding": "same", "inputs": ["input"]},
        conv("b3", kernel=1, padding=0),
        {"type": "relu", "name": "b3_relu"},
        {"type": "concat", "name": "out", "inputs": ["b1_relu", "b2_relu", "b3_relu"]},
    ],
}


def test_cc203_and_cc306_an_inception_pool_branch_is_not_a_downsampling() -> None:
    assert where(INCEPTION, "CC203") == []
    assert where(INCEPTION, "CC306") == []
    lone = {"input": [28, 28, 16], "layers": [conv("c"), {"type": "relu"}, {"type": "pool", "kernel": 3, "stride": 1}]}
    assert where(lone, "CC203") == [2]


def test_cc203_leaves_a_pool_that_skips_pixels_to_cc205() -> None:
    # ResNetV2's shortcut MaxPooling2D(1, strides=2): one finding, CC205's, which counts the pixels it drops.
    def pool(kernel: int, stride: int) -> dict[str, Any]:
        return {"input": [28, 28, 16], "layers": [{"type": "pool", "kernel": kernel, "stride": stride}]}

    for kernel, stride in ((1, 2), (2, 3)):
        assert (where(pool(kernel, stride), "CC203"), where(pool(kernel, stride), "CC205")) == ([], [0])
    assert (where(pool(3, 1), "CC203"), where(pool(3, 1), "CC205")) == ([0], [])
    # F=3, S=1 down the rows is CC203's even where the columns skip (CC205's).
    rows_blur = {"input": [7, 7, 3], "layers": [{"type": "pool", "kernel": [3, 1], "stride": [1, 2]}]}
    assert (where(rows_blur, "CC203"), where(rows_blur, "CC205")) == ([0], [0])


def test_cc204_spp_pools_are_branches() -> None:
    spec = {
        "input": [16, 16, 8],
        "layers": [
            conv("c"),
            {"type": "relu", "name": "r"},
            {"type": "pool", "name": "p5", "kernel": 5, "stride": 1, "padding": 2},
            {"type": "concat", "inputs": ["r", "p5"]},
        ],
    }
    assert where(spec, "CC204") == []


def test_cc205_says_when_another_branch_reads_the_skipped_pixels() -> None:
    spec = {
        "input": [16, 16, 8],
        "layers": [
            conv("main", stride=2, padding=[1, 1]),
            {"type": "conv", "name": "shortcut", "filters": 8, "kernel": 1, "stride": 2, "inputs": ["input"]},
            {"type": "add", "inputs": ["main", "shortcut"]},
        ],
    }
    (finding,) = run(spec, "CC205")
    assert finding.layer == 1
    assert "lost to this layer only: 1 other layer also reads its 16×16×8 input" in finding.message
    # S=1 would give 16×16 against the main branch's 8×8: the add relies on the size, so only F=2 is offered.
    assert [fix.title for fix in finding.fixes] == ["F=2 → 8×8×8"]
    assert_fix_clears(spec, finding)
    dilated = {"input": [16, 16, 8], "layers": [conv("d", kernel=2, stride=3, dilation=2, padding=0)]}
    assert where(dilated, "CC205") == []


def test_cc206_and_cc207_read_the_dilated_extent_and_depthwise_kernels() -> None:
    fine = {"input": [16, 16, 4], "layers": [conv("d", dilation=2, padding=3)]}
    assert where(fine, "CC206") == []  # P = 3 < E = 5
    over = {"input": [16, 16, 4], "layers": [conv("d", dilation=2, padding=5)]}
    (finding,) = run(over, "CC206")
    assert "P = 5 ≥ E = 5" in finding.message
    assert_fix_clears(over, finding)
    even = {"input": [16, 16, 4], "layers": [{"type": "depthwise", "kernel": 4, "padding": "same"}]}
    (finding,) = run(even, "CC207")
    assert_fix_clears(even, finding)


# --- CC301 -------------------------------------------------------------------------------------------------

UNET: dict[str, Any] = {
    "input": [64, 64, 1],
    "layers": [
        conv("enc1"),
        {"type": "relu", "name": "enc1_relu"},
        {"type": "pool", "name": "down1", "kernel": 2},
        conv("enc2"),
        {"type": "relu", "name": "enc2_relu"},
        {"type": "pool", "name": "down2", "kernel": 2},
        conv("mid"),
        {"type": "relu"},
        {"type": "conv_transpose", "name": "up2", "filters": 8, "kernel": 2, "stride": 2},
        {"type": "concat", "name": "skip2", "inputs": ["up2", "enc2_relu"]},
        conv("dec2"),
        {"type": "relu"},
        {"type": "conv_transpose", "name": "up1", "filters": 8, "kernel": 2, "stride": 2},
        {"type": "concat", "name": "skip1", "inputs": ["up1", "enc1_relu"]},
        conv("dec1"),
        {"type": "relu"},
        conv("logits", filters=2, kernel=1, padding=0),
    ],
}


def test_cc301_an_encoder_decoder_needs_its_deepest_downsampling_only() -> None:
    assert where(UNET, "CC301") == []
    (finding,) = run({**UNET, "input": [66, 66, 1]}, "CC301")
    assert "66 = 2·3·11 is not divisible by 4 = 2^2 (strides 2·2)" in finding.message
    assert_fix_clears({**UNET, "input": [66, 66, 1]}, finding)


def test_cc301_a_projection_shortcut_is_counted_once() -> None:
    spec = {
        "input": [32, 32, 8],
        "layers": [
            conv("main", stride=2),
            {"type": "conv", "name": "shortcut", "filters": 8, "kernel": 1, "stride": 2, "inputs": ["input"]},
            {"type": "add", "inputs": ["main", "shortcut"]},
            {"type": "depthwise", "kernel": 3, "stride": 2, "padding": 1},
        ],
    }
    # main and shortcut run in parallel: 2·2 = 4 divides 36, where a list-order product 2·2·2 = 8 would not.
    assert where({**spec, "input": [36, 36, 8]}, "CC301") == []
    (finding,) = run({**spec, "input": [34, 34, 8]}, "CC301")
    assert "34 = 2·17 is not divisible by 4 = 2^2 (strides 2·2)" in finding.message


# --- CC304, CC305, CC306 -----------------------------------------------------------------------------------


def test_cc304_follows_inputs_not_the_list_order() -> None:
    side_head = {
        "input": [8, 8, 4],
        "layers": [
            {"type": "fc", "name": "aux", "units": 4},
            conv("c", inputs=["input"]),
        ],
    }
    assert where(side_head, "CC304") == []
    after = {
        "input": [8, 8, 4],
        "layers": [
            {"type": "fc", "name": "fc", "units": 4},
            {"type": "relu"},
            {"type": "separable", "filters": 4, "kernel": 1},
        ],
    }
    (finding,) = run(after, "CC304")
    assert finding.message.startswith("this separable runs on 1×1×4, after layers[0] fc")


def test_cc304_a_decoder_grown_from_a_vector_is_flagged_once() -> None:
    spec = {
        "input": [8, 8, 4],
        "layers": [
            {"type": "fc", "units": 16},
            {"type": "relu"},
            {"type": "conv_transpose", "filters": 8, "kernel": 4},
            {"type": "relu"},
            {"type": "conv_transpose", "filters": 8, "kernel": 2, "stride": 2},
        ],
    }
    assert where(spec, "CC304") == [2]  # the 4×4 map it grows is spatial again


def test_cc305_only_the_output_path_matters() -> None:
    assert where(INCEPTION, "CC305") == []  # ReLUs in branches before the concat are not after the logits
    head, after = output_head(analyze_spec(INCEPTION))
    assert head is None and [layer.name for layer in after] == ["out"]


def test_cc305_through_dropout_relu6_and_not_softmax() -> None:
    def spec(*tail: dict[str, Any]) -> dict[str, Any]:
        return {"input": [8, 8, 4], "layers": [{"type": "global_pool"}, {"type": "dense", "units": 10}, *tail]}

    assert where(spec({"type": "activation", "kind": "softmax"}), "CC305") == []
    (finding,) = run(spec({"type": "dropout"}, {"type": "activation", "kind": "relu6"}), "CC305")
    assert finding.layer == 3 and "a ReLU6 after layers[1] fc1" in finding.message and "to [0, 6]" in finding.message
    assert where(spec({"type": "relu"}, {"type": "activation", "kind": "softmax"}), "CC305") == [2]


def test_cc306_reads_producers() -> None:
    spec = {
        "input": [16, 16, 4],
        "layers": [
            conv("a"),
            {"type": "relu", "name": "a_relu"},
            {"type": "pool", "name": "p1", "kernel": 2},
            conv("side", inputs=["a_relu"]),
            {"type": "pool", "name": "p2", "kernel": 2, "inputs": ["p1"]},
            {"type": "pool", "name": "raw", "kernel": 2, "inputs": ["input"]},
            {"type": "activation", "name": "r1", "kind": "relu", "inputs": ["side"]},
            {"type": "relu", "name": "r2"},
            {"type": "activation", "kind": "gelu", "inputs": ["r1"]},
        ],
    }
    found = {finding.layer: finding.message for finding in run(spec, "CC306")}
    assert sorted(found) == [4, 5, 7]
    assert found[4].startswith("a pool right after layers[2] p1")
    assert found[5].startswith("a pool directly on the 16×16×4 input")
    assert found[7].startswith("a ReLU right after layers[6] r1")


# --- CC309: merges of fields centred differently ---------------------------------------------------------------


def factorised_reduction(*, crop: int = 1, then: str = "add") -> dict[str, Any]:
    """NASNet's factorised reduction of ``p`` (two 1×1, stride-2 samplings, the second moved ``crop`` pixels by
    padding and cropping, concatenated), merged with a stride-2 branch ``h`` centred on the second phase."""
    return {
        "input": [16, 16, 4],
        "layers": [
            conv("p"),
            {"type": "relu", "name": "p_relu"},
            {"type": "pool", "mode": "avg", "kernel": 1, "stride": 2, "name": "path1_pool", "inputs": ["p_relu"]},
            {"type": "conv", "filters": 4, "kernel": 1, "name": "path1", "inputs": ["path1_pool"]},
            {"type": "zero_padding", "padding": [[0, crop], [0, crop]], "name": "pad", "inputs": ["p_relu"]},
            {"type": "cropping", "crop": [[crop, 0], [crop, 0]], "name": "crop", "inputs": ["pad"]},
            {"type": "pool", "mode": "avg", "kernel": 1, "stride": 2, "name": "path2_pool", "inputs": ["crop"]},
            {"type": "conv", "filters": 4, "kernel": 1, "name": "path2", "inputs": ["path2_pool"]},
            {"type": "concat", "name": "adjusted", "inputs": ["path1", "path2"]},
            {"type": "batchnorm", "name": "adjusted_bn"},
            # h: a stride-2 3×3 "valid" conv on a zero-padded p, centred where path2 samples (odd pixels).
            {"type": "zero_padding", "padding": [[0, 1], [0, 1]], "name": "h_pad", "inputs": ["p_relu"]},
            {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "name": "h", "inputs": ["h_pad"]},
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "name": "left", "inputs": ["h"]},
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "name": "right", "inputs": ["adjusted_bn"]},
            {"type": then, "name": "cell", "inputs": ["left", "right"]},
            {"type": "add", "name": "cell_out", "inputs": ["adjusted_bn", "cell"]},
        ],
    }


def test_cc309_centres_less_than_half_a_step_apart_are_aligned() -> None:
    def shortcut(pool: int, main_padding: Any = 1) -> dict[str, Any]:
        """ResNet-D: a 3×3, stride-2 main branch beside an average pool then a 1×1 projection."""
        return {
            "input": [8, 8, 16],
            "layers": [
                {"type": "conv", "filters": 32, "kernel": 3, "stride": 2, "padding": main_padding, "name": "main"},
                {"type": "pool", "mode": "avg", "kernel": pool, "stride": 2, "name": "down", "inputs": ["input"]},
                {"type": "conv", "filters": 32, "kernel": 1, "name": "proj"},
                {"type": "add", "inputs": ["main", "proj"]},
            ],
        }

    fields = {layer.name: layer.rf_rows for layer in analyze_spec(shortcut(2)).layers}
    assert (fields["main"].start, fields["proj"].start, fields["main"].jump) == (0.5, 1, 2)  # a quarter step
    assert where(shortcut(2), "CC309") == []
    assert where(shortcut(1), "CC309") == []  # the plain 1×1, stride-2 shortcut: the same centres
    # TensorFlow's "same" on an even input pads after only: centred 1.5, half a step from the 1×1's 0.5.
    assert where(shortcut(1, main_padding="same"), "CC309") == [3]
    # Three branches each less than half a step from the middle one, but a whole half step apart at the ends.
    spread = {
        "input": [16, 16, 4],
        "layers": [
            {"type": "zero_padding", "padding": [[1, 0], [1, 0]], "name": "before"},
            {"type": "conv", "filters": 4, "kernel": 4, "stride": 4, "name": "early"},
            {"type": "conv", "filters": 4, "kernel": 4, "stride": 4, "name": "middle", "inputs": ["input"]},
            {"type": "cropping", "crop": [[1, 0], [1, 0]], "name": "cut", "inputs": ["input"]},
            {"type": "zero_padding", "padding": [[0, 1], [0, 1]], "name": "after"},
            {"type": "conv", "filters": 4, "kernel": 4, "stride": 4, "name": "late"},
            {"type": "concat", "inputs": ["middle", "early", "late"]},
        ],
    }
    starts = {layer.name: layer.rf_rows.start for layer in analyze_spec(spread).layers}
    assert (starts["early"], starts["middle"], starts["late"]) == (1, 2, 3)  # at a step of 4
    assert where(spread, "CC309") == [6]
    # The rule's own bad example: an even kernel half a pixel off, at a step of one pixel.
    bad = {
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 2, "padding": "same", "name": "shifted"},
            {"type": "add", "inputs": ["shifted", "input"]},
        ],
    }
    assert where(bad, "CC309") == [1]


def test_cc309_a_concat_of_phases_of_one_grid_is_a_gather_not_a_misalignment() -> None:
    spec = factorised_reduction()
    fields = {layer.name: layer.rf_rows for layer in analyze_spec(spec).layers}
    assert (fields["path1"].start, fields["path2"].start, fields["h"].start) == (0.5, 1.5, 1.5)
    assert where(spec, "CC309") == []  # the concat, the add of h with it, and the add after it
    assert where(factorised_reduction(then="concat"), "CC309") == []


def test_cc309_a_phase_gather_does_not_excuse_a_real_shift() -> None:
    # Moved by two pixels, the second sampling lands on the first one's grid a whole output later.
    shifted = factorised_reduction(crop=2)
    assert where(shifted, "CC309") == [8, 14, 15]
    # An add of the two phases sums features of different pixels: only a concat gathers.
    summed = factorised_reduction()
    summed["layers"][8]["type"] = "add"
    assert where(summed, "CC309")[0] == 8
    # A branch centred on neither phase is still misaligned with the gathered volume.
    # A branch centred on neither phase (2.5: a whole output after the first) is still misaligned with it.
    off_phase = factorised_reduction()
    off_phase["layers"][10]["padding"] = [[0, 3], [0, 3]]
    off_phase["layers"][11] = {"type": "conv", "filters": 8, "kernel": 5, "stride": 2, "name": "h", "inputs": ["h_pad"]}
    assert 14 in where(off_phase, "CC309")
    # Between the two phases (1: a 2×2 window) it is less than half a step from each: nearest the same outputs.
    between = factorised_reduction()
    between["layers"][11] = {"type": "conv", "filters": 8, "kernel": 2, "stride": 2, "name": "h", "inputs": ["h_pad"]}
    assert where(between, "CC309") == []


def test_cc309_a_gather_stands_for_the_centres_it_gathers_rows_and_columns_together() -> None:
    # NASNet gathers the (even, even) and (odd, odd) pixels, not (even, odd): a branch centred there is off.
    off_diagonal = factorised_reduction()
    off_diagonal["layers"][10]["padding"] = [[1, 1], [0, 1]]
    assert where(off_diagonal, "CC309") == [14, 15]
    # A merge after a merge keeps the centre its inputs share: here the second phase, not the first.
    chain = factorised_reduction(then="concat")
    chain["layers"] += [
        {"type": "conv", "filters": 8, "kernel": 1, "name": "mixed", "inputs": ["cell"]},
        {"type": "conv", "filters": 8, "kernel": 1, "name": "second", "inputs": ["path2"]},
        {"type": "add", "name": "later", "inputs": ["mixed", "second"]},
    ]
    assert where(chain, "CC309") == []
    chain["layers"][-2]["inputs"] = ["path1"]
    assert where(chain, "CC309") == [18]


def _phase(name: str, rows: int, cols: int, source: str = "input") -> list[dict[str, Any]]:
    """A 1×1, stride-2 sampling of ``source`` moved by (rows, cols) pixels (negative: the other way)."""
    pad = [[max(0, -rows), max(0, rows)], [max(0, -cols), max(0, cols)]]
    crop = [[max(0, rows), max(0, -rows)], [max(0, cols), max(0, -cols)]]
    return [
        {"type": "zero_padding", "padding": pad, "name": f"{name}_pad", "inputs": [source]},
        {"type": "cropping", "crop": crop, "name": f"{name}_crop"},
        {"type": "pool", "mode": "avg", "kernel": 1, "stride": 2, "name": name},
    ]


def test_cc309_only_samplings_within_a_stride_of_each_other_gather() -> None:
    three_way = {
        "input": [16, 16, 4],
        "layers": [*_phase("a", 0, 0), *_phase("b", 1, 1), *_phase("c", -1, -1)],
    }
    three_way["layers"].append({"type": "concat", "inputs": ["a", "b", "c"]})
    assert where(three_way, "CC309") == [9]  # b and c lie a whole output apart
    three_way["layers"][-1]["inputs"] = ["a", "b"]
    assert where(three_way, "CC309") == []
    # Strided convolutions one pixel apart are not samplings of a grid: "same" vs padding 1 stays misaligned.
    convs = {
        "input": [16, 16, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": "same", "name": "same"},
            {"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": 1, "name": "pad1", "inputs": ["input"]},
            {"type": "concat", "inputs": ["same", "pad1"]},
        ],
    }
    assert where(convs, "CC309") == [2]


def test_cc309_a_branch_less_than_half_a_step_from_a_gathered_phase_is_aligned() -> None:
    layers = [
        *_phase("a", 0, 0),
        *_phase("b", 1, 1),
        {"type": "concat", "name": "gather", "inputs": ["a", "b"]},
        {"type": "zero_padding", "padding": [[0, 2], [0, 2]], "name": "pad", "inputs": ["input"]},
        {"type": "conv", "filters": 4, "kernel": 4, "stride": 2, "name": "branch"},
        {"type": "concat", "inputs": ["gather", "branch"]},
    ]
    spec = {"input": [16, 16, 4], "layers": layers}
    fields = {layer.name: layer.rf_rows for layer in analyze_spec(spec).layers}
    assert (fields["gather"].start, fields["branch"].start, fields["gather"].jump) == (0.5, 2, 2)  # 1.5 + ¼ step
    assert where(spec, "CC309") == []
    layers[-3]["padding"] = [[0, 4], [0, 4]]
    layers[-2] = {"type": "conv", "filters": 4, "kernel": 6, "stride": 2, "name": "branch"}
    assert where(spec, "CC309") == [9]  # centred at 3: more than half a step from both phases


def test_cc309_phases_end_where_the_grid_does() -> None:
    emptied = {
        "input": [16, 16, 4],
        "layers": [
            *_phase("a", 0, 0),
            *_phase("b", 1, 1),
            {"type": "concat", "name": "gather", "inputs": ["a", "b"]},
            {"type": "cropping", "crop": [[4, 4], [0, 0]], "name": "empty"},
            {"type": "pool", "mode": "avg", "output": [2, 2], "name": "adaptive"},
            {"type": "relu"},
            {"type": "add", "inputs": ["adaptive", "input"]},
        ],
    }
    run(emptied, "CC309")  # an empty volume's jump is 0: the centres stop there, without dividing by it
    # Without a gather upstream the rule reads each layer's own start, even after a merge that does not fit.
    unfit = {
        "input": [16, 16, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 2, "name": "even_valid"},
            {"type": "add", "name": "bad_add", "inputs": ["input", "even_valid"]},
            {"type": "add", "inputs": ["bad_add", "input"]},
        ],
    }
    assert where(unfit, "CC309") == [2]
    # A merge that does not fit (CC105) is judged on its inputs' own starts, gather or not.
    misfit = {
        "input": [16, 16, 4],
        "layers": [
            *_phase("a", 0, 0),
            *_phase("b", 1, 1),
            {"type": "concat", "name": "gather", "inputs": ["a", "b"]},
            {"type": "add", "inputs": ["gather", "b", "input"]},
        ],
    }
    assert where(misfit, "CC309") == [7]
    misfit["layers"][-1]["inputs"] = ["gather", "b"]
    assert where(misfit, "CC309") == []


def test_cc309_nested_gathers_stay_quiet_and_bounded() -> None:
    layers: list[dict[str, Any]] = []
    source = "input"
    for level in range(8):
        layers += [*_phase(f"a{level}", 0, 0, source), *_phase(f"b{level}", 1, 1, source)]
        layers.append({"type": "concat", "name": f"g{level}", "inputs": [f"a{level}", f"b{level}"]})
        source = f"g{level}"
    nested = {"input": [512, 512, 1], "layers": [*layers, *({"type": "relu"} for _ in range(200))]}
    assert where(nested, "CC309") == []


def test_cc309_space_to_depth_gathers_all_four_phases_of_the_input() -> None:
    layers: list[dict[str, Any]] = []
    for rows in (0, 1):
        for cols in (0, 1):
            layers += [
                {
                    "type": "zero_padding",
                    "padding": [[0, rows], [0, cols]],
                    "name": f"pad{rows}{cols}",
                    "inputs": ["input"],
                },
                {"type": "cropping", "crop": [[rows, 0], [cols, 0]], "name": f"crop{rows}{cols}"},
                {"type": "pool", "kernel": 1, "stride": 2, "name": f"phase{rows}{cols}"},
            ]
    layers.append({"type": "concat", "name": "focus", "inputs": ["phase00", "phase01", "phase10", "phase11"]})
    focus = {"input": [8, 8, 3], "layers": [*layers, conv("after")]}
    assert where(focus, "CC309") == []
    # A concat of an even kernel's output with an odd one's is no gather: nothing was sampled at a coarser grid.
    even = {
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 2, "padding": "same", "name": "even"},
            conv("odd", inputs=["input"]),
            {"type": "concat", "inputs": ["even", "odd"]},
        ],
    }
    assert where(even, "CC309") == [2]


# --- CC307, CC401, CC402, CC404 ------------------------------------------------------------------------------


def test_cc307_a_block_ending_in_a_concat() -> None:
    (finding,) = run(INCEPTION, "CC307")
    assert finding.layer == 7 and finding.fixes == ()


def test_cc307_passes_dense_prediction_and_flags_a_network_that_stops_short() -> None:
    # Down and back up to the input's size (an encoder-decoder), or up past it (ESPCN's sub-pixel output).
    segment = {
        "input": [16, 16, 3],
        "layers": [
            conv("enc", filters=8),
            {"type": "relu"},
            {"type": "pool", "kernel": 2},
            conv("mid", filters=8),
            {"type": "relu"},
            {"type": "upsample", "factor": 2, "interpolation": "bilinear"},
            conv("scores", filters=5, kernel=1, padding=0),
        ],
    }
    assert where(segment, "CC307") == []
    espcn = {
        "input": [16, 16, 3],
        "layers": [conv("body", filters=12), {"type": "relu"}, {"type": "depth_to_space", "block": 2}],
    }
    assert where(espcn, "CC307") == []
    # Stopping at the pool, or never leaving the input's grid (the rule's bad example), is unfinished.
    assert where({**segment, "layers": segment["layers"][:3]}, "CC307") == [2]
    assert where({"input": [8, 8, 1], "layers": [conv("c", filters=4)]}, "CC307") == [0]


def test_cc307_passes_the_original_u_net_whose_unpadded_convs_end_smaller_than_its_input() -> None:
    # Ronneberger et al.'s U-Net: 3×3 convs without padding, skip connections cropped to the upsampled size; the
    # scores are on the input's grid (one per input pixel) but 148×148 for 188×188.
    def valid(name: str, filters: int) -> dict[str, Any]:
        return conv(name, filters=filters, padding=0)

    unet = {
        "input": [188, 188, 1],
        "layers": [
            valid("a1", 16), {"type": "relu"}, valid("a2", 16), {"type": "relu", "name": "a"},
            {"type": "pool", "kernel": 2},
            valid("b1", 32), {"type": "relu"}, valid("b2", 32), {"type": "relu", "name": "b"},
            {"type": "pool", "kernel": 2},
            valid("c1", 64), {"type": "relu"}, valid("c2", 64), {"type": "relu"},
            {"type": "conv_transpose", "filters": 32, "kernel": 2, "stride": 2, "name": "up2"},
            {"type": "cropping", "crop": 4, "inputs": ["b"], "name": "skip2"},
            {"type": "concat", "inputs": ["skip2", "up2"]},
            valid("d1", 32), {"type": "relu"}, valid("d2", 32), {"type": "relu"},
            {"type": "conv_transpose", "filters": 16, "kernel": 2, "stride": 2, "name": "up1"},
            {"type": "cropping", "crop": 16, "inputs": ["a"], "name": "skip1"},
            {"type": "concat", "inputs": ["skip1", "up1"]},
            valid("e1", 16), {"type": "relu"}, valid("e2", 16), {"type": "relu"},
            conv("scores", filters=2, kernel=1, padding=0),
        ],
    }  # fmt: skip
    assert str(analyze_spec(unet).output_shape) == "148×148×2"
    assert where(unet, "CC307") == []
    # The same encoder stopped before its decoder is still unfinished: its grid is the pools' (a jump of 4).
    assert where({**unet, "layers": unet["layers"][:14]}, "CC307") == [13]


def test_cc307_still_flags_classifiers_that_only_look_like_decoders() -> None:
    # An upsampling in front of a downsampling backbone (no coarser map feeds the output); a pooled global
    # context broadcast back and added (a 1×1 vector is no coarser map, nor its field a grid); and a stride only
    # on a dead branch (the output path never leaves the input's grid).
    stride2 = {"kernel": 3, "stride": 2}
    upsampled_backbone = {
        "input": [32, 32, 3],
        "layers": [{"type": "upsample", "factor": 4}]
        + [layer for k in (32, 64, 128, 256, 512) for layer in (conv(f"c{k}", filters=k, **stride2), {"type": "relu"})],
    }
    context = {
        "input": [32, 32, 3],
        "layers": [
            conv("c1", filters=32, **stride2), {"type": "relu"},
            conv("c2", filters=64, **stride2), {"type": "relu", "name": "f"},
            {"type": "global_pool", "inputs": ["f"]}, conv("c3", filters=64, kernel=1, padding=0),
            {"type": "upsample", "factor": 8, "name": "ctx"}, {"type": "add", "inputs": ["f", "ctx"]},
        ],
    }  # fmt: skip
    dead_stride = {
        "input": [32, 32, 3],
        "layers": [
            conv("a", filters=16, padding=0), {"type": "relu"},
            conv("dead", filters=16, stride=2, inputs=["a"]), conv("b", filters=16, padding=0, inputs=["a"]),
            {"type": "relu"},
        ],
    }  # fmt: skip
    for spec in (upsampled_backbone, context, dead_stride):
        assert where(spec, "CC307") == [len(spec["layers"]) - 1], spec


def test_cc307_passes_a_map_of_one_score_per_position() -> None:
    # pix2pix's 70×70 PatchGAN: a real-or-fake score for each patch, 30×30×1 for 256×256 by design. The same
    # network cut before its one-channel conv ends in 31×31×512 features: unfinished.
    def patch(name: str, filters: int, stride: int) -> dict[str, Any]:
        return conv(name, filters=filters, kernel=4, stride=stride, padding=1)

    patchgan = {
        "input": [256, 256, 6],
        "layers": [
            patch("c64", 64, 2), {"type": "activation", "kind": "leaky_relu"},
            patch("c128", 128, 2), {"type": "batchnorm"}, {"type": "activation", "kind": "leaky_relu"},
            patch("c256", 256, 2), {"type": "batchnorm"}, {"type": "activation", "kind": "leaky_relu"},
            patch("c512", 512, 1), {"type": "batchnorm"}, {"type": "activation", "kind": "leaky_relu"},
            patch("scores", 1, 1),
        ],
    }  # fmt: skip
    assert str(analyze_spec(patchgan).output_shape) == "30×30×1" and where(patchgan, "CC307") == []
    assert where({**patchgan, "layers": patchgan["layers"][:-1]}, "CC307") == [10]


def test_cc307_passes_a_heatmap_fused_from_an_upsampled_coarser_map() -> None:
    # HRNet's fusion: a stride-2 stem, a branch at half of that, upsampled and added to the first; 17 keypoint
    # heatmaps at half the input's size. Without the coarser branch it is an unfinished classifier again.
    hrnet = {
        "input": [64, 64, 3],
        "layers": [
            conv("stem", filters=16, stride=2), {"type": "relu", "name": "s"},
            conv("high", filters=16), {"type": "relu", "name": "h"},
            conv("low", filters=32, stride=2, inputs=["s"]), {"type": "relu"},
            conv("to_high", filters=16, kernel=1, padding=0), {"type": "upsample", "factor": 2, "name": "up"},
            {"type": "add", "inputs": ["h", "up"]}, {"type": "relu"},
            conv("heatmaps", filters=17, kernel=1, padding=0),
        ],
    }  # fmt: skip
    assert str(analyze_spec(hrnet).output_shape) == "32×32×17" and where(hrnet, "CC307") == []
    alone = {**hrnet, "layers": [*hrnet["layers"][:4], conv("heatmaps", filters=17, kernel=1, padding=0)]}
    assert where(alone, "CC307") == [4]


def test_cc401_no_pooling_advice_when_the_fc_reads_a_pooled_vector() -> None:
    pooled = {
        "input": [8, 8, 4],
        "layers": [conv("c"), {"type": "relu"}, {"type": "global_pool"}, {"type": "fc", "units": 512}],
    }
    (finding,) = run(pooled, "CC401")
    assert "global average pooling" not in finding.message
    assert "they read 1×1 volumes already" in finding.message
    flattened = {
        "input": [8, 8, 4],
        "layers": [conv("c"), {"type": "relu"}, {"type": "flatten"}, {"type": "dropout"}, {"type": "fc", "units": 64}],
    }
    (finding,) = run(flattened, "CC401")
    assert "This fc over 8×8×8 is a conv with F = 8" in finding.message


def test_cc402_the_output_volume_of_a_residual_network() -> None:
    spec = residual_block()
    spec["layers"] += [{"type": "relu"}, {"type": "global_pool"}, {"type": "fc", "units": 10}]
    (finding,) = run(spec, "CC402")
    assert finding.layer == 9  # next: the last window on the output path
    assert "only the global pooling and the fc layers after it see the whole image" in finding.message
    ends_in_add = residual_block(relu_after_add=False)
    ends_in_add["layers"] = ends_in_add["layers"][:-1]
    (finding,) = run(ends_in_add, "CC402")
    assert finding.layer == 7 and "the last add layer's units see 7×7" in finding.message


def test_cc402_a_concat_takes_its_largest_branch() -> None:
    (finding,) = run(INCEPTION, "CC402")
    assert finding.layer == 7 and "see 3×3 input pixels" in finding.message


def test_cc404_reads_through_batchnorm_and_activations() -> None:
    spec = {
        "input": [16, 16, 4],
        "layers": [
            conv("c"),
            {"type": "batchnorm"},
            {"type": "activation", "kind": "swish"},
            {"type": "pool", "kernel": 2},
            {"type": "pool", "kernel": 2, "stride": 2, "inputs": ["input"]},
        ],
    }
    assert where(spec, "CC404") == [3]


def _two_branches(*, left_first: bool) -> dict[str, Any]:
    left = [
        conv("l1", inputs=["input"]),
        {"type": "pool", "name": "lp1", "kernel": 2, "mode": "avg", "inputs": ["l1"]},
        {"type": "pool", "name": "lp2", "kernel": 2, "mode": "avg", "inputs": ["lp1"]},
    ]
    right = [
        conv("r1", inputs=["input"]),
        {"type": "relu", "name": "rr", "inputs": ["r1"]},
        {"type": "pool", "name": "rp", "kernel": 4, "inputs": ["rr"]},
    ]
    tail = [
        {"type": "concat", "name": "cat", "inputs": ["lp2", "rp"]},
        conv("c"),
        {"type": "relu"},
        {"type": "global_pool"},
        {"type": "fc", "name": "logits", "units": 10},
        {"type": "relu", "name": "clip"},
    ]
    return {"input": [16, 16, 4], "layers": [*(left + right if left_first else right + left), *tail]}


@pytest.mark.parametrize("code", ["CC301", "CC303", "CC305", "CC306", "CC402", "CC404"])
def test_the_rules_ignore_list_order_where_inputs_say_otherwise(code: str) -> None:
    # The same graph with its branches listed in the other order gives the same findings.
    def named(spec: dict[str, Any]) -> list[tuple[str, str]]:
        net = analyze_spec(spec)
        found = [("network" if f.layer is None else net.layers[f.layer].name, f.message) for f in run(spec, code)]
        return sorted((name, re.sub(r"layers\[\d+\] ", "", message)) for name, message in found)

    first, second = named(_two_branches(left_first=True)), named(_two_branches(left_first=False))
    assert first == second
    expected = {"CC303": ["c"], "CC305": ["clip"], "CC306": ["lp2"], "CC402": ["c"], "CC404": ["lp1"]}
    assert [name for name, _ in first] == expected.get(code, [])


# --- property: on random small graphs, every fix still clears its finding --------------------------------


GRAPH_KINDS = [
    *("conv", "conv", "depthwise", "conv_transpose", "pool", "global_pool", "fc"),
    *("relu", "activation", "batchnorm", "dropout", "zero_padding", "add", "concat"),
]


@st.composite
def graph_specs(draw: st.DrawFn) -> dict[str, Any]:
    """1–8 layers of the modern kinds, each reading the previous layer or earlier ones (merges read two)."""
    size = draw(st.integers(4, 24))
    layers: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(GRAPH_KINDS))
        layer: dict[str, Any] = {"type": kind, "name": f"l{i}"}
        earlier = ["input", *(f"l{j}" for j in range(i))]
        if kind in ("add", "concat"):
            layer["inputs"] = draw(st.lists(st.sampled_from(earlier), min_size=2, max_size=2))
        elif draw(st.booleans()):
            layer["inputs"] = [draw(st.sampled_from(earlier))]
        if kind in ("conv", "depthwise", "pool", "conv_transpose"):
            layer["kernel"] = draw(st.integers(1, 6))
            layer.update(
                draw(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "stride": st.integers(1, 3),
                            "padding": st.one_of(st.integers(0, 3), st.just("same")),
                        },
                    )
                )
            )
        if kind in ("conv", "depthwise") and draw(st.booleans()):
            layer["dilation"] = draw(st.integers(1, 3))
        if kind in ("conv", "conv_transpose"):
            layer["filters"] = draw(st.integers(1, 4))
        elif kind == "pool":
            layer["mode"] = draw(st.sampled_from(["max", "avg", "l2"]))
        elif kind == "global_pool":
            layer["mode"] = draw(st.sampled_from(["max", "avg"]))
        elif kind == "activation":
            layer["kind"] = draw(st.sampled_from(["relu", "relu6", "gelu", "softmax"]))
        elif kind == "zero_padding":
            layer["padding"] = draw(st.integers(0, 2))
        elif kind == "fc":
            layer["units"] = draw(st.integers(1, 8))
        layers.append(layer)
    return {"input": [size, size, draw(st.integers(1, 4))], "layers": layers}


CHANGED = [code for code in sorted(REGISTRY) if code[:3] in ("CC2", "CC3", "CC4")]


@given(graph_specs())
def test_every_fix_clears_its_finding_on_graphs(spec: dict[str, Any]) -> None:
    net = analyze_spec(spec)
    for code in CHANGED:
        for finding in REGISTRY[code].run(net):
            for fix in finding.fixes:
                fixed = apply_fix(spec, fix)
                left = {(f.code, f.layer) for f in run(fixed, code)}
                assert (finding.code, finding.layer) not in left, (fix, fixed)


def test_cc303_passes_convnext_and_mobilenet_v3_linear_designs() -> None:
    # ConvNeXt: a block's 1×1 projection, scaled and added to the shortcut, feeds the next block's 7×7
    # depthwise conv with no activation; so does its 2×2/2 downsampler.
    convnext = {
        "input": [16, 16, 8],
        "layers": [
            {"type": "depthwise", "kernel": 7, "padding": 3, "name": "dw"},
            {"type": "batchnorm"},
            conv("expand", filters=32, kernel=1, padding=0),
            {"type": "activation", "kind": "gelu"},
            conv("project", filters=8, kernel=1, padding=0),
            {"type": "add", "inputs": ["project", "input"], "name": "sum"},
            {"type": "depthwise", "kernel": 7, "padding": 3, "name": "next_dw"},
            {"type": "activation", "kind": "gelu"},
            {"type": "conv", "filters": 16, "kernel": 2, "stride": 2, "name": "down"},
            {"type": "depthwise", "kernel": 7, "padding": 3, "name": "after_down"},
        ],
    }
    assert where(convnext, "CC303") == []
    # MobileNetV3's expansion-1 block: a 16 → 16 projection (not narrower) feeds the next 16 → 64 expansion.
    expansion_one = {
        "input": [8, 8, 16],
        "layers": [
            {"type": "depthwise", "kernel": 3, "padding": 1},
            {"type": "relu"},
            conv("project", filters=16, kernel=1, padding=0),
            {"type": "add", "inputs": ["project", "input"], "name": "sum"},
            conv("expand", filters=64, kernel=1, padding=0),
        ],
    }
    assert where(expansion_one, "CC303") == []
    # A 3×3 conv straight into another 3×3 conv is still one linear map.
    assert where({"input": [8, 8, 4], "layers": [conv("a"), conv("b")]}, "CC303") == [1]


def test_cc207_passes_patchify_convs_and_flags_overlapping_even_kernels() -> None:
    patchify = {"input": [32, 32, 3], "layers": [{"type": "conv", "filters": 8, "kernel": 4, "stride": 4}]}
    assert where(patchify, "CC207") == []
    overlapping = {"input": [32, 32, 3], "layers": [{"type": "conv", "filters": 8, "kernel": 4, "stride": 2}]}
    assert where(overlapping, "CC207") == [0]


@given(graph_specs())
def test_the_lazy_graph_counts_answer_what_the_walks_do(spec: dict[str, Any]) -> None:
    """LockedSizes and ReaderCounts walk the graph only when first asked, and then say what size_locked and
    reader_counts say, for every layer (and the input, −1)."""
    net = analyze_spec(spec)
    locked, readers = LockedSizes(net), ReaderCounts(net)
    assert locked._locked is None and readers._counts is None  # nothing walked before a question
    counts, held = reader_counts(net), size_locked(net)
    for index in range(-1, len(net.layers)):
        assert readers.of(index) == counts.get(index, 0)
        assert (index in locked) == (index in held)


def _fusion(*, shift: int = 0, interpolation: str = "nearest") -> dict[str, Any]:
    """A feature pyramid's top-down fusion: a 16×16 volume and its 8×8, stride-2 summary (centred on the corners
    of its 2×2 blocks, as strided convs are), upsampled 2× and added back; ``shift`` crops the coarse branch's
    input that many pixels first."""
    coarse_input = "input"
    layers: list[dict[str, Any]] = []
    if shift:
        layers += [
            {"type": "cropping", "crop": [[shift, 0], [shift, 0]], "name": "moved"},
            {"type": "zero_padding", "padding": [[0, shift], [0, shift]], "name": "moved_back"},
        ]
        coarse_input = "moved_back"
    return {
        "input": [16, 16, 8],
        "layers": [
            *layers,
            {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "padding": 1, "inputs": [coarse_input]},
            {"type": "relu"},
            {"type": "upsample", "factor": 2, "interpolation": interpolation, "name": "up"},
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "name": "smooth"},
            {"type": "conv", "filters": 8, "kernel": 1, "inputs": ["input"], "name": "lateral"},
            {"type": "add", "inputs": ["lateral", "smooth"], "name": "fused"},
        ],
    }


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_cc309_an_upsampled_branch_is_judged_on_its_coarse_grid(interpolation: str) -> None:
    # The 2× upsampling with half-pixel centres moves the coarse centres half a fine step (what FPN, LRASPP and
    # HRNet all do, and no kernel or padding undoes): quiet. A coarse branch a whole pixel (half its step) off
    # before the upsampling still shows.
    net = analyze_spec(_fusion(interpolation=interpolation))
    fields = {layer.name: layer.rf_rows for layer in net.layers}
    assert (fields["smooth"].start, fields["lateral"].start, fields["smooth"].jump) == (0, 0.5, 1)
    assert where(_fusion(interpolation=interpolation), "CC309") == []
    assert where(_fusion(shift=1, interpolation=interpolation), "CC309") == [7]


def test_cc309_a_branch_upsampled_from_1x1_has_no_grid_to_align() -> None:
    # DeepLabV3's ASPP: the image pooling branch (global pool, 1×1 conv, upsampled to the feature size) is the
    # same at every position; the atrous branches beside it are centred as the input.
    aspp = {
        "input": [9, 9, 8],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 1, "name": "b1"},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 2, "dilation": 2, "inputs": ["input"], "name": "b2"},
            {"type": "global_pool", "mode": "avg", "inputs": ["input"]},
            {"type": "conv", "filters": 4, "kernel": 1},
            {"type": "relu"},
            {"type": "upsample", "factor": 9, "interpolation": "bilinear", "name": "pooled"},
            {"type": "concat", "inputs": ["b1", "b2", "pooled"]},
        ],
    }
    assert where(aspp, "CC309") == []
    # The branches with a grid are judged as ever: b2 padded one pixel more on the right is a pixel off.
    aspp["layers"][1] = {**aspp["layers"][1], "padding": 0, "inputs": ["padded"]}
    aspp["layers"].insert(1, {"type": "zero_padding", "padding": [[2, 2], [1, 3]], "name": "padded"})
    assert where(aspp, "CC309") == [7]


def test_cc303_a_linear_readout_of_a_map_the_network_reads_on_is_exempt_heads_alone_are_not() -> None:
    # LRASPP: the low-level classifier (a 1×1 giving scores, summed and upsampled to the output) reads a linear
    # bottleneck the backbone goes on reading: exempt. An RPN's class and box 1×1s are the only readers of a 3×3
    # that lost its ReLU: both flagged, as ever.
    lraspp = {
        "input": [16, 16, 8],
        "layers": [
            conv("expand", filters=16, kernel=1, padding=0),
            {"type": "relu"},
            conv("project", filters=8, kernel=1, padding=0),
            {"type": "batchnorm", "name": "low"},
            conv("next", filters=16, kernel=3, stride=2, inputs=["low"]),
            {"type": "relu"},
            conv("high_scores", filters=5, kernel=1, padding=0),
            {"type": "upsample", "factor": 2, "name": "up"},
            conv("low_scores", filters=5, kernel=1, padding=0, inputs=["low"]),
            {"type": "add", "inputs": ["low_scores", "up"]},
        ],
    }
    assert where(lraspp, "CC303") == [4]  # only the backbone's own 3×3 after the linear projection
    rpn = {
        "input": [16, 16, 3],
        "layers": [
            conv("backbone", filters=8),
            {"type": "relu"},
            conv("head", filters=8),
            conv("cls", filters=3, kernel=1, padding=0, inputs=["head"]),
            conv("box", filters=12, kernel=1, padding=0, inputs=["head"]),
            {"type": "concat", "inputs": ["cls", "box"]},
        ],
    }
    assert where(rpn, "CC303") == [3, 4]


def test_cc303_a_sub_pixel_conv_is_a_learned_upsampling() -> None:
    # EDSR's upsampler: conv to r²·C channels, pixel shuffle, then the tail conv, no activation by design.
    edsr = {
        "input": [8, 8, 16],
        "layers": [
            conv("body", filters=16),
            {"type": "relu"},
            conv("upsampler", filters=64),
            {"type": "depth_to_space", "block": 2, "order": "crd"},
            conv("tail", filters=3),
        ],
    }
    assert where(edsr, "CC303") == []


def test_cc307_a_side_branch_or_padding_is_no_change_of_grid() -> None:
    # A stride-1 trunk with a squeeze-and-excite gate, or padded and cropped back by a valid conv, never leaves
    # its grid: unfinished.
    se = {
        "input": [8, 8, 4],
        "layers": [
            conv("trunk", filters=4),
            {"type": "global_pool", "mode": "avg"},
            {"type": "fc", "units": 4},
            {"type": "activation", "kind": "sigmoid", "name": "gate"},
            {"type": "multiply", "inputs": ["trunk", "gate"]},
        ],
    }
    assert where(se, "CC307") == [4]
    padded = {"input": [8, 8, 4], "layers": [{"type": "zero_padding", "padding": 1}, conv("c", padding=0)]}
    assert where(padded, "CC307") == [1]


def test_cc309_a_branch_half_a_fine_step_off_beside_an_upsampled_one_still_fires() -> None:
    # The lateral branch cropped a pixel off at full resolution, beside a 4× upsampling: judged at the fine step.
    lateral = {
        "input": [32, 32, 8],
        "layers": [
            conv("down1", stride=2),
            {"type": "relu"},
            conv("down2", stride=2),
            {"type": "relu"},
            {"type": "upsample", "factor": 4, "name": "up"},
            {"type": "cropping", "crop": [[1, 0], [1, 0]], "inputs": ["input"]},
            {"type": "zero_padding", "padding": [[0, 1], [0, 1]], "name": "shifted"},
            {"type": "add", "inputs": ["shifted", "up"]},
        ],
    }
    assert where(lateral, "CC309") == [7]
    lateral["layers"][5:7] = [conv("lateral", kernel=1, padding=0, inputs=["input"])]
    lateral["layers"][-1]["inputs"] = ["lateral", "up"]
    assert where(lateral, "CC309") == []
    # A sub-pixel upsampling is judged as an upsampling is.
    shuffled = {**_fusion(), "layers": [dict(layer) for layer in _fusion()["layers"]]}
    shuffled["layers"][1] = conv("wide", filters=32, kernel=1, padding=0)
    shuffled["layers"][2] = {"type": "depth_to_space", "block": 2, "name": "up"}
    assert where(shuffled, "CC309") == []
