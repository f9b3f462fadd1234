"""The ONNX vocabulary layer kinds read, as plain data (the ``onnx`` package is not imported here).

:mod:`convcalc.importers.onnx` parses a model file and walks its graph; for every node that computes on the
image it builds an :class:`OnnxNode` (the attributes as Python values, each input either a :class:`Tensor`
flowing from the input or a :class:`Constant` known without it, and the shapes ONNX's shape inference gives)
and calls the reader the kind registered for the node's ``op_type`` in its ``onnx_readers``. A reader returns
spec layer bodies (:class:`OnnxMapped`) or refuses with :class:`~convcalc.layers.keras.Refusal` naming the
node, its op type and what convcalc cannot express.

Shapes here are ONNX's: NCHW, the batch first.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from convcalc.layers.keras import BLOCKS, BLOCKS_MOVED, GROUPED, SHUFFLED, Refusal, Source, Step, Tensor

CHANNELS_LAST = "channels_last"
"""A layout: a Transpose (0, 2, 3, 1) made the volume (N, H, W, C), as PyTorch's channels-last LayerNorm and
Linear read it (ConvNeXt); a Transpose (0, 3, 1, 2) makes it (N, C, H, W) again."""
SEQUENCE = "sequence"
"""A layout: a SplitToSequence cut the channels into ``groups`` equal parts, which SequenceAt picks."""
LAYOUTS = (CHANNELS_LAST, GROUPED, SHUFFLED, SEQUENCE, BLOCKS, BLOCKS_MOVED)
"""The layouts an ONNX tensor may be in between the steps of a pattern (channel shuffle: a Reshape to
(N, g, C/g, H, W) is ``GROUPED``, the Transpose (0, 2, 1, 3, 4) after it ``SHUFFLED``; pixel unshuffle: a
Reshape to (N, C, H/r, r, W/r, r) is ``BLOCKS`` with ``groups`` r, the Transpose after it ``BLOCKS_MOVED``)."""

Dims = tuple[int | None, ...]
"""An ONNX shape, NCHW; None where a size is symbolic or unknown."""


class Constant(NamedTuple):
    """A tensor known without the image: an initializer, a Constant node's value, or plumbing computed from
    them (Shape, Concat, Cast …)."""

    name: str
    dims: tuple[int, ...] | None
    """Its shape, when known."""
    values: tuple[float, ...] | None = None
    """Its values, flat, when the file holds them and they are few (shape constants, Clip bounds)."""
    stored: frozenset[str] = frozenset()
    """The initializers (or Constant nodes) it is, through Identity: what a layer reading it as a weight
    holds. Empty for a tensor computed by plumbing (an Expand of zeros), which is no parameter."""
    uniform: float | None = None
    """A Constant node's one value when it holds more than it keeps (``values`` None) and they are all equal: the
    ones and zeros an exporter writes for a norm without affine parameters over more than a thousand values."""
    initializer: bool = False
    """An initializer of the graph, or a tensor computed from one (through Identity, Reshape, Slice, arithmetic …):
    a stored value, which a model may train. A Constant node's value is a number written into the graph (a Python
    float in the model's code)."""

    @property
    def size(self) -> int | None:
        if self.dims is None:
            return None
        count = 1
        for size in self.dims:
            count *= size
        return count


Input = Tensor | Constant | None
"""One input of a node: the image's data, a constant, or None where an optional input is left out."""


class OnnxNode(NamedTuple):
    """One node of the graph as a reader sees it."""

    name: str
    op_type: str
    index: int  # type: ignore[assignment]  # a field, shadowing tuple's index() (never called on a record)
    """Its position in ``graph.node``."""
    opset: int
    """The version of the default ONNX domain the model imports (attribute defaults changed over time)."""
    attributes: dict[str, Any]
    inputs: tuple[Input, ...]
    input_shapes: tuple[Dims | None, ...]
    output_shape: Dims | None
    """ONNX's inferred shape of the first output, when known."""
    output_shapes: tuple[Dims | None, ...] = ()
    """ONNX's inferred shape of every output (a Split has several)."""
    written: bool = False
    """The dynamo exporter's record of the PyTorch call this node comes from names no tensor but its data inputs:
    a stored input is then the exporter's own, folded into an initializer by its optimiser — a number the code
    wrote (``x * 0.5``) or a stand-in for a weight the call lacks (an affine-less norm's ones and zeros) — and no
    parameter."""
    recorded: tuple[str, ...] | None = None
    """The arguments of that recorded call, as written (``%relu``, ``None``, ``%b_2_running_mean``, ``0.1``); None
    where nothing is recorded. An argument ``None`` is a tensor the call lacks (the γ of a norm without one)."""

    @property
    def label(self) -> str:
        return f"node {self.name!r} ({self.op_type})"

    @property
    def path(self) -> tuple[str | int, ...]:
        return ("graph", "node", self.index)

    def refuse(self, message: str) -> Refusal:
        return Refusal(self.path, f"{self.label}: {message}")

    @property
    def sources(self) -> list[Tensor]:
        """The inputs that carry the image's data, in order."""
        return [item for item in self.inputs if isinstance(item, Tensor)]

    def source(self) -> Tensor:
        """The single data input of a one-input layer."""
        first = self.inputs[0] if self.inputs else None
        if not isinstance(first, Tensor):
            raise self.refuse("its first input is not computed from the model's input")
        return first

    def value(self, position: int, what: str, default: float) -> float:
        """A scalar constant input (or the default when it is left out)."""
        values = self.values(position, what)
        if values is None:
            return default
        if len(values) != 1:
            raise self.refuse(f"its {what} (input {position}) has {len(values)} values; convcalc reads a scalar")
        return float(values[0])

    def integer(self, key: str, default: int) -> int:
        value = self.attributes.get(key, default)
        if type(value) is not int:
            raise self.refuse(f"attribute {key} must be an integer (got {value!r})")
        return value

    def number(self, key: str, default: float) -> float:
        """A float attribute, as the shortest decimal of its float32 (ONNX stores 1e-4 as 9.99999974e-05)."""
        value = self.attributes.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.refuse(f"attribute {key} must be a finite number (got {value!r})")
        return shortest_float(float(value))

    def integers(self, key: str, default: Sequence[int] | None = None) -> list[int] | None:
        value = self.attributes.get(key, default)
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not all(type(v) is int for v in value):
            raise self.refuse(f"attribute {key} must be a list of integers (got {value!r})")
        return list(value)

    def text(self, key: str, default: str) -> str:
        value = self.attributes.get(key, default)
        if not isinstance(value, str):
            raise self.refuse(f"attribute {key} must be a string (got {value!r})")
        return value

    def constant(self, position: int, what: str) -> Constant | None:
        """Input ``position`` as a constant; None when it is left out. Refuses one computed from the image."""
        item = self.inputs[position] if position < len(self.inputs) else None
        if isinstance(item, Tensor):
            raise self.refuse(f"its {what} (input {position}) is computed from the image; convcalc needs a constant")
        return item

    def weight(self, position: int, what: str, rank: int) -> tuple[int, ...]:
        """The dims of a weight input that must be there, with ``rank`` axes."""
        item = self.constant(position, what)
        if item is None or item.dims is None:
            raise self.refuse(f"the shape of its {what} (input {position}) is not in the file")
        if len(item.dims) != rank:
            raise self.refuse(f"its {what} has shape {list(item.dims)}; convcalc models 2-D layers ({rank} axes)")
        return item.dims

    def values(self, position: int, what: str) -> tuple[float, ...] | None:
        """The values of a constant input (None when it is left out); refuses one whose values are unknown."""
        item = self.constant(position, what)
        if item is None:
            return None
        if item.values is None:
            raise self.refuse(f"the values of its {what} (input {position}) are not in the file")
        return item.values

    def is_stored(self, position: int) -> bool:
        """Whether input ``position`` is a stored tensor (an initializer): a parameter when used as a weight."""
        item = self.inputs[position] if position < len(self.inputs) else None
        return isinstance(item, Constant) and bool(item.stored)

    def spatial(self, key: str, default: int) -> tuple[int, int]:
        """A per-axis attribute of a 2-D window (kernel_shape, strides, dilations) as (h, w)."""
        values = self.integers(key, [default, default])
        assert values is not None
        if len(values) != 2:
            raise self.refuse(f"attribute {key} {values}: convcalc models 2-D windows (two sizes)")
        return (values[0], values[1])

    def input_size(self) -> tuple[int, int]:
        """H and W of the first input, from ONNX's shape inference; refuses when they are unknown."""
        shape = self.input_shapes[0] if self.input_shapes else None
        if shape is None or len(shape) != 4 or shape[2] is None or shape[3] is None:
            raise self.refuse("convcalc needs the size of its input, which ONNX's shape inference does not give")
        return (shape[2], shape[3])

    def needs_vector(self) -> Tensor:
        source = self.source()
        if source.rank != 2:
            raise self.refuse(f"reads a rank-{source.rank} tensor; this layer needs an (N, n) input (flatten first)")
        return source

    def needs_volume(self) -> Tensor:
        source = self.source()
        if source.rank != 4:
            raise self.refuse(f"reads a rank-{source.rank} tensor; this layer needs an (N, C, H, W) volume")
        return source


class OnnxMapped(NamedTuple):
    """What a reader makes of one node: spec layer bodies (no names yet) and the output rank."""

    layers: list[dict[str, Any]]
    rank: int
    weights: tuple[int, ...] = ()
    """The node's inputs that hold its parameters (each stored tensor counted once for the node)."""
    main: int = 0
    """The body named after the node; the others are named ``<node>/<kind>``."""
    bias_for: int | None = None
    """An Add of a constant: the bias of the conv or fc producing this data input (MatMul + Add)."""
    layout: str = ""
    """The output's layout ("" for NCHW or (N, n); see :data:`LAYOUTS`)."""
    groups: int = 0
    """In the ``GROUPED`` layout: g."""
    parts: tuple[int, ...] = ()
    """In the ``SEQUENCE`` layout: the channels of each part, where the parts differ."""
    reads_layout: bool = False
    """The reader understood a rearranged input (one in a layout); other readers' are refused."""
    branches: list[list[dict[str, Any]]] | None = None
    """A node with several outputs (Split): the spec layer bodies of each output, each reading the input."""
    dims: Dims | None = None
    """The output's dims, where the reader knows them and ONNX's shape inference may not (a Slice whose bounds
    the module computed from shapes); the import takes them where inference gives none."""
    reads: list[list[Source | Step]] | None = None
    """What each body reads, for a node that is not a chain (an Add that broadcasts a 1×1 input: upsample it,
    then add); None: the first body reads every data input and each later one the body before it."""


GAIN_INPUT = "convcalc_gain_input"
"""The attribute (1) of a Conv that convcalc's ONNX import gave a fourth input, the learned gain per filter of a
weight standardisation it fused (NFNet's ``ScaledStdConv2d``): ONNX's Conv has at most three inputs."""


def keep_layout(node: OnnxNode, layers: list[dict[str, Any]], weights: tuple[int, ...] = ()) -> OnnxMapped:
    """A per-position layer (an activation, a channels-last LayerNorm) on its input as it is laid out."""
    source = node.source()
    return OnnxMapped(layers, source.rank, weights=weights, layout=source.layout, reads_layout=True)


def pad_sides(pads: Sequence[float]) -> tuple[int, int, int, int] | None:
    """H and W's (top, left, bottom, right) of a Pad's eight pads, [n, c, top, left, n, c, bottom, right]; None
    where the pads are not eight or touch N or C.

    >>> pad_sides([0, 0, 1, 2, 0, 0, 3, 4]), pad_sides([0, 1, 0, 0, 0, 0, 0, 0])
    ((1, 2, 3, 4), None)
    """
    if len(pads) != 8 or pads[0] or pads[1] or pads[4] or pads[5]:
        return None
    return int(pads[2]), int(pads[3]), int(pads[6]), int(pads[7])


def written_number(node: OnnxNode) -> tuple[int, float] | None:
    """For a node of one data input and one constant, the constant's position and value when it is one number
    written into the graph (a Constant node, or an initializer the dynamo exporter's record shows to be a number
    in the call: ``written``), not a stored value: a stored one-value tensor may be trained (HGNetV2's learnable
    affine), and a number is no parameter. None otherwise."""
    if len(node.inputs) != 2 or len(node.sources) != 1:
        return None
    position = 0 if isinstance(node.inputs[0], Constant) else 1
    constant = node.inputs[position]
    if not isinstance(constant, Constant) or (constant.initializer and not node.written) or constant.values is None:
        return None
    if constant.dims is not None and len(constant.dims) > node.sources[0].rank:
        return None  # it would add axes to the data's shape
    if len(constant.values) != 1 or not math.isfinite(constant.values[0]):
        return None
    return position, shortest_float(float(constant.values[0]))


def shortest_float(value: float) -> float:
    """The shortest decimal that is the same float32 as ``value`` (an exporter stores 1.7139 as 1.71389997…).

    >>> shortest_float(1.7138999700546265), shortest_float(0.5), shortest_float(1e300)
    (1.7139, 0.5, 1e+300)
    """
    try:
        single = struct.pack("<f", value)
    except OverflowError:
        return value
    for digits in range(1, 10):
        shorter = float(f"{value:.{digits}g}")
        if struct.pack("<f", shorter) == single:
            return shorter
    return value


OnnxReader = Callable[[OnnxNode], OnnxMapped]
"""How one ONNX op type becomes spec layers."""


def channel_axis(node: OnnxNode, axis: int, rank: int) -> bool:
    """Whether ``axis`` (negative counts from the end) is the channels of an NCHW volume or an (N, n) vector."""
    return axis in (1, 1 - rank)
