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

from __future__ import annotations

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
    source = sources[0]
    dims = layer.config.get("dims")
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
    spelled_elsewhere = {
        "slice": '"type": "split", "start": 0, "stop": 2',
        "chunk": '"type": "split", "parts": 2, "part": 0',
        "channelsplit": '"type": "split", "parts": 2, "part": 0',
    }
    keras_ops = {"Permute": KerasOp(_tf_permute, purpose="move the channels")}

    @model_validator(mode="after")
    def _one_form(self) -> Split:
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
            f"target_shape {short_json(dims)} after a Permute: convcalc imports this only as a channel shuffle"
            " (Reshape (H, W, g, D/g), Permute (1, 2, 4, 3), Reshape (H, W, D))",
            "target_shape",
        )
    return None


class ChannelShuffle(_Channels):
    """Interleaves g groups of D/g channels (ShuffleNet): output channel c·g + i = input channel i·D/g + c."""

    type: Literal["channel_shuffle"]
    groups: PositiveInt

    kind_name = "channel_shuffle"
    example = {"type": "channel_shuffle", "groups": 2}
    traits = PER_POSITION_TRAITS  # the volume keeps its shape; only the channel order changes
    drawing = "inside"
    keras_readers = {}
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
