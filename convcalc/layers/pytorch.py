"""The PyTorch vocabulary layer kinds speak, as plain data (no torch here).

Export: a kind's ``to_torch`` appends :class:`TorchStep` records to a :class:`TorchOps` builder, which threads
the current tensor's name and shape (PyTorch's: ``(C, H, W)``, or ``(n,)`` once flat). A step is either an
``nn.Module`` (its constructor, written once in ``__init__``, called in ``forward``) or a plain expression
(``torch.cat``, a slice). :mod:`convcalc.export.torch_plan` threads the steps through the network and
:mod:`convcalc.export.torch_codegen` writes them; every piece of text is built from numbers, generated
identifiers and ``repr`` literals (:mod:`convcalc.pysource`), never from spec text.

A kind PyTorch cannot express raises :class:`TorchRefusal` with the reason; the export names the layer.
"""

from __future__ import annotations

from typing import NamedTuple

from convcalc.layers.keras import NameSource, volume_values
from convcalc.layers.volume import Padding, Shape

TorchShape = tuple[int, ...]
"""A PyTorch tensor's shape without the batch axis: (C, H, W), or (n,) once flat."""


class TorchRefusal(Exception):
    """A layer the PyTorch export cannot map exactly: why (a sentence)."""


class TorchStep(NamedTuple):
    """One line of ``forward`` (and, for a module, one of ``__init__``)."""

    name: str
    """Unique and sanitised: the module's attribute (``self.conv1``) and the base of its variable."""
    inputs: tuple[str, ...]
    """The steps (or ``"input"``) whose outputs this one reads, by name."""
    output: TorchShape
    module: str = ""
    """The ``nn.Module`` constructor (``nn.Conv2d(3, 64, kernel_size=(3, 3))``); empty for an expression."""
    expression: str = ""
    """For a step without a module: the code over its inputs, ``{0}``, ``{1}`` … (or ``{all}``, comma-joined)."""
    weights: tuple[TorchShape, ...] = ()
    """The module's weight tensors in PyTorch's layout ([K, D/groups, F, F], [units, n] …), bias left out."""
    purpose: str = ""
    """What a helper step is for (shown in the generated comment)."""

    def code(self, variables: list[str]) -> str:
        """The forward expression, given the variables holding the inputs."""
        if self.module:
            return f"self.{self.name}({', '.join(variables)})"
        return self.expression.format(*variables, all=", ".join(variables))


class TorchOps:
    """Collects the PyTorch steps of one spec layer, threading the current tensor (name and shape) through them."""

    def __init__(self, base: str, names: NameSource, sources: list[tuple[str, TorchShape]]) -> None:
        self.base = base
        self.names = names
        self.sources = sources
        self.current, self.shape = sources[0]
        self.steps: list[TorchStep] = []

    def helper(self, suffix: str) -> str:
        """A unique name for a helper step of this layer (``conv1_pad``)."""
        return self.names.take(f"{self.base}_{suffix}")

    def append(self, step: TorchStep) -> TorchStep:
        self.steps.append(step)
        self.current, self.shape = step.name, step.output
        return step

    def module(
        self, name: str, constructor: str, output: TorchShape, weights: tuple[TorchShape, ...] = (), purpose: str = ""
    ) -> TorchStep:
        """A module step that reads the current tensor."""
        return self.append(TorchStep(name, (self.current,), output, constructor, weights=weights, purpose=purpose))

    def expression(
        self, name: str, code: str, output: TorchShape, inputs: tuple[str, ...] | None = None, purpose: str = ""
    ) -> TorchStep:
        """An expression step over ``inputs`` (the current tensor by default)."""
        read = (self.current,) if inputs is None else inputs
        return self.append(TorchStep(name, read, output, expression=code, purpose=purpose))

    def channels(self) -> int:
        """C: the depth of the current tensor, flat or not."""
        return self.shape[0]

    def volume(self) -> tuple[int, int, int]:
        """The current tensor as (C, H, W), a flat (n,) viewed as n×1×1 first."""
        if len(self.shape) == 1:
            n = self.shape[0]
            self.expression(self.helper("volume"), "{0}[:, :, None, None]", (n, 1, 1), purpose="[N, n] as [N, n, 1, 1]")
        channels, height, width = self.shape
        return channels, height, width

    def flatten(self, name: str, purpose: str = "") -> TorchStep:
        return self.expression(name, "torch.flatten({0}, 1)", (volume_values(self.shape),), purpose=purpose)

    def crop(self, name: str, sides: Padding, purpose: str = "") -> TorchStep:
        """``x[:, :, top:H − bottom, left:W − right]``: the current volume with ``sides`` cut off."""
        channels, height, width = self.volume()
        top, bottom, left, right = sides
        code = f"{{0}}[:, :, {top}:{height - bottom}, {left}:{width - right}]"
        return self.expression(name, code, (channels, height - top - bottom, width - left - right), purpose=purpose)

    def cropped_module(
        self,
        constructor: str,
        output: TorchShape,
        sides: Padding,
        weights: tuple[TorchShape, ...] = (),
        purpose: str = "",
    ) -> TorchStep:
        """The layer's module, whose output (``output``) ``sides`` crop: where they cut anything, the module is a
        helper (``<layer>_full``) and the crop is the layer's step."""
        if not any(sides):
            return self.module(self.base, constructor, output, weights)
        self.module(self.helper("full"), constructor, output, weights)
        return self.crop(self.base, sides, purpose)

    def zero_pad(self, padding: Padding, purpose: str = "asymmetric padding, as convcalc computes it") -> None:
        """An ``nn.ZeroPad2d`` in front of the next step, when any side is padded."""
        if any(padding):
            channels, height, width = self.volume()
            top, bottom, left, right = padding
            self.module(
                self.helper("pad"),
                f"nn.ZeroPad2d({(left, right, top, bottom)})",
                (channels, height + top + bottom, width + left + right),
                purpose=purpose,
            )


def chw(shape: Shape) -> TorchShape:
    """convcalc's H×W×D as PyTorch's (C, H, W)."""
    return (shape.depth, shape.height, shape.width)


def symmetric(padding: Padding) -> tuple[int, int] | None:
    """(P_rows, P_cols) when each axis is padded alike on both sides (what ``padding=`` takes), else None."""
    if padding.top == padding.bottom and padding.left == padding.right:
        return (padding.top, padding.left)
    return None


def pool_output_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool, dilation: int = 1) -> int:
    """PyTorch's pooling output size (``pooling_output_shape`` in ATen): a ceil-mode window must start inside
    the input or its left padding.

    >>> pool_output_size(7, 2, 2, 0, True), pool_output_size(6, 3, 2, 1, True), pool_output_size(4, 2, 2, 1, True)
    (4, 4, 3)
    """
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def tuple_text(pair: tuple[int, int]) -> str:
    """A per-axis value as PyTorch code: ``3`` when square, ``(3, 5)`` otherwise."""
    return str(pair[0]) if pair[0] == pair[1] else str(tuple(pair))
