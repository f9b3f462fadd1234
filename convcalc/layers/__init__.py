"""The registry of layer kinds: one module per family, each kind one class that declares everything about it.

Adding a kind means its module (or a class in a family's module), a line in :data:`KIND_HOMES`, its tests and
a README row. A kind's module is imported when something first asks for the kind (a spec's ``type``, its class
by name) or for the whole registry: a check imports only the kinds its spec uses, since making a kind's
pydantic class costs a cold start about half a millisecond. The registry is checked when it is built: a kind
that leaves a capability undeclared, a ``type``, Keras class name or ONNX op type that two kinds claim, or a
line of :data:`KIND_HOMES` that its class contradicts, stops it with the culprit named.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

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
from convcalc.layers.keras import Reader
from convcalc.layers.onnx import OnnxReader
from convcalc.layers.tfnn import KerasOp
from convcalc.layers.volume import Padding, Shape, Window, WindowAxis, broadcast_shape, resolve_window

if TYPE_CHECKING:
    from convcalc.layers.attention import AttentionPool, SplitAttention
    from convcalc.layers.channel_conv import ChannelConv
    from convcalc.layers.channels import ChannelShuffle, Split
    from convcalc.layers.conv import Conv, Depthwise, Separable
    from convcalc.layers.dense import FC, Flatten, Reshape
    from convcalc.layers.elementwise import Activation, Dropout, PReLU, ReLU
    from convcalc.layers.merge import Add, Average, Concat, Maximum, Minimum, Multiply, Subtract
    from convcalc.layers.norm import BatchNorm, GroupNorm, L2Normalize, LayerNorm, LocalResponseNorm, Scale
    from convcalc.layers.padding import CircularPadding, Cropping, ReflectionPadding, ReplicationPadding, ZeroPadding
    from convcalc.layers.pool import GlobalPool, Pool
    from convcalc.layers.preprocessing import Normalization, Rescaling
    from convcalc.layers.response_norm import GlobalResponseNorm
    from convcalc.layers.space_depth import DepthToSpace, SpaceToDepth
    from convcalc.layers.transpose import ConvTranspose
    from convcalc.layers.upsample import Upsample

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


class KindHome(NamedTuple):
    """Where a kind lives: its module under ``convcalc.layers``, its class, and the ``type`` values that select it
    (the class's own ``type`` literal; the first is its ``kind_name``). Also the two facts the JSON report's
    ``macs_convention`` states of every kind, its class's ``traits.weighted`` and ``macs_of_activations``, so
    that the report need not import every kind to say them. All of it is held to the class when the registry
    is built."""

    module: str
    name: str
    types: tuple[str, ...]
    weighted: bool = False
    macs_of_activations: bool = False

    @property
    def kind_name(self) -> str:
        """The kind's name: its first ``type`` value (``fc``, not its alias ``dense``)."""
        return self.types[0]


KIND_HOMES: tuple[KindHome, ...] = (
    KindHome("conv", "Conv", ("conv",), weighted=True),
    KindHome("conv", "Depthwise", ("depthwise",), weighted=True),
    KindHome("conv", "Separable", ("separable",), weighted=True),
    KindHome("transpose", "ConvTranspose", ("conv_transpose",), weighted=True),
    KindHome("pool", "Pool", ("pool",)),
    KindHome("pool", "GlobalPool", ("global_pool",)),
    KindHome("dense", "FC", ("fc", "dense"), weighted=True),
    KindHome("norm", "BatchNorm", ("batchnorm",)),
    KindHome("norm", "LayerNorm", ("layer_norm",)),
    KindHome("norm", "GroupNorm", ("group_norm",)),
    KindHome("norm", "LocalResponseNorm", ("local_response_norm",)),
    KindHome("norm", "L2Normalize", ("l2_normalize",)),
    KindHome("response_norm", "GlobalResponseNorm", ("global_response_norm",)),
    KindHome("norm", "Scale", ("scale",)),
    KindHome("preprocessing", "Rescaling", ("rescaling",)),
    KindHome("preprocessing", "Normalization", ("normalization",)),
    KindHome("elementwise", "Dropout", ("dropout",)),
    KindHome("padding", "ZeroPadding", ("zero_padding",)),
    KindHome("padding", "ReflectionPadding", ("reflection_padding",)),
    KindHome("padding", "ReplicationPadding", ("replication_padding",)),
    KindHome("padding", "CircularPadding", ("circular_padding",)),
    KindHome("elementwise", "Activation", ("activation",)),
    KindHome("elementwise", "ReLU", ("relu",)),
    KindHome("elementwise", "PReLU", ("prelu",)),
    KindHome("channel_conv", "ChannelConv", ("channel_conv",), weighted=True),
    KindHome("dense", "Flatten", ("flatten",)),
    KindHome("dense", "Reshape", ("reshape",)),
    KindHome("merge", "Add", ("add",)),
    KindHome("merge", "Subtract", ("subtract",)),
    KindHome("merge", "Average", ("average",)),
    KindHome("merge", "Maximum", ("maximum",)),
    KindHome("merge", "Minimum", ("minimum",)),
    KindHome("merge", "Concat", ("concat",)),
    KindHome("merge", "Multiply", ("multiply",)),
    KindHome("attention", "SplitAttention", ("split_attention",)),
    KindHome("attention", "AttentionPool", ("attention_pool",), macs_of_activations=True),
    KindHome("upsample", "Upsample", ("upsample",)),
    KindHome("channels", "Split", ("split",)),
    KindHome("channels", "ChannelShuffle", ("channel_shuffle",)),
    KindHome("space_depth", "DepthToSpace", ("depth_to_space",)),
    KindHome("space_depth", "SpaceToDepth", ("space_to_depth",)),
    KindHome("padding", "Cropping", ("cropping",)),
)
"""Every layer kind convcalc models, in the order of the spec's union (and its JSON Schema)."""
_HOME_OF_NAME: dict[str, KindHome] = {home.name: home for home in KIND_HOMES}
_HOME_OF_TYPE: dict[str, KindHome] = {type_name: home for home in KIND_HOMES for type_name in home.types}
TYPE_NAMES: tuple[str, ...] = tuple(_HOME_OF_TYPE)
"""Every ``type`` value a spec may use, in the registry's order (``fc`` and ``dense`` both)."""


@functools.cache
def _kind_class(home: KindHome) -> type[LayerSpec]:
    name = f"convcalc.layers.{home.module}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as missing:
        if missing.name != name:
            raise  # a broken import inside the kind's module: its own traceback
        raise IncompleteKindError(f"{home}: there is no module {name}") from None
    kind = getattr(module, home.name, None)
    if not isinstance(kind, type) or not issubclass(kind, LayerSpec):
        raise IncompleteKindError(f"{home}: {name} defines no {home.name}")
    return kind


def kind_of_type(type_name: str) -> type[LayerSpec] | None:
    """The kind a ``type`` value selects, importing only its module; None for an unknown value."""
    home = _HOME_OF_TYPE.get(type_name)
    return None if home is None else _kind_class(home)


def registry_of(homes: Iterable[KindHome]) -> Registry:
    """The registry of the kinds ``homes`` name, each imported from its module; IncompleteKindError for a kind its
    line contradicts (another module, other ``type`` values, or another weight or MACs fact) and for what
    :class:`Registry` refuses."""
    homes = tuple(homes)
    registry = Registry(_kind_class(home) for home in homes)
    for home, kind in zip(homes, registry.kinds, strict=True):
        module = f"convcalc.layers.{home.module}"
        declared = (kind.__module__, kind.type_names(), kind.kind_name, kind.traits.weighted, kind.macs_of_activations)
        if declared != (module, home.types, home.kind_name, home.weighted, home.macs_of_activations):
            raise IncompleteKindError(
                f"{home} does not match {kind.__name__}, which lives in {kind.__module__} with types"
                f" {kind.type_names()} (kind_name {kind.kind_name!r}), weighted={kind.traits.weighted},"
                f" macs_of_activations={kind.macs_of_activations}"
            )
    return registry


@functools.cache
def _registry() -> Registry:
    return registry_of(KIND_HOMES)


def __getattr__(name: str) -> Any:
    """The kinds' classes by name, and the whole registry, made on first use (PEP 562)."""
    if name in _HOME_OF_NAME:
        return _kind_class(_HOME_OF_NAME[name])
    if name == "REGISTRY":
        return _registry()
    if name == "KINDS":
        return _registry().kinds
    if name == "LAYER_MODELS":
        return _registry().by_type
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    REGISTRY: Registry
    """Every layer kind convcalc models."""
    KINDS: tuple[type[LayerSpec], ...]
    LAYER_MODELS: Mapping[str, type[LayerSpec]]
    """``type`` value → the kind's model (``fc`` and ``dense`` → FC)."""

__all__ = [
    "FC",
    "KINDS",
    "KIND_HOMES",
    "LAYER_MODELS",
    "REGISTRY",
    "REQUIRED_CAPABILITIES",
    "REQUIRED_DECLARATIONS",
    "TYPE_NAMES",
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
    "GlobalResponseNorm",
    "GroupNorm",
    "IncompleteKindError",
    "KindHome",
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
    "broadcast_shape",
    "kind_of_type",
    "missing_capabilities",
    "registry_of",
    "resolve_window",
]
