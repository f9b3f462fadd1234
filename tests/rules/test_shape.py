"""The shape rules (CC101–CC103): messages with the arithmetic worked out, the axis, padding and dilation."""

from __future__ import annotations

from convcalc.findings import Severity
from convcalc.rules import REGISTRY
from tests.helpers import analyze_spec


def test_the_shape_rules_are_registered() -> None:
    assert {"CC101", "CC102", "CC103"} <= set(REGISTRY)
    assert REGISTRY["CC101"].name == "stride-does-not-fit"
    assert REGISTRY["CC102"].name == "window-larger-than-input"
    assert REGISTRY["CC103"].name == "output-not-classes"
    for code in ("CC101", "CC102", "CC103"):
        assert REGISTRY[code].severity is Severity.ERROR
        assert REGISTRY[code].default_enabled


# --- CC101 ----------------------------------------------------------------------------------------------


def test_cc101_message_spells_out_the_arithmetic() -> None:
    [finding] = REGISTRY["CC101"].run(analyze_spec(REGISTRY["CC101"].bad))
    assert "(10 − 3 + 0)/2 + 1 = 4.5 is not an integer" in finding.message
    assert "TensorFlow would silently floor it to 4 and never read the last 1 row/column" in finding.message
    assert finding.layer == 0


def test_cc101_names_the_axis_that_misfits() -> None:
    spec = {"input": [11, 10, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 3, "stride": 2}]}
    [finding] = REGISTRY["CC101"].run(analyze_spec(spec))
    assert "width" in finding.message and "height" not in finding.message
    assert "(10 − 3 + 0)/2 + 1 = 4.5" in finding.message


def test_cc101_counts_both_padding_sides() -> None:
    layer = {"type": "conv", "filters": 1, "kernel": 3, "stride": 3, "padding": 1}
    spec = {"input": [10, 10, 1], "layers": [layer]}
    assert list(REGISTRY["CC101"].run(analyze_spec(spec))) == []  # (10 − 3 + 2)/3 + 1 = 4
    # (10 − 3 + 2)/2 + 1 = 5.5: the row the floor drops is the bottom padding row, no input (CC208's info).
    layer["stride"] = 2
    assert list(REGISTRY["CC101"].run(analyze_spec(spec))) == []
    [info] = REGISTRY["CC208"].run(analyze_spec(spec))
    assert "(10 − 3 + 2)/2 + 1 = 5.5: the floor (5) drops the last 1 of the 1 padding rows and columns" in info.message
    assert "effectively 1 before and 0 after" in info.message
    # (12 − 3 + 2)/4 + 1 = 3.75: 3 padded rows unread, the padding row and 2 rows of input.
    spec["input"], layer["stride"] = [12, 12, 1], 4
    [finding] = REGISTRY["CC101"].run(analyze_spec(spec))
    assert "(12 − 3 + 2)/4 + 1 = 3.75" in finding.message
    assert "never read the last 3 rows/columns of the padded input, 2 of them input" in finding.message


def test_cc101_leaves_a_strides_own_gap_to_cc205() -> None:
    # A 1×1, S=2 conv on 56 (ResNet's projection shortcut): (56 − 1)/2 + 1 = 28.5 leaves the last row unread,
    # but every other row is skipped anyway (S − F = 1): that is CC205's warning, not a misfit.
    spec = {"input": [56, 56, 8], "layers": [{"type": "conv", "filters": 8, "kernel": 1, "stride": 2}]}
    assert list(REGISTRY["CC101"].run(analyze_spec(spec))) == []
    assert [f.code for f in REGISTRY["CC205"].run(analyze_spec(spec))] == ["CC205"]


def test_cc101_and_cc208_count_a_padding_layer_before_the_window() -> None:
    # Keras's ResNet stem: ZeroPadding2D(3) then a "valid" 7×7, S=2 conv is PyTorch's padded stem: no input lost.
    stem = [{"type": "zero_padding", "padding": 3}, {"type": "conv", "filters": 8, "kernel": 7, "stride": 2}]
    net = analyze_spec({"input": [224, 224, 3], "layers": stem})
    assert list(REGISTRY["CC101"].run(net)) == []
    [info] = REGISTRY["CC208"].run(net)
    assert info.layer == 1 and "(224 − 7 + 6)/2 + 1 = 112.5" in info.message


def test_cc101_on_a_pool_whose_stride_defaults_to_its_kernel() -> None:
    spec = {"input": [10, 10, 1], "layers": [{"type": "pool", "kernel": 3}]}
    [finding] = REGISTRY["CC101"].run(analyze_spec(spec))
    assert "(10 − 3 + 0)/3 + 1 ≈ 3.33" in finding.message


def test_cc101_exempts_same_padding() -> None:
    # TensorFlow defines "same" as ceil(W/S), even where its implied padding leaves a remainder.
    # W=10, F=3, S=4: (10 − 3)/4 + 1 = 2.75 leaves 3 input rows unread; with "same" the output is ceil(10/4) = 3.
    layer = {"type": "conv", "filters": 1, "kernel": 3, "stride": 4}
    assert [f.code for f in REGISTRY["CC101"].run(analyze_spec({"input": [10, 10, 1], "layers": [layer]}))] == ["CC101"]
    net = analyze_spec({"input": [10, 10, 1], "layers": [{**layer, "padding": "same"}]})
    assert net.layers[0].output_shape == (3, 3, 1)
    assert list(REGISTRY["CC101"].run(net)) == []


# --- CC102 and CC103 --------------------------------------------------------------------------------


def test_cc102_message_has_the_numbers() -> None:
    [finding] = REGISTRY["CC102"].run(analyze_spec(REGISTRY["CC102"].bad))
    assert "F = 3 > W + 2P = 2 + 0 = 2" in finding.message
    assert finding.layer == 0


def test_cc103_names_the_shape_it_got() -> None:
    [finding] = REGISTRY["CC103"].run(analyze_spec(REGISTRY["CC103"].bad))
    assert "2×2×10" in finding.message
    assert "1×1×10" in finding.message
    assert finding.layer == 0


def test_cc103_is_silent_without_classes() -> None:
    bad = dict(REGISTRY["CC103"].bad)
    del bad["classes"]
    assert list(REGISTRY["CC103"].run(analyze_spec(bad))) == []


def test_dilated_windows_quote_the_dilated_extent() -> None:
    spec = {"input": [10, 10, 1], "layers": [{"type": "conv", "filters": 2, "kernel": 3, "stride": 2, "dilation": 2}]}
    [finding] = REGISTRY["CC101"].run(analyze_spec(spec))
    assert "(10 − 5 + 0)/2 + 1 = 3.5" in finding.message and "dilated extent" in finding.message
    spec = {"input": [3, 3, 1], "layers": [{"type": "conv", "filters": 2, "kernel": 3, "dilation": 3}]}
    [finding] = REGISTRY["CC102"].run(analyze_spec(spec))
    assert "F = 7 > W + 2P = 3 + 0 = 3" in finding.message


def test_depthwise_misfits_are_offered_conv_magic_numbers() -> None:
    spec = {"input": [10, 10, 4], "layers": [{"type": "depthwise", "kernel": 3, "stride": 2}]}
    [finding] = REGISTRY["CC101"].run(analyze_spec(spec))
    assert finding.fixes[0].set == {"kernel": 3, "stride": 1, "padding": 1}
