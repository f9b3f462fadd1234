"""Fixes are checked, not guessed: applied to the spec, every fix validates and removes its own finding.

Plus the findings the seed networks must give, and messages with their numbers worked out by hand.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from convcalc.checking import check_loaded
from convcalc.findings import Finding, Fix, Severity
from convcalc.fixes import apply_fix
from convcalc.loading import LoadedSpec, SourceMap, validate
from convcalc.rules import REGISTRY, Rule, Settings, run_rules
from convcalc.rules.safety import safe_fixes
from tests.export.strategies import buildable_specs
from tests.helpers import EXAMPLES, analyze_example, analyze_spec, example_spec

SETTINGS = Settings(activation_budget_bytes=64 * 1024)
"""A small budget, so that CC403 runs on the small random networks too."""

# --- a small-network strategy: sizes where the rules fire often -----------------------------------


def _pairs(values: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.one_of(values, values, st.lists(values, min_size=2, max_size=2))


_paddings = st.one_of(st.integers(0, 4), st.lists(st.integers(0, 4), min_size=2, max_size=2), st.just("same"))


@st.composite
def _layer(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["conv", "conv", "conv", "pool", "pool", "relu", "relu", "fc", "flatten"]))
    layer: dict[str, Any] = {"type": kind}
    if kind == "conv":
        layer["filters"] = draw(st.integers(1, 8))
        layer["kernel"] = draw(_pairs(st.integers(1, 7)))
        layer.update(
            draw(st.fixed_dictionaries({}, optional={"stride": _pairs(st.integers(1, 4)), "padding": _paddings}))
        )
    elif kind == "pool":
        layer["kernel"] = draw(_pairs(st.integers(1, 5)))
        optional = {
            "stride": _pairs(st.integers(1, 4)),
            "padding": _paddings,
            "mode": st.sampled_from(["max", "avg", "l2"]),
        }
        layer.update(draw(st.fixed_dictionaries({}, optional=optional)))
    elif kind == "fc":
        layer["units"] = draw(st.integers(1, 16))
    return layer


@st.composite
def small_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec of 1–8 small layers on an input of at most 40×40×4 (it may well not fit)."""
    spec: dict[str, Any] = {
        "input": [draw(st.integers(1, 40)), draw(st.integers(1, 40)), draw(st.integers(1, 4))],
        "layers": draw(st.lists(_layer(), min_size=1, max_size=8)),
    }
    if draw(st.booleans()):
        spec["classes"] = draw(st.integers(1, 10))
    return spec


# --- helpers -----------------------------------------------------------------------------------------


def all_findings(spec: dict[str, Any], rules: list[Rule] | None = None) -> list[Finding]:
    net = analyze_spec(spec)
    return [f for r in (rules if rules is not None else list(REGISTRY.values())) for f in r.run(net, SETTINGS)]


def default_findings(name: str) -> list[Finding]:
    return all_findings(example_spec(name), [r for r in REGISTRY.values() if r.default_enabled])


def original_index(layer: int | None, fix: Fix) -> int | None:
    """Where a layer of the fixed spec was before the fix (a fix may insert or remove layers)."""
    if layer is None:
        return None
    for edit in sorted(fix.edits, key=lambda edit: edit.path):
        if edit.path.startswith("layers[") and (edit.insert is not None or edit.remove):
            index = int(edit.path[len("layers[") : -1])
            if edit.insert is not None and layer >= index:
                layer -= 1
            elif edit.remove and layer >= index:
                layer += 1
    return layer


def moved_index(layer: int | None, fix: Fix) -> int | None:
    """Where a layer of the spec is after the fix (a removed layer's place goes to the layer before it)."""
    if layer is None:
        return None
    shift = 0
    for edit in fix.edits:
        if edit.path.startswith("layers[") and (edit.insert is not None or edit.remove):
            index = int(edit.path[len("layers[") : -1])
            if layer >= index:
                shift += -1 if edit.remove else 1
    return layer + shift


def assert_fixes_clear(
    spec: dict[str, Any], rules: list[Rule] | None = None, settings: Settings | None = SETTINGS
) -> int:
    """Apply every fix of every finding of ``rules`` (default: all); each must validate and remove its (code,
    layer). Returns how many fixes were applied."""
    net = analyze_spec(spec)
    checked = 0
    for r in rules if rules is not None else list(REGISTRY.values()):
        for finding in r.run(net, settings):
            for fix in finding.fixes:
                fixed = apply_fix(spec, fix)
                after = analyze_spec(fixed)  # must still validate
                left = {(f.code, original_index(f.layer, fix)) for f in r.run(after, settings)}
                assert (finding.code, finding.layer) not in left, (
                    f"{finding.code} at {finding.layer} survives its fix {fix.title!r} ({fix.path} {fix.set}):"
                    f" {json.dumps(fixed)}"
                )
                checked += 1
    return checked


# --- (1) every fix clears its finding ------------------------------------------------------------------


@given(small_specs())
def test_every_fix_of_every_rule_clears_its_finding(spec: dict[str, Any]) -> None:
    assert_fixes_clear(spec)


NO_FIX_ON_BAD_EXAMPLE = {
    # Rules whose finding on their own bad example comes without a fix to apply.
    "CC106",  # concat-sizes-differ
    "CC304",  # conv-after-fc
    "CC306",  # redundant-layer-order
    "CC308",  # unused-layer
    "CC309",  # misaligned-merge
    "CC401",  # fc-dominates-params
    "CC402",  # receptive-field-too-small
    "CC403",  # activation-memory-over-budget
    "CC404",  # pool-replaceable-by-stride
    "CC405",  # over-budget
    "CC208",  # floor-drops-padding: advice, nothing to fix
    "CC113",  # crop-leaves-nothing: the right crop depends on what the cropped volume must meet
}


def own_findings(rule: Rule) -> list[Finding]:
    """The rule's findings on its own bad example, under the settings it is documented with."""
    return list(rule.run(analyze_spec(rule.bad), rule.example_settings))


def test_exactly_these_rules_offer_no_fix_on_their_bad_example() -> None:
    # Kept exact so the list cannot go stale: a rule that gains a fix moves into the test below.
    without = {code for code, rule in REGISTRY.items() if not any(f.fixes for f in own_findings(rule))}
    assert without == NO_FIX_ON_BAD_EXAMPLE


@pytest.mark.parametrize("code", sorted(set(REGISTRY) - NO_FIX_ON_BAD_EXAMPLE))
def test_each_fix_of_the_bad_example_clears_its_finding(code: str) -> None:
    rule = REGISTRY[code]
    assert all(finding.fixes for finding in own_findings(rule)), "every finding on the bad example offers a fix"
    assert assert_fixes_clear(rule.bad, [rule], rule.example_settings) >= 1


def test_every_rules_fixes_on_every_bad_example_clear_their_findings() -> None:
    # The bad examples are small networks on which other rules fire too; their fixes must hold as well.
    applied = sum(assert_fixes_clear(rule.bad) for rule in REGISTRY.values())
    assert applied >= len(REGISTRY) - len(NO_FIX_ON_BAD_EXAMPLE)


MODERN = ["alexnet_two_tower", "inception_block", "mobilenet_v1", "resnet18", "resnet50", "unet_small"]


@pytest.mark.parametrize(
    "name", ["alexnet", "alexnet_conv1", "lenet5", "mnist_cnn", "stride_mismatch", "vgg16", *MODERN]
)
def test_fixes_of_the_seed_networks_clear_them(name: str) -> None:
    assert_fixes_clear(example_spec(name))


# --- (2) the seed networks --------------------------------------------------------------------------


def codes(name: str) -> set[str]:
    return {f.code for f in default_findings(name)}


def test_vgg16_is_fc_heavy_and_uses_only_magic_numbers() -> None:
    found = codes("vgg16")
    assert "CC401" in found
    assert not {c for c in found if c.startswith("CC2")}


def test_alexnet_has_large_kernels_and_tiles_227_exactly() -> None:
    found = {(f.code, f.layer) for f in default_findings("alexnet")}
    assert found >= {("CC201", 0), ("CC201", 3)}
    # 227 is not a multiple of 4·2·2·2, yet every strided layer tiles it exactly (55, 27, 13, 6): no CC301.
    assert ("CC301", None) not in found


def test_lenet5_does_not_pad_its_first_conv() -> None:
    assert ("CC302", 0) in {(f.code, f.layer) for f in default_findings("lenet5")}


def test_mnist_cnn_5x5_kernels() -> None:
    assert [f.layer for f in default_findings("mnist_cnn") if f.code == "CC201"] == [0, 3]


def by_code(name: str) -> dict[str, list[int | None]]:
    """The default rules' findings under the default settings, less the spec's own ``ignore``, per code."""
    net = analyze_example(name)
    found: dict[str, list[int | None]] = {}
    for r in REGISTRY.values():
        if r.default_enabled and not r.code.startswith(net.network.ignore):
            for finding in r.run(net, Settings()):
                found.setdefault(finding.code, []).append(finding.layer)
    return found


def test_resnets_give_only_true_findings() -> None:
    # The stems floor only padding: (224 − 7 + 6)/2 + 1 = 112.5 drops a zero row (CC208's info, no CC101); a
    # 7×7 stem (CC201, ResNet-C) and 1×1 stride-2 projections that read 1 pixel of 4 (CC205, ResNet-D) are real.
    # Graph-aware: conv → bn → activation → conv is not CC303, parallel strides are not multiplied (CC301),
    # and ZeroPadding2D + a "valid" conv is a padded stem (CC302).
    resnet18 = by_code("resnet18")
    assert set(resnet18) == {"CC208", "CC201", "CC205"}
    assert resnet18["CC208"][:2] == [0, 3] and resnet18["CC201"] == [0]
    resnet50 = by_code("resnet50")
    assert set(resnet50) == {"CC208", "CC201", "CC205"}
    assert resnet50["CC201"] == [1]


def test_mobilenet_inception_unet_and_the_two_towers() -> None:
    assert by_code("mobilenet_v1") == {}  # zero-padded stride-2 convs, depthwise 3×3, relu6 activations
    assert by_code("inception_block") == {"CC201": [8], "CC402": [13]}  # no CC305 in the branches, no CC203
    assert by_code("unet_small") == {"CC402": [26]}  # 44×44 of 64×64: true; the 2·2 strides divide 64
    assert set(by_code("alexnet_two_tower")) == {"CC201", "CC302", "CC401", "CC402"}


# --- (3) messages with the numbers -------------------------------------------------------------------


def only(spec: dict[str, Any], code: str) -> list[Finding]:
    return all_findings(spec, [REGISTRY[code]])


def test_cc201_prices_the_stack_honestly_when_it_is_not_cheaper() -> None:
    (conv2,) = [f for f in only(example_spec("mnist_cnn"), "CC201") if f.layer == 3]
    assert "a stack of 2 3×3 convs sees the same field" in conv2.message
    assert "9·32·64 + 9·64·64 = 18,432 + 36,864 = 55,296 weights vs 5·5·32·64 = 51,200" in conv2.message
    assert "4,096 more (+8 %); the stack is not cheaper here" in conv2.message
    assert [fix.title for fix in conv2.fixes] == ['F=3, padding "same" → 14×14×64 (stack 2 of them)']


def test_cc201_prices_a_grouped_conv_by_a_grouped_stack() -> None:
    # AlexNet's conv2 in two towers: 5×5 over 48 of the 96 channels per group. A stack of grouped 3×3s reads
    # 48 channels per filter, then 128 (the formula once wrote 5·5·96·256 = 307,200, which is half that).
    spec = {"input": [27, 27, 96], "layers": [{"type": "conv", "filters": 256, "kernel": 5, "padding": 2, "groups": 2}]}
    (finding,) = only(spec, "CC201")
    assert "(96 → 256 channels in 2 groups)" in finding.message
    expected = "9·48·256 + 9·128·256 = 110,592 + 294,912 = 405,504 weights vs 5·5·48·256 = 307,200"
    assert expected in finding.message


@given(
    st.integers(4, 9),
    st.sampled_from([1, 2, 4]),
    st.integers(1, 6),
    st.integers(1, 6),
)
def test_cc201_prices_the_stack_that_convcalc_itself_counts(kernel: int, groups: int, d: int, k: int) -> None:
    assume(groups == 1 or d > 1)  # one channel per group is a depthwise conv, exempt (below)
    depth, filters = d * groups, k * groups
    conv = {"type": "conv", "filters": filters, "kernel": kernel, "groups": groups}
    spec = {"input": [24, 24, depth], "layers": [conv]}
    (finding,) = only(spec, "CC201")
    count = (kernel - 1 + 1) // 2
    stack = [{"type": "conv", "filters": filters, "kernel": 3, "padding": 1, "groups": groups}] * count
    stack_weights = sum(layer.weights for layer in analyze_spec({"input": [24, 24, depth], "layers": stack}).layers)
    assert f"= {stack_weights:,} weights vs" in finding.message
    assert f"= {analyze_spec(spec).layers[0].weights:,}" in finding.message.split(" weights vs ")[1]


def test_cc201_a_conv_with_one_group_per_channel_is_a_depthwise_conv() -> None:
    # Keras writes ConvNeXt's depthwise 7×7 as Conv2D(groups=D): as cheap as the depthwise kind, and as exempt.
    def spec(kind: str, **grouping: int) -> dict[str, Any]:
        return {"input": [56, 56, 96], "layers": [{"type": kind, "kernel": 7, "padding": 3, **grouping}]}

    assert only(spec("conv", filters=96, groups=96), "CC201") == []
    assert only(spec("conv", filters=192, groups=96), "CC201") == []  # depth multiplier 2
    assert only(spec("depthwise"), "CC201") == []
    assert len(only(spec("conv", filters=96, groups=48), "CC201")) == 1  # two channels per group


def test_cc201_leaves_a_conv_whose_groups_do_not_divide_its_channels_to_cc104() -> None:
    # Its weights are 0 (nothing to compare), and the percentage once divided by them: a traceback.
    spec = {"input": [20, 20, 1], "layers": [{"type": "conv", "filters": 6, "kernel": 5, "groups": 2}]}
    assert only(spec, "CC201") == []
    checked = check_loaded(LoadedSpec("<test>", validate("<test>", spec), SourceMap()))
    assert "CC104" in {finding.code for finding in checked.findings}


def test_cc201_reports_the_saving_and_keeps_the_size() -> None:
    spec = {"input": [28, 28, 64], "layers": [{"type": "conv", "filters": 32, "kernel": 7, "padding": 3}]}
    (finding,) = only(spec, "CC201")
    # n = 3: 9·64·32 + 2·9·32·32 = 18,432 + 18,432 = 36,864 vs 7·7·64·32 = 100,352.
    assert "9·64·32 + 2·9·32·32 = 18,432 + 18,432 = 36,864 weights vs 7·7·64·32 = 100,352" in finding.message
    assert "saving 63,488 (63 %)" in finding.message
    assert [(f.title, f.set) for f in finding.fixes] == [
        ("F=3, P=1 → 28×28×32 (stack 3 of them)", {"kernel": 3, "padding": 1})
    ]


def test_cc301_factorises_and_offers_the_nearest_inputs() -> None:
    # Two "same" stride-2 convs on 226: the second meets 113 and gives 57, not 56.5; 224 and 228 halve twice.
    (finding,) = only(REGISTRY["CC301"].bad, "CC301")
    assert finding.layer is None
    assert "226 = 2·113 is not divisible by 4 = 2^2 (strides 2·2)" in finding.message
    assert "224 and 228" in finding.message
    assert finding.message.endswith("not exact: a strided window does not divide its input by its stride")
    assert [(f.title, f.path, f.set) for f in finding.fixes] == [
        ("input 224×224×3", "input", {"height": 224, "width": 224}),
        ("input 228×228×3", "input", {"height": 228, "width": 228}),
    ]


def test_cc301_counts_the_input_rows_left_unread() -> None:
    # Valid 2×2 pools: the second floors 15 to 7 and never reads the last row and column (CC101's error too).
    spec = {
        "input": [30, 30, 3],
        "layers": [{"type": "pool", "kernel": 2}, {"type": "pool", "kernel": 2}],
    }
    (finding,) = only(spec, "CC301")
    assert finding.message.endswith("The downsampling is not exact: a strided window leaves input unread")


def test_cc301_counts_a_space_to_depth_whose_blocks_do_not_divide_as_a_stride() -> None:
    # A 4×4 space-to-depth stem (TResNet's) on 226 leaves 2 rows and columns in no block (CC114's error, whose
    # fixes change the block); CC301 offers the inputs that the blocks and the later stride divide.
    spec = {
        "input": [226, 226, 3],
        "layers": [
            {"type": "space_to_depth", "block": 4},
            {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "relu"},
        ],
    }
    (finding,) = only(spec, "CC301")
    assert "226 = 2·113 is not divisible by 8 = 2^3 (strides 4·2)" in finding.message
    assert finding.message.endswith(
        "a strided layer leaves input unread (a space_to_depth's blocks do not divide its input)"
    )
    assert [fix.set for fix in finding.fixes] == [{"height": 224, "width": 224}, {"height": 232, "width": 232}]
    assert assert_fixes_clear(spec, [REGISTRY["CC301"], REGISTRY["CC114"]]) == 4  # two inputs, two blocks
    for size in (224, 232):  # either input clears CC114 too
        assert only({**spec, "input": [size, size, 3]}, "CC301") == only({**spec, "input": [size, size, 3]}, "CC114")
        assert only({**spec, "input": [size, size, 3]}, "CC301") == []


def test_cc301_on_resnet50_at_230_offers_the_multiples_that_fit() -> None:
    # 230 → 115 → 58 (not 57.5) after the stem's pool; at 224 and 256 every stride halves exactly. There the
    # Keras stem pool drops a row of its zero padding (CC208's info), which is no misfit to name in the fix.
    spec = {**example_spec("resnet50"), "input": [230, 230, 3]}
    (finding,) = only(spec, "CC301")
    assert "230 = 2·5·23 is not divisible by 32 = 2^5 (strides 2·2·2·2·2)" in finding.message
    assert [fix.title for fix in finding.fixes] == ["input 224×224×3", "input 256×256×3"]
    assert assert_fixes_clear(spec, [REGISTRY["CC301"]]) == 2


def test_cc301_is_quiet_where_no_multiple_divides_better() -> None:
    # A valid 3×3, S=2 stem fits an odd size exactly (Xception's 299 → 149), and 288 or 320 would leave its
    # last row unread. With a "same" stem every stride divides 240 but the last, which meets 15: 224 and 256
    # divide exactly.
    def net(size: int, stem: dict[str, Any]) -> dict[str, Any]:
        pool = {"type": "pool", "kernel": 3, "stride": 2, "padding": "same"}
        return {"input": [size, size, 3], "layers": [stem, {"type": "relu"}, *[pool] * 4]}

    assert only(net(299, {"type": "conv", "filters": 8, "kernel": 3, "stride": 2}), "CC301") == []
    same = net(240, {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "padding": "same"})
    (finding,) = only(same, "CC301")
    assert [fix.set for fix in finding.fixes] == [{"height": 224, "width": 224}, {"height": 256, "width": 256}]


def test_cc302_lenet5_first_conv() -> None:
    (finding,) = only(example_spec("lenet5"), "CC302")
    assert "its 32×32 input shrinks to 28×28" in finding.message
    assert [(f.title, f.set) for f in finding.fixes] == [("P=2 → 32×32×6", {"padding": 2})]


def test_cc401_vgg16_share_conversion_and_global_average_pooling() -> None:
    (finding,) = only(example_spec("vgg16"), "CC401")
    assert finding.layer == 31  # fc6
    assert "123,642,856 of 138,357,544 parameters (89.4 %)" in finding.message
    assert "a conv with F = 7, K = 4096 giving 1×1×4096 (the same 102,764,544 params)" in finding.message
    assert "(7·7 − 1)·512·4096 = 100,663,296 params (37,694,248 in total)" in finding.message


def test_cc205_counts_the_skipped_pixels() -> None:
    (finding,) = only(REGISTRY["CC205"].bad, "CC205")
    # (32 − 2)/3 + 1 = 11 windows of 2 read 22 of the 32 rows; 10 are never read.
    assert "S = 3 > F = 2: only 11·2 = 22 of the 32 input rows are read, 10 never reach the output" in finding.message
    # F=3 and F=4 with S=3 would not fit 32 (CC101); F=5 is the first kernel ≥ S that does.
    assert [f.title for f in finding.fixes] == ["S=2 → 16×16×8", "F=5 → 10×10×8"]


def test_cc206_counts_the_outputs_that_see_only_padding() -> None:
    (finding,) = only(REGISTRY["CC206"].bad, "CC206")
    # 8 + 2·3 − 3 + 1 = 12 outputs; the window at 0 and the one at 9 lie wholly in the padding.
    assert "P = 3 ≥ F = 3: 2 of the 12 output rows (1 at each border) see only zero padding" in finding.message
    assert [f.title for f in finding.fixes] == ["P=1 → 8×8×4"]


def test_cc404_prices_the_all_convolutional_replacement() -> None:
    (finding,) = only(REGISTRY["CC404"].bad, "CC404")
    assert "a conv with F = 2, S = 2, K = 8 on the same 28×28×8" in finding.message
    assert "2·2·8·8 + 8 = 264 more params" in finding.message
    assert not REGISTRY["CC404"].default_enabled


# --- (4) no fix breaks the network -----------------------------------------------------------------------


def error_sites(spec: dict[str, Any]) -> set[tuple[str, int | None]]:
    """Where the error rules fire on a spec (every error rule, whatever the config)."""
    net = analyze_spec(spec)
    errors = [r for r in REGISTRY.values() if r.severity is Severity.ERROR]
    return {(f.code, f.layer) for f in run_rules(net, errors, Settings(fixes=False))}


def assert_no_fix_breaks(spec: dict[str, Any]) -> int:
    """Every fix ``convcalc check`` offers (pairs included), applied to the whole spec: no error appears that was
    not there, and the fix's own finding is gone."""
    checked = check_loaded(LoadedSpec("<test>", validate("<test>", spec), SourceMap()))
    before = error_sites(spec)
    original = copy.deepcopy(spec)
    applied = 0
    for finding in checked.findings:
        for fix in finding.fixes:
            fixed = apply_fix(spec, fix)
            assert spec == original, f"{fix.title!r} changed the spec it was applied to"
            after = error_sites(fixed)
            # The errors that were there, where they are now (an error on a removed layer moves to the one before).
            moved = {(code, moved_index(layer, fix)) for code, layer in before}
            assert after <= moved, f"{fix.title!r} ({fix.record()}) brings {after - moved}: {json.dumps(fixed)}"
            rule = [REGISTRY[finding.code]]
            left = {original_index(f.layer, fix) for f in run_rules(analyze_spec(fixed), rule, Settings(fixes=False))}
            assert finding.layer not in left, f"{finding.code} survives {fix.title!r}: {json.dumps(fixed)}"
            applied += 1
    return applied


@given(small_specs())
def test_no_offered_fix_brings_a_new_error_on_random_specs(spec: dict[str, Any]) -> None:
    assert_no_fix_breaks(spec)


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.json")))
def test_no_offered_fix_brings_a_new_error_on_the_examples(name: str) -> None:
    assert_no_fix_breaks(example_spec(name))


def test_a_fix_that_needs_a_second_change_is_offered_as_a_pair() -> None:
    # 28×28, F=3, S=2 does not fit. S=1 gives 26×26 → pool 13×13, where the second 2×2 pool misfits; the fix
    # names the second change it needs (that pool as F=3, S=2).
    spec = {
        "input": [28, 28, 1],
        "layers": [
            {"type": "conv", "filters": 8, "kernel": 3, "stride": 2},
            {"type": "relu"},
            {"type": "pool", "kernel": 2, "stride": 2},
            {"type": "conv", "filters": 16, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "pool", "kernel": 2, "stride": 2},
            {"type": "fc", "units": 10},
        ],
    }
    checked = check_loaded(LoadedSpec("<test>", validate("<test>", spec), SourceMap()))
    (misfit,) = [f for f in checked.findings if f.code == "CC101" and f.layer == 0]
    pairs = [fix for fix in misfit.fixes if fix.also]
    assert pairs, "the stride fix comes with the pool change it needs"
    stride_one = next(fix for fix in pairs if fix.set == {"stride": 1})
    assert stride_one.title == "S=1 → 26×26×8, and pool2: F=3, S=2, P=0 → 6×6×16"
    assert [edit.path for edit in stride_one.also] == ["layers[5]"]
    assert_no_fix_breaks(spec)


@pytest.mark.parametrize(
    "spec",
    [
        # Depthwise S=1×2 brings CC108 (TensorFlow's depthwise conv takes one stride), whose fix sets it back to 2.
        {"input": [7, 12, 1], "layers": [{"type": "depthwise", "kernel": 4, "stride": 2}]},
        # Input 30×18 brings a misfit at depthwise1, whose fix "F=3, S=1, P=1" makes conv1's input 30×18: its own
        # stride (30 − 5)/2 no longer fits.
        {
            "input": [31, 19, 2],
            "layers": [
                {"type": "depthwise", "kernel": 4, "stride": 3},
                {"type": "conv", "filters": 6, "kernel": 5, "stride": 2},
            ],
            "classes": 10,
        },
    ],
    ids=["partner-undoes-the-fix", "partner-brings-the-finding-back"],
)
def test_a_pair_is_offered_only_when_it_clears_its_finding(spec: dict[str, Any]) -> None:
    checked = check_loaded(LoadedSpec("<test>", validate("<test>", spec), SourceMap()))
    pairs = [fix for finding in checked.findings for fix in finding.fixes if fix.also]
    assert all(fix.also[-1].path != fix.path or not fix.also[-1].set.keys() & fix.set.keys() for fix in pairs)
    assert assert_no_fix_breaks(spec) > 0


@given(buildable_specs(fit_exactly=False, max_steps=8))
def test_no_offered_fix_brings_a_new_error_on_random_graphs(spec: dict[str, Any]) -> None:
    assert_no_fix_breaks(spec)


def test_fixes_past_the_check_budget_are_withheld_not_offered_unchecked() -> None:
    # Ten linear conv pairs (CC303, warnings) after a misfit (CC101, an error): with a budget for the error's
    # checks and a few more, the error keeps its checked fixes, and the last warnings are shown without any.
    layers: list[dict[str, Any]] = [{"type": "conv", "filters": 4, "kernel": 3, "stride": 2}, {"type": "relu"}]
    layers += [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1} for _ in range(10)]
    spec = {"input": [10, 10, 1], "layers": layers}
    network = validate("<test>", spec)
    facts = analyze_spec(spec)
    findings = sorted(run_rules(facts, list(REGISTRY.values()), Settings()), key=lambda f: -f.severity.rank)
    assert findings[0].code == "CC101" and findings[0].fixes
    budget = (2 * len(findings[0].fixes) + 2) * len(facts.layers)  # its fixes, their pairs, two more
    checked = safe_fixes(network, facts, findings, Settings(), budget=budget)
    with_fixes = [f for f in checked.findings if f.fixes]
    assert checked.unchecked > 0
    assert all(not f.fixes for f in checked.findings[-checked.unchecked :]), "the last ones in order lose theirs"
    assert with_fixes[0].code == "CC101", "the error is checked first"
    unlimited = safe_fixes(network, facts, findings, Settings())
    assert unlimited.unchecked == 0
    assert all(f.fixes for f in unlimited.findings if f.code == "CC303")


def test_check_names_the_findings_whose_fixes_were_withheld(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from convcalc.cli import app
    from convcalc.rules import safety

    layers = [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1} for _ in range(400)]
    path = tmp_path / "linear.json"
    path.write_text(json.dumps({"input": [8, 8, 1], "layers": layers}))
    assert safety.CHECK_BUDGET < 399 * 400, "the spec needs more checks than the budget admits"
    result = CliRunner().invoke(app, ["check", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "findings shown without fixes" in result.stderr and "400 layers" in result.stderr
