"""The fix searches solve a division or a congruence instead of trying every value: each is checked here
against the enumeration it replaced (the brute force), on small values where enumerating is cheap."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from convcalc.arithmetic import conv_output_size, effective_kernel
from convcalc.layers import Shape, WindowAxis, resolve_window
from convcalc.rules import groups, kernels, padding, skips
from convcalc.rules.fixing import _setting_values
from convcalc.solver import Bounds, solve_window, window_sort_key
from tests.helpers import analyze_spec

small = st.integers(1, 40)


@st.composite
def axes(draw: st.DrawFn) -> WindowAxis:
    """One axis of a window that has an output (the fix searches only run on those)."""
    size, kernel, stride = draw(small), draw(st.integers(1, 12)), draw(st.integers(1, 9))
    pad, dilation = draw(st.integers(0, 14)), draw(st.integers(1, 3))
    span = effective_kernel(kernel, dilation)
    result = conv_output_size(size, span, stride, pad, pad)
    if not result.has_output:
        size = span  # an output of at least one
        result = conv_output_size(size, span, stride, pad, pad)
    return WindowAxis("height", "row", size, kernel, stride, pad, pad, result, dilation)


# --- the brute forces: the code the arithmetic replaced ------------------------------------------------


def smaller_pad_by_trying(axis: WindowAxis) -> int:
    if axis.pad < axis.span:
        return axis.pad
    options = range((axis.span - 1) // 2, axis.span)
    results = [(p, conv_output_size(axis.size, axis.span, axis.stride, p, p)) for p in options]
    for p, result in results:
        if result.fits:
            return p
    return next((p for p, result in results if result.has_output), options[0])


def keeping_pad_by_trying(axis: WindowAxis, kernel: int) -> int:
    span = effective_kernel(kernel, axis.dilation)
    for p in range(min(axis.pad, span - 1), -1, -1):
        result = conv_output_size(axis.size, span, axis.stride, p, p)
        if result.size == axis.result.size and (result.fits or not axis.result.fits):
            return p
    return max(0, min(axis.pad - (axis.span - span) // 2, span - 1))


def no_skip_by_trying(axis: WindowAxis, vary_stride: bool) -> int:
    if axis.stride <= axis.kernel:
        return axis.stride if vary_stride else axis.kernel
    values = range(axis.kernel, 0, -1) if vary_stride else range(axis.stride, 2 * axis.stride)
    for value in values:
        kernel, stride = (axis.kernel, value) if vary_stride else (value, axis.stride)
        if conv_output_size(axis.size, kernel, stride, axis.pad, axis.pad_after).fits:
            return value
    return values[0]


@given(axes())
def test_the_smaller_padding_is_the_first_the_enumeration_finds(axis: WindowAxis) -> None:
    assert padding._smaller_pad(axis) == smaller_pad_by_trying(axis)


@given(axes(), small)
def test_the_size_keeping_padding_is_the_one_the_enumeration_finds(axis: WindowAxis, target: int) -> None:
    stride1 = axis._replace(stride=1)
    found = next(
        (p for p in range(stride1.span) if conv_output_size(stride1.size, stride1.span, 1, p, p).size == target), None
    )
    assert padding._size_keeping_pad(stride1, target) == found


@given(axes(), st.integers(1, 12))
def test_the_stack_padding_is_the_one_the_enumeration_finds(axis: WindowAxis, kernel: int) -> None:
    assert kernels._keeping_pad(axis, kernel) == keeping_pad_by_trying(axis, kernel)


@given(axes(), st.booleans())
def test_the_no_skip_values_are_the_ones_the_enumeration_finds(axis: WindowAxis, vary_stride: bool) -> None:
    axis = axis._replace(dilation=1, pad_after=axis.pad)
    assert skips._no_skip(axis, False, vary_stride=vary_stride) == no_skip_by_trying(axis, vary_stride)


@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 40))
def test_group_fixes_are_the_nearest_common_divisors(depth: int, filters: int, groups_: int) -> None:
    spec = {"input": [4, 4, depth], "layers": [{"type": "conv", "filters": filters, "kernel": 1, "groups": groups_}]}
    hits = list(groups.groups_do_not_divide(analyze_spec(spec), None))  # type: ignore[arg-type]
    if depth % groups_ == 0 and filters % groups_ == 0:
        assert hits == []
        return
    both = math.gcd(depth, filters)
    expected = sorted((g for g in range(1, both + 1) if both % g == 0), key=lambda g: (abs(g - groups_), g))[:2]
    assert [fix.set["groups"] for fix in hits[0].fixes] == expected


@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 9), st.integers(1, 9), st.integers(0, 6))
def test_fit_search_values_are_the_ones_the_enumeration_finds(
    height: int, width: int, kernel: int, stride: int, pad: int
) -> None:
    window = resolve_window((kernel, kernel), (stride, stride), (pad, pad), Shape(height, width, 1))
    if not window.has_output:
        return
    spec = {"input": [height, width, 1], "layers": [{"type": "conv", "filters": 1, "kernel": kernel}]}
    spec["layers"][0].update(stride=stride, padding=pad)
    layer = analyze_spec(spec).layers[0]
    sizes, pads = (height, width), (2 * pad, 2 * pad)

    def numerator(axis: int, f: int, pad2: int) -> int:
        return sizes[axis] - f + pad2

    enumerated = {
        "stride": (
            sorted(range(1, stride + 3), key=lambda s: (s != 1, abs(s - stride))),
            lambda a, s: numerator(a, kernel, pads[a]) % s == 0,
        ),
        "kernel": (
            sorted((f for f in range(1, kernel + 4) if f != kernel), key=lambda f: (abs(f - kernel), f % 2 == 0, f)),
            lambda a, f: numerator(a, f, pads[a]) >= 0 and numerator(a, f, pads[a]) % stride == 0,
        ),
        "padding": (
            sorted(range(0, kernel), key=lambda p: abs(p - pad)),
            lambda a, p: numerator(a, kernel, 2 * p) % stride == 0,
        ),
    }
    for field, (values, ok) in enumerated.items():
        found = _setting_values(layer, field)
        assert found.rows == [v for v in values if ok(0, v)][: len(found.rows)]
        assert found.cols == [v for v in values if ok(1, v)][: len(found.cols)]
        assert found.both == [v for v in values if ok(0, v) and ok(1, v)][: len(found.both)]
        # Nothing nearer is missed: the lists are only cut after enough values.
        assert len(found.rows) == min(len([v for v in values if ok(0, v)]), len(found.rows))


@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 15), st.integers(1, 8))
def test_solve_lists_what_trying_every_padding_lists(in_size: int, out_size: int, most_f: int, most_s: int) -> None:
    brute = sorted(
        (
            (f, s, p)
            for f in range(1, most_f + 1)
            for s in range(1, most_s + 1)
            for p in range(0, f)
            if (r := conv_output_size(in_size, f, s, p, p)).fits and r.size == out_size
        ),
        key=lambda w: window_sort_key(*w),
    )
    assert solve_window(in_size, out_size, bounds=Bounds(most_f, most_s)) == brute
