"""Layers that see the whole volume at once: ``fc`` (alias ``dense``), ``flatten`` and ``reshape``.

fc: (H·W·D)·units weights + units biases (``arithmetic.fc_params``), MACs = weights; flatten reshapes
H×W×D into 1×1×(H·W·D). Both output a 1×1×n vector, which Keras holds as ``(batch, n)``. Keras: ``Flatten``
(when the input is a volume) + ``Dense``, ``Flatten`` (and the flattening ``Reshape``); tf.nn: ``tf.matmul``,
``tf.reshape``. A Keras Dense on a volume (not flat) works along the depth at each position: it imports as a
1×1 conv.

reshape rearranges the H·W·D values into a volume h×w×d of the same count (CC115 otherwise): a generator's or a
decoder's vector made a volume to upsample (Keras's DCGAN and VAE examples: Dense → ``Reshape((7, 7, 128))``;
PyTorch: Linear → ``view(N, 128, 7, 7)``). Each output value is one input value, from anywhere in the volume:
its field is the whole input, as a flatten's. Keras: ``Reshape``; tf.nn: ``tf.reshape``.
"""

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import ClassVar, Literal

from pydantic import Field

from convcalc import arithmetic as ar
from convcalc.layers.base import (
    PLUMBING_TRAITS,
    UNIT_STEP,
    Computed,
    DiagramWindow,
    Drawing,
    FieldPair,
    LayerSpec,
    Traits,
    whole_input_field,
)
from convcalc.layers.elementwise import fused_activation
from convcalc.layers.fields import PositiveInt, PositiveVolume, StrictBool
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Tensor, bias_args, short_json
from convcalc.layers.onnx import CHANNELS_LAST, OnnxMapped, OnnxNode, keep_layout
from convcalc.layers.pytorch import TorchOps, TorchStep
from convcalc.layers.tfnn import KerasOp, bias_variable, glorot, variable, weight
from convcalc.layers.volume import Shape, Window
from convcalc.pysource import identifier, literal


class _WholeVolume(LayerSpec):
    """The family base: reads every value of its input; drawn as a bar (a reshape: as its volume)."""

    drawing: ClassVar[Drawing] = "bar"

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        return whole_input_field(fields, shape)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def is_nonlinear(self) -> bool:
        return False

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None


# --- fc ----------------------------------------------------------------------------------------------------


def _dense_variables(op: Op, shape: Shape) -> list[str]:
    units = op.integer("units")
    kernel = (shape.values, units)
    return [
        variable(identifier(op.name), "kernel", glorot(kernel, kernel[0], units), "[H·W·D, units]"),
        *bias_variable(op, units),
    ]


def _read_dense(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    rank = sources[0].rank
    if rank not in (2, 4):
        raise layer.refuse(f"reads a rank-{rank} tensor")
    units = layer.config.get("units")
    # On a (batch, H, W, D) tensor Keras applies the Dense along the last axis, the same D×units matrix at every
    # position (ConvNeXt's pointwise layers): that is a 1×1 conv, with the same weights, biases and MACs.
    body = {"type": "fc", "units": units} if rank == 2 else {"type": "conv", "filters": units, "kernel": 1}
    return Mapped([layer.with_bias(body), *fused_activation(layer)], rank)


def _read_onnx_gemm(node: OnnxNode) -> OnnxMapped:
    """Gemm (PyTorch's Linear): A·B + C on an (N, n) input, B the weight ([units, n] when transB)."""
    node.needs_vector()
    if node.integer("transA", 0):
        raise node.refuse("transA=1: convcalc's fc multiplies the input as rows (transA=0)")
    rows, cols = node.weight(1, "weight", 2)
    units = rows if node.integer("transB", 0) else cols
    body: dict[str, object] = {"type": "fc", "units": units}
    if not node.is_stored(2):
        body["bias"] = False
    return OnnxMapped([body], 2, weights=(1, 2))


def _read_onnx_matmul(node: OnnxNode) -> OnnxMapped:
    """MatMul of an (N, n) input by a stored [n, units] weight: an fc without bias (an Add after it that adds a
    constant becomes its bias). On a channels-last (N, H, W, C) volume (PyTorch's Linear after a Transpose, as
    in ConvNeXt) the same matrix at every position: a 1×1 conv, channels-last still."""
    source = node.source()
    if source.layout == CHANNELS_LAST:
        _, units = node.weight(1, "weight", 2)
        body = {"type": "conv", "filters": units, "kernel": 1, "bias": False}
        return OnnxMapped([body], 4, weights=(1,), layout=CHANNELS_LAST, reads_layout=True)
    node.needs_vector()
    _, units = node.weight(1, "weight", 2)
    return OnnxMapped([{"type": "fc", "units": units, "bias": False}], 2, weights=(1,))


class FC(_WholeVolume):
    """A fully connected layer over all values of its input volume; outputs 1×1×units (``dense`` is an alias)."""

    type: Literal["fc", "dense"]
    units: PositiveInt
    bias: StrictBool = True

    kind_name = "fc"
    example = {"type": "fc", "units": 10}
    traits = Traits(
        weighted=True,
        convolution=False,
        mixes_channels=True,
        keeps_shape=False,
        merge=False,
        whole_input=True,
        pooling=False,
    )
    keras_readers = {"Dense": _read_dense}
    onnx_readers = {"Gemm": _read_onnx_gemm, "MatMul": _read_onnx_matmul}
    spelled_elsewhere = {"linear": '"type": "fc"', "fullyconnected": '"type": "fc"'}
    keras_ops = {
        "Dense": KerasOp(lambda op, read, _: f"tf.matmul({read[0]}, {weight(op)})", _dense_variables, biased=True)
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        weights = ar.fc_params(shape.values, self.units, bias=False)
        return Computed(
            Shape(1, 1, self.units),
            weights=weights,
            biases=self.units if self.bias else 0,
            macs=ar.shared_weight_macs(1, weights),
            connectivity=shape,
        )

    def notation(self, window: Window | None) -> str:
        return " ".join([f"units={self.units}", *([] if self.bias else ["no-bias"])])

    def caption(self) -> str:
        return "fc"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        if len(ops.shape) != 1:
            ops.flatten(ops.helper("flatten"))
        return ops.add("Dense", ops.base, (self.units,), units=self.units, **bias_args(self.bias))

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        if len(ops.shape) > 1:
            # PyTorch flattens C, H, W in that order, Keras H, W, D: the same count, the weights' rows permuted.
            ops.flatten(ops.helper("flatten"), "[N, C·H·W]")
        n = ops.shape[0]
        bias = "" if self.bias else ", bias=False"
        return ops.module(ops.base, f"nn.Linear({n}, {self.units}{bias})", (self.units,), ((self.units, n),))

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ((shape.values, self.units),)


# --- flatten -----------------------------------------------------------------------------------------------


def _read_flatten(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    return Mapped([{"type": "flatten"}], 2)


def _read_reshape(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    """A Reshape that flattens, or a step of an exported channel_shuffle, depth_to_space or space_to_depth."""
    # Only the reshapes that are a flatten: (n,) or (1, 1, n), n = H·W·D (or -1), which convcalc shows as 1×1×n.
    target = layer.config.get("target_shape")
    dims: list[int] = target if isinstance(target, list) and all(type(d) is int for d in target) else []
    # Imported on use: a check imports only the kinds its spec uses (see convcalc.layers).
    from convcalc.layers.channels import grouped_reshape
    from convcalc.layers.space_depth import read_blocks_reshape

    rearranged = read_blocks_reshape(layer, sources[0], dims) or grouped_reshape(layer, sources[0], dims)
    if rearranged is not None:
        return rearranged
    if len(dims) == 3 and dims[:2] != [1, 1] and min(dims) > 0:
        return Mapped([{"type": "reshape", "shape": dims}], 4)  # a vector (or volume) made a volume
    if not (len(dims) == 1 or (len(dims) == 3 and dims[:2] == [1, 1])) or dims[-1] == 0:
        raise layer.refuse(
            f"target_shape {short_json(target)}: convcalc imports reshapes that flatten, to (n,) or (1, 1, n),"
            " and reshapes to a volume (h, w, d) with every size written",
            "target_shape",
        )
    declared = None if dims[-1] == -1 else Shape(1, 1, dims[-1])
    return Mapped([{"type": "flatten"}], len(dims) + 1, output=declared)


def _read_onnx_flatten(node: OnnxNode) -> OnnxMapped:
    source = node.source()
    if node.integer("axis", 1) not in (1, 1 - source.rank):
        raise node.refuse(f"axis {node.attributes['axis']}: convcalc flattens everything but the batch (axis 1)")
    return OnnxMapped([{"type": "flatten"}] if source.rank == 4 else [], 2)


def _read_onnx_reshape(node: OnnxNode) -> OnnxMapped:
    """A Reshape that flattens (N, C, H, W) to (N, C·H·W), or turns (N, n) into (N, n, 1, 1) and back: by the
    shape ONNX infers for its output, else by its target's values; or a step of a channel shuffle."""
    # Imported on use: a check imports only the kinds its spec uses (see convcalc.layers).
    from convcalc.layers.channel_conv import read_onnx_channel_steps_reshape
    from convcalc.layers.channels import read_onnx_shuffle_reshape
    from convcalc.layers.space_depth import read_onnx_blocks_reshape

    rearranged = (
        read_onnx_shuffle_reshape(node) or read_onnx_blocks_reshape(node) or read_onnx_channel_steps_reshape(node)
    )
    if rearranged is not None:
        return rearranged
    source = node.source()
    before = node.input_shapes[0]
    after = node.output_shape
    if before is not None and before == after and None not in before[1:]:
        return keep_layout(node, [])  # to its own shape (the unoptimised dynamo exporter's, before a pixel unshuffle)
    if after is None:
        target = node.values(1, "target shape")
        if target is None:
            raise node.refuse("its target shape is not in the file (no constant shape input)")
        after = tuple(None if v in (-1, 0) else int(v) for v in target)
    flat = len(after) == 2 or (len(after) == 4 and after[2:] == (1, 1))
    if flat and before is not None and after[1] is not None and None not in before[1:]:
        values = 1
        for size in before[1:]:
            values *= size or 1
        flat = flat and after[1] == values
    if not flat:
        volume = _reshaped_volume(source.layout, before, after)
        if volume is not None:
            return OnnxMapped([{"type": "reshape", "shape": volume}], 4)
        raise node.refuse(
            f"reshapes {_dims(before)} to {_dims(after)}: convcalc imports reshapes that flatten, to (N, C·H·W)"
            " or (N, C·H·W, 1, 1), and reshapes of a vector or an NCHW volume to another, (N, C', H', W')"
        )
    # A flat (N, n) input stays convcalc's 1×1×n whatever its rank becomes: no layer.
    return OnnxMapped([{"type": "flatten"}] if source.rank == 4 else [], len(after))


def _reshaped_volume(
    layout: str, before: tuple[int | None, ...] | None, after: tuple[int | None, ...]
) -> list[int] | None:
    """[h, w, d] of a Reshape of a vector (N, n) or an NCHW volume into another NCHW volume (N, d, h, w) of as many
    values (a generator's Linear → view(N, 128, 7, 7)); None for any other (a channels-last tensor, a rank other
    than 4, a size not known)."""
    if layout == CHANNELS_LAST or before is None or len(before) not in (2, 4) or len(after) != 4:
        return None
    sizes = [size for size in before[1:] if size is not None]
    target = [size for size in after[1:] if size is not None]
    if len(sizes) != len(before) - 1 or len(target) != 3 or min(target) < 1:
        return None
    depth, height, width = target
    return [height, width, depth] if math.prod(sizes) == height * width * depth else None


def _dims(shape: tuple[int | None, ...] | None) -> str:
    return "an unknown shape" if shape is None else "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _tf_reshape(op: Op, read: list[str], padding: str) -> str:
    return f"tf.reshape({read[0]}, {literal([-1, *op.output])})"


class Flatten(_WholeVolume):
    """Reshapes H×W×D into 1×1×(H·W·D)."""

    type: Literal["flatten"]

    kind_name = "flatten"
    example = {"type": "flatten"}
    traits = Traits(
        weighted=False,
        convolution=False,
        mixes_channels=False,
        keeps_shape=False,
        merge=False,
        whole_input=True,
        pooling=False,
    )
    keras_readers = {"Flatten": _read_flatten}
    onnx_readers = {"Flatten": _read_onnx_flatten}
    keras_ops = {"Flatten": KerasOp(_tf_reshape, purpose="flatten")}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(Shape(1, 1, shape.values))

    def notation(self, window: Window | None) -> str:
        return ""

    def caption(self) -> str:
        return "flatten"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return ops.flatten(ops.base)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        return ops.flatten(ops.base, "C, H, W order (Keras: H, W, D)")

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()


# --- reshape -----------------------------------------------------------------------------------------------


class Reshape(_WholeVolume):
    """Rearranges the H·W·D input values into the volume h×w×d of ``shape`` (h·w·d = H·W·D: CC115). Keras's
    Reshape (a vector made a volume, as in a generator), PyTorch's view; 0 params, 0 MACs.

    Keras and TensorFlow lay the values out as H, W, D, PyTorch as C, H, W: the same volume, its values in
    another order (as a flatten's)."""

    type: Literal["reshape"]
    shape: PositiveVolume = Field(description="[h, w, d]: the output volume, as many values as the input's.")

    kind_name = "reshape"
    example = {"type": "reshape", "shape": [4, 4, 16]}
    drawing = "volume"
    traits = PLUMBING_TRAITS._replace(new_grid=True)  # its output is a volume (whole_input: a vector out)
    keras_readers = {"Reshape": _read_reshape}
    onnx_readers = {"Reshape": _read_onnx_reshape}
    spelled_elsewhere = {
        "unflatten": '"type": "reshape", "shape": [7, 7, 128]',
        "view": '"type": "reshape", "shape": [7, 7, 128]',
    }
    keras_ops = {"Reshape": KerasOp(_tf_reshape, purpose="reshape")}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(Shape(*self.shape))

    def notation(self, window: Window | None) -> str:
        return "→" + "×".join(map(str, self.shape))

    def caption(self) -> str:
        return "reshape"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return ops.add("Reshape", ops.base, self.shape, target_shape=self.shape)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        height, width, depth = self.shape
        code = f"{{0}}.reshape({{0}}.shape[0], {depth}, {height}, {width})"
        return ops.expression(ops.base, code, (depth, height, width), purpose="C, H, W order (Keras: H, W, D)")

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()
