"""Layers that pick or reorder channels: ``split`` (a slice of the depth) and ``channel_shuffle``.

No parameters, no MACs, the H×W and the receptive field unchanged (a split keeps the field of the volume it
slices). ShuffleNetV2 splits the depth into two halves and shuffles the channels of the concatenated branches.

- ``split``: ``{"parts": n, "part": k}`` takes the k-th of n equal parts, channels [k·D/n, (k + 1)·D/n)
  (n must divide D: CC111 otherwise); ``{"start": a, "stop": b}`` takes channels [a, b) (b ≤ D: CC111).
- ``channel_shuffle``: g groups of D/g channels, read out group-interleaved (channel c·g + i of the output
  is channel i·D/g + c of the input); g must divide D (CC112).

Keras has no layer that slices channels or shuffles them, and a ``Lambda`` would be code in the model file.
The export uses built-in layers only: a split is ``Permute((3, 1, 2))`` → ``Cropping2D`` of the depth (now
the first axis) → ``Permute((2, 3, 1))``, a shuffle is ``Reshape((H, W, g, D/g))`` → ``Permute((1, 2, 4, 3))``
→ ``Reshape((H, W, D))``; the Keras import recognises exactly these patterns. tf.nn: ``tf.transpose``,
slicing and ``tf.reshape``, one per Keras layer.
"""

from collections.abc import Sequence
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from convcalc.layers.base import (
    PER_POSITION_TRAITS,
    PLUMBING_TRAITS,
    UNIT_STEP,
    Computed,
    DiagramWindow,
    FieldPair,
    LayerSpec,
    widest,
)
from convcalc.layers.fields import PositiveInt, strict_int
from convcalc.layers.keras import (
    BLOCKS,
    CHANNELS_FIRST,
    GROUPED,
    SHUFFLED,
    KerasLayer,
    KerasOps,
    Mapped,
    Op,
    Tensor,
    short_json,
    volume_of,
)
from convcalc.layers.onnx import CHANNELS_LAST, SEQUENCE, OnnxMapped, OnnxNode, channel_axis
from convcalc.layers.pytorch import TorchOps, TorchStep, chw
from convcalc.layers.tfnn import KerasOp
from convcalc.layers.volume import Shape, Window


def _non_negative(value: Any) -> int:
    return strict_int(value, 0)


NonNegativeInt = Annotated[int, PlainValidator(_non_negative), WithJsonSchema({"type": "integer", "minimum": 0})]


class _Channels(LayerSpec):
    """The family base: spatially the identity (grid, field and window), no weights."""

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        return widest(fields)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def is_nonlinear(self) -> bool:
        return False  # picking or reordering channels is a linear map

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()


# --- split -------------------------------------------------------------------------------------------------


def _tf_permute(op: Op, read: list[str], padding: str) -> str:
    dims = op.kwargs["dims"]
    assert isinstance(dims, tuple)
    return f"tf.transpose({read[0]}, [0, {', '.join(str(d) for d in dims)}])"


def _read_permute_for_split_or_channel_shuffle(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    """A Permute that is a step of an exported split or channel_shuffle (or depth_to_space or space_to_depth,
    whose module reads it)."""
    source = sources[0]
    dims = layer.config.get("dims")
    if source.layout == BLOCKS:
        # Imported on use: a check imports only the kinds its spec uses (see convcalc.layers).
        from convcalc.layers.space_depth import read_blocks_permute

        return read_blocks_permute(layer, source, dims)
    if source.rank == 4 and source.layout == "" and dims == [3, 1, 2]:
        return Mapped([], 4, layout=CHANNELS_FIRST)
    if source.layout == CHANNELS_FIRST and dims == [2, 3, 1]:
        return Mapped([], 4)
    if source.layout == GROUPED and dims == [1, 2, 4, 3]:
        return Mapped([{"type": "channel_shuffle", "groups": source.groups}], 5, layout=SHUFFLED)
    raise layer.refuse(
        f"dims {short_json(dims)}: convcalc imports a Permute only as part of a channel split (Permute (3, 1, 2),"
        " Cropping2D, Permute (2, 3, 1)) or a channel shuffle (Reshape, Permute (1, 2, 4, 3), Reshape)",
        "dims",
    )


def channel_crop(layer: KerasLayer) -> Mapped:
    """A Cropping2D of a D×H×W tensor (after Permute((3, 1, 2))): a split of the channels."""
    cropping = layer.config.get("cropping")
    pairs = cropping if isinstance(cropping, list) and all(isinstance(p, list) for p in cropping) else []
    sides = [v for pair in pairs for v in pair] if len(pairs) == 2 else []
    dims = layer.input_dims()
    if len(sides) != 4 or not all(type(v) is int for v in sides) or sides[2:] != [0, 0] or dims is None:
        raise layer.refuse(
            f"cropping {short_json(cropping)} of a channels-first tensor: convcalc imports this only as a channel"
            " split (a crop of the depth alone, with the input shape recorded)",
            "cropping",
        )
    first, last = sides[0], sides[1]
    if len(dims) != 3:
        raise layer.refuse(f"reads a rank-{len(dims) + 1} tensor; a channel split crops a (batch, D, H, W) one")
    return Mapped([{"type": "split", "start": first, "stop": dims[0] - last}], 4, layout=CHANNELS_FIRST)


def _read_onnx_split(node: OnnxNode) -> OnnxMapped:
    """Split of the channels (PyTorch's chunk or split on dim 1): one split layer per output, each reading the
    input. The sizes are the ``split`` input (an attribute before opset 13), else equal parts."""
    node.needs_volume()
    shape = node.input_shapes[0]
    axis = node.integer("axis", 0)
    if not channel_axis(node, axis, 4) or shape is None or shape[1] is None:
        raise node.refuse(f"splits axis {axis}: convcalc splits the channels (axis 1) of a volume of known depth")
    depth, count = shape[1], len(node.output_shapes)
    sizes = node.integers("split") if node.opset < 13 else node.values(1, "split")
    if sizes is None:
        if depth % count:
            raise node.refuse(f"splits {depth} channels into {count} outputs, which does not divide them")
        return OnnxMapped([], 4, branches=[[{"type": "split", "parts": count, "part": k}] for k in range(count)])
    if len(sizes) != count or sum(sizes) != depth or min(sizes) < 1:
        raise node.refuse(f"split sizes {[int(v) for v in sizes]} do not cut {depth} channels into {count} outputs")
    branches, start = [], 0
    for size in (int(v) for v in sizes):
        branches.append([{"type": "split", "start": start, "stop": start + size}])
        start += size
    return OnnxMapped([], 4, branches=branches)


def _read_onnx_split_to_sequence(node: OnnxNode) -> OnnxMapped:
    """SplitToSequence of the channels (the dynamo exporter's chunk, or split with sizes: FasterNet's partial
    conv): no layer yet; each SequenceAt that picks a part is a split."""
    node.needs_volume()
    shape = node.input_shapes[0]
    axis = node.integer("axis", 0)
    sizes = node.values(1, "split")
    depth = shape[1] if shape is not None else None
    if not channel_axis(node, axis, 4) or depth is None or not sizes:
        raise node.refuse(f"splits axis {axis}: convcalc splits the channels (axis 1) of known depth, sizes given")
    parts = tuple(int(v) for v in sizes)
    if len(parts) == 1 and parts[0] >= 1 and depth % parts[0] == 0:
        parts = (parts[0],) * (depth // parts[0])  # one size: parts of that size
    if min(parts) < 1 or sum(parts) != depth:
        raise node.refuse(f"split sizes {list(parts)} do not cut {depth} channels")
    equal = len(set(parts)) == 1
    return OnnxMapped([], 5, layout=SEQUENCE, groups=len(parts), parts=() if equal else parts)


def _read_onnx_sequence_at(node: OnnxNode) -> OnnxMapped:
    """SequenceAt k of a SplitToSequence: part k of the channels."""
    source = node.source()
    position = node.values(1, "position")
    if source.layout != SEQUENCE or position is None or len(position) != 1:
        raise node.refuse("convcalc reads SequenceAt only of a SplitToSequence of the channels, at a constant position")
    part = int(position[0]) + (source.groups if position[0] < 0 else 0)
    if not 0 <= part < source.groups:
        raise node.refuse(f"picks part {int(position[0])} of {source.groups}")
    if source.parts:
        start = sum(source.parts[:part])
        return OnnxMapped([{"type": "split", "start": start, "stop": start + source.parts[part]}], 4, reads_layout=True)
    return OnnxMapped([{"type": "split", "parts": source.groups, "part": part}], 4, reads_layout=True)


_TO_THE_END = 2**31
"""An end at least this far is "to the end" (PyTorch writes INT64_MAX), whatever the axis's size."""


def _slice_bounds(first: float, last: float, size: int | None) -> tuple[int, int | None]:
    """ONNX's [first, last) of an axis of ``size`` (None where unknown), step 1: negative bounds count from the
    end, and both are clamped to [0, size]; a stop of None is to the end (an end written INT64_MAX).

    >>> _slice_bounds(-3, 2**63 - 1, 10), _slice_bounds(2, -1, 10), _slice_bounds(4, 2**63 - 1, None)
    ((7, None), (2, 9), (4, None))
    """
    begin = int(first) + (size if first < 0 and size is not None else 0)
    stop = None if last >= _TO_THE_END else int(last) + (size if last < 0 and size is not None else 0)
    begin, stop = max(0, begin), stop if stop is None or size is None else max(0, min(stop, size))
    return (begin if size is None else min(begin, size)), stop


def _read_onnx_slice(node: OnnxNode) -> OnnxMapped:
    """Slice, step 1, of the channels (PyTorch's x[:, a:b]): channels [a, b) as a split; or of H and W (x[:, :,
    a:b, c:d], as convcalc's own cropping is written for PyTorch): a cropping. Ends past the axis (a slice to the
    end is written INT64_MAX) are its size; axes that keep their whole range are no slice."""
    node.needs_volume()
    shape = node.input_shapes[0]
    starts, ends = node.values(1, "starts"), node.values(2, "ends")
    if starts is None or ends is None:
        raise node.refuse("its starts and ends are not in the file (constant inputs)")
    axes = node.values(3, "axes") or tuple(range(len(starts)))
    steps = node.values(4, "steps") or (1,) * len(starts)
    if len(axes) != len(starts) or len(ends) != len(starts) or len(steps) != len(starts):
        raise node.refuse("its starts, ends, axes and steps differ in length")
    ranges: dict[int, tuple[int, int | None]] = {}
    for axis, first, last, step in zip(axes, starts, ends, steps, strict=True):
        axis = int(axis) + (4 if axis < 0 else 0)
        size = shape[axis] if shape is not None and 0 <= axis < 4 else None
        if step != 1 or not 0 <= axis < 4:
            raise node.refuse(
                f"slices [{int(first)}:{int(last)}:{int(step)}] of axis {axis}: convcalc slices the channels or"
                " H and W of a volume, step 1"
            )
        if (first < 0 or last < _TO_THE_END) and size is None:
            raise node.refuse(
                f"slices axis {axis}, whose size ONNX's shape inference does not give: convcalc needs it for"
                f" [{int(first)}:{int(last)}]"
            )
        begin, stop = _slice_bounds(first, last, size)
        if not (begin == 0 and (stop is None or stop == size)):
            ranges[axis] = (begin, stop)
    dims = None
    if shape is not None and None not in shape:  # the output's, which inference may lack (bounds from shapes)
        sized = [size for size in shape if size is not None]
        for axis, (begin, stop) in ranges.items():
            sized[axis] = max((sized[axis] if stop is None else stop) - begin, 0)
        dims = tuple(sized)
    if not ranges:
        return OnnxMapped([], 4, dims=dims)
    for axis, (begin, stop) in ranges.items():
        if stop is not None and stop <= begin:
            raise node.refuse(f"slices [{begin}:{stop}] of axis {axis}: convcalc takes a non-empty range, step 1")
    if set(ranges) == {1}:
        begin, stop = ranges[1]
        if stop is None:
            if shape is None or shape[1] is None:
                raise node.refuse("convcalc needs its number of channels, which ONNX's shape inference does not give")
            stop = shape[1]
        return OnnxMapped([{"type": "split", "start": begin, "stop": stop}], 4, dims=dims)
    if set(ranges) <= {2, 3}:
        crop = []
        for axis in (2, 3):
            begin, stop = ranges.get(axis, (0, None))
            size = shape[axis] if shape is not None else None
            crop.append([begin, 0 if stop is None else (size or 0) - stop])
        return OnnxMapped([{"type": "cropping", "crop": crop}], 4, dims=dims)
    raise node.refuse(
        f"slices axes {sorted(ranges)}: convcalc slices the channels (axis 1) alone, or H and W (axes 2 and 3)"
    )


class Split(_Channels):
    """A slice of the depth: the k-th of n equal parts (D/n channels), or channels [start, stop)."""

    type: Literal["split"]
    parts: PositiveInt | None = Field(default=None, description="n: split the depth into n equal parts …")
    part: NonNegativeInt | None = Field(default=None, description="… and take part k (0-based, k < n).")
    start: NonNegativeInt | None = Field(default=None, description="Or: the first channel taken …")
    stop: PositiveInt | None = Field(default=None, description="… and the channel after the last (stop > start).")

    kind_name = "split"
    example = {"type": "split", "parts": 2, "part": 1}
    traits = PLUMBING_TRAITS
    drawing = "volume"
    keras_readers = {"Permute": _read_permute_for_split_or_channel_shuffle}
    onnx_readers = {
        "Split": _read_onnx_split,
        "Slice": _read_onnx_slice,
        "SplitToSequence": _read_onnx_split_to_sequence,
        "SequenceAt": _read_onnx_sequence_at,
    }
    spelled_elsewhere = {
        "slice": '"type": "split", "start": 0, "stop": 2',
        "chunk": '"type": "split", "parts": 2, "part": 0',
        "channelsplit": '"type": "split", "parts": 2, "part": 0',
    }
    keras_ops = {"Permute": KerasOp(_tf_permute, purpose="move the channels")}

    @model_validator(mode="after")
    def _one_form(self) -> "Split":
        by_parts = (self.parts is not None, self.part is not None)
        by_range = (self.start is not None, self.stop is not None)
        if not (by_parts == (True, True) and by_range == (False, False)) and not (
            by_parts == (False, False) and by_range == (True, True)
        ):
            raise PydanticCustomError(
                "split",
                'give either "parts" and "part" (equal parts) or "start" and "stop" (channels [start, stop))',
                {},
            )
        if self.parts is not None and self.part is not None and self.part >= self.parts:
            raise PydanticCustomError(
                "split",
                "part must be < parts (0-based; got part {part} of {parts})",
                {"part": self.part, "parts": self.parts},
            )
        if self.start is not None and self.stop is not None and self.stop <= self.start:
            raise PydanticCustomError(
                "split",
                "stop must be > start (got start {start}, stop {stop})",
                {"start": self.start, "stop": self.stop},
            )
        return self

    def channels(self, depth: int) -> tuple[int, int]:
        """The channels [a, b) taken from a depth D, as TensorFlow's slicing builds them: equal parts of ⌊D/n⌋
        channels, a stop past D clamped to D (CC111 reports both)."""
        if self.parts is not None and self.part is not None:
            size = depth // self.parts
            return (self.part * size, (self.part + 1) * size)
        assert self.start is not None and self.stop is not None
        return (min(self.start, depth), min(self.stop, depth))

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        first, last = self.channels(shape.depth)
        return Computed(Shape(shape.height, shape.width, last - first))

    def notation(self, window: Window | None) -> str:
        if self.parts is not None:
            return f"part {self.part} of {self.parts}"
        return f"channels [{self.start}, {self.stop})"

    def caption(self) -> str:
        return "split"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        height, width, depth = ops.volume()
        first, last = self.channels(depth)
        ops.add("Permute", ops.helper("channels_first"), (depth, height, width), dims=(3, 1, 2))
        main = ops.add("Cropping2D", ops.base, (last - first, height, width), cropping=((first, depth - last), (0, 0)))
        ops.add("Permute", ops.helper("channels_last"), volume_of(output), dims=(2, 3, 1))
        return main

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        first, last = self.channels(ops.channels())
        out = (last - first, *ops.shape[1:])  # a flat [N, n] stays flat
        return ops.expression(ops.base, f"{{0}}[:, {first}:{last}]", out)


# --- channel shuffle ---------------------------------------------------------------------------------------


def grouped_reshape(layer: KerasLayer, source: Tensor, dims: list[int]) -> Mapped | None:
    """The Reshapes of a channel shuffle's export (None for any other reshape)."""
    if source.rank == 4 and source.layout == "" and len(dims) == 4 and dims[2] > 0:
        return Mapped([], 5, layout=GROUPED, groups=dims[2])
    if source.layout == SHUFFLED and len(dims) == 3:
        return Mapped([], 4)
    if source.layout:
        raise layer.refuse(
            f"target_shape {short_json(dims)} after a rearranging Permute or Reshape: convcalc imports this only as"
            " a channel shuffle (Reshape (H, W, g, D/g), Permute (1, 2, 4, 3), Reshape (H, W, D)), a depth_to_space"
            " or a space_to_depth (Reshape to five axes, Permute, Reshape)",
            "target_shape",
        )
    return None


def read_onnx_shuffle_reshape(node: OnnxNode) -> OnnxMapped | None:
    """A Reshape that is a step of the channel shuffle, (N, C, H, W) → (N, g, C/g, H, W) (into ``GROUPED``) or,
    after the Transpose, back to (N, C, H, W); None for any other Reshape."""
    source = node.source()
    before, after = node.input_shapes[0], node.output_shape
    if after is None or None in after:
        return None
    if source.rank == 4 and not source.layout and len(after) == 5 and after[1] is not None:
        # Shape inference may not know the input (a torchscript chunk's computed bounds): the layers after the
        # shuffle are checked against it all the same.
        known = before is not None and len(before) == 4 and None not in before[1:]  # the batch may be symbolic
        if not known or (before is not None and before[1] == after[1] * (after[2] or 0) and before[2:] == after[3:]):
            return OnnxMapped([], 5, layout=GROUPED, groups=after[1])
    if source.layout == SHUFFLED and len(after) == 4 and (before is None or after[2:] == before[3:]):
        return OnnxMapped([], 4, reads_layout=True)
    return None


def _read_onnx_transpose(node: OnnxNode) -> OnnxMapped:
    """A Transpose that is a step of a pattern: (0, 2, 3, 1) to channels last and (0, 3, 1, 2) back (around
    PyTorch's LayerNorm and Linear on channels, ConvNeXt), or (0, 2, 1, 3, 4) of a ``GROUPED`` tensor: the
    channel shuffle."""
    source = node.source()
    if source.layout == BLOCKS:
        # Imported on use: a check imports only the kinds its spec uses (see convcalc.layers).
        from convcalc.layers.space_depth import read_onnx_blocks_transpose

        return read_onnx_blocks_transpose(node)
    perm = node.integers("perm")
    if source.rank == 4 and not source.layout and perm == [0, 2, 3, 1]:
        return OnnxMapped([], 4, layout=CHANNELS_LAST)
    if source.layout == CHANNELS_LAST and perm == [0, 3, 1, 2]:
        return OnnxMapped([], 4, reads_layout=True)
    if source.layout == GROUPED and perm == [0, 2, 1, 3, 4]:
        body = {"type": "channel_shuffle", "groups": source.groups}
        return OnnxMapped([body], 5, layout=SHUFFLED, reads_layout=True)
    raise node.refuse(
        f"perm {perm}: convcalc reads a Transpose only as a step of a channels-last LayerNorm or Linear"
        " ((0, 2, 3, 1) then (0, 3, 1, 2)) or of a channel shuffle (Reshape, (0, 2, 1, 3, 4), Reshape)"
    )


class ChannelShuffle(_Channels):
    """Interleaves g groups of D/g channels (ShuffleNet): output channel c·g + i = input channel i·D/g + c."""

    type: Literal["channel_shuffle"]
    groups: PositiveInt

    kind_name = "channel_shuffle"
    example = {"type": "channel_shuffle", "groups": 2}
    traits = PER_POSITION_TRAITS  # the volume keeps its shape; only the channel order changes
    drawing = "inside"
    keras_readers = {}
    onnx_readers = {"Transpose": _read_onnx_transpose}
    spelled_elsewhere = {"shuffle": '"type": "channel_shuffle"'}
    keras_ops = {}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(shape)  # groups that do not divide D are CC112's

    def notation(self, window: Window | None) -> str:
        return f"g={self.groups}"

    def caption(self) -> str:
        return "shuffle"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        height, width, depth = ops.volume()
        per_group = depth // self.groups
        grouped = (height, width, self.groups, per_group)
        ops.add("Reshape", ops.helper("groups"), grouped, target_shape=grouped)
        main = ops.add("Permute", ops.base, (height, width, per_group, self.groups), dims=(1, 2, 4, 3))
        ops.add("Reshape", ops.helper("interleave"), volume_of(output), target_shape=volume_of(output))
        return main

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        ops.volume()
        return ops.module(ops.base, f"nn.ChannelShuffle({self.groups})", chw(output))
