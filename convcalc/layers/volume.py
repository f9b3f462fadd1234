"""Volumes and sliding windows: the geometry every layer kind, rule and renderer speaks.

``Shape`` is an H×W×D volume; ``Window`` a conv or pool window resolved on its input (padding in pixels,
the output size per axis); ``WindowAxis`` one spatial axis of it with the numbers messages quote.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

from convcalc import arithmetic as ar


class Shape(NamedTuple):
    """An H×W×D volume."""

    height: int
    width: int
    depth: int

    @property
    def values(self) -> int:
        """H·W·D, the number of neurons in the volume."""
        return ar.neurons(self.height, self.width, self.depth)

    @property
    def empty(self) -> bool:
        return self.height <= 0 or self.width <= 0 or self.depth <= 0

    def __str__(self) -> str:
        return f"{self.height}×{self.width}×{self.depth}"


class Padding(NamedTuple):
    """Resolved zero-padding in pixels on each side."""

    top: int
    bottom: int
    left: int
    right: int


class WindowAxis(NamedTuple):
    """One spatial axis of a window on its input: W, F, S, the padding on both sides and the result.

    The one per-axis view that rule messages, fixes and the calculator quote.
    """

    name: str
    """``height`` or ``width``."""
    unit: str
    """``row`` or ``column``."""
    size: int
    """W, the input size along this axis."""
    kernel: int
    """F as written (undilated)."""
    stride: int
    pad: int
    """Padding before (top or left)."""
    pad_after: int
    """Padding after (bottom or right)."""
    result: ar.AxisResult
    dilation: int = 1

    @property
    def padded(self) -> int:
        """W + P_before + P_after."""
        return self.size + self.pad + self.pad_after

    @property
    def pads(self) -> int:
        """P_before + P_after: the "2P" of the formula."""
        return self.pad + self.pad_after

    @property
    def span(self) -> int:
        """E = d·(F − 1) + 1, the extent of the (dilated) kernel; F when d = 1."""
        return ar.effective_kernel(self.kernel, self.dilation)

    @property
    def lost(self) -> int:
        """Real input rows/columns that no window reads and that are not a stride's own gap: the floor of
        (W − E + P_before + P_after)/S leaves the last r = (…) mod S padded rows unread; those past the padding
        after are input, unless r is no more than the S − E rows every window skips anyway (S > E).

        >>> axis = WindowAxis("height", "row", 10, 3, 2, 0, 0, ar.conv_output_size(10, 3, 2, 0, 0))
        >>> axis.lost  # CS231n's W=10, F=3, S=2: the last input row is never read
        1
        >>> WindowAxis("height", "row", 224, 7, 2, 3, 3, ar.conv_output_size(224, 7, 2, 3, 3)).lost  # ResNet's stem
        0
        """
        if self.result.ceil:
            return 0  # ceil mode reads the tail with one more window (or skips only a stride's gap)
        tail = self.result.remainder if self.result.has_output else 0
        if tail <= self.pad_after or tail <= self.stride - self.span:
            return 0
        return tail - self.pad_after

    @property
    def drops_padding(self) -> bool:
        """The floor leaves only padding unread: the last r ≤ P_after padded rows (an asymmetric padding)."""
        if self.result.ceil:
            return False
        tail = self.result.remainder if self.result.has_output else 0
        return 0 < tail <= self.pad_after

    @property
    def letter(self) -> str:
        """How messages call the extent: F, or E for a dilated kernel."""
        return "F" if self.dilation == 1 else "E"

    @property
    def extent_note(self) -> str:
        return "" if self.dilation == 1 else f" (E = d·(F − 1) + 1 = {self.dilation}·{self.kernel - 1} + 1, dilated)"


class Window(NamedTuple):
    """A sliding window (conv or pool) with every value resolved, and what it does per axis."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: Padding
    same: bool
    """True when the spec said ``"same"`` (TensorFlow chooses the padding)."""
    rows: ar.AxisResult
    cols: ar.AxisResult
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    """PyTorch's ``ceil_mode`` (pools with numeric padding): the size rounds up, see ``ceil_mode_output_size``."""

    @property
    def rounding(self) -> str:
        """How (W − F + 2P)/S + 1 becomes an integer here: ``floor``, or ``ceil`` (ceil mode)."""
        return "ceil" if self.ceil_mode else "floor"

    @property
    def effective_kernel(self) -> tuple[int, int]:
        """d·(F − 1) + 1 per axis: the extent the (dilated) kernel covers."""
        return (
            ar.effective_kernel(self.kernel[0], self.dilation[0]),
            ar.effective_kernel(self.kernel[1], self.dilation[1]),
        )

    @property
    def fits(self) -> bool:
        return self.rows.fits and self.cols.fits

    @property
    def has_output(self) -> bool:
        return self.rows.has_output and self.cols.has_output

    def output(self, depth: int) -> Shape:
        """The output volume with ``depth`` channels."""
        return Shape(self.rows.size, self.cols.size, depth)

    def axes(self, shape: Shape) -> tuple[WindowAxis, WindowAxis]:
        """The height and width axes of this window on its input volume ``shape``."""
        pad = self.padding
        return (
            WindowAxis(
                "height", "row", shape.height, self.kernel[0], self.stride[0], pad.top, pad.bottom, self.rows,
                self.dilation[0],
            ),
            WindowAxis(
                "width", "column", shape.width, self.kernel[1], self.stride[1], pad.left, pad.right, self.cols,
                self.dilation[1],
            ),
        )  # fmt: skip


@functools.lru_cache(maxsize=1024)  # a network repeats its windows on the same sizes (blocks, stacks): each once
def resolve_window(
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: object,
    shape: Shape,
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
) -> Window:
    """Resolve a conv or pool window on an input volume: padding in pixels and the size per axis.

    ``ceil_mode`` rounds (W − F + 2P)/S + 1 up (PyTorch's rule); it has no effect with ``"same"``, whose size is
    TensorFlow's ceil(W/S) by definition."""
    eff_h = ar.effective_kernel(kernel[0], dilation[0])
    eff_w = ar.effective_kernel(kernel[1], dilation[1])
    if padding == "same":
        top, bottom = ar.same_padding(shape.height, eff_h, stride[0])
        left, right = ar.same_padding(shape.width, eff_w, stride[1])
        same = True
    else:
        assert isinstance(padding, tuple)
        top = bottom = padding[0]
        left = right = padding[1]
        same = False
    ceil_mode = ceil_mode and not same
    axis_size = ar.ceil_mode_output_size if ceil_mode else ar.conv_output_size
    rows = axis_size(shape.height, eff_h, stride[0], top, bottom)
    cols = axis_size(shape.width, eff_w, stride[1], left, right)
    if same:
        # TensorFlow's rule is ceil(W/S) by definition, even where its implied padding leaves a remainder.
        rows = rows._replace(size=ar.same_output_size(shape.height, stride[0]))
        cols = cols._replace(size=ar.same_output_size(shape.width, stride[1]))
    return Window(kernel, stride, Padding(top, bottom, left, right), same, rows, cols, dilation, ceil_mode)


def broadcast_shape(inputs: Sequence[Shape]) -> Shape | None:
    """The volume an elementwise product of ``inputs`` has, or None where they do not broadcast.

    Per axis the sizes must agree or be 1 (TensorFlow's broadcasting): a 1×1×D gate times an H×W×D volume
    gives H×W×D; 7×7×32 times 1×1×64 does not broadcast.

    >>> broadcast_shape([Shape(7, 7, 32), Shape(1, 1, 32)]), broadcast_shape([Shape(7, 7, 32), Shape(1, 1, 64)])
    (Shape(height=7, width=7, depth=32), None)
    """
    sizes = []
    for axis in range(3):
        wanted = {shape[axis] for shape in inputs} - {1}
        if len(wanted) > 1:
            return None
        sizes.append(wanted.pop() if wanted else 1)
    return Shape(*sizes)
