"""The Keras vocabulary layer kinds speak, both ways, as plain data (no TensorFlow here).

Export: a kind appends :class:`Op` records (one Keras layer each) to a :class:`KerasOps` builder, which
threads the current tensor's name and shape; :mod:`convcalc.export` turns the ops into a model or code.

Import: a kind's readers turn one Keras layer config (a :class:`KerasLayer`) into spec layer bodies
(:class:`Mapped`), refusing with :class:`Refusal` what a spec cannot express; :mod:`convcalc.importers.keras`
walks the model and calls them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from convcalc.layers.volume import Shape

JsonPath = tuple[str | int, ...]

# --- export ------------------------------------------------------------------------------------------------

ArgValue = int | float | bool | str | tuple[int, ...] | tuple[float, ...] | tuple[tuple[int, int], tuple[int, int]]
Volume = tuple[int, ...]
"""A Keras tensor's shape without the batch axis: (H, W, D), or (n,) once flat."""


class Op(NamedTuple):
    """One Keras layer: its class, its unique sanitised name, what it reads, its arguments and output shape."""

    layer: str
    """The Keras class name (``Conv2D`` …), or ``L2Pooling2D``."""
    name: str
    inputs: tuple[str, ...]
    """The ops (or ``"input"``) whose outputs this one reads, by name."""
    args: tuple[tuple[str, ArgValue], ...]
    output: Volume

    @property
    def kwargs(self) -> dict[str, ArgValue]:
        return dict(self.args)

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.kwargs.get(key, default)
        assert type(value) is int, (key, value)
        return value

    def number(self, key: str) -> float:
        value = self.kwargs[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        return float(value)

    def text(self, key: str, default: str) -> str:
        value = self.kwargs.get(key, default)
        assert isinstance(value, str), (key, value)
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.kwargs.get(key, default)
        assert isinstance(value, bool), (key, value)
        return value

    def pair(self, key: str, default: tuple[int, int] | None = None) -> tuple[int, int]:
        """A per-axis (h, w) argument: kernel_size, pool_size, strides, dilation_rate …"""
        value = self.kwargs.get(key, default)
        assert isinstance(value, tuple) and len(value) == 2, (key, value)
        first, second = value
        assert isinstance(first, int) and isinstance(second, int), (key, value)
        return (first, second)

    def amounts(self, key: str) -> tuple[tuple[int, int], tuple[int, int]]:
        """ZeroPadding2D's padding or Cropping2D's cropping: ((top, bottom), (left, right))."""
        value = self.kwargs[key]
        assert isinstance(value, tuple) and len(value) == 2, value
        rows, cols = value
        assert isinstance(rows, tuple) and isinstance(cols, tuple), value
        return ((int(rows[0]), int(rows[1])), (int(cols[0]), int(cols[1])))


def volume_values(shape: Volume) -> int:
    """The number of values in a tensor of this shape (without the batch axis)."""
    values = 1
    for size in shape:
        values *= size
    return values


class NameSource(Protocol):
    """Where :class:`KerasOps` takes unique layer names from (the exporter's name allocator)."""

    def take(self, wanted: str) -> str: ...


class KerasOps:
    """Collects the Keras layers of one spec layer, threading the current tensor (name and shape) through them."""

    def __init__(self, base: str, names: NameSource, sources: list[tuple[str, Volume]]) -> None:
        self.base = base
        """The spec layer's sanitised name: the Keras name of the op that does its work."""
        self.names = names
        self.sources = sources
        """Every input tensor (merges read several)."""
        self.current, self.shape = sources[0]
        self.ops: list[Op] = []

    def add(self, layer: str, name: str, output: Volume, **args: ArgValue) -> Op:
        """Append an op that reads the current tensor."""
        return self.append(layer, name, output, (self.current,), args)

    def append(self, layer: str, name: str, output: Volume, inputs: tuple[str, ...], args: dict[str, ArgValue]) -> Op:
        op = Op(layer=layer, name=name, inputs=inputs, args=tuple(args.items()), output=output)
        self.ops.append(op)
        self.current, self.shape = name, output
        return op

    def helper(self, suffix: str) -> str:
        """A unique name for a helper op of this layer (``conv1_pad``)."""
        return self.names.take(f"{self.base}_{suffix}")

    def flatten(self, name: str) -> Op:
        return self.add("Flatten", name, (volume_values(self.shape),))

    def volume(self) -> tuple[int, int, int]:
        """The current tensor as a volume, reshaping a flat one to 1×1×n first."""
        if len(self.shape) == 1:
            self.add("Reshape", self.helper("reshape"), (1, 1, self.shape[0]), target_shape=(1, 1, self.shape[0]))
        height, width, depth = self.shape
        return height, width, depth

    def zero_pad(self, top: int, bottom: int, left: int, right: int) -> None:
        """A ``ZeroPadding2D`` in front of the next op, when any side is padded."""
        if top or bottom or left or right:
            height, width, depth = self.volume()
            self.add(
                "ZeroPadding2D",
                self.helper("pad"),
                (height + top + bottom, width + left + right, depth),
                padding=((top, bottom), (left, right)),
            )


def bias_args(bias: bool) -> dict[str, ArgValue]:
    """Keras's ``use_bias`` argument, given only when it is off."""
    return {} if bias else {"use_bias": False}


def volume_of(shape: Shape) -> Volume:
    return (shape.height, shape.width, shape.depth)


# --- import ------------------------------------------------------------------------------------------------


CHANNELS_FIRST = "channels_first"
"""A layout: a Permute((3, 1, 2)) made the volume D×H×W (the first step of a channel split's export)."""
GROUPED = "grouped"
"""A layout: a Reshape made H×W×D into H×W×g×(D/g) (the first step of a channel shuffle's export)."""
SHUFFLED = "shuffled"
"""A layout: the groups were swapped, H×W×(D/g)×g, waiting for the Reshape back to H×W×D."""
BLOCKS = "blocks"
"""A layout: a Reshape split H×W×D into five axes (the first step of a depth_to_space or space_to_depth export);
``parts`` holds their sizes."""
BLOCKS_MOVED = "blocks_moved"
"""A layout: a Permute reordered the five axes of ``BLOCKS``, waiting for the Reshape back to a volume;
``parts`` holds the five sizes, then the Permute's dims."""
REARRANGING = frozenset({"Permute", "Reshape", "Cropping2D"})
"""The Keras classes whose readers understand a tensor in one of the layouts above; others refuse it."""


class Tensor(NamedTuple):
    """A value flowing between layers: the spec layer producing it (or "input") and its Keras rank."""

    name: str
    rank: int
    """4 for a batch of H×W×D volumes, 2 for a batch of flat vectors (shown as 1×1×n)."""
    layout: str = ""
    """"" for channels last, or a step of the channel split and shuffle patterns (``CHANNELS_FIRST`` …)."""
    groups: int = 0
    """In the ``GROUPED`` layout: g; in ONNX's ``BLOCKS`` layout: the block r."""
    parts: tuple[int, ...] = ()
    """In the ONNX ``SEQUENCE`` layout: the channels of each part, where the parts differ; in the Keras
    ``BLOCKS`` layouts: the sizes of the split volume (and the dims of the Permute after it)."""


class Refusal(Exception):
    """A reason the import cannot go on, placed in the Keras JSON (``path``)."""

    def __init__(self, path: JsonPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class KerasLayer(NamedTuple):
    """One layer object of a model config, with where it sits in the file."""

    name: str
    class_name: str
    config: dict[str, Any]
    path: JsonPath
    raw: dict[str, Any]

    @property
    def label(self) -> str:
        return f"layer {self.name!r} ({self.class_name})"

    def refuse(self, message: str, key: str | None = None) -> Refusal:
        return Refusal((*self.path, "config", key) if key else self.path, f"{self.label}: {message}")

    def pair(self, key: str, default: int | None = None) -> tuple[int, int]:
        """An int or [h, w] config value as (h, w)."""
        value = self.config.get(key, default)
        if type(value) is int:
            return (value, value)
        if isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value):
            return (value[0], value[1])
        raise self.refuse(f"{key} must be an integer or a pair of integers (got {short_json(value)})", key)

    def flag(self, key: str, default: bool = True) -> bool:
        value = self.config.get(key, default)
        if type(value) is not bool:
            raise self.refuse(f"{key} must be true or false (got {short_json(value)})", key)
        return value

    def number(self, key: str, default: float | None = None) -> float:
        """The config's number at ``key`` as written (an int stays an int), ``default`` where it is absent."""
        value = self.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.refuse(f"{key} must be a number (got {short_json(value)})", key)
        return value

    def padding(self) -> str:
        padding = self.config.get("padding", "valid")
        if padding not in ("valid", "same"):
            raise self.refuse(f"padding {short_json(padding)}: convcalc imports 'valid' and 'same'", "padding")
        return str(padding)

    def needs_volume(self, source: Tensor) -> None:
        if source.rank != 4:
            raise self.refuse(f"reads a rank-{source.rank} tensor; this layer needs a (batch, H, W, D) volume")

    def last_axis(self, source: Tensor, key: str) -> None:
        """Refuse an ``axis`` other than the depth (channels last)."""
        axis = self.config.get(key, -1)
        if isinstance(axis, list) and len(axis) == 1:
            axis = axis[0]
        if axis not in (-1, source.rank - 1) or type(axis) is not int:
            raise self.refuse(
                f"{key} {short_json(axis)}: convcalc works along the depth (the last axis, -1 or {source.rank - 1})",
                key,
            )

    def input_dims(self) -> list[int] | None:
        """The input shape Keras recorded when it built the layer, without the batch axis (None if absent)."""
        build = self.raw.get("build_config")
        shape = build.get("input_shape") if isinstance(build, dict) else None
        if isinstance(shape, list) and len(shape) > 1 and all(type(d) is int for d in shape[1:]):
            return list(shape[1:])
        return None

    def with_bias(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.flag("use_bias"):
            body["bias"] = False
        return body


@dataclass(frozen=True)
class Source:
    """What a mapped body reads: the ``index``-th tensor the Keras layer reads.

    A dataclass, not a NamedTuple like the records around it: ``Source(0)`` and ``Step(0)`` must not be equal."""

    index: int


@dataclass(frozen=True)
class Step:
    """What a mapped body reads: the output of the ``index``-th body of the same mapping."""

    index: int


class Mapped(NamedTuple):
    """What a reader makes of one Keras layer: spec layer bodies (no names yet) and the output rank.

    The Keras layer's output is the last body's."""

    layers: list[dict[str, Any]]
    rank: int
    output: Shape | None = None
    """The output the Keras config declares (a Reshape's target), checked once shapes are known."""
    reads: list[list[Source | Step]] | None = None
    """What each body reads, for a layer that is not a chain (``x + s·r``: rescale r, then add x); None: the
    first body reads every source and each later one the body before it."""
    layout: str = ""
    """The output's layout (see :class:`Tensor`); "" for channels last."""
    groups: int = 0
    parts: tuple[int, ...] = ()
    """In the ``BLOCKS`` layouts: the sizes a Reshape split the volume into, and the Permute's dims after it."""


Reader = Callable[[KerasLayer, list[Tensor]], Mapped]
"""How one Keras layer class becomes spec layers: the config and the tensors it reads."""


def compact(pair: tuple[int, int]) -> int | list[int]:
    """How a spec writes a per-axis value: an int when square, ``[h, w]`` otherwise."""
    return pair[0] if pair[0] == pair[1] else list(pair)


def short_json(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
