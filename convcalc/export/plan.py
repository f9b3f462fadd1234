"""The mapping from a spec to Keras layers, decided once, as plain data (no TensorFlow here).

The in-memory Keras build, the generated Keras code, the tf.nn code and ``verify`` all read one
:class:`ExportPlan`, so they cannot disagree about what a spec layer becomes:

- conv → ``Conv2D`` (``groups``, ``dilation_rate`` when set); depthwise → ``DepthwiseConv2D``; separable →
  ``SeparableConv2D``; an explicit padding P on any of them → ``ZeroPadding2D`` then ``padding="valid"``
  (Keras has no numeric padding); ``"same"`` and ``"valid"`` map directly;
- conv_transpose → ``Conv2DTranspose`` (``output_padding`` always given outside ``"same"``, so Keras uses
  (W − 1)·S + F + output_padding), then ``Cropping2D(P)`` for an explicit padding P;
- max/avg pool → ``MaxPooling2D``/``AveragePooling2D``; l2 pool → ``L2Pooling2D`` (convcalc's registered
  layer: sqrt of the sum of squares over the window), after a ``ZeroPadding2D`` for any padding, ``"same"``'s
  resolved padding included; global_pool → ``GlobalAveragePooling2D``/``GlobalMaxPooling2D``;
- fc (dense) → ``Flatten`` (when the tensor is still a volume) + ``Dense``; relu → ``ReLU``; activation →
  ``ReLU`` or ``Activation(kind)``; flatten → ``Flatten``; batchnorm → ``BatchNormalization``; dropout →
  ``Dropout``; zero_padding → ``ZeroPadding2D``; add → ``Add``; concat → ``Concatenate`` (on the depth);
- convcalc sees fc, flatten and global_pool outputs as 1×1×n, Keras as ``(batch, n)``: a layer that needs a
  volume after one first gets ``Reshape((1, 1, n))``, and so does a flat input of a merge with volumes;
- a network that declares ``classes`` and ends in a 1×1×classes volume gets a final ``Flatten``, so its
  logits are ``(batch, classes)`` as the loss expects.
"""

from __future__ import annotations

from dataclasses import dataclass

from convcalc import arithmetic as ar
from convcalc.analysis import LayerFacts, NetworkFacts, Shape
from convcalc.export.naming import NameAllocator, sanitize
from convcalc.spec import (
    FC,
    Activation,
    BatchNorm,
    Concat,
    Conv,
    ConvTranspose,
    Depthwise,
    Dropout,
    Flatten,
    GlobalPool,
    Pool,
    ReLU,
    Separable,
    ZeroPadding,
)

ArgValue = int | float | bool | str | tuple[int, ...] | tuple[tuple[int, int], tuple[int, int]]
Volume = tuple[int, ...]
"""A Keras tensor's shape without the batch axis: (H, W, D), or (n,) once flat."""

INPUT_TENSOR = "input"
"""The name of the Keras ``Input`` (no spec layer may be called that, and no Keras layer is)."""
POOL_LAYERS = {"max": "MaxPooling2D", "avg": "AveragePooling2D", "l2": "L2Pooling2D"}
GLOBAL_POOL_LAYERS = {"avg": "GlobalAveragePooling2D", "max": "GlobalMaxPooling2D"}
BATCHNORM_EPSILON = 1e-3
BATCHNORM_MOMENTUM = 0.99
"""Keras's BatchNormalization defaults, written out so that the tf.nn code uses the same numbers."""
CONV_LAYERS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose")


@dataclass(frozen=True)
class Op:
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

    def integer(self, key: str) -> int:
        value = self.kwargs[key]
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


@dataclass(frozen=True)
class LayerPlan:
    """What one spec layer becomes: one or more Keras layers; the last one outputs the spec layer's volume."""

    facts: LayerFacts
    ops: tuple[Op, ...]
    main: Op
    """The op that does the spec layer's work (and holds its parameters)."""

    @property
    def output_op(self) -> Op:
        return self.ops[-1]


@dataclass(frozen=True)
class ExportPlan:
    """A whole network as Keras layers, with the names the generated code and the model use."""

    facts: NetworkFacts
    model_name: str
    layers: tuple[LayerPlan, ...]
    input_name: str = INPUT_TENSOR

    @property
    def input_shape(self) -> tuple[int, int, int]:
        shape = self.facts.input_shape
        return (shape.height, shape.width, shape.depth)

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(op for layer in self.layers for op in layer.ops)

    @property
    def output_shape(self) -> Volume:
        return self.layers[-1].output_op.output

    @property
    def classes(self) -> int | None:
        """The class count when the model outputs ``(batch, classes)`` logits, else None."""
        classes = self.facts.network.classes
        return classes if classes is not None and self.output_shape == (classes,) else None

    @property
    def uses_l2_pooling(self) -> bool:
        return any(op.layer == "L2Pooling2D" for op in self.ops)

    @property
    def is_sequential(self) -> bool:
        """Every op reads the op before it (the generated code can thread one variable through)."""
        previous = self.input_name
        for op in self.ops:
            if op.inputs != (previous,):
                return False
            previous = op.name
        return True


class UnbuildableError(ValueError):
    """The network has a layer TensorFlow cannot build, or one the export cannot map."""


# --- what cannot be exported -----------------------------------------------------------------------------


def _dilated_and_strided(layer: LayerFacts) -> bool:
    spec = layer.spec
    if isinstance(spec, Conv | Depthwise | Separable | ConvTranspose):
        return max(spec.dilation) > 1 and max(spec.stride) > 1
    return False


def _same_transpose_tensorflow_refuses(layer: LayerFacts) -> bool:
    """Keras's "same" rule with output_padding, (W − 1)·S + F mod 2 + output_padding, gives (W − 1)·S for an
    even (effective) kernel and output_padding 0; TensorFlow then finds ceil(out/S) = W − 1 ≠ W and refuses."""
    spec = layer.spec
    if not isinstance(spec, ConvTranspose) or spec.padding != "same" or spec.output_padding is None:
        return False
    effective = (
        ar.effective_kernel(spec.kernel[0], spec.dilation[0]),
        ar.effective_kernel(spec.kernel[1], spec.dilation[1]),
    )
    return any(kernel % 2 + pad == 0 for kernel, pad in zip(effective, spec.output_padding, strict=True))


def unbuildable(facts: NetworkFacts) -> list[str]:
    """Why TensorFlow cannot build some layer at all, even with sizes floored (one sentence per layer).

    These are error findings in ``check`` too: no output (CC102), groups that do not divide (CC104), merge
    inputs that do not line up (CC105, CC106), output_padding ≥ stride (CC107).
    """
    reasons = []
    for layer in facts.layers:
        spec = layer.spec
        if layer.output_shape.empty or any(shape.empty for shape in (layer.input_shape, *layer.input_shapes)):
            reasons.append(f"{layer.label} has no output ({layer.output_shape})")
        elif isinstance(spec, Conv) and (layer.input_shape.depth % spec.groups or spec.filters % spec.groups):
            depth = layer.input_shape.depth
            reasons.append(f"{layer.label}: groups = {spec.groups} must divide D = {depth} and K = {spec.filters}")
        elif isinstance(spec, ConvTranspose) and spec.output_padding is not None:
            if any(pad >= stride for pad, stride in zip(spec.output_padding, spec.stride, strict=True)):
                reasons.append(f"{layer.label}: output_padding {spec.output_padding} is not below the stride")
        elif layer.type == "add" and len(set(layer.input_shapes)) > 1:
            reasons.append(f"{layer.label} adds volumes of different shapes")
        elif isinstance(spec, Concat) and len({(s.height, s.width) for s in layer.input_shapes}) > 1:
            reasons.append(f"{layer.label} concatenates volumes of different H×W")
    return reasons


def unsupported(facts: NetworkFacts) -> list[str]:
    """Why the export cannot map this network although the spec is sound (one sentence per layer)."""
    read = {source for layer in facts.layers for source in layer.inputs}
    reasons = []
    for layer in facts.layers:
        if layer.type not in _MAPPED_TYPES:
            reasons.append(f"{layer.label} is a {layer.type} layer, which export does not map")
        elif _dilated_and_strided(layer):
            reasons.append(
                f"{layer.label} has a stride > 1 and a dilation > 1, which TensorFlow's convolutions cannot combine"
            )
        elif _same_transpose_tensorflow_refuses(layer):
            reasons.append(
                f'{layer.label}: with padding "same", output_padding 0 and an even kernel, Keras asks for'
                f' {layer.output_shape}, which TensorFlow\'s conv2d_transpose refuses ("same" must map it back to'
                f" {layer.input_shape.height}×{layer.input_shape.width}); give output_padding ≥ 1 or leave it out"
            )
        elif layer.index not in read and layer.index != len(facts.layers) - 1:
            reasons.append(
                f"{layer.label} is read by no later layer; the exported model has one output, the last layer"
            )
    return reasons


# --- the mapping ------------------------------------------------------------------------------------------


def as_volume(shape: Volume) -> Shape:
    """convcalc's view of a Keras output shape: (H, W, D) as it is, a flat (n,) as 1×1×n.

    >>> as_volume((28, 28, 32)), as_volume((10,))
    (Shape(height=28, width=28, depth=32), Shape(height=1, width=1, depth=10))
    """
    if len(shape) == 1:
        return Shape(1, 1, shape[0])
    height, width, depth = shape
    return Shape(height, width, depth)


def plan_export(facts: NetworkFacts) -> ExportPlan:
    """Map every spec layer to Keras layers (see the module docstring for the mapping)."""
    reasons = unbuildable(facts) + unsupported(facts)
    if reasons:
        raise UnbuildableError("; ".join(reasons))
    names = NameAllocator(reserved=(INPUT_TENSOR,))
    input_shape = facts.input_shape
    tensors: dict[int, tuple[str, Volume]] = {
        -1: (INPUT_TENSOR, (input_shape.height, input_shape.width, input_shape.depth))
    }
    planned: list[LayerPlan] = []
    for layer in facts.layers:
        base = names.take(sanitize(layer.name, f"{layer.type}{layer.index}"))
        builder = _LayerOps(base, names, [tensors[source] for source in layer.inputs])
        main = builder.add_layer(layer)
        classes = facts.network.classes
        if layer.index == len(facts.layers) - 1 and classes is not None and builder.shape == (1, 1, classes):
            builder.flatten(builder.helper("flatten"))
        planned.append(LayerPlan(facts=layer, ops=tuple(builder.ops), main=main))
        tensors[layer.index] = (builder.current, builder.shape)
    return ExportPlan(facts=facts, model_name=sanitize(facts.name or "", "model"), layers=tuple(planned))


def _values(shape: Volume) -> int:
    values = 1
    for size in shape:
        values *= size
    return values


class _LayerOps:
    """Collects the ops of one spec layer, threading the current tensor (name and shape) through them."""

    def __init__(self, base: str, names: NameAllocator, sources: list[tuple[str, Volume]]) -> None:
        self.base = base
        self.names = names
        self.sources = sources
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
        return self.names.take(f"{self.base}_{suffix}")

    def flatten(self, name: str) -> Op:
        return self.add("Flatten", name, (_values(self.shape),))

    def volume(self) -> tuple[int, int, int]:
        """The current tensor as a volume, reshaping a flat one to 1×1×n first."""
        if len(self.shape) == 1:
            self.add("Reshape", self.helper("reshape"), (1, 1, self.shape[0]), target_shape=(1, 1, self.shape[0]))
        height, width, depth = self.shape
        return height, width, depth

    def zero_pad(self, top: int, bottom: int, left: int, right: int) -> None:
        if top or bottom or left or right:
            height, width, depth = self.volume()
            self.add(
                "ZeroPadding2D",
                self.helper("pad"),
                (height + top + bottom, width + left + right, depth),
                padding=((top, bottom), (left, right)),
            )

    def add_layer(self, layer: LayerFacts) -> Op:
        spec = layer.spec
        out = layer.output_shape
        volume = (out.height, out.width, out.depth)
        if isinstance(spec, Conv | Depthwise | Separable | Pool):
            return self._windowed(layer, volume)
        if isinstance(spec, ConvTranspose):
            return self._transpose(spec, volume)
        if isinstance(spec, GlobalPool):
            self.volume()
            return self.add(GLOBAL_POOL_LAYERS[spec.mode], self.base, (out.depth,))
        if isinstance(spec, FC):
            if len(self.shape) != 1:
                self.flatten(self.helper("flatten"))
            return self.add("Dense", self.base, (spec.units,), units=spec.units, **_bias(spec.bias))
        if isinstance(spec, BatchNorm):
            flags: dict[str, ArgValue] = {} if spec.center else {"center": False}
            flags.update({} if spec.scale else {"scale": False})
            return self.add(
                "BatchNormalization",
                self.base,
                self.shape,
                epsilon=BATCHNORM_EPSILON,
                momentum=BATCHNORM_MOMENTUM,
                **flags,
            )
        if isinstance(spec, Dropout):
            return self.add("Dropout", self.base, self.shape, rate=spec.rate)
        if isinstance(spec, ZeroPadding):
            self.volume()
            top, bottom, left, right = spec.padding
            return self.add("ZeroPadding2D", self.base, volume, padding=((top, bottom), (left, right)))
        if isinstance(spec, Activation) and spec.kind != "relu":
            return self.add("Activation", self.base, self.shape, activation=spec.kind)
        if isinstance(spec, ReLU | Activation):
            return self.add("ReLU", self.base, self.shape)
        if isinstance(spec, Flatten):
            return self.flatten(self.base)
        return self._merge(layer, volume)

    def _windowed(self, layer: LayerFacts, volume: Volume) -> Op:
        """conv, depthwise, separable and pool: explicit padding becomes a ZeroPadding2D in front."""
        spec = layer.spec
        window = layer.window
        assert window is not None and isinstance(spec, Conv | Depthwise | Separable | Pool)
        self.volume()
        l2 = isinstance(spec, Pool) and spec.mode == "l2"
        padding = "same" if window.same and not l2 else "valid"
        if padding == "valid":
            self.zero_pad(*window.padding)
        if isinstance(spec, Pool):
            if l2:
                return self.add("L2Pooling2D", self.base, volume, pool_size=window.kernel, strides=window.stride)
            pool = POOL_LAYERS[spec.mode]
            return self.add(pool, self.base, volume, pool_size=window.kernel, strides=window.stride, padding=padding)
        extra: dict[str, ArgValue] = {}
        if spec.dilation != (1, 1):
            extra["dilation_rate"] = spec.dilation
        if isinstance(spec, Depthwise | Separable) and spec.multiplier != 1:
            extra["depth_multiplier"] = spec.multiplier
        extra.update(_bias(spec.bias))
        common: dict[str, ArgValue] = {"kernel_size": spec.kernel, "strides": spec.stride, "padding": padding}
        if isinstance(spec, Depthwise):
            return self.add("DepthwiseConv2D", self.base, volume, **common, **extra)
        if isinstance(spec, Conv) and spec.groups != 1:
            extra = {"groups": spec.groups, **extra}
        cls = "Conv2D" if isinstance(spec, Conv) else "SeparableConv2D"
        return self.add(cls, self.base, volume, filters=spec.filters, **common, **extra)

    def _transpose(self, spec: ConvTranspose, volume: Volume) -> Op:
        height, width, _ = self.volume()
        args: dict[str, ArgValue] = {"filters": spec.filters, "kernel_size": spec.kernel, "strides": spec.stride}
        crop = (0, 0)
        if spec.padding == "same":
            args["padding"] = "same"
            if spec.output_padding is not None:
                args["output_padding"] = spec.output_padding
            uncropped = volume
        else:
            assert isinstance(spec.padding, tuple)
            crop = spec.padding
            args["padding"] = "valid"
            uncropped = (volume[0] + 2 * crop[0], volume[1] + 2 * crop[1], volume[2])
            # Keras's valid transposed conv gives (W − 1)·S + F + output_padding: the output_padding that makes
            # it convcalc's size, given explicitly (the spec's, or the default convcalc applied).
            args["output_padding"] = tuple(
                size - ((before - 1) * stride + ar.effective_kernel(kernel, dilation))
                for size, before, stride, kernel, dilation in zip(
                    uncropped[:2], (height, width), spec.stride, spec.kernel, spec.dilation, strict=True
                )
            )
        if spec.dilation != (1, 1):
            args["dilation_rate"] = spec.dilation
        args.update(_bias(spec.bias))
        main = self.append("Conv2DTranspose", self.base, uncropped, (self.current,), args)
        if any(crop):
            self.add("Cropping2D", self.helper("crop"), volume, cropping=((crop[0], crop[0]), (crop[1], crop[1])))
        return main

    def _merge(self, layer: LayerFacts, volume: Volume) -> Op:
        """add and concat: every input as the same kind of tensor (flat only when all of them are flat)."""
        inputs = []
        all_flat = all(len(shape) == 1 for _, shape in self.sources)
        for name, shape in self.sources:
            if len(shape) == 1 and not all_flat:
                self.current, self.shape = name, shape
                self.volume()
                name = self.current
            inputs.append(name)
        if isinstance(layer.spec, Concat):
            output: Volume = (volume[2],) if all_flat else volume
            return self.append("Concatenate", self.base, output, tuple(inputs), {"axis": -1})
        return self.append("Add", self.base, (volume[2],) if all_flat else volume, tuple(inputs), {})


def _bias(bias: bool) -> dict[str, ArgValue]:
    return {} if bias else {"use_bias": False}


_MAPPED_TYPES = {
    "conv",
    "depthwise",
    "separable",
    "conv_transpose",
    "pool",
    "global_pool",
    "fc",
    "batchnorm",
    "dropout",
    "zero_padding",
    "activation",
    "relu",
    "flatten",
    "add",
    "concat",
}


# --- TensorFlow's notation, shared by verify's table and the generated code's comments ----------------


def tensor_notation(shape: Volume, batch: str | int = "batch") -> str:
    """An activation as TensorFlow shapes it: ``[batch, H, W, D]``, or ``[batch, n]`` once flat.

    >>> tensor_notation((28, 28, 32)), tensor_notation((10,), 2)
    ('[batch, 28, 28, 32]', '[2, 10]')
    """
    return "[" + ", ".join(str(size) for size in (batch, *shape)) + "]"


def list_notation(values: tuple[int, ...]) -> str:
    """``(5, 5, 1, 32)`` → ``[5, 5, 1, 32]``."""
    return "[" + ", ".join(str(value) for value in values) + "]"


def nhwc(pair: tuple[int, int]) -> tuple[int, int, int, int]:
    """A per-axis (h, w) window setting as TensorFlow's NHWC list [1, h, w, 1] (strides, ksize)."""
    return (1, pair[0], pair[1], 1)


def kernel_shapes(layer: LayerFacts) -> tuple[tuple[int, ...], ...]:
    """convcalc's weight shapes in TensorFlow's order, as Keras names them (kernel, depthwise, pointwise).

    conv [F, F, D/groups, K]; depthwise [F, F, D, m]; separable [F, F, D, m] then [1, 1, D·m, K];
    conv_transpose [F, F, K, D]; fc [H·W·D, units]; everything else none.
    """
    spec = layer.spec
    depth = layer.input_shape.depth
    if isinstance(spec, Conv):
        return ((*spec.kernel, depth // spec.groups, spec.filters),)
    if isinstance(spec, Depthwise):
        return ((*spec.kernel, depth, spec.multiplier),)
    if isinstance(spec, Separable):
        return ((*spec.kernel, depth, spec.multiplier), (1, 1, depth * spec.multiplier, spec.filters))
    if isinstance(spec, ConvTranspose):
        return ((*spec.kernel, spec.filters, depth),)
    if isinstance(spec, FC):
        return ((layer.input_shape.values, spec.units),)
    return ()


def structure_notation(layer: LayerFacts) -> str:
    """Filters, ksize and strides as TensorFlow writes them: ``W [3, 3, 64, 128]  strides [1, 1, 1, 1]``."""
    parts = [f"W {' + '.join(list_notation(shape) for shape in kernel_shapes(layer))}"] if kernel_shapes(layer) else []
    spec = layer.spec
    window = layer.window
    if window is not None:
        if isinstance(spec, Pool):
            parts.append(f"ksize {list_notation(nhwc(window.kernel))}")
        parts.append(f"strides {list_notation(nhwc(window.stride))}")
        if window.dilation != (1, 1):
            parts.append(f"dilations {list_notation(nhwc(window.dilation))}")
    elif isinstance(spec, ConvTranspose):
        parts.append(f"strides {list_notation(nhwc(spec.stride))}")
    return "  ".join(parts)
