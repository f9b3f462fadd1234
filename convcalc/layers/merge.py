"""Merges of two or more volumes: ``add`` (equal shapes, a residual connection) and ``concat`` (equal H×W,
stacked along the depth).

No parameters and no MACs; the receptive field follows the input that sees the most. A mismatch is an
error finding (CC105, CC106), not a validation error: the analysis reports what a framework would build.
Keras: ``Add``, ``Concatenate`` (axis −1); tf.nn: ``tf.add_n``, ``tf.concat``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

from convcalc.layers.base import UNIT_STEP, Computed, DiagramWindow, FieldPair, LayerSpec, Traits, widest
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Tensor, Volume, volume_of
from convcalc.layers.onnx import Constant, OnnxMapped, OnnxNode, channel_axis
from convcalc.layers.tfnn import KerasOp
from convcalc.layers.volume import Shape, Window

MERGE_TRAITS = Traits(
    weighted=False,
    convolution=False,
    mixes_channels=False,
    keeps_shape=False,
    merge=True,
    whole_input=False,
    pooling=False,
)


class _Merge(LayerSpec):
    """The family base: every input as the same kind of tensor (flat only when all of them are flat)."""

    traits = MERGE_TRAITS
    drawing = "merge"

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        return widest(fields)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        return ""

    def caption(self) -> str:
        return self.kind_name

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()

    def _merge(self, ops: KerasOps, layer: str, output: Shape) -> Op:
        inputs = []
        all_flat = all(len(shape) == 1 for _, shape in ops.sources)
        for name, shape in ops.sources:
            if len(shape) == 1 and not all_flat:
                ops.current, ops.shape = name, shape
                ops.volume()
                name = ops.current
            inputs.append(name)
        out: Volume = (output.depth,) if all_flat else volume_of(output)
        return ops.append(layer, ops.base, out, tuple(inputs), {"axis": -1} if layer == "Concatenate" else {})


def _read_add(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    return Mapped([{"type": "add"}], sources[0].rank)


def _read_onnx_add(node: OnnxNode) -> OnnxMapped:
    """Add or Sum of data inputs is a merge; an Add of one data input and a stored constant is the bias of the
    conv or fc before it (MatMul + Add), which the importer checks."""
    sources = node.sources
    constants = [i for i, item in enumerate(node.inputs) if isinstance(item, Constant)]
    if len(sources) == 1 and len(constants) == 1 and node.op_type == "Add":
        position = next(i for i, item in enumerate(node.inputs) if isinstance(item, Tensor))
        return OnnxMapped([], sources[0].rank, weights=(constants[0],), bias_for=position)
    if constants or len(sources) < 2:
        raise node.refuse("adds a constant tensor: convcalc models an add of layer outputs, or a bias after an fc")
    return OnnxMapped([{"type": "add"}], max(s.rank for s in sources))


class Add(_Merge):
    """Adds two or more volumes of the same shape (a residual connection)."""

    type: Literal["add"]

    kind_name = "add"
    example = {"type": "add", "inputs": ["input", "input"]}
    keras_readers = {"Add": _read_add}
    onnx_readers = {"Add": _read_onnx_add, "Sum": _read_onnx_add}
    keras_ops = {"Add": KerasOp(lambda op, read, _: f"tf.add_n([{', '.join(read)}])")}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(shape)  # mismatched shapes are CC105's

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return self._merge(ops, "Add", output)


def _read_concat(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.last_axis(sources[0], "axis")
    return Mapped([{"type": "concat"}], sources[0].rank)


def _read_onnx_concat(node: OnnxNode) -> OnnxMapped:
    sources = node.sources
    if len(sources) != len(node.inputs):
        raise node.refuse("concatenates a constant tensor: convcalc concatenates layer outputs")
    rank = sources[0].rank
    axis = node.integer("axis", 1)
    if not channel_axis(node, axis, rank) or any(s.rank != rank for s in sources):
        raise node.refuse(f"concatenates along axis {axis}: convcalc concatenates along the channels (axis 1)")
    if len(sources) == 1:
        return OnnxMapped([], rank)
    return OnnxMapped([{"type": "concat"}], rank)


class Concat(_Merge):
    """Concatenates volumes of the same H×W along the depth."""

    type: Literal["concat"]

    kind_name = "concat"
    example = {"type": "concat", "inputs": ["input", "input"]}
    keras_readers = {"Concatenate": _read_concat}
    onnx_readers = {"Concat": _read_onnx_concat}
    spelled_elsewhere = {"concatenate": '"type": "concat"', "cat": '"type": "concat"'}
    keras_ops = {"Concatenate": KerasOp(lambda op, read, _: f"tf.concat([{', '.join(read)}], axis=-1)")}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(Shape(shape.height, shape.width, sum(s.depth for s in inputs)))

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return self._merge(ops, "Concatenate", output)
