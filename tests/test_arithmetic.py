"""convcalc.arithmetic: every formula checked against a brute-force count, plus the literature's figures."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc import arithmetic as ar
from tests.helpers import examples
from tests.strategies import counts, kernels, pads, sizes, strides, window_stacks, windows

# --- brute-force oracles: walk the windows instead of using a formula ---------------------------------


def window_starts(size: int, kernel: int, stride: int, pad_before: int, pad_after: int) -> list[int]:
    """Start offsets (in the padded input) of every window that lies wholly inside the padded input."""
    padded = pad_before + size + pad_after
    starts = []
    start = 0
    while start + kernel <= padded:
        starts.append(start)
        start += stride
    return starts


def influencing_pixels(stack: list[tuple[int, int, int]], output_index: int) -> set[int]:
    """Input pixels (negative or ≥ W inside the padding) that output ``output_index`` of the stack reads."""
    pixels = {output_index}
    for kernel, stride, pad_before in reversed(stack):
        pixels = {i * stride - pad_before + k for i in pixels for k in range(kernel)}
    return pixels


# --- conv_output_size -------------------------------------------------------------------------------


@given(windows())
def test_output_size_counts_the_window_positions(window: tuple[int, int, int, int, int]) -> None:
    size, kernel, stride, before, after = window
    result = ar.conv_output_size(size, kernel, stride, before, after)
    assert result.size == len(window_starts(*window))
    assert result.numerator == size - kernel + before + after


@given(windows())
def test_fits_exactly_when_the_stride_divides_the_numerator(window: tuple[int, int, int, int, int]) -> None:
    size, kernel, stride, before, after = window
    result = ar.conv_output_size(size, kernel, stride, before, after)
    exact = Fraction(size - kernel + before + after, stride) + 1
    # The course formula (W − F + 2P)/S + 1 gives a whole, positive number of outputs.
    assert result.fits == (exact.denominator == 1 and exact >= 1)
    assert result.has_output == (kernel <= size + before + after)
    if result.fits:
        assert result.size == exact


@given(windows())
def test_remainder_is_what_no_window_reaches(window: tuple[int, int, int, int, int]) -> None:
    size, kernel, stride, before, after = window
    result = ar.conv_output_size(size, kernel, stride, before, after)
    starts = window_starts(*window)
    if starts:
        padded = before + size + after
        assert result.remainder == padded - (starts[-1] + kernel)
        assert 0 <= result.remainder < stride


@given(windows())
def test_a_valid_layer_stays_inside_the_padded_input(window: tuple[int, int, int, int, int]) -> None:
    size, kernel, stride, before, after = window
    result = ar.conv_output_size(size, kernel, stride, before, after)
    if result.has_output:
        # The last window ends inside the input; one more step would leave it.
        assert (result.size - 1) * stride + kernel <= size + before + after
        assert result.size * stride + kernel > size + before + after
    else:
        assert result.size == 0


# --- "same" padding -----------------------------------------------------------------------------------


@given(sizes, strides)
def test_same_output_size_is_the_number_of_strided_positions(size: int, stride: int) -> None:
    assert ar.same_output_size(size, stride) == len(range(0, size, stride))


@given(sizes, kernels, strides)
def test_same_padding_reproduces_the_same_size_through_the_general_formula(size: int, kernel: int, stride: int) -> None:
    before, after = ar.same_padding(size, kernel, stride)
    assert ar.conv_output_size(size, kernel, stride, before, after).size == ar.same_output_size(size, stride)
    # The odd pixel goes after (bottom/right), as in TensorFlow.
    assert after - before in (0, 1)


@given(sizes, kernels, strides)
def test_same_padding_matches_tensorflows_own_formula(size: int, kernel: int, stride: int) -> None:
    # tf.nn.convolution's documented rule, written the other way round from convcalc's.
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    assert sum(ar.same_padding(size, kernel, stride)) == total


@given(sizes, kernels, strides, pads)
def test_transposed_conv_inverts_the_conv(size: int, kernel: int, stride: int, pad: int) -> None:
    pad = min(pad, (kernel - 1) // 2)
    out = ar.transpose_output_size(size, kernel, stride, pad, 0)
    back = ar.conv_output_size(out, kernel, stride, pad, pad)
    assert back.fits
    assert back.size == size


# --- parameter counts ---------------------------------------------------------------------------------


@given(kernels, kernels, counts, counts, counts, st.booleans())
def test_conv_params_are_linear_in_the_filter_count(kh: int, kw: int, depth: int, k1: int, k2: int, bias: bool) -> None:
    assert ar.conv_params(kh, kw, depth, k1 + k2, bias) == ar.conv_params(kh, kw, depth, k1, bias) + ar.conv_params(
        kh, kw, depth, k2, bias
    )


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 8), st.integers(1, 8), st.booleans())
def test_conv_params_count_every_weight_and_bias(kh: int, kw: int, depth: int, filters: int, bias: bool) -> None:
    # One weight per (filter, channel, row, column) of the kernel, one bias per filter.
    weights = sum(1 for _k in range(filters) for _d in range(depth) for _i in range(kh) for _j in range(kw))
    assert ar.conv_params(kh, kw, depth, filters, bias) == weights + (filters if bias else 0)


@given(counts, counts, counts, st.booleans())
def test_fc_params_are_linear_in_the_unit_count(values: int, u1: int, u2: int, bias: bool) -> None:
    assert ar.fc_params(values, u1 + u2, bias) == ar.fc_params(values, u1, bias) + ar.fc_params(values, u2, bias)


@given(st.integers(1, 60), st.integers(1, 60), kernels, kernels, counts, counts, st.booleans())
def test_unshared_params_are_one_conv_per_output_position(
    h: int, w: int, kh: int, kw: int, depth: int, filters: int, bias: bool
) -> None:
    assert ar.unshared_conv_params(h, w, kh, kw, depth, filters, bias) == h * w * ar.conv_params(
        kh, kw, depth, filters, bias
    )


@given(sizes, strides, st.integers(1, 7))
def test_fc_is_a_conv_whose_kernel_is_the_whole_input(size: int, depth: int, units: int) -> None:
    # The FC ⇔ CONV equivalence: same parameters, and a 1×1 output.
    assert ar.fc_params(size * size * depth, units) == ar.conv_params(size, size, depth, units)
    assert ar.conv_output_size(size, size, 1, 0, 0).size == 1


# --- receptive field ----------------------------------------------------------------------------------


@given(window_stacks)
@examples(200)
def test_receptive_field_matches_the_pixels_that_influence_output_zero(stack: list[tuple[int, int, int]]) -> None:
    rf = ar.INPUT_RECEPTIVE_FIELD
    for kernel, stride, pad_before in stack:
        rf = ar.receptive_field(rf, kernel, stride, pad_before)
    first = influencing_pixels(stack, 0)
    second = influencing_pixels(stack, 1)
    assert rf.size == max(first) - min(first) + 1
    assert rf.jump == min(second) - min(first)
    # Pixel k covers [k, k + 1]; the field's centre is the middle of [min, max + 1].
    assert rf.start == Fraction(min(first) + max(first) + 1, 2)


fractions = st.one_of(st.integers(-64, 64).map(Fraction), st.fractions(max_denominator=4))


@given(
    st.builds(ar.ReceptiveField, size=fractions, jump=fractions.filter(lambda j: j > 0), start=fractions),
    kernels,
    strides,
    pads,
)
def test_receptive_field_is_the_fraction_formula_for_any_previous_field(
    previous: ar.ReceptiveField, kernel: int, stride: int, pad_before: int
) -> None:
    # Whole-pixel fields take an int path, fractional ones (after a transposed conv) Fraction's: the same values.
    expected = ar.ReceptiveField(
        size=previous.size + (kernel - 1) * previous.jump,
        jump=previous.jump * stride,
        start=previous.start + (Fraction(kernel - 1, 2) - pad_before) * previous.jump,
    )
    field = ar.receptive_field(previous, kernel, stride, pad_before)
    assert field == expected
    assert all(type(part) is Fraction for part in field)


# --- the literature -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad", "expected", "fits"),
    [
        pytest.param(227, 11, 4, 0, 55, True, id="AlexNet conv1: 227, F=11, S=4, P=0 -> 55"),
        pytest.param(10, 3, 2, 0, 4, False, id="CS231n: W=10, F=3, S=2, P=0 does not fit (4.5)"),
        pytest.param(7, 3, 1, 0, 5, True, id="CS231n: 7x7 input, 3x3 filter, stride 1 -> 5x5"),
        pytest.param(7, 3, 2, 0, 3, True, id="CS231n: 7x7 input, 3x3 filter, stride 2 -> 3x3"),
        pytest.param(7, 3, 3, 0, 2, False, id="CS231n: 7x7 input, 3x3 filter, stride 3 does not fit"),
        pytest.param(224, 3, 1, 1, 224, True, id="VGG conv: F=3, S=1, P=1 preserves 224"),
        pytest.param(224, 2, 2, 0, 112, True, id="VGG pool: F=2, S=2 halves 224"),
        pytest.param(32, 5, 1, 0, 28, True, id="LeNet-5 C1: 32 -> 28"),
    ],
)
def test_output_sizes_from_the_literature(
    size: int, kernel: int, stride: int, pad: int, expected: int, fits: bool
) -> None:
    result = ar.conv_output_size(size, kernel, stride, pad, pad)
    assert result.size == expected
    assert result.fits is fits


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(ar.conv_params(11, 11, 3, 96), 34_944, id="AlexNet conv1: 11*11*3*96 + 96"),
        pytest.param(ar.conv_weights(11, 11, 3, 96), 34_848, id="AlexNet conv1 weights"),
        pytest.param(ar.fc_params(7 * 7 * 512, 4096), 102_764_544, id="VGG16 fc6: 7*7*512*4096 + 4096"),
        pytest.param(ar.conv_params(3, 3, 3, 64), 1_792, id="VGG16 conv1_1"),
        pytest.param(ar.fc_params(784, 10), 7_850, id="softmax regression on MNIST"),
        pytest.param(ar.unshared_conv_params(55, 55, 11, 11, 3, 96), 105_705_600, id="AlexNet conv1 unshared"),
        pytest.param(ar.neurons(55, 55, 96), 290_400, id="AlexNet conv1 neurons"),
    ],
)
def test_parameter_counts_from_the_literature(params: int, expected: int) -> None:
    assert params == expected


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        pytest.param(28, 5, 1, (2, 2), id="MNIST conv, F=5: 2 each side"),
        pytest.param(28, 4, 1, (1, 2), id="even kernel: the extra pixel goes bottom/right"),
        pytest.param(10, 3, 2, (0, 1), id="W=10, F=3, S=2: total F - S = 1, after"),
        pytest.param(10, 4, 2, (1, 1), id="W=10, F=4, S=2: total F - S = 2, split evenly"),
        pytest.param(10, 1, 3, (0, 0), id="1x1 kernel needs no padding"),
        pytest.param(227, 11, 4, (4, 4), id="AlexNet conv1 as same: 227 % 4 = 3, total F - 3 = 8"),
    ],
)
def test_same_padding_worked_examples(size: int, kernel: int, stride: int, expected: tuple[int, int]) -> None:
    assert ar.same_padding(size, kernel, stride) == expected
