"""The registry of layer kinds: one module per family, each kind one class that declares everything about it.

Adding a kind means its module (or a class in a family's module), a line in :data:`KINDS`, its tests and a
README row. The registry is checked when it is built: a kind that leaves a capability undeclared, or a
``type``, Keras class name or ONNX op type that two kinds claim, stops the import with the culprit named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from convcalc.layers.attention import AttentionPool, SplitAttention
from convcalc.layers.base import (
    REQUIRED_CAPABILITIES,
    REQUIRED_DECLARATIONS,
    Computed,
    DiagramWindow,
    FieldPair,
    LayerSpec,
    Traits,
    missing_capabilities,
)
from convcalc.layers.channel_conv import ChannelConv
from convcalc.layers.channels import ChannelShuffle, Split
from convcalc.layers.conv import Conv, Depthwise, Separable
from convcalc.layers.dense import FC, Flatten, Reshape
from convcalc.layers.elementwise import Activation, Dropout, PReLU, ReLU
from convcalc.layers.keras import Reader
from convcalc.layers.merge import Add, Average, Concat, Maximum, Minimum, Multiply, Subtract
from convcalc.layers.norm import BatchNorm, GroupNorm, L2Normalize, LayerNorm, LocalResponseNorm, Scale
from convcalc.layers.onnx import OnnxReader
from convcalc.layers.padding import CircularPadding, Cropping, ReflectionPadding, ReplicationPadding, ZeroPadding
from convcalc.layers.pool import GlobalPool, Pool
from convcalc.layers.preprocessing import Normalization, Rescaling
from convcalc.layers.response_norm import GlobalResponseNorm
from convcalc.layers.space_depth import DepthToSpace, SpaceToDepth
from convcalc.layers.tfnn import KerasOp
from convcalc.layers.transpose import ConvTranspose
from convcalc.layers.upsample import Upsample
from convcalc.layers.volume import Padding, Shape, Window, WindowAxis, resolve_window

_V = TypeVar("_V")


class IncompleteKindError(TypeError):
    """A layer kind that cannot be registered: what it lacks, or what it claims that another kind has."""


class Registry:
    """The kinds, in the order the spec's union (and its JSON Schema) lists them, with their lookup tables."""

    def __init__(self, kinds: Iterable[type[LayerSpec]]) -> None:
        self.kinds: tuple[type[LayerSpec], ...] = tuple(kinds)
        self.by_type: dict[str, type[LayerSpec]] = {}
        self.keras_readers: dict[str, Reader] = {}
        self.keras_ops: dict[str, KerasOp] = {}
        self.onnx_readers: dict[str, OnnxReader] = {}
        self.torch_helpers: dict[str, str] = {}
        for kind in self.kinds:
            missing = missing_capabilities(kind)
            if missing:
                raise IncompleteKindError(f"layer kind {kind.__name__} does not declare: {', '.join(missing)}")
            for name in kind.type_names():
                self._claim(self.by_type, name, kind, "type")
            for class_name, reader in kind.keras_readers.items():
                self._claim(self.keras_readers, class_name, reader, "Keras reader", kind)
            for class_name, op in kind.keras_ops.items():
                self._claim(self.keras_ops, class_name, op, "Keras op", kind)
            for op_type, onnx_reader in kind.onnx_readers.items():
                self._claim(self.onnx_readers, op_type, onnx_reader, "ONNX reader", kind)
            for class_name, source in kind.torch_helpers.items():
                self._claim(self.torch_helpers, class_name, source, "PyTorch helper module", kind)

    @staticmethod
    def _claim(table: dict[str, _V], key: str, value: _V, what: str, kind: object = None) -> None:
        if key in table:
            raise IncompleteKindError(f"{what} {key!r} is claimed twice (again by {kind or value})")
        table[key] = value

    def kind(self, type_name: str) -> type[LayerSpec]:
        """The kind a ``type`` value selects (``dense`` → FC); KeyError for an unknown one."""
        return self.by_type[type_name]


REGISTRY = Registry(
    [
        Conv,
        Depthwise,
        Separable,
        ConvTranspose,
        Pool,
        GlobalPool,
        FC,
        BatchNorm,
        LayerNorm,
        GroupNorm,
        LocalResponseNorm,
        L2Normalize,
        GlobalResponseNorm,
        Scale,
        Rescaling,
        Normalization,
        Dropout,
        ZeroPadding,
        ReflectionPadding,
        ReplicationPadding,
        CircularPadding,
        Activation,
        ReLU,
        PReLU,
        ChannelConv,
        Flatten,
        Reshape,
        Add,
        Subtract,
        Average,
        Maximum,
        Minimum,
        Concat,
        Multiply,
        SplitAttention,
        AttentionPool,
        Upsample,
        Split,
        ChannelShuffle,
        DepthToSpace,
        SpaceToDepth,
        Cropping,
    ]
)
"""Every layer kind convcalc models."""
KINDS: tuple[type[LayerSpec], ...] = REGISTRY.kinds
LAYER_MODELS: Mapping[str, type[LayerSpec]] = REGISTRY.by_type
"""``type`` value → the kind's model (``fc`` and ``dense`` → FC)."""

__all__ = [
    "FC",
    "KINDS",
    "LAYER_MODELS",
    "REGISTRY",
    "REQUIRED_CAPABILITIES",
    "REQUIRED_DECLARATIONS",
    "Activation",
    "Add",
    "AttentionPool",
    "Average",
    "BatchNorm",
    "ChannelConv",
    "ChannelShuffle",
    "CircularPadding",
    "Computed",
    "Concat",
    "Conv",
    "ConvTranspose",
    "Cropping",
    "DepthToSpace",
    "Depthwise",
    "DiagramWindow",
    "Dropout",
    "FieldPair",
    "Flatten",
    "GlobalPool",
    "GroupNorm",
    "IncompleteKindError",
    "L2Normalize",
    "LayerNorm",
    "LayerSpec",
    "LocalResponseNorm",
    "Maximum",
    "Minimum",
    "Multiply",
    "Normalization",
    "PReLU",
    "Padding",
    "Pool",
    "ReLU",
    "ReflectionPadding",
    "Registry",
    "ReplicationPadding",
    "Rescaling",
    "Reshape",
    "Scale",
    "Separable",
    "Shape",
    "SpaceToDepth",
    "Split",
    "SplitAttention",
    "Subtract",
    "Traits",
    "Upsample",
    "Window",
    "WindowAxis",
    "ZeroPadding",
    "missing_capabilities",
    "resolve_window",
]
