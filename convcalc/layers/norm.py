"""Normalisation: ``batchnorm``.

4·D parameters in Keras' count: γ and β trainable (D each, when ``scale``/``center``), the moving mean and
variance not (D each). The shape and the receptive field pass through; no MACs are counted. Keras:
``BatchNormalization``; tf.nn: ``tf.nn.batch_normalization`` with batch statistics while training.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

from pydantic import Field

from convcalc.layers.base import UNIT_STEP, Computed, DiagramWindow, FieldPair, LayerSpec, Traits, widest
from convcalc.layers.fields import StrictBool
from convcalc.layers.keras import ArgValue, KerasLayer, KerasOps, Mapped, Op, Tensor
from convcalc.layers.onnx import OnnxMapped, OnnxNode
from convcalc.layers.tfnn import KerasOp, variable
from convcalc.layers.volume import Shape, Window
from convcalc.pysource import identifier

PARAMS_CONVENTION = "Keras' count: batchnorm has 4·D params (γ, β trainable; moving mean and variance not)"
"""How the table and ``total_params`` count normalisation statistics (the JSON's ``params_convention``)."""

BATCHNORM_EPSILON = 1e-3
BATCHNORM_MOMENTUM = 0.99
"""Keras's BatchNormalization defaults, written out so that the tf.nn code uses the same numbers."""

_TFNN_BATCHNORM = f'''

BATCHNORM_EPSILON = {BATCHNORM_EPSILON!r}
BATCHNORM_MOMENTUM = {BATCHNORM_MOMENTUM!r}  # Keras's defaults


def batch_norm(x, moving_mean, moving_variance, beta, gamma, training: bool) -> tf.Tensor:
    """Keras's BatchNormalization: batch statistics while training (moving ones updated), else the moving ones."""
    if training:
        mean, variance = tf.nn.moments(x, axes=list(range(len(x.shape) - 1)))
        moving_mean.assign(moving_mean * BATCHNORM_MOMENTUM + mean * (1 - BATCHNORM_MOMENTUM))
        moving_variance.assign(moving_variance * BATCHNORM_MOMENTUM + variance * (1 - BATCHNORM_MOMENTUM))
    else:
        mean, variance = moving_mean, moving_variance
    return tf.nn.batch_normalization(x, mean, variance, beta, gamma, BATCHNORM_EPSILON)
'''


def _tf_batch_norm(op: Op, read: list[str], padding: str) -> str:
    name = identifier(op.name)
    beta = f"self.{name}_beta" if op.flag("center", True) else "None"
    gamma = f"self.{name}_gamma" if op.flag("scale", True) else "None"
    return f"batch_norm({read[0]}, self.{name}_moving_mean, self.{name}_moving_variance, {beta}, {gamma}, training)"


def _batch_norm_variables(op: Op, shape: Shape) -> list[str]:
    name, depth = identifier(op.name), shape.depth
    lines = []
    if op.flag("scale", True):
        lines.append(variable(name, "gamma", f"tf.ones([{depth}])"))
    if op.flag("center", True):
        lines.append(variable(name, "beta", f"tf.zeros([{depth}])"))
    lines.append(variable(name, "moving_mean", f"tf.zeros([{depth}])", trainable=False))
    lines.append(variable(name, "moving_variance", f"tf.ones([{depth}])", trainable=False))
    return lines


def _read_batchnorm(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.last_axis(sources[0], "axis")
    if layer.config.get("renorm"):
        raise layer.refuse("batch renormalization keeps extra moving statistics convcalc does not count", "renorm")
    body: dict[str, object] = {"type": "batchnorm"}
    for key in ("center", "scale"):
        if not layer.flag(key):
            body[key] = False
    return Mapped([body], sources[0].rank)


def _read_onnx_batchnorm(node: OnnxNode) -> OnnxMapped:
    """BatchNormalization: scale γ and bias β trainable, the running mean and variance not (the spec's count)."""
    source = node.source()
    for position, what in enumerate(("scale", "bias", "running mean", "running variance"), start=1):
        node.weight(position, what, 1)
    return OnnxMapped([{"type": "batchnorm"}], source.rank, weights=(1, 2, 3, 4))


class BatchNorm(LayerSpec):
    """Batch normalisation: γ and β trainable (D each), moving mean and variance not (D each)."""

    type: Literal["batchnorm"]
    center: StrictBool = Field(default=True, description="Learn β (a per-channel offset).")
    scale: StrictBool = Field(default=True, description="Learn γ (a per-channel scale).")

    kind_name = "batchnorm"
    example = {"type": "batchnorm"}
    traits = Traits(
        weighted=False,
        convolution=False,
        mixes_channels=False,
        keeps_shape=True,
        merge=False,
        whole_input=False,
        pooling=False,
    )
    drawing = "inside"
    keras_readers = {"BatchNormalization": _read_batchnorm}
    onnx_readers = {"BatchNormalization": _read_onnx_batchnorm}
    spelled_elsewhere = {
        "batchnormalization": '"type": "batchnorm"',
        "batchnorm2d": '"type": "batchnorm"',
        "bn": '"type": "batchnorm"',
    }
    keras_ops = {
        "BatchNormalization": KerasOp(_tf_batch_norm, _batch_norm_variables, tfnn_support=_TFNN_BATCHNORM),
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        d = shape.depth
        return Computed(shape, weights=d if self.scale else 0, biases=d if self.center else 0, non_trainable=2 * d)

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        return widest(fields)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def is_nonlinear(self) -> bool:
        return False  # an affine map once trained

    def notation(self, window: Window | None) -> str:
        text = "γ β" if self.scale and self.center else "γ" if self.scale else "β" if self.center else "—"
        return text + " (+ mean, var)"

    def caption(self) -> str:
        return "bn"

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        flags: dict[str, ArgValue] = {} if self.center else {"center": False}
        flags.update({} if self.scale else {"scale": False})
        return ops.add(
            "BatchNormalization",
            ops.base,
            ops.shape,
            epsilon=BATCHNORM_EPSILON,
            momentum=BATCHNORM_MOMENTUM,
            **flags,
        )

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()
