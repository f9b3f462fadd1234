"""Exact CNN arithmetic: plain ints, one spatial axis at a time, no I/O, no framework.

Nothing here raises for a bad architecture. A function reports what happens (a size, a remainder,
whether anything is left) and the rules decide what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import gcd
from typing import NamedTuple


class AxisResult(NamedTuple):
    """What a sliding window (conv or pool) does along one spatial axis.

    ``size`` is the output size: the floor of (W − F + 2P)/S + 1, which TensorFlow and PyTorch compute,
    or with ``ceil`` PyTorch's ``ceil_mode`` rounding up (never below 0); ``numerator`` is
    W − F + P_before + P_after; ``remainder`` is ``numerator mod S`` when the numerator is ≥ 0 — the padded
    rows/columns at the bottom/right that the floor leaves unread (ceil mode reads them with one more window;
    there a window larger than the padded input by less than S still makes one output, and the remainder is
    the Python ``numerator % S``).
    """

    size: int
    numerator: int
    remainder: int
    ceil: bool = False

    @property
    def fits(self) -> bool:
        """True when the size is what the layer means: (W − F + 2P)/S + 1 is a positive integer, or ceil mode
        rounds it up on purpose."""
        return self.size > 0 and (self.remainder == 0 or self.ceil)

    @property
    def rounding(self) -> str:
        """How (W − F + 2P)/S + 1 became an integer: ``floor`` or ``ceil``."""
        return "ceil" if self.ceil else "floor"

    @property
    def has_output(self) -> bool:
        """False when there is no window: F > W + 2P (in ceil mode, F ≥ W + 2P + S)."""
        return self.size > 0


def conv_output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int) -> AxisResult:
    """Output size of a conv or pool window along one axis.

    out = (W − F + P_before + P_after) / S + 1, with symmetric padding P the familiar
    (W − F + 2P)/S + 1. When S does not divide the numerator the layer does not fit; the size
    reported is the floor, which is what TensorFlow silently computes.

    >>> conv_output_size(227, 11, 4, 0, 0)
    AxisResult(size=55, numerator=216, remainder=0, ceil=False)
    >>> conv_output_size(10, 3, 2, 0, 0)  # the CS231n example: 4.5 is not an integer
    AxisResult(size=4, numerator=7, remainder=1, ceil=False)
    >>> conv_output_size(2, 5, 1, 0, 0).has_output
    False
    """
    numerator = size - kernel + pad_before + pad_after
    if numerator < 0:
        return AxisResult(size=0, numerator=numerator, remainder=0)
    quotient, remainder = divmod(numerator, stride)
    return AxisResult(size=quotient + 1, numerator=numerator, remainder=remainder)


def ceil_mode_output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int) -> AxisResult:
    """Output size of a pool window along one axis under PyTorch's ``ceil_mode=True``.

    out = ceil((W − F + P_before + P_after)/S) + 1, less one when that last window would start at or past
    W + P_before (a window must start inside the input or the left padding; PyTorch's rule). A window may
    hang over the padded input's end: the pool reads what is there. So a window larger than the padded input
    by less than S still makes one output, read from what it covers (PyTorch's pools do); F ≥ W + 2P + S
    makes none.

    >>> ceil_mode_output_size(112, 3, 2, 0, 0)  # GoogLeNet's maxpool1: 55.5 rounds up to 56
    AxisResult(size=56, numerator=109, remainder=1, ceil=True)
    >>> ceil_mode_output_size(5, 2, 2, 1, 1).size  # ceil(5/2) + 1 = 4 would start at 6 = W + P: 3
    3
    >>> ceil_mode_output_size(13, 3, 2, 0, 0).size  # exact: the same as the floor
    6
    >>> ceil_mode_output_size(2, 3, 2, 0, 0).size  # ceil(−1/2) + 1 = 1: one window hangs a row past W
    1
    >>> ceil_mode_output_size(2, 3, 1, 0, 0).has_output  # ceil(−1/1) + 1 = 0: none
    False
    """
    numerator = size - kernel + pad_before + pad_after
    out = max(0, ceil_div(numerator, stride) + 1)
    if out and (out - 1) * stride >= size + pad_before:
        out -= 1
    return AxisResult(size=out, numerator=numerator, remainder=numerator % stride, ceil=True)


def adaptive_window(index: int, size: int, out: int) -> tuple[int, int]:
    """The [start, end) input rows of output ``index`` of an adaptive pool of ``size`` rows to ``out`` rows.

    start = floor(i·W/out), end = ceil((i + 1)·W/out) (PyTorch's AdaptiveAvgPool2d/AdaptiveMaxPool2d).

    >>> [adaptive_window(i, 5, 3) for i in range(3)]
    [(0, 2), (1, 4), (3, 5)]
    """
    return index * size // out, ceil_div((index + 1) * size, out)


def adaptive_largest_window(size: int, out: int) -> int:
    """The largest window of an adaptive pool of W rows to ``out`` rows.

    With W = q·out + r (0 ≤ r < out): q when r = 0 (every window is W/out, stride W/out); otherwise the windows
    are q + 1 or q + 2 rows, and q + 2 occurs exactly when r does not divide out (the residues i·r mod out reach
    out − gcd(r, out), which exceeds out − r just when gcd(r, out) < r).

    >>> adaptive_largest_window(14, 7), adaptive_largest_window(5, 3), adaptive_largest_window(14, 4)
    (2, 3, 4)
    """
    quotient, remainder = divmod(size, out)
    if remainder == 0:
        return quotient
    return quotient + (2 if out % remainder else 1)


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for ints, without floats.

    >>> ceil_div(7, 2), ceil_div(8, 2), ceil_div(0, 3)
    (4, 4, 0)
    """
    return -(-a // b)


def same_output_size(size: int, stride: int) -> int:
    """Output size under TensorFlow's ``padding="same"``: ceil(W / S), whatever the kernel.

    >>> same_output_size(224, 1), same_output_size(7, 2), same_output_size(227, 4)
    (224, 4, 57)
    """
    return ceil_div(size, stride)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """The (before, after) padding TensorFlow's ``"same"`` implies along one axis.

    total = max((ceil(W/S) − 1)·S + F − W, 0); before = total // 2; the extra pixel goes after
    (bottom/right).

    >>> same_padding(28, 5, 1)
    (2, 2)
    >>> same_padding(10, 3, 2)  # the odd pixel goes to the bottom/right
    (0, 1)
    >>> same_padding(10, 1, 3)
    (0, 0)
    """
    total = max((same_output_size(size, stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def transpose_output_size(size: int, kernel: int, stride: int, padding: int, output_padding: int) -> int:
    """Output size of a transposed conv along one axis: (W − 1)·S + F − 2P + output_padding.

    F is the effective (dilated) kernel. Never below 0 (a padding that eats the whole output).

    >>> transpose_output_size(4, 3, 2, 1, 1)
    8
    >>> transpose_output_size(4, 2, 2, 0, 0)
    8
    """
    return max((size - 1) * stride + kernel - 2 * padding + output_padding, 0)


def same_transpose_output_size(size: int, kernel: int, stride: int, output_padding: int | None) -> int:
    """Keras' ``padding="same"`` transposed conv: W·S, or (W − 1)·S + F mod 2 + output_padding when given.

    >>> same_transpose_output_size(7, 3, 2, None), same_transpose_output_size(7, 3, 2, 1)
    (14, 14)
    """
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + kernel % 2 + output_padding


def conv_weights(kernel_h: int, kernel_w: int, in_depth: int, filters: int) -> int:
    """Weights of a conv layer with parameter sharing: F_h·F_w·D·K.

    >>> conv_weights(11, 11, 3, 96)
    34848
    """
    return kernel_h * kernel_w * in_depth * filters


def conv_params(kernel_h: int, kernel_w: int, in_depth: int, filters: int, bias: bool = True) -> int:
    """Parameters of a conv layer: (F·F·D)·K weights + K biases.

    >>> conv_params(11, 11, 3, 96)  # AlexNet conv1
    34944
    >>> conv_params(3, 3, 64, 64, bias=False)
    36864
    """
    return conv_weights(kernel_h, kernel_w, in_depth, filters) + (filters if bias else 0)


def depthwise_weights(kernel_h: int, kernel_w: int, in_depth: int, multiplier: int) -> int:
    """Weights of a depthwise conv: one F×F filter per input channel and multiplier, F·F·D·m.

    >>> depthwise_weights(3, 3, 32, 1)  # MobileNet's conv_dw_1
    288
    """
    return kernel_h * kernel_w * in_depth * multiplier


def separable_weights(kernel_h: int, kernel_w: int, in_depth: int, multiplier: int, filters: int) -> int:
    """Weights of a depthwise-separable conv: F·F·D·m (depthwise) + D·m·K (the 1×1 pointwise conv).

    >>> separable_weights(3, 3, 4, 1, 16)
    100
    """
    return depthwise_weights(kernel_h, kernel_w, in_depth, multiplier) + conv_weights(
        1, 1, in_depth * multiplier, filters
    )


def shared_weight_macs(positions: int, weights: int) -> int:
    """Multiply-accumulates of a weight-sharing layer: every weight is used once per position.

    Positions are output positions H_out·W_out for sliding convs (per-channel ones too) and input positions
    H_in·W_in for a transposed conv (each input value is scattered through the whole kernel); 1 for fc.

    >>> shared_weight_macs(224 * 224, conv_weights(3, 3, 3, 64))  # VGG16 conv1_1
    86704128
    """
    return positions * weights


def unshared_conv_params(
    out_h: int, out_w: int, kernel_h: int, kernel_w: int, in_depth: int, filters: int, bias: bool = True
) -> int:
    """What a conv would cost without parameter sharing (a locally connected layer).

    H_out·W_out·K·(F·F·D + 1): every output neuron has its own weights and bias.

    >>> unshared_conv_params(55, 55, 11, 11, 3, 96)  # AlexNet conv1 without sharing
    105705600
    """
    return out_h * out_w * filters * (kernel_h * kernel_w * in_depth + (1 if bias else 0))


def fc_params(in_values: int, units: int, bias: bool = True) -> int:
    """Parameters of a fully connected layer: (H·W·D)·units + units.

    >>> fc_params(7 * 7 * 512, 4096)  # VGG16 fc6
    102764544
    >>> fc_params(784, 10)  # softmax regression on MNIST
    7850
    """
    return in_values * units + (units if bias else 0)


def neurons(height: int, width: int, depth: int) -> int:
    """Number of values in an H×W×D volume.

    >>> neurons(55, 55, 96)
    290400
    """
    return height * width * depth


class ReceptiveField(NamedTuple):
    """Receptive field along one axis, in input pixels.

    ``size`` is r, ``jump`` is j (the distance in input pixels between adjacent outputs),
    ``start`` the centre of the first output's field (may be negative, or a half pixel). All three are
    exact fractions: a transposed conv makes the jump fractional (j/S).
    """

    size: Fraction
    jump: Fraction
    start: Fraction


INPUT_RECEPTIVE_FIELD = ReceptiveField(size=Fraction(1), jump=Fraction(1), start=Fraction(1, 2))
"""The input itself: each pixel sees one pixel, centred at 0.5 (pixel centres at k + 0.5)."""


def effective_kernel(kernel: int, dilation: int) -> int:
    """The extent of a dilated kernel: d·(F − 1) + 1.

    >>> effective_kernel(3, 2), effective_kernel(3, 1)
    (5, 3)
    """
    return dilation * (kernel - 1) + 1


def receptive_field(previous: ReceptiveField, kernel: int, stride: int, pad_before: int) -> ReceptiveField:
    """Receptive field after a window of (effective) size F, stride S, padding P_before.

    r_out = r_in + (F − 1)·j_in; j_out = j_in·S; start_out = start_in + ((F − 1)/2 − P)·j_in.

    >>> rf = receptive_field(INPUT_RECEPTIVE_FIELD, 3, 1, 1)
    >>> int(rf.size), int(rf.jump), rf.start
    (3, 1, Fraction(1, 2))
    >>> rf = receptive_field(rf, 2, 2, 0)
    >>> int(rf.size), int(rf.jump), rf.start
    (4, 2, Fraction(1, 1))
    """
    size, jump, start = previous
    if jump.denominator == 1 and size.denominator == 1 and start.denominator <= 2:
        # Whole-pixel steps (no transposed conv upstream), the common case: the same values from int
        # arithmetic, with the start in half pixels; about 3× faster than Fraction's, most of an analysis.
        # A figure the window leaves as it was (S = 1, a centred F = 2P + 1, F = 1) keeps its Fraction.
        step = jump.numerator
        shift = kernel - 1 - 2 * pad_before
        return ReceptiveField(
            size=size if kernel == 1 else Fraction(size.numerator + (kernel - 1) * step),
            jump=jump if stride == 1 else Fraction(step * stride),
            start=start if shift == 0 else Fraction(start.numerator * (2 // start.denominator) + shift * step, 2),
        )
    return ReceptiveField(
        size=size + (kernel - 1) * jump,
        jump=jump * stride,
        start=start + (Fraction(kernel - 1, 2) - pad_before) * jump,
    )


def transposed_receptive_field(previous: ReceptiveField, kernel: int, stride: int, pad_before: int) -> ReceptiveField:
    """Receptive field after a transposed conv (upsampling by S).

    An output reads at most ceil(F/S) inputs: r_out = r_in + (ceil(F/S) − 1)·j_in; j_out = j_in/S;
    start_out = start_in − ((F − 1)/2 − P)·j_in/S.

    >>> rf = transposed_receptive_field(INPUT_RECEPTIVE_FIELD, 2, 2, 0)
    >>> int(rf.size), rf.jump, rf.start
    (1, Fraction(1, 2), Fraction(1, 4))
    """
    return ReceptiveField(
        size=previous.size + (ceil_div(kernel, stride) - 1) * previous.jump,
        jump=previous.jump / stride,
        start=previous.start - (Fraction(kernel - 1, 2) - pad_before) * previous.jump / stride,
    )


def divisors(number: int) -> list[int]:
    """Every positive divisor of ``number`` ≥ 1, ascending (trial division up to √number).

    >>> divisors(12), divisors(1), divisors(13)
    ([1, 2, 3, 4, 6, 12], [1], [1, 13])
    """
    small, large = [], []
    factor = 1
    while factor * factor <= number:
        if number % factor == 0:
            small.append(factor)
            if factor * factor != number:
                large.append(number // factor)
        factor += 1
    return small + large[::-1]


def congruence_solutions(conditions: Sequence[tuple[int, int, int]]) -> tuple[int, int] | None:
    """The integers x with a·x ≡ c (mod m) for every (a, c, m) of ``conditions``, as (r, M): x ≡ r (mod M).

    None when there is none. Each condition reduces to x ≡ r (mod m/g), g = gcd(a, m), when g divides c;
    the results combine by the Chinese remainder theorem (moduli need not be coprime).

    >>> congruence_solutions([(1, 1, 4), (1, 3, 6)])  # x ≡ 1 (mod 4) and x ≡ 3 (mod 6)
    (9, 12)
    >>> congruence_solutions([(2, 1, 4)]) is None  # 2x is never odd
    True
    """
    residue, modulus = 0, 1
    for a, c, m in conditions:
        g = gcd(a, m)
        if c % g:
            return None
        step = m // g
        r = (c // g) * pow(a // g, -1, step) % step if step > 1 else 0
        # Combine x ≡ residue (mod modulus) with x ≡ r (mod step).
        h = gcd(modulus, step)
        if (r - residue) % h:
            return None
        lcm_ = modulus // h * step
        k = ((r - residue) // h) * pow(modulus // h, -1, step // h) % (step // h) if step // h > 1 else 0
        residue, modulus = (residue + modulus * k) % lcm_, lcm_
    return residue, modulus


def nearest_solutions(solutions: tuple[int, int] | None, low: int, high: int, target: int, count: int) -> list[int]:
    """Up to ``count`` values x ≡ r (mod M) in [low, high], nearest to ``target`` first (ties: the smaller).

    >>> nearest_solutions((0, 3), 1, 20, 10, 3)
    [9, 12, 6]
    >>> nearest_solutions(None, 1, 20, 10, 3)
    []
    """
    if solutions is None or low > high:
        return []
    residue, modulus = solutions
    centre = min(max(target, low), high)
    base = centre - (centre - residue) % modulus  # the solution at or just below the centre
    around = (base + k * modulus for k in range(-count - 1, count + 2))
    found = [x for x in around if low <= x <= high]
    return sorted(found, key=lambda x: (abs(x - target), x))[:count]
