"""Layers that see the whole volume at once: ``fc`` (alias ``dense``) and ``flatten``.

fc: (H·W·D)·units weights + units biases (``arithmetic.fc_params``), MACs = weights; flatten reshapes
H×W×D into 1×1×(H·W·D). Both output a 1×1×n vector, which Keras holds as ``(batch, n)``. Keras: ``Flatten``
(when the input is a volume) + ``Dense``, ``Flatten`` (and the flattening ``Reshape``); tf.nn: ``tf.matmul``,
``tf.reshape``. A Keras Dense on a volume (not flat) works along the depth at each position: it imports as a
1×1 conv.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

from convcalc import arithmetic as ar
from convcalc.layers.base import (
    UNIT_STEP,
    Computed,
    DiagramWindow,
    FieldPair,
    LayerSpec,
    Traits,
    whole_input_field,
)
from convcalc.layers.channels import grouped_reshape
from convcalc.layers.elementwise import fused_activation
from convcalc.layers.fields import PositiveInt, StrictBool
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Tensor, bias_args, short_json
from convcalc.layers.pytorch import TorchOps, TorchStep
from convcalc.layers.tfnn import KerasOp, bias_variable, glorot, variable, weight
from convcalc.layers.volume import Shape, Window
from convcalc.pysource import identifier, literal


class _WholeVolume(LayerSpec):
    """The family base: reads every value of its input; drawn as a bar."""

    drawing = "bar"

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
    # Only the reshapes that are a flatten: (n,) or (1, 1, n), n = H·W·D (or -1), which convcalc shows as 1×1×n.
    target = layer.config.get("target_shape")
    dims: list[int] = target if isinstance(target, list) and all(type(d) is int for d in target) else []
    shuffle = grouped_reshape(layer, sources[0], dims)
    if shuffle is not None:
        return shuffle
    if not (len(dims) == 1 or (len(dims) == 3 and dims[:2] == [1, 1])) or dims[-1] == 0:
        raise layer.refuse(
            f"target_shape {short_json(target)}: convcalc imports only reshapes that flatten, to (n,) or (1, 1, n)",
            "target_shape",
        )
    declared = None if dims[-1] == -1 else Shape(1, 1, dims[-1])
    return Mapped([{"type": "flatten"}], len(dims) + 1, output=declared)


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
    keras_readers = {"Flatten": _read_flatten, "Reshape": _read_reshape}
    keras_ops = {
        "Flatten": KerasOp(_tf_reshape, purpose="flatten"),
        "Reshape": KerasOp(_tf_reshape, purpose="reshape"),
    }

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
